import SwiftRaft

extension FileLogStore {
    func delete(min: UInt64, max: UInt64) throws {
        guard min <= max else { return }
        try writer.withLock { _ in
            let (first, last) = try state.withLock { state in
                try state.checkWritable(directory)
                return (state.firstIndex, state.lastIndex)
            }
            guard last != 0 else { return }
            let lower = Swift.max(min, first)
            let upper = Swift.min(max, last)
            guard lower <= upper else { return }

            switch (lower == first, upper == last) {
            case (true, true):
                try deleteEverything(last: last)
            case (true, false):
                try deleteHead(newFirst: upper + 1)
            case (false, true):
                try truncateTail(from: lower)
            case (false, false):
                throw RaftError(
                    .invalidArgument,
                    "cannot delete entries \(min) through \(max) of the log \(first) through \(last): "
                        + "FileLogStore is monotonic, so only a range at the head or the tail can be deleted"
                )
            }
        }
    }

    /// Makes `newFirst` the durable first index, then drops the segments wholly below it.
    private func deleteHead(newFirst: UInt64) throws {
        // The file first: once it is durable the entries are gone whatever happens to the
        // unlinks, which recovery completes if a crash interrupts them.
        try writeHead(newFirst)
        let dropped = state.withLock { state -> [Segment] in
            state.firstIndex = newFirst
            // Never the last segment: it holds the last entry, which is at or past `newFirst`.
            let count = state.segments.prefix { $0.lastIndex < newFirst }.count
            defer { state.segments.removeFirst(count) }
            return Array(state.segments.prefix(count))
        }
        try removeSegmentFiles(dropped)
    }

    /// Empties the log: one durable step (the head moves past the last entry), then the unlinks.
    private func deleteEverything(last: UInt64) throws {
        try writeHead(last + 1)
        let dropped = state.withLock { state -> [Segment] in
            state.firstIndex = 0
            state.lastIndex = 0
            defer { state.segments = [] }
            return state.segments
        }
        try removeSegmentFiles(dropped)
    }

    /// Removes entries `lower` onwards, durably, before returning.
    private func truncateTail(from lower: UInt64) throws {
        // Out of the index first, with the generation moved, so no new read can find the
        // entries and a read already under way notices if their bytes change beneath it.
        let (dropped, cut) = state.withLock { state -> ([Segment], (file: SegmentFile, offset: Int64, capacity: Int64)?) in
            state.generation += 1
            state.lastIndex = lower - 1
            let keep = state.segmentPosition(containing: lower - 1)
            let dropped = Array(state.segments[(keep + 1)...])
            state.segments.removeLast(state.segments.count - keep - 1)

            let position = Int(lower - state.segments[keep].firstIndex)
            guard position < state.segments[keep].offsets.count else { return (dropped, nil) }
            let offset = state.segments[keep].offsets[position]
            state.segments[keep].offsets.removeSubrange(position...)
            state.segments[keep].end = offset
            return (dropped, (state.segments[keep].file, offset, state.segments[keep].capacity))
        }
        do {
            // Later segments go first, newest first, and durably, so that at every moment a
            // crash could expose, the files on disk still form one continuous log; cutting the
            // earlier segment first would leave a gap in front of the later ones.
            for segment in dropped.reversed() {
                try fileSystem.removeFile(segment.file.path)
            }
            if !dropped.isEmpty && options.sync { try fileSystem.syncDirectory(directory) }
            if let cut {
                // A truncation, not zeroes: shrinking a file is one metadata change, so a crash
                // leaves the records either all there or all gone, never a mix that recovery
                // might read as damage. Preallocating again restores the zeroed space that appends
                // after the cut rely on, and the `fsync` covers both size changes.
                try fileSystem.truncate(cut.file.handle, to: cut.offset)
                try fileSystem.preallocate(cut.file.handle, size: cut.capacity)
                if options.sync { try fileSystem.sync(cut.file.handle) }
            }
        } catch {
            markFailed(error)
            throw error
        }
    }

    /// Replaces the `first-index` file's value and records it in memory.
    func writeHead(_ firstIndex: UInt64) throws {
        do {
            try HeadFile.write(firstIndex, in: directory, fileSystem: fileSystem, sync: options.sync)
        } catch let failure as HeadFile.WriteError {
            // Before the rename, only the temporary file changed and the store is as it was.
            if failure.mayHaveReplaced { markFailed(failure.error) }
            throw failure.error
        }
        state.withLock { $0.headIndex = firstIndex }
    }

    /// Unlinks `segments`' files and syncs the directory. Their entries are already hidden by the
    /// `first-index` file, so a failure here loses nothing, but the files left behind could
    /// reappear if the log later restarts below them: the store refuses further writes until a
    /// reopen (whose recovery deletes them) instead.
    private func removeSegmentFiles(_ segments: [Segment]) throws {
        guard !segments.isEmpty else { return }
        do {
            for segment in segments {
                try fileSystem.removeFile(segment.file.path)
            }
            if options.sync { try fileSystem.syncDirectory(directory) }
        } catch {
            markFailed(error)
            throw error
        }
    }
}
