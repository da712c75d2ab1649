#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended, as waitpid reports it.
public enum ExitStatus: Equatable, Sendable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        // WIFEXITED/WEXITSTATUS/WTERMSIG are macros Swift does not import.
        let signal = status & 0x7f
        if signal == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(signal)
        }
    }

    public var isSuccess: Bool { self == .exited(0) }

    /// "exited 0", "exited 3", "killed by SIGKILL".
    public var description: String {
        switch self {
        case .exited(let code): return "exited \(code)"
        case .signaled(let signal): return "killed by \(Signal(number: signal))"
        }
    }
}

/// Reaps every child that has ended. Called when SIGCHLD arrives; since SIGCHLDs merge,
/// it loops until no ended child is left, so no zombie survives.
enum ChildReaper {
    static func reapAll() -> [(pid: pid_t, status: ExitStatus)] {
        var reaped: [(pid_t, ExitStatus)] = []
        while true {
            var status: Int32 = 0
            let pid = retryingOnInterrupt { waitpid(-1, &status, WNOHANG) }
            if pid <= 0 { break }
            reaped.append((pid, ExitStatus(waitStatus: status)))
        }
        return reaped
    }
}

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
