#if canImport(Glibc)
import Glibc
#endif

/// Keeps a shared listening socket listening. A worker that calls `shutdown(SHUT_RD)`
/// on its copy of the listener stops it for every process that holds it: the kernel
/// moves the socket out of LISTEN, resets the connections in its accept queue and
/// refuses new ones. `listen()` on graced's own fd puts it back at once.
///
/// Checked on Linux 6.18: this restores TCP listeners bound to an explicit port (the port
/// stays bound, SOCK_BINDPORT_LOCK). A listener bound to port 0 loses its port on
/// shutdown and comes back on another one. A Unix stream listener keeps reporting
/// SO_ACCEPTCONN = 1 after `shutdown(SHUT_RD)` but refuses connections, and `listen()`
/// does not repair it; that case is not detected here.
public enum ListenerGuard {
    public enum Outcome: Equatable, Sendable {
        /// It was listening.
        case listening
        /// It was not listening and listens again now.
        case relistened
        /// It was not listening and `listen()` failed, or SO_ACCEPTCONN could not be read.
        case failed(SystemError)
    }

    /// SO_ACCEPTCONN of `fd`: true while it listens; nil when it cannot be read.
    public static func isListening(_ fd: Int32) -> Bool? {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &length) == 0 else { return nil }
        return value != 0
    }

    /// Checks `fd` and listens again with `backlog` if it stopped listening.
    public static func check(_ fd: Int32, backlog: Int32) -> Outcome {
        switch isListening(fd) {
        case true?: return .listening
        case nil: return .failed(SystemError("getsockopt(SO_ACCEPTCONN)"))
        case false?:
            guard listen(fd, backlog) == 0 else { return .failed(SystemError("listen")) }
            return .relistened
        }
    }
}
