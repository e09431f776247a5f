#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension KVClient {
    /// `PUT /kv/<key>` with `value` as the body: `200 ok index=N` once committed and applied.
    public func put(key: String, value: [UInt8], timeout: Duration = .seconds(5)) async throws -> KVResponse {
        try await request("PUT", Self.path(ofKey: key), body: value, timeout: timeout)
    }

    /// `PUT /kv/<key>` with `value`'s UTF-8 bytes as the body.
    public func put(key: String, value: String, timeout: Duration = .seconds(5)) async throws -> KVResponse {
        try await put(key: key, value: Array(value.utf8), timeout: timeout)
    }

    /// `GET /kv/<key>`: linearizable by default, or the node's local copy with `stale`. `200`
    /// with the value, `404` when absent.
    public func get(key: String, stale: Bool = false, timeout: Duration = .seconds(5)) async throws -> KVResponse {
        try await request("GET", Self.path(ofKey: key) + (stale ? "?stale" : ""), timeout: timeout)
    }

    /// `DELETE /kv/<key>`: `200 ok index=N` once committed and applied, whether or not the key existed.
    public func delete(key: String, timeout: Duration = .seconds(5)) async throws -> KVResponse {
        try await request("DELETE", Self.path(ofKey: key), timeout: timeout)
    }

    /// `GET /status`, decoded.
    ///
    /// - Throws: ``KVClientError/malformedResponse(_:)`` when the status is not `200` or the body
    ///   is not the expected JSON; otherwise as ``request(_:_:body:timeout:)``.
    public func status(timeout: Duration = .seconds(5)) async throws -> KVStatus {
        let response = try await request("GET", "/status", timeout: timeout)
        guard response.status == 200 else {
            throw KVClientError.malformedResponse("GET /status answered \(response.status): \(response.text)")
        }
        do {
            return try JSONDecoder().decode(KVStatus.self, from: Data(response.body))
        } catch {
            throw KVClientError.malformedResponse("GET /status: \(error)")
        }
    }

    /// The path of `key`'s resource: `/kv/` and the key, percent-encoded.
    public static func path(ofKey key: String) -> String {
        "/kv/" + PercentEncoding.encode(key)
    }
}

extension KVClient {
    /// `POST /servers` with `join` as JSON: adds a server (on the leader; a follower answers `307`).
    public func addServer(_ join: KVServerJoin, timeout: Duration = .seconds(10)) async throws -> KVResponse {
        let body: [UInt8]
        do {
            body = Array(try JSONEncoder().encode(join))
        } catch {
            throw KVClientError.malformedResponse("cannot encode the join request: \(error)")
        }
        return try await request("POST", "/servers", body: body, timeout: timeout)
    }
}
