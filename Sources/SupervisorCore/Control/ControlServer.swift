#if canImport(Glibc)
import Glibc
#endif
import CSystemd
import Logging

/// What the control server asks of the supervisor. Called on the loop thread.
protocol ControlHandler: AnyObject {
    func handle(_ request: ControlRequest, from connection: ControlConnection)
}

/// Why the control socket could not be opened.
public struct ControlSocketError: Error, CustomStringConvertible {
    public var description: String
    /// A supervisor already answers on the path.
    public var inUse = false
}

/// The control socket (graced-interface.md §7): a Unix stream socket, mode 0600 (0660
/// with `control_group`), peers checked with SO_PEERCRED, newline-delimited JSON.
///
/// Connections are non-blocking and served by the event loop, so a slow or silent
/// client never holds up the supervisor.
final class ControlServer {
    let path: String
    private let fd: Int32
    private let loop: EventLoop
    private let logger: Logger
    private let allowedGroup: gid_t?
    weak var handler: ControlHandler?
    private var connections: [Int32: ControlConnection] = [:]
    /// Closing twice would close an fd number that may belong to something else by then.
    private var closed = false
    static let maxConnections = 256
    static let idleTimeout: Duration = .seconds(5)

    init(path: String, group: String?, loop: EventLoop, logger: Logger) throws(ControlSocketError) {
        self.path = path
        self.loop = loop
        self.logger = logger
        if let group {
            guard let gid = UserDatabase.groupID(named: group) else {
                throw ControlSocketError(description: "control_group '\(group)' does not exist")
            }
            allowedGroup = gid
        } else {
            allowedGroup = nil
        }
        try ControlServer.checkParentDirectory(of: path)
        guard var addr = UnixAddress.make(path) else {
            throw ControlSocketError(description: "control socket path \(path) is longer than 107 bytes")
        }
        switch UnixAddress.removeStaleSocket(path) {
        case nil: break
        case .notASocket: throw ControlSocketError(description: "\(path) exists and is not a socket (a symlink or file is never replaced)")
        case .inUse: throw ControlSocketError(description: "another graced already answers on \(path)", inUse: true)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw ControlSocketError(description: "control socket: \(SystemError("socket"))") }
        // The umask makes the socket 0600 from its creation: no window where others may connect.
        let oldMask = umask(0o177)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, UnixAddress.length(path)) }
        }
        let bindErrno = errno
        umask(oldMask)
        guard rc == 0, listen(fd, 64) == 0 else {
            FileDescriptor.close(fd)
            throw ControlSocketError(description: "cannot listen on control socket \(path): \(SystemError.describe(rc == 0 ? errno : bindErrno))")
        }
        if let allowedGroup {
            _ = chown(path, geteuid(), allowedGroup)
            _ = chmod(path, 0o660)
        }
        self.fd = fd
        do {
            try loop.register(fd: fd) { [unowned self] _ in acceptClients() }
        } catch {
            FileDescriptor.close(fd)
            unlink(path)
            throw ControlSocketError(description: "control socket: \(error)")
        }
    }

    /// Refuses a directory where another user could swap the socket for something else.
    static func checkParentDirectory(of path: String) throws(ControlSocketError) {
        guard path.hasPrefix("/") else { throw ControlSocketError(description: "control socket path \(path) is not absolute") }
        let parent = String(path[..<path.lastIndex(of: "/")!])
        let directory = parent.isEmpty ? "/" : parent
        var info = stat()
        if stat(directory, &info) != 0 && errno == ENOENT {
            // As systemd's RuntimeDirectory= would: /run/graced outside systemd.
            let created = mkdir(directory, 0o755) == 0 || errno == EEXIST
            guard created else {
                throw ControlSocketError(description: "cannot create \(directory) for the control socket: \(SystemError.describe(errno))")
            }
        }
        guard stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw ControlSocketError(description: "the directory of the control socket, \(directory), does not exist")
        }
        let worldWritable = info.st_mode & S_IWOTH != 0
        let sticky = info.st_mode & S_ISVTX != 0
        if worldWritable && !sticky {
            throw ControlSocketError(description: "\(directory) is world-writable without the sticky bit; refusing to put the control socket there")
        }
        if info.st_uid != 0 && info.st_uid != geteuid() && !sticky {
            throw ControlSocketError(description: "\(directory) belongs to another user (uid \(info.st_uid)); refusing to put the control socket there")
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        // `graced stop` clients keep their connection: the kernel closes it when graced exits.
        for connection in connections.values where !connection.keepOpenUntilExit { drop(connection) }
        loop.unregister(fd: fd)
        FileDescriptor.close(fd)
        unlink(path)
    }

    private func acceptClients() {
        while true {
            let client = graced_accept_cloexec_nonblock(fd)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM {
                    // Level-triggered epoll would spin on the pending connection: pause accepting.
                    logger.warning("control socket: cannot accept: \(SystemError.describe(errno)); pausing for 100ms", metadata: ["event": "control-accept-failed"])
                    loop.unregister(fd: fd)
                    loop.schedule(after: .milliseconds(100)) { [unowned self] in
                        try? loop.register(fd: fd) { [unowned self] _ in acceptClients() }
                    }
                }
                return
            }
            admit(client)
        }
    }

    private func admit(_ client: Int32) {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
        guard graced_peer_credentials(client, &pid, &uid, &gid) == 0 else {
            FileDescriptor.close(client)
            return
        }
        guard isAllowed(pid: pid, uid: uid, gid: gid) else {
            logger.warning("control socket: refused pid \(pid) uid \(uid): not root, graced's user or a member of control_group", metadata: ["event": "control-refused"])
            FileDescriptor.writeAll(client, ControlProtocol.encode(ControlReply.refusal("permission denied: uid \(uid) may not control graced (root, uid \(geteuid())\(allowedGroup.map { " or group \($0)" } ?? "") only)")))
            FileDescriptor.close(client)
            return
        }
        guard connections.count < ControlServer.maxConnections else {
            FileDescriptor.writeAll(client, ControlProtocol.encode(ControlReply.refusal("too many control connections (\(ControlServer.maxConnections)); try again")))
            FileDescriptor.close(client)
            return
        }
        let connection = ControlConnection(fd: client, peerPID: pid, peerUID: uid)
        do {
            try loop.register(fd: client) { [unowned self, unowned connection] events in service(connection, events: events) }
        } catch {
            FileDescriptor.close(client)
            return
        }
        connections[client] = connection
        connection.server = self
        connection.idleTimer = loop.schedule(after: ControlServer.idleTimeout) { [unowned self, weak connection] in
            guard let connection, connection.request == nil else { return }
            connection.send(.failure("no request within \(ControlServer.idleTimeout.shortDescription); closing"))
            drop(connection)
        }
    }

    private func isAllowed(pid: pid_t, uid: uid_t, gid: gid_t) -> Bool {
        if uid == 0 || uid == geteuid() { return true }
        guard let allowedGroup else { return false }
        if gid == allowedGroup { return true }
        // SO_PEERCRED carries only the primary group; the rest are in /proc.
        guard let status = FileContents.text("/proc/\(pid)/status"),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Groups:") })
        else { return false }
        return line.dropFirst("Groups:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).contains { gid_t($0) == allowedGroup }
    }

    private func service(_ connection: ControlConnection, events: UInt32) {
        if events & EPOLLOUT.rawValue != 0 {
            connection.flush()
        }
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0, !connection.closed {
            readRequest(connection)
        }
        // The handler may have finished and closed it: its fd number may already be another's.
        guard !connection.closed else { return }
        if connection.closeWhenFlushed && connection.pendingOutput.isEmpty {
            drop(connection)
            return
        }
        loop.modify(fd: connection.fd, events: EPOLLIN.rawValue | (connection.pendingOutput.isEmpty ? 0 : EPOLLOUT.rawValue))
    }

    private func readRequest(_ connection: ControlConnection) {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while !connection.closed {
            let n = buffer.withUnsafeMutableBytes { raw in retryingOnInterrupt { read(connection.fd, raw.baseAddress!, raw.count) } }
            if n > 0 {
                guard connection.request == nil else { continue }  // one request per connection; ignore the rest
                connection.input.append(contentsOf: buffer[0..<n])
                if let newline = connection.input.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = Array(connection.input[..<newline])
                    connection.input = []
                    dispatch(line, on: connection)
                } else if connection.input.count > ControlProtocol.maxRequestBytes {
                    connection.input = []
                    connection.request = .init(command: .status)  // stop collecting
                    connection.send(.failure("request larger than \(ControlProtocol.maxRequestBytes) bytes"))
                    connection.closeWhenFlushed = true
                }
                continue
            }
            if n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) {
                // The client hung up. A running reload goes on; its verdict goes to the log.
                drop(connection)
            }
            return
        }
    }

    private func dispatch(_ line: [UInt8], on connection: ControlConnection) {
        loop.cancel(connection.idleTimer)
        do {
            let request = try ControlProtocol.decodeRequest(line)
            connection.request = request
            handler?.handle(request, from: connection)
        } catch {
            connection.request = .init(command: .status)
            connection.send(.failure("bad request: \(error)"))
            connection.closeWhenFlushed = true
        }
    }

    func drop(_ connection: ControlConnection) {
        guard connections.removeValue(forKey: connection.fd) != nil else { return }
        loop.cancel(connection.idleTimer)
        loop.unregister(fd: connection.fd)
        FileDescriptor.close(connection.fd)
        connection.closed = true
    }

    /// Called after a connection queued output outside of its own event.
    func outputQueued(_ connection: ControlConnection) {
        guard !connection.closed else { return }
        if connection.closeWhenFlushed && connection.pendingOutput.isEmpty {
            drop(connection)
            return
        }
        loop.modify(fd: connection.fd, events: EPOLLIN.rawValue | (connection.pendingOutput.isEmpty ? 0 : EPOLLOUT.rawValue))
    }
}

