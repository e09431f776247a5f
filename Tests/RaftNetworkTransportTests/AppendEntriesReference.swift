import CMsgPack
@testable import RaftNetworkTransport
import SwiftRaft

/// The AppendEntries decoding that ``AppendEntriesDecoder`` replaced, kept as the oracle of the
/// differential tests: ``ReferenceMessagePackScanner`` over the bytes, msgpack-c's
/// `msgpack_unpack` into an object tree, then a walk of the tree with the msgpack_object field
/// readers of `MsgpackCReference.swift`, as `WireDecoder` did before the one-pass decoder.
enum AppendEntriesReference {
    /// Decodes `bytes` as exactly one AppendEntries request value, as `WireDecoder`'s tree path
    /// did: truncated values and trailing bytes are `.malformed`.
    static func decode(_ bytes: [UInt8], limits: WireLimits = WireLimits()) throws(WireError) -> AppendEntriesRequest {
        var scanner = ReferenceMessagePackScanner(valueCount: 1, limits: limits)
        let scanned: Result<ReferenceMessagePackScanner.Progress, WireError> = bytes.withUnsafeBytes { raw in
            do throws(WireError) { return .success(try scanner.scan(raw)) } catch { return .failure(error) }
        }
        switch try scanned.get() {
        case .needMoreData: throw .malformed("truncated value (\(bytes.count) bytes)")
        case .complete(let length) where length != bytes.count: throw .malformed("\(bytes.count - length) bytes after the value")
        case .complete: break
        }
        let zone = UnsafeMutablePointer<msgpack_zone>.allocate(capacity: 1)
        defer { zone.deallocate() }
        guard msgpack_zone_init(zone, 4096) else { throw .malformed("test: no zone") }
        defer { msgpack_zone_destroy(zone) }
        let decoded: Result<AppendEntriesRequest, WireError> = bytes.withUnsafeBytes { raw in
            var object = msgpack_object()
            var offset = 0
            let status = msgpack_unpack(raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count, &offset, zone, &object)
            guard status == MSGPACK_UNPACK_SUCCESS else { return .failure(.malformed("msgpack-c status \(status.rawValue)")) }
            var frame = FrameCopy(base: raw)
            do throws(WireError) { return .success(try request(object, frame: &frame)) } catch { return .failure(error) }
        }
        return try decoded.get()
    }

    private static func request(_ root: msgpack_object, frame: inout FrameCopy) throws(WireError) -> AppendEntriesRequest {
        var r = AppendEntriesRequest(header: RPCHeader(protocolVersion: 0), term: 0, leader: "")
        try root.forEachField("AppendEntriesRequest") { key, value throws(WireError) in
            switch key {
            case "Addr": r.header.address = ServerAddress(try value.string("AppendEntriesRequest.Addr"))
            case "Entries":
                let entries = try value.referenceArray("AppendEntriesRequest.Entries")
                r.entries.reserveCapacity(entries.count)
                for (i, entry) in entries.enumerated() {
                    r.entries.append(try log(entry, index: i, frame: &frame))
                }
            case "ID": r.header.id = ServerID(try value.string("AppendEntriesRequest.ID"))
            case "Leader": r.leader = ServerAddress(try value.string("AppendEntriesRequest.Leader"))
            case "LeaderCommitIndex": r.leaderCommitIndex = try value.uint64("AppendEntriesRequest.LeaderCommitIndex")
            case "PrevLogEntry": r.prevLogEntry = try value.uint64("AppendEntriesRequest.PrevLogEntry")
            case "PrevLogTerm": r.prevLogTerm = try value.uint64("AppendEntriesRequest.PrevLogTerm")
            case "ProtocolVersion": r.header.protocolVersion = try value.int("AppendEntriesRequest.ProtocolVersion")
            case "Term": r.term = try value.uint64("AppendEntriesRequest.Term")
            default: break
            }
        }
        return r
    }

    private static func log(_ object: msgpack_object, index i: Int, frame: inout FrameCopy) throws(WireError) -> Log {
        if object.type == MSGPACK_OBJECT_NIL {
            throw .wrongType(field: "AppendEntriesRequest.Entries[\(i)]", expected: "map", found: "nil")
        }
        var log = Log(index: 0, term: 0)
        try object.forEachField("AppendEntriesRequest.Entries[\(i)]") { key, value throws(WireError) in
            switch key {
            case "AppendedAt": log.appendedAt = try time(value, "AppendEntriesRequest.Entries[\(i)].AppendedAt")
            case "Data": log.data = frame.slice(try value.bytes("AppendEntriesRequest.Entries[\(i)].Data"))
            case "Extensions": log.extensions = frame.slice(try value.bytes("AppendEntriesRequest.Entries[\(i)].Extensions"))
            case "Index": log.index = try value.uint64("AppendEntriesRequest.Entries[\(i)].Index")
            case "Term": log.term = try value.uint64("AppendEntriesRequest.Entries[\(i)].Term")
            case "Type":
                let raw = try value.uint64("AppendEntriesRequest.Entries[\(i)].Type")
                guard let narrow = UInt8(exactly: raw) else {
                    throw .valueOutOfRange(field: "AppendEntriesRequest.Entries[\(i)].Type", value: "\(raw)")
                }
                guard let type = LogType(rawValue: narrow) else {
                    throw .valueOutOfRange(field: "AppendEntriesRequest.Entries[\(i)].Type", value: "\(narrow)")
                }
                log.type = type
            default: break
            }
        }
        return log
    }

    private static func time(_ value: msgpack_object, _ field: @autoclosure () -> String) throws(WireError) -> LogTimestamp {
        switch value.type {
        case MSGPACK_OBJECT_NIL: return .unset
        case MSGPACK_OBJECT_STR, MSGPACK_OBJECT_BIN:
            guard let bytes = try value.bytes(field()) else { return .unset }
            return try GoTime.decode(bytes, field: field())
        case MSGPACK_OBJECT_EXT where value.via.ext.type == -1:
            return try GoTime.decode(UnsafeRawBufferPointer(start: value.via.ext.ptr, count: Int(value.via.ext.size)), field: field())
        default:
            throw .wrongType(field: field(), expected: "time (string, binary, nil or extension -1)", found: value.typeName)
        }
    }

    /// Entry bytes as slices of one copy of the frame.
    private struct FrameCopy {
        let base: UnsafeRawBufferPointer
        private var copy: [UInt8]?

        init(base: UnsafeRawBufferPointer) { self.base = base }

        mutating func slice(_ part: UnsafeRawBufferPointer?) -> ArraySlice<UInt8> {
            guard let part, let start = part.baseAddress, let origin = base.baseAddress, !part.isEmpty else { return [] }
            let offset = start - origin
            let whole = copy ?? Array(base)
            copy = whole
            return whole[offset..<(offset + part.count)]
        }
    }
}

extension msgpack_object {
    /// The elements of an array field; empty for nil.
    fileprivate func referenceArray(_ field: @autoclosure () -> String) throws(WireError) -> UnsafeBufferPointer<msgpack_object> {
        switch type {
        case MSGPACK_OBJECT_ARRAY: return UnsafeBufferPointer(start: via.array.ptr, count: Int(via.array.size))
        case MSGPACK_OBJECT_NIL: return UnsafeBufferPointer(start: nil, count: 0)
        default: throw .wrongType(field: field(), expected: "array", found: typeName)
        }
    }
}
