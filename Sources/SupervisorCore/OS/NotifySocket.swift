#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// The `NOTIFY_SOCKET` graced gives its workers: a datagram socket with SO_PASSCRED (every
/// message carries the sender's pid and uid), bound to a file in a directory of its own.
///
/// A filesystem path, as systemd's own notify socket is: clients such as Ruby's
/// `sd_notify` gem do not understand abstract `@` names. The directory is graced's, mode
/// 0700; when workers run as another user, its group becomes theirs with mode 0710 and
/// the socket 0660 (sending needs write permission on it), so the workers' users can
/// reach it and nobody else can.
public final class NotifySocket {
    public let fd: Int32
    /// The value for `NOTIFY_SOCKET`, e.g. `/run/graced-notify.Ab12Cd/notify`.
    public let address: String
    private let directory: String

    /// Creates the directory under `base` (e.g. `$RUNTIME_DIRECTORY`, /run or /tmp).
    public init(base: String) throws(SystemError) {
        var template = Array("\(base)/graced-notify.XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard created != nil else { throw SystemError("mkdtemp(\(base)/graced-notify.XXXXXX)") }
        directory = String(nulTerminated: template)
        let path = directory + "/notify"
        guard var addr = UnixAddress.make(path) else {
            _ = rmdir(directory)
            throw SystemError("notify socket path \(path) is too long", errno: ENAMETOOLONG)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else {
            _ = rmdir(directory)
            throw SystemError("socket(notify)")
        }
        var one: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let error = SystemError("setsockopt(SO_PASSCRED)")
            FileDescriptor.close(fd)
            _ = rmdir(directory)
            throw error
        }
        // Bursts of READY=1/STATUS= from many workers must not be dropped.
        var size: Int32 = 1 << 20
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        let oldMask = umask(0o177)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, UnixAddress.length(path)) }
        }
        umask(oldMask)
        guard rc == 0 else {
            let error = SystemError("bind(\(path))")
            FileDescriptor.close(fd)
            _ = rmdir(directory)
            throw error
        }
        self.fd = fd
        self.address = path
    }

    /// Lets processes of group `gid` reach the socket (workers running as another user);
    /// nil: only graced's own user.
    public func allow(group gid: gid_t?) {
        if let gid, gid != getegid() {
            _ = chown(directory, geteuid(), gid)
            _ = chown(address, geteuid(), gid)
            _ = chmod(directory, 0o710)
            _ = chmod(address, 0o660)
        } else {
            _ = chmod(directory, 0o700)
            _ = chmod(address, 0o600)
        }
    }

    /// Removes the socket file and its directory (graced's own shutdown).
    public func remove() {
        _ = unlink(address)
        _ = rmdir(directory)
    }

    deinit {
        FileDescriptor.close(fd)
    }

    /// What one read of the socket found.
    public enum Reception {
        case datagram(NotifyDatagram)
        /// A datagram from a uid `accept` refused: read and thrown away, nothing decoded.
        case dropped
        /// Nothing is waiting.
        case empty
    }

    private var buffer = [CChar](repeating: 0, count: 4097)
    private var fds = [Int32](repeating: -1, count: 16)

    /// Reads one datagram. Those whose sender uid `accept` refuses cost one recvmsg and
    /// nothing more. Oversized datagrams are dropped (sd_notify messages are short;
    /// systemd caps them at 4 KiB too).
    public func receive(accept: (uid_t) -> Bool = { _ in true }) -> Reception {
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
                return .empty
            }
            guard accept(uid) else {
                received.forEach(FileDescriptor.close)
                return .dropped
            }
            let text = buffer.withUnsafeBytes { String(decoding: $0.prefix(Int(n)), as: UTF8.self) }
            return .datagram(NotifyDatagram(text: text, senderPID: pid, senderUID: uid, fds: received))
        }
    }
}
