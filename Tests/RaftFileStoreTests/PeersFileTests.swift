import RaftFileStores
import RaftTestKit
import SwiftRaft
import Testing

/// hashicorp/raft's `peers.json`, in both of the forms its recovery reads.
@Suite struct PeersFileTests {
    static func parse(_ text: String) throws -> Configuration { try PeersFile.parse(Array(text.utf8)) }

    // Protocol version 3 (ReadConfigJSON): IDs, addresses and suffrage; a missing non_voter means a voter.
    @Test func readsServersWithIDsAddressesAndSuffrage() throws {
        let configuration = try Self.parse(
            """
            [
              {"id": "n1", "address": "10.0.0.1:7000", "non_voter": false},
              {"id": "n2", "address": "10.0.0.2:7000"},
              {"id": "n3", "address": "10.0.0.3:7000", "non_voter": true}
            ]
            """
        )
        #expect(
            configuration.servers == [
                Server(suffrage: .voter, id: "n1", address: "10.0.0.1:7000"),
                Server(suffrage: .voter, id: "n2", address: "10.0.0.2:7000"),
                Server(suffrage: .nonvoter, id: "n3", address: "10.0.0.3:7000"),
            ]
        )
    }

    // The older form (ReadPeersJSON): a list of addresses, each server a voter whose ID is its address.
    @Test func readsAListOfAddressesAsVotersNamedByAddress() throws {
        let configuration = try Self.parse(#"["10.0.0.1:7000", "10.0.0.2:7000"]"#)
        #expect(
            configuration.servers == [
                Server(suffrage: .voter, id: "10.0.0.1:7000", address: "10.0.0.1:7000"),
                Server(suffrage: .voter, id: "10.0.0.2:7000", address: "10.0.0.2:7000"),
            ]
        )
    }

    // What an operator can get wrong is refused with a message that says what.
    @Test(arguments: [
        ("{\"id\": \"n1\"}", "expected a JSON list"),
        ("[{\"address\": \"10.0.0.1:7000\"}]", "server 1: an ID is required"),
        ("[{\"id\": \"n1\", \"address\": \"\"}]", "server 1 (n1): an address is required"),
        ("[{\"id\": \"n1\", \"address\": \"a\", \"non_voter\": \"no\"}]", "non_voter must be true or false"),
        ("[{\"id\": \"n1\", \"address\": \"a\"}, {\"id\": \"n1\", \"address\": \"b\"}]", "not a valid configuration"),
        ("[{\"id\": \"n1\", \"address\": \"a\", \"non_voter\": true}]", "not a valid configuration"),
        ("[]", "not a valid configuration"),
        ("[42]", "server 1: expected an object"),
        ("[{\"id\": \"n1\", ", "not JSON"),
    ])
    func malformedFilesAreRefusedSayingWhy(text: String, problem: String) {
        #expect {
            try Self.parse(text)
        } throws: { error in
            guard let error = error as? RaftError else { return false }
            return error.code == .invalidArgument && error.message.contains(problem)
        }
    }

    // A file on disk is read whole; a missing one is a file-store error naming the path.
    @Test func readsAFileAndNamesAMissingOne() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.appending("peers.json")
        let fileSystem = PosixFileSystem()
        let handle = try fileSystem.open(path, mode: .readWriteCreate)
        try fileSystem.write(handle, Array(#"[{"id": "n1", "address": "127.0.0.1:7001"}]"#.utf8), at: 0)
        try fileSystem.close(handle)
        #expect(try PeersFile.read(path: path).servers == [Server(id: "n1", address: "127.0.0.1:7001")])
        #expect(throws: FileStoreError.self) { try PeersFile.read(path: directory.appending("missing.json")) }
    }
}
