/// A checksum whose value is always the finished checksum of everything fed so far (as Go's
/// `crc32.Update` and `crc64.Update` work), so it can be carried across calls, or stored and
/// resumed, without a separate "finalize" step. ``CRC32C`` and ``CRC64`` are the two.
public protocol RunningChecksum: Hashable, Sendable {
    /// The checksum's width.
    associatedtype Value: FixedWidthInteger & Sendable

    /// The checksum of the bytes fed so far; 0 for none.
    var value: Value { get }

    /// Starts a checksum, optionally resuming from the ``value`` of an earlier one.
    init(resuming value: Value)

    /// The checksum of `crc`'s bytes followed by `bytes`.
    static func update(_ crc: Value, _ bytes: UnsafeRawBufferPointer) -> Value

    /// Feeds `bytes`.
    mutating func update(_ bytes: UnsafeRawBufferPointer)
}

extension RunningChecksum {
    /// Starts a checksum of nothing.
    public init() { self.init(resuming: 0) }

    /// Feeds `bytes`.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Feeds `bytes`.
    public mutating func update(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> Value {
        bytes.withUnsafeBytes { update(0, $0) }
    }

    /// The checksum of `bytes`.
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> Value {
        update(0, bytes)
    }
}
