import Logging

extension FileLogStore {
    /// Opening a log directory: reads and checks every segment, repairs what a crash can leave
    /// behind, and builds the index. The rules are set out on ``FileLogStore``.
    struct Recovery {
        let directory: String
        let options: Options

        private var fileSystem: any FileSystem { options.fileSystem }
        private var logger: Logger { options.logger }

        /// One segment as read from disk.
        private struct Scanned {
            var segment: Segment
            /// The file's size when opened.
            var fileSize: Int64
            /// Whether bytes after the last whole record must be cut off.
            var isTorn: Bool
        }

        func run() throws -> State {
            let entries = try fileSystem.contentsOfDirectory(directory)
            if entries.contains(where: { $0.name == HeadFile.temporaryName }) {
                // A head update that never reached its rename: the old file still stands.
                try fileSystem.removeFile(directory + "/" + HeadFile.temporaryName)
            }
            let head = try HeadFile.read(in: directory, fileSystem: fileSystem)

            let found = entries
                .compactMap { entry -> (firstIndex: UInt64, name: String)? in
                    guard !entry.isDirectory, let first = SegmentName.firstIndex(of: entry.name) else { return nil }
                    return (first, entry.name)
                }
                .sorted { $0.firstIndex < $1.firstIndex }

            var scanned: [Scanned] = []
            var directoryChanged = false
            for (position, (first, name)) in found.enumerated() {
                let isLast = position == found.count - 1
                guard let segment = try scan(directory + "/" + name, firstIndex: first, isLast: isLast) else {
                    directoryChanged = true
                    continue
                }
                if let previous = scanned.last?.segment, segment.segment.firstIndex != previous.lastIndex &+ 1 {
                    throw FileStoreError(
                        .corrupt,
                        "segment \(name) starts at index \(segment.segment.firstIndex) but the segment before it "
                            + "ends at index \(previous.lastIndex): entries are missing",
                        path: previous.file.path,
                        offset: previous.end
                    )
                }
                scanned.append(segment)
            }

            var state = State()
            state.headIndex = head
            let visibleFirst = Swift.max(head, scanned.first?.segment.firstIndex ?? 0)
            let hasEntries = scanned.contains { !$0.segment.offsets.isEmpty }
            if !hasEntries || scanned.last!.segment.lastIndex < visibleFirst {
                // Nothing to keep: the log was deleted whole (and a crash interrupted the
                // unlinks), or only an empty segment was left by an interrupted first append.
                for segment in scanned {
                    try removeSegment(segment.segment.file.path, reason: "it holds no entry at or after the log's first index \(visibleFirst)")
                }
                directoryChanged = directoryChanged || !scanned.isEmpty
                scanned = []
            } else {
                // Segments wholly below the first index are left over from an interrupted head
                // deletion. Never the last one: it holds the last entry.
                let hidden = scanned.prefix { $0.segment.lastIndex < visibleFirst }.count
                for segment in scanned.prefix(hidden) {
                    try removeSegment(segment.segment.file.path, reason: "all its entries are below the log's first index \(visibleFirst)")
                }
                directoryChanged = directoryChanged || hidden > 0
                scanned.removeFirst(hidden)
                state.firstIndex = visibleFirst
                state.lastIndex = scanned.last!.segment.lastIndex
            }
            if directoryChanged && options.sync { try fileSystem.syncDirectory(directory) }

            if var active = scanned.popLast() {
                try prepareForAppends(&active)
                scanned.append(active)
            }
            state.segments = scanned.map(\.segment)
            return state
        }

        /// Cuts a torn tail off the last segment and makes sure its free space is preallocated
        /// and zeroed, as appends expect.
        private func prepareForAppends(_ scanned: inout Scanned) throws {
            let handle = scanned.segment.file.handle
            let requested = Int64(options.segmentSize)
            if scanned.isTorn {
                // A cut, then preallocation zero-fills the space again: the dropped bytes must be
                // gone, or a later, shorter batch could end where an old record begins and a
                // future recovery would read that record as the next entry.
                try fileSystem.truncate(handle, to: scanned.segment.end)
                scanned.segment.capacity = Swift.max(requested, scanned.segment.end)
                try fileSystem.preallocate(handle, size: scanned.segment.capacity)
                if options.sync { try fileSystem.sync(handle) }
            } else if scanned.fileSize < requested {
                // Preallocated to a smaller size by an earlier configuration, or cut short by a
                // crash between a truncation and its preallocation.
                scanned.segment.capacity = requested
                try fileSystem.preallocate(handle, size: requested)
                if options.sync { try fileSystem.sync(handle) }
            } else {
                scanned.segment.capacity = scanned.fileSize
            }
        }

