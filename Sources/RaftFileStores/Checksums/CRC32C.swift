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
        crc32cTables.update(crc, bytes)
    }
}

private let crc32cTables = ReflectedCRCTables<UInt32>(polynomial: 0x82F6_3B78)
