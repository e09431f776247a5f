import NIOCore
import Synchronization
import SwiftRaft

/// AppendEntries to one follower over a connection of its own, without waiting for each answer
/// (hashicorp/raft's `netPipeline`).
///
/// A send encodes its request on the caller's thread (keeping that work off the event loop),
/// takes a window slot, suspending while the window is full, and queues the bytes; the event
/// loop writes whatever is queued in one go. Answers are decoded on the event loop and read,
/// in send order, from ``responses``.
final class NetworkPipeline: AppendPipeline {
    let responses: AsyncStream<AppendPipelineResult>
    private let core: PipelineCore
    private let channel: any Channel
    private let handler: NIOLoopBound<PipelineHandler>
    /// Sends are normally made one at a time by one task, so this lock is uncontended; it only
    /// keeps concurrent senders from sharing the encoder's buffer.
    private let encoder = Mutex(WireEncoder())
    private let maxFrameSize: Int

    init(core: PipelineCore, channel: any Channel, handler: NIOLoopBound<PipelineHandler>, maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
        self.core = core
        self.channel = channel
        self.handler = handler
        self.responses = AsyncStream(unfolding: { await core.nextResult() })
    }

    /// The follower's address.
    var target: ServerAddress { core.target }

    func appendEntries(_ request: AppendEntriesRequest) async throws {
        if let failure = core.failure { throw PipelineCore.closedError(core.target, failure) }
        // Empty: the encoder sizes it exactly once, when it copies the frame in.
        var bytes = channel.allocator.buffer(capacity: 0)
        encoder.withLock { encoder in encoder.encodeRequest(.appendEntries(request), into: &bytes) }
        guard bytes.readableBytes <= maxFrameSize else {
            // Not sent, so the pipeline stays in step: only this request fails.
            throw NetworkTransport.tooLarge(.appendEntries, size: bytes.readableBytes, limit: maxFrameSize, target: core.target)
        }
        while true {
            switch try core.admit(request, bytes: bytes) {
            case .admitted(let drain):
                if drain {
                    let handler = self.handler
                    channel.eventLoop.execute { handler.value.drain() }
                }
                return
            case .full(let generation):
                try await core.waitForRoom(since: generation)
            }
        }
    }

    func close() async {
        await shutdown(RaftError(.pipelineShutdown, "pipeline to \(core.target) closed"))
    }

    /// Fails what is in flight with `error`, ends ``responses`` and closes the connection.
    func shutdown(_ error: RaftError) async {
        let handler = self.handler
        do {
            try await channel.eventLoop.submit { handler.value.fail(error) }.get()
        } catch {
            // The event loop is gone, and the handler with it: end what the core still holds.
            let unwritten = core.fail(RaftError(.pipelineShutdown, "pipeline to \(core.target) closed"))
            core.finish(
                with: unwritten.map {
                    (AppendPipelineResult(request: $0.request, result: .failure(error)), $0.bytes.readableBytes)
                }
            )
        }
    }
}
