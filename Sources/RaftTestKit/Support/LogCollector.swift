public import Logging
import Synchronization

/// Collects what is logged through its ``logger``, so a test can check what a store or a node
/// reported: give its `logger` to a store's options or a node's `Config.logger`.
public final class LogCollector: Sendable {
    /// One logged message.
    public struct Message: Sendable {
        /// Its level.
        public var level: Logger.Level
        /// Its text.
        public var text: String
        /// Its metadata, the logger's merged with the message's.
        public var metadata: Logger.Metadata
    }

    private let collected = Mutex<[Message]>([])

    /// Creates an empty collector.
    public init() {}

    /// A logger at level `trace` that collects into this collector.
    public var logger: Logger {
        Logger(label: "test") { _ in CollectingLogHandler(collector: self) }
    }

    /// Everything logged so far, in order.
    public var messages: [Message] { collected.withLock { $0 } }

    /// The messages logged at `warning` level.
    public var warnings: [Message] { messages.filter { $0.level == .warning } }

    /// The messages logged at `level`.
    public func messages(at level: Logger.Level) -> [Message] { messages.filter { $0.level == level } }

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
