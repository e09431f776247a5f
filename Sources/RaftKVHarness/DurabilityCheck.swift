public import RaftTestKit

/// Checks a history against the data the cluster ended with: no acknowledged write lost.
public enum DurabilityCheck {
    /// The keys whose final value (`final`, read after the load stopped and the nodes converged)
    /// no order of the history allows: absent although a put was acknowledged, a value nobody
    /// wrote, or a value an acknowledged put overwrote (one whose call came after the return of
    /// the write of the final value). One line per such key; empty when every acknowledged write
    /// survived. Only puts are considered (the load deletes nothing).
    public static func lostWrites(in history: [HistoryEntry], final: [String: String]) -> [String] {
        var problems: [String] = []
        var puts: [String: [HistoryEntry]] = [:]
        for entry in history where entry.outcome != .fail {
            if case .put = entry.operation { puts[entry.operation.key, default: []].append(entry) }
        }
        for (key, writes) in puts.sorted(by: { $0.key < $1.key }) {
            let acknowledged = writes.filter { $0.outcome == .ok }
            guard let value = final[key] else {
                if let write = acknowledged.first { problems.append("\(key) is absent, but \(write) was acknowledged") }
                continue
            }
            guard let source = writes.first(where: { if case .put(_, value) = $0.operation { return true } else { return false } }) else {
                problems.append("\(key) holds \"\(value)\", which no put wrote")
                continue
            }
            // An unknown write may take effect at any time after its call: nothing can follow it.
            guard source.outcome == .ok, let returned = source.returned else { continue }
            if let later = acknowledged.first(where: { $0.call > returned }) {
                problems.append("\(key) holds \"\(value)\" from \(source), but \(later) was acknowledged after it: lost")
            }
        }
        return problems
    }

    /// Appends to `recorder` one read per key of `final`, each called and returned after every
    /// operation so far: the data the nodes converged on, read once nothing was running, as the
    /// history's last word. With them the linearizability checker also checks durability.
    public static func recordFinalReads(_ final: [String: String], keys: [String], into recorder: HistoryRecorder, client: Int) {
        for key in keys {
            let pending = recorder.invoke(client: client, .get(key: key))
            recorder.complete(pending, .ok(value: final[key]))
        }
    }
}
