// RaftNetworkTransport: hashicorp/raft's NetworkTransport protocol (version 3) over TCP.
//
// Layers, bottom up (each a folder):
//   Wire/       msgpack: encoding every RPC byte for byte as go-msgpack does (through msgpack-c),
//               decoding every RPC in one pass (MessagePackFrameReader, both go-msgpack
//               generations), finding a frame's end incrementally (MessagePackFrameScanner)
//   Framing/    NIO ByteToMessageDecoders: requests (type byte, value, InstallSnapshot data
//               streamed through) on the server side, raw responses on the client side
//   StreamLayer/ how connections are opened: listen + dial, plain TCP by default, TLS-shaped
//   Server/     one handler per accepted connection: RPCs pushed to Raft's handler (or the
//               heartbeat handler), answers back in request order, snapshot data as a
//               blocking stream
//   Client/     pooled one-call-at-a-time connections with one timer per request, the
//               AppendEntries pipeline, and InstallSnapshot streaming its data from a thread pool
//   Transport/  NetworkTransport itself: options, binding, the pool and registry, error mapping
internal import CMsgPack
