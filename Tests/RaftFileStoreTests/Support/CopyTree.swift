import RaftFileStores

/// Copies the directory tree at `source` into `destination` (created, with any missing parent
/// only one level up), so tests can work on a copy of a checked-in fixture instead of the fixture.
func copyTree(from source: String, to destination: String) throws {
    let files = PosixFileSystem()
    try files.makeDirectory(destination)
    for entry in try files.contentsOfDirectory(source) {
        let from = source + "/" + entry.name
        let to = destination + "/" + entry.name
        if entry.isDirectory {
            try copyTree(from: from, to: to)
            continue
        }
        let input = try files.open(from, mode: .readOnly)
        defer { try? files.close(input) }
        let output = try files.open(to, mode: .createNew)
        defer { try? files.close(output) }
        let bytes = try files.read(input, count: Int(try files.size(of: input)), at: 0)
        try files.write(output, bytes, at: 0)
    }
}

/// The whole content of the file at `path`.
func readFile(_ path: String) throws -> [UInt8] {
    let files = PosixFileSystem()
    let handle = try files.open(path, mode: .readOnly)
    defer { try? files.close(handle) }
    return try files.read(handle, count: Int(try files.size(of: handle)), at: 0)
}

/// Replaces the content of the file at `path` with `bytes`, creating it if needed.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
    let files = PosixFileSystem()
    let handle = try files.open(path, mode: .readWriteCreate)
    defer { try? files.close(handle) }
    try files.truncate(handle, to: 0)
    try files.write(handle, bytes, at: 0)
}
