/// One named check of a conformance suite: a rule every implementation of a plugin protocol must
/// follow, runnable against any implementation.
///
/// The suites (``LogStoreConformance``, ``StableStoreConformance``, ``SnapshotStoreConformance``,
/// ``TransportConformance``) are lists of these, so a test framework can run each as its own
/// test case. With Swift Testing:
///
/// ```swift
/// @Test(arguments: LogStoreConformance.checks)
/// func myStoreConforms(_ check: ConformanceCheck<LogStoreConformance.Subject>) async throws {
///     try await check.run(LogStoreConformance.Subject(makeStore: { try MyStore(path: freshDirectory()) }))
/// }
/// ```
///
/// A check reports a broken rule by throwing ``ConformanceFailure``; any other error it throws is
/// the implementation's own, unexpected, failure.
public struct ConformanceCheck<Subject: Sendable>: Sendable, CustomStringConvertible {
    /// The rule, as a sentence.
    public let name: String
    /// Whether the check reopens the store, so it applies only to stores that keep their data
    /// across a restart. A suite's `checks(durable: false)` leaves such checks out; run against a
    /// subject without a way to reopen, one fails rather than passing without having run.
    public let needsReopen: Bool
    private let body: @Sendable (Subject) async throws -> Void

    /// Creates a check named for the rule it verifies.
    public init(_ name: String, needsReopen: Bool = false, _ body: @escaping @Sendable (Subject) async throws -> Void) {
        self.name = name
        self.needsReopen = needsReopen
        self.body = body
    }

    /// Runs the check against `subject`.
    public func run(_ subject: Subject) async throws { try await body(subject) }

    /// The rule.
    public var description: String { name }
}

/// A conformance check found the implementation breaking its rule.
public struct ConformanceFailure: Error, Sendable, CustomStringConvertible {
    /// What was expected and what happened instead.
    public let message: String
    /// Where in the suite the expectation is.
    public let location: String

    /// Creates a failure.
    public init(_ message: String, fileID: String = #fileID, line: Int = #line) {
        self.message = message
        self.location = "\(fileID):\(line)"
    }

    /// The message and its location.
    public var description: String { "\(message) [\(location)]" }
}

/// The subject's way to reopen its store, for a check that needs one; throws when there is none,
/// so a durability check never passes without having run.
public func conformanceRequireReopen<Reopen>(_ reopen: Reopen?, fileID: String = #fileID, line: Int = #line) throws -> Reopen {
    guard let reopen else {
        throw ConformanceFailure(
            "this check reopens the store, and the subject has no reopen: give it one, or run the suite's "
                + "checks(durable: false), which leaves the durability checks out",
            fileID: fileID,
            line: line
        )
    }
    return reopen
}

/// Throws ``ConformanceFailure`` with `message` unless `condition` holds.
public func conformanceRequire(
    _ condition: Bool,
    _ message: @autoclosure () -> String,
    fileID: String = #fileID,
    line: Int = #line
) throws {
    if !condition { throw ConformanceFailure(message(), fileID: fileID, line: line) }
}

/// Throws ``ConformanceFailure`` unless `actual == expected`, naming both and `what` was compared.
public func conformanceRequireEqual<Value: Equatable>(
    _ actual: Value,
    _ expected: Value,
    _ what: @autoclosure () -> String,
    fileID: String = #fileID,
    line: Int = #line
) throws {
    if actual != expected {
        throw ConformanceFailure("\(what()): expected \(expected), got \(actual)", fileID: fileID, line: line)
    }
}

/// Runs `body` and throws ``ConformanceFailure`` unless it throws an error that `matches`
/// accepts; returns that error.
@discardableResult
public func conformanceRequireThrows(
    _ what: @autoclosure () -> String,
    fileID: String = #fileID,
    line: Int = #line,
    matching matches: (any Error) -> Bool = { _ in true },
    _ body: () async throws -> Void
) async throws -> any Error {
    do {
        try await body()
    } catch {
        if matches(error) { return error }
        throw ConformanceFailure("\(what()): threw an unexpected error: \(error)", fileID: fileID, line: line)
    }
    throw ConformanceFailure("\(what()): expected an error, none was thrown", fileID: fileID, line: line)
}
