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
        crcTables.withUnsafeBufferPointer { table in
            var crc = ~crc
            var index = 0
            let count = bytes.count
            while count - index >= 8 {
                crc ^= bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian
                crc = table[7 &* 256 &+ Int(crc & 0xff)]
                    ^ table[6 &* 256 &+ Int((crc >> 8) & 0xff)]
                    ^ table[5 &* 256 &+ Int((crc >> 16) & 0xff)]
                    ^ table[4 &* 256 &+ Int((crc >> 24) & 0xff)]
                    ^ table[3 &* 256 &+ Int((crc >> 32) & 0xff)]
                    ^ table[2 &* 256 &+ Int((crc >> 40) & 0xff)]
                    ^ table[1 &* 256 &+ Int((crc >> 48) & 0xff)]
                    ^ table[Int(crc >> 56)]
                index &+= 8
            }
            while index < count {
                crc = table[Int(UInt8(truncatingIfNeeded: crc) ^ bytes[index])] ^ (crc >> 8)
                index &+= 1
            }
            return ~crc
        }
    }

    /// The checksum as hashicorp/raft stores it in `meta.json`: eight bytes, big-endian (Go's
    /// `hash.Hash64.Sum(nil)`).
    public var bigEndianBytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }
}

/// Eight 256-entry tables, one after another: table 0 is the classic byte-at-a-time table and
/// table k advances a byte through k further zero bytes.
private let crcTables: [UInt64] = {
    let polynomial: UInt64 = 0xC96C_5795_D787_0F42
    var tables = [UInt64](repeating: 0, count: 8 * 256)
    for byte in 0..<256 {
        var crc = UInt64(byte)
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
