@_spi(Fuzzing) import RaftFileStores
import RaftTestKit

/// A stable store data file with any bytes, as it is and with its checksums made to match (so
/// that mutations reach what the checksums guard). Opening the store must replay it or throw a
/// FileStoreError.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for file in [bytes, FileStoreFuzzing.sealingStableFile(bytes)] {
        do {
            _ = try FileStoreFuzzing.openStableStore(file, fileSystem: PowerLossFileSystem())
        } catch is FileStoreError {
            // Damage the store recognised and named.
        } catch {
            fatalError("opening a damaged stable store threw something other than a FileStoreError: \(error)")
        }
    }
    return 0
}
