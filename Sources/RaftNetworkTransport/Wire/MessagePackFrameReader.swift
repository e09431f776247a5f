/// A bounds-checked cursor that reads msgpack values straight from a frame's bytes: the one
/// place the transport parses msgpack. Every request and response value is decoded with it in
/// one pass into a Swift value (``AppendEntriesDecoder``, ``WireDecoder``), and
/// ``MessagePackFrameScanner`` finds where a frame ends with it while the frame is still arriving.
///
/// Every value is checked against the limits before anything depends on it:
/// ``WireError/frameTooLarge(limit:)`` for any header, string, array or map that would end
/// beyond ``WireLimits/maxFrameSize``, however few bytes have arrived (every element takes at
/// least a byte, so a declared count is checked before any element is read, and never sizes an
/// allocation); ``WireError/nestingTooDeep(limit:)``; ``WireError/reservedByte(offset:)``.
/// Nothing is read past the buffer: running out is reported as ``Stop/needMoreData``, distinct
/// from errors, so an incomplete frame can be waited for.
///
/// Values are classified as msgpack-c classifies them (``Value``), including its rule that a
/// signed integer (`d0`–`d3`) that is not negative is a positive integer: go-msgpack 0.5.5
/// writes non-negative Go ints in the unsigned family and go-msgpack v2 in the signed one, and
/// both must land in the same fields.
///
/// Offsets are relative to the start of `bytes`, which must be the frame's first byte: the
/// frame-size limit is applied to them.
struct MessagePackFrameReader {
    /// Why reading stopped before a value was complete.
    enum Stop: Error {
        /// The bytes end inside the value: more may complete it.
        case needMoreData
        /// The bytes break msgpack or the limits: the frame can never be read, whatever follows.
        case structure(WireError)
        /// The msgpack is well-formed as far as read, but a field holds what its Go type cannot
        /// take (``WireError/wrongType(field:expected:found:)`` or
        /// ``WireError/valueOutOfRange(field:value:)``).
        case field(WireError)
    }

    /// One value as read: scalars decoded, strings and extensions located, containers with
    /// their counts (their elements follow and are read, or skipped, by the caller).
    enum Value {
        case `nil`
        case bool(Bool)
        /// Any integer that is not negative, whatever its encoding (msgpack-c's
        /// `POSITIVE_INTEGER`).
        case positiveInteger(UInt64)
        /// A negative integer (msgpack-c's `NEGATIVE_INTEGER`).
        case negativeInteger(Int64)
        case float
        /// A str (or raw) value's payload, as offsets into the reader's bytes.
        case string(Range<Int>)
        /// A bin value's payload, as offsets into the reader's bytes.
        case binary(Range<Int>)
        /// An array header: `count` values follow.
        case array(count: Int)
        /// A map header: `count` keys, each followed by its value.
        case map(count: Int)
        /// An extension value's type and payload (without the type byte).
        case `extension`(type: Int8, Range<Int>)

        /// The family's name in errors, as `msgpack_object.typeName` names it.
        var typeName: String {
            switch self {
            case .nil: return "nil"
            case .bool: return "bool"
            case .positiveInteger: return "positive integer"
            case .negativeInteger: return "negative integer"
            case .float: return "float"
            case .string: return "string"
            case .binary: return "binary"
            case .array: return "array"
            case .map: return "map"
            case .extension: return "extension"
            }
        }
    }

    /// The frame's bytes, from its first byte; possibly not all of it yet, possibly followed by
    /// the next frames.
    let bytes: UnsafeRawBufferPointer
    /// The offset of the next value's first byte; after a complete value, its length.
    private(set) var offset = 0
    private let maxFrameSize: Int
    private let maxDepth: Int

    /// Creates a reader of the frame starting at the first byte of `bytes`, positioned at
    /// `offset` (where a resumed scan stopped).
    init(_ bytes: UnsafeRawBufferPointer, limits: WireLimits, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
        self.maxFrameSize = limits.maxFrameSize
        self.maxDepth = limits.maxDepth
    }

