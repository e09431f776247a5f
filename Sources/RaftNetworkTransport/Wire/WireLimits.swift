/// Bounds on what a peer may make this process parse and allocate.
///
/// hashicorp/raft has no such limits; they exist here because a frame's length is only known
/// by parsing it, so without them a peer could make a connection buffer without end, and
/// could declare counts and lengths far beyond what it sends.
struct WireLimits: Hashable, Sendable {
    /// The largest request value (without its type byte) or response (error string and value
    /// together) accepted, in bytes. Snapshot data after an InstallSnapshot request is not
    /// counted. The default, 64 MiB, holds 64 entries of 1 MiB with room to spare.
    ///
    /// Decoding allocates in proportion to the bytes present, never to a declared count (a
    /// count that cannot fit in this limit is refused from its header), so this also bounds
    /// decode memory.
    let maxFrameSize: Int
    /// The deepest nesting of arrays and maps accepted. hashicorp/raft's messages nest three
    /// deep (request map, Entries array, entry map); anything deeper is an unknown field that
    /// is skipped, recursively, so this also bounds the stack skipping takes.
    let maxDepth: Int

    /// The largest accepted ``maxFrameSize``: 4 GiB keeps every offset arithmetic far from
    /// overflow and is beyond any sensible frame.
    static let maxFrameSizeCeiling = 1 << 32
    /// The largest accepted ``maxDepth``: msgpack-c's own nesting limit
    /// (`MSGPACK_EMBED_STACK_SIZE`), so whatever this transport accepts, a peer parsing with
    /// msgpack-c could parse too.
    static let maxDepthCeiling = 32

    /// Creates limits; values outside 1…ceiling are clamped into it, so no configuration can
    /// defeat the scanner's overflow and depth guarantees.
    init(maxFrameSize: Int = 64 << 20, maxDepth: Int = 16) {
        self.maxFrameSize = min(max(maxFrameSize, 1), Self.maxFrameSizeCeiling)
        self.maxDepth = min(max(maxDepth, 1), Self.maxDepthCeiling)
    }
}
