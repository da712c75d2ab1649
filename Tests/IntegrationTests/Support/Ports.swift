// Free TCP ports and temporary directories, one per test so that tests can run in
// parallel without stepping on each other.

import Foundation

/// Ports handed out by this test process, never handed out twice.
private let portsHandedOut = Locked<Set<UInt16>>([])

/// A TCP port that is free right now on `host` ("127.0.0.1" or "::1"): the kernel picks
/// one for a bind to port 0, the socket is closed and the port returned. Nothing stops
/// another process from taking it afterwards, but this process never gets it twice.
func freeTCPPort(host: String = "127.0.0.1") -> UInt16 {
    while true {
        guard let port = try? kernelChosenPort(host: host) else {
            preconditionFailure("cannot bind a TCP socket to \(host):0")
        }
        let isNew = portsHandedOut.withLock { $0.insert(port).inserted }
        if isNew { return port }
    }
}

/// Binds a TCP socket to host:0, returns the port the kernel chose, closes the socket.
private func kernelChosenPort(host: String) throws -> UInt16 {
    let address = try SocketAddress(host: host, port: 0)
    let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestSupportError("socket: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard address.withSockaddr({ bind(fd, $0, $1) }) == 0 else {
        throw TestSupportError("bind \(host):0: \(String(cString: strerror(errno)))")
    }
    var storage = sockaddr_storage()
    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = withUnsafeMutablePointer(to: &storage) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    // sin_port and sin6_port sit at the same offset, in network byte order.
    let port = withUnsafeBytes(of: storage) { $0.load(fromByteOffset: 2, as: UInt16.self) }
    return UInt16(bigEndian: port)
}

/// A directory under /tmp that exists for the lifetime of this object and is removed
/// (with everything in it) by `remove()` or deinit. Paths stay short, because Unix
/// socket paths are limited to 107 bytes.
final class TemporaryDirectory: @unchecked Sendable {
    /// Absolute path of the directory.
    let path: String

    /// Creates /tmp/graced-PREFIX-XXXXXX.
    init(prefix: String = "test") throws {
        var template = Array("/tmp/graced-\(prefix)-XXXXXX".utf8CString)
        guard let created = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestSupportError("mkdtemp: \(String(cString: strerror(errno)))")
        }
        path = String(cString: created)
    }

    /// The path of `name` inside the directory (nothing is created).
    func file(_ name: String) -> String {
        path + "/" + name
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let target = file(name)
        try contents.write(toFile: target, atomically: true, encoding: .utf8)
        return target
    }

    /// Removes the directory and everything in it.
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    deinit { remove() }
}
