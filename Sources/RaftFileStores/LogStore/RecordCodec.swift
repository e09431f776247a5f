import SwiftRaft

extension FileLogStore {
    /// The binary form of one log entry in a segment.
    ///
    /// ```
    /// frame    u32 payload length | u32 CRC-32C of (the length's 4 bytes, payload) | payload
    /// payload  u64 index | varint term | varint index − batch first | u8 type
    ///          | i64 appendedAt | varint data count | data | varint extensions count | extensions
    /// ```
    ///
    /// Little-endian; varints are LEB128. The checksum covers the length so a damaged length
    /// cannot make a record swallow its neighbours unnoticed. The index comes first, at a fixed
    /// place, so recovery can cheaply reject most byte positions before checksumming when it
    /// searches damaged bytes for records. "Batch first" is the index of the first entry that the
    /// same `storeLogs` call wrote into the same segment: recovery uses it to tell a half-written
    /// last batch (expected after a crash) from damage to a batch that was already made durable
    /// (see ``FileLogStore``).
    ///
    /// A payload is never empty, so eight zero bytes where a frame would start mean "no record
    /// here": the zeroed, preallocated end of a segment.
    enum RecordCodec {
        /// The length and checksum in front of every payload.
        static let frameHeaderSize = 8
        /// The smallest payload: an index, a one-byte term and batch offset, a type, a timestamp
        /// and two empty byte strings.
        static let minimumPayloadSize = 8 + 1 + 1 + 1 + 8 + 1 + 1
        /// The smallest whole record.
        static let minimumRecordSize = frameHeaderSize + minimumPayloadSize

        /// The bytes `log` takes in a segment, frame included, when the first entry of its batch
        /// in the same segment is `batchOffset` entries before it.
        static func encodedSize(of log: Log, batchOffset: UInt64) -> Int {
            frameHeaderSize + payloadSize(of: log, batchOffset: batchOffset)
        }

        /// Appends the record for `log` to `buffer`. `batchFirst` is the index of the first entry
        /// of the same batch in the same segment.
        static func encode(_ log: Log, batchFirst: UInt64, into buffer: inout [UInt8]) {
            let payloadSize = payloadSize(of: log, batchOffset: log.index - batchFirst)
            let start = buffer.count
            appendLittleEndian(UInt32(payloadSize), to: &buffer)
            appendLittleEndian(UInt32(0), to: &buffer)  // the checksum, filled in below
            appendLittleEndian(log.index, to: &buffer)
            appendVarint(log.term, to: &buffer)
            appendVarint(log.index - batchFirst, to: &buffer)
            buffer.append(log.type.rawValue)
            appendLittleEndian(UInt64(bitPattern: log.appendedAt.nanosecondsSinceEpoch), to: &buffer)
            appendVarint(UInt64(log.data.count), to: &buffer)
            log.data.withUnsafeBytes { buffer.append(contentsOf: $0) }
            appendVarint(UInt64(log.extensions.count), to: &buffer)
            log.extensions.withUnsafeBytes { buffer.append(contentsOf: $0) }

            let crc = buffer.withUnsafeBytes { raw in
                var crc = CRC32C()
                crc.update(UnsafeRawBufferPointer(rebasing: raw[start..<(start + 4)]))
                crc.update(UnsafeRawBufferPointer(rebasing: raw[(start + frameHeaderSize)...]))
                return crc.value
            }
            withUnsafeBytes(of: crc.littleEndian) { crcBytes in
                for (offset, byte) in crcBytes.enumerated() { buffer[start + 4 + offset] = byte }
            }
        }

        /// The largest payload a frame's 32-bit length can describe.
        static let maximumPayloadSize = Int(UInt32.max)

        /// The payload's size for `log`.
        static func payloadSize(of log: Log, batchOffset: UInt64) -> Int {
            8 + varintSize(log.term) + varintSize(batchOffset) + 1 + 8
                + varintSize(UInt64(log.data.count)) + log.data.count
                + varintSize(UInt64(log.extensions.count)) + log.extensions.count
        }

        // MARK: Decoding

        /// A record whose frame and payload checked out, described by where its parts lie.
        struct Record {
            var index: UInt64
            var term: UInt64
            var batchFirst: UInt64
            var type: LogType
            var appendedAt: Int64
            var data: Range<Int>
            var extensions: Range<Int>
            /// The whole record's size, frame included.
            var size: Int
        }

