/// Decides whether a recorded history of a key-value store is linearizable: whether every
/// operation can be given one instant between its call and its return such that, taken in that
/// order, the operations are those of a single, sequential map (Herlihy and Wing).
///
/// The search is Wing and Gong's, with Lowe's memoization of (operations linearized, state)
/// pairs, as in Porcupine and Knossos. Linearizability is compositional, so each key is checked
/// on its own, which keeps the search small.
///
/// Cost: a linearizable history is usually found in time close to linear in its length. Proving a
/// violation means ruling out every order, which grows with the number of operations in flight at
/// once on one key, and most with writes of unknown outcome (each may take effect at any later
/// instant). Histories of a few thousand operations spread over several keys, with a few unknown
/// writes, check in a fraction of a second; the step budget turns a search that would not end into
/// ``Result/undecided(key:)``.
///
/// Outcomes (see ``OperationOutcome``): a failed operation never took effect and is left out; a
/// read whose outcome is unknown constrains nothing and is left out; a write whose outcome is
/// unknown may take effect at any instant after its call, or never, and is placed accordingly.
public enum LinearizabilityChecker {
    /// The verdict.
    public enum Result: Hashable, Sendable, CustomStringConvertible {
        /// Every key's operations have a valid order.
        case linearizable
        /// The operations on `key` have no valid order; `explanation` lists them and how far the
        /// search got.
        case notLinearizable(key: String, explanation: String)
        /// The search on `key` gave up after its step budget; nothing is known.
        case undecided(key: String)

        /// Whether the history was shown linearizable.
        public var isLinearizable: Bool { self == .linearizable }

        /// A readable verdict.
        public var description: String {
            switch self {
            case .linearizable: return "linearizable"
            case .notLinearizable(let key, let explanation): return "not linearizable on key \(key):\n\(explanation)"
            case .undecided(let key): return "undecided on key \(key): the search gave up"
            }
        }
    }

    /// Checks `history`, each key in turn, giving up on a key after `maxSteps` search steps.
    public static func check(_ history: [HistoryEntry], maxSteps: Int = 10_000_000) -> Result {
        var byKey: [String: [HistoryEntry]] = [:]
        for entry in history where entry.outcome != .fail && (entry.operation.isWrite || entry.outcome != .unknown) {
            byKey[entry.operation.key, default: []].append(entry)
        }
        for key in byKey.keys.sorted() {
            let entries = byKey[key]!
            if let impossible = readOfValueNeverWritten(entries) {
                return .notLinearizable(key: key, explanation: "\(impossible) read a value with no write of it that may have taken effect")
            }
            var search = KeySearch(key: key, entries: entries)
            switch search.run(maxSteps: maxSteps) {
            case .linearizable: continue
            case let other: return other
            }
        }
        return .linearizable
    }
}

extension LinearizabilityChecker {
    /// A successful read of a value that no write of the key (ok or unknown) wrote: no order can
    /// explain it, and finding that needs no search.
    fileprivate static func readOfValueNeverWritten(_ entries: [HistoryEntry]) -> HistoryEntry? {
        var written: Set<String> = []
        for entry in entries {
            if case .put(_, let value) = entry.operation { written.insert(value) }
        }
        return entries.first { entry in
            guard case .get = entry.operation, case .ok(let value?) = entry.outcome else { return false }
            return !written.contains(value)
        }
    }
}

/// The search over one key's operations.
///
/// Events (each operation's call and return) sit in a doubly linked list in time order. Walking
/// it, a call whose operation can be applied to the current state is tentatively linearized: its
/// call and return are lifted out of the list and the walk restarts. Reaching a return means an
/// operation that has returned was never linearized: the last choice is undone (its events put
/// back, dancing-links style) and the walk goes on after it.
private struct KeySearch {
    let key: String
    let entries: [HistoryEntry]

    // The event list: node 0 is the head sentinel; node 2i+1 is operation i's call, 2i+2 its return.
    private var next: [Int]
    private var previous: [Int]
    private var eventOrder: [Int]

