#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import RaftKVClient
import SwiftRaft

/// raftkv's HTTP API: one node's routes, on its `Raft` and its ``KeyValueStore``.
///
/// | Route | Does |
/// | --- | --- |
/// | `PUT /kv/<key>` | applies a put (the body is the value): `200 ok index=N` |
/// | `DELETE /kv/<key>` | applies a delete: `200 ok index=N` |
/// | `GET /kv/<key>` | `readIndex`, then the store: `200` value or `404`; `?stale` reads the store at once |
/// | `GET /kv` | every key and value as one JSON object (`?stale` allowed) |
/// | `GET /status` | the node's status (``StatusReport``) |
/// | `POST /servers` | adds a server (``KVServerJoin`` as JSON): `200 ok index=N` |
/// | `DELETE /servers/<id>` | removes a server: `200 ok index=N` |
/// | `POST /snapshot` | takes a snapshot: `200 ok index=N` (the snapshot's index) |
/// | `POST /transfer` | hands leadership over (`?to=<id>` for a given voter): `200 ok` |
///
/// Errors follow ``ErrorMapping``: on a follower every write (and, until followers serve
/// ReadIndex, every linearizable read) is a `307` to the leader.
struct Routes: Sendable {
    let raft: Raft
    let store: KeyValueStore
    let status: StatusReport
    /// How long an apply, read or membership change may take before it is answered 504/503.
    let timeout: Duration
    let logger: Logger

    func respond(to request: HTTPRequest) async -> HTTPReply {
        let segments = request.segments
        switch (request.method, segments.first ?? "") {
        case (_, "kv") where segments.count == 1:
            guard request.method == "GET" else { return methodNotAllowed(request, allowed: "GET") }
            return await readAll(request)
        case (_, "kv"):
            // Everything after `/kv/` is the key, so an unencoded `/` in a key is kept too.
            guard let key = PercentEncoding.decode(segments.dropFirst().joined(separator: "/")), !key.isEmpty else {
                return .text(400, "bad request: the key is empty or badly percent-encoded")
            }
            switch request.method {
            case "GET": return await read(key, request)
            case "PUT": return await write(.put(key: key, value: request.body), request)
            case "DELETE": return await write(.delete(key: key), request)
            default: return methodNotAllowed(request, allowed: "GET, PUT, DELETE")
            }
        case (_, "status") where segments.count == 1:
            guard request.method == "GET" else { return methodNotAllowed(request, allowed: "GET") }
            return .json(status.json())
        case (_, "servers") where segments.count == 1:
            guard request.method == "POST" else { return methodNotAllowed(request, allowed: "POST") }
            return await addServer(request)
        case (_, "servers") where segments.count == 2:
            guard request.method == "DELETE" else { return methodNotAllowed(request, allowed: "DELETE") }
            guard let id = PercentEncoding.decode(segments[1]), !id.isEmpty else {
                return .text(400, "bad request: the server id is empty or badly percent-encoded")
            }
            return await removeServer(id, request)
        case (_, "snapshot") where segments.count == 1:
            guard request.method == "POST" else { return methodNotAllowed(request, allowed: "POST") }
            return await snapshot(request)
        case (_, "transfer") where segments.count == 1:
            guard request.method == "POST" else { return methodNotAllowed(request, allowed: "POST") }
            return await transfer(request)
        default:
            return .text(404, "no such route: \(request.method) \(request.uri)")
        }
    }

    // MARK: Keys

    private func write(_ command: KVCommand, _ request: HTTPRequest) async -> HTTPReply {
        if let refusal = refuseUnlessLeader(request) { return refusal }
        do {
            let result = try await raft.apply(command.encoded(), timeout: timeout)
            return .text(200, "ok index=\(result.index)")
        } catch {
            return failure(error, .write, request)
        }
    }

    private func read(_ key: String, _ request: HTTPRequest) async -> HTTPReply {
        if request.query["stale"] == nil {
            do {
                try await raft.readIndex(timeout: timeout)
            } catch {
                return failure(error, .read, request)
            }
        }
        guard let value = store.value(of: key) else { return .text(404, "not found") }
        return HTTPReply(status: 200, headers: [.init(name: "Content-Type", value: "application/octet-stream")], body: value)
    }

