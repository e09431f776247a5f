extension FileLogStore {
    /// One segment's open file, shared by the store and every read in progress.
    ///
    /// The descriptor is closed when the last reference goes, not when the store drops the
    /// segment: a read that looked up a position just before the segment was deleted still holds
    /// a reference, so it reads the (unlinked, unchanged) file rather than a closed descriptor,
    /// or worse, a descriptor number the system has since handed to another file.
    final class SegmentFile: Sendable {
        /// The open file, readable and writable.
        let handle: FileHandle
        /// The index of the segment's first entry, from its header.
        let firstIndex: UInt64
        private let fileSystem: any FileSystem

        init(handle: FileHandle, firstIndex: UInt64, fileSystem: any FileSystem) {
            self.handle = handle
            self.firstIndex = firstIndex
            self.fileSystem = fileSystem
        }

        /// The file's path.
        var path: String { handle.path }

        deinit {
            // Nothing to report to: the store has let go of the file, and a failed close of a
            // descriptor that was only read, or whose writes were synced, loses nothing.
            try? fileSystem.close(handle)
        }
    }

    /// The fixed header at the start of every segment file.
    ///
    /// ```
    /// 8 bytes magic "SRAFTSEG" | u32 version | u32 zero | u64 first index | u32 zero
    /// | u32 CRC-32C of the 28 bytes before it
    /// ```
    enum SegmentHeader {
        static let size = 32
        static let version: UInt32 = 1
        static let magic: [UInt8] = Array("SRAFTSEG".utf8)

        static func encode(firstIndex: UInt64) -> [UInt8] {
            var bytes = magic
            RecordCodec.appendLittleEndian(version, to: &bytes)
            RecordCodec.appendLittleEndian(UInt32(0), to: &bytes)
            RecordCodec.appendLittleEndian(firstIndex, to: &bytes)
            RecordCodec.appendLittleEndian(UInt32(0), to: &bytes)
            RecordCodec.appendLittleEndian(CRC32C.checksum(bytes), to: &bytes)
            return bytes
        }

        /// The first index the header at the start of `bytes` records, or why it is not a valid
        /// header.
        static func decode(_ bytes: UnsafeRawBufferPointer) -> Result<UInt64, HeaderError> {
            guard bytes.count >= size else { return .failure(HeaderError("the file is shorter than a segment header")) }
            guard bytes.prefix(8).elementsEqual(magic) else { return .failure(HeaderError("the segment header's magic number is wrong")) }
            let storedCRC = RecordCodec.readLittleEndian(UInt32.self, bytes, 28)
            guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<28])) == storedCRC else {
                return .failure(HeaderError("the segment header fails its checksum"))
            }
            let version = RecordCodec.readLittleEndian(UInt32.self, bytes, 8)
            guard version == self.version else {
                return .failure(HeaderError("the segment format version \(version) is not supported (expected \(self.version))"))
            }
            return .success(RecordCodec.readLittleEndian(UInt64.self, bytes, 16))
        }

        struct HeaderError: Error {
            var reason: String
            init(_ reason: String) { self.reason = reason }
        }
    }

    /// Segment files are named for their first index, zero-padded to twenty digits so that a
    /// directory listing sorts them in log order for a person looking at it.
    enum SegmentName {
        static let suffix = ".wal"

        static func name(firstIndex: UInt64) -> String {
            let digits = String(firstIndex)
            return String(repeating: "0", count: 20 - digits.count) + digits + suffix
        }

        /// The first index a segment file's name gives, or nil if `name` is not a segment's.
        static func firstIndex(of name: String) -> UInt64? {
            guard name.hasSuffix(suffix) else { return nil }
            let digits = name.dropLast(suffix.count)
            guard digits.count == 20, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return UInt64(digits)
        }
    }
}
