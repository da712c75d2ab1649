// Test-owned stand-ins for the parts of systemd that graced talks to, for
// SystemdTests.swift (graced-interface.md §5 and §6):
//
// - ServiceManagerSocket: the notify socket of a service manager. Unlike NotifySocket it
//   reads continuously on a thread of its own (the kernel queues only
//   net.unix.max_dgram_qlen datagrams, 10 here, and a blocking sd_notify would stall
//   graced), timestamps every datagram, and receives the sender's credentials
//   (SO_PASSCRED) and passed fds (SCM_RIGHTS, the fd store) with recvmsg.
// - SocketPassingLauncher: a python3 launcher that binds sockets and hands them to graced
//   at fds 3... with LISTEN_FDS / LISTEN_FDNAMES / LISTEN_PID set to graced's own pid, once
//   (exec) or again and again (fork + exec per start, holding the sockets meanwhile, as
//   systemd does with its fd store).
// - JournalCapture: runs a command in a private mount namespace where
//   /run/systemd/journal/socket is a test-owned datagram socket, and records every entry
//   sd_journal_sendv sends there (plain datagrams and memfd-passed ones).
// - /proc/net/tcp reading and small fd inspection helpers.

import Foundation

// MARK: - Service manager notify socket

/// One sd_notify datagram as the service manager received it.
struct ServiceManagerMessage: CustomStringConvertible, Sendable {
    /// The datagram verbatim ("READY=1\nSTATUS=...").
    var text: String
    /// The sender's pid from SCM_CREDENTIALS (0 if none came).
    var senderPID: Int
    /// fds that came with it (SCM_RIGHTS); owned by the ServiceManagerSocket, closed with it.
    var fds: [Int32]
    /// CLOCK_MONOTONIC in microseconds when the datagram was read.
    var receivedMonotonicMicroseconds: UInt64
    /// The same moment on the test's ContinuousClock.
    var receivedAt: ContinuousClock.Instant

    /// The lines of the datagram ("READY=1", "STATUS=...").
    var assignments: [String] { text.split(separator: "\n").map(String.init) }

    /// True if a line equals `assignment` exactly ("READY=1").
    func has(_ assignment: String) -> Bool { assignments.contains(assignment) }

    /// The value of `KEY=` if a line sets it.
    func value(_ key: String) -> String? {
        for line in assignments where line.hasPrefix(key + "=") { return String(line.dropFirst(key.count + 1)) }
        return nil
    }

    var description: String {
        "[pid \(senderPID)\(fds.isEmpty ? "" : " fds \(fds)")] \(text.debugDescription)"
    }
}

/// CLOCK_MONOTONIC now, in microseconds (what systemd's `MONOTONIC_USEC=` is measured on).
func monotonicMicroseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
}

/// A datagram socket playing systemd's notify socket. Pass `address` as NOTIFY_SOCKET.
final class ServiceManagerSocket: @unchecked Sendable {
    /// "@name" (abstract) or a path.
    let address: String
    private let fd: Int32
    private let state = Locked<(messages: [ServiceManagerMessage], stop: Bool)>(([], false))
    private let readerDone = DispatchSemaphore(value: 0)

