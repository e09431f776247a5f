import SwiftRaft
public import Testing

/// Runs each test of a suite on one dedicated thread shared by every suite that has this trait,
/// instead of on Swift's cooperative pool.
///
/// The core's tests and the wire format's are synchronous and CPU-bound, some for seconds (the
/// randomized safety shards, the decoders' fuzz and differential loops; minutes under a
/// sanitizer). swift-testing runs tests in parallel on the cooperative pool, which has two threads
/// on a two-core machine, so two such tests would hold the whole pool for their duration and
/// every asynchronous test running beside them (the TCP transport's, whose deadlines are
/// 150–200 ms) would stall until its deadline passed. On one thread of their own they run one
/// at a time, take at most one core, and leave the pool free.
public struct OffCooperativePool: SuiteTrait, TestTrait, TestScoping {
    /// The one thread every core test runs on. Never shut down: it lives as long as the test
    /// process.
    private static let executor = ThreadExecutor(name: "synchronous-tests")

    /// Applies to every test of the suite, not to the suite as a whole.
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        // Only the test cases themselves move; a suite's own scope just awaits its tests.
        guard testCase != nil else { return try await function() }
        try await withTaskExecutorPreference(Self.executor) { try await function() }
    }
}

extension Trait where Self == OffCooperativePool {
    /// Runs the suite's tests on a dedicated thread, off Swift's cooperative pool; see
    /// ``OffCooperativePool``.
    public static var offCooperativePool: Self { Self() }
}
