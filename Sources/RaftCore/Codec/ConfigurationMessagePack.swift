/// The few msgpack writes ``ConfigurationCodec`` needs, in hashicorp/raft's dialect (strings as
/// legacy raw).
///
/// The core has its own small codec, apart from the network transport's, because it must stay
/// free of NIO and msgpack-c: configuration entries are encoded by the core itself, whatever
/// transport (if any) carries them.
struct ConfigurationMessagePackWriter {
    private(set) var bytes: [UInt8] = []

    mutating func writeNil() { bytes.append(0xc0) }

    mutating func writeMapHeader(_ count: Int) {
        if count < 16 {
            bytes.append(0x80 | UInt8(count))
        } else if count <= 0xffff {
            bytes.append(0xde)
            appendBigEndian(UInt16(count))
        } else {
            bytes.append(0xdf)
            appendBigEndian(UInt32(count))
        }
    }

    mutating func writeArrayHeader(_ count: Int) {
        if count < 16 {
            bytes.append(0x90 | UInt8(count))
        } else if count <= 0xffff {
            bytes.append(0xdc)
            appendBigEndian(UInt16(count))
        } else {
            bytes.append(0xdd)
            appendBigEndian(UInt32(count))
        }
    }

    /// A string as fixstr / raw16 / raw32, never str8 (go-msgpack's `MsgpackHandle{}` default).
    mutating func writeRaw(_ string: String) {
        let utf8 = Array(string.utf8)
        if utf8.count < 32 {
            bytes.append(0xa0 | UInt8(utf8.count))
        } else if utf8.count <= 0xffff {
            bytes.append(0xda)
            appendBigEndian(UInt16(utf8.count))
        } else {
            bytes.append(0xdb)
            appendBigEndian(UInt32(utf8.count))
        }
        bytes.append(contentsOf: utf8)
    }

    /// A signed integer as go-msgpack 0.5.5 writes Go `int`: non-negative values use the unsigned
    /// family.
    mutating func writeInteger(_ value: Int64) {
        if value >= 0 {
            let v = UInt64(value)
            if v < 128 {
                bytes.append(UInt8(v))
            } else if v <= 0xff {
                bytes.append(0xcc)
                bytes.append(UInt8(v))
            } else if v <= 0xffff {
                bytes.append(0xcd)
                appendBigEndian(UInt16(v))
            } else if v <= 0xffff_ffff {
                bytes.append(0xce)
                appendBigEndian(UInt32(v))
            } else {
                bytes.append(0xcf)
                appendBigEndian(v)
            }
        } else if value >= -32 {
            bytes.append(UInt8(bitPattern: Int8(value)))
        } else {
            bytes.append(0xd3)
            appendBigEndian(UInt64(bitPattern: value))
        }
    }

    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}

/// A bounds-checked msgpack reader for ``ConfigurationCodec``'s decoding (see
/// ``ConfigurationMessagePackWriter`` for why the core does not share the transport's). Every
/// failure is a thrown error, never a trap, because the bytes may come from a faulty or hostile
/// peer.
struct ConfigurationMessagePackReader {
    enum Error: Swift.Error, CustomStringConvertible {
        case truncated(at: Int)
        case unexpected(UInt8, expected: String, at: Int)
        case invalid(String)
        case tooDeep

        var description: String {
            switch self {
            case .truncated(let offset): return "input ends early at byte \(offset)"
            case .unexpected(let byte, let expected, let offset):
                let hex = String(byte, radix: 16)
                return "expected \(expected) at byte \(offset), found 0x\(hex)"
            case .invalid(let why): return why
            case .tooDeep: return "values nested too deeply"
            }
        }
    }

    private let bytes: ArraySlice<UInt8>
    /// Position relative to the start of the slice (a slice keeps its parent's indices).
    private(set) var offset = 0

    init(_ bytes: ArraySlice<UInt8>) { self.bytes = bytes }

    private var position: Int { bytes.startIndex + offset }