    init(key: String, entries: [HistoryEntry]) {
        self.key = key
        self.entries = entries
        // Unknown writes may take effect at any time after their call: their return is at the end.
        func returned(_ entry: HistoryEntry) -> UInt64 { entry.outcome == .unknown ? .max : entry.returned ?? .max }
        var events: [(time: UInt64, isReturn: Bool, node: Int)] = []
        for (position, entry) in entries.enumerated() {
            events.append((entry.call, false, 2 * position + 1))
            events.append((returned(entry), true, 2 * position + 2))
        }
        // At equal times calls come first, so operations touching at an instant count as
        // concurrent (the lenient reading).
        events.sort { ($0.time, $0.isReturn ? 1 : 0, $0.node) < ($1.time, $1.isReturn ? 1 : 0, $1.node) }
        eventOrder = events.map(\.node)
        let count = 2 * entries.count + 1
        next = Array(repeating: 0, count: count)
        previous = Array(repeating: 0, count: count)
        var last = 0
        for node in eventOrder {
            next[last] = node
            previous[node] = last
            last = node
        }
        next[last] = 0
        previous[0] = last
    }

    private func isCall(_ node: Int) -> Bool { node % 2 == 1 }
    private func operation(of node: Int) -> Int { (node - 1) / 2 }

    private mutating func lift(_ call: Int) {
        for node in [call, call + 1] {
            next[previous[node]] = next[node]
            previous[next[node]] = previous[node]
        }
    }

    private mutating func unlift(_ call: Int) {
        for node in [call + 1, call] {
            next[previous[node]] = node
            previous[next[node]] = node
        }
    }

    /// The state after `entry` applied to `state`, or nil if `entry` could not happen there.
    private func step(_ state: String?, _ entry: HistoryEntry) -> String?? {
        switch entry.operation {
        case .put(_, let value): return .some(value)
        case .delete: return .some(nil)
        case .get:
            guard case .ok(let seen) = entry.outcome, seen == state else { return nil }
            return .some(state)
        }
    }

    private struct Memo: Hashable {
        var linearized: [UInt64]
        var state: String?
    }

    mutating func run(maxSteps: Int) -> LinearizabilityChecker.Result {
        var linearized = [UInt64](repeating: 0, count: (entries.count + 63) / 64)
        var state: String? = nil
        var memo: Set<Memo> = []
        var stack: [(call: Int, state: String?)] = []
        var deepest: [Int] = []
        var steps = 0
        var node = next[0]
        while next[0] != 0 {
            steps += 1
            if steps > maxSteps { return .undecided(key: key) }
            if isCall(node) {
                let position = operation(of: node)
                if let after = step(state, entries[position]) {
                    var candidate = linearized
                    candidate[position / 64] |= 1 << UInt64(position % 64)
                    if memo.insert(Memo(linearized: candidate, state: after)).inserted {
                        stack.append((node, state))
                        state = after
                        linearized = candidate
                        lift(node)
                        node = next[0]
                        continue
                    }
                }
                node = next[node]
            } else {
                // An operation returned without being linearized: undo the last choice.
                if stack.count > deepest.count { deepest = stack.map { operation(of: $0.call) } }
                guard let (call, before) = stack.popLast() else {
                    return .notLinearizable(key: key, explanation: explain(deepest: deepest))
                }
                let position = operation(of: call)
                linearized[position / 64] &= ~(1 << UInt64(position % 64))
                state = before
                unlift(call)
                node = next[call]
            }
        }
        return .linearizable
    }

    /// The key's operations in call order, and the longest order the search found for a prefix.
    private func explain(deepest: [Int]) -> String {
        let placed = Set(deepest)
        var lines = ["operations on \(key):"]
        lines += entries.enumerated().map { "  \($0.offset): \($0.element)" }
        lines.append("longest valid order found (\(deepest.count) of \(entries.count)): " + deepest.map(String.init).joined(separator: " → "))
        let stuck = entries.indices.filter { !placed.contains($0) }
            .sorted { entries[$0].returned ?? .max < entries[$1].returned ?? .max }
        if let first = stuck.first { lines.append("no valid place for, first to return: \(first): \(entries[first])") }
        return lines.joined(separator: "\n")
    }
}
