#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// Where log bytes go, and how to write them there without ever waiting for a reader.
///
/// graced must not set O_NONBLOCK on fd 2 itself: that flag belongs to the open file
/// description, which graced shares with whoever started it (the terminal, the shell
/// pipeline), and they would all suddenly get EAGAIN. Instead, by what fd 2 is:
///
/// - a socket (systemd's journal stream, `systemd-cat`): `send(MSG_DONTWAIT)` makes that
///   one call non-blocking;
/// - a pipe, FIFO or terminal: a private open file description of the same pipe or
///   terminal, opened through `/proc/self/fd/2` with O_NONBLOCK; where that open fails
///   (no /proc, a pipe created by another user), `poll()` with a zero timeout before
///   each write of at most PIPE_BUF bytes (256 on a terminal), which a non-full pipe
///   takes without blocking;
/// - a regular file or /dev/null: plain writes (they never wait for a reader);
/// - the journal's native socket: graced's own SOCK_DGRAM socket, connected (so that
///   EPOLLOUT means journald has room) and non-blocking, in place of
///   `sd_journal_sendv`, whose `sendmsg` blocks while journald's queue is full.
enum LogDestination {
    case socket(Int32)
    case nonBlocking(Int32, original: Int32)
    case polled(Int32, chunk: Int)
    case plain(Int32)
    case journal(Int32, path: String)

    enum WriteResult: Equatable {
        /// This many bytes went out (a datagram goes whole or not at all).
        case wrote(Int)
        /// Try again when ``pollFD`` is writable.
        case wouldBlock
        /// Lost for good (EPIPE, no journald, too large): drop the record.
        case failed(Int32)
    }

    /// What fd 2 (or any stream fd) is, and how to write to it.
    static func stream(fd: Int32) -> LogDestination {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return .plain(fd) }
        switch info.st_mode & S_IFMT {
        case S_IFSOCK:
            return .socket(fd)
        case S_IFIFO, S_IFCHR:
            let terminal = isatty(fd) == 1
            if (info.st_mode & S_IFMT) == S_IFCHR && !terminal { return .plain(fd) }  // /dev/null and friends
            if let own = reopenNonBlocking(fd) { return .nonBlocking(own, original: fd) }
            return .polled(fd, chunk: terminal ? 256 : Int(PIPE_BUF))
        default:
            return .plain(fd)
        }
    }

    /// A private, non-blocking, close-on-exec open file description of what `fd` refers to.
    static func reopenNonBlocking(_ fd: Int32) -> Int32? {
        let own = open("/proc/self/fd/\(fd)", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard own >= 0 else { return nil }
        // The same pipe or terminal, not some other file that took its name.
        var a = stat()
        var b = stat()
        guard fstat(fd, &a) == 0, fstat(own, &b) == 0, a.st_dev == b.st_dev, a.st_ino == b.st_ino,
              a.st_rdev == b.st_rdev else {
            Glibc.close(own)
            return nil
        }
        return own
    }

    /// journald's native socket, connected and non-blocking (a missing journald is
    /// retried at the next write).
    static func journal(path: String = "/run/systemd/journal/socket") -> LogDestination {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .plain(-1) }
        // As libsystemd: a large send buffer, so that big entries fit in one datagram.
        var size: Int32 = 8 * 1024 * 1024
        if setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, socklen_t(MemoryLayout<Int32>.size)) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        let destination = LogDestination.journal(fd, path: path)
        _ = destination.connectJournal()
        return destination
    }

    private func connectJournal() -> Bool {
        guard case .journal(let fd, let path) = self, var address = UnixAddress.make(path) else { return false }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, UnixAddress.length(path)) }
        }
        return rc == 0
    }

    /// The fd to wait on for EPOLLOUT while records are pending (nil: never pending).
    var pollFD: Int32? {
        switch self {
        case .socket(let fd), .nonBlocking(let fd, _), .polled(let fd, _), .journal(let fd, _): return fd
        case .plain: return nil
        }
    }

    /// One non-blocking attempt.
    func write(_ bytes: UnsafeRawBufferPointer) -> WriteResult {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return .wrote(0) }
        switch self {
        case .socket(let fd):
            return Self.result(retryingOnInterrupt { send(fd, base, bytes.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL)) })
        case .nonBlocking(let fd, _), .plain(let fd):
            return Self.result(retryingOnInterrupt { Glibc.write(fd, base, bytes.count) })
        case .polled(let fd, let chunk):
            var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let n = retryingOnInterrupt { poll(&ready, 1, 0) }
            if n == 0 { return .wouldBlock }
            if n < 0 { return .failed(errno) }
            if ready.revents & Int16(POLLOUT) == 0 { return .failed(EPIPE) }  // POLLERR/POLLHUP/POLLNVAL
            return Self.result(retryingOnInterrupt { Glibc.write(fd, base, min(bytes.count, chunk)) })
        case .journal(let fd, _):
            var result = Self.result(retryingOnInterrupt { send(fd, base, bytes.count, Int32(MSG_NOSIGNAL)) })
            // journald restarted (its socket is new) or was not there at start.
            if case .failed(let error) = result, error == ECONNREFUSED || error == ENOTCONN || error == ENOENT,
               connectJournal() {
                result = Self.result(retryingOnInterrupt { send(fd, base, bytes.count, Int32(MSG_NOSIGNAL)) })
            }
            return result
        }
    }

    private static func result(_ n: Int) -> WriteResult {
        if n >= 0 { return .wrote(n) }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS { return .wouldBlock }
        return .failed(errno)
    }

    /// Waits up to `milliseconds` for ``pollFD`` to become writable; false on timeout.
    func waitWritable(milliseconds: Int32) -> Bool {
        guard let fd = pollFD else { return true }
        var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        return retryingOnInterrupt { poll(&ready, 1, milliseconds) } > 0
    }

    /// Closes graced's own fds (not fd 2).
    func close() {
        switch self {
        case .nonBlocking(let fd, _), .journal(let fd, _): if fd >= 0 { Glibc.close(fd) }
        default: break
        }
    }

    var kind: String {
        switch self {
        case .socket: return "socket, send(MSG_DONTWAIT)"
        case .nonBlocking: return "private O_NONBLOCK open file description"
        case .polled: return "poll before write"
        case .plain: return "plain write"
        case .journal: return "journal datagram socket"
        }
    }
}
