@testable import RaftFileStores
import Testing

/// ``CRC64`` is Go's `crc64.Checksum(data, crc64.MakeTable(crc64.ECMA))`, the checksum
/// hashicorp/raft stores for every snapshot.
@Suite("CRC64")
struct CRC64Tests {
    @Test func helloMatchesTheValueGoComputes() {
        #expect(CRC64.checksum(Array("hello".utf8)) == 0x9b1e_dae5_dbb9_37b1)
    }

    @Test func checkStringMatchesTheCRC64XZCatalogueEntry() {
        #expect(CRC64.checksum(Array("123456789".utf8)) == 0x995D_C9BB_DF19_39FA)
    }

    @Test func nothingChecksumsToZero() {
        #expect(CRC64.checksum([]) == 0)
        #expect(CRC64().value == 0)
    }

    @Test func storedFormIsEightBigEndianBytesAsHashicorpWritesThem() {
        var crc = CRC64()
        crc.update(Array("hello".utf8))
        #expect(crc.bigEndianBytes == [0x9b, 0x1e, 0xda, 0xe5, 0xdb, 0xb9, 0x37, 0xb1])
        #expect(Base64.encode(crc.bigEndianBytes) == "mx7a5du5N7E=")
    }

    /// Slicing-by-8 handles 8-byte blocks and a byte-wise tail differently; every split of a
    /// buffer whose length is not a multiple of 8 must give the one-shot checksum.
    @Test func feedingInPiecesEqualsFeedingAtOnceForEverySplit() {
        let bytes = (0..<203).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 13) }
        let whole = CRC64.checksum(bytes)
        for split in 0...bytes.count {
            var crc = CRC64()
            crc.update(bytes[..<split])
            crc.update(bytes[split...])
            #expect(crc.value == whole, "split at \(split)")
        }
    }

    @Test func resumingFromAStoredValueContinuesTheChecksum() {
        let first = Array("hel".utf8)
        var resumed = CRC64(resuming: CRC64.checksum(first))
        resumed.update(Array("lo".utf8))
        #expect(resumed.value == CRC64.checksum(Array("hello".utf8)))
    }

    /// The table-driven result against the bit-at-a-time definition, over lengths that exercise
    /// every alignment of the 8-byte loop.
    @Test func tableDrivenEqualsBitwiseDefinition() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ length) }
            var crc = ~UInt64(0)
            for byte in bytes {
                crc ^= UInt64(byte)
                for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xC96C_5795_D787_0F42 : crc >> 1 }
            }
            #expect(CRC64.checksum(bytes) == ~crc, "length \(length)")
        }
    }
}
