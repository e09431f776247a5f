extension FileSystem {
    /// Creates the directory at `path` and any missing ancestors, as `mkdir -p` (and Go's
    /// `os.MkdirAll`, which hashicorp/raft's stores use) would, fsyncing the parent of each
    /// directory created so its entry survives a crash. A directory that exists is left alone.
    func makeDirectoriesDurably(_ path: String) throws {
        var missing: [String] = []
        var current = trimmingTrailingSlashes(path)
        while try isDirectory(current) == nil {
            missing.append(current)
            let parent = parentDirectory(of: current)
            guard parent != current else { break }
            current = parent
        }
        for directory in missing.reversed() {
            try makeDirectory(directory)
            try syncDirectory(parentDirectory(of: directory))
        }
    }
}

/// `path` without trailing slashes, except for the root itself.
func trimmingTrailingSlashes(_ path: String) -> String {
    var path = Substring(path)
    while path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
    return String(path)
}

/// The directory containing `path`: `.` for a bare name, `/` for a child of the root.
func parentDirectory(of path: String) -> String {
    let path = trimmingTrailingSlashes(path)
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}
