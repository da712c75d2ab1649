// Where graced starts and how it ends (issue "hostile", items 2 and 6): a control socket
// that cannot be opened is a start error, a missing last directory is created; `graced
// stop` returns only once what the workers left behind is gone too.

import Foundation
import Testing

@Suite("start and stop")
struct StartAndStopTests {
    /// A config for the example worker whose control socket is `socket`.
    static func config(in tmp: TemporaryDirectory, controlSocket socket: String) throws -> String {
        let config = try writeConfig(in: tmp.path, listeners: [("http", "127.0.0.1:\(freeTCPPort())")],
                                     command: Binaries.workerCommand(), workerLines: CoreHarness.defaultWorkerLines)
        let text = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: controlSocketPath(in: tmp.path), with: socket)
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        return config
    }

    /// `/run/graced` outside systemd: the last directory component is created (0755).
    @Test func missingControlSocketDirectoryIsCreated() throws {
        let tmp = try TemporaryDirectory(prefix: "start")
        let config = try Self.config(in: tmp, controlSocket: tmp.path + "/run/graced.sock")
        let graced = try GracedProcess(config: config)
        defer { graced.terminate() }
        try graced.waitForLog(containing: "event=generation-ready")
        var info = stat()
        #expect(stat(tmp.path + "/run", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o755, "mode \(String(info.st_mode & 0o777, radix: 8))")
        let reload = runGraced(["reload", "--config", config])
        #expect(reload.status == 0, "\(reload)")
    }

    /// Anything else that keeps the control socket from opening stops graced with exit 1
    /// before a worker starts: without it, `graced reload` and `graced stop` could not work.
    @Test func controlSocketThatCannotBeOpenedIsAStartError() throws {
        let tmp = try TemporaryDirectory(prefix: "start")
        let config = try Self.config(in: tmp, controlSocket: tmp.path + "/no/such/dir/graced.sock")
        let graced = try GracedProcess(config: config)
        defer { graced.terminate() }
        let status = try graced.waitForExit(timeout: .seconds(20))
        #expect(status == 1)
        let log = graced.log()
        #expect(log.contains("cannot open the control socket") && log.contains(tmp.path + "/no/such/dir"), "\(log)")
        #expect(!log.contains("event=worker-started"), "a worker was started: \(log)")
    }

    /// A worker's child that ignores SIGTERM and keeps the listener: `graced stop` returns
    /// only after it was killed (drain_timeout), so the port is free when stop returns.
    @Test func stopWaitsForWhatTheWorkersLeftBehind() throws {
        let fixture = try ReliabilityFixture(
            command: Reliability.faultyWorkerCommand(["--fork-holder", "--holder-pid-file", "{dir}/holder.pid"]),
            workerLines: ["drain_timeout = \"2s\""])
        var holder: Int?
        poll(timeout: .seconds(20), interval: .milliseconds(20)) {
            holder = (try? String(contentsOfFile: fixture.directory.file("holder.pid"), encoding: .utf8))
                .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            return holder != nil
        }
        let holderPID = try #require(holder, "the worker wrote no holder pid\n\(fixture.logTail())")
        defer { if isAlive(pid: holderPID) { kill(pid_t(holderPID), SIGKILL) } }
        let started = ContinuousClock.now
        let stop = runGraced(["stop", "--control", fixture.controlPath], timeout: .seconds(30))
        let took = ContinuousClock.now - started
        #expect(stop.status == 0, "\(stop)")
        // When `graced stop` returns, the holder is gone and the port refuses.
        #expect(!isAlive(pid: holderPID), "the holder \(holderPID) outlived graced stop")
        var refused = false
        do { _ = try httpRequest(fixture.endpoint, timeout: .seconds(2)) } catch { refused = "\(error)".contains("refused") }
        #expect(refused, "the port still answers after graced stop")
        print("STOP leftovers: graced stop took \(took) with a holder ignoring SIGTERM (drain_timeout 2s)")
        #expect(took >= .seconds(1), "stop returned before drain_timeout could have killed the holder: \(took)")
    }

    /// A second `graced run` on the same config names the graced that already serves it
    /// and exits 1, instead of reporting a port in use (issue "ecosystem", item 5).
    @Test func secondGracedOnTheSameConfigNamesTheFirst() throws {
        let tmp = try TemporaryDirectory(prefix: "start")
        let port = freeTCPPort()
        let first = try CoreHarness.startGraced(in: tmp, listeners: [("http", "127.0.0.1:\(port)")], command: Binaries.workerCommand())
        defer { first.terminate() }
        let second = try GracedProcess(config: first.configPath)
        defer { second.terminate() }
        #expect(try second.waitForExit(timeout: .seconds(20)) == 1)
        let log = second.log()
        #expect(log.contains("graced is already running: pid \(first.pid)"), "\(log)")
        #expect(!log.contains("Address already in use"), "\(log)")
        // The first one is untouched.
        let reload = runGraced(["reload", "--config", first.configPath])
        #expect(reload.status == 0, "\(reload)")
    }
}
