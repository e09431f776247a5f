/// Finds where a sequence of msgpack values ends, without decoding them, as bytes arrive.
///
/// NetworkTransport frames have no length prefix: a frame ends where its msgpack value ends,
/// which only parsing can tell. This scanner walks value headers and skips payloads, so the
/// frame decoders can wait for a complete frame before handing it, contiguous, to msgpack-c (or,
/// for AppendEntries, to ``AppendEntriesDecoder``, whose ``MessagePackReader`` repeats these
/// checks header for header).
///
/// It is resumable: each call gets the same bytes as before plus whatever arrived since (all
/// starting at the frame's first byte) and continues where the previous call stopped, so a
/// frame arriving in many reads is scanned once, not once per read. Payloads are skipped by
/// arithmetic, never copied.
///
/// It is the gate that keeps peer-declared sizes from reaching msgpack-c, which allocates an
/// array's slots from its declared count before reading the elements: a declared length or
/// count that cannot fit in ``WireLimits/maxFrameSize`` (every element takes at least a byte)
/// fails at once, however few bytes have arrived. Nesting is tracked on an explicit stack of at
/// most ``WireLimits/maxDepth`` entries, allocated once; nothing here recurses or allocates in
/// proportion to the input.
///
/// Extension values (`c7`–`c9`, `d4`–`d8`) are accepted and skipped: go-msgpack v2 can send
/// times as extension -1, and the decoder decides per field whether an extension is allowed.
/// The reserved byte `c1` is rejected.
struct MessagePackScanner {
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

    /// The offset of the next header to read. After a string or binary header it jumps past
    /// the payload, possibly beyond the bytes received so far.
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
        let available = bytes.count
        let maxFrameSize = limits.maxFrameSize
        while true {
            // A skipped payload may end beyond what has arrived.
            if offset > available { return .needMoreData }
            while depth >= 0 && levels[depth] == 0 { depth -= 1 }
            if depth < 0 { return .complete(length: offset) }
            if offset == available { return .needMoreData }

            let head = bytes[offset]
            var size: Int  // header and payload; for a container, its header only
            var elements = -1  // values inside, for arrays and maps; -1 for other values
            switch head {
            case 0x00...0x7f, 0xe0...0xff, 0xc0, 0xc2, 0xc3: size = 1
            case 0xa0...0xbf: size = 1 + Int(head & 0x1f)
            case 0x90...0x9f:
                size = 1
                elements = Int(head & 0x0f)
            case 0x80...0x8f:
                size = 1
                elements = Int(head & 0x0f) * 2
            case 0xcc, 0xd0: size = 2
            case 0xcd, 0xd1: size = 3
            case 0xca, 0xce, 0xd2: size = 5
            case 0xcb, 0xcf, 0xd3: size = 9
            case 0xd4: size = 3  // fixext 1: head, type, 1 byte
            case 0xd5: size = 4
            case 0xd6: size = 6
            case 0xd7: size = 10
            case 0xd8: size = 18
            case 0xc1: throw .reservedByte(offset: offset)
            default:
                // A length follows the head: 1, 2 or 4 bytes, big-endian. Only it must have
                // arrived; the rest of the header and the payload are skipped by arithmetic.
                let width: Int
                switch head {
                case 0xc4, 0xc7, 0xd9: width = 1
                case 0xc5, 0xc8, 0xda, 0xdc, 0xde: width = 2
                default: width = 4  // c6, c9, db, dd, df
                }
                guard offset + 1 + width <= available else { return .needMoreData }
                var declared = 0
                for i in (offset + 1)...(offset + width) { declared = declared << 8 | Int(bytes[i]) }
                switch head {
                case 0xdc, 0xdd:
                    size = 1 + width
                    elements = declared
                case 0xde, 0xdf:
                    size = 1 + width
                    elements = declared * 2  // declared < 2^32: no overflow on 64-bit
                case 0xc7, 0xc8, 0xc9: size = 1 + width + 1 + declared  // the extension's type byte
                default: size = 1 + width + declared
                }
            }

            // offset <= maxFrameSize <= 2^32 and size, elements < 2^34: no overflow.
            let end = offset + size
            if end > maxFrameSize || end + max(elements, 0) > maxFrameSize {
                throw .frameTooLarge(limit: maxFrameSize)
            }
            if elements >= 0 && depth >= limits.maxDepth {
                throw .nestingTooDeep(limit: limits.maxDepth)
            }
            levels[depth] -= 1
            offset = end
            if elements > 0 {
                depth += 1
                levels[depth] = elements
            }
        }
    }
}

extension MessagePackScanner {
    /// Reads the string at the start of `bytes`: any msgpack string or binary form, or nil for
    /// "". Used for a response's leading error text, which the response frame decoder reads
    /// itself rather than through msgpack-c. `bytes` must hold at least the whole value (the
    /// scanner has seen it complete).
    static func readString(_ bytes: UnsafeRawBufferPointer, field: String) throws(WireError) -> (String, length: Int) {
        guard let head = bytes.first else { throw .malformed("\(field): no bytes") }
        let headerLength: Int
        let payloadLength: Int
        switch head {
        case 0xc0: return ("", 1)
        case 0xa0...0xbf:
            headerLength = 1
            payloadLength = Int(head & 0x1f)
        case 0xd9, 0xc4: headerLength = 2
            payloadLength = bytes.count >= 2 ? Int(bytes[1]) : -1
        case 0xda, 0xc5: headerLength = 3
            payloadLength = bytes.count >= 3 ? Int(bytes[1]) << 8 | Int(bytes[2]) : -1
        case 0xdb, 0xc6: headerLength = 5
            payloadLength = bytes.count >= 5 ? Int(bytes[1]) << 24 | Int(bytes[2]) << 16 | Int(bytes[3]) << 8 | Int(bytes[4]) : -1
        default:
            throw .wrongType(field: field, expected: "string", found: MessagePackFormat.name(ofHead: head))
        }
        guard payloadLength >= 0, headerLength + payloadLength <= bytes.count else {
            throw .malformed("\(field): truncated string")
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[headerLength..<(headerLength + payloadLength)]), as: UTF8.self)
        return (text, headerLength + payloadLength)
    }
}

/// Names of msgpack formats, for error messages.
enum MessagePackFormat {
    /// The msgpack family a value's first byte announces.
    static func name(ofHead head: UInt8) -> String {
        switch head {
        case 0x00...0x7f, 0xcc...0xcf: return "positive integer"
        case 0xe0...0xff, 0xd0...0xd3: return "integer"
        case 0x80...0x8f, 0xde, 0xdf: return "map"
        case 0x90...0x9f, 0xdc, 0xdd: return "array"
        case 0xa0...0xbf, 0xd9...0xdb: return "string"
        case 0xc0: return "nil"
        case 0xc2, 0xc3: return "bool"
        case 0xc4...0xc6: return "binary"
        case 0xc7...0xc9, 0xd4...0xd8: return "extension"
        case 0xca, 0xcb: return "float"
        default: return "reserved byte"
        }
    }
}