        private func removeSegment(_ path: String, reason: String) throws {
            logger.info("Removing log segment \(path): \(reason)")
            try fileSystem.removeFile(path)
        }

        /// Reads and checks one segment. Returns nil if it was the remains of a segment creation
        /// that a crash interrupted, which it removes.
        private func scan(_ path: String, firstIndex: UInt64, isLast: Bool) throws -> Scanned? {
            let handle = try fileSystem.open(path, mode: .readWrite)
            let file = SegmentFile(handle: handle, firstIndex: firstIndex, fileSystem: fileSystem)
            let fileSize = try fileSystem.size(of: handle)
            guard fileSize <= Int64(Int.max) else {
                throw FileStoreError(.corrupt, "the segment is too large to read (\(fileSize) bytes)", path: path)
            }
            // Address space for the whole file; only the pages the reads fill count as memory.
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(Int(fileSize), 1), alignment: 8)
            defer { buffer.deallocate() }
            let (loaded, walk) = try readThroughCleanEnd(handle, into: buffer, path: path, fileSize: Int(fileSize), firstIndex: firstIndex)
            return try { (raw: UnsafeRawBufferPointer) throws -> Scanned? in
                switch SegmentHeader.decode(raw) {
                case .failure(let failure):
                    // A header is synced before any record is written, so a bad header with no
                    // record after it is a creation cut short, and dropping it loses nothing.
                    let noRecords: Bool
                    if raw.count <= SegmentHeader.size {
                        noRecords = true
                    } else if case .empty = RecordCodec.frame(in: raw, at: SegmentHeader.size) {
                        noRecords = true
                    } else {
                        noRecords = false
                    }
                    guard isLast && noRecords else {
                        throw FileStoreError(.corrupt, "\(failure.reason)", path: path, offset: 0)
                    }
                    logger.warning(
                        "Removing log segment \(path): \(failure.reason) and it holds no records, so a crash interrupted its creation"
                    )
                    try fileSystem.removeFile(path)
                    return nil
                case .success(let headerFirst):
                    guard headerFirst == firstIndex else {
                        throw FileStoreError(
                            .corrupt,
                            "the segment's header says it starts at index \(headerFirst), its name says \(firstIndex)",
                            path: path,
                            offset: 16
                        )
                    }
                }
                return try scanRecords(raw, walk: walk, file: file, fileSize: fileSize, isLast: isLast)
            }(UnsafeRawBufferPointer(rebasing: buffer[..<loaded]))
        }

        /// How many zero bytes right after the last whole record make the end of a segment clean.
        ///
        /// Segments are preallocated and zero-filled, so everything after the last record written
        /// is zero, and reading it all would make every open cost the segment's capacity (64 MiB)
        /// rather than its data. A crash during a write leaves non-zero bytes right where the
        /// torn batch began: the kernel writes a batch's pages out of order, but a torn batch
        /// whose first 4 MiB all failed to reach the disk while later pages did is what this
        /// window does not look past. Anything else that is not clean reads the whole segment
        /// and gets the full torn-tail analysis below.
        static let cleanEndWindow = 4 << 20
        /// How much more of a segment each read takes.
        static let readChunk = 1 << 20

        /// The consecutive whole records found from the start of a segment.
        struct Walk {
            /// Each record's offset.
            var offsets: [Int64] = []
            /// Where the walk stopped: the end of the last whole record.
            var cursor = SegmentHeader.size
            /// The index the next record would have.
            var expected: UInt64
        }

        /// Reads the segment into `buffer` from its start through its last record and a clean-end
        /// window of zeros after it, or the whole file when the bytes after the last record are
        /// not clean. Returns how many bytes it read, and the walk through the whole records.
        private func readThroughCleanEnd(
            _ handle: FileHandle,
            into buffer: UnsafeMutableRawBufferPointer,
            path: String,
            fileSize: Int,
            firstIndex: UInt64
        ) throws -> (Int, Walk) {
            var loaded = 0
            var walk = Walk(expected: firstIndex)
            while loaded < fileSize {
                let wanted = Swift.min(fileSize, Swift.max(loaded + Self.readChunk, walk.cursor + Self.cleanEndWindow)) - loaded
                let count = try fileSystem.read(handle, into: UnsafeMutableRawBufferPointer(rebasing: buffer[loaded..<(loaded + wanted)]), at: Int64(loaded))
                guard count == wanted else {
                    throw FileStoreError(.io, "the segment shrank while being read", path: path)
                }
                loaded += count
                let clean = { (raw: UnsafeRawBufferPointer) -> Bool in
                    guard raw.count > SegmentHeader.size else { return false }
                    // Whole records first; a record cut by the end of what was read stops the
                    // walk, and the next read completes it.
                    scanning: while true {
                        switch RecordCodec.frame(in: raw, at: walk.cursor) {
                        case .record(let record) where record.index == walk.expected:
                            walk.offsets.append(Int64(walk.cursor))
                            walk.cursor += record.size
                            walk.expected += 1
                        default:
                            break scanning
                        }
                    }
                    guard walk.cursor + Self.cleanEndWindow <= raw.count else { return false }
                    let window = UnsafeRawBufferPointer(rebasing: raw[..<(walk.cursor + Self.cleanEndWindow)])
                    return Self.lastNonZeroByte(window, from: walk.cursor) == nil
                }(UnsafeRawBufferPointer(rebasing: buffer[..<loaded]))
                if clean { break }
            }
            return (loaded, walk)
        }

