// Workers flooding, truncating or closing their output.
// Part of FaultInjectionTests (serialized); fixtures in Support/ReliabilityFixture.swift.

import Foundation
import Testing

extension FaultInjectionTests {
    @Suite struct Output {
        // c. A worker flooding stdout and stderr.
        @Test func floodingWorkerLeavesGracedResponsiveAndBounded() throws {
            let fixture = try ReliabilityFixture(
                command: Reliability.faultyWorkerCommand(["--flood-stdout", "--flood-stderr", "--work-ms", "2"]),
                workerLines: ["drain_timeout = \"2s\""], ready: .status)
            let worker = try #require(try fixture.status().allPIDs.first)
            var latencies: [Double] = []
            var statusFailures: [String] = []
            var maxRSS = 0
            let cpuBefore = Reliability.cpuSeconds(pid: fixture.pid) ?? 0
            let writtenBefore = Reliability.bytesWritten(pid: worker) ?? 0
            let logBefore = Reliability.fileSize(fixture.graced.logPath)
            let started = ContinuousClock.now
            let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4, warmUp: 10) { _ in
                // One `graced status` every second for 6 s, each in its own thread (one that
                // hangs must not hide the others), and graced's RSS every 100 ms meanwhile.
                let controlPath = fixture.controlPath
                var calls: [Reliability.Background<(Double, Int32, String)>] = []
                let deadline = Deadline(after: .seconds(6))
                var nextCall = ContinuousClock.now
                while !deadline.hasPassed {
                    if ContinuousClock.now >= nextCall {
                        nextCall += .seconds(1)
                        calls.append(Reliability.Background("status") {
                            let begin = ContinuousClock.now
                            let status = runGraced(["status", "--control", controlPath], timeout: .seconds(30))
                            return ((ContinuousClock.now - begin).seconds, status.status, status.stderr)
                        })
                    }
                    maxRSS = max(maxRSS, Reliability.rssKiB(pid: fixture.pid) ?? 0)
                    sleepThread(.milliseconds(100))
                }
                for call in calls {
                    let (seconds, code, stderr) = call.wait()
                    latencies.append(seconds)
                    if code != 0 { statusFailures.append("exit \(code) after \(String(format: "%.1f", seconds))s: \(stderr)") }
                }
            }
            let elapsed = (ContinuousClock.now - started).seconds
            let written = (Reliability.bytesWritten(pid: worker) ?? writtenBefore) - writtenBefore
            latencies.sort()
            let logged = Reliability.fileSize(fixture.graced.logPath) - logBefore
            let cpu = (Reliability.cpuSeconds(pid: fixture.pid) ?? cpuBefore) - cpuBefore
            let worst = latencies.max() ?? 0
            let median = latencies.isEmpty ? 0 : latencies[latencies.count / 2]
            print(String(format: "FAULT c flood: worker wrote %.1f MB/s, graced logged %.1f MB/s, graced CPU %.0f%%, "
                         + "graced status latency median %.2fs max %.2fs over %d calls, graced VmRSS max %.1f MB; "
                         + "requests ok %d failed %d",
                         Double(written) / elapsed / 1e6, Double(logged) / elapsed / 1e6, cpu / elapsed * 100,
                         median, worst, latencies.count, Double(maxRSS) / 1024, result.ok, result.failed))
            #expect(fixture.graced.isRunning)
            #expect(statusFailures.isEmpty, "\(statusFailures)")
            // Fails with graced as of this writing (reported, not hidden): the event loop
            // reads up to 16 × 64 KiB per stream per wake-up (OutputStream.readAvailable)
            // and logs every line synchronously, so each turn of the loop costs two
            // streams × ~10,000 log lines before a control client gets its turn; the worker
            // meanwhile blocks on its pipe (it gets ~1 MB/s through, not tens of MB/s).
            #expect(worst < 2.0, "graced status took up to \(worst)s while a worker floods its output: \(latencies)")
            #expect(maxRSS < 100 * 1024, "graced VmRSS reached \(maxRSS) KiB")
            #expect(result.failed == 0 && result.ok > 0, "\(result)")
            // The flood is worker output, logged at info.
            let head = Reliability.head(fixture.graced.logPath, limit: 1 << 20).split(separator: "\n")
            let flood = head.first { $0.contains("yyyyyyyyyy") && $0.contains("event=worker-output") }
            #expect(flood.map { Reliability.level(of: String($0)) } == "info", "\(flood.map { String($0.prefix(300)) } ?? "no flood line")")
        }

