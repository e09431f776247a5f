@_spi(Fuzzing) import RaftFileStores

/// A snapshot's meta.json with any bytes. It must decode or throw a FileStoreError, and what
/// decodes must be written back as a file that decodes the same.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let decoding = try FileStoreFuzzing.decodeSnapshotMeta(bytes)
        guard decoding.roundTrips else { fatalError("a meta.json does not survive being written back: \(decoding)") }
    } catch is FileStoreError {
        // Malformed metadata, recognised and named.
    } catch {
        fatalError("decoding meta.json threw something other than a FileStoreError: \(error)")
    }
    return 0
}
