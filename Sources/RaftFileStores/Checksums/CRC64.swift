/// CRC-64 as hashicorp/raft checksums snapshots: Go's `crc64.MakeTable(crc64.ECMA)`, which is
/// CRC-64/XZ (the reflected ECMA-182 polynomial 0xC96C5795D7870F42, initial value and final XOR
/// all ones).
///
/// The value is always the finished checksum of everything fed so far, exactly like Go's
/// `crc64.Update`, so a checksum can be carried across calls (or stored and resumed) without any
/// separate "finalize" step:
///
/// ```swift
/// var crc = CRC64()
/// crc.update(firstChunk)
/// crc.update(secondChunk)
/// crc.value   // == CRC64.checksum(firstChunk + secondChunk)
/// ```
public struct CRC64: RunningChecksum {
    /// The checksum of the bytes fed so far; 0 for none.
    public private(set) var value: UInt64

    /// Starts a checksum resuming from the ``value`` of an earlier one (``init()`` starts anew).
    public init(resuming value: UInt64) {
        self.value = value
    }

    /// Feeds `bytes`.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        value = Self.update(value, bytes)
    }

    /// The checksum of `crc`'s bytes followed by `bytes` (Go's `crc64.Update`).
    public static func update(_ crc: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        // Slicing-by-8: eight bytes per step through eight tables, which is what makes
        // checksumming a multi-gigabyte snapshot cost a fraction of reading it.
        crcTables.update(crc, bytes)
    }

    /// The checksum as hashicorp/raft stores it in `meta.json`: eight bytes, big-endian (Go's
    /// `hash.Hash64.Sum(nil)`).
    public var bigEndianBytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }
}

private let crcTables = ReflectedCRCTables<UInt64>(polynomial: 0xC96C_5795_D787_0F42)