    /// How many bytes are present after the current position: an upper bound on how many
    /// values can follow, for clamping capacities reserved from peer-declared counts.
    var remaining: Int { bytes.count - offset }

    /// The bytes at `range`, a payload this reader returned.
    func payload(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[range])
    }

    // MARK: Reading values

    /// Reads the value at the current position: the whole of a scalar, string or extension,
    /// the header of an array or map. `depth` is the number of arrays and maps around it
    /// (0 for the frame's top value); a container at `depth` ``WireLimits/maxDepth`` or
    /// deeper is ``WireError/nestingTooDeep(limit:)``.
    @inline(__always)
    mutating func read(depth: Int) throws(Stop) -> Value {
        // Inline, the two forms most of an AppendEntries is made of (every key a fixstr, most
        // integers fixints) when they are present and within the limit; everything else, and
        // every failure, in readAny.
        let start = offset
        if start < bytes.count {
            let head = bytes[start]
            if head < 0x80 && start < maxFrameSize {
                offset = start + 1
                return .positiveInteger(UInt64(head))
            }
            if head & 0xe0 == 0xa0 {
                let end = start + 1 + Int(head & 0x1f)
                if end <= bytes.count && end <= maxFrameSize {
                    offset = end
                    return .string((start + 1)..<end)
                }
            }
        }
        return try readAny(depth: depth)
    }

    /// ``read(depth:)`` for any head.
    @inline(never)
    private mutating func readAny(depth: Int) throws(Stop) -> Value {
        let start = offset
        guard start < bytes.count else { throw .needMoreData }
        let head = bytes[start]
        switch head {
        case 0x00...0x7f:
            try fixed(at: start, size: 1)
            return .positiveInteger(UInt64(head))
        case 0xe0...0xff:
            try fixed(at: start, size: 1)
            return .negativeInteger(Int64(Int8(bitPattern: head)))
        case 0xc0:
            try fixed(at: start, size: 1)
            return .nil
        case 0xc2, 0xc3:
            try fixed(at: start, size: 1)
            return .bool(head == 0xc3)
        case 0xa0...0xbf:
            return .string(try payload(at: start, header: 1, length: Int(head & 0x1f)))
        case 0x90...0x9f:
            return .array(count: try container(at: start, header: 1, count: Int(head & 0x0f), perElement: 1, depth: depth))
        case 0x80...0x8f:
            return .map(count: try container(at: start, header: 1, count: Int(head & 0x0f), perElement: 2, depth: depth))
        case 0xcc: return .positiveInteger(try unsigned(at: start, width: 1))
        case 0xcd: return .positiveInteger(try unsigned(at: start, width: 2))
        case 0xce: return .positiveInteger(try unsigned(at: start, width: 4))
        case 0xcf: return .positiveInteger(try unsigned(at: start, width: 8))
        case 0xd0: return Self.integer(Int64(Int8(truncatingIfNeeded: try unsigned(at: start, width: 1))))
        case 0xd1: return Self.integer(Int64(Int16(truncatingIfNeeded: try unsigned(at: start, width: 2))))
        case 0xd2: return Self.integer(Int64(Int32(truncatingIfNeeded: try unsigned(at: start, width: 4))))
        case 0xd3: return Self.integer(Int64(bitPattern: try unsigned(at: start, width: 8)))
        case 0xca:
            try fixed(at: start, size: 5)
            return .float
        case 0xcb:
            try fixed(at: start, size: 9)
            return .float
        case 0xd4: return try fixedExtension(at: start, length: 1)
        case 0xd5: return try fixedExtension(at: start, length: 2)
        case 0xd6: return try fixedExtension(at: start, length: 4)
        case 0xd7: return try fixedExtension(at: start, length: 8)
        case 0xd8: return try fixedExtension(at: start, length: 16)
        case 0xd9: return .string(try payload(at: start, header: 2, length: try declared(at: start, width: 1)))
        case 0xda: return .string(try payload(at: start, header: 3, length: try declared(at: start, width: 2)))
        case 0xdb: return .string(try payload(at: start, header: 5, length: try declared(at: start, width: 4)))
        case 0xc4: return .binary(try payload(at: start, header: 2, length: try declared(at: start, width: 1)))
        case 0xc5: return .binary(try payload(at: start, header: 3, length: try declared(at: start, width: 2)))
        case 0xc6: return .binary(try payload(at: start, header: 5, length: try declared(at: start, width: 4)))
        case 0xc7: return try sizedExtension(at: start, width: 1)
        case 0xc8: return try sizedExtension(at: start, width: 2)
        case 0xc9: return try sizedExtension(at: start, width: 4)
        case 0xdc:
            return .array(count: try container(at: start, header: 3, count: try declared(at: start, width: 2), perElement: 1, depth: depth))
        case 0xdd:
            return .array(count: try container(at: start, header: 5, count: try declared(at: start, width: 4), perElement: 1, depth: depth))
        case 0xde:
            return .map(count: try container(at: start, header: 3, count: try declared(at: start, width: 2), perElement: 2, depth: depth))
        case 0xdf:
            return .map(count: try container(at: start, header: 5, count: try declared(at: start, width: 4), perElement: 2, depth: depth))
        default:  // 0xc1, the only head left
            throw .structure(.reservedByte(offset: start))
        }
    }

    /// Skips what remains of `value`, just returned by ``read(depth:)`` at `depth`: the
    /// elements of an array or map, nested ones included; nothing for other values.
    ///
    /// Recursion is bounded: a container is only returned at a depth below
    /// ``WireLimits/maxDepth`` (at most 32), so this nests at most that deep.
    mutating func skip(_ value: Value, depth: Int) throws(Stop) {
        let elements: Int
        switch value {
        case .array(let count): elements = count
        case .map(let count): elements = count * 2  // count < 2^32: no overflow
        default: return
        }
        for _ in 0..<elements {
            let element = try read(depth: depth + 1)
            try skip(element, depth: depth + 1)
        }
    }

    /// Reads and skips one whole value at `depth`.
    mutating func skipValue(depth: Int) throws(Stop) {
        try skip(try read(depth: depth), depth: depth)
    }

    // MARK: Headers

    /// A signed integer classified as msgpack-c does: not negative is positive.
    private static func integer(_ value: Int64) -> Value {
        value >= 0 ? .positiveInteger(UInt64(value)) : .negativeInteger(value)
    }

    /// Claims a value of `size` bytes at `start`: within the frame limit first (so a hostile
    /// length fails at once rather than being waited for), then present.
    private mutating func fixed(at start: Int, size: Int) throws(Stop) {
        let end = start + size
        if end > maxFrameSize { throw .structure(.frameTooLarge(limit: maxFrameSize)) }
        if end > bytes.count { throw .needMoreData }
        offset = end
    }

    /// The big-endian unsigned integer of `width` bytes after the head at `start`, claiming
    /// head and integer.
    private mutating func unsigned(at start: Int, width: Int) throws(Stop) -> UInt64 {
        try fixed(at: start, size: 1 + width)
        return Self.bigEndian(bytes, at: start + 1, width: width)
    }

    /// The length or count of `width` bytes after the head at `start`. Only those bytes must
    /// have arrived; nothing is claimed yet.
    private func declared(at start: Int, width: Int) throws(Stop) -> Int {
        guard start + 1 + width <= bytes.count else { throw .needMoreData }
        return Int(Self.bigEndian(bytes, at: start + 1, width: width))  // < 2^32
    }

    /// Claims a string or binary value: `header` bytes, then a `length`-byte payload, whose
    /// offsets it returns.
    private mutating func payload(at start: Int, header: Int, length: Int) throws(Stop) -> Range<Int> {
        try fixed(at: start, size: header + length)  // start <= maxFrameSize <= 2^32: no overflow
        return (start + header)..<offset
    }

    /// Claims an array or map header declaring `count` elements of which each takes
    /// `perElement` values (a map's key and value), and returns `count`. However few bytes have
    /// arrived, elements that could not fit in the frame (every value takes a byte) are
    /// ``WireError/frameTooLarge(limit:)``.
    private mutating func container(at start: Int, header: Int, count: Int, perElement: Int, depth: Int) throws(Stop) -> Int {
        let end = start + header
        if end > maxFrameSize || end + count * perElement > maxFrameSize {
            throw .structure(.frameTooLarge(limit: maxFrameSize))
        }
        if depth >= maxDepth { throw .structure(.nestingTooDeep(limit: maxDepth)) }
        if end > bytes.count { throw .needMoreData }
        offset = end
        return count
    }

    /// Claims a fixext value (`d4`–`d8`): head, type byte, `length` bytes.
    private mutating func fixedExtension(at start: Int, length: Int) throws(Stop) -> Value {
        try fixed(at: start, size: 2 + length)
        return .extension(type: Int8(bitPattern: bytes[start + 1]), (start + 2)..<offset)
    }

    /// Claims an ext 8/16/32 value (`c7`–`c9`): head, length of `width` bytes, type byte,
    /// payload.
    private mutating func sizedExtension(at start: Int, width: Int) throws(Stop) -> Value {
        let length = try declared(at: start, width: width)
        try fixed(at: start, size: 1 + width + 1 + length)
        return .extension(type: Int8(bitPattern: bytes[start + 1 + width]), (start + 2 + width)..<offset)
    }

    /// Big-endian `width` bytes (1, 2, 4 or 8) at `index`, which the caller has bounds-checked.
    private static func bigEndian(_ bytes: UnsafeRawBufferPointer, at index: Int, width: Int) -> UInt64 {
        switch width {
        case 1: return UInt64(bytes[index])
        case 2: return UInt64(UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt16.self)))
        case 4: return UInt64(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self)))
        default: return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
        }
    }
}

