import Logging
import Synchronization

/// Collects what is logged through its ``logger``, so a test can check what a store reported.
final class LogCollector: Sendable {
    /// One logged message.
    struct Message: Sendable {
        var level: Logger.Level
        var text: String
        var metadata: Logger.Metadata
    }

    private let collected = Mutex<[Message]>([])

    /// A logger at level `trace` that collects into this collector.
    var logger: Logger {
        Logger(label: "test") { _ in CollectingLogHandler(collector: self) }
    }

    /// Everything logged so far, in order.
    var messages: [Message] { collected.withLock { $0 } }

    /// The messages logged at `warning` level.
    var warnings: [Message] { messages.filter { $0.level == .warning } }

    fileprivate func append(_ message: Message) {
        collected.withLock { $0.append(message) }
    }
}

/// The `LogHandler` behind ``LogCollector/logger``.
private struct CollectingLogHandler: LogHandler {
    let collector: LogCollector
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider?

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        collector.append(LogCollector.Message(
            level: event.level,
            text: event.message.description,
            metadata: metadata.merging(event.metadata ?? [:]) { $1 }
        ))
    }
}
