// The value types every plugin and user shares (Log, Server, Configuration, the RPC messages…)
// live in the pure core; re-export them so `import SwiftRaft` is all a user needs.
@_exported public import RaftCore
