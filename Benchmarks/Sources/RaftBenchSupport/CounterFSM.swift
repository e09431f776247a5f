import Synchronization
public import SwiftRaft

/// The benchmarks' state machine, the same as hraft-bench's `counterFSM`: it counts applied
/// entries and their payload bytes, and its snapshot is those two counters (16 bytes), followed by
/// `stateBytes` bytes of ballast standing in for a large state (a 100 MB FSM's snapshot writes
/// 100 MB, in 1 MiB pieces, from one immutable buffer, as a copy-on-write state would).
///
/// `apply` runs on the node's FSM thread while readers poll the counters from anywhere, so the
/// counters are atomics.
public final class CounterFSM: FSM {
    private let appliedCount = Atomic<UInt64>(0)
    private let appliedBytes = Atomic<UInt64>(0)
    /// The ballast's size.
    public let stateBytes: Int
    private let ballast: [UInt8]

    /// Creates a state machine with both counters at zero and `stateBytes` of ballast.
    public init(stateBytes: Int = 0) {
        self.stateBytes = stateBytes
        self.ballast = [UInt8](repeating: 0x5A, count: min(stateBytes, CounterSnapshot.piece))
    }

    /// How many command entries were applied.
    public var applied: UInt64 { appliedCount.load(ordering: .relaxed) }

    /// How many payload bytes were applied.
    public var bytes: UInt64 { appliedBytes.load(ordering: .relaxed) }

    /// Counts `log`; returns no response.
    public func apply(_ log: Log) -> (any Sendable)? {
        appliedCount.add(1, ordering: .relaxed)
        appliedBytes.add(UInt64(log.data.count), ordering: .relaxed)
        return nil
    }

    /// Captures both counters.
    public func snapshot() throws -> any FSMSnapshot {
        CounterSnapshot(applied: applied, bytes: bytes, ballast: ballast, ballastBytes: stateBytes)
    }

    /// Restores both counters from a snapshot's first 16 bytes (big-endian), reading the
    /// ballast after them in pieces and dropping it.
    public func restore(from source: any SnapshotSource) throws {
        defer { source.close() }
        var header: [UInt8] = []
        while header.count < 16 {
            let piece = try source.read(maxLength: 16 - header.count)
            guard !piece.isEmpty else {
                throw RaftError(.corrupt, "counter snapshot holds \(header.count) bytes, expected at least 16")
            }
            header += piece
        }
        while try !source.read(maxLength: CounterSnapshot.piece).isEmpty {}
        appliedCount.store(Self.bigEndian(header[0..<8]), ordering: .relaxed)
        appliedBytes.store(Self.bigEndian(header[8..<16]), ordering: .relaxed)
    }

    private static func bigEndian(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// The two counters of a ``CounterFSM`` at one point in time.
struct CounterSnapshot: FSMSnapshot {
    /// The ballast is written this many bytes at a time.
    static let piece = 1 << 20
    var applied: UInt64
    var bytes: UInt64
    var ballast: [UInt8]
    var ballastBytes: Int

    func persist(to sink: any SnapshotSink) throws {
        var data: [UInt8] = []
        data.reserveCapacity(16)
        for value in [applied, bytes] {
            for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        do {
            try sink.write(data)
            var remaining = ballastBytes
            while remaining > 0 {
                let count = min(remaining, ballast.count)
                try sink.write(count == ballast.count ? ballast : Array(ballast[..<count]))
                remaining -= count
            }
            try sink.close()
        } catch {
            try? sink.cancel()
            throw error
        }
    }

    func release() {}
}

/// A ``CounterFSM`` that declares itself non-blocking (it only adds to two atomics), so Raft
/// applies its entries on the node's loop instead of handing them to a thread of its own.
public final class InlineCounterFSM: NonBlockingFSM {
    /// The counters it updates.
    public let counter: CounterFSM

    /// Wraps `counter`.
    public init(_ counter: CounterFSM) { self.counter = counter }

    /// Counts `log` on `counter`.
    public func apply(_ log: Log) -> (any Sendable)? { counter.apply(log) }

    /// `counter`'s snapshot.
    public func snapshot() throws -> any FSMSnapshot { try counter.snapshot() }

    /// Restores `counter`.
    public func restore(from source: any SnapshotSource) throws { try counter.restore(from: source) }
}
