@_spi(Fuzzing) import RaftNetworkTransport
import SwiftRaft

/// One decoder for the whole run, as one connection keeps one for all its frames: its scratch
/// space carries over from input to input, as it does from frame to frame.
/// nonisolated(unsafe): libFuzzer calls `fuzz` from one thread only, one input at a time.
nonisolated(unsafe) let decoder = WireFuzzing.ValueDecoder()

/// One AppendEntries value (no type byte). What decodes must decode the same a second time (the
/// scratch space left by the first decode must not leak into the second), and must encode to
/// bytes that decode to the same request.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let first = Result { () throws(WireFuzzing.DecodingError) in try WireFuzzing.decodeAppendEntries(bytes, with: decoder) }
    let second = Result { () throws(WireFuzzing.DecodingError) in try WireFuzzing.decodeAppendEntries(bytes, with: decoder) }
    guard first == second else { fatalError("decoding the same AppendEntries twice differs:\n\(first)\n\(second)") }
    guard case .success(let request) = first else { return 0 }
    let encoded = WireFuzzing.encodedValue(of: request)
    let reDecoded = encoded.withUnsafeBytes { encoded in
        Result { () throws(WireFuzzing.DecodingError) in try WireFuzzing.decodeAppendEntries(encoded, with: decoder) }
    }
    guard reDecoded == .success(request) else {
        fatalError("an AppendEntries request does not survive encoding and decoding:\n\(request)\n\(reDecoded)")
    }
    return 0
}
