// Type=notify and the watchdog: part of SystemdTests; helpers in Support/SystemdFixtures.swift.

import Foundation
import Testing

// MARK: - Type=notify and the watchdog

extension SystemdTests {
    @Suite("Type=notify, watchdog", .timeLimit(.minutes(5)))
    struct Notify {
        /// READY=1 (with STATUS=) once the first generation is ready; RELOADING=1 with
        /// MONOTONIC_USEC= then READY=1 for `graced reload`, for a failed reload and for
        /// SIGHUP; STOPPING=1 on SIGTERM. Every message comes from graced's own pid
        /// (NotifyAccess=main), and workers never see the manager's socket.
        @Test func readyReloadingAndStoppingInOrder() throws {
            let directory = try TemporaryDirectory(prefix: "sd-notify")
            let manager = try ServiceManagerSocket()
            let port = freeTCPPort()
            let workerLines = ["ready = \"notify\"", "drain_timeout = \"5s\"", "ready_timeout = \"60s\""]
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(["--ready-after", "1"]), workerLines: workerLines)
            let started = ContinuousClock.now
            let graced = try GracedProcess(config: config, environment: ["NOTIFY_SOCKET": manager.address])
            defer { graced.terminate() }

            // READY=1 only once the worker said READY=1 (it waits 1 s), never before.
            let (readyIndex, ready) = try manager.waitFor("READY=1", timeout: .seconds(60))
            #expect(ready.receivedAt - started >= .milliseconds(950), "READY=1 before the worker was ready: \(manager.transcript)")
            #expect(graced.log().contains("generation 1 ready"), "READY=1 before generation 1 was ready; log:\n\(graced.log())")
            #expect(ready.value("STATUS") == "generation 1: 1/1 workers ready", "\(ready)")
            #expect(ready.senderPID == graced.pid, "READY=1 not sent by graced's main pid: \(ready)")
            #expect(manager.messages[..<readyIndex].allSatisfy { !$0.text.contains("READY=1") })
            let info = try workerInfo(port: port, timeout: .seconds(10))
            #expect(info.generation == "1")
            #expect(info.notifySocket != nil && info.notifySocket != manager.address,
                    "the worker got the manager's NOTIFY_SOCKET: \(info.notifySocket ?? "nil")")

