#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// The blocking client side of the control socket, for `graced reload|status|stop`.
public final class ControlClient {
    public enum Failure: Error, CustomStringConvertible {
        /// Nobody answers at the path (exit status 3).
        case noSupervisor(String)
        /// The connection broke mid-conversation.
        case broken(String)
        /// No (complete) reply before the deadline; the request may still be under way.
        case timedOut

        public var description: String {
            switch self {
            case .noSupervisor(let text), .broken(let text): return text
            case .timedOut: return "no answer within the timeout"
            }
        }
    }

    private let fd: Int32
    private var buffer: [UInt8] = []

    public init(path: String) throws(Failure) {
        guard var addr = UnixAddress.make(path) else { throw .noSupervisor("control socket path \(path) is too long") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .noSupervisor("socket: \(SystemError.describe(errno))") }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, UnixAddress.length(path)) }
        }
        guard rc == 0 else {
            let code = errno
            Glibc.close(fd)
            throw .noSupervisor("no supervisor answered at \(path): \(SystemError.describe(code))")
        }
        self.fd = fd
        cachedPeerPID = nil
        cachedPeerPID = peerPID
    }

    private var cachedPeerPID: pid_t?

    deinit {
        Glibc.close(fd)
    }

    /// The pid of the supervisor at the other end (SO_PEERCRED at connect time).
    public var peerPID: pid_t? {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
        return graced_peer_credentials(fd, &pid, &uid, &gid) == 0 && pid > 0 ? pid : nil
    }

    /// Waits until the supervisor process is gone (or a zombie awaiting its parent).
    public func waitForPeerExit(timeout: Duration) {
        guard let pid = cachedPeerPID else { return }
        let deadline = MonotonicInstant.now() + timeout
        while MonotonicInstant.now() < deadline {
            guard let stat = FileContents.text("/proc/\(pid)/stat"),
                  let close = stat.lastIndex(of: ")") else { return }
            let state = stat[stat.index(after: close)...].split(separator: " ").first
            if state == "Z" || state == "X" { return }
            usleep(2000)
        }
    }

    public func send(_ request: ControlRequest) throws(Failure) {
        guard FileDescriptor.writeAll(fd, ControlProtocol.encodeRequest(request)) else {
            throw .broken("cannot send the request: \(SystemError.describe(errno))")
        }
    }

    /// The next reply line; nil when graced closed the connection.
    public func nextReply(timeout: Duration?) throws(Failure) -> ControlReply? {
        try nextReply(deadline: timeout.map { MonotonicInstant.now() + $0 })
    }

    /// The next reply line, waiting at most until `deadline` (nil: forever); nil when
    /// graced closed the connection. Throws `.timedOut` past the deadline.
    public func nextReply(deadline: MonotonicInstant?) throws(Failure) -> ControlReply? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                do {
                    return try ControlProtocol.decodeReply(line)
                } catch {
                    throw .broken("unreadable reply from graced (\(error)): \(String(decoding: line.prefix(500), as: UTF8.self))")
                }
            }
            var waitMilliseconds: Int32 = -1
            if let deadline {
                let left = deadline.since(.now())
                if left <= .zero { throw .timedOut }
                waitMilliseconds = Int32(clamping: left.milliseconds + 1)
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, waitMilliseconds)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = retryingOnInterrupt { read(fd, &chunk, chunk.count) }
            if n < 0 { throw .broken("connection to graced broke: \(SystemError.describe(errno))") }
            if n == 0 {
                if buffer.isEmpty { return nil }
                buffer.append(UInt8(ascii: "\n"))
                continue
            }
            buffer.append(contentsOf: chunk[0..<n])
        }
    }
}

extension ControlClient {
    /// `path` as an absolute path with symbolic links, `.` and `..` resolved (realpath),
    /// to compare configuration paths. A relative path is taken relative to `directory`
    /// (default: the current directory; `/proc/PID/cwd` for another process's). A path
    /// that does not exist (any more) is made absolute and normalized lexically.
    public static func canonicalPath(_ path: String, relativeTo directory: String? = nil) -> String {
        var absolute = path
        if !path.hasPrefix("/") {
            let base = directory.map { canonicalPath($0) } ?? currentDirectory()
            absolute = base + "/" + path
        }
        if let resolved = realpath(absolute, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        var parts: [Substring] = []
        for part in absolute.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The canonical form of a path that process `pid` was given (`graced status`'s
    /// `config`): a relative path is taken from that process's working directory, or,
    /// where /proc does not let us see it (another user's process), from ours.
    public static func canonicalPath(_ path: String, ofProcess pid: Int32) -> String {
        guard !path.hasPrefix("/") else { return canonicalPath(path) }
        let directory = "/proc/\(pid)/cwd"
        guard let resolved = realpath(directory, nil) else { return canonicalPath(path) }
        free(resolved)
        return canonicalPath(path, relativeTo: directory)
    }

    private static func currentDirectory() -> String {
        guard let cwd = getcwd(nil, 0) else { return "/" }
        defer { free(cwd) }
        return String(cString: cwd)
    }
}
