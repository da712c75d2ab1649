// Plain POSIX client sockets with deadlines (TCP over IPv4/IPv6 and Unix stream
// sockets), the transport under HTTPClient.swift. No URLSession: the tests need exact
// control over connections and must see refused or reset connections as they are.

import Foundation

/// Where to connect.
enum Endpoint: CustomStringConvertible, Sendable {
    /// A numeric IPv4 or IPv6 address ("127.0.0.1", "::1") and a port.
    case tcp(host: String, port: UInt16)
    /// A Unix stream socket path ("@name" for the abstract namespace).
    case unix(path: String)

    var description: String {
        switch self {
        case let .tcp(host, port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case let .unix(path): return "unix:\(path)"
        }
    }
}

/// A socket address built from an Endpoint.
struct SocketAddress {
    private var storage = sockaddr_storage()
    private var length: socklen_t = 0
    /// AF_INET, AF_INET6 or AF_UNIX.
    private(set) var family: Int32 = 0

    /// A numeric IPv4 or IPv6 address and port.
    init(host: String, port: UInt16) throws {
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            set(v4, family: AF_INET)
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            set(v6, family: AF_INET6)
        } else {
            throw TestSupportError("not a numeric IP address: \(host)")
        }
    }

    /// A Unix socket path; a leading "@" means the abstract namespace.
    init(unixPath: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(unixPath.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw TestSupportError("unix socket path too long: \(unixPath)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        set(address, family: AF_UNIX)
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
    }

    /// The address of an endpoint.
    init(_ endpoint: Endpoint) throws {
        switch endpoint {
        case let .tcp(host, port): try self.init(host: host, port: port)
        case let .unix(path): try self.init(unixPath: path)
        }
    }

    private mutating func set<T>(_ address: T, family: Int32) {
        withUnsafeMutableBytes(of: &storage) { target in
            withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
        }
        length = socklen_t(MemoryLayout<T>.size)
        self.family = family
    }

    /// Calls `body` with the sockaddr pointer and length (for bind/connect).
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) {
            body($0.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }
}

/// The text of errno, e.g. "Connection refused".
func errnoText(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}

/// A connected, non-blocking client stream socket; every operation waits with poll(2)
/// at most until the deadline it is given. Closed on deinit.
final class ClientSocket {
    let fd: Int32
    let endpoint: Endpoint

    /// Connects to `endpoint`; throws on refusal, reset or timeout.
    init(connectingTo endpoint: Endpoint, deadline: Deadline) throws {
        let address = try SocketAddress(endpoint)
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        fd = socket(address.family, type, 0)
        guard fd >= 0 else { throw TestSupportError("socket: \(errnoText())") }
        self.endpoint = endpoint
        if address.withSockaddr({ connect(fd, $0, $1) }) != 0 {
            guard errno == EINPROGRESS || errno == EAGAIN else {
                throw TestSupportError("connect \(endpoint): \(errnoText())")
            }
            try wait(for: Int16(POLLOUT), deadline: deadline, doing: "connect")
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
            guard error == 0 else { throw TestSupportError("connect \(endpoint): \(errnoText(error))") }
        }
    }

    deinit { close(fd) }

    /// Waits until the socket is readable or writable.
    private func wait(for events: Int16, deadline: Deadline, doing what: String) throws {
        while true {
            let milliseconds = Int32(min(deadline.remaining.seconds * 1000, 3_600_000).rounded(.up))
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let ready = Glibc.poll(&entry, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { throw TestSupportError("poll \(endpoint): \(errnoText())") }
            throw TestSupportError("\(what) \(endpoint): timed out")
        }
    }

    /// Sends all of `bytes`.
    func send(_ bytes: [UInt8], deadline: Deadline) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n >= 0 { offset += n; continue }
            guard errno == EAGAIN || errno == EINTR else { throw TestSupportError("send \(endpoint): \(errnoText())") }
            try wait(for: Int16(POLLOUT), deadline: deadline, doing: "send")
        }
    }

    /// Receives what is available (waiting for at least one byte); empty means EOF.
    func receive(deadline: Deadline, maximum: Int = 65536) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maximum)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n >= 0 { return Array(buffer[0..<n]) }
            guard errno == EAGAIN || errno == EINTR else { throw TestSupportError("recv \(endpoint): \(errnoText())") }
            try wait(for: Int16(POLLIN), deadline: deadline, doing: "receive")
        }
    }

    /// True if the peer has closed its side (a read would return EOF right now), without
    /// consuming data. False while the connection is open and idle.
    func peerHasClosed() -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)
    }
}
