/// The on-disk format of a ``FileStableStore``'s data file: a header, then one record per `set`.
///
/// ```
/// header  magic "SRSTABLE" | version u32 = 1 | CRC-32C of the previous 12 bytes, u32
/// record  body length u32 | CRC-32C of the length, u32 | CRC-32C of the body, u32 | body
/// body    namespace u8 | key length u32 | key | value
/// ```
///
/// Integers are big-endian. The length has its own checksum so that a damaged length is never
/// trusted to say where the next record starts; the body's checksum covers the rest. A `UInt64`
/// value is stored as 8 bytes, big-endian, as raft-boltdb stores it.
struct StableRecord: Equatable {
    /// Which of the two key spaces a record belongs to: `set` and `setUInt64` under the same key
    /// do not overwrite each other, as in hashicorp/raft's stores.
    enum Namespace: UInt8 {
        case bytes = 0
        case integer = 1
    }

    var namespace: Namespace
    var key: [UInt8]
    var value: [UInt8]

    static let headerSize = 16
    static let recordHeaderSize = 12
    private static let magic = Array("SRSTABLE".utf8)
    private static let formatVersion: UInt32 = 1

    /// The largest key plus value a record may hold: far beyond anything Raft stores, small
    /// enough that a replay never needs an absurd allocation.
    static let maximumBodySize = 64 << 20

    // MARK: File header

    /// The bytes every data file starts with.
    static func fileHeader() -> [UInt8] {
        var bytes = magic
        appendBigEndian(formatVersion, to: &bytes)
        appendBigEndian(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// Why a file header is unusable, or nil if it is a valid version-1 header.
    static func headerProblem(_ bytes: ArraySlice<UInt8>) -> String? {
        guard bytes.count >= headerSize else { return "the file is shorter than its header" }
        let start = bytes.startIndex
        guard bytes[start..<start + 8].elementsEqual(magic) else { return "the file does not start with the stable store's magic bytes" }
        guard readBigEndian(bytes, at: start + 12) == CRC32C.checksum(Array(bytes[start..<start + 12])) else {
            return "the file header fails its checksum"
        }
        let version = readBigEndian(bytes, at: start + 8)
        guard version == formatVersion else { return "unsupported stable store format version \(version)" }
        return nil
    }

    // MARK: Records

    /// The record's bytes, ready to append.
    func encoded() -> [UInt8] {
        var body: [UInt8] = []
        body.reserveCapacity(5 + key.count + value.count)
        body.append(namespace.rawValue)
        Self.appendBigEndian(UInt32(key.count), to: &body)
        body.append(contentsOf: key)
        body.append(contentsOf: value)

        var bytes: [UInt8] = []
        bytes.reserveCapacity(Self.recordHeaderSize + body.count)
        Self.appendBigEndian(UInt32(body.count), to: &bytes)
        Self.appendBigEndian(CRC32C.checksum(bytes), to: &bytes)
        Self.appendBigEndian(CRC32C.checksum(body), to: &bytes)
        bytes.append(contentsOf: body)
        return bytes
    }

    /// The size of ``encoded()``, without encoding.
    var encodedSize: Int { Self.recordHeaderSize + 5 + key.count + value.count }

    /// What is found at one offset of a data file.
    enum Decoded {
        /// A whole, valid record, and the offset just past it.
        case record(StableRecord, end: Int)
        /// Something that failed a checksum or ends beyond the file: a torn write, or damage.
        case invalid(String)
        /// Bytes that pass their checksums but do not form a record: not a torn write, so damage
        /// or a format this version does not know.
        case malformed(String)
    }

    /// Decodes the record at `offset` of `bytes`.
    static func decode(_ bytes: [UInt8], at offset: Int) -> Decoded {
        guard bytes.count - offset >= recordHeaderSize else {
            return .invalid("only \(bytes.count - offset) bytes remain, fewer than a record header")
        }
        let length = readBigEndian(bytes[...], at: offset)
        // Checked without copying: replay tries this at every offset after a damaged record.
        let lengthChecksum = bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[offset..<offset + 4])) }
        guard readBigEndian(bytes[...], at: offset + 4) == lengthChecksum else {
            return .invalid("the record length fails its checksum")
        }
        let bodyStart = offset + recordHeaderSize
        guard Int(length) <= bytes.count - bodyStart else {
            return .invalid("the record claims \(length) bytes but only \(bytes.count - bodyStart) remain")
        }
        let end = bodyStart + Int(length)
        let body = bytes[bodyStart..<end]
        guard readBigEndian(bytes[...], at: offset + 8) == body.withUnsafeBytes({ CRC32C.checksum($0) }) else {
            return .invalid("the record body fails its checksum")
        }
        guard body.count >= 5 else { return .malformed("the record body is too short for its fields") }
        guard let namespace = Namespace(rawValue: body[bodyStart]) else {
            return .malformed("unknown namespace \(body[bodyStart])")
        }
        let keyLength = Int(readBigEndian(body, at: bodyStart + 1))
        guard keyLength <= body.count - 5 else { return .malformed("the key length exceeds the record") }
        let keyStart = bodyStart + 5
        let record = StableRecord(
            namespace: namespace,
            key: Array(bytes[keyStart..<keyStart + keyLength]),
            value: Array(bytes[keyStart + keyLength..<end])
        )
        if namespace == .integer && record.value.count != 8 {
            return .malformed("an integer value has \(record.value.count) bytes, not 8")
        }
        return .record(record, end: end)
    }

    // MARK: Integers

    /// `value` as 8 bytes, big-endian.
    static func bytes(of value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    /// The `UInt64` in 8 big-endian bytes.
    static func integer(from bytes: [UInt8]) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    private static func readBigEndian(_ bytes: ArraySlice<UInt8>, at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }
}
