/// Observers: hashicorp/raft's `RegisterObserver` and `DeregisterObserver`.
extension Raft {
    /// Starts telling `observer` of this node's events (see ``RaftEvent``). Registering twice
    /// has no further effect. Events are offered on the node's loop and never waited for.
    public func registerObserver(_ observer: RaftObserver) {
        loop.observers.register(observer)
    }

    /// Stops telling `observer` of this node's events; its stream stays open (see
    /// ``RaftObserver/finish()``).
    public func deregisterObserver(_ observer: RaftObserver) {
        loop.observers.deregister(observer)
    }
}
