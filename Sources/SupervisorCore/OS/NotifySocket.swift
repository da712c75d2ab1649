#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// One datagram received on graced's notify socket.
public struct NotifyDatagram: Sendable {
    public var text: String
    /// The sender's pid as the kernel vouches for it (SCM_CREDENTIALS); 0 if none.
    public var senderPID: pid_t
    public var senderUID: uid_t
    /// fds passed along (SCM_RIGHTS); graced owns and must close them.
    public var fds: [Int32]
}

/// The `NOTIFY_SOCKET` graced gives its workers: a datagram socket in the abstract
/// namespace (no file to clean up, reachable by a worker that runs as another user),
/// with SO_PASSCRED so every message carries the sender's pid.
public final class NotifySocket {
    public let fd: Int32
    /// The value for `NOTIFY_SOCKET`, e.g. `@graced/4242/9f3c/notify`.
    public let address: String

    public init() throws(SystemError) {
        let random = graced_random_u32()
        let name = "@graced/\(getpid())/\(String(random, radix: 16))/notify"
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket(notify)") }
        var one: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let error = SystemError("setsockopt(SO_PASSCRED)")
            FileDescriptor.close(fd)
            throw error
        }
        // Bursts of READY=1/STATUS= from many workers must not be dropped.
        var size: Int32 = 1 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var addr = UnixAddress.make(name)!
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, UnixAddress.length(name)) }
        }
        guard rc == 0 else {
            let error = SystemError("bind(\(name))")
            FileDescriptor.close(fd)
            throw error
        }
        self.fd = fd
        self.address = name
    }

    deinit {
        FileDescriptor.close(fd)
    }

    /// The next datagram, or nil when none is waiting. Oversized datagrams are dropped
    /// (sd_notify messages are short; systemd caps them at 4 KiB too).
    public func receive() -> NotifyDatagram? {
        var buffer = [CChar](repeating: 0, count: 4097)
        var fds = [Int32](repeating: -1, count: 16)
        while true {
            var pid: pid_t = 0
            var uid: uid_t = 0
            var gid: gid_t = 0
            var nfds: Int32 = 0
            let n = graced_recv_notify(fd, &buffer, 4096, &pid, &uid, &gid, &fds, 16, &nfds)
            let received = Array(fds[0..<Int(nfds)])
            if n == -2 {
                received.forEach(FileDescriptor.close)
                continue
            }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            let bytes = buffer[0..<Int(n)].map { UInt8(bitPattern: $0) }
            return NotifyDatagram(text: String(decoding: bytes, as: UTF8.self), senderPID: pid, senderUID: uid, fds: received)
        }
    }
}

/// `KEY=VALUE` lines of an sd_notify message, split on bytes as systemd does (a `\r\n`
/// is not a line break to systemd, and must not hide the next line from graced either).
public enum NotifyMessage {
    public static func parse(_ text: String) -> [(key: String, value: String)] {
        Array(text.utf8).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).compactMap { line in
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { return nil }
            return (String(decoding: line[..<equals], as: UTF8.self), String(decoding: line[(equals + 1)...], as: UTF8.self))
        }
    }
}
