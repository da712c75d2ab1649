#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// Creates listening sockets. Every fd is close-on-exec: a socket reaches a worker only
/// through the spawn helper's dup2.
enum ListeningSocket {
    /// Binds and listens. For a Unix path, a stale socket file (nobody accepting) is
    /// replaced; any other existing file is an error, never deleted.
    static func open(_ config: ListenerConfig) throws(ListenerError) -> Int32 {
        func fail(_ message: String) -> ListenerError {
            ListenerError(listener: config.name, address: config.address.description, message: message)
        }
        switch config.address {
        case .ipv4(let host, let port):
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw fail("not a numeric IPv4 address") }
            return try withUnsafeBytes(of: &addr) { raw throws(ListenerError) in
                try bindAndListen(family: AF_INET, address: raw, backlog: config.backlog, fail: fail)
            }
        case .ipv6(let host, let port):
            var addr = sockaddr_in6()
            addr.sin6_family = sa_family_t(AF_INET6)
            addr.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &addr.sin6_addr) == 1 else { throw fail("not a numeric IPv6 address") }
            return try withUnsafeBytes(of: &addr) { raw throws(ListenerError) in
                try bindAndListen(family: AF_INET6, address: raw, backlog: config.backlog, fail: fail)
            }
        case .unix(let path):
            guard var addr = UnixAddress.make(path) else { throw fail("path longer than 107 bytes") }
            try removeStaleSocket(path, fail: fail)
            let fd = try withUnsafeBytes(of: &addr) { raw throws(ListenerError) in
                try bindAndListen(family: AF_UNIX, address: raw, backlog: config.backlog, fail: fail)
            }
            // Like systemd's SocketMode= default: any local client may connect.
            _ = chmod(path, 0o666)
            return fd
        }
    }

    private static func bindAndListen(
        family: Int32, address: UnsafeRawBufferPointer, backlog: Int32, fail: (String) -> ListenerError
    ) throws(ListenerError) -> Int32 {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw fail(SystemError.describe(errno)) }
        if family != AF_UNIX {
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let sockaddrPointer = address.baseAddress!.assumingMemoryBound(to: sockaddr.self)
        if bind(fd, sockaddrPointer, socklen_t(address.count)) != 0 {
            let code = errno
            FileDescriptor.close(fd)
            throw fail(SystemError.describe(code) + hint(for: code))
        }
        if listen(fd, backlog) != 0 {
            let code = errno
            FileDescriptor.close(fd)
            throw fail("listen: " + SystemError.describe(code))
        }
        return fd
    }

    private static func hint(for code: Int32) -> String {
        switch code {
        case EADDRINUSE: return " (another process listens there; `ss -ltnp` shows which)"
        case EACCES: return " (ports below 1024 need root or CAP_NET_BIND_SERVICE)"
        case EADDRNOTAVAIL: return " (no local interface has this address)"
        case ENOENT: return " (the parent directory does not exist)"
        default: return ""
        }
    }

    private static func removeStaleSocket(_ path: String, fail: (String) -> ListenerError) throws(ListenerError) {
        switch UnixAddress.removeStaleSocket(path) {
        case nil: return
        case .notASocket: throw fail("\(path) exists and is not a socket; graced will not delete it")
        case .inUse: throw fail("Address already in use (a process accepts on \(path))")
        }
    }
}
