import Synchronization

/// One operation a client performs on a replicated key-value store.
public enum KeyValueOperation: Hashable, Sendable, CustomStringConvertible {
    /// Sets `key` to `value`.
    case put(key: String, value: String)
    /// Reads `key`.
    case get(key: String)
    /// Removes `key`.
    case delete(key: String)

    /// The key the operation is on: operations on different keys never constrain each other, so
    /// the checker takes each key alone.
    public var key: String {
        switch self {
        case .put(let key, _), .get(let key), .delete(let key): return key
        }
    }

    /// Whether the operation can change the store.
    public var isWrite: Bool {
        if case .get = self { return false }
        return true
    }

    /// `put(k, v)`, `get(k)`, `delete(k)`.
    public var description: String {
        switch self {
        case .put(let key, let value): return "put(\(key), \(value))"
        case .get(let key): return "get(\(key))"
        case .delete(let key): return "delete(\(key))"
        }
    }
}

/// What the client learned of an operation's fate.
public enum OperationOutcome: Hashable, Sendable, CustomStringConvertible {
    /// It took effect; a read returns the value it saw (nil: the key was absent).
    case ok(value: String?)
    /// It certainly did not take effect (refused before it entered the log, say).
    case fail
    /// It may or may not have taken effect, now or at any later time (a timeout, a lost
    /// connection, a leader that lost leadership after appending it, a client that crashed).
    case unknown

    /// A write that took effect.
    public static let ok = OperationOutcome.ok(value: nil)

    /// `ok`, `ok "v"`, `ok nil`, `fail`, `unknown`.
    public var description: String {
        switch self {
        case .ok(let value?): return "ok \"\(value)\""
        case .ok(nil): return "ok"
        case .fail: return "fail"
        case .unknown: return "unknown"
        }
    }
}

/// One operation of a history: who did what, when it was called and when it returned (on one
/// clock that orders all clients' events), and how it ended.
public struct HistoryEntry: Hashable, Sendable, CustomStringConvertible {
    /// The client that performed it; one client performs one operation at a time.
    public var client: Int
    /// The operation.
    public var operation: KeyValueOperation
    /// When it was called.
    public var call: UInt64
    /// When it returned; nil if it never did (its outcome is then ``OperationOutcome/unknown``).
    public var returned: UInt64?
    /// How it ended.
    public var outcome: OperationOutcome

    /// Creates an entry.
    public init(client: Int, operation: KeyValueOperation, call: UInt64, returned: UInt64?, outcome: OperationOutcome) {
        self.client = client
        self.operation = operation
        self.call = call
        self.returned = returned
        self.outcome = returned == nil ? .unknown : outcome
    }

    /// `client 3: put(k, v) [12, 15] ok`.
    public var description: String {
        "client \(client): \(operation) [\(call), \(returned.map { "\($0)" } ?? "∞")] \(outcome)"
    }
}

/// Records a history as clients run: each operation's call and return are stamped from one
/// counter, so the order of stamps is the real-time order of events across all clients and
/// threads. Safe to use from any thread.
///
/// ```swift
/// let recorder = HistoryRecorder()
/// let pending = recorder.invoke(client: 1, .put(key: "x", value: "1"))
/// // … perform it …
/// recorder.complete(pending, .ok)
/// let result = LinearizabilityChecker.check(recorder.history)
/// ```
public final class HistoryRecorder: Sendable {
    /// An operation called and not yet completed.
    public struct Pending: Sendable {
        fileprivate let position: Int
    }

    private struct State {
        var clock: UInt64 = 0
        var entries: [HistoryEntry] = []
    }

    private let state = Mutex(State())

    /// Creates an empty recorder.
    public init() {}

    /// Stamps the call of `operation` by `client`; call just before performing it.
    public func invoke(client: Int, _ operation: KeyValueOperation) -> Pending {
        state.withLock { state in
            state.clock += 1
            state.entries.append(HistoryEntry(client: client, operation: operation, call: state.clock, returned: nil, outcome: .unknown))
            return Pending(position: state.entries.count - 1)
        }
    }

    /// Stamps the return of `pending` with its outcome; call as soon as the result is known.
    /// An operation never completed stays unknown.
    public func complete(_ pending: Pending, _ outcome: OperationOutcome) {
        state.withLock { state in
            state.clock += 1
            state.entries[pending.position].returned = state.clock
            state.entries[pending.position].outcome = outcome
        }
    }

    /// Every operation so far, in call order.
    public var history: [HistoryEntry] { state.withLock { $0.entries } }
}