    /// Binds in the abstract namespace, or at `directory/manager.sock`.
    init(directory: String? = nil) throws {
        if let directory {
            address = directory + "/manager.sock"
            unlink(address)
        } else {
            address = "@graced-test-manager-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        }
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw TestSupportError("socket: \(errnoText())") }
        var one: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let text = errnoText()
            close(fd)
            throw TestSupportError("SO_PASSCRED: \(text)")
        }
        let socketAddress = try SocketAddress(unixPath: address)
        guard socketAddress.withSockaddr({ bind(fd, $0, $1) }) == 0 else {
            let text = errnoText()
            close(fd)
            throw TestSupportError("bind \(address): \(text)")
        }
        let (socketFD, state, done) = (fd, state, readerDone)
        let thread = Thread { ServiceManagerSocket.readLoop(fd: socketFD, state: state, done: done) }
        thread.name = "ServiceManagerSocket"
        thread.start()
    }

    deinit {
        state.withLock { $0.stop = true }
        readerDone.wait()
        for message in state.withLock({ $0.messages }) {
            for received in message.fds { close(received) }
        }
        close(fd)
        if !address.hasPrefix("@") { unlink(address) }
    }

    /// Every message received so far, in order.
    var messages: [ServiceManagerMessage] { state.withLock { $0.messages } }

    /// Waits for the first message at or after index `from` that satisfies `predicate`;
    /// returns its index and the message. Throws on timeout with everything received.
    @discardableResult
    func waitFor(from: Int = 0, timeout: Duration = .seconds(30), what: String,
                 _ predicate: (ServiceManagerMessage) -> Bool) throws -> (index: Int, message: ServiceManagerMessage) {
        var found: (Int, ServiceManagerMessage)?
        poll(timeout: timeout, interval: .milliseconds(10)) {
            let all = messages
            if from < all.count, let index = all[from...].firstIndex(where: predicate) {
                found = (index, all[index])
            }
            return found != nil
        }
        guard let found else {
            throw TestSupportError("no \(what) on \(address) within \(timeout) (from message #\(from)); received:\n"
                                   + messages.enumerated().map { "  #\($0.offset) \($0.element)" }.joined(separator: "\n"))
        }
        return found
    }

    /// Waits for a message with a line equal to `assignment` (e.g. "READY=1").
    @discardableResult
    func waitFor(_ assignment: String, from: Int = 0, timeout: Duration = .seconds(30)) throws -> (index: Int, message: ServiceManagerMessage) {
        try waitFor(from: from, timeout: timeout, what: assignment) { $0.has(assignment) }
    }

    /// Everything received, one message per line, for failure messages.
    var transcript: String {
        messages.enumerated().map { "  #\($0.offset) \($0.element)" }.joined(separator: "\n")
    }

    // MARK: Reading

    private static func readLoop(fd: Int32, state: Locked<(messages: [ServiceManagerMessage], stop: Bool)>,
                                 done: DispatchSemaphore) {
        defer { done.signal() }
        let bufferSize = 65536
        let controlSize = 4096
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 8)
        let control = UnsafeMutableRawPointer.allocate(byteCount: controlSize, alignment: 8)
        defer {
            buffer.deallocate()
            control.deallocate()
        }
        while !state.withLock({ $0.stop }) {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = Glibc.poll(&entry, 1, 50)
            if ready <= 0 { continue }
            while let message = receiveOne(fd: fd, buffer: buffer, bufferSize: bufferSize,
                                           control: control, controlSize: controlSize) {
                state.withLock { $0.messages.append(message) }
            }
        }
    }

    /// recvmsg of one datagram with its ancillary data, parsed by hand (Swift has no
    /// CMSG_* macros). On Linux x86_64/aarch64 a cmsghdr is { size_t len; int level;
    /// int type; } = 16 bytes, data follows at offset 16, and each header starts at a
    /// multiple of 8.
    private static func receiveOne(fd: Int32, buffer: UnsafeMutableRawPointer, bufferSize: Int,
                                   control: UnsafeMutableRawPointer, controlSize: Int) -> ServiceManagerMessage? {
        memset(control, 0, controlSize)
        var vector = iovec(iov_base: buffer, iov_len: bufferSize)
        var header = msghdr()
        let received: Int = withUnsafeMutablePointer(to: &vector) { vectorPointer in
            header.msg_iov = vectorPointer
            header.msg_iovlen = 1
            header.msg_control = control
            header.msg_controllen = controlSize
            while true {
                let n = recvmsg(fd, &header, Int32(MSG_DONTWAIT) | Int32(MSG_CMSG_CLOEXEC))
                if n < 0 && errno == EINTR { continue }
                return n
            }
        }
        guard received >= 0 else { return nil }
        let headerSize = 16
        var senderPID = 0
        var fds: [Int32] = []
        var offset = 0
        let used = min(Int(header.msg_controllen), controlSize)
        while offset + headerSize <= used {
            let length = Int(control.load(fromByteOffset: offset, as: UInt64.self))
            let level = control.load(fromByteOffset: offset + 8, as: Int32.self)
            let type = control.load(fromByteOffset: offset + 12, as: Int32.self)
            guard length >= headerSize, offset + length <= used else { break }
            let dataLength = length - headerSize
            if level == SOL_SOCKET && type == 1 /* SCM_RIGHTS */ {
                for index in 0..<(dataLength / 4) {
                    fds.append(control.load(fromByteOffset: offset + headerSize + 4 * index, as: Int32.self))
                }
            } else if level == SOL_SOCKET && type == 2 /* SCM_CREDENTIALS */ && dataLength >= 12 {
                senderPID = Int(control.load(fromByteOffset: offset + headerSize, as: Int32.self))
            }
            offset += (length + 7) & ~7
        }
        let text = String(decoding: UnsafeRawBufferPointer(start: buffer, count: received), as: UTF8.self)
        return ServiceManagerMessage(text: text, senderPID: senderPID, fds: fds,
                                     receivedMonotonicMicroseconds: monotonicMicroseconds(),
                                     receivedAt: .now)
    }
}

