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
    /// it, so memory stays bounded whatever the size. The whole exchange, dialing included, may
    /// take `timeout` (zero or less: no limit); ``Options/installSnapshotTimeout(size:)`` gives
    /// hashicorp/raft's, scaled with the snapshot's size. It goes on a new connection, closed
    /// afterwards (hashicorp/raft closes it too): the data cannot be sent twice, so a pooled
    /// connection the peer dropped while it sat idle must not be where it goes. `data` is left
    /// open for its owner to close. Cancelling the calling task ends the call at once.
    ///
    /// - Throws: `RaftError.Code.storage` if `data` fails or ends before
    ///   `request.size` bytes (the peer then sees the connection end and discards the
    ///   snapshot), else as ``send(_:to:timeout:completion:)`` fails.
    public func installSnapshot(
        _ request: InstallSnapshotRequest,
        data: any SnapshotSource,
        to target: Server,
        timeout: Duration
    ) async throws -> InstallSnapshotResponse {
        try checkOpen()
        let address = try HostAndPort(parsing: target.address)
        var frame = allocator.buffer(capacity: 0)
        encoder.withLock { encoder in encoder.encodeRequest(.installSnapshot(request), into: &frame) }
        guard frame.readableBytes <= limits.maxFrameSize else {
            throw Self.tooLarge(.installSnapshot, size: frame.readableBytes, limit: limits.maxFrameSize, target: target.address)
        }
        let eventLoop = options.eventLoopGroup.next()
        let answer = eventLoop.makePromise(of: RaftResponse.self)
        let call = OutgoingCall(
            .installSnapshot, frame: frame, to: target.address, timeout: timeout, eventLoop: eventLoop,
            reused: false, returnsToPool: false, transport: self, completion: { answer.completeWith($0) }
        )
        call.armTimer(on: eventLoop)
        // Cancelling fails the call, which closes its connection (or the dial) and so ends every
        // wait below at once.
        return try await withTaskCancellationHandler {
            let connection: ClientConnection
            do {
                connection = try await dialConnection(address, named: target.address, on: eventLoop) { channel in
                    guard call.attach(channel) else { throw RaftError(.timeout, "InstallSnapshot to \(target.address) ended while dialing") }
                }
            } catch {
                call.fail(dialError(error, target: target.address))
                return try await Self.installSnapshotAnswer(answer.futureResult, target: target.address)
            }
            defer { connection.close() }
            connection.start(call)
            if case .source(let error) = await stream(request.size, from: data, over: connection, for: call) {
                call.fail(error)
            }
            // Otherwise the call itself may have failed (a timeout, a closed connection) or,
            // rarely, the peer answered early and closed: the answer says which.
            return try await Self.installSnapshotAnswer(answer.futureResult, target: target.address)
        } onCancel: {
            call.fail(CancellationError())
        }
    }

    private static func installSnapshotAnswer(_ answer: EventLoopFuture<RaftResponse>, target: ServerAddress) async throws
        -> InstallSnapshotResponse
    {
        guard case .installSnapshot(let response) = try await answer.get() else {
            throw RaftError(.corrupt, "InstallSnapshot to \(target) was answered with another type")
        }
        return response
    }

    private enum StreamFailure {
        /// The snapshot's data could not be read, or ended early.
        case source(RaftError)
        /// A write failed, or the call ended: the connection is gone.
        case connection
    }

    /// Writes `size` bytes of `data` to `connection`; nil when all were handed to the socket.
    private func stream(_ size: Int64, from data: any SnapshotSource, over connection: ClientConnection, for call: OutgoingCall) async
        -> StreamFailure?
    {
        let pool = options.blockingPool
        let chunkSize = max(options.snapshotChunkSize, 1)
        let allocator = connection.channel.allocator
        var sent: Int64 = 0
        var previousWrite: EventLoopFuture<Void>?
        while sent < size {
            guard !call.isFinished else { return .connection }
            let wanted = Int(min(Int64(chunkSize), size - sent))
            let bytes: [UInt8]
            do {
                bytes = try await pool.runIfActive { try data.read(maxLength: wanted) }
            } catch {
                return .source(RaftError(.storage, "reading the snapshot failed after \(sent) of \(size) bytes: \(error)"))
            }
            guard !bytes.isEmpty else {
                // The peer must not take a short snapshot for a whole one: failing the call
                // closes the connection, which makes it fail the snapshot's data stream.
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