// MARK: Decoding a value

/// What decoding the value at the start of some bytes found, when the bytes may end before the
/// value does (a frame still arriving) or go on past it (the next frames, snapshot data).
enum PrefixDecodeResult<Decoded> {
    /// The bytes end inside the value, with no structural error in them so far.
    case needMoreData
    /// The value is complete and well-formed in its first `length` bytes; `decoded` is it
    /// decoded, or the field error that makes it unacceptable.
    case complete(decoded: Result<Decoded, WireError>, length: Int)
}

extension MessagePackFrameReader {
    /// Decodes the value at the start of `bytes` with `body`, which reads it whole from the
    /// reader it is given, and sorts out what stopped it.
    ///
    /// A field error counts only once the whole value is known to be complete and well-formed:
    /// the value is then skipped from its start to find out. So a structural error later in the
    /// frame wins over an earlier field error, and a frame still arriving is waited for, which
    /// keeps the verdict on a frame independent of how its bytes were split into reads.
    /// Structural errors (``WireError/frameTooLarge(limit:)``,
    /// ``WireError/nestingTooDeep(limit:)``, ``WireError/reservedByte(offset:)``) are thrown
    /// at once, however little of the value has arrived, so a hostile peer cannot make the
    /// connection wait.
    @inline(__always)
    static func decodePrefix<Decoded>(
        of bytes: UnsafeRawBufferPointer,
        limits: WireLimits,
        _ body: (inout MessagePackFrameReader) throws(Stop) -> Decoded
    ) throws(WireError) -> PrefixDecodeResult<Decoded> {
        var reader = MessagePackFrameReader(bytes, limits: limits)
        let fieldError: WireError
        do throws(Stop) {
            let decoded = try body(&reader)
            return .complete(decoded: .success(decoded), length: reader.offset)
        } catch {
            switch error {
            case .needMoreData: return .needMoreData
            case .structure(let error): throw error
            case .field(let error): fieldError = error
            }
        }
        return try completeDespite(fieldError, in: bytes, limits: limits)
    }

