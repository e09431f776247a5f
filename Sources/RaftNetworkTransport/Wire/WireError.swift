/// Why bytes from a peer could not be read as a NetworkTransport frame.
///
/// Every failure to decode peer-controlled bytes surfaces as one of these, never as a crash.
/// The connection that produced one is unusable afterwards (the frame boundary is lost), so the
/// transport closes it, as hashicorp/raft does on any decode error.
enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The type byte of a request is not an RPC this transport knows (hashicorp/raft logs
    /// `unknown rpc type N` and closes the connection without replying).
    case unknownRPCType(UInt8)
    /// A frame is, or declares a string, array or map that would make it, larger than the
    /// configured limit (``WireLimits/maxFrameSize``).
    case frameTooLarge(limit: Int)
    /// Arrays and maps are nested deeper than ``WireLimits/maxDepth``.
    case nestingTooDeep(limit: Int)
    /// A byte that msgpack reserves (0xc1) where a value should start.
    case reservedByte(offset: Int)
    /// The bytes are not what they should be in a way the other cases do not name: mostly, not
    /// exactly one msgpack value (it ends before the bytes given for it do, or after).
    case malformed(String)
    /// A field holds a msgpack type its Go field could not be decoded from. `field` is the Go
    /// field's path, e.g. `Entries[2].Data`.
    case wrongType(field: String, expected: String, found: String)
    /// A field's integer does not fit its Go type (negative into unsigned, too large), or an
    /// enumeration value is unknown.
    case valueOutOfRange(field: String, value: String)
    /// The connection ended inside a frame or a snapshot's data; `what` says where.
    case closedMidFrame(String)

    /// A one-line explanation naming the field at fault.
    var description: String {
        switch self {
        case .unknownRPCType(let byte): return "unknown rpc type \(byte)"
        case .frameTooLarge(let limit): return "frame larger than the limit of \(limit) bytes"
        case .nestingTooDeep(let limit): return "msgpack nesting deeper than \(limit)"
        case .reservedByte(let offset): return "reserved msgpack byte 0xc1 at offset \(offset)"
        case .malformed(let why): return "malformed msgpack: \(why)"
        case .wrongType(let field, let expected, let found):
            return "field \(field): expected \(expected), found \(found)"
        case .valueOutOfRange(let field, let value): return "field \(field): value \(value) out of range"
        case .closedMidFrame(let what): return "connection closed \(what)"
        }
    }
}
