#if canImport(Glibc)
import Glibc
#endif

/// kill(2), ignoring ESRCH: the process may have ended a moment ago, and its reaping
/// will report it.
enum ProcessSignaller {
    @discardableResult
    static func send(_ signal: Signal, to pid: pid_t) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, signal.number) == 0
    }

    /// Signals every process of the group whose leader is `leader` (workers run in their
    /// own session, so the group is the worker and its descendants). The kernel does not
    /// reuse a pid while a group of that id exists, so this never hits a stranger.
    @discardableResult
    static func sendToGroup(_ signal: Signal, leader: pid_t) -> Bool {
        guard leader > 1 else { return false }
        return kill(-leader, signal.number) == 0
    }

    /// True while any process of that group is alive (zombies of it excepted once reaped).
    static func groupExists(leader: pid_t) -> Bool {
        guard leader > 1 else { return false }
        return kill(-leader, 0) == 0 || errno == EPERM
    }
}