    /// The outcome of a value in which `fieldError` was found: the error if the value is complete
    /// and well-formed, otherwise what its structure says.
    @inline(never)
    private static func completeDespite<Decoded>(
        _ fieldError: WireError,
        in bytes: UnsafeRawBufferPointer,
        limits: WireLimits
    ) throws(WireError) -> PrefixDecodeResult<Decoded> {
        var reader = MessagePackFrameReader(bytes, limits: limits)
        do throws(Stop) {
            try reader.skipValue(depth: 0)
            return .complete(decoded: .failure(fieldError), length: reader.offset)
        } catch {
            switch error {
            case .needMoreData: return .needMoreData
            case .structure(let structural): throw structural
            case .field: return .complete(decoded: .failure(fieldError), length: reader.offset)  // skipping reads no fields
            }
        }
    }

    /// The value decoded from exactly `bytes`: the caller knows the whole frame is there, so a
    /// value that ends early or late is ``WireError/malformed(_:)``.
    static func decodeWhole<Decoded>(
        _ bytes: UnsafeRawBufferPointer,
        _ result: PrefixDecodeResult<Decoded>
    ) throws(WireError) -> Decoded {
        switch result {
        case .needMoreData: throw .malformed("truncated value (\(bytes.count) bytes)")
        case .complete(_, let length) where length != bytes.count: throw .malformed("\(bytes.count - length) bytes after the value")
        case .complete(let decoded, _): return try decoded.get()
        }
    }
}

