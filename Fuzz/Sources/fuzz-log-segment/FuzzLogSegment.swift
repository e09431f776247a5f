@_spi(Fuzzing) import RaftFileStores
import RaftTestKit

/// A log segment file with any bytes, as it is and with its checksums made to match (so that
/// mutations reach what the checksums guard). Opening the log must recover it or throw a
/// FileStoreError, and a reopen must find what the first open left.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for file in [bytes, FileStoreFuzzing.sealingLogSegment(bytes)] {
        do {
            let recovery = try FileStoreFuzzing.recoverLogSegment(file, fileSystem: PowerLossFileSystem())
            guard recovery.entries == recovery.entriesAfterReopen else {
                fatalError("a recovered log reopens differently:\n\(recovery.entries)\n\(recovery.entriesAfterReopen)")
            }
        } catch is FileStoreError {
            // Damage the store recognised and named.
        } catch {
            fatalError("opening a damaged log threw something other than a FileStoreError: \(error)")
        }
    }
    return 0
}
