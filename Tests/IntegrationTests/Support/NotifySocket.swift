// A stand-in for systemd's notification socket: a datagram socket that collects the
// sd_notify(3) messages (READY=1, STATUS=..., STOPPING=1) sent to it. Pass `address` as
// NOTIFY_SOCKET to a worker, or to graced itself to test its Type=notify behaviour.

import Foundation

final class NotifySocket: @unchecked Sendable {
    /// The value for NOTIFY_SOCKET: a path, or "@name" for the abstract namespace.
    let address: String
    private let fd: Int32
    private var received: [String] = []
    private let lock = NSLock()

    /// Binds a datagram socket: in the abstract namespace (a unique "@graced-test-..."
    /// name) or, with `directory`, at `directory/notify.sock`.
    init(directory: String? = nil) throws {
        if let directory {
            address = directory + "/notify.sock"
            unlink(address)
        } else {
            address = "@graced-test-notify-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        }
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw TestSupportError("socket: \(errnoText())") }
        let socketAddress = try SocketAddress(unixPath: address)
        guard socketAddress.withSockaddr({ bind(fd, $0, $1) }) == 0 else {
            let text = errnoText()
            close(fd)
            throw TestSupportError("bind \(address): \(text)")
        }
    }

    deinit {
        close(fd)
        if !address.hasPrefix("@") { unlink(address) }
    }

    /// Reads every datagram waiting on the socket into `messages`.
    private func drain() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return }
            received.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
    }

    /// Every message received so far, one string per datagram ("READY=1\nSTATUS=...").
    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        drain()
        return received
    }

    /// Every assignment received so far, one per line of each datagram ("READY=1", ...).
    var assignments: [String] {
        messages.flatMap { $0.split(separator: "\n").map(String.init) }
    }

    /// Waits for a message that has a line equal to `assignment` (e.g. "READY=1") or,
    /// for an assignment ending in "=" (e.g. "STATUS="), a line starting with it.
    /// Returns that line. Throws on timeout with everything received.
    @discardableResult
    func waitFor(_ assignment: String, timeout: Duration = .seconds(20)) throws -> String {
        func match() -> String? {
            assignments.first { assignment.hasSuffix("=") ? $0.hasPrefix(assignment) : $0 == assignment }
        }
        var found: String?
        poll(timeout: timeout) {
            found = match()
            return found != nil
        }
        guard let found else {
            throw TestSupportError("no \(assignment) on \(address) within \(timeout); received: \(messages)")
        }
        return found
    }
}
