#if canImport(Glibc)
import Glibc
#endif

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
