@_spi(Fuzzing) import RaftNetworkTransport

/// A byte stream as a peer sends it to a server: type bytes, request values, InstallSnapshot
/// data, in any number of frames. It must decode to the same requests, or fail with the same
/// error, whether it arrives in one read or one byte at a time.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let whole = WireFuzzing.readRequests(bytes, readSize: 0)
    let split = WireFuzzing.readRequests(bytes, readSize: 1)
    guard whole == split else {
        fatalError("the request stream decodes differently in one read and byte by byte:\n\(whole)\n\(split)")
    }
    return 0
}
