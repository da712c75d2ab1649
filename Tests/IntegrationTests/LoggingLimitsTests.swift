// Issue 12 items 3 and 4, with the real graced binary:
// - a log reader that stalls (graced's stderr a FIFO that nobody reads) costs dropped
//   lines, counted and reported, never a frozen supervisor;
// - graced raises its soft RLIMIT_NOFILE to the hard limit and gives workers the
//   original back; 200 workers survive two reloads in a row under a soft limit of 1024.
//
// Figures are printed with the prefix "FAULT" for the README's Reliability table.

import Foundation
import Testing

@Suite(.serialized) struct LoggingLimitsTests {
    // MARK: - A stalled log reader

    @Test func aStalledStderrReaderNeverFreezesGraced() throws {
        var reader: Int32 = -1
        // A worker that floods stderr, so that graced has far more to log than the FIFO
        // (64 KiB) and graced's queue (1 MiB) hold.
        let fixture = try ReliabilityFixture(
            prefix: "stall",
            command: Reliability.faultyWorkerCommand(["--flood-stderr", "--flood-mbps", "0.3", "--work-ms", "1"]),
            workerLines: ["drain_timeout = \"5s\""],
            logPath: "{dir}/stderr.fifo", ready: .status,
            beforeStart: { directory in
                let fifo = directory.file("stderr.fifo")
                guard mkfifo(fifo, 0o600) == 0 else { throw TestSupportError("mkfifo: \(errnoText())") }
                // Held open and never read (until the end): writes into it would block.
                reader = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
                guard reader >= 0 else { throw TestSupportError("open \(fifo): \(errnoText())") }
            })
        defer { if reader >= 0 { close(reader) } }
        // Let the FIFO and graced's queue fill up.
        let filled = poll(timeout: .seconds(30), interval: .milliseconds(200)) {
            (self.droppedLines(fixture) ?? 0) > 0
        }
        // Supervision goes on: status, two reloads, a SIGHUP.
        var statusTimes: [Double] = []
        for _ in 1...5 {
            let start = ContinuousClock.now
            let status = runGraced(["status", "--control", fixture.controlPath], timeout: .seconds(10))
            statusTimes.append((ContinuousClock.now - start).seconds)
            #expect(status.status == 0, "\(status)")
        }
        var reloads: [Int32] = []
        for _ in 1...2 {
            let reload = fixture.reload(timeout: .seconds(60))
            reloads.append(reload.status)
            #expect(reload.status == 0, "\(reload)")
        }
        fixture.graced.signal(SIGHUP)
        try fixture.waitForServing(generation: 4, timeout: .seconds(30))
        let dropped = droppedLines(fixture)
        // The reader comes back: graced catches up and says how much it dropped.
        var received = 0
        var report = ""
        var tail: [UInt8] = []
        let sawReport = poll(timeout: .seconds(30), interval: .milliseconds(10)) {
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = read(reader, &buffer, buffer.count)
                if n <= 0 { break }
                received += n
                // Only complete lines are searched; the rest waits for the next read.
                tail += buffer[0..<n]
                if let last = tail.lastIndex(of: UInt8(ascii: "\n")) {
                    let lines = String(decoding: tail[...last], as: UTF8.self).split(separator: "\n")
                    if report.isEmpty, let line = lines.first(where: { $0.contains("event=log-lines-dropped") }) {
                        report = String(line)
                    }
                    tail.removeSubrange(...last)
                }
            }
            return !report.isEmpty
        }
        // Stop: graced exits promptly although its log is still flooded.
        let stopStart = ContinuousClock.now
        let stop = runGraced(["stop", "--control", fixture.controlPath], timeout: .seconds(30))
        let exit = try fixture.graced.waitForExit(timeout: .seconds(20))
        let stopTime = (ContinuousClock.now - stopStart).seconds
        print("FAULT stalled stderr: drops began: \(filled); status answered in "
              + "\(statusTimes.map { String(format: "%.2f", $0) }.joined(separator: "/")) s; reloads \(reloads); "
              + "SIGHUP reload ok; log_lines_dropped \(dropped.map(String.init) ?? "not in status"); "
              + "report after the reader came back: \(sawReport) (\(report.prefix(160))); "
              + "graced stop exit \(stop.status), graced exit \(exit) after \(String(format: "%.2f", stopTime)) s")
        #expect(filled, "graced's status never counted a dropped line")
        #expect(statusTimes.allSatisfy { $0 < 5 }, "\(statusTimes)")
        #expect((dropped ?? 0) > 0)
        #expect(sawReport, "no drop report after the reader came back; got \(received) bytes")
        #expect(report.contains(" warn  "), "\(report)")
        #expect(stop.status == 0, "\(stop)")
        #expect(exit == 0)
        #expect(stopTime < 15)
    }

    /// `log_lines_dropped` from `graced status --json`, nil when absent.
    private func droppedLines(_ fixture: ReliabilityFixture) -> UInt64? {
        let result = runGraced(["status", "--json", "--control", fixture.controlPath], timeout: .seconds(10))
        guard result.status == 0,
              let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any],
              let value = object["log_lines_dropped"] as? NSNumber else { return nil }
        return value.uint64Value
    }

    // MARK: - File-descriptor limits

    /// "Max open files" soft and hard limits of a process.
    private func fileLimits(pid: Int) -> (soft: String, hard: String)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") }) else { return nil }
        let fields = line.dropFirst("Max open files".count).split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2 else { return nil }
        return (String(fields[0]), String(fields[1]))
    }

    @Test func workersGetTheOriginalSoftLimitAnd200WorkersSurviveTwoReloadsAt1024() throws {
        let directory = try TemporaryDirectory(prefix: "nofile")
        let gracedBinary = try Binaries.graced
        let wrapper = directory.file("graced-1024.sh")
        // Soft 1024 (the usual default), hard 4096.
        try "#!/bin/sh\nulimit -Sn 1024 && ulimit -Hn 4096 || exit 99\nexec \(gracedBinary) \"$@\"\n"
            .write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        let port = freeTCPPort()
        // `sleep` ignores SIGWINCH: every old generation drains until drain_timeout, so
        // two reloads in a row hold 3 × 200 workers and their output pipes at once.
        let config = try writeConfig(
            in: directory.path, listeners: [("http", "127.0.0.1:\(port)")], command: ["/bin/sleep", "600"],
            workerLines: ["processes = 200", "ready = \"delay\"", "ready_delay = \"300ms\"", "ready_timeout = \"60s\"",
                          "stop_signal = \"SIGWINCH\"", "drain_timeout = \"6s\"", "max_draining = 2"])
        let graced = try GracedProcess(config: config, executable: wrapper)
        defer { graced.terminate() }
        try graced.waitForLog(containing: "generation 1 ready", timeout: .seconds(60))
        let gracedLimits = fileLimits(pid: graced.pid)
        let workers = graced.childPIDs()
        let workerLimits = workers.first.flatMap { fileLimits(pid: $0) }
        #expect(workers.count == 200)
        #expect(gracedLimits?.soft == "4096" && gracedLimits?.hard == "4096", "graced: \(String(describing: gracedLimits))")
        #expect(workerLimits?.soft == "1024" && workerLimits?.hard == "4096", "worker: \(String(describing: workerLimits))")
        let allWorkersAt1024 = workers.allSatisfy { fileLimits(pid: $0)?.soft == "1024" }
        #expect(allWorkersAt1024)
        let control = controlSocketPath(in: directory.path)
        var statuses: [Int32] = []
        var peak = openFDs(pid: graced.pid).count
        for _ in 1...2 {
            let reload = runGraced(["reload", "--control", control], timeout: .seconds(90))
            statuses.append(reload.status)
            #expect(reload.status == 0, "\(reload)\n\(graced.log().suffix(3000))")
            peak = max(peak, openFDs(pid: graced.pid).count)
        }
        let children = graced.childPIDs().count
        // No `graced status` while 400 workers drain: it reads /proc/PID/net/tcp once per
        // draining worker (ConnectionCounter), which blocks the loop for seconds.
        // The old generations are SIGKILLed after drain_timeout: 200 workers are left.
        let drained = poll(timeout: .seconds(60), interval: .milliseconds(200)) { graced.childPIDs().count == 200 }
        let status = runGraced(["status", "--control", control], timeout: .seconds(30))
        // `sleep` never waits on the listener: graced's "no worker accepting" error is expected
        // and beside the point here.
        let errors = graced.logLines().filter {
            ($0.contains(" error ") || $0.contains(" crit  ") || $0.contains("Too many open files"))
                && !$0.contains("event=not-accepting")
        }
        print("FAULT nofile 1024:4096 with 200 workers: graced \(gracedLimits.map { "\($0.soft)/\($0.hard)" } ?? "?"), "
              + "workers \(workerLimits.map { "\($0.soft)/\($0.hard)" } ?? "?") (all 1024: \(allWorkersAt1024)); "
              + "two reloads in a row: \(statuses); graced fds peak \(peak); children after \(children); "
              + "drained back to 200: \(drained); status exit \(status.status); error lines \(errors.count)")
        #expect(status.status == 0, "\(status.stderr) \(status.stdout.prefix(500))")
        #expect(drained)
        #expect(peak > 1024, "the test did not need more than 1024 fds (\(peak)): it proves nothing")
        #expect(children >= 600, "old generations should still be draining: \(children) children")
        #expect(errors.isEmpty, "\(errors.prefix(5))")
        let stop = runGraced(["stop", "--control", control], timeout: .seconds(120))
        #expect(stop.status == 0, "\(stop)")
    }
}
