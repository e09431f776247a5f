public import SwiftRaft
import NIOCore
import NIOPosix

extension NetworkTransport {
    /// Sends an InstallSnapshot request, then exactly `request.size` bytes read from `data`, and
    /// waits for the answer (hashicorp/raft's `InstallSnapshot`).
    ///
    /// `data` is read on ``Options/blockingPool``, never on the event loop or Swift's
    /// cooperative pool, one ``Options/snapshotChunkSize`` piece at a time; a piece is read
    /// while the previous one is being written, and no more is read until the socket has taken
    /// it, so memory stays bounded whatever the size. The whole exchange may take
    /// ``Options/installSnapshotTimeout(size:)``. It goes on a new connection, closed afterwards
    /// (hashicorp/raft closes it too). `data` is left open for its owner to close.
    ///
    /// - Throws: ``SwiftRaft/RaftError/Code/storage`` if `data` fails or ends before
    ///   `request.size` bytes (the peer then sees the connection end and discards the
    ///   snapshot), else as the other calls.
    public func installSnapshot(
        id: ServerID,
        target: ServerAddress,
        _ request: InstallSnapshotRequest,
        data: any SnapshotSource
    ) async throws -> InstallSnapshotResponse {
        try checkOpen()
        let timeout = options.installSnapshotTimeout(size: request.size)
        // A connection of its own rather than a pooled one: the data cannot be sent twice, so a
        // pooled connection the peer dropped while it sat idle must not be where it goes.
        let connection = try await dialCall(target)
        defer { connection.close() }
        // Cancelling closes the connection, which ends every wait below at once.
        return try await withTaskCancellationHandler {
            try await send(request, data: data, over: connection, timeout: timeout)
        } onCancel: {
            connection.close()
        }
    }

    private func send(
        _ request: InstallSnapshotRequest,
        data: any SnapshotSource,
        over connection: ClientConnection,
        timeout: Duration?
    ) async throws -> InstallSnapshotResponse {
        let target = connection.target
        let answer = connection.start(.installSnapshot(request), timeout: timeout.map { TimeAmount($0) })
        if let failure = await stream(request.size, from: data, over: connection) {
            switch failure {
            case .source(let error):
                try Task.checkCancellation()
                throw error
            case .connection:
                // The call itself failed (a timeout, a closed connection) or, rarely, the peer
                // answered early and closed: the answer says which.
                break
            }
        }
        let outcome: CallAnswer
        do {
            outcome = try await answer.get()
        } catch {
            try Task.checkCancellation()
            throw surfaced(error, rpc: .installSnapshot, target: target, timeout: timeout)
        }
        switch outcome {
        case .response(.installSnapshot(let response)):
            return response
        case .response:
            throw RaftError(.corrupt, "InstallSnapshot to \(target) was answered with another type")
        case .refused(let text):
            throw Self.remoteError(text, rpc: .installSnapshot, target: target)
        }
    }

    private enum StreamFailure {
        /// The snapshot's data could not be read, or ended early.
        case source(RaftError)
        /// A write failed: the connection is gone.
        case connection
    }

    /// Writes `size` bytes of `data` to `connection`; nil when all were handed to the socket.
    private func stream(_ size: Int64, from data: any SnapshotSource, over connection: ClientConnection) async
        -> StreamFailure?
    {
        let pool = options.blockingPool
        let chunkSize = max(options.snapshotChunkSize, 1)
        let allocator = connection.channel.allocator
        var sent: Int64 = 0
        var previousWrite: EventLoopFuture<Void>?
        while sent < size {
            let wanted = Int(min(Int64(chunkSize), size - sent))
            let bytes: [UInt8]
            do {
                bytes = try await pool.runIfActive { try data.read(maxLength: wanted) }
            } catch {
                connection.close()
                return .source(RaftError(.storage, "reading the snapshot failed after \(sent) of \(size) bytes: \(error)"))
            }
            guard !bytes.isEmpty else {
                // The peer must not take a short snapshot for a whole one: ending the connection
                // makes it fail the snapshot's data stream.
                connection.close()
                return .source(RaftError(.storage, "snapshot data ended after \(sent) of \(size) bytes"))
            }
            let piece = bytes.count > wanted ? bytes[..<wanted] : bytes[...]
            let write = connection.write(allocator.buffer(bytes: piece))
            sent += Int64(piece.count)
            // At most two pieces in flight: one being written while the next is read.
            if let previousWrite {
                do { try await previousWrite.get() } catch { return .connection }
            }
            previousWrite = write
        }
        if let previousWrite {
            do { try await previousWrite.get() } catch { return .connection }
        }
        return nil
    }
}
