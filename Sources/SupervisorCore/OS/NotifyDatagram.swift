#if canImport(Glibc)
import Glibc
#endif

/// One datagram received on graced's notify socket.
public struct NotifyDatagram: Sendable {
    public var text: String
    /// The sender's pid as the kernel vouches for it (SCM_CREDENTIALS); 0 if none.
    public var senderPID: pid_t
    public var senderUID: uid_t
    /// fds passed along (SCM_RIGHTS); graced owns and must close them.
    public var fds: [Int32]
}
