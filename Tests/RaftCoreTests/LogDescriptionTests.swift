import Testing

import RaftCore

/// A log entry's description shows every field, so a test that finds two entries unequal prints
/// two different lines.
@Suite struct LogDescriptionTests {
    @Test func entriesThatDifferInAnyFieldDescribeDifferently() {
        let base = Log(index: 7, term: 3, type: .command, data: Array("abc".utf8), extensions: [1, 2],
                       appendedAt: LogTimestamp(nanosecondsSinceEpoch: 1_000))
        var otherData = base
        otherData.data = Array("abd".utf8)[...]
        var otherExtensions = base
        otherExtensions.extensions = [1, 3]
        var otherTime = base
        otherTime.appendedAt = LogTimestamp(nanosecondsSinceEpoch: 2_000)
        var longer = base
        longer.data = ArraySlice(repeating: 9, count: 100)
        var longerChanged = longer
        longerChanged.data[longerChanged.data.endIndex - 1] = 8
        let descriptions = [base, otherData, otherExtensions, otherTime, longer, longerChanged].map(\.description)
        #expect(Set(descriptions).count == descriptions.count, "\(descriptions)")
        #expect(base.description == "7/3 LogCommand data 3 B [616263] extensions 2 B [0102] appendedAt 0.000001000")
    }
}
