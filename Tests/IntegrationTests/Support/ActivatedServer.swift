// A real server started the way graced starts a worker: a TCP listener bound here,
// passed as fd 3 with LISTEN_FDS=1, LISTEN_FDNAMES=http and LISTEN_PID=<its own pid>
// (set by `sh -c 'LISTEN_PID=$$ exec "$@"'`, which keeps the pid), in a process group of
// its own. For the tests of the "accepting" readiness probe.

import Foundation

/// A listening TCP socket on 127.0.0.1 at an explicit port (as graced binds them).
final class TestListener {
    let fd: Int32
    let port: UInt16
    /// The inode that /proc/PID/fd shows as socket:[INODE].
    let inode: UInt64

    init(backlog: Int32 = 128) throws {
        let port = freeTCPPort()
        let address = try SocketAddress(host: "127.0.0.1", port: port)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket: \(errnoText())") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard address.withSockaddr({ bind(fd, $0, $1) }) == 0, listen(fd, backlog) == 0 else {
            let reason = errnoText()
            close(fd)
            throw TestSupportError("bind/listen 127.0.0.1:\(port): \(reason)")
        }
        var info = stat()
        fstat(fd, &info)
        self.fd = fd
        self.port = port
        inode = UInt64(info.st_ino)
    }

    deinit { close(fd) }

    /// True when a TCP connect to the port succeeds within a second.
    func connects() -> Bool {
        guard let address = try? SocketAddress(host: "127.0.0.1", port: port) else { return false }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(client) }
        return address.withSockaddr { connect(client, $0, $1) } == 0
    }
}

/// A server process with the listener as fd 3; killed with its whole process group
/// when released.
final class ActivatedServer {
    let process: ChildProcess
    let logPath: String
    /// Leader of the server's process group (its pid).
    var pid: pid_t { pid_t(process.pid) }

    init(command: [String], listener: TestListener, directory: String, logPath: String,
         environment: [String: String] = [:]) throws {
        self.logPath = logPath
        var variables = cleanEnvironment(["LISTEN_FDS": "1", "LISTEN_FDNAMES": "http"])
        variables.merge(environment) { _, new in new }
        process = try ChildProcess(
            executable: "/bin/sh", arguments: ["-c", "LISTEN_PID=$$ exec \"$@\"", "sh"] + command,
            environment: variables, stdoutPath: logPath, stderrPath: logPath,
            fds: [3: listener.fd], directory: directory)
    }

    func log() -> String { String(decoding: readWholeFile(logPath) ?? [], as: UTF8.self) }

    deinit { process.killAll() }
}
