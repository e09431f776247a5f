@testable import RaftKV
import Testing

/// The encoding of raftkv's log commands.
@Suite struct KVCommandTests {
    // Every kind of command decodes to itself, with keys and values of any bytes (empty, binary, non-ASCII).
    @Test(arguments: [
        KVCommand.put(key: "hello", value: Array("world".utf8)),
        .put(key: "a/b c?d%", value: []),
        .put(key: "clé", value: [0, 255, 10, 13]),
        .delete(key: "hello"),
        .setHTTPAddress(id: "n1", address: "127.0.0.1:8001"),
    ])
    func aCommandRoundTrips(_ command: KVCommand) {
        #expect(KVCommand(decoding: command.encoded()) == command)
    }

    // Bytes that are not a whole command of a known kind decode to nil rather than to something else: an unknown tag, a truncated field, trailing bytes, nothing.
    @Test func malformedBytesDecodeToNil() {
        let put = KVCommand.put(key: "k", value: Array("v".utf8)).encoded()
        #expect(KVCommand(decoding: [9] + put.dropFirst()) == nil)
        #expect(KVCommand(decoding: put.dropLast()) == nil)
        #expect(KVCommand(decoding: put + [0]) == nil)
        #expect(KVCommand(decoding: []) == nil)
    }

    // The format is fixed: a tag byte, then each field as a 4-byte big-endian length and its bytes (logs written by one version are read by the next).
    @Test func theEncodingIsATagAndLengthPrefixedFields() {
        #expect(KVCommand.delete(key: "ab").encoded() == [2, 0, 0, 0, 2, 97, 98])
        #expect(KVCommand.put(key: "k", value: [7]).encoded() == [1, 0, 0, 0, 1, 107, 0, 0, 0, 1, 7])
    }
}
