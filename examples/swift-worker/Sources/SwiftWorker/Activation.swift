// Socket activation (sd_listen_fds_with_names(3)) and sd_notify(3), with Glibc alone:
// no libsystemd, no Foundation.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The first fd of socket activation (SD_LISTEN_FDS_START).
let listenFDsStart: CInt = 3

/// One line to stderr (graced reads worker output line by line).
func log(_ message: String) {
    fputs(message + "\n", stderr)
}

/// Refuses to start: a message on stderr, exit status 2.
func failStart(_ message: String) -> Never {
    log("worker \(getpid()): \(message)")
    exit(2)
}

/// An environment variable, or nil.
func environment(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

/// Every environment variable as (name, value), in environ order.
func environmentPairs() -> [(String, String)] {
    var pairs: [(String, String)] = []
    var entry: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
    while let current = entry, let pointer = current.pointee {
        let text = String(cString: pointer)
        if let equals = text.firstIndex(of: "=") {
            pairs.append((String(text[..<equals]), String(text[text.index(after: equals)...])))
        }
        entry = current + 1
    }
    return pairs
}

/// (count, names) as sd_listen_fds_with_names(3) reads them: (0, []) unless LISTEN_PID is
/// our pid and LISTEN_FDS a positive number; missing names are "unknown".
func activationNames() -> (count: Int, names: [String]) {
    guard let listenPID = environment("LISTEN_PID"), let listenFDs = environment("LISTEN_FDS") else {
        return (0, [])
    }
    guard let pid = Int(listenPID), let count = Int(listenFDs) else {
        log("worker \(getpid()): invalid LISTEN_PID=\(listenPID) or LISTEN_FDS=\(listenFDs)")
        return (0, [])
    }
    guard pid == Int(getpid()) else {
        log("worker \(getpid()): LISTEN_PID=\(listenPID) is not my pid, ignoring LISTEN_FDS")
        return (0, [])
    }
    guard count > 0 else { return (0, []) }
    var names = (environment("LISTEN_FDNAMES") ?? "").split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    if names == [""] { names = [] }
    if names.count != count {
        names = Array((names + Array(repeating: "unknown", count: count)).prefix(count))
    }
    return (count, names)
}

/// A listening socket passed by socket activation, described once at start (its address
/// does not change, and after the hand-over to SwiftNIO the fd belongs to NIO).
struct Listener {
    var name: String
    var fd: CInt
    /// "inet", "inet6" or "unix".
    var family: String
    /// "127.0.0.1:8080", "[::1]:8080", "/path", "@abstract".
    var address: String?
    /// The backlog the supervisor gave the socket (TCP: from TCP_INFO), restored after
    /// SwiftNIO's withBoundSocket, which calls listen() again with its own default.
    var backlog: CInt?
}

/// Checks that `fd` is a listening stream socket and describes it; refuses to start otherwise.
func adoptListener(fd: CInt, name: String) -> Listener {
    var info = stat()
    guard fstat(fd, &info) == 0 else {
        failStart("fd \(fd) (\(name)) is not open: \(String(cString: strerror(errno)))")
    }
    guard (info.st_mode & S_IFMT) == S_IFSOCK else { failStart("fd \(fd) (\(name)) is not a socket") }
    guard socketOption(fd, SOL_SOCKET, SO_TYPE) == CInt(SOCK_STREAM.rawValue),
          socketOption(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1 else {
        failStart("fd \(fd) (\(name)) is not a listening stream socket")
    }
    // sd_listen_fds(3) sets FD_CLOEXEC too: nothing we might start inherits the listener.
    _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC)
    let (family, address) = socketAddress(fd)
    var backlog: CInt?
    if family == "inet" || family == "inet6" {
        // For a listening socket, Linux reports sk_max_ack_backlog in tcpi_sacked.
        var tcp = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        if getsockopt(fd, CInt(IPPROTO_TCP), TCP_INFO, &tcp, &length) == 0, tcp.tcpi_sacked > 0 {
            backlog = CInt(clamping: tcp.tcpi_sacked)
        }
    }
    return Listener(name: name, fd: fd, family: family, address: address, backlog: backlog)
}

private func socketOption(_ fd: CInt, _ level: CInt, _ option: CInt) -> CInt? {
    var value: CInt = 0
    var length = socklen_t(MemoryLayout<CInt>.size)
    return getsockopt(fd, level, option, &value, &length) == 0 ? value : nil
}

/// (family, address) of a socket's local address, as examples/worker.py prints them.
private func socketAddress(_ fd: CInt) -> (String, String?) {
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    let ok = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
    }
    guard ok else { return ("unknown", nil) }
    switch CInt(storage.ss_family) {
    case AF_INET:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var sin = address.pointee.sin_addr
                var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                inet_ntop(AF_INET, &sin, &text, socklen_t(text.count))
                return ("inet", "\(String(cString: text)):\(UInt16(bigEndian: address.pointee.sin_port))")
            }
        }
    case AF_INET6:
        return withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                var sin6 = address.pointee.sin6_addr
                var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                inet_ntop(AF_INET6, &sin6, &text, socklen_t(text.count))
                return ("inet6", "[\(String(cString: text))]:\(UInt16(bigEndian: address.pointee.sin6_port))")
            }
        }
    case AF_UNIX:
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let pathLength = Int(length) - pathOffset
        guard pathLength > 0 else { return ("unix", nil) }
        let bytes = withUnsafeBytes(of: &storage) { Array($0[pathOffset..<(pathOffset + pathLength)]) }
        if bytes[0] == 0 {   // abstract namespace
            return ("unix", "@" + String(decoding: bytes.dropFirst(), as: UTF8.self))
        }
        return ("unix", String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
    default:
        return (String(storage.ss_family), nil)
    }
}

/// Sends `state` ("READY=1\nSTATUS=…") to $NOTIFY_SOCKET as one datagram, like sd_notify(3):
/// a filesystem path or an abstract "@name". False if unset or failed.
@discardableResult
func sdNotify(_ state: String) -> Bool {
    guard let address = environment("NOTIFY_SOCKET"), !address.isEmpty else { return false }
    var path = Array(address.utf8)
    if path[0] == UInt8(ascii: "@") {
        path[0] = 0   // abstract namespace: a leading NUL, no terminating one
    } else if path[0] != UInt8(ascii: "/") {
        log("worker \(getpid()): unsupported NOTIFY_SOCKET \(address)")
        return false
    }
    var socketAddress = sockaddr_un()
    socketAddress.sun_family = sa_family_t(AF_UNIX)
    let capacity = MemoryLayout.size(ofValue: socketAddress.sun_path)
    guard path.count < capacity else {
        log("worker \(getpid()): NOTIFY_SOCKET path too long: \(address)")
        return false
    }
    withUnsafeMutableBytes(of: &socketAddress.sun_path) { buffer in
        buffer.copyBytes(from: path)
    }
    let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
    // A filesystem path is NUL-terminated (the struct is zeroed); an abstract name is not.
    let length = socklen_t(pathOffset + path.count + (path[0] == 0 ? 0 : 1))

    let fd = socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else {
        log("worker \(getpid()): sd_notify: socket: \(String(cString: strerror(errno)))")
        return false
    }
    defer { close(fd) }
    let message = Array(state.utf8)
    let sent = withUnsafePointer(to: &socketAddress) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
            message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, CInt(MSG_NOSIGNAL), address, length) }
        }
    }
    guard sent == message.count else {
        log("worker \(getpid()): sd_notify(\(state.split(separator: "\n").joined(separator: "\\n"))) failed: "
            + String(cString: strerror(errno)))
        return false
    }
    return true
}
