internal import CMsgPack

/// Liberal readers for the fields of a decoded msgpack-c object tree, matching what
/// go-msgpack's decoders accept (hashicorp-raft.md §4.2): nil anywhere means the zero value;
/// both integer families for any integer field (negative only into signed ones); str, bin and
/// raw for strings and bytes; bool also from 0 and 1.
///
/// `field` is evaluated only to name the field in an error, so callers may interpolate paths
/// such as `Entries[\(i)].Data` at no cost on the success path.
extension msgpack_object {
    /// The msgpack family, for error messages.
    var typeName: String {
        switch type {
        case MSGPACK_OBJECT_NIL: return "nil"
        case MSGPACK_OBJECT_BOOLEAN: return "bool"
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return "positive integer"
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative integer"
        case MSGPACK_OBJECT_FLOAT32, MSGPACK_OBJECT_FLOAT64: return "float"
        case MSGPACK_OBJECT_STR: return "string"
        case MSGPACK_OBJECT_BIN: return "binary"
        case MSGPACK_OBJECT_ARRAY: return "array"
        case MSGPACK_OBJECT_MAP: return "map"
        case MSGPACK_OBJECT_EXT: return "extension"
        default: return "unknown msgpack type \(type.rawValue)"
        }
    }

    /// The bytes of a string or binary value, pointing into the decoded input (msgpack-c does
    /// not copy them); nil for msgpack nil.
    func bytes(_ field: @autoclosure () -> String) throws(WireError) -> UnsafeRawBufferPointer? {
        switch type {
        case MSGPACK_OBJECT_STR: return UnsafeRawBufferPointer(start: via.str.ptr, count: Int(via.str.size))
        case MSGPACK_OBJECT_BIN: return UnsafeRawBufferPointer(start: via.bin.ptr, count: Int(via.bin.size))
        case MSGPACK_OBJECT_NIL: return nil
        default: throw .wrongType(field: field(), expected: "string or bytes", found: typeName)
        }
    }

    /// A string field's text; "" for nil. Bytes that are not UTF-8 are repaired, not rejected:
    /// Go's `[]byte` fields (ID, Addr, Leader) carry no encoding guarantee.
    func string(_ field: @autoclosure () -> String) throws(WireError) -> String {
        guard let raw = try bytes(field()), !raw.isEmpty else { return "" }
        return String(decoding: raw, as: UTF8.self)
    }

    /// A byte field as its own array; empty for nil.
    func byteArray(_ field: @autoclosure () -> String) throws(WireError) -> [UInt8] {
        guard let raw = try bytes(field()) else { return [] }
        return Array(raw)
    }

    /// An unsigned integer field (Go `uint64`).
    func uint64(_ field: @autoclosure () -> String) throws(WireError) -> UInt64 {
        switch type {
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return via.u64
        case MSGPACK_OBJECT_NIL: return 0
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: throw .valueOutOfRange(field: field(), value: "\(via.i64)")
        default: throw .wrongType(field: field(), expected: "integer", found: typeName)
        }
    }

    /// A signed integer field (Go `int64`).
    func int64(_ field: @autoclosure () -> String) throws(WireError) -> Int64 {
        switch type {
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            guard let value = Int64(exactly: via.u64) else { throw .valueOutOfRange(field: field(), value: "\(via.u64)") }
            return value
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return via.i64
        case MSGPACK_OBJECT_NIL: return 0
        default: throw .wrongType(field: field(), expected: "integer", found: typeName)
        }
    }

    /// A signed integer field of Go type `int` (ProtocolVersion, SnapshotVersion).
    func int(_ field: @autoclosure () -> String) throws(WireError) -> Int {
        let value = try int64(field())
        guard let narrow = Int(exactly: value) else { throw .valueOutOfRange(field: field(), value: "\(value)") }
        return narrow
    }

    /// A bool field: true/false, or the integers 0 and 1 as go-msgpack accepts them.
    func bool(_ field: @autoclosure () -> String) throws(WireError) -> Bool {
        switch type {
        case MSGPACK_OBJECT_BOOLEAN: return via.boolean
        case MSGPACK_OBJECT_NIL: return false
        case MSGPACK_OBJECT_POSITIVE_INTEGER where via.u64 <= 1: return via.u64 == 1
        case MSGPACK_OBJECT_POSITIVE_INTEGER, MSGPACK_OBJECT_NEGATIVE_INTEGER:
            throw .valueOutOfRange(field: field(), value: "\(type == MSGPACK_OBJECT_POSITIVE_INTEGER ? "\(via.u64)" : "\(via.i64)") as bool")
        default: throw .wrongType(field: field(), expected: "bool", found: typeName)
        }
    }

    /// Calls `body` with each key and value of a struct's map, skipping keys that are not
    /// strings (go-msgpack would not match them to any field either). Nil, for a struct, means
    /// all fields zero, so `body` is not called.
    func forEachField(
        _ field: @autoclosure () -> String,
        _ body: (FieldKey, msgpack_object) throws(WireError) -> Void
    ) throws(WireError) {
        switch type {
        case MSGPACK_OBJECT_MAP:
            guard let entries = via.map.ptr else { return }
            for i in 0..<Int(via.map.size) {
                let entry = entries[i]
                let keyBytes: UnsafeRawBufferPointer
                switch entry.key.type {
                case MSGPACK_OBJECT_STR: keyBytes = UnsafeRawBufferPointer(start: entry.key.via.str.ptr, count: Int(entry.key.via.str.size))
                case MSGPACK_OBJECT_BIN: keyBytes = UnsafeRawBufferPointer(start: entry.key.via.bin.ptr, count: Int(entry.key.via.bin.size))
                default: continue
                }
                try body(FieldKey(bytes: keyBytes), entry.val)
            }
        case MSGPACK_OBJECT_NIL:
            return
        default:
            throw .wrongType(field: field(), expected: "map", found: typeName)
        }
    }
}

/// A map key's bytes, matched against Go field names with `switch key { case "Term": … }`
/// without building a String per key.
struct FieldKey {
    /// The key's bytes, pointing into the decoded input.
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