// MARK: - fd inspection

/// What a socket fd of the test process is.
struct SocketFacts: Equatable, CustomStringConvertible {
    /// SO_TYPE: SOCK_STREAM, SOCK_DGRAM...
    var type: Int32
    /// SO_ACCEPTCONN.
    var listening: Bool
    /// getsockname as "127.0.0.1:8080" (IPv4 only; nil otherwise).
    var address: String?
    /// st_ino, the number /proc shows as socket:[inode].
    var inode: UInt64

    var description: String {
        "type \(type) listening \(listening) address \(address ?? "?") inode \(inode)"
    }
}

/// SO_TYPE, SO_ACCEPTCONN, the IPv4 address and the inode of a socket fd; nil if `fd` is
/// not an open socket.
func socketFacts(_ fd: Int32) -> SocketFacts? {
    var info = stat()
    guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFSOCK else { return nil }
    var type: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0 else { return nil }
    var accepting: Int32 = 0
    length = socklen_t(MemoryLayout<Int32>.size)
    _ = getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length)
    var address: String?
    var v4 = sockaddr_in()
    length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &v4) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    if named == 0 && Int32(v4.sin_family) == AF_INET {
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        if inet_ntop(AF_INET, &v4.sin_addr, &text, socklen_t(text.count)) != nil {
            address = "\(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)):\(UInt16(bigEndian: v4.sin_port))"
        }
    }
    return SocketFacts(type: type, listening: accepting != 0, address: address, inode: UInt64(info.st_ino))
}

/// One TCP socket in LISTEN state from /proc/net/tcp{,6}.
struct ListeningTCPSocket: Equatable, CustomStringConvertible {
    var localAddress: String
    var port: UInt16
    var inode: UInt64
    var description: String { "\(localAddress):\(port) inode \(inode)" }
}

/// Every TCP socket in LISTEN state (st 0A) on `port`, IPv4 and IPv6, in this network
/// namespace: the ground truth for "graced did not bind a second socket".
func listeningTCPSockets(port: UInt16) -> [ListeningTCPSocket] {
    var result: [ListeningTCPSocket] = []
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        guard let bytes = readWholeFile(table) else { continue }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 10, fields[3] == "0A" else { continue }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, let localPort = UInt16(local[1], radix: 16), localPort == port,
                  let inode = UInt64(fields[9]) else { continue }
            result.append(ListeningTCPSocket(localAddress: String(local[0]), port: localPort, inode: inode))
        }
    }
    return result
}

