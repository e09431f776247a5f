extension FileLogStore {
    /// What the store knows about one segment: where each of its entries starts.
    struct Segment: Sendable {
        let file: SegmentFile
        /// The offset of each entry's record; entry `file.firstIndex + k` starts at `offsets[k]`.
        var offsets: [Int64]
        /// Where the next record goes: the end of the last one (or of the header).
        var end: Int64
        /// The bytes reserved for the segment. A record that would end past it goes to a new
        /// segment, unless this one is empty (then the segment grows to hold it).
        var capacity: Int64

        var firstIndex: UInt64 { file.firstIndex }

        /// The last entry's index; `firstIndex - 1` when the segment is empty.
        var lastIndex: UInt64 { file.firstIndex &+ UInt64(offsets.count) &- 1 }

        /// Where the record of the `position`-th entry ends.
        func recordEnd(_ position: Int) -> Int64 {
            position + 1 < offsets.count ? offsets[position + 1] : end
        }
    }

    /// Where one record lies, as a read takes it out of the lock.
    struct Location {
        let file: SegmentFile
        let offset: Int64
        let length: Int
        /// ``State/generation`` when the location was taken.
        let generation: UInt64
    }

    /// Consecutive records of one segment, read with one call.
    struct Chunk {
        let file: SegmentFile
        let offset: Int64
        let length: Int
        let firstIndex: UInt64
        let count: Int
    }

    /// Everything behind the store's mutex.
    struct State: Sendable {
        /// The segments in log order; empty exactly when the log is.
        var segments: [Segment] = []
        /// The first and last entries readers may see; 0 and 0 when the log is empty. The first
        /// segment may hold entries below `firstIndex` that head deletion has already removed.
        var firstIndex: UInt64 = 0
        var lastIndex: UInt64 = 0
        /// The value in the `first-index` file (0 when there is none).
        var headIndex: UInt64 = 0
        /// Moves whenever bytes a reader may have located can be overwritten (tail truncation),
        /// so a read whose record failed validation can tell a race from corruption.
        var generation: UInt64 = 0
        /// The directory's lock, held while the store is open.
        var lockFile: FileHandle?
        var isClosed = false
        /// Set when a failed write may have left the disk different from ``segments``; the store
        /// then refuses writes.
        var failure: String?

        func checkOpen(_ directory: String) throws {
            if isClosed { throw FileStoreError(.closed, "the log store is closed", path: directory) }
        }

        func checkWritable(_ directory: String) throws {
            try checkOpen(directory)
            if let failure {
                throw FileStoreError(
                    .closed,
                    "the log store refuses writes since an earlier failure (\(failure)) may have left the disk "
                        + "out of step with it; reopen the store to recover",
                    path: directory
                )
            }
        }

        /// The position of the segment holding `index`: the last one starting at or before it.
        func segmentPosition(containing index: UInt64) -> Int {
            // Most reads are of recent entries, in the last segment.
            if let last = segments.last, last.firstIndex <= index { return segments.count - 1 }
            var low = 0
            var high = segments.count - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if segments[middle].firstIndex <= index { low = middle } else { high = middle - 1 }
            }
            return low
        }

        func locate(_ index: UInt64) -> Location? {
            guard firstIndex != 0, index >= firstIndex, index <= lastIndex else { return nil }
            let segment = segments[segmentPosition(containing: index)]
            let position = Int(index - segment.firstIndex)
            let offset = segment.offsets[position]
            return Location(
                file: segment.file,
                offset: offset,
                length: Int(segment.recordEnd(position) - offset),
                generation: generation
            )
        }

        /// The reads that fetch entries `first` through `last` (clamped to the log), in chunks
        /// of at most `limit` bytes unless one record is larger. Empty when `first` is not held.
        func chunks(from first: UInt64, through last: UInt64, limit: Int64) -> [Chunk] {
            guard firstIndex != 0, first >= firstIndex, first <= lastIndex, first <= last else { return [] }
            let last = Swift.min(last, lastIndex)
            var chunks: [Chunk] = []
            var index = first
            var position = segmentPosition(containing: first)
            while index <= last {
                let segment = segments[position]
                let segmentLast = Swift.min(last, segment.lastIndex)
                var start = Int(index - segment.firstIndex)
                let final = Int(segmentLast - segment.firstIndex)
                while start <= final {
                    // The furthest record that keeps the chunk within the limit (at least one).
                    let base = segment.offsets[start]
                    var low = start
                    var high = final
                    while low < high {
                        let middle = (low + high + 1) / 2
                        if segment.recordEnd(middle) - base <= limit { low = middle } else { high = middle - 1 }
                    }
                    chunks.append(Chunk(
                        file: segment.file,
                        offset: base,
                        length: Int(segment.recordEnd(low) - base),
                        firstIndex: segment.firstIndex + UInt64(start),
                        count: low - start + 1
                    ))
                    start = low + 1
                }
                index = segmentLast + 1
                position += 1
            }
            return chunks
        }
    }
}
