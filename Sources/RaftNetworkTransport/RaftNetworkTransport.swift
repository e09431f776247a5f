// The module's overview is its documentation catalog, RaftNetworkTransport.docc.
// Its one module-wide import: msgpack-c, which the Wire/ encoders call, stays internal.
internal import CMsgPack