/// One client of the control socket.
final class ControlConnection {
    let fd: Int32
    let peerPID: pid_t
    let peerUID: uid_t
    var input: [UInt8] = []
    var request: ControlRequest?
    var pendingOutput: [UInt8] = []
    var closeWhenFlushed = false
    /// Closed only by graced's exit (for `graced stop`).
    var keepOpenUntilExit = false
    var closed = false
    var idleTimer: EventLoop.TimerID?
    weak var server: ControlServer?

    init(fd: Int32, peerPID: pid_t, peerUID: uid_t) {
        self.fd = fd
        self.peerPID = peerPID
        self.peerUID = peerUID
    }

    /// Queues a reply line and writes what the socket takes now.
    func send(_ reply: ControlReply) {
        guard !closed else { return }
        pendingOutput += ControlProtocol.encode(reply)
        flush()
        server?.outputQueued(self)
    }

    /// Sends the final line and closes once it is written.
    func finish(_ reply: ControlReply) {
        guard !closed else { return }
        closeWhenFlushed = true
        send(reply)
    }

    func flush() {
        while !pendingOutput.isEmpty {
            let n = pendingOutput.withUnsafeBytes { raw in
                retryingOnInterrupt { write(fd, raw.baseAddress!, raw.count) }
            }
            if n > 0 {
                pendingOutput.removeFirst(n)
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
            pendingOutput = []  // the peer is gone
            return
        }
    }
}
