/// What a log entry is for (hashicorp/raft's `LogType`; raw values match its wire form).
public enum LogType: UInt8, Hashable, Sendable, CustomStringConvertible {
    /// A user command, applied to the FSM.
    case command = 0
    /// Appended by a new leader to commit entries of earlier terms; never reaches the FSM.
    case noop = 1
    /// Legacy membership entry of protocol versions below 2; accepted and ignored.
    case addPeerDeprecated = 2
    /// Legacy membership entry of protocol versions below 2; accepted and ignored.
    case removePeerDeprecated = 3
    /// Resolves a `Raft.barrier(timeout:)` once everything before it has been applied.
    case barrier = 4
    /// A new cluster ``Configuration``, encoded as hashicorp/raft encodes it.
    case configuration = 5

    /// The hashicorp/raft name of the type.
    public var description: String {
        switch self {
        case .command: return "LogCommand"
        case .noop: return "LogNoop"
        case .addPeerDeprecated: return "LogAddPeerDeprecated"
        case .removePeerDeprecated: return "LogRemovePeerDeprecated"
        case .barrier: return "LogBarrier"
        case .configuration: return "LogConfiguration"
        }
    }
}

/// A wall-clock instant, in nanoseconds since 1970-01-01 UTC.
///
/// The core never reads a clock; the shell stamps entries with this when a leader appends them
/// (hashicorp/raft's `Log.AppendedAt`).
public struct LogTimestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Nanoseconds since the Unix epoch; zero means "not set".
    public var nanosecondsSinceEpoch: Int64

    /// Creates a timestamp from nanoseconds since the Unix epoch.
    public init(nanosecondsSinceEpoch: Int64) { self.nanosecondsSinceEpoch = nanosecondsSinceEpoch }

    /// The unset timestamp, which hashicorp/raft encodes as Go's zero time.
    public static let unset = LogTimestamp(nanosecondsSinceEpoch: 0)

    /// Orders timestamps in time.
    public static func < (lhs: LogTimestamp, rhs: LogTimestamp) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }

    /// Seconds and nanoseconds since the epoch.
    public var description: String {
        let seconds = nanosecondsSinceEpoch / 1_000_000_000
        let nanos = nanosecondsSinceEpoch % 1_000_000_000
        return "\(seconds).\(String(nanos + 1_000_000_000).dropFirst())"
    }
}

/// One entry of the replicated log (hashicorp/raft's `Log`).
///
/// ``data`` and ``extensions`` are `ArraySlice`s so that a decoder can hand out views into one
/// received or read buffer instead of allocating an array per entry (a 64-entry AppendEntries is
/// then one allocation, not 65). A slice keeps its whole buffer alive; `Array(log.data)` copies
/// out when an FSM keeps a command for long. Slices keep their parent's indices: index from
/// `data.startIndex`, or iterate.
public struct Log: Hashable, Sendable, CustomStringConvertible {
    /// The entry's position in the log, starting at 1.
    public var index: UInt64
    /// The leader's term when the entry was appended.
    public var term: UInt64
    /// What the entry is for.
    public var type: LogType
    /// The command or configuration bytes.
    public var data: ArraySlice<UInt8>
    /// Opaque bytes for the application, replicated but never interpreted by Raft.
    public var extensions: ArraySlice<UInt8>
    /// When the leader appended the entry, from its wall clock.
    public var appendedAt: LogTimestamp

    /// Creates a log entry.
    public init(
        index: UInt64,
        term: UInt64,
        type: LogType = .command,
        data: ArraySlice<UInt8> = [],
        extensions: ArraySlice<UInt8> = [],
        appendedAt: LogTimestamp = .unset
    ) {
        self.index = index
        self.term = term
        self.type = type
        self.data = data
        self.extensions = extensions
        self.appendedAt = appendedAt
    }

    /// Creates a log entry from whole arrays (no copy: the slices share the arrays' storage).
    public init(
        index: UInt64,
        term: UInt64,
        type: LogType = .command,
        data: [UInt8],
        extensions: [UInt8] = [],
        appendedAt: LogTimestamp = .unset
    ) {
        self.index = index
        self.term = term
        self.type = type
        self.data = data[...]
        self.extensions = extensions[...]
        self.appendedAt = appendedAt
    }

    /// Every field, so two entries that differ print differently: `index/term type`, the data
    /// and extensions as their length and bytes (hex; a longer run shows its first 16 bytes and an
    /// FNV-1a digest of the whole), and the timestamp when set.
    public var description: String {
        var text = "\(index)/\(term) \(type) data \(Self.describe(data))"
        if !extensions.isEmpty { text += " extensions \(Self.describe(extensions))" }
        if appendedAt != .unset { text += " appendedAt \(appendedAt)" }
        return text
    }

    private static func describe(_ bytes: ArraySlice<UInt8>) -> String {
        func hex(_ run: ArraySlice<UInt8>) -> String {
            run.map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined()
        }
        guard bytes.count > 32 else { return "\(bytes.count) B [\(hex(bytes))]" }
        var digest: UInt32 = 0x811c_9dc5
        for byte in bytes { digest = (digest ^ UInt32(byte)) &* 0x0100_0193 }
        return "\(bytes.count) B [\(hex(bytes.prefix(16)))… fnv \(String(digest, radix: 16))]"
    }
}
