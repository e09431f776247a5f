@testable import RaftFileStores
import SwiftRaft
import Testing

/// ``CRC32C`` computes CRC-32C (Castagnoli) as iSCSI and ext4 define it.
@Suite("CRC32C")
struct CRC32CTests {
    /// The bit-at-a-time definition, for comparison.
    private static func reference(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    @Test func theCheckValueOf123456789IsE3069283() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func theChecksumOfNothingIsZero() {
        #expect(CRC32C.checksum([]) == 0)
        #expect(CRC32C().value == 0)
    }

    /// The test patterns of RFC 3720 (iSCSI), appendix B.4.
    @Test(arguments: [
        ([UInt8](repeating: 0, count: 32), UInt32(0x8A91_36AA)),
        ([UInt8](repeating: 0xFF, count: 32), UInt32(0x62A8_AB43)),
        ((0..<32).map { UInt8($0) }, UInt32(0x46DD_794E)),
        ((0..<32).reversed().map { UInt8($0) }, UInt32(0x113F_DB5C)),
    ])
    func matchesTheISCSITestPatterns(bytes: [UInt8], expected: UInt32) {
        #expect(CRC32C.checksum(bytes) == expected)
    }

    @Test func matchesTheBitwiseDefinitionAtEveryLengthAndAlignment() {
        var random = SplitMix64(seed: 42)
        let bytes = (0..<300).map { _ in UInt8.random(in: 0...255, using: &random) }
        for start in 0..<9 {
            for end in stride(from: start, through: bytes.count, by: 7) {
                let slice = Array(bytes[start..<end])
                #expect(CRC32C.checksum(slice) == Self.reference(slice))
            }
        }
    }

    @Test func feedingInPiecesGivesTheSameChecksumAsAllAtOnce() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            var crc = CRC32C()
            crc.update(bytes[..<split])
            crc.update(Array(bytes[split...]))
            #expect(crc.value == CRC32C.checksum(bytes))
            var resumed = CRC32C(resuming: CRC32C.checksum(Array(bytes[..<split])))
            resumed.update(Array(bytes[split...]))
            #expect(resumed.value == CRC32C.checksum(bytes))
        }
    }

    /// The CPU's instruction and the tables must agree, so stores written on one machine read on
    /// any other; with no instruction both sides are the tables and this checks nothing new.
    @Test func theTablesAndTheCPUInstructionAgreeAtEveryLengthAndAlignment() {
        var random = SplitMix64(seed: 7)
        let bytes = (0..<300).map { _ in UInt8.random(in: 0...255, using: &random) }
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for end in stride(from: start, through: all.count, by: 5) {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<end])
                    let seed = UInt32(truncatingIfNeeded: start &* 0x9E37_79B9)
                    #expect(CRC32C.update(seed, slice) == CRC32C.softwareUpdate(seed, slice))
                }
            }
        }
    }
}
