import RaftFileStores
import RaftTestKit
import Testing

/// ``PosixFileSystem`` lists directories of any size exactly.
@Suite("PosixFileSystem")
struct PosixFileSystemTests {
    /// `readdir` hands out records packed in a 32 KiB buffer, each only as long as its name needs.
    /// Copying all 256 bytes that `d_name` is declared with reads past the end of a full buffer
    /// for its last entries: a heap-buffer-overflow under AddressSanitizer
    /// (`scripts/sanitize.sh address --filter PosixFileSystem`) that a normal build reads silently.
    @Test func listsADirectoryLargerThanOneReaddirBufferWithEveryNameIntact() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = PosixFileSystem()
        // Names from 1 to 40 bytes, so records of many lengths fill several buffers and end
        // them at every alignment.
        let names = (0..<3000).map { number in String(repeating: "n", count: number % 40) + "-\(number)" }
        for name in names {
            try files.close(try files.open(directory.appending(name), mode: .createNew))
        }
        try files.makeDirectory(directory.appending("sub"))

        let entries = try files.contentsOfDirectory(directory.path)

        #expect(entries.filter { !$0.isDirectory }.map(\.name).sorted() == names.sorted())
        #expect(entries.filter(\.isDirectory).map(\.name) == ["sub"])
    }
}
