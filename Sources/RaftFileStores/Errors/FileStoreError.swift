/// The error every file store and ``FileSystem`` throws.
///
/// Compare by ``code``. The code alone tells an I/O failure from corruption, a full disk or a held
/// lock, so callers never parse messages; ``path``, ``offset`` and ``errno`` say where and why.
public struct FileStoreError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case io, noSpace, permissionDenied, notFound, corrupt, locked, invalidOptions, closed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A system call failed for a reason with no code of its own; ``FileStoreError/errno``
        /// holds the cause.
        public static let io = Code(.io)
        /// The disk is full (`ENOSPC`, `EDQUOT`). Nothing already durable was damaged.
        public static let noSpace = Code(.noSpace)
        /// The process may not read or write the path (`EACCES`, `EPERM`, `EROFS`).
        public static let permissionDenied = Code(.permissionDenied)
        /// The path does not exist (`ENOENT`).
        public static let notFound = Code(.notFound)
        /// Stored bytes failed a validity check: a checksum, a length or a format rule.
        public static let corrupt = Code(.corrupt)
        /// Another store, in this process or another, holds the directory's lock.
        public static let locked = Code(.locked)
        /// The options the store was opened with are not usable.
        public static let invalidOptions = Code(.invalidOptions)
        /// The store was closed, or failed earlier and refuses further writes.
        public static let closed = Code(.closed)

        /// The code's name.
        public var description: String {
            switch base {
            case .io: return "io"
            case .noSpace: return "noSpace"
            case .permissionDenied: return "permissionDenied"
            case .notFound: return "notFound"
            case .corrupt: return "corrupt"
            case .locked: return "locked"
            case .invalidOptions: return "invalidOptions"
            case .closed: return "closed"
            }
        }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A sentence for people: what was being done and what went wrong.
    public var message: String
    /// The file or directory concerned, if any.
    public var path: String?
    /// The byte offset in ``path`` where the problem was found, for corruption.
    public var offset: Int64?
    /// The system's error number, for failed system calls.
    public var errno: Int32?

    /// Creates an error.
    public init(_ code: Code, _ message: String, path: String? = nil, offset: Int64? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.offset = offset
        self.errno = errno
    }

    /// `code: message (path at offset)`.
    public var description: String {
        var text = "\(code): \(message)"
        if let path {
            text += " (\(path)"
            if let offset { text += " at offset \(offset)" }
            text += ")"
        }
        return text
    }
}
