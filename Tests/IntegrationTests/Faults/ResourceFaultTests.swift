// graced near its fd limit, with its stderr broken or closed.
// Part of FaultInjectionTests (serialized); fixtures in Support/ReliabilityFixture.swift.

import Foundation
import Testing

extension FaultInjectionTests {
    @Suite struct Resource {
        // f. graced near RLIMIT_NOFILE with many control clients.
        @Test func lowFileLimitAndManyControlClientsDoNotKillGraced() throws {
            let gracedBinary = try Binaries.graced
            let fixture = try ReliabilityFixture(
                command: Binaries.workerCommand(["--work-ms", "2"]), workerLines: ["drain_timeout = \"5s\""],
                executable: "{dir}/graced-nofile.sh",
                beforeStart: { directory in
                    let script = directory.file("graced-nofile.sh")
                    try "#!/bin/sh\nulimit -n 40 || exit 97\nexec \(gracedBinary) \"$@\"\n"
                        .write(toFile: script, atomically: true, encoding: .utf8)
                    chmod(script, 0o755)
                })
            let limits = String(decoding: readWholeFile("/proc/\(fixture.pid)/limits") ?? [], as: UTF8.self)
            let limitLine = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }.map(String.init) ?? "?"
            try #require(limitLine.split(separator: " ").contains("40"), "\(limitLine)")
            let baseline = fixture.fdCount()
            let address = try SocketAddress(unixPath: fixture.controlPath)
            let clients = Locked<[Int32]>([])
            defer { clients.withLock { $0.forEach { close($0) }; $0 = [] } }
            var peak = 0
            var hupVerdict = "none"
            var warning = ""
            var statusBack: Duration?
            let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4) { load in
                let offset = fixture.graced.logOffset()
                for _ in 0..<60 {
                    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
                    guard fd >= 0 else { continue }
                    if address.withSockaddr({ connect(fd, $0, $1) }) == 0 || errno == EINPROGRESS {
                        clients.withLock { $0.append(fd) }
                    } else {
                        close(fd)
                    }
                }
                poll(timeout: .seconds(10), interval: .milliseconds(20)) { fixture.fdCount() >= 40 }
                peak = fixture.fdCount()
                warning = try fixture.graced.waitForLog(matching: { Reliability.isEvent("control-accept-failed", $0) },
                                                        since: offset, timeout: .seconds(10),
                                                        what: "control-accept-failed")[0]
                // A reload while no fd is left.
                let hupOffset = fixture.graced.logOffset()
                fixture.graced.signal(SIGHUP)
                hupVerdict = try fixture.graced.waitForLog(
                    matching: { Reliability.isEvent("reload-succeeded", $0) || Reliability.isEvent("reload-failed", $0) },
                    since: hupOffset, timeout: .seconds(30), what: "a reload verdict")[0]
                sleepThread(.milliseconds(500))
                #expect(fixture.graced.isRunning)
                clients.withLock { $0.forEach { close($0) }; $0 = [] }
                let closed = ContinuousClock.now
                if poll(timeout: .seconds(20), interval: .milliseconds(100), {
                    runGraced(["status", "--control", fixture.controlPath], timeout: .seconds(5)).status == 0
                }) { statusBack = ContinuousClock.now - closed }
                try load.waitForRequests(20)
            }
            let reload = fixture.reload()
            let problem = fixture.waitUntilConsistent()
            let settled = poll(timeout: .seconds(10), interval: .milliseconds(100)) { fixture.fdCount() <= baseline }
            let warnings = fixture.lines(event: "control-accept-failed")
            print("FAULT f nofile: \(limitLine.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")); "
                  + "graced fds \(baseline) before, \(peak) with 60 clients held; \(warnings.count) control-accept-failed "
                  + "lines at \(Set(warnings.compactMap(Reliability.level(of:))).sorted()); SIGHUP meanwhile: "
                  + "\(hupVerdict.split(separator: " ").dropFirst(1).joined(separator: " ").prefix(240)); status answered "
                  + "\(statusBack.map { "\($0)" } ?? "NEVER") after the clients closed; reload after: exit \(reload.status); "
                  + "fds back to \(fixture.fdCount()); requests ok \(result.ok) failed \(result.failed)")
            #expect(fixture.graced.isRunning)
            #expect(peak >= 39, "graced never came near its limit: \(peak) fds")
            #expect(Reliability.level(of: warning) == "warn", "\(warning)")
            #expect(warnings.allSatisfy { Reliability.level(of: $0) == "warn" })
            #expect(statusBack != nil, "graced status did not answer after the clients closed\n\(fixture.logTail())")
            #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
            #expect(problem == nil, "\(problem ?? "")")
            #expect(settled, "graced holds \(fixture.fdCount()) fds, \(baseline) before")
            #expect(result.failed == 0, "\(result)")
            #expect(fixture.lines(atLevel: "crit").isEmpty)
        }

        // g. graced's stderr is a pipe whose reader has gone.
        @Test func brokenStderrPipeDoesNotKillGraced() throws {
            var reader: Int32 = -1
            let fixture = try ReliabilityFixture(
                command: Binaries.workerCommand(["--work-ms", "2"]), workerLines: ["drain_timeout = \"5s\""],
                logPath: "{dir}/stderr.fifo", ready: .status,
                beforeStart: { directory in
                    let fifo = directory.file("stderr.fifo")
                    guard mkfifo(fifo, 0o600) == 0 else { throw TestSupportError("mkfifo: \(errnoText())") }
                    reader = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
                    guard reader >= 0 else { throw TestSupportError("open \(fifo): \(errnoText())") }
                })
            defer { if reader >= 0 { close(reader) } }
            // What graced wrote so far, then the reader goes away.
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
            let startLog = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
            #expect(startLog.contains("generation 1 ready"), "\(startLog)")
            close(reader)
            reader = -1
            let ignored = Reliability.signalMask("SigIgn", pid: fixture.pid)
            let report = try exerciseWithoutReadableLog(fixture)
            print("FAULT g broken stderr pipe: SIGPIPE ignored by graced: \(ignored.map { $0 & (1 << 12) != 0 }.map(String.init) ?? "?"); \(report)")
        }

        // g. graced started with stdout and stderr closed.
        @Test func closedStdoutAndStderrDoNotKillGraced() throws {
            let gracedBinary = try Binaries.graced
            let fixture = try ReliabilityFixture(
                command: Binaries.workerCommand(["--work-ms", "2"]), workerLines: ["drain_timeout = \"5s\""],
                executable: "{dir}/graced-closed.sh", ready: .status,
                beforeStart: { directory in
                    let script = directory.file("graced-closed.sh")
                    try "#!/bin/sh\nexec 1>&- 2>&-\nexec \(gracedBinary) \"$@\"\n"
                        .write(toFile: script, atomically: true, encoding: .utf8)
                    chmod(script, 0o755)
                })
            let fd1 = fdTarget(pid: fixture.pid, fd: 1) ?? "closed"
            let fd2 = fdTarget(pid: fixture.pid, fd: 2) ?? "closed"
            // graced does not reopen 0-2 on /dev/null: whatever it opens first lands there,
            // and its log lines are written into it. They must not reach a peer.
            for (fd, target) in [(1, fd1), (2, fd2)] {
                #expect(!target.hasPrefix("socket:") && !target.hasPrefix("pipe:"),
                        "graced's fd \(fd) (where its log goes) is \(target)")
            }
            let report = try exerciseWithoutReadableLog(fixture)
            print("FAULT g closed stdout/stderr: graced's fd 1 -> \(fd1), fd 2 -> \(fd2) (never reopened on /dev/null); \(report)")
        }

        /// Reloads, a SIGHUP, a killed worker and a stop, for a graced whose log goes
        /// nowhere: every step must work, and graced must exit 0 (not 141, SIGPIPE).
        private func exerciseWithoutReadableLog(_ fixture: ReliabilityFixture) throws -> String {
            var reloads: [Int32] = []
            var restarted = false
            let result = try Reliability.underLoad(fixture.endpoint, concurrency: 4) { load in
                for _ in 1...3 {
                    let reload = fixture.reload()
                    reloads.append(reload.status)
                    #expect(reload.status == 0, "\(reload)")
                }
                fixture.graced.signal(SIGHUP)
                try fixture.waitForServing(generation: 5, timeout: .seconds(30))
                let victim = try #require(try fixture.status().allPIDs.first)
                kill(pid_t(victim), SIGKILL)   // an error line and a restart, both logged into nowhere
                restarted = poll(timeout: .seconds(20), interval: .milliseconds(50)) {
                    guard let status = try? fixture.status(), let pid = status.allPIDs.first else { return false }
                    return pid != victim && status.serving.first?.workers.first?.state == "ready"
                }
                try load.waitForRequests(20)
            }
            #expect(restarted, "the killed worker was not restarted")
            #expect(fixture.waitUntilConsistent() == nil)
            #expect(result.failed <= 4, "\(result)")   // the killed worker's in-flight requests at most
            let stop = runGraced(["stop", "--control", fixture.controlPath], timeout: .seconds(30))
            #expect(stop.status == 0, "\(stop)")
            let exit = try fixture.graced.waitForExit(timeout: .seconds(20))
            #expect(exit == 0, "graced exited \(exit)\(exit == 128 + SIGPIPE ? " (SIGPIPE)" : "")")
            return "reloads \(reloads), SIGHUP reload ok, killed worker restarted: \(restarted), requests ok \(result.ok) "
                + "failed \(result.failed), graced stop exit \(stop.status), graced exit status \(exit)"
        }
    }
}
