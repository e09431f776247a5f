public import Logging

extension FileLogStore {
    /// How a ``FileLogStore`` sizes its segments, syncs, reaches the disk and logs.
    public struct Options: Sendable {
        /// The size every segment file is preallocated to, in bytes; at least
        /// ``minimumSegmentSize``. A batch that does not fit in the current segment continues
        /// in a new one; a single entry larger than this gets a segment of its own, grown to fit.
        public var segmentSize: Int
        /// Whether the store syncs (`fdatasync`, `fsync`, directory `fsync`) before reporting a
        /// write done. `false` is unsafe: a power failure or kernel crash can then lose
        /// acknowledged entries or leave damage that recovery reports as corruption. It exists
        /// for tests, where the disk's durability is not what is being checked.
        public var sync: Bool
        /// Whether a new segment's space is written with zeros (when syncing), not only reserved.
        /// On ext4 and most journaling file systems the first write into a reserved but never
        /// written block changes extent metadata, so every append's `fdatasync` would commit
        /// the journal; zeros written once per segment (one 64 MiB write per roll) make those
        /// syncs cheaper. Turn it off on copy-on-write file systems (btrfs, ZFS), where
        /// overwriting gains nothing.
        public var zeroFillSegments: Bool
        /// The file operations the store uses; tests substitute one that injects faults.
        public var fileSystem: any FileSystem
        /// Where the store reports what recovery repaired (a torn tail, an interrupted segment
        /// creation or compaction).
        public var logger: Logger

        /// 64 MiB: large enough that rolling to a new segment (a file creation and two `fsync`s)
        /// is rare, small enough that compaction frees space in useful steps.
        public static let defaultSegmentSize = 64 << 20
        /// 4 KiB, one page: a smaller segment would roll on almost every entry.
        public static let minimumSegmentSize = 4096

        /// Creates options; the defaults are 64 MiB segments, syncing on, the real disk and a
        /// logger labelled `swift-raft.log-store`.
        public init(
            segmentSize: Int = Options.defaultSegmentSize,
            sync: Bool = true,
            zeroFillSegments: Bool = true,
            fileSystem: any FileSystem = PosixFileSystem(),
            logger: Logger = Logger(label: "swift-raft.log-store")
        ) {
            self.segmentSize = segmentSize
            self.sync = sync
            self.zeroFillSegments = zeroFillSegments
            self.fileSystem = fileSystem
            self.logger = logger
        }

        /// Throws ``FileStoreError/Code/invalidOptions`` naming the first unusable option.
        func validate() throws {
            guard segmentSize >= Self.minimumSegmentSize else {
                throw FileStoreError(
                    .invalidOptions,
                    "segmentSize must be at least \(Self.minimumSegmentSize) bytes, got \(segmentSize)"
                )
            }
        }
    }
}