            // graced reload: RELOADING=1 with MONOTONIC_USEC= taken during the reload, then READY=1.
            var from = manager.messages.count
            var before = monotonicMicroseconds()
            let reload = runGraced(["reload", "--config", config], timeout: .seconds(90))
            #expect(reload.status == 0, "reload: \(reload)\nlog:\n\(graced.log())")
            var (reloadingIndex, reloading) = try manager.waitFor("RELOADING=1", from: from)
            let stamp = try #require(reloading.value("MONOTONIC_USEC").flatMap { UInt64($0) },
                                     "RELOADING=1 without a numeric MONOTONIC_USEC=: \(reloading)")
            #expect(stamp >= before && stamp <= reloading.receivedMonotonicMicroseconds,
                    "MONOTONIC_USEC=\(stamp) not on CLOCK_MONOTONIC between \(before) and \(reloading.receivedMonotonicMicroseconds)")
            #expect(manager.messages[from..<reloadingIndex].allSatisfy { !$0.has("READY=1") }, "\(manager.transcript)")
            var reloadReady = try manager.waitFor("READY=1", from: reloadingIndex + 1).message
            #expect(reloadReady.receivedAt - reloading.receivedAt >= .milliseconds(900),
                    "READY=1 came before the new worker could be ready (it waits 1 s): \(manager.transcript)")
            #expect(reloadReady.value("STATUS")?.hasPrefix("generation 2: 1/1 workers ready") == true, "\(reloadReady)")
            #expect(reloadReady.value("STATUS")?.contains("last reload ok") == true, "\(reloadReady)")
            try sdWaitForGeneration("2", port: port)

            // A reload that fails (broken config): RELOADING=1, then READY=1 again.
            let good = String(decoding: readWholeFile(config) ?? [], as: UTF8.self)
            try writeRawConfig(in: directory.path, sdBrokenConfig(directory: directory.path))
            from = manager.messages.count
            before = monotonicMicroseconds()
            let failed = runGraced(["reload", "--config", config], timeout: .seconds(90))
            #expect(failed.status == 1, "reload of a broken config: \(failed)")
            (reloadingIndex, reloading) = try manager.waitFor("RELOADING=1", from: from)
            let failedStamp = reloading.value("MONOTONIC_USEC").flatMap { UInt64($0) } ?? 0
            #expect(failedStamp >= before && failedStamp <= reloading.receivedMonotonicMicroseconds, "\(reloading)")
            reloadReady = try manager.waitFor("READY=1", from: reloadingIndex + 1).message
            #expect(reloadReady.value("STATUS")?.contains("last reload failed") == true, "\(reloadReady)")
            #expect(reloadReady.value("STATUS")?.hasPrefix("generation 2:") == true, "\(reloadReady)")
            #expect(try workerInfo(port: port, timeout: .seconds(10)).generation == "2")

            // SIGHUP (what Type=notify-reload sends): the same sequence.
            try writeRawConfig(in: directory.path, good)
            from = manager.messages.count
            graced.signal(SIGHUP)
            (reloadingIndex, reloading) = try manager.waitFor("RELOADING=1", from: from)
            #expect(reloading.value("MONOTONIC_USEC").flatMap { UInt64($0) } != nil, "\(reloading)")
            reloadReady = try manager.waitFor("READY=1", from: reloadingIndex + 1, timeout: .seconds(60)).message
            #expect(reloadReady.value("STATUS")?.hasPrefix("generation 3:") == true, "\(reloadReady)")
            try sdWaitForGeneration("3", port: port)

            // SIGTERM: STOPPING=1, and nothing says READY=1 afterwards.
            from = manager.messages.count
            graced.signal(SIGTERM)
            let (stoppingIndex, stopping) = try manager.waitFor("STOPPING=1", from: from)
            #expect(stopping.senderPID == graced.pid)
            #expect(try graced.waitForExit(timeout: .seconds(30)) == 0, "log:\n\(graced.log())")
            #expect(manager.messages[stoppingIndex...].allSatisfy { !$0.has("READY=1") && !$0.has("RELOADING=1") },
                    "\(manager.transcript)")
            #expect(manager.messages.allSatisfy { $0.senderPID == graced.pid }, "a message from another pid:\n\(manager.transcript)")
        }

        /// No READY=1 while the first generation is not ready (systemd keeps the unit
        /// "activating" and applies TimeoutStartSec=); STOPPING=1 still comes on SIGTERM.
        @Test func noReadyWhileTheFirstGenerationIsNotReady() throws {
            let directory = try TemporaryDirectory(prefix: "sd-notready")
            let manager = try ServiceManagerSocket()
            let port = freeTCPPort()
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(["--never-ready"]),
                                         workerLines: ["ready = \"notify\"", "ready_timeout = \"60s\""])
            let graced = try GracedProcess(config: config, environment: ["NOTIFY_SOCKET": manager.address])
            defer { graced.terminate() }
            try graced.waitForLog(containing: "event=worker-started", timeout: .seconds(60))
            sleepThread(.milliseconds(2500))
            #expect(graced.isRunning)
            #expect(!manager.messages.contains { $0.has("READY=1") }, "\(manager.transcript)")
            graced.signal(SIGTERM)
            try manager.waitFor("STOPPING=1")
            #expect(!manager.messages.contains { $0.has("READY=1") }, "\(manager.transcript)")
        }

        /// WatchdogSec=: with WATCHDOG_USEC=400000 and WATCHDOG_PID = graced's pid, graced sends
        /// WATCHDOG=1 every 200 ms (half the timeout), and workers do not inherit the watchdog.
        @Test func watchdogPingsAtHalfTheTimeout() throws {
            let directory = try TemporaryDirectory(prefix: "sd-watchdog")
            let manager = try ServiceManagerSocket()
            let port = freeTCPPort()
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\""])
            let wrapper = try gracedWrapper(in: directory.path, name: "watchdog.sh", prelude: "export WATCHDOG_PID=$$")
            let graced = try GracedProcess(config: config, environment: ["NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "400000"],
                                           executable: wrapper)
            defer { graced.terminate() }
            try manager.waitFor("READY=1", timeout: .seconds(60))
            try graced.waitForLog(containing: "watchdog enabled: pinging every 200ms", timeout: .seconds(10))

            let windowStart = ContinuousClock.now
            sleepThread(.seconds(3))
            let windowEnd = ContinuousClock.now
            let pings = manager.messages.filter { $0.has("WATCHDOG=1") }
            let inWindow = pings.filter { $0.receivedAt >= windowStart && $0.receivedAt <= windowEnd }
            let gaps = zip(pings.dropFirst(), pings).map { ($0.receivedAt - $1.receivedAt).seconds }
            print("SystemdTests watchdog: \(inWindow.count) pings in \((windowEnd - windowStart).seconds) s, "
                  + "gaps min \(gaps.min() ?? 0) max \(gaps.max() ?? 0) s")
            #expect((8...25).contains(inWindow.count), "\(inWindow.count) WATCHDOG=1 in 3 s; expected about 15")
            #expect(pings.allSatisfy { $0.senderPID == graced.pid && $0.text == "WATCHDOG=1" }, "\(manager.transcript)")
            // systemd kills the service when a gap exceeds WATCHDOG_USEC (0.4 s); on a loaded
            // test machine only flag gaps that would be far too long.
            #expect((gaps.max() ?? 0) < 1.0, "a WATCHDOG=1 gap of \(gaps.max() ?? 0) s")

            let info = try workerInfo(port: port, timeout: .seconds(10))
            let workerEnvironment = environment(pid: info.pid)
            #expect(!workerEnvironment.isEmpty)
            #expect(workerEnvironment["WATCHDOG_USEC"] == nil && workerEnvironment["WATCHDOG_PID"] == nil,
                    "the worker inherited the watchdog: \(workerEnvironment.filter { $0.key.hasPrefix("WATCHDOG") })")
        }

        enum WatchdogOff: String, CaseIterable, Sendable {
            /// No WatchdogSec=: no WATCHDOG_USEC.
            case noWatchdogUsec
            /// WATCHDOG_PID names another process: the watchdog is not graced's.
            case watchdogPIDOfAnotherProcess
        }

        /// Without WATCHDOG_USEC, or with a WATCHDOG_PID that is not graced, no WATCHDOG=1 at all.
        @Test(arguments: WatchdogOff.allCases)
        func noWatchdogPingsWhenTheWatchdogIsNotGraceds(_ mode: WatchdogOff) throws {
            let directory = try TemporaryDirectory(prefix: "sd-nowatchdog")
            let manager = try ServiceManagerSocket()
            let port = freeTCPPort()
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\""])
            var environment = ["NOTIFY_SOCKET": manager.address]
            if mode == .watchdogPIDOfAnotherProcess {
                environment["WATCHDOG_USEC"] = "400000"
                environment["WATCHDOG_PID"] = "\(getpid())"
            }
            let graced = try GracedProcess(config: config, environment: environment)
            defer { graced.terminate() }
            try manager.waitFor("READY=1", timeout: .seconds(60))
            sleepThread(.seconds(2))
            #expect(!manager.messages.contains { $0.text.contains("WATCHDOG") }, "\(manager.transcript)")
            #expect(!graced.log().contains("watchdog enabled"), "log:\n\(graced.log())")
        }
    }
}
