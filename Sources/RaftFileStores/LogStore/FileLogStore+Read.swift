import SwiftRaft

extension FileLogStore {
    /// Reads of up to this many bytes of consecutive records are made with one call, so a long
    /// range costs few system calls without needing one buffer as large as the range.
    static let readChunkLimit: Int64 = 1 << 20

    func readLog(_ index: UInt64) throws -> Log {
        while true {
            let location = try state.withLock { state -> Location? in
                try state.checkOpen(directory)
                return state.locate(index)
            }
            guard let location else { throw RaftError(.logNotFound, "log entry \(index) not found") }

            let bytes = try fileSystem.read(location.file.handle, count: location.length, at: location.offset)
            let decoded = bytes.withUnsafeBytes { raw -> Result<Log, RecordDamage> in
                switch RecordCodec.frame(in: raw, at: 0) {
                case .record(let record) where record.index == index && record.size == raw.count:
                    return .success(RecordCodec.log(record, in: bytes))
                case .record(let record):
                    return .failure(RecordDamage("holds index \(record.index) (\(record.size) bytes) where index \(index) belongs"))
                case .empty:
                    return .failure(RecordDamage("is zeroed"))
                case .invalid(let reason):
                    return .failure(RecordDamage("has \(reason)"))
                }
            }
            // Only a tail truncation can change bytes the lookup pointed at; if none happened
            // since, what was read is what was durably written.
            guard state.withLock({ $0.generation }) == location.generation else { continue }
            switch decoded {
            case .success(let log):
                return log
            case .failure(let damage):
                throw FileStoreError(
                    .corrupt,
                    "the record of log entry \(index) \(damage.reason)",
                    path: location.file.path,
                    offset: location.offset
                )
            }
        }
    }

    func readLogs(from first: UInt64, through last: UInt64) throws -> [Log] {
        guard first <= last else { return [] }
        retry: while true {
            let (chunks, generation) = try state.withLock { state in
                try state.checkOpen(directory)
                return (state.chunks(from: first, through: last, limit: Self.readChunkLimit), state.generation)
            }
            var logs: [Log] = []
            logs.reserveCapacity(chunks.reduce(0) { $0 + $1.count })
            for chunk in chunks {
                let bytes = try fileSystem.read(chunk.file.handle, count: chunk.length, at: chunk.offset)
                let damage = bytes.withUnsafeBytes { raw -> (offset: Int, damage: RecordDamage)? in
                    var cursor = 0
                    for position in 0..<chunk.count {
                        let index = chunk.firstIndex + UInt64(position)
                        switch RecordCodec.frame(in: raw, at: cursor) {
                        case .record(let record) where record.index == index:
                            logs.append(RecordCodec.log(record, in: bytes))
                            cursor += record.size
                        case .record(let record):
                            return (cursor, RecordDamage("of log entry \(index) holds index \(record.index)"))
                        case .empty:
                            return (cursor, RecordDamage("of log entry \(index) is zeroed"))
                        case .invalid(let reason):
                            return (cursor, RecordDamage("of log entry \(index) has \(reason)"))
                        }
                    }
                    return cursor == raw.count ? nil : (cursor, RecordDamage("run ends \(raw.count - cursor) bytes early"))
                }
                if let damage {
                    // As in `readLog`: a moved generation means a truncation raced the read.
                    guard state.withLock({ $0.generation }) != generation else {
                        throw FileStoreError(
                            .corrupt,
                            "the record \(damage.damage.reason)",
                            path: chunk.file.path,
                            offset: chunk.offset + Int64(damage.offset)
                        )
                    }
                    continue retry
                }
            }
            guard state.withLock({ $0.generation }) == generation else { continue retry }
            return logs
        }
    }

    /// Why a record read back did not check out.
    struct RecordDamage: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }
}
