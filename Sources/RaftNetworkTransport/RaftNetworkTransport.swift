// RaftNetworkTransport: hashicorp/raft's NetworkTransport protocol (version 3) over TCP.
//
// Layers, bottom up (each a folder):
//   Wire/       msgpack through msgpack-c: encoding every RPC byte for byte as go-msgpack does,
//               decoding liberally, finding a frame's end incrementally
//   Framing/    NIO ByteToMessageDecoders: requests (type byte, value, InstallSnapshot data
//               streamed through) on the server side, raw responses on the client side
internal import CMsgPack