// MARK: Structs

extension MessagePackFrameReader {
    /// Reads a map key at `depth`: its bytes if it is a string or binary, or nil after skipping
    /// a key of another type (go-msgpack would not match it to any field either).
    @inline(__always)
    mutating func readKey(depth: Int) throws(Stop) -> FieldKey? {
        let key = try read(depth: depth)
        switch key {
        case .string(let range), .binary(let range): return FieldKey(bytes: payload(range))
        default:
            try skip(key, depth: depth)
            return nil
        }
    }

    /// Reads a Go struct's map at `depth`, calling `body` with each field's key and value (read
    /// at `depth + 1`) and this reader for their payloads; `body` returns false for a key it
    /// does not know, whose value is then skipped, nested values included. Keys that are not
    /// strings are skipped with their values. Nil, for a struct, means every field zero, so
    /// `body` is not called; any other type is a field error naming `name`.
    ///
    /// `body` must not return true for an array or map whose elements it has not read: the
    /// reader would be left inside it. The structs read this way have only scalar, string and
    /// byte fields, whose readers refuse a container with a field error.
    @inline(__always)
    mutating func readStruct(
        _ name: @autoclosure () -> String,
        depth: Int,
        _ body: (FieldKey, Value, MessagePackFrameReader) throws(Stop) -> Bool
    ) throws(Stop) {
        let root = try read(depth: depth)
        let fields: Int
        switch root {
        case .map(let count): fields = count
        case .nil: return
        default: throw .field(.wrongType(field: name(), expected: "map", found: root.typeName))
        }
        for _ in 0..<fields {
            guard let key = try readKey(depth: depth + 1) else {
                try skipValue(depth: depth + 1)
                continue
            }
            let value = try read(depth: depth + 1)
            if try !body(key, value, self) { try skip(value, depth: depth + 1) }
        }
    }

    /// A string field's text; "" for nil. Bytes that are not UTF-8 are repaired, not rejected:
    /// Go's `[]byte` fields (ID, Addr, Leader) carry no encoding guarantee.
    func string(_ value: Value, _ field: @autoclosure () -> String) throws(Stop) -> String {
        guard let range = try value.bytes(field()), !range.isEmpty else { return "" }
        return String(decoding: payload(range), as: UTF8.self)
    }

    /// A byte field as its own array; empty for nil.
    func byteArray(_ value: Value, _ field: @autoclosure () -> String) throws(Stop) -> [UInt8] {
        guard let range = try value.bytes(field()) else { return [] }
        return Array(payload(range))
    }
}

