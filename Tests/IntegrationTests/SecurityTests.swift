// The security pass of issue "hardening" that the other suites do not already cover:
// where the control socket may be created, who may mark a worker ready, and that a
// dropped worker cannot regain root.

import Foundation
import Testing

@Suite("security")
struct SecurityTests {
    /// The control socket is never created in a directory that others may write to
    /// without the sticky bit (they could replace it), nor through a symlink.
    @Test func controlSocketRefusesUnsafePlaces() throws {
        let tmp = try TemporaryDirectory(prefix: "sec")
        let open = tmp.file("open")
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false)
        chmod(open, 0o777)  // world-writable, no sticky bit
        let port = freeTCPPort()
        let config = try writeConfig(in: tmp.path, listeners: [("http", "127.0.0.1:\(port)")],
                                     command: Binaries.workerCommand(), workerLines: CoreHarness.defaultWorkerLines,
                                     gracedLines: ["control_socket = \"\(open)/graced.sock\""])
        // writeConfig puts its own control_socket into [graced] too; make sure ours is the one.
        let text = try String(contentsOfFile: config, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.hasPrefix("control_socket") || $0.contains("/open/") }
            .joined(separator: "\n")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let graced = try GracedProcess(config: config)
        defer { graced.terminate() }
        let line = try graced.waitForLog(containing: "world-writable without the sticky bit")
        #expect(CoreHarness.level(of: line) == "crit", "\(line)")
        #expect(!FileManager.default.fileExists(atPath: "\(open)/graced.sock"))
        // A supervisor that could be neither reloaded nor stopped is a start error (§7).
        #expect(try graced.waitForExit(timeout: .seconds(20)) == 1)
        #expect(!graced.log().contains("event=worker-started"), "\(graced.log())")
        _ = port
    }

    @Test func controlSocketIsNeverCreatedThroughASymlink() throws {
        let tmp = try TemporaryDirectory(prefix: "sec")
        let victim = tmp.file("victim")
        try "keep me".write(toFile: victim, atomically: true, encoding: .utf8)
        let socketPath = controlSocketPath(in: tmp.path)
        try FileManager.default.createSymbolicLink(atPath: socketPath, withDestinationPath: victim)
        let port = freeTCPPort()
        let config = try writeConfig(in: tmp.path, listeners: [("http", "127.0.0.1:\(port)")],
                                     command: Binaries.workerCommand(), workerLines: CoreHarness.defaultWorkerLines)
        let graced = try GracedProcess(config: config)
        defer { graced.terminate() }
        let line = try graced.waitForLog(containing: "is not a socket")
        #expect(CoreHarness.level(of: line) == "crit", "\(line)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "keep me")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: socketPath)) == victim, "the symlink was replaced")
    }

    /// READY=1 counts only from a worker or its descendants: a stranger who learns the
    /// notify socket's name cannot make graced stop the old generation early.
    @Test func notifyMessagesFromOutsideTheWorkerTreesAreIgnored() throws {
        let tmp = try TemporaryDirectory(prefix: "sec")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("http", "127.0.0.1:\(port)")], command: Binaries.workerCommand(["--never-ready"]),
            workerLines: ["ready = \"notify\"", "ready_timeout = \"60s\""], waitForReady: false)
        defer { graced.terminate() }
        try graced.waitForLog(containing: "event=worker-started")
        let worker = try #require(graced.childPIDs().first)
        let notifySocket = try #require(environment(pid: worker)["NOTIFY_SOCKET"])
        // A filesystem path (clients such as Ruby's sd_notify gem cannot use "@" names),
        // in a directory only graced's user may enter.
        #expect(notifySocket.hasPrefix("/"), "\(notifySocket)")
        var directoryInfo = stat()
        #expect(stat(String(notifySocket.prefix(upTo: notifySocket.lastIndex(of: "/")!)), &directoryInfo) == 0)
        #expect(directoryInfo.st_mode & 0o777 == 0o700, "directory mode \(String(directoryInfo.st_mode & 0o777, radix: 8))")
        #expect(directoryInfo.st_uid == geteuid())

        // The test process is no descendant of the worker.
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        let address = try SocketAddress(unixPath: notifySocket)
        let message = Array("READY=1\nSTATUS=forged".utf8)
        let sent = address.withSockaddr { pointer, length in
            message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, pointer, length) }
        }
        #expect(sent == message.count)
        sleepThread(.seconds(1))
        #expect(!graced.log().contains("event=worker-ready"), "\(graced.log())")
        let status = try CoreHarness.status(config: graced.configPath)
        let generations = status["generations"] as? [[String: Any]] ?? []
        let workers = generations.flatMap { $0["workers"] as? [[String: Any]] ?? [] }
        #expect(workers.count == 1)
        #expect(workers.first?["state"] as? String == "starting")
        #expect(workers.first?["status_text"] == nil, "a stranger set STATUS=: \(workers)")
    }

    /// A worker dropped to `nobody` has real, effective, saved and filesystem ids all
    /// 65534 (setresuid/setresgid), no supplementary group of root, and NoNewPrivs is
    /// not needed for that: it simply has nothing to switch back to.
    @Test(.enabled(if: CoreHarness.systemPython != nil, "needs a python3 that nobody can run"))
    func droppedWorkerCannotRegainRoot() throws {
        let tmp = try TemporaryDirectory(prefix: "sec")
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
            command: [CoreHarness.systemPython!, Binaries.workerScript],
            workerLines: CoreHarness.defaultWorkerLines + ["user = \"nobody\"", "directory = \"/\""])
        defer { graced.terminate() }
        let info = try workerInfo(port: port)
        let status = String(decoding: readWholeFile("/proc/\(info.pid)/status") ?? [], as: UTF8.self)
        let ids: (String) -> [String] = { key in
            status.split(separator: "\n").first { $0.hasPrefix(key + ":") }?
                .split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().map(String.init) ?? []
        }
        #expect(ids("Uid") == ["65534", "65534", "65534", "65534"], "\(status)")
        #expect(ids("Gid").allSatisfy { $0 != "0" }, "\(status)")
        #expect(!ids("Groups").contains("0"), "\(status)")
        // No capability survives the uid change.
        #expect(ids("CapEff") == ["0000000000000000"], "\(status)")
        #expect(ids("CapPrm") == ["0000000000000000"], "\(status)")
    }
}
