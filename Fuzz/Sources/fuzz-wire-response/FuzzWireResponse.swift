@_spi(Fuzzing) import RaftNetworkTransport

/// A byte stream as a server sends it to a client: error strings and response values, in any
/// number of frames, each value decoded as the answer to every RPC. It must decode the same, or
/// fail with the same error, whether it arrives in one read or one byte at a time.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let whole = WireFuzzing.readResponses(bytes, readSize: 0)
    let split = WireFuzzing.readResponses(bytes, readSize: 1)
    guard whole == split else {
        fatalError("the response stream decodes differently in one read and byte by byte:\n\(whole)\n\(split)")
    }
    return 0
}