        // c. A worker writing a 10 MB line without a newline.
        @Test func tenMegabyteLineIsTruncatedAndGracedStaysUp() throws {
            let fixture = try ReliabilityFixture(
                command: Reliability.faultyWorkerCommand(["--long-line", "10485760", "--work-ms", "2"]),
                workerLines: ["drain_timeout = \"5s\""])
            let worker = try #require(try fixture.status().allPIDs.first)
            let line = try fixture.graced.waitForLog(containing: "…[line truncated]", timeout: .seconds(30))
            // The whole 10 MB reached graced (the worker is not blocked on its pipe).
            let drained = poll(timeout: .seconds(20), interval: .milliseconds(50)) {
                (Reliability.bytesWritten(pid: worker) ?? 0) >= 10_485_760
            }
            let rss = Reliability.rssKiB(pid: fixture.pid) ?? 0
            let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4, warmUp: 50) { _ in }
            let logSize = Reliability.fileSize(fixture.graced.logPath)
            let status = runGraced(["status", "--control", fixture.controlPath], timeout: .seconds(10))
            print("FAULT c long line: logged as \(line.utf8.count) bytes at \(Reliability.level(of: line) ?? "?"), "
                  + "worker wrote all 10 MiB: \(drained), graced VmRSS \(rss / 1024) MB, log file \(logSize) bytes, "
                  + "status exit \(status.status); requests ok \(result.ok) failed \(result.failed)")
            #expect(Reliability.isEvent("worker-output", line), "\(line.prefix(200))")
            #expect(Reliability.level(of: line) == "info", "\(line.prefix(200))")
            #expect(line.utf8.count < 64 * 1024, "a \(line.utf8.count)-byte log line")
            #expect(drained, "the worker could not write its 10 MiB line")
            #expect(rss < 100 * 1024, "graced VmRSS \(rss) KiB")
            #expect(logSize < 2 << 20, "log file of \(logSize) bytes")
            #expect(status.status == 0, "\(status)")
            #expect(result.failed == 0 && result.ok > 0, "\(result)")
            let reload = fixture.reload()
            #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
            try fixture.graced.waitForLog(containing: "generation 1 drained", timeout: .seconds(20))
            #expect(fixture.waitUntilConsistent() == nil)
            #expect(fixture.lines(atLevel: "error").isEmpty && fixture.lines(atLevel: "crit").isEmpty,
                    "\(fixture.lines(atLevel: "error") + fixture.lines(atLevel: "crit"))")
        }

        // d. A worker that closes its stdout and stderr.
        @Test func workerClosingItsStdoutAndStderrIsStillServed() throws {
            let fixture = try ReliabilityFixture(
                command: Reliability.faultyWorkerCommand(["--close-stdio", "--work-ms", "2"]),
                workerLines: ["drain_timeout = \"5s\""])
            let before = try workerInfo(fixture.endpoint)
            let cpuBefore = Reliability.cpuSeconds(pid: fixture.pid) ?? 0
            let started = ContinuousClock.now
            let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4) { load in
                sleepThread(.seconds(2))
                try load.waitForRequests(20)
            }
            let cpu = (Reliability.cpuSeconds(pid: fixture.pid) ?? cpuBefore) - cpuBefore
            let elapsed = (ContinuousClock.now - started).seconds
            let fd1 = fdTarget(pid: before.pid, fd: 1) ?? "?"
            print(String(format: "FAULT d closed stdio: worker fd 1 -> %@, requests ok %d failed %d, served by pids %@, "
                         + "graced CPU %.1f%% meanwhile", fd1, result.ok, result.failed, "\(result.pids.sorted())",
                         cpu / elapsed * 100))
            #expect(fd1 == "/dev/null", "the worker did not close its stdout pipe: fd 1 -> \(fd1)")
            #expect(result.failed == 0 && result.ok > 0, "\(result)")
            #expect(result.pids == [before.pid], "the worker was replaced: \(result)")
            #expect(cpu < 0.5 * elapsed, "graced spins on the closed pipes: \(cpu)s CPU in \(elapsed)s")
            #expect(fixture.waitUntilConsistent() == nil)
            let reload = fixture.reload()
            #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
            try fixture.graced.waitForLog(containing: "generation 1 drained", timeout: .seconds(20))
            let bad = fixture.lines(atLevel: "error") + fixture.lines(atLevel: "crit")
            #expect(bad.isEmpty, "\(bad.joined(separator: "\n"))")
            print("FAULT d log: error/crit lines: \(bad.count); \(fixture.lines(event: "generation-drained").first ?? "")")
        }
    }
}
