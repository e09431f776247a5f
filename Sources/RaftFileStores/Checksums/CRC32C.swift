internal import CCRC32C

/// CRC-32C (Castagnoli: the reflected polynomial 0x82F63B78, initial value and final XOR all
/// ones), the checksum of iSCSI, ext4 and most write-ahead logs.
///
/// It is chosen over the zlib CRC-32 for its better error detection on the short records a log
/// holds. The value is always the finished checksum of everything fed so far, so a checksum can be
/// carried across calls without a separate "finalize" step:
///
/// ```swift
/// var crc = CRC32C()
/// crc.update(header)
/// crc.update(payload)
/// crc.value   // == CRC32C.checksum(header + payload)
/// ```
public struct CRC32C: RunningChecksum {
    /// The checksum of the bytes fed so far; 0 for none.
    public private(set) var value: UInt32

    /// Starts a checksum resuming from the ``value`` of an earlier one (``init()`` starts anew).
    public init(resuming value: UInt32) {
        self.value = value
    }

    /// Feeds `bytes`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        value = Self.update(value, bytes)
    }

    /// The checksum of `crc`'s bytes followed by `bytes`.
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        // Every record is checksummed when written and again when read or recovered: the CPU's
        // CRC-32C instruction, where there is one, is several times faster than the tables.
        guard hardwareAvailable, let base = bytes.baseAddress else { return softwareUpdate(crc, bytes) }
        return ~swift_raft_crc32c_hardware_update(~crc, base, bytes.count)
    }

    /// Whether this CPU computes CRC-32C itself (SSE 4.2, ARMv8 CRC).
    static let hardwareAvailable = swift_raft_crc32c_hardware_available() != 0

    /// ``update(_:_:)`` with tables only, for CPUs without the instruction (and to check it).
    static func softwareUpdate(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        // Slicing-by-8: eight bytes per step through eight tables.
        crc32cTables.withUnsafeBufferPointer { table in
            var crc = ~crc
            var index = 0
            let count = bytes.count
            while count - index >= 8 {
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian
                let low = UInt32(truncatingIfNeeded: word) ^ crc
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc = table[7 &* 256 &+ Int(low & 0xff)]
                    ^ table[6 &* 256 &+ Int((low >> 8) & 0xff)]
                    ^ table[5 &* 256 &+ Int((low >> 16) & 0xff)]
                    ^ table[4 &* 256 &+ Int(low >> 24)]
                    ^ table[3 &* 256 &+ Int(high & 0xff)]
                    ^ table[2 &* 256 &+ Int((high >> 8) & 0xff)]
                    ^ table[1 &* 256 &+ Int((high >> 16) & 0xff)]
                    ^ table[Int(high >> 24)]
                index &+= 8
            }
            while index < count {
                crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ bytes[index])] ^ (crc >> 8)
                index &+= 1
            }
            return ~crc
        }
    }
}

/// Eight 256-entry tables, one after another: table 0 is the classic byte-at-a-time table and
/// table k advances a byte through k further zero bytes.
private let crc32cTables: [UInt32] = {
    let polynomial: UInt32 = 0x82F6_3B78
    var tables = [UInt32](repeating: 0, count: 8 * 256)
    for byte in 0..<256 {
        var crc = UInt32(byte)
        for _ in 0..<8 {
            crc = crc & 1 == 1 ? (crc >> 1) ^ polynomial : crc >> 1
        }
        tables[byte] = crc
    }
    for table in 1..<8 {
        for byte in 0..<256 {
            let previous = tables[(table - 1) * 256 + byte]
            tables[table * 256 + byte] = tables[Int(previous & 0xff)] ^ (previous >> 8)
        }
    }
    return tables
}()