        /// What the bytes at one offset hold.
        enum Frame {
            /// A whole, valid record.
            case record(Record)
            /// Eight zero bytes, or fewer bytes than a frame header that are all zero: no record.
            case empty
            /// Anything else; the reason is for error messages.
            case invalid(String)
        }

        /// Reads the frame at `offset` in `bytes`.
        ///
        /// `indexes`, when given, rejects a frame whose index lies outside it before paying for
        /// the checksum, for searches through damaged bytes.
        static func frame(in bytes: UnsafeRawBufferPointer, at offset: Int, indexes: ClosedRange<UInt64>? = nil) -> Frame {
            let available = bytes.count - offset
            guard available >= frameHeaderSize else {
                let tail = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                return tail.allSatisfy({ $0 == 0 }) ? .empty : .invalid("a partial frame header")
            }
            let length = Int(readLittleEndian(UInt32.self, bytes, offset))
            let storedCRC = readLittleEndian(UInt32.self, bytes, offset + 4)
            if length == 0 && storedCRC == 0 { return .empty }
            guard length >= minimumPayloadSize else { return .invalid("a payload length of \(length) bytes") }
            guard length <= available - frameHeaderSize else {
                return .invalid("a payload length of \(length) bytes running past the end of the file")
            }
            let payloadStart = offset + frameHeaderSize
            let index = readLittleEndian(UInt64.self, bytes, payloadStart)
            if let indexes, !indexes.contains(index) { return .invalid("an unexpected index \(index)") }

            var crc = CRC32C()
            crc.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 4)]))
            crc.update(UnsafeRawBufferPointer(rebasing: bytes[payloadStart..<(payloadStart + length)]))
            guard crc.value == storedCRC else { return .invalid("a checksum mismatch") }

            // The checksum matched, so what follows was written by `encode`; the bounds checks
            // stay because a matching checksum over garbage is unlikely, not impossible.
            var cursor = payloadStart + 8
            let end = payloadStart + length
            guard let term = readVarint(bytes, &cursor, end),
                  let batchOffset = readVarint(bytes, &cursor, end), batchOffset <= index,
                  cursor < end, let type = LogType(rawValue: bytes[cursor])
            else { return .invalid("a malformed payload") }
            cursor += 1
            guard end - cursor >= 8 else { return .invalid("a malformed payload") }
            let appendedAt = Int64(bitPattern: readLittleEndian(UInt64.self, bytes, cursor))
            cursor += 8
            guard let dataCount = readVarint(bytes, &cursor, end), dataCount <= UInt64(end - cursor) else {
                return .invalid("a malformed payload")
            }
            let data = cursor..<(cursor + Int(dataCount))
            cursor = data.upperBound
            guard let extensionsCount = readVarint(bytes, &cursor, end),
                  extensionsCount == UInt64(end - cursor)
            else { return .invalid("a malformed payload") }
            let extensions = cursor..<end
            return .record(Record(
                index: index, term: term, batchFirst: index - batchOffset, type: type,
                appendedAt: appendedAt, data: data, extensions: extensions,
                size: frameHeaderSize + length
            ))
        }

        /// The entry `record` describes. Its data and extensions are slices of `bytes`, not
        /// copies: the entries of one read share its buffer.
        static func log(_ record: Record, in bytes: [UInt8]) -> Log {
            Log(
                index: record.index,
                term: record.term,
                type: record.type,
                data: bytes[record.data],
                extensions: bytes[record.extensions],
                appendedAt: LogTimestamp(nanosecondsSinceEpoch: record.appendedAt)
            )
        }
    }
}

// MARK: Byte helpers

extension FileLogStore.RecordCodec {
    static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }

    static func readLittleEndian<T: FixedWidthInteger>(_: T.Type, _ bytes: UnsafeRawBufferPointer, _ offset: Int) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    static func appendVarint(_ value: UInt64, to buffer: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        buffer.append(UInt8(value))
    }

    static func varintSize(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    /// The varint at `cursor`, which it advances; nil if it runs past `end` or past 64 bits.
    static func readVarint(_ bytes: UnsafeRawBufferPointer, _ cursor: inout Int, _ end: Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while cursor < end {
            let byte = bytes[cursor]
            cursor += 1
            if shift == 63 && byte > 1 { return nil }
            value |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
            if shift > 63 { return nil }
        }
        return nil
    }
}
