/// Durable key/value storage for Raft's term and vote and any user keys (hashicorp/raft's
/// `StableStore`).
///
/// Every set must be durable (surviving a crash of the process and a loss of power) and atomic
/// when it returns: after a crash the key holds the old value or the new one, never a mix or
/// nothing. A missing key is `nil`, never an error:
/// errors mean I/O failure (hashicorp/raft compares error strings to tell these apart; swift-raft
/// uses the type). Methods may block; Raft calls them off Swift's cooperative pool.
public protocol StableStore: Sendable {
    /// Stores `value` under `key`.
    func set(_ key: [UInt8], _ value: [UInt8]) throws
    /// The value under `key`, or nil if none was ever set.
    func get(_ key: [UInt8]) throws -> [UInt8]?
    /// Stores an integer under `key`.
    func setUInt64(_ key: [UInt8], _ value: UInt64) throws
    /// The integer under `key`, or nil if none was ever set.
    func getUInt64(_ key: [UInt8]) throws -> UInt64?
    /// Stores every value in `values`, in order, durably before returning, with one sync where
    /// the store can: Raft writes its term and vote with one call, and a vote waits for it. After
    /// a crash during the call, a prefix of the values may be stored (each one whole); Raft relies
    /// on no more. The default sets them one at a time.
    func setMany(_ values: [(key: [UInt8], value: StableStoreValue)]) throws
    /// Releases what the store holds (open files, a directory lock), so the same storage can be
    /// opened again, as a test that restarts a node on reopened stores does. Raft never calls it:
    /// the store's owner does, after ``Raft/shutdown()``. Calls after it may fail. The default
    /// does nothing.
    func close() throws
}

extension StableStore {
    /// Nothing to release.
    public func close() throws {}

    /// Sets each value on its own, one durable write each.
    public func setMany(_ values: [(key: [UInt8], value: StableStoreValue)]) throws {
        for (key, value) in values {
            switch value {
            case .bytes(let bytes): try set(key, bytes)
            case .uint64(let integer): try setUInt64(key, integer)
            }
        }
    }
}

/// A value for ``StableStore/setMany(_:)``: bytes, as ``StableStore/set(_:_:)`` stores them, or an
/// integer, as ``StableStore/setUInt64(_:_:)`` does (a store may keep the two apart).
public enum StableStoreValue: Hashable, Sendable {
    /// Bytes, read back with ``StableStore/get(_:)``.
    case bytes([UInt8])
    /// An integer, read back with ``StableStore/getUInt64(_:)``.
    case uint64(UInt64)
}

/// The keys Raft itself keeps in a ``StableStore``, named as hashicorp/raft names them.
public enum StableStoreKeys {
    /// The current term, a `UInt64`.
    public static let currentTerm = Array("CurrentTerm".utf8)
    /// The term of the last vote, a `UInt64`.
    public static let lastVoteTerm = Array("LastVoteTerm".utf8)
    /// The ID of the candidate last voted for, as bytes.
    public static let lastVoteCandidate = Array("LastVoteCand".utf8)
}

/// A store whose every operation returns promptly without blocking: no disk, no network, no
/// lock held by anyone for long — in practice, memory.
///
/// Raft normally keeps store calls on a thread of their own, because a blocking call (an fsync)
/// on Swift's cooperative pool would stall heartbeats and votes. When both the log store and the
/// stable store conform, Raft writes to them directly on the node instead, which saves two thread
/// hand-offs per write. Conform only if that is true of every method.
public protocol NonBlockingStore {}
