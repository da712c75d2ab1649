#if canImport(Glibc)
import Glibc
#endif

/// One listening socket graced holds. Workers get duplicates of `fd`; the socket itself
/// lives as long as graced holds it, across any number of generations.
public final class Listener {
    /// Changes only when a reload gives the same address another name (the socket stays).
    public internal(set) var name: String
    public let address: ListenerAddress
    public let fd: Int32
    public let origin: ListenerOrigin
    public let inode: UInt64?
    /// Generations whose workers were given this socket and have not finished.
    var users: Set<Int> = []
    /// Removed from the config by a reload: closed once its last user has drained.
    var retired = false

    /// The backlog to listen with again if a worker stopped the socket (``ListenerGuard``).
    let backlog: Int32

    init(name: String, address: ListenerAddress, fd: Int32, origin: ListenerOrigin, backlog: Int32 = 4096) {
        self.backlog = backlog
        self.name = name
        self.address = address
        self.fd = fd
        self.origin = origin
        self.inode = SocketInfo.inode(fd)
    }
}
