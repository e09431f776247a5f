import SwiftRaft

/// Conversions between ``LogTimestamp`` and the forms Go peers put `Log.AppendedAt` on the wire
/// in (hashicorp-raft.md §4.2).
enum GoTime {
    /// Seconds from 0001-01-01 (Go's internal epoch) to 1970-01-01.
    static let unixToInternal: Int64 = 62_135_596_800
    /// The length of `Time.MarshalBinary` output without a seconds offset (version 1).
    static let marshalledLength = 15

    /// Writes `timestamp` as Go's `Time.MarshalBinary` does for a UTC time: version 1, int64
    /// seconds since year 1, int32 nanoseconds, int16 zone offset -1 ("UTC"), all big-endian.
    /// ``LogTimestamp/unset`` becomes Go's zero time, which is what hashicorp/raft sends for
    /// entries it never stamped.
    static func marshalBinary(_ timestamp: LogTimestamp, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= marshalledLength)  // callers pass a fixed 15-byte buffer
        var seconds: Int64 = 0
        var nanoseconds: Int32 = 0
        if timestamp != .unset {
            let ns = timestamp.nanosecondsSinceEpoch
            // Floor division: Go keeps nanoseconds in 0..<1e9 for instants before 1970 too.
            var unixSeconds = ns / 1_000_000_000
            var rest = ns % 1_000_000_000
            if rest < 0 {
                unixSeconds -= 1
                rest += 1_000_000_000
            }
            seconds = unixSeconds + unixToInternal  // |unixSeconds| < 9.3e9: no overflow
            nanoseconds = Int32(rest)
        }
        out[0] = 1
        out.storeBytes(of: seconds.bigEndian, toByteOffset: 1, as: Int64.self)
        out.storeBytes(of: nanoseconds.bigEndian, toByteOffset: 9, as: Int32.self)
        out.storeBytes(of: Int16(-1).bigEndian, toByteOffset: 13, as: Int16.self)
    }

    /// Reads a time sent as a raw or binary string: Go's `MarshalBinary` (15 bytes, or 16 when
    /// the zone offset has seconds; the offset is dropped, the instant kept) or a msgpack
    /// timestamp payload (4, 8 or 12 bytes, as go-msgpack v2 writes with
    /// `MsgpackUseNewTimeFormat`). Go's zero time becomes ``LogTimestamp/unset``.
    ///
    /// Instants outside what ``LogTimestamp`` holds (years before 1678 or after 2262) saturate
    /// rather than fail: `AppendedAt` is informational, and rejecting the entry would stall
    /// replication from that leader for good.
    static func decode(_ bytes: UnsafeRawBufferPointer, field: @autoclosure () -> String) throws(WireError) -> LogTimestamp {
        switch bytes.count {
        case 15, 16:
            let version = bytes[0]
            guard (version == 1 && bytes.count == 15) || (version == 2 && bytes.count == 16) else {
                throw .valueOutOfRange(field: field(), value: "time encoding version \(version) with \(bytes.count) bytes")
            }
            let internalSeconds = Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: 1, as: Int64.self))
            let nanoseconds = Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: 9, as: Int32.self))
            if internalSeconds == 0 && nanoseconds == 0 { return .unset }
            let (unixSeconds, overflow) = internalSeconds.subtractingReportingOverflow(unixToInternal)
            if overflow { return saturated(negative: internalSeconds < 0) }
            return combine(seconds: unixSeconds, nanoseconds: Int64(nanoseconds))
        case 12:
            let nanoseconds = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            let seconds = Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: Int64.self))
            return combine(seconds: seconds, nanoseconds: Int64(nanoseconds))
        case 8:
            let packed = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            return combine(seconds: Int64(packed & (1 << 34 - 1)), nanoseconds: Int64(packed >> 34))
        case 4:
            let seconds = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            return combine(seconds: Int64(seconds), nanoseconds: 0)
        default:
            throw .valueOutOfRange(field: field(), value: "time encoding of \(bytes.count) bytes")
        }
    }

    private static func combine(seconds: Int64, nanoseconds: Int64) -> LogTimestamp {
        var seconds = seconds
        var nanoseconds = nanoseconds
        if seconds < 0 && nanoseconds > 0 {
            // Borrow a second so the earliest representable instants do not overflow on the way.
            seconds += 1
            nanoseconds -= 1_000_000_000
        }
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return saturated(negative: seconds < 0) }
        let (sum, overflow2) = scaled.addingReportingOverflow(nanoseconds)
        if overflow2 { return saturated(negative: nanoseconds < 0) }
        return LogTimestamp(nanosecondsSinceEpoch: sum)
    }

    private static func saturated(negative: Bool) -> LogTimestamp {
        LogTimestamp(nanosecondsSinceEpoch: negative ? .min : .max)
    }
}