    private func readAll(_ request: HTTPRequest) async -> HTTPReply {
        if request.query["stale"] == nil {
            do {
                try await raft.readIndex(timeout: timeout)
            } catch {
                return failure(error, .read, request)
            }
        }
        // Values are bytes; JSON holds text, so invalid UTF-8 is replaced (GET /kv/<key> gives the bytes).
        let values = store.contents.values.mapValues { String(decoding: $0, as: UTF8.self) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return .json(Array((try? encoder.encode(values)) ?? Data("{}".utf8)))
    }

    // MARK: Cluster

    private func addServer(_ request: HTTPRequest) async -> HTTPReply {
        guard let join = try? JSONDecoder().decode(KVServerJoin.self, from: Data(request.body)),
            !join.id.isEmpty, !join.raft.isEmpty, !join.http.isEmpty
        else {
            return .text(400, #"bad request: expected {"id":"n4","raft":"host:port","http":"host:port"} (and optional "voter":false)"#)
        }
        if let refusal = refuseUnlessLeader(request) { return refusal }
        do {
            // The address first: once the server is a member it may lead, and then the others
            // must know where to send clients.
            _ = try await raft.apply(KVCommand.setHTTPAddress(id: join.id, address: join.http).encoded(), timeout: timeout)
            let id = ServerID(join.id)
            let address = ServerAddress(join.raft)
            let index =
                join.voter == false
                ? try await raft.addNonvoter(id: id, address: address, timeout: timeout)
                : try await raft.addVoter(id: id, address: address, timeout: timeout)
            logger.info("added server", metadata: ["server": "\(join.id)", "raft": "\(join.raft)", "voter": "\(join.voter ?? true)"])
            return .text(200, "ok index=\(index)")
        } catch {
            return failure(error, .write, request)
        }
    }

    private func removeServer(_ id: String, _ request: HTTPRequest) async -> HTTPReply {
        if let refusal = refuseUnlessLeader(request) { return refusal }
        do {
            let index = try await raft.removeServer(id: ServerID(id), timeout: timeout)
            logger.info("removed server", metadata: ["server": "\(id)"])
            return .text(200, "ok index=\(index)")
        } catch {
            return failure(error, .write, request)
        }
    }

    private func snapshot(_ request: HTTPRequest) async -> HTTPReply {
        if let refusal = refuseUnlessLeader(request) { return refusal }
        do {
            let taken = try await raft.snapshot()
            return .text(200, "ok index=\(taken.meta.index)")
        } catch {
            return failure(error, .control, request)
        }
    }

    private func transfer(_ request: HTTPRequest) async -> HTTPReply {
        if let refusal = refuseUnlessLeader(request) { return refusal }
        do {
            if let target = request.query["to"], !target.isEmpty {
                try await raft.leadershipTransfer(to: ServerID(target))
            } else {
                try await raft.leadershipTransfer()
            }
            return .text(200, "ok")
        } catch {
            return failure(error, .control, request)
        }
    }

    // MARK: Helpers

    /// The `307`/`503` for a request only the leader serves, or nil on the leader. Checked up
    /// front so that a node that is shutting down answers `503` (certainly not applied) rather
    /// than the `500` a `shutdown` error from a started call must get.
    private func refuseUnlessLeader(_ request: HTTPRequest) -> HTTPReply? {
        switch raft.state {
        case .leader: return nil
        case .shutdown: return .text(503, "shutting down; not applied")
        case .follower, .candidate:
            let leader = raft.leader
            return ErrorMapping.notLeader(uri: request.uri, leaderHTTP: status.leaderHTTP(leader), leaderID: leader?.id.rawValue)
        }
    }

    private func failure(_ error: any Error, _ operation: ErrorMapping.Operation, _ request: HTTPRequest) -> HTTPReply {
        let leader = (error as? RaftError)?.leader ?? raft.leader
        let reply = ErrorMapping.reply(for: error, operation: operation, uri: request.uri, leaderHTTP: status.leaderHTTP(leader))
        if reply.status >= 500 {
            logger.debug("request failed", metadata: ["request": "\(request.method) \(request.uri)", "status": "\(reply.status)", "error": "\(error)"])
        }
        return reply
    }

    private func methodNotAllowed(_ request: HTTPRequest, allowed: String) -> HTTPReply {
        var reply = HTTPReply.text(405, "method \(request.method) not allowed on \(request.uri); allowed: \(allowed)")
        reply.headers.append(.init(name: "Allow", value: allowed))
        return reply
    }
}