        private func scanRecords(
            _ raw: UnsafeRawBufferPointer,
            walk: Walk,
            file: SegmentFile,
            fileSize: Int64,
            isLast: Bool
        ) throws -> Scanned {
            let (offsets, cursor, expected) = (walk.offsets, walk.cursor, walk.expected)
            // What stopped the walk: nothing (zeros), or damage.
            var damage: String?
            switch RecordCodec.frame(in: raw, at: cursor) {
            case .empty: damage = nil
            case .record(let record): damage = "holds index \(record.index)"
            case .invalid(let reason): damage = "has \(reason)"
            }
            var segment = Segment(file: file, offsets: offsets, end: Int64(cursor), capacity: fileSize)

            guard isLast else {
                // Segments before the last were synced whole before the next was created.
                if let damage {
                    throw FileStoreError(
                        .corrupt,
                        "the record where log entry \(expected) belongs \(damage), in a segment that is not the last",
                        path: file.path,
                        offset: Int64(cursor)
                    )
                }
                return Scanned(segment: segment, fileSize: fileSize, isTorn: false)
            }
            guard let lastNonZero = Self.lastNonZeroByte(raw, from: cursor) else {
                return Scanned(segment: segment, fileSize: fileSize, isTorn: false)
            }
            if let later = Self.recordOfLaterBatch(raw, from: cursor, through: lastNonZero, expected: expected) {
                throw FileStoreError(
                    .corrupt,
                    "the record where log entry \(expected) belongs \(damage ?? "is zeroed"), yet a record of a later "
                        + "batch follows at offset \(later), so the damaged entries had been durably stored",
                    path: file.path,
                    offset: Int64(cursor)
                )
            }
            let dropped = lastNonZero + 1 - cursor
            let after = offsets.isEmpty ? "where its first record belongs" : "after its last whole record (entry \(expected - 1))"
            logger.warning(
                "Log segment \(file.path) has a torn tail: dropping \(dropped) bytes at offset \(cursor), \(after); the record there \(damage ?? "is zeroed"). This is what a crash during a write leaves.",
                metadata: [
                    "file": "\(file.path)",
                    "offset": "\(cursor)",
                    "bytesDropped": "\(dropped)",
                ]
            )
            segment.capacity = fileSize
            return Scanned(segment: segment, fileSize: fileSize, isTorn: true)
        }

        /// The offset of the last byte at or after `start` that is not zero.
        static func lastNonZeroByte(_ raw: UnsafeRawBufferPointer, from start: Int) -> Int? {
            var position = raw.count
            // Word at a time: on a clean open this scans the last segment's whole free space.
            while position - 8 >= start {
                if raw.loadUnaligned(fromByteOffset: position - 8, as: UInt64.self) != 0 { break }
                position -= 8
            }
            while position > start {
                position -= 1
                if raw[position] != 0 { return position }
            }
            return nil
        }

        /// The offset of a valid record, at or after `start`, that a later batch than the entry
        /// `expected` wrote (its batch began after `expected`), or nil if there is none.
        ///
        /// Records of the batch holding `expected` may lie past a damaged one: a crash can
        /// persist a batch's pages out of order. A later batch is only written once the one
        /// before it is durable, so a record of one proves the damage hit durable entries.
        static func recordOfLaterBatch(_ raw: UnsafeRawBufferPointer, from start: Int, through last: Int, expected: UInt64) -> Int? {
            let plausible = expected...(expected + UInt64((last + 1 - start) / RecordCodec.minimumRecordSize) + 1)
            var position = start
            while position <= last {
                if case .record(let record) = RecordCodec.frame(in: raw, at: position, indexes: plausible) {
                    if record.batchFirst > expected { return position }
                    position += record.size
                } else {
                    position += 1
                }
            }
            return nil
        }
    }
}
