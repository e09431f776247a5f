extension FileLogStore {
    /// The `first-index` file: the durable record of how far the head of the log was deleted.
    ///
    /// Head deletion drops only whole segments, so the first segment can still hold entries
    /// below the log's first index; this file says which of them are gone. It also makes deleting
    /// the whole log one atomic step (the file moves past the last entry) instead of a series of
    /// unlinks that a crash could interrupt halfway.
    ///
    /// It is replaced crash-atomically: written to `first-index.tmp`, synced, renamed over
    /// `first-index`, and the directory synced. A reader therefore sees the old or the new
    /// contents, never a mix, and a damaged file is real corruption, not a torn write.
    ///
    /// ```
    /// 8 bytes magic "SRAFTLOG" | u32 version | u64 first index | u32 CRC-32C of the 20 bytes before it
    /// ```
    enum HeadFile {
        static let name = "first-index"
        static let temporaryName = "first-index.tmp"
        static let size = 24
        static let version: UInt32 = 1
        static let magic: [UInt8] = Array("SRAFTLOG".utf8)

        static func encode(firstIndex: UInt64) -> [UInt8] {
            var bytes = magic
            RecordCodec.appendLittleEndian(version, to: &bytes)
            RecordCodec.appendLittleEndian(firstIndex, to: &bytes)
            RecordCodec.appendLittleEndian(CRC32C.checksum(bytes), to: &bytes)
            return bytes
        }

        /// The first index stored in `directory`, or 0 if the file does not exist.
        static func read(in directory: String, fileSystem: any FileSystem) throws -> UInt64 {
            let path = directory + "/" + name
            guard try fileSystem.exists(path) else { return 0 }
            let handle = try fileSystem.open(path, mode: .readOnly)
            defer { try? fileSystem.close(handle) }
            let bytes = try fileSystem.read(handle, count: size + 1, at: 0)
            func corrupt(_ reason: String) -> FileStoreError {
                FileStoreError(.corrupt, "the log's first-index file \(reason)", path: path, offset: 0)
            }
            guard bytes.count == size else { throw corrupt("is \(bytes.count) bytes long, expected \(size)") }
            return try bytes.withUnsafeBytes { raw in
                guard raw.prefix(8).elementsEqual(magic) else { throw corrupt("has the wrong magic number") }
                guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<20]))
                        == RecordCodec.readLittleEndian(UInt32.self, raw, 20)
                else { throw corrupt("fails its checksum") }
                let version = RecordCodec.readLittleEndian(UInt32.self, raw, 8)
                guard version == self.version else { throw corrupt("has the unsupported version \(version)") }
                return RecordCodec.readLittleEndian(UInt64.self, raw, 12)
            }
        }

        /// How far a failed ``write(_:in:fileSystem:sync:)`` got.
        struct WriteError: Error {
            /// The underlying failure.
            var error: any Error
            /// Whether the rename may have happened, so the directory may hold the new value.
            var mayHaveReplaced: Bool
        }

        /// Replaces the stored first index with `firstIndex`, crash-atomically. Throws
        /// ``WriteError``.
        static func write(_ firstIndex: UInt64, in directory: String, fileSystem: any FileSystem, sync: Bool) throws {
            let temporaryPath = directory + "/" + temporaryName
            do {
                let handle = try fileSystem.open(temporaryPath, mode: .readWriteCreate)
                do {
                    try fileSystem.truncate(handle, to: 0)
                    try fileSystem.write(handle, encode(firstIndex: firstIndex), at: 0)
                    if sync { try fileSystem.sync(handle) }
                } catch {
                    try? fileSystem.close(handle)
                    throw error
                }
                try fileSystem.close(handle)
            } catch {
                throw WriteError(error: error, mayHaveReplaced: false)
            }
            do {
                try fileSystem.rename(temporaryPath, to: directory + "/" + name)
                if sync { try fileSystem.syncDirectory(directory) }
            } catch {
                throw WriteError(error: error, mayHaveReplaced: true)
            }
        }
    }
}
