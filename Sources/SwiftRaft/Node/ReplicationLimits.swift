/// What a node derives from its transport's ``Transport/maxMessageSize``: the largest command it
/// accepts and the byte budget of one AppendEntries batch, so that no request it builds is ever
/// larger than the transport, or the peer behind it, will carry.
///
/// A request is at most ``AppendEntriesRequest/fixedEncodingOverhead`` plus the sender's ID and
/// address (twice: in the header and the legacy Leader field), plus per entry
/// ``AppendEntriesRequest/entryEncodingOverhead`` and its data and extensions. The core always
/// sends at least one entry and adds more only within ``maxAppendBytes``, so:
/// - one entry alone fits when its data and extensions are at most ``maxCommandSize``;
/// - a batch of up to `MaxAppendEntries` entries fits when they total at most ``maxAppendBytes``.
struct ReplicationLimits: Sendable {
    /// The most entry bytes (data and extensions) per AppendEntries when the transport sets no
    /// limit: large enough to amortise a request, small enough not to delay heartbeats behind it.
    static let defaultMaxAppendBytes = 1 << 20

    /// The largest data plus extensions of one command, or nil when the transport sets no limit.
    let maxCommandSize: Int?
    /// The entry bytes one AppendEntries may carry beyond its first entry.
    let maxAppendBytes: Int

    /// - Throws: ``RaftError/Code/invalidConfig`` when the transport's limit leaves no room for a
    ///   batch of `maxAppendEntries` entries.
    init(maxMessageSize: Int?, localID: ServerID, localAddress: ServerAddress, maxAppendEntries: Int) throws {
        guard let limit = maxMessageSize else {
            maxCommandSize = nil
            maxAppendBytes = Self.defaultMaxAppendBytes
            return
        }
        let framing = AppendEntriesRequest.fixedEncodingOverhead + localID.rawValue.utf8.count
            + 2 * localAddress.rawValue.utf8.count
        let batchBudget = limit - framing - AppendEntriesRequest.entryEncodingOverhead * maxAppendEntries
        guard batchBudget > 0 else {
            throw RaftError(
                .invalidConfig,
                "the transport's maxMessageSize of \(limit) bytes leaves no room for entries: an AppendEntries of "
                    + "MaxAppendEntries \(maxAppendEntries) entries needs \(limit - batchBudget) bytes of framing"
            )
        }
        maxCommandSize = limit - framing - AppendEntriesRequest.entryEncodingOverhead
        maxAppendBytes = min(Self.defaultMaxAppendBytes, batchBudget)
    }
}
