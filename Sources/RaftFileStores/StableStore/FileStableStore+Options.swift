public import Logging

extension FileStableStore {
    /// How a ``FileStableStore`` writes, reaches the disk and logs.
    public struct Options: Sendable {
        /// Whether each set waits for `fdatasync` before returning (the default).
        ///
        /// Turning it off is unsafe for a real Raft server: after a power loss or kernel crash a
        /// server may forget a term or a vote it already acted on, and vote twice in one term.
        /// It suits tests and throwaway clusters. Compaction fsyncs either way, because it is
        /// rare and a compacted file that is not durable could lose every value at once, and
        /// ``FileStableStore/close()`` syncs, so a clean shutdown loses nothing.
        public var sync: Bool
        /// The file operations the store uses; tests substitute one that injects faults.
        public var fileSystem: any FileSystem
        /// Where the store reports dropped torn records and compactions.
        public var logger: Logger
        /// The data file is rewritten with only the current values once it reaches this many
        /// bytes and at least half of it is overwritten values. Must be positive; the default
        /// is 1 MiB, about 25,000 elections' worth of term and vote records.
        public var compactionThreshold: Int64

        /// Creates options; the defaults are durable sets, the real disk, a logger labelled
        /// `swift-raft.stable-store` and a 1 MiB compaction threshold.
        public init(
            sync: Bool = true,
            fileSystem: any FileSystem = PosixFileSystem(),
            logger: Logger = Logger(label: "swift-raft.stable-store"),
            compactionThreshold: Int64 = 1 << 20
        ) {
            self.sync = sync
            self.fileSystem = fileSystem
            self.logger = logger
            self.compactionThreshold = compactionThreshold
        }
    }
}