/// A map key's bytes, matched against Go field names with `switch key { case "Term": … }`
/// without building a String per key.
struct FieldKey {
    /// The key's bytes, pointing into the frame.
    let bytes: UnsafeRawBufferPointer

    /// Whether the key is exactly `name`.
    static func ~= (name: StaticString, key: FieldKey) -> Bool {
        let count = name.utf8CodeUnitCount
        guard key.bytes.count == count else { return false }
        let expected = name.utf8Start
        for i in 0..<count where key.bytes[i] != expected[i] { return false }
        return true
    }
}

// MARK: Field readers

/// Liberal readers for the fields of a Go struct, matching what go-msgpack's decoders accept
/// (hashicorp-raft.md §4.2): nil anywhere means the zero value; either integer family for any
/// integer field (negative only into signed ones); str, bin and raw for strings and bytes; bool
/// also from 0 and 1. The results and errors are those msgpack-c's object tree gave when it
/// decoded these frames, down to the type names. `field` is evaluated only for an error, so
/// callers may interpolate paths such as `Entries[\(i)].Data` at no cost on the success path.
extension MessagePackFrameReader.Value {
    /// The payload of a string or binary value; nil for msgpack nil.
    func bytes(_ field: @autoclosure () -> String) throws(MessagePackFrameReader.Stop) -> Range<Int>? {
        switch self {
        case .string(let range), .binary(let range): return range
        case .nil: return nil
        default: throw .field(.wrongType(field: field(), expected: "string or bytes", found: typeName))
        }
    }

    /// An unsigned integer field (Go `uint64`).
    func uint64(_ field: @autoclosure () -> String) throws(MessagePackFrameReader.Stop) -> UInt64 {
        switch self {
        case .positiveInteger(let value): return value
        case .nil: return 0
        case .negativeInteger(let value): throw .field(.valueOutOfRange(field: field(), value: "\(value)"))
        default: throw .field(.wrongType(field: field(), expected: "integer", found: typeName))
        }
    }

    /// An unsigned integer field of Go type `uint8` (LogType).
    func uint8(_ field: @autoclosure () -> String) throws(MessagePackFrameReader.Stop) -> UInt8 {
        let value = try uint64(field())
        guard let narrow = UInt8(exactly: value) else { throw .field(.valueOutOfRange(field: field(), value: "\(value)")) }
        return narrow
    }

    /// A signed integer field (Go `int64`).
    func int64(_ field: @autoclosure () -> String) throws(MessagePackFrameReader.Stop) -> Int64 {
        switch self {
        case .positiveInteger(let value):
            guard let signed = Int64(exactly: value) else { throw .field(.valueOutOfRange(field: field(), value: "\(value)")) }
            return signed
        case .negativeInteger(let value): return value
        case .nil: return 0
        default: throw .field(.wrongType(field: field(), expected: "integer", found: typeName))
        }
    }

    /// A signed integer field of Go type `int` (ProtocolVersion, SnapshotVersion).
    func int(_ field: @autoclosure () -> String) throws(MessagePackFrameReader.Stop) -> Int {
        let wide = try int64(field())
        guard let narrow = Int(exactly: wide) else { throw .field(.valueOutOfRange(field: field(), value: "\(wide)")) }
        return narrow
    }

    /// A bool field: true/false, or the integers 0 and 1 as go-msgpack accepts them.
    func bool(_ field: @autoclosure () -> String) throws(MessagePackFrameReader.Stop) -> Bool {
        switch self {
        case .bool(let value): return value
        case .nil: return false
        case .positiveInteger(let value) where value <= 1: return value == 1
        case .positiveInteger(let value): throw .field(.valueOutOfRange(field: field(), value: "\(value) as bool"))
        case .negativeInteger(let value): throw .field(.valueOutOfRange(field: field(), value: "\(value) as bool"))
        default: throw .field(.wrongType(field: field(), expected: "bool", found: typeName))
        }
    }
}
