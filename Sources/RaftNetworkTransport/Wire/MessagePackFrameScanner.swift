/// Finds where a frame of msgpack values ends while its bytes are still arriving, without
/// decoding it.
///
/// NetworkTransport frames have no length prefix: a frame ends where its msgpack values end,
/// which only parsing can tell. A decoder that finds a frame incomplete could simply try again
/// on the next read, but each try would read the frame from its start, and a large frame
/// arriving in many reads (or a hostile one, byte by byte) would cost time quadratic in its
/// size. This scanner is resumable instead: each call gets the same bytes as before plus
/// whatever arrived since (all starting at the frame's first byte) and continues where the
/// previous call stopped, at the first value not yet complete, so a frame is scanned about
/// once in all. The frame decoders then decode the complete frame in one pass.
///
/// It reads value headers with ``MessagePackFrameReader``, the one msgpack parser of the
/// transport, so it refuses exactly what the decoders refuse, at the same header: a declared
/// length or count that cannot fit in ``WireLimits/maxFrameSize`` fails at once, however few
/// bytes have arrived. Nesting is tracked on an explicit stack of at most
/// ``WireLimits/maxDepth`` entries, allocated once; nothing here recurses or allocates in
/// proportion to the input.
struct MessagePackFrameScanner {
    /// What a call to ``scan(_:)`` found.
    enum Progress: Hashable, Sendable {
        /// The values are incomplete; call again with the same bytes and more.
        case needMoreData
        /// The values occupy exactly the first `length` bytes.
        case complete(length: Int)
    }

    /// The limits every scanned frame must respect.
    let limits: WireLimits
    /// How many consecutive values make a frame (1 for a request, 2 for a response).
    let valueCount: Int

    /// The offset of the first value not yet complete.
    private var offset = 0
    /// Values still expected at each open level, `levels[0...depth]`. `levels[0]` counts the
    /// frame's own values; each open array or map adds a level (a map counts keys and values
    /// separately). Allocated once at `maxDepth + 1` entries and never resized.
    private var levels: [Int]
    /// The innermost open level; -1 once the frame is complete.
    private var depth = 0

    /// Creates a scanner for frames of `valueCount` values.
    init(valueCount: Int = 1, limits: WireLimits) {
        self.limits = limits
        self.valueCount = max(valueCount, 1)
        self.levels = [Int](repeating: 0, count: limits.maxDepth + 1)
        self.levels[0] = self.valueCount
    }

    /// Forgets the current frame, to scan a new one starting at offset 0.
    mutating func reset() {
        offset = 0
        depth = 0
        levels[0] = valueCount
    }

    /// Continues scanning `bytes`, which must start at the frame's first byte and begin with
    /// the bytes given to the previous calls since the last ``reset()``.
    ///
    /// Once a frame is complete, further calls return the same length until ``reset()``.
    /// Throws ``WireError/frameTooLarge(limit:)``, ``WireError/nestingTooDeep(limit:)`` or
    /// ``WireError/reservedByte(offset:)``; the scanner must be reset after an error.
    mutating func scan(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Progress {
        var offset = self.offset
        var depth = self.depth
        defer {
            self.offset = offset
            self.depth = depth
        }
        let limits = self.limits
        // One exclusive access to the level stack for the whole loop: no per-value uniqueness
        // checks on the array.
        let result: Result<Progress, WireError> = levels.withUnsafeMutableBufferPointer { levels in
            do throws(WireError) {
                return .success(try Self.run(bytes, &offset, &depth, levels, limits))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static func run(
        _ bytes: UnsafeRawBufferPointer,
        _ offset: inout Int,
        _ depth: inout Int,
        _ levels: UnsafeMutableBufferPointer<Int>,
        _ limits: WireLimits
    ) throws(WireError) -> Progress {
        var reader = MessagePackFrameReader(bytes, limits: limits, offset: offset)
        while true {
            while depth >= 0 && levels[depth] == 0 { depth -= 1 }
            if depth < 0 { return .complete(length: offset) }
            let value: MessagePackFrameReader.Value
            do throws(MessagePackFrameReader.Stop) {
                value = try reader.read(depth: depth)
            } catch {
                switch error {
                case .needMoreData: return .needMoreData
                case .structure(let error), .field(let error): throw error  // reading a value checks no field
                }
            }
            // A value is only counted once whole, so a resumed scan starts at a value's head.
            levels[depth] -= 1
            offset = reader.offset
            let elements: Int
            switch value {
            case .array(let count): elements = count
            case .map(let count): elements = count * 2  // count < 2^32: no overflow
            default: elements = 0
            }
            if elements > 0 {
                // read(depth:) has refused containers at maxDepth or deeper: depth + 1 fits.
                depth += 1
                levels[depth] = elements
            }
        }
    }
}
