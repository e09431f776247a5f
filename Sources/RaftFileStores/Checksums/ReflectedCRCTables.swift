/// Table-driven CRC for a reflected polynomial, slicing-by-8: eight bytes per step through eight
/// tables. CRC-32C (as the fallback for CPUs without its instruction) and CRC-64 share it; the
/// register width is the only difference.
struct ReflectedCRCTables<Register: FixedWidthInteger & UnsignedInteger & Sendable>: Sendable {
    /// Eight 256-entry tables, one after another: table 0 is the classic byte-at-a-time table and
    /// table k advances a byte through k further zero bytes.
    private let tables: [Register]

    /// Builds the tables of the reflected `polynomial`.
    init(polynomial: Register) {
        var tables = [Register](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = Register(byte)
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
        self.tables = tables
    }

    /// The finished checksum of `crc`'s bytes followed by `bytes` (initial value and final XOR
    /// all ones, as both CRCs define them).
    func update(_ crc: Register, _ bytes: UnsafeRawBufferPointer) -> Register {
        tables.withUnsafeBufferPointer { table in
            var crc = ~crc
            var index = 0
            let count = bytes.count
            while count - index >= 8 {
                // The register is at most 64 bits wide, so the whole register mixes into the word
                // and the eight lookups consume all of it.
                let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian
                    ^ UInt64(truncatingIfNeeded: crc)
                func lookup(_ slice: Int, _ shift: UInt64) -> Register {
                    table[slice &* 256 &+ Int(truncatingIfNeeded: (word >> shift) & 0xff)]
                }
                let low = lookup(7, 0) ^ lookup(6, 8) ^ lookup(5, 16) ^ lookup(4, 24)
                let high = lookup(3, 32) ^ lookup(2, 40) ^ lookup(1, 48) ^ lookup(0, 56)
                crc = low ^ high
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
