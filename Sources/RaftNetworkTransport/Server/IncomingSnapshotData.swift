#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DequeModule
import NIOCore
import SwiftRaft

/// The data of an incoming InstallSnapshot, as Raft reads it while it is still arriving.
///
/// The connection's event loop appends what it reads; Raft reads from a storage thread of its
/// own and blocks while nothing has arrived yet (``SnapshotSource/read(maxLength:)`` is
/// synchronous). At most about ``highWatermark`` bytes wait here: beyond that the connection
/// is told to stop reading, and told to resume once the reader has taken half of them, so the
/// socket's flow control slows the sender down and a snapshot of any size needs bounded memory.
///
/// Once Raft answers the RPC or closes this source, whatever has not been read is dropped, and
/// the rest of the data is read off the connection and dropped too, as hashicorp/raft drains it,
/// so the connection stays in step for the next request.
///
/// `@unchecked Sendable`: every `var` below is read and written only with `mutex` held, and the
/// `let`s are immutable and Sendable; the pthread mutex and condition (rather than `Mutex`) are
/// what let a reader sleep until data arrives.
final class IncomingSnapshotData: SnapshotSource, @unchecked Sendable {
    private enum Phase {
        /// Data may still arrive.
        case receiving
        /// All `size` bytes have arrived.
        case complete
        /// The connection ended before `size` bytes arrived.
        case failed(RaftError)
        /// Raft is done with it; what remains is dropped.
        case discarded
    }

    /// The number of bytes the request announced.
    let size: Int64
    private let highWatermark: Int
    private let eventLoop: any EventLoop
    private let resumeReading: @Sendable () -> Void
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    private var chunks: Deque<ByteBuffer> = []
    private var buffered = 0
    private var received: Int64 = 0
    private var phase = Phase.receiving
    private var readingPaused = false

    /// Creates the data stream of a snapshot of `size` bytes arriving on `eventLoop`.
    /// `resumeReading` is called, from the reader's thread, when the connection may read again
    /// after ``append(_:)`` asked it to pause.
    init(size: Int64, highWatermark: Int, eventLoop: any EventLoop, resumeReading: @escaping @Sendable () -> Void) {
        self.size = max(size, 0)
        self.highWatermark = max(highWatermark, 1)
        self.eventLoop = eventLoop
        self.resumeReading = resumeReading
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        condition = .allocate(capacity: 1)
        condition.initialize(to: pthread_cond_t())
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        condition.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    // MARK: The connection's side (event loop)

    /// Adds bytes that arrived. Returns true when the connection should stop reading until
    /// `resumeReading` is called.
    func append(_ chunk: ByteBuffer) -> Bool {
        locked {
            received += Int64(chunk.readableBytes)
            guard case .receiving = phase, chunk.readableBytes > 0 else { return false }
            chunks.append(chunk)
            buffered += chunk.readableBytes
            pthread_cond_signal(condition)
            guard buffered >= highWatermark else { return false }
            readingPaused = true
            return true
        }
    }

    /// All `size` bytes have arrived.
    func finish() {
        locked {
            if case .receiving = phase { phase = .complete }
            pthread_cond_broadcast(condition)
        }
    }

    /// The connection ended early: a reader gets what arrived, then `error`.
    func fail(_ error: RaftError) {
        locked {
            if case .receiving = phase { phase = .failed(error) }
            pthread_cond_broadcast(condition)
        }
    }

    /// Whether all `size` bytes have been received (read or not).
    var isComplete: Bool { locked { received >= size } }

    /// How many bytes have arrived so far.
    var receivedCount: Int64 { locked { received } }

    // MARK: Raft's side (any thread but the event loop)

    /// The next at most `maxLength` bytes; blocks until some arrive. Empty once all `size` bytes
    /// have been read or after ``close()``; throws if the connection ended early.
    func read(maxLength: Int) throws -> [UInt8] {
        guard !eventLoop.inEventLoop else {
            // The bytes can only arrive on this very thread: waiting for them would never end.
            throw RaftError(.invalidArgument, "snapshot data must not be read on the event loop that receives it")
        }
        guard maxLength > 0 else { return [] }
        let (bytes, error, resume) = locked { () -> ([UInt8], RaftError?, Bool) in
            while chunks.isEmpty, case .receiving = phase {
                pthread_cond_wait(condition, mutex)
            }
            if chunks.isEmpty {
                if case .failed(let error) = phase { return ([], error, false) }
                return ([], nil, false)
            }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(min(maxLength, buffered))
            while bytes.count < maxLength, var first = chunks.first {
                let take = min(maxLength - bytes.count, first.readableBytes)
                bytes.append(contentsOf: first.readableBytesView.prefix(take))
                first.moveReaderIndex(forwardBy: take)
                if first.readableBytes == 0 {
                    chunks.removeFirst()
                } else {
                    chunks[chunks.startIndex] = first
                }
            }
            buffered -= bytes.count
            let resume = readingPaused && buffered <= highWatermark / 2
            if resume { readingPaused = false }
            return (bytes, nil, resume)
        }
        if resume { resumeReading() }
        if let error { throw error }
        return bytes
    }

    /// Raft is done with the data: drops what is buffered and lets the connection read (and
    /// drop) whatever is still to come.
    func close() {
        let resume = locked { () -> Bool in
            switch phase {
            case .receiving, .complete: phase = .discarded
            case .failed, .discarded: break
            }
            chunks.removeAll()
            buffered = 0
            pthread_cond_broadcast(condition)
            defer { readingPaused = false }
            return readingPaused
        }
        if resume { resumeReading() }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }
}
