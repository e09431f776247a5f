/// Bounds on what a peer may make this process parse and allocate.
///
/// hashicorp/raft has no such limits; they exist here because a frame's length is only known
/// by parsing it, and msgpack-c allocates an array's or map's object slots before reading its
/// elements.
struct WireLimits: Hashable, Sendable {
    /// The largest request value (without its type byte) or response (error string and value
    /// together) accepted, in bytes. Snapshot data after an InstallSnapshot request is not
    /// counted. The default, 64 MiB, holds 64 entries of 1 MiB with room to spare.
    ///
    /// A complete frame makes msgpack-c allocate at most about 24 bytes of object slots per
    /// frame byte (a map of one-byte keys and values), so this also bounds decode memory.
    let maxFrameSize: Int
    /// The deepest nesting of arrays and maps accepted. hashicorp/raft's messages nest three
    /// deep (request map, Entries array, entry map); msgpack-c itself stops at 32.
    let maxDepth: Int

    /// The largest accepted ``maxFrameSize``: 4 GiB keeps every offset arithmetic far from
    /// overflow and is beyond any sensible frame.
    static let maxFrameSizeCeiling = 1 << 32
    /// msgpack-c's own nesting limit (`MSGPACK_EMBED_STACK_SIZE`).
    static let maxDepthCeiling = 32

    /// Creates limits; values outside 1…ceiling are clamped into it, so no configuration can
    /// defeat the scanner's overflow and depth guarantees.
    init(maxFrameSize: Int = 64 << 20, maxDepth: Int = 16) {
        self.maxFrameSize = min(max(maxFrameSize, 1), Self.maxFrameSizeCeiling)
        self.maxDepth = min(max(maxDepth, 1), Self.maxDepthCeiling)
    }
}