// MARK: - Scripts

/// A POSIX shell word: 'text' with embedded single quotes escaped.
func shellQuote(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// Writes an executable file (mode 0755) and returns its path.
@discardableResult
func writeExecutable(_ path: String, _ contents: String) throws -> String {
    try contents.write(toFile: path, atomically: true, encoding: .utf8)
    guard chmod(path, 0o755) == 0 else { throw TestSupportError("chmod \(path): \(errnoText())") }
    return path
}

/// A socket for SocketPassingLauncher to bind and pass.
struct PassedSocket {
    var name: String
    var host: String = "127.0.0.1"
    var port: UInt16
    /// "stream" or "dgram".
    var type: String = "stream"
    /// For a stream socket: listen() or leave it merely bound.
    var listen: Bool = true
    /// Pass the socket at this index of the list once more instead of a new one (as
    /// systemd does when a socket unit and the fd store both hold the same socket).
    var duplicateOf: Int? = nil
}

/// A python3 launcher that binds `sockets` and starts a command with them at fds 3...,
/// LISTEN_FDS, LISTEN_FDNAMES (names joined by ':') and LISTEN_PID = the pid of the
/// process that execs the command, as systemd does.
///
/// - exec mode (`respawn: false`): the launcher execs the command itself, so the command
///   keeps the launcher's pid. Use `wrapper` as GracedProcess's executable.
/// - respawn mode: the launcher keeps the sockets and forks + execs the command again
///   each time it exits (at most `maxStarts` times), appending each pid to `pidFile`,
///   like systemd restarting a service and handing back its fd store. SIGTERM to the
///   launcher is passed on to the current child; then the launcher exits.
enum SocketPassingLauncher {
    static let script = #"""
    import fcntl, json, os, signal, socket, sys, time

    spec_path = sys.argv[1]
    with open(spec_path) as spec_file:
        spec = json.load(spec_file)
    command = spec["command"] + sys.argv[2:]

    created = []
    for item in spec["sockets"]:
        if item.get("duplicate_of") is not None:
            created.append(created[item["duplicate_of"]])
            continue
        family = socket.AF_INET6 if ":" in item["host"] else socket.AF_INET
        kind = socket.SOCK_DGRAM if item.get("type") == "dgram" else socket.SOCK_STREAM
        sock = socket.socket(family, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((item["host"], item["port"]))
        if kind == socket.SOCK_STREAM and item.get("listen", True):
            sock.listen(128)
        created.append(sock)
    # Move every socket above the target numbers first, then into 3, 4, ...
    high = [fcntl.fcntl(sock.fileno(), fcntl.F_DUPFD, 100) for sock in created]
    for sock in set(created):
        sock.close()
    for index, fd in enumerate(high):
        os.dup2(fd, 3 + index, inheritable=True)
        os.close(fd)

    env = dict(os.environ)
    env.update(spec.get("env", {}))
    env["LISTEN_FDS"] = str(len(high))
    env["LISTEN_FDNAMES"] = ":".join(item["name"] for item in spec["sockets"])

    def launch():
        env["LISTEN_PID"] = str(os.getpid())
        os.execve(command[0], command, env)

    print(f"launcher {os.getpid()}: passing {env['LISTEN_FDNAMES']} to {command[0]}", file=sys.stderr, flush=True)
    if not spec.get("respawn"):
        launch()

    child = 0
    stopping = False

    def on_term(signum, frame):
        global stopping
        stopping = True
        if child:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, on_term)
    starts = 0
    while not stopping and starts < spec.get("max_starts", 5):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            try:
                launch()
            finally:
                os._exit(127)
        child = pid
        starts += 1
        with open(spec["pid_file"], "a") as pids:
            pids.write(f"{pid}\n")
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        child = 0
        print(f"launcher: {pid} ended with wait status {status}", file=sys.stderr, flush=True)
    """#

    /// Writes the launcher, its spec and (for exec mode) a wrapper into `directory`.
    /// Returns the wrapper: an executable that runs the launcher with the wrapper's own
    /// arguments appended to `command`.
    @discardableResult
    static func prepare(in directory: String, sockets: [PassedSocket], command: [String],
                        environment: [String: String] = [:], respawn: Bool = false, maxStarts: Int = 5,
                        name: String = "launcher") throws -> (wrapper: String, pidFile: String) {
        let scriptPath = directory + "/\(name).py"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        let pidFile = directory + "/\(name).pids"
        let spec: [String: Any] = [
            "sockets": sockets.map { socket -> [String: Any] in
                var item: [String: Any] = ["name": socket.name, "host": socket.host, "port": Int(socket.port),
                                           "type": socket.type, "listen": socket.listen]
                if let original = socket.duplicateOf { item["duplicate_of"] = original }
                return item
            },
            "command": command,
            "env": environment,
            "respawn": respawn,
            "max_starts": maxStarts,
            "pid_file": pidFile,
        ]
        let specPath = directory + "/\(name).json"
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: specPath))
        let wrapper = try writeExecutable(directory + "/\(name).sh", """
            #!/bin/sh
            exec \(shellQuote(Binaries.python3)) \(shellQuote(scriptPath)) \(shellQuote(specPath)) "$@"

            """)
        return (wrapper, pidFile)
    }

    /// The pids the respawning launcher started, in order.
    static func startedPIDs(_ pidFile: String) -> [Int] {
        String(decoding: readWholeFile(pidFile) ?? [], as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
    }
}

// MARK: - Journal

/// A private /run/systemd/journal/socket for one command, in a mount namespace of its own
/// (`unshare --mount`), so that nothing on the machine is touched. A python3 sink bound
/// there writes each entry sd_journal_sendv sends as one JSON line
/// {"via": "datagram"|"memfd", "fields": {KEY: value}} to `entriesPath`.
enum JournalCapture {
    static let sinkScript = #"""
    import array, json, os, socket, struct, sys, time

    out_path = sys.argv[1]
    path = "/run/systemd/journal/socket"

    def parse(data):
        fields, i, n = {}, 0, len(data)
        while i < n:
            nl = data.find(b"\n", i)
            if nl < 0:
                nl = n
            line = data[i:nl]
            eq = line.find(b"=")
            if eq >= 0:
                key, value, i = line[:eq], line[eq + 1:], nl + 1
            else:  # binary-safe form: KEY\n<64-bit little-endian length><value>\n
                key = line
                (length,) = struct.unpack_from("<Q", data, nl + 1)
                start = nl + 9
                value, i = data[start:start + length], start + length + 1
            fields[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        return fields

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 8 << 20)
    except OSError:
        pass
    sock.bind(path)
    sock.settimeout(0.25)
    parent = os.getppid()
    deadline = time.monotonic() + 900
    with open(out_path, "a") as out:
        while time.monotonic() < deadline:
            try:
                data, ancillary, flags, _ = sock.recvmsg(1 << 22, socket.CMSG_SPACE(64 * 4))
            except socket.timeout:
                if os.getppid() != parent:
                    break
                continue
            via = "datagram"
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds = array.array("i")
                    fds.frombytes(payload[:len(payload) - len(payload) % 4])
                    for fd in fds:
                        with os.fdopen(fd, "rb") as memfd:
                            memfd.seek(0)
                            data = memfd.read()
                        via = "memfd"
            out.write(json.dumps({"via": via, "fields": parse(data)}) + "\n")
            out.flush()
    """#

    /// True if this machine lets the tests make a private mount namespace with a tmpfs.
    static let isAvailable: Bool = {
        guard getuid() == 0, Binaries.isExecutableFile("/usr/bin/unshare") else { return false }
        let probe = runCommand("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c",
                                                    "mount -t tmpfs graced-probe /mnt && test -d /mnt"],
                               timeout: .seconds(30))
        return probe.status == 0
    }()

    /// Writes the sink and a wrapper into `directory`; the wrapper runs `command` plus its
    /// own arguments inside the namespace, once the sink is listening. Returns the wrapper
    /// and the path of the entries file.
    static func prepare(in directory: String, command: [String]) throws -> (wrapper: String, entriesPath: String) {
        let sinkPath = directory + "/journal_sink.py"
        try sinkScript.write(toFile: sinkPath, atomically: true, encoding: .utf8)
        let entriesPath = directory + "/journal.jsonl"
        _ = FileManager.default.createFile(atPath: entriesPath, contents: nil)
        let sinkLog = directory + "/journal_sink.log"
        let inner = """
            set -e
            if [ -d /run/systemd/journal ]; then target=/run/systemd/journal
            elif [ -d /run/systemd ]; then target=/run/systemd
            else target=/run; fi
            mount -t tmpfs -o mode=0755,size=8m graced-test-journal "$target"
            mkdir -p /run/systemd/journal
            \(shellQuote(Binaries.python3)) \(shellQuote(sinkPath)) \(shellQuote(entriesPath)) </dev/null >>\(shellQuote(sinkLog)) 2>&1 &
            i=0
            while [ ! -S /run/systemd/journal/socket ]; do
                i=$((i + 1))
                if [ $i -gt 600 ]; then echo "journal sink did not start" >&2; exit 1; fi
                sleep 0.05
            done
            exec \(command.map(shellQuote).joined(separator: " ")) "$@"
            """
        let wrapper = try writeExecutable(directory + "/journal-wrapper.sh", """
            #!/bin/sh
            exec /usr/bin/unshare --mount --propagation private /bin/sh -c \(shellQuote(inner)) graced-journal "$@"

            """)
        return (wrapper, entriesPath)
    }

    /// The entries recorded so far: (via, fields).
    static func entries(_ entriesPath: String) -> [(via: String, fields: [String: String])] {
        let text = String(decoding: readWholeFile(entriesPath) ?? [], as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let fields = object["fields"] as? [String: String] else { return nil }
            return (object["via"] as? String ?? "?", fields)
        }
    }
}

/// "dev:inode" of a file, as systemd puts it into JOURNAL_STREAM for a service's stderr.
func deviceAndInode(of path: String) throws -> String {
    var info = stat()
    guard stat(path, &info) == 0 else { throw TestSupportError("stat \(path): \(errnoText())") }
    return "\(UInt64(info.st_dev)):\(UInt64(info.st_ino))"
}

// MARK: - Handing fds back

/// Starts `graced run --config CONFIG` the way systemd starts a service with its fd store
/// (or socket units): the given fds of the test process at 3, 4, ... in order,
/// LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID = graced's own pid (a shell wrapper exports
/// its `$$` and execs graced). Output goes to `logPath`.
func startGracedWithPassedFDs(config: String, fds: [(name: String, fd: Int32)], environment: [String: String] = [:],
                              logPath: String) throws -> ChildProcess {
    let directory = (config as NSString).deletingLastPathComponent
    let wrapper = try writeExecutable(directory + "/handback.sh", """
        #!/bin/sh
        export LISTEN_PID=$$
        exec \(shellQuote(try Binaries.graced)) "$@"

        """)
    var placement: [Int32: Int32] = [:]
    for (index, passed) in fds.enumerated() { placement[Int32(3 + index)] = passed.fd }
    var extra = environment
    extra["LISTEN_FDS"] = "\(fds.count)"
    extra["LISTEN_FDNAMES"] = fds.map(\.name).joined(separator: ":")
    return try ChildProcess(executable: wrapper, arguments: ["run", "--config", config],
                            environment: cleanEnvironment(extra), stdoutPath: logPath, stderrPath: logPath, fds: placement)
}
