#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// Why a listener could not be opened, worded for the operator.
public struct ListenerError: Error, Equatable, Sendable, CustomStringConvertible {
    public var listener: String
    public var address: String
    public var message: String

    public var description: String { "listener \(listener): cannot listen on \(address): \(message)" }
}

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

/// sockaddr_un construction, shared by listeners, the control socket and its client.
public enum UnixAddress {
    /// nil when the path does not fit sun_path. A leading "@" means the abstract namespace.
    public static func make(_ path: String) -> sockaddr_un? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return addr
    }

    /// The socklen to pass for `path`: abstract names must not include trailing zeros.
    public static func length(_ path: String) -> socklen_t {
        socklen_t(MemoryLayout<sa_family_t>.size + path.utf8.count + (path.hasPrefix("@") ? 0 : 1))
    }

    /// Why a path cannot take a new socket.
    enum Occupied {
        /// A file, directory or symlink: never deleted.
        case notASocket
        /// A socket someone still accepts on.
        case inUse
    }

    /// Unlinks a socket file nobody accepts on any more (left by a crash); nil when the
    /// path is free now.
    static func removeStaleSocket(_ path: String) -> Occupied? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { return .notASocket }
        if isAccepting(path) { return .inUse }
        _ = unlink(path)
        return nil
    }

    /// True when a stream connect to `path` succeeds.
    static func isAccepting(_ path: String) -> Bool {
        guard var addr = make(path) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { FileDescriptor.close(fd) }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length(path)) }
        }
        return rc == 0
    }
}

/// Facts about an open socket, for `status` and for matching inherited sockets.
enum SocketInfo {
    /// The inode that /proc/PID/fd shows as `socket:[inode]`.
    static func inode(_ fd: Int32) -> UInt64? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }
}