    private mutating func byte() throws(Error) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(at: offset) }
        defer { offset += 1 }
        return bytes[position]
    }

    private mutating func bigEndian(_ width: Int) throws(Error) -> UInt64 {
        guard bytes.count - offset >= width else { throw .truncated(at: offset) }
        var value: UInt64 = 0
        for i in 0..<width { value = value << 8 | UInt64(bytes[position + i]) }
        offset += width
        return value
    }

    mutating func readNilIfPresent() throws(Error) -> Bool {
        guard offset < bytes.count else { throw .truncated(at: offset) }
        if bytes[position] == 0xc0 {
            offset += 1
            return true
        }
        return false
    }

    mutating func readMapHeader() throws(Error) -> Int {
        let start = offset
        let tag = try byte()
        switch tag {
        case 0x80...0x8f: return Int(tag & 0x0f)
        case 0xde: return Int(try bigEndian(2))
        case 0xdf: return Int(try bigEndian(4))
        default: throw .unexpected(tag, expected: "a map", at: start)
        }
    }

    mutating func readArrayHeader() throws(Error) -> Int {
        let start = offset
        let tag = try byte()
        switch tag {
        case 0x90...0x9f: return Int(tag & 0x0f)
        case 0xdc: return Int(try bigEndian(2))
        case 0xdd: return Int(try bigEndian(4))
        default: throw .unexpected(tag, expected: "an array", at: start)
        }
    }

    /// A string from any string or binary family (str8/16/32, bin8/16/32, fixstr).
    mutating func readString() throws(Error) -> String {
        let start = offset
        let tag = try byte()
        let length: Int
        switch tag {
        case 0xa0...0xbf: length = Int(tag & 0x1f)
        case 0xd9, 0xc4: length = Int(try bigEndian(1))
        case 0xda, 0xc5: length = Int(try bigEndian(2))
        case 0xdb, 0xc6: length = Int(try bigEndian(4))
        default: throw .unexpected(tag, expected: "a string", at: start)
        }
        guard bytes.count - offset >= length else { throw .truncated(at: offset) }
        defer { offset += length }
        return String(decoding: bytes[position..<position + length], as: UTF8.self)
    }

    /// An integer from either the signed or the unsigned family.
    mutating func readInteger() throws(Error) -> Int64 {
        let start = offset
        let tag = try byte()
        switch tag {
        case 0x00...0x7f: return Int64(tag)
        case 0xe0...0xff: return Int64(Int8(bitPattern: tag))
        case 0xcc: return Int64(try bigEndian(1))
        case 0xcd: return Int64(try bigEndian(2))
        case 0xce: return Int64(try bigEndian(4))
        case 0xcf:
            let value = try bigEndian(8)
            guard value <= UInt64(Int64.max) else { throw .invalid("integer \(value) out of range") }
            return Int64(value)
        case 0xd0: return Int64(Int8(truncatingIfNeeded: try bigEndian(1)))
        case 0xd1: return Int64(Int16(truncatingIfNeeded: try bigEndian(2)))
        case 0xd2: return Int64(Int32(truncatingIfNeeded: try bigEndian(4)))
        case 0xd3: return Int64(bitPattern: try bigEndian(8))
        default: throw .unexpected(tag, expected: "an integer", at: start)
        }
    }

    /// Skips one value of any type, nested at most 64 deep.
    mutating func skipValue(depth: Int = 0) throws(Error) {
        guard depth < 64 else { throw .tooDeep }
        let start = offset
        let tag = try byte()
        var skipBytes = 0
        switch tag {
        case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3: return
        case 0x80...0x8f:
            for _ in 0..<(Int(tag & 0x0f) * 2) { try skipValue(depth: depth + 1) }
            return
        case 0x90...0x9f:
            for _ in 0..<Int(tag & 0x0f) { try skipValue(depth: depth + 1) }
            return
        case 0xa0...0xbf: skipBytes = Int(tag & 0x1f)
        case 0xcc, 0xd0: skipBytes = 1
        case 0xcd, 0xd1: skipBytes = 2
        case 0xce, 0xd2, 0xca: skipBytes = 4
        case 0xcf, 0xd3, 0xcb: skipBytes = 8
        case 0xd9, 0xc4: skipBytes = Int(try bigEndian(1))
        case 0xda, 0xc5: skipBytes = Int(try bigEndian(2))
        case 0xdb, 0xc6: skipBytes = Int(try bigEndian(4))
        case 0xd4: skipBytes = 2
        case 0xd5: skipBytes = 3
        case 0xd6: skipBytes = 5
        case 0xd7: skipBytes = 9
        case 0xd8: skipBytes = 17
        case 0xc7: skipBytes = Int(try bigEndian(1)) + 1
        case 0xc8: skipBytes = Int(try bigEndian(2)) + 1
        case 0xc9: skipBytes = Int(try bigEndian(4)) + 1
        case 0xdc, 0xdd:
            offset = start
            for _ in 0..<(try readArrayHeader()) { try skipValue(depth: depth + 1) }
            return
        case 0xde, 0xdf:
            offset = start
            for _ in 0..<(try readMapHeader() * 2) { try skipValue(depth: depth + 1) }
            return
        default: throw .unexpected(tag, expected: "a msgpack value", at: start)
        }
        guard bytes.count - offset >= skipBytes else { throw .truncated(at: offset) }
        offset += skipBytes
    }
}
