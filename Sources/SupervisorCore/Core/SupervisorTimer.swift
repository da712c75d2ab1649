/// Every deadline the state machines keep. The runtime maps each to one event-loop timer;
/// starting a timer that is already armed replaces it.
public enum SupervisorTimer: Hashable, Sendable {
    /// A reload waits at most this long for a draining generation to exit (max_draining).
    case drainSlot
    /// The new generation of a reload must be ready by then (`ready_timeout`).
    case readyTimeout(generation: Int)
    /// `ready_settle` after the new generation became ready.
    case settle(generation: Int)
    /// `stop_accept_timeout` after the old generation of a reload was told to stop.
    case stopAccept(generation: Int)
    /// A short grace after promotion or a worker's exit, then graced looks whether the
    /// serving generation still waits on every listener.
    case servingCheck
    /// A worker exited and processes of its group remain: wait a moment before calling
    /// them leftovers (a helper process may be on its way out).
    case leftoverGrace(leader: Int32)
    /// A restarted worker of the serving generation must be ready by then.
    case workerReadyTimeout(pid: Int32)
    /// The backoff before a slot of the serving generation is started again.
    case restart(generation: Int, slot: Int)
    /// `drain_timeout` of a generation told to stop.
    case drainTimeout(generation: Int)
    /// `drain_timeout` of the processes a worker left behind in its process group.
    case leftoverKill(leader: Int32)
    /// While graced stops and leftovers remain: look again whether they are gone.
    case leftoverPoll
}
