/// Hand-built msgpack for inputs no Go encoder in this repository writes (go-msgpack v2's
/// signed integers, str8, bin, extensions, odd keys), so the decoder's liberal paths are tested
/// on exact bytes.
enum MP {
    /// A map; keys as fixstr, values already encoded. Order kept (to test any order).
    static func map(_ pairs: [(String, [UInt8])]) -> [UInt8] {
        precondition(pairs.count < 16)
        return [0x80 | UInt8(pairs.count)] + pairs.flatMap { raw($0.0) + $0.1 }
    }

    /// A map with 16-bit count (`de`), for keys of any kind.
    static func map16(_ pairs: [([UInt8], [UInt8])]) -> [UInt8] {
        [0xde, UInt8(pairs.count >> 8), UInt8(pairs.count & 0xff)] + pairs.flatMap { $0.0 + $0.1 }
    }

    /// An array of encoded values.
    static func array(_ values: [[UInt8]]) -> [UInt8] {
        precondition(values.count < 16)
        return [0x90 | UInt8(values.count)] + values.flatMap { $0 }
    }

    /// The old raw family, as go-msgpack 0.5.5 writes strings.
    static func raw(_ text: String) -> [UInt8] { raw(Array(text.utf8)) }

    /// The old raw family for bytes.
    static func raw(_ bytes: [UInt8]) -> [UInt8] {
        switch bytes.count {
        case ..<32: return [0xa0 | UInt8(bytes.count)] + bytes
        case ..<65536: return [0xda] + be(UInt64(bytes.count), 2) + bytes
        default: return [0xdb] + be(UInt64(bytes.count), 4) + bytes
        }
    }

    /// str8 (`d9`), which go-msgpack v2 and most encoders write for 32…255-byte strings.
    static func str8(_ bytes: [UInt8]) -> [UInt8] { [0xd9, UInt8(bytes.count)] + bytes }
    /// bin8 (`c4`).
    static func bin8(_ bytes: [UInt8]) -> [UInt8] { [0xc4, UInt8(bytes.count)] + bytes }
    /// bin16 (`c5`).
    static func bin16(_ bytes: [UInt8]) -> [UInt8] { [0xc5] + be(UInt64(bytes.count), 2) + bytes }
    /// bin32 (`c6`).
    static func bin32(_ bytes: [UInt8]) -> [UInt8] { [0xc6] + be(UInt64(bytes.count), 4) + bytes }

    /// An unsigned integer in its smallest form.
    static func uint(_ value: UInt64) -> [UInt8] {
        switch value {
        case ..<128: return [UInt8(value)]
        case ..<0x100: return [0xcc, UInt8(value)]
        case ..<0x10000: return [0xcd] + be(value, 2)
        case ..<0x1_0000_0000: return [0xce] + be(value, 4)
        default: return [0xcf] + be(value, 8)
        }
    }

    /// int8 (`d0`).
    static func int8(_ value: Int8) -> [UInt8] { [0xd0, UInt8(bitPattern: value)] }
    /// int16 (`d1`), as go-msgpack v2 writes positive signed values above 127.
    static func int16(_ value: Int16) -> [UInt8] { [0xd1] + be(UInt64(UInt16(bitPattern: value)), 2) }
    /// int32 (`d2`).
    static func int32(_ value: Int32) -> [UInt8] { [0xd2] + be(UInt64(UInt32(bitPattern: value)), 4) }
    /// int64 (`d3`).
    static func int64(_ value: Int64) -> [UInt8] { [0xd3] + be(UInt64(bitPattern: value), 8) }

    /// nil.
    static let `nil`: [UInt8] = [0xc0]
    /// true.
    static let `true`: [UInt8] = [0xc3]
    /// false.
    static let `false`: [UInt8] = [0xc2]

    /// An extension value of any length (`c7` ext8).
    static func ext8(type: Int8, _ payload: [UInt8]) -> [UInt8] {
        [0xc7, UInt8(payload.count), UInt8(bitPattern: type)] + payload
    }

    /// Big-endian bytes of the low `width` bytes of `value`.
    static func be(_ value: UInt64, _ width: Int) -> [UInt8] {
        (0..<width).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
    }
}
