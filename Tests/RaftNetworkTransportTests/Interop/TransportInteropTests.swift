import Foundation
import Synchronization
import RaftNetworkTransport
import SwiftRaft
import Testing

/// InstallSnapshot (with its data stream) and TimeoutNow between our NetworkTransport and a bare
/// hashicorp/raft 1.1.2 NetworkTransport (`GoPeers/transport-peer`), in both directions.
@Suite(
    .enabled(if: GoPeers.isAvailable, "\(GoPeers.unavailableReason ?? "")"),
    .timeLimit(.minutes(2))
)
struct TransportInteropTests {
    /// transport-peer's snapshot bytes: byte i is (i*31+7) mod 256.
    static func snapshotBytes(count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 31 &+ 7) % 256) }
    }

    /// FNV-1a 64, as transport-peer reports the bytes it received.
    static func digest(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The `key=value` fields of one line of transport-peer's output.
    static func fields(_ line: String) -> [String: String] {
        var fields: [String: String] = [:]
        for part in line.split(separator: " ") {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        return fields
    }

    @Test func aHashicorpTransportInstallsASnapshotOnOursWithItsWholeDataStream() async throws {
        let transport = try await NetworkTransport.bind(to: "127.0.0.1:0")
        let size = 3 << 20
        let rpcs = incomingRPCs(of: transport)
        let server = Task { () -> (InstallSnapshotRequest, [UInt8])? in
            for await rpc in rpcs {
                guard case .installSnapshot(let request) = rpc.request, let data = rpc.snapshotData else {
                    rpc.respond(error: GoPeerError("unexpected \(rpc.request)"))
                    continue
                }
                let received = await readAllOffThePool(data)
                data.close()
                rpc.respond(.installSnapshot(InstallSnapshotResponse(header: RPCHeader(), term: request.term, success: true)))
                return (request, received)
            }
            return nil
        }
        let sender = try GoPeerProcess(
            "transport-peer",
            ["send", "-target", transport.localAddress.rawValue, "-rpc", "installSnapshot", "-size", "\(size)", "-term", "7"]
        )
        let answer = try await sender.nextLine()
        #expect(answer == "ok success=true term=7")

        let (request, received) = try #require(await server.value)
        #expect(request.term == 7)
        #expect(request.lastLogIndex == 1234)
        #expect(request.lastLogTerm == 6)
        #expect(request.configurationIndex == 1200)
        #expect(request.size == Int64(size))
        #expect(request.snapshotVersion == 1)
        #expect(try ConfigurationCodec.decode(request.configuration) == Configuration(servers: [
            Server(suffrage: .voter, id: "go-1", address: "127.0.0.1:1001"),
            Server(suffrage: .nonvoter, id: "go-2", address: "127.0.0.1:1002"),
        ]))
        #expect(received.count == size)
        #expect(received == Self.snapshotBytes(count: size))
        await transport.close()
    }

    @Test func aHashicorpTransportSendsTimeoutNowToOurs() async throws {
        let transport = try await NetworkTransport.bind(to: "127.0.0.1:0")
        let rpcs = incomingRPCs(of: transport)
        let server = Task { () -> Bool in
            for await rpc in rpcs {
                guard case .timeoutNow = rpc.request else {
                    rpc.respond(error: GoPeerError("unexpected \(rpc.request)"))
                    continue
                }
                rpc.respond(.timeoutNow(TimeoutNowResponse(header: RPCHeader())))
                return true
            }
            return false
        }
        let sender = try GoPeerProcess(
            "transport-peer", ["send", "-target", transport.localAddress.rawValue, "-rpc", "timeoutNow"]
        )
        let answer = try await sender.nextLine()
        #expect(answer.hasPrefix("ok protocolVersion="))
        #expect(await server.value)
        await transport.close()
    }

    @Test func ourTransportInstallsASnapshotOnAHashicorpTransport() async throws {
        let peer = try GoPeerProcess("transport-peer", ["serve"])
        defer { peer.closeInput() }
        let listening = try await peer.nextLine()
        let address = ServerAddress(String(try #require(listening.split(separator: " ").last)))
        let transport = try await NetworkTransport.bind(to: "127.0.0.1:0")
        let size = 3 << 20 + 17
        let bytes = Self.snapshotBytes(count: size)
        let configuration = Configuration(servers: [
            Server(suffrage: .voter, id: "swift-1", address: transport.localAddress),
            Server(suffrage: .nonvoter, id: "swift-2", address: "127.0.0.1:2002"),
        ])
        let request = InstallSnapshotRequest(
            header: RPCHeader(id: "swift-1", address: transport.localAddress),
            term: 9,
            leader: transport.localAddress,
            lastLogIndex: 4321,
            lastLogTerm: 8,
            configuration: ConfigurationCodec.encode(configuration),
            configurationIndex: 4000,
            size: Int64(size)
        )
        // hashicorp/raft's deadline for this size, as Raft passes it: a plain call's 10 s passed
        // first on a loaded CI machine.
        let deadline = try #require(transport.options.installSnapshotTimeout(size: Int64(size)))
        let response = try await transport.installSnapshot(
            id: "go", target: address, request, data: ChunkedSnapshotSource(bytes: bytes), timeout: deadline
        )
        #expect(response.success)
        #expect(response.term == 9)

        let report = Self.fields(try await peer.nextLine())
        #expect(report["term"] == "9")
        #expect(report["leader"] == transport.localAddress.rawValue)
        #expect(report["lastLogIndex"] == "4321")
        #expect(report["lastLogTerm"] == "8")
        #expect(report["configurationIndex"] == "4000")
        #expect(report["servers"] == "swift-1@\(transport.localAddress.rawValue);swift-2@127.0.0.1:2002")
        #expect(report["size"] == "\(size)")
        #expect(report["read"] == "\(size)")
        #expect(report["digest"] == "\(Self.digest(bytes))")
        await transport.close()
    }

    @Test func ourTransportSendsTimeoutNowToAHashicorpTransport() async throws {
        let peer = try GoPeerProcess("transport-peer", ["serve"])
        defer { peer.closeInput() }
        let listening = try await peer.nextLine()
        let address = ServerAddress(String(try #require(listening.split(separator: " ").last)))
        let transport = try await NetworkTransport.bind(to: "127.0.0.1:0")
        let response = try await transport.timeoutNow(
            id: "go", target: address, TimeoutNowRequest(header: RPCHeader(id: "swift-1", address: transport.localAddress))
        )
        #expect(response.header.protocolVersion == 3)
        #expect(try await peer.nextLine() == "timeoutNow protocolVersion=3")
        await transport.close()
    }
}

/// Reads a whole snapshot stream on a thread of its own: `SnapshotSource.read` blocks until the
/// network delivers, which must not happen on Swift's cooperative pool.
func readAllOffThePool(_ source: any SnapshotSource) async -> [UInt8] {
    await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(returning: (try? source.readAll()) ?? [])
        }
    }
}

/// A snapshot held in memory, handed out in whatever pieces the reader asks for.
final class ChunkedSnapshotSource: SnapshotSource, Sendable {
    private let bytes: [UInt8]
    private let position = Mutex(0)

    init(bytes: [UInt8]) { self.bytes = bytes }

    func read(maxLength: Int) throws -> [UInt8] {
        position.withLock { position in
            let end = min(position + maxLength, bytes.count)
            defer { position = end }
            return Array(bytes[position..<end])
        }
    }

    func close() {}
}
