#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import Logging

extension FileSnapshotStore {
    /// How a ``FileSnapshotStore`` reaches the disk, logs and tells the time.
    public struct Options: Sendable {
        /// The file operations the store uses; tests substitute one that injects faults.
        public var fileSystem: any FileSystem
        /// Where the store reports what it skips and reaps.
        public var logger: Logger
        /// Milliseconds since the Unix epoch, for snapshot IDs (`<term>-<index>-<milliseconds>`,
        /// as hashicorp/raft names them). Tests substitute a fixed clock.
        public var clock: @Sendable () -> UInt64

        /// Creates options; the defaults are the real disk, a logger labelled
        /// `swift-raft.snapshot-store` and the system's wall clock.
        public init(
            fileSystem: any FileSystem = PosixFileSystem(),
            logger: Logger = Logger(label: "swift-raft.snapshot-store"),
            clock: @escaping @Sendable () -> UInt64 = FileSnapshotStore.Options.wallClockMilliseconds
        ) {
            self.fileSystem = fileSystem
            self.logger = logger
            self.clock = clock
        }

        /// The system's wall clock in milliseconds since the Unix epoch (0 before it).
        @Sendable
        public static func wallClockMilliseconds() -> UInt64 {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            guard now.tv_sec >= 0 else { return 0 }
            return UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000
        }
    }
}
