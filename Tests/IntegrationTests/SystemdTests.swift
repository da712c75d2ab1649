// graced and systemd (graced-interface.md §5 and §6), with the real graced and
// examples/worker.py, and test-owned stand-ins for systemd (Support/SystemdPeers.swift):
// the Type=notify protocol, the watchdog, the fd store, socket activation in, a restart
// that hands stored sockets back, logging to the journal, and the shipped units.
//
// Every test runs its own graced in its own temporary directory on ports from
// freeTCPPort(); graced and everything below it are SIGKILLed when the test ends.

import Foundation
import Testing

// MARK: - Helpers

/// `graced status --json` as a JSON object.
private func sdStatus(config: String) throws -> [String: Any] {
    let result = runGraced(["status", "--json", "--config", config], timeout: .seconds(30))
    guard result.status == 0 else {
        throw TestSupportError("graced status --json exited \(result.status): \(result.stdout) \(result.stderr)")
    }
    guard let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
        throw TestSupportError("graced status --json printed no JSON object: \(result.stdout)")
    }
    return object
}

/// One listener of `graced status --json`.
private struct StatusListener: CustomStringConvertible {
    var name: String
    var address: String
    var origin: String
    var inode: UInt64?
    var description: String { "\(name) \(address) origin \(origin) inode \(inode.map(String.init) ?? "nil")" }
}

private func sdListeners(config: String) throws -> [StatusListener] {
    let listeners = try sdStatus(config: config)["listeners"] as? [[String: Any]] ?? []
    return listeners.map {
        StatusListener(name: $0["name"] as? String ?? "?", address: $0["address"] as? String ?? "?",
                       origin: $0["origin"] as? String ?? "?", inode: ($0["inode"] as? NSNumber)?.uint64Value)
    }
}

/// Polls until a request is answered by generation `generation`.
@discardableResult
private func sdWaitForGeneration(_ generation: String, port: UInt16, timeout: Duration = .seconds(30)) throws -> WorkerInfo {
    var last = "no answer"
    let deadline = Deadline(after: timeout)
    while !deadline.hasPassed {
        do {
            let info = try workerInfo(port: port, timeout: .seconds(10))
            if info.generation == generation { return info }
            last = "generation \(info.generation ?? "nil") pid \(info.pid)"
        } catch {
            last = "\(error)"
        }
        sleepThread(.milliseconds(50))
    }
    throw TestSupportError("no answer from generation \(generation) on port \(port) within \(timeout); last: \(last)")
}

/// A wrapper script that runs the built graced with the wrapper's arguments after
/// `prelude` (shell lines, e.g. `export WATCHDOG_PID=$$`): the pid stays the wrapper's.
private func gracedWrapper(in directory: String, name: String, prelude: String) throws -> String {
    try writeExecutable(directory + "/" + name, """
        #!/bin/sh
        \(prelude)
        exec \(shellQuote(try Binaries.graced)) "$@"

        """)
}

/// The executable a process runs now (readlink /proc/PID/exe).
private func executable(of pid: Int) -> String? {
    readLink("/proc/\(pid)/exe")
}

/// A config whose only readable line is the control socket (so that `graced reload
/// --config` still reaches graced, which must then report the error).
private func sdBrokenConfig(directory: String) -> String {
    "[graced]\ncontrol_socket = \(tomlString(controlSocketPath(in: directory)))\n\n[worker\ncommand = 3\n"
}

private let socketActivateAvailable = Binaries.systemdSocketActivate != nil

/// Everything systemd-related, so that `swift test --filter IntegrationTests.SystemdTests`
/// runs it all.
@Suite("systemd") struct SystemdTests {}

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

// MARK: - fd store

extension SystemdTests {
    @Suite("file-descriptor store", .timeLimit(.minutes(5)))
    struct FDStore {
        enum Source: String, CaseIterable, Sendable {
            /// systemd 254+ exports FDSTORE= when FileDescriptorStoreMax= is set.
            case fdstoreEnvironment
            /// `[graced] fd_store = true` for older systemd.
            case fdStoreConfigKey
        }

        /// Each listener goes to the store once, as FDSTORE=1 + FDNAME=<name> with exactly one
        /// fd: the very listening socket graced serves on. A listener removed by a reload is
        /// dropped with FDSTOREREMOVE=1 + FDNAME=<name>; the kept one is not stored again.
        @Test(arguments: Source.allCases)
        func storesEachListenerOnceAndRemovesRetiredOnes(_ source: Source) throws {
            let directory = try TemporaryDirectory(prefix: "sd-fdstore")
            let manager = try ServiceManagerSocket()
            let (httpPort, adminPort) = (freeTCPPort(), freeTCPPort())
            let gracedLines = source == .fdStoreConfigKey ? ["fd_store = true"] : []
            let config = try writeConfig(in: directory.path,
                                         listeners: [("http", "127.0.0.1:\(httpPort)"), ("admin", "127.0.0.1:\(adminPort)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\"", "drain_timeout = \"5s\""],
                                         gracedLines: gracedLines)
            var environment = ["NOTIFY_SOCKET": manager.address]
            if source == .fdstoreEnvironment { environment["FDSTORE"] = "64" }
            let graced = try GracedProcess(config: config, environment: environment)
            defer { graced.terminate() }
            try manager.waitFor("READY=1", timeout: .seconds(60))

            let stored = manager.messages.filter { $0.has("FDSTORE=1") }
            #expect(stored.map { $0.value("FDNAME") ?? "?" }.sorted() == ["admin", "http"], "\(manager.transcript)")
            let statusListeners = try sdListeners(config: config)
            for message in stored {
                let name = message.value("FDNAME") ?? "?"
                #expect(message.fds.count == 1, "FDSTORE for \(name) carried \(message.fds.count) fds")
                #expect(message.senderPID == graced.pid)
                guard let fd = message.fds.first else { continue }
                let facts = try #require(socketFacts(fd), "the fd stored as \(name) is not a socket")
                let port = name == "http" ? httpPort : adminPort
                #expect(facts.type == Int32(SOCK_STREAM.rawValue) && facts.listening, "\(name): \(facts)")
                #expect(facts.address == "127.0.0.1:\(port)", "\(name): \(facts)")
                let expected = statusListeners.first { $0.name == name }
                #expect(expected?.inode == facts.inode, "stored \(name) is not graced's listener: \(facts) vs \(statusListeners)")
                #expect(expected?.origin == "bound", "\(statusListeners)")
            }

            // A reload that drops `admin`.
            try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(httpPort)")],
                            command: Binaries.workerCommand(), workerLines: ["ready = \"notify\"", "drain_timeout = \"5s\""],
                            gracedLines: gracedLines)
            let from = manager.messages.count
            let reload = runGraced(["reload", "--config", config], timeout: .seconds(90))
            #expect(reload.status == 0, "reload: \(reload)\nlog:\n\(graced.log())")
            try manager.waitFor("READY=1", from: from)
            let (_, removal) = try manager.waitFor(from: from, timeout: .seconds(10), what: "FDSTOREREMOVE=1 for admin") {
                $0.has("FDSTOREREMOVE=1")
            }
            #expect(removal.value("FDNAME") == "admin", "\(removal)")
            #expect(removal.fds.isEmpty)
            let afterReload = manager.messages[from...]
            #expect(!afterReload.contains { $0.has("FDSTORE=1") }, "a listener was stored again:\n\(manager.transcript)")
            #expect(afterReload.filter { $0.has("FDSTOREREMOVE=1") }.count == 1, "\(manager.transcript)")
        }

        /// The round trip: graced stores its listeners, crashes (SIGKILL, workers too), and
        /// systemd starts it again with the stored fds in LISTEN_FDS by FDNAME. The new
        /// graced adopts exactly those sockets (origin "fd store"), binds nothing, serves
        /// on both; a connection made while no graced ran waits and is served.
        @Test func crashedGracedGetsItsStoredListenersBack() throws {
            let directory = try TemporaryDirectory(prefix: "sd-fdback")
            let manager = try ServiceManagerSocket()
            let (httpPort, adminPort) = (freeTCPPort(), freeTCPPort())
            let config = try writeConfig(in: directory.path,
                                         listeners: [("http", "127.0.0.1:\(httpPort)"), ("admin", "127.0.0.1:\(adminPort)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\"", "drain_timeout = \"5s\""],
                                         gracedLines: ["fd_store = true"])
            let first = try GracedProcess(config: config, environment: ["NOTIFY_SOCKET": manager.address])
            defer { first.terminate() }
            try manager.waitFor("READY=1", timeout: .seconds(60))
            let stored = manager.messages.filter { $0.has("FDSTORE=1") }
                .compactMap { message in message.fds.first.map { (name: message.value("FDNAME") ?? "?", fd: $0) } }
            #expect(stored.map(\.name).sorted() == ["admin", "http"], "\(manager.transcript)")
            let storedInodes = Dictionary(uniqueKeysWithValues: stored.map { ($0.name, socketFacts($0.fd)?.inode ?? 0) })
            let oldWorker = try workerInfo(port: httpPort, timeout: .seconds(10))

            // The crash: graced and its worker die; the store keeps both ports listening.
            first.terminate()
            #expect(poll(timeout: .seconds(10)) { !processExists(pid: oldWorker.pid) })
            #expect(listeningTCPSockets(port: httpPort).map(\.inode) == [storedInodes["http"] ?? 0])
            let waiting = try HTTPConnection(.tcp(host: "127.0.0.1", port: httpPort), timeout: .seconds(5))

            // systemd passes the store back in the order it holds the fds.
            let from = manager.messages.count
            let logPath = directory.file("second.log")
            let second = try startGracedWithPassedFDs(config: config, fds: stored, environment: ["NOTIFY_SOCKET": manager.address],
                                                      logPath: logPath)
            defer { second.killAll() }
            func log() -> String { String(decoding: readWholeFile(logPath) ?? [], as: UTF8.self) }
            let (_, ready) = try manager.waitFor(from: from, timeout: .seconds(60), what: "READY=1 from the new graced") {
                $0.has("READY=1")
            }
            #expect(ready.senderPID == second.pid, "log:\n\(log())")
            let served = try waiting.get("/queued", keepAlive: false, timeout: .seconds(30))
            #expect(served.status == 200, "the connection made during the crash: \(served.status)")

            let listeners = try sdListeners(config: config)
            #expect(listeners.map(\.origin) == ["fd store", "fd store"], "\(listeners)")
            for listener in listeners {
                #expect(listener.inode == storedInodes[listener.name], "\(listener) is not the stored socket \(storedInodes)")
                let port = listener.name == "http" ? httpPort : adminPort
                #expect(listeningTCPSockets(port: port).map(\.inode) == [storedInodes[listener.name] ?? 0],
                        "\(listener.name): \(listeningTCPSockets(port: port))")
            }
            let info = try workerInfo(port: adminPort, timeout: .seconds(10))
            #expect(info.ppid == second.pid && info.listener == "admin" && info.listenFDNames == "http:admin",
                    "\(info.listener) \(info.listenFDNames ?? "nil")")
            #expect(!log().contains("matches no [[listener]]") && !log().contains("does not fit"), "log:\n\(log())")
        }

        enum Disabled: String, CaseIterable, Sendable {
            /// NOTIFY_SOCKET but neither FDSTORE nor fd_store.
            case neitherFDSTORENorFDStoreKey
            /// FDSTORE=1 and fd_store = true, but no service manager (no NOTIFY_SOCKET): graced
            /// must simply run.
            case noNotifySocket
        }

        /// No FDSTORE message unless the store is there.
        @Test(arguments: Disabled.allCases)
        func nothingIsStoredWithoutAStore(_ mode: Disabled) throws {
            let directory = try TemporaryDirectory(prefix: "sd-nofdstore")
            let manager = try ServiceManagerSocket()
            let port = freeTCPPort()
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\""],
                                         gracedLines: mode == .noNotifySocket ? ["fd_store = true"] : [])
            let environment = mode == .noNotifySocket ? ["FDSTORE": "1"] : ["NOTIFY_SOCKET": manager.address]
            let graced = try GracedProcess(config: config, environment: environment)
            defer { graced.terminate() }
            switch mode {
            case .neitherFDSTORENorFDStoreKey:
                try manager.waitFor("READY=1", timeout: .seconds(60))
                sleepThread(.milliseconds(500))
                #expect(!manager.messages.contains { $0.text.contains("FDSTORE") || !$0.fds.isEmpty }, "\(manager.transcript)")
            case .noNotifySocket:
                try graced.waitForLog(containing: "generation 1 ready", timeout: .seconds(60))
                #expect(try workerInfo(port: port, timeout: .seconds(10)).generation == "1")
                #expect(manager.messages.isEmpty)
            }
        }

        /// A reload that moves a listener to another address under the same name must swap
        /// the stored socket (FDSTOREREMOVE=1 then FDSTORE=1 with the new socket); otherwise
        /// systemd keeps the old port bound and, after a restart, hands graced a socket named
        /// `http` that no longer fits its config (graced then exits 1).
        @Test func reloadThatMovesAListenerReplacesTheStoredSocket() throws {
            let directory = try TemporaryDirectory(prefix: "sd-fdmove")
            let manager = try ServiceManagerSocket()
            let (oldPort, newPort) = (freeTCPPort(), freeTCPPort())
            let workerLines = ["ready = \"notify\"", "drain_timeout = \"5s\""]
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(oldPort)")],
                                         command: Binaries.workerCommand(), workerLines: workerLines, gracedLines: ["fd_store = true"])
            let graced = try GracedProcess(config: config, environment: ["NOTIFY_SOCKET": manager.address])
            defer { graced.terminate() }
            try manager.waitFor("READY=1", timeout: .seconds(60))
            #expect(manager.messages.filter { $0.has("FDSTORE=1") }.count == 1, "\(manager.transcript)")

            try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(newPort)")],
                            command: Binaries.workerCommand(), workerLines: workerLines, gracedLines: ["fd_store = true"])
            let from = manager.messages.count
            let reload = runGraced(["reload", "--config", config], timeout: .seconds(90))
            #expect(reload.status == 0, "reload: \(reload)\nlog:\n\(graced.log())")
            try manager.waitFor("READY=1", from: from)
            try sdWaitForGeneration("2", port: newPort)
            sleepThread(.milliseconds(300))

            let after = Array(manager.messages[from...])
            let removeIndex = after.firstIndex { $0.has("FDSTOREREMOVE=1") && $0.value("FDNAME") == "http" }
            let storeIndex = after.firstIndex { $0.has("FDSTORE=1") && $0.value("FDNAME") == "http" }
            #expect(removeIndex != nil, "no FDSTOREREMOVE=1 for the moved listener:\n\(manager.transcript)")
            let stored = try #require(storeIndex.map { after[$0] }, "the moved listener's new socket was not stored:\n\(manager.transcript)")
            if let removeIndex, let storeIndex { #expect(removeIndex < storeIndex) }
            #expect(stored.fds.count == 1)
            #expect(stored.fds.first.flatMap(socketFacts)?.address == "127.0.0.1:\(newPort)")

            // What that means on the next restart: systemd hands back what it stored under
            // "http" (every fd of that name, in order), and graced must serve on the new port.
            let handedBack = manager.messages.filter { $0.has("FDSTORE=1") && $0.value("FDNAME") == "http" }
                .flatMap { message in message.fds.map { (name: "http", fd: $0) } }
            let removedLater = manager.messages.contains { $0.has("FDSTOREREMOVE=1") && $0.value("FDNAME") == "http" }
            let kept = removedLater ? Array(handedBack.suffix(1)) : handedBack
            graced.terminate()
            let logPath = directory.file("restarted.log")
            let restarted = try startGracedWithPassedFDs(config: config, fds: kept, logPath: logPath)
            defer { restarted.killAll() }
            let came = poll(timeout: .seconds(60)) {
                restarted.exitStatus() != nil || String(decoding: readWholeFile(logPath) ?? [], as: UTF8.self).contains("generation 1 ready")
            }
            let restartLog = String(decoding: readWholeFile(logPath) ?? [], as: UTF8.self)
            #expect(came, "log:\n\(restartLog)")
            #expect(restarted.exitStatus() == nil, "restarted graced exited \(restarted.exitStatus() ?? -1):\n\(restartLog)")
        }

        /// A reload that adds a listener and then fails must not leave that listener in the
        /// store: graced closes the socket, but a stored copy would keep the port bound in
        /// systemd (a later reload could not bind it) and come back after a restart.
        @Test func failedReloadDoesNotLeaveItsNewListenerInTheStore() throws {
            let directory = try TemporaryDirectory(prefix: "sd-fdfail")
            let manager = try ServiceManagerSocket()
            let (httpPort, adminPort) = (freeTCPPort(), freeTCPPort())
            let workerLines = ["ready = \"notify\"", "drain_timeout = \"5s\""]
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(httpPort)")],
                                         command: Binaries.workerCommand(), workerLines: workerLines, gracedLines: ["fd_store = true"])
            let graced = try GracedProcess(config: config, environment: ["NOTIFY_SOCKET": manager.address])
            defer { graced.terminate() }
            try manager.waitFor("READY=1", timeout: .seconds(60))

            try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(httpPort)"), ("admin", "127.0.0.1:\(adminPort)")],
                            command: Binaries.workerCommand(["--crash-at-start"]), workerLines: workerLines,
                            gracedLines: ["fd_store = true"])
            let from = manager.messages.count
            let reload = runGraced(["reload", "--config", config], timeout: .seconds(90))
            #expect(reload.status == 1, "reload with a crashing worker: \(reload)")
            try manager.waitFor("READY=1", from: from)
            sleepThread(.milliseconds(300))
            let after = Array(manager.messages[from...])
            let storedAdmin = after.filter { $0.has("FDSTORE=1") && $0.value("FDNAME") == "admin" }
            let removedAdmin = after.filter { $0.has("FDSTOREREMOVE=1") && $0.value("FDNAME") == "admin" }

            // Fixed, the same reload must now succeed. (The test keeps every stored fd, as
            // systemd does: a socket left in the store still holds the port.)
            try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(httpPort)"), ("admin", "127.0.0.1:\(adminPort)")],
                            command: Binaries.workerCommand(), workerLines: workerLines, gracedLines: ["fd_store = true"])
            let retry = runGraced(["reload", "--config", config], timeout: .seconds(90))
            #expect(storedAdmin.isEmpty || !removedAdmin.isEmpty,
                    "admin stored by a failed reload and never removed:\n\(manager.transcript)")
            #expect(retry.status == 0, "the retried reload: \(retry)")
        }
    }
}

// MARK: - Socket activation and sockets handed back

extension SystemdTests {
    @Suite("socket activation", .timeLimit(.minutes(5)))
    struct SocketActivation {
        /// `systemd-socket-activate -l ADDR --fdname=http graced run ...`: graced starts at the
        /// first connection, serves that very connection on the passed socket (origin
        /// "systemd"), binds nothing itself, and reloads keep the inherited socket.
        @Test(.enabled(if: socketActivateAvailable, "needs systemd-socket-activate"))
        func socketActivatedGracedServesThePassedSocketAndReloadsOnIt() throws {
            let directory = try TemporaryDirectory(prefix: "sd-activate")
            let port = freeTCPPort()
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\"", "drain_timeout = \"5s\""])
            let activate = try #require(Binaries.systemdSocketActivate)
            let wrapper = try writeExecutable(directory.file("activate.sh"), """
                #!/bin/sh
                exec \(shellQuote(activate)) -l 127.0.0.1:\(port) --fdname=http \(shellQuote(try Binaries.graced)) "$@"

                """)
            let graced = try GracedProcess(config: config, executable: wrapper)
            defer { graced.terminate() }
            try graced.waitForLog(containing: "Listening on 127.0.0.1:\(port)", timeout: .seconds(20))
            // Not exec'd yet: graced starts only at the first connection.
            #expect(executable(of: graced.pid).map { $0.hasSuffix("systemd-socket-activate") } == true,
                    "exe: \(executable(of: graced.pid) ?? "nil")")

            // The first connection starts graced and must itself be served.
            let info = try workerInfo(port: port, timeout: .seconds(60))
            #expect(info.generation == "1")
            #expect(info.ppid == graced.pid)
            #expect(executable(of: graced.pid).map { $0.hasSuffix("/graced") } == true, "exe: \(executable(of: graced.pid) ?? "nil")")

            let listeners = try sdListeners(config: config)
            #expect(listeners.count == 1)
            let listener = try #require(listeners.first)
            #expect(listener.name == "http" && listener.origin == "systemd", "\(listeners)")
            let inode = try #require(listener.inode)
            #expect(info.fdTargets["3"] == "socket:[\(inode)]", "the worker's fd 3: \(info.fdTargets)")
            #expect(listeningTCPSockets(port: port).map(\.inode) == [inode],
                    "listening sockets on \(port): \(listeningTCPSockets(port: port)) (graced's: \(inode))")
            let opened = try graced.waitForLog(containing: "listener http listening on 127.0.0.1:\(port)")
            #expect(opened.contains("origin=systemd"), "\(opened)")

            let reload = runGraced(["reload", "--config", config], timeout: .seconds(90))
            #expect(reload.status == 0, "reload: \(reload)\nlog:\n\(graced.log())")
            let after = try sdWaitForGeneration("2", port: port)
            #expect(after.fdTargets["3"] == "socket:[\(inode)]")
            #expect(try sdListeners(config: config).map(\.inode) == [inode])
            #expect(listeningTCPSockets(port: port).map(\.inode) == [inode], "\(listeningTCPSockets(port: port))")

            graced.signal(SIGTERM)
            #expect(try graced.waitForExit(timeout: .seconds(30)) == 0, "log:\n\(graced.log())")
        }

        /// A passed socket whose name matches no [[listener]] is logged as a warning and
        /// closed (its port stops listening); the matching one is served.
        @Test(.enabled(if: socketActivateAvailable, "needs systemd-socket-activate"))
        func passedSocketMatchingNoListenerIsClosedWithAWarning() throws {
            let directory = try TemporaryDirectory(prefix: "sd-stray")
            let (port, strayPort) = (freeTCPPort(), freeTCPPort())
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\""])
            let activate = try #require(Binaries.systemdSocketActivate)
            let wrapper = try writeExecutable(directory.file("activate.sh"), """
                #!/bin/sh
                exec \(shellQuote(activate)) -l 127.0.0.1:\(port) -l 127.0.0.1:\(strayPort) --fdname=http:stray \(shellQuote(try Binaries.graced)) "$@"

                """)
            let graced = try GracedProcess(config: config, executable: wrapper)
            defer { graced.terminate() }
            try graced.waitForLog(matching: { $0.contains("Listening on") }, count: 2, timeout: .seconds(20), what: "Listening on")
            let strayInode = try #require(socketInode(pid: graced.pid, fd: 4), "systemd-socket-activate has no fd 4")
            let info = try workerInfo(port: port, timeout: .seconds(60))
            #expect(info.listenFDNames == "http")

            let warning = try graced.waitForLog(containing: "socket 'stray'")
            #expect(warning.contains(" warn ") && warning.contains("matches no [[listener]]") && warning.contains("closing it"), "\(warning)")
            #expect(poll(timeout: .seconds(10)) { listeningTCPSockets(port: strayPort).isEmpty },
                    "port \(strayPort) still listens: \(listeningTCPSockets(port: strayPort))")
            let gracedSockets = openFDs(pid: graced.pid).compactMap { socketInode(pid: graced.pid, fd: $0) }
            #expect(!gracedSockets.contains(strayInode), "graced still holds the stray socket (inode \(strayInode))")
            #expect(try sdListeners(config: config).map(\.name) == ["http"])
        }

        /// A socket unit and the fd store may pass the same socket twice under one name
        /// (after a restart of graced): graced uses it once, silently. Two different
        /// sockets under one name: the first one wins, with a warning.
        @Test(arguments: [true, false])
        func socketPassedTwiceUnderOneName(sameSocket: Bool) throws {
            let directory = try TemporaryDirectory(prefix: "sd-twice")
            let (port, otherPort) = (freeTCPPort(), freeTCPPort())
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\""])
            let second = sameSocket ? PassedSocket(name: "http", port: port, duplicateOf: 0) : PassedSocket(name: "http", port: otherPort)
            let (wrapper, _) = try SocketPassingLauncher.prepare(in: directory.path, sockets: [PassedSocket(name: "http", port: port), second],
                                                                 command: [try Binaries.graced])
            let graced = try GracedProcess(config: config, executable: wrapper)
            defer { graced.terminate() }
            try graced.waitForLog(containing: "generation 1 ready", timeout: .seconds(60))
            let info = try workerInfo(port: port, timeout: .seconds(10))
            #expect(info.listenFDs == 1 && info.listenFDNames == "http", "\(info.listenFDNames ?? "nil")")
            let listener = try #require(try sdListeners(config: config).first)
            #expect(listener.origin == "systemd" && info.fdTargets["3"] == "socket:[\(listener.inode ?? 0)]", "\(listener)")
            #expect(listeningTCPSockets(port: port).map(\.inode) == [listener.inode ?? 0])
            let warnings = graced.logLines().filter { $0.contains("event=listener-duplicate") }
            if sameSocket {
                #expect(warnings.isEmpty, "\(warnings)")
                // Only one copy of the socket is left in graced.
                let copies = openFDs(pid: graced.pid).filter { socketInode(pid: graced.pid, fd: $0) == listener.inode }
                #expect(copies.count == 1, "graced holds \(copies.count) copies of the listener: fds \(copies)")
            } else {
                #expect(warnings.count == 1 && warnings.first?.contains("two different sockets named 'http'") == true,
                        "log:\n\(graced.log())")
                #expect(poll(timeout: .seconds(10)) { listeningTCPSockets(port: otherPort).isEmpty },
                        "the second socket was not closed: \(listeningTCPSockets(port: otherPort))")
            }
        }

        enum Misfit: String, CaseIterable, Sendable {
            /// A listening TCP socket named `http`, bound to another port.
            case otherPort
            /// A UDP socket named `http`.
            case datagramSocket
            /// A TCP socket named `http`, bound to the right address but not listening.
            case notListening
        }

        /// A passed socket named like a listener that does not fit it makes graced exit 1 with
        /// a message saying why, without binding the configured address itself.
        @Test(arguments: Misfit.allCases)
        func passedSocketThatDoesNotFitItsListenerIsFatal(_ misfit: Misfit) throws {
            let directory = try TemporaryDirectory(prefix: "sd-misfit")
            let (port, otherPort) = (freeTCPPort(), freeTCPPort())
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\""])
            let passed: PassedSocket
            let reason: String
            switch misfit {
            case .otherPort:
                passed = PassedSocket(name: "http", port: otherPort)
                reason = "it is bound to 127.0.0.1:\(otherPort), not 127.0.0.1:\(port)"
            case .datagramSocket:
                passed = PassedSocket(name: "http", port: port, type: "dgram")
                reason = "not a stream socket"
            case .notListening:
                passed = PassedSocket(name: "http", port: port, listen: false)
                reason = "not a listening socket"
            }
            let (wrapper, _) = try SocketPassingLauncher.prepare(in: directory.path, sockets: [passed], command: [try Binaries.graced])
            let graced = try GracedProcess(config: config, executable: wrapper)
            defer { graced.terminate() }
            let status = try graced.waitForExit(timeout: .seconds(30))
            let log = graced.log()
            #expect(status == 1, "exit status \(status); log:\n\(log)")
            #expect(log.contains("the socket systemd passed as 'http' does not fit"), "log:\n\(log)")
            #expect(log.contains(reason), "log:\n\(log)")
            #expect(!log.contains("worker-started"), "a worker was started; log:\n\(log)")
            if misfit == .otherPort {
                #expect(listeningTCPSockets(port: port).isEmpty, "graced bound \(port) itself")
            }
        }

        /// systemd restarting graced and handing back its stored socket: a launcher holds the
        /// listening socket and starts graced again and again with it at fd 3 (LISTEN_FDS=1,
        /// LISTEN_FDNAMES=http, LISTEN_PID = graced's pid, FDSTORE=1). graced adopts it
        /// (origin "fd store"), never binds a second socket, and while graced is SIGKILLed and
        /// started again, clients see no refused connection: they wait in the accept queue.
        @Test func restartedGracedAdoptsTheStoredSocketWithoutRefusingConnections() throws {
            let directory = try TemporaryDirectory(prefix: "sd-restart")
            let manager = try ServiceManagerSocket()
            let port = freeTCPPort()
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\"", "drain_timeout = \"5s\""])
            let (_, pidFile) = try SocketPassingLauncher.prepare(
                in: directory.path, sockets: [PassedSocket(name: "http", port: port)], command: [try Binaries.graced],
                environment: ["NOTIFY_SOCKET": manager.address, "FDSTORE": "1"], respawn: true, maxStarts: 3)
            let logPath = directory.file("launcher.log")
            let launcher = try ChildProcess(executable: Binaries.python3,
                                            arguments: [directory.file("launcher.py"), directory.file("launcher.json"),
                                                        "run", "--config", config],
                                            environment: cleanEnvironment(), stdoutPath: logPath, stderrPath: logPath)
            var strayPIDs: [Int] = []
            defer {
                launcher.killAll()
                for pid in strayPIDs where isAlive(pid: pid) { kill(pid_t(pid), SIGKILL) }
            }
            func log() -> String { String(decoding: readWholeFile(logPath) ?? [], as: UTF8.self) }

            let (_, firstReady) = try manager.waitFor(timeout: .seconds(60), what: "READY=1 from the first graced") { $0.has("READY=1") }
            let firstPID = firstReady.senderPID
            #expect(SocketPassingLauncher.startedPIDs(pidFile) == [firstPID], "log:\n\(log())")
            let launcherInode = try #require(socketInode(pid: launcher.pid, fd: 3), "the launcher holds no socket at fd 3")
            let listener = try #require(try sdListeners(config: config).first)
            #expect(listener.origin == "fd store", "\(listener)")
            #expect(listener.inode == launcherInode, "graced's listener is not the passed socket: \(listener) vs \(launcherInode)")
            #expect(listeningTCPSockets(port: port).map(\.inode) == [launcherInode], "\(listeningTCPSockets(port: port))")
            let before = try workerInfo(port: port, timeout: .seconds(10))
            #expect(before.ppid == firstPID)
            strayPIDs.append(before.pid)
            // Handed back, the socket is stored again under its name.
            let restored = manager.messages.filter { $0.has("FDSTORE=1") && $0.senderPID == firstPID }
            #expect(restored.count == 1 && restored.first?.value("FDNAME") == "http", "\(manager.transcript)")
            #expect(restored.first?.fds.first.flatMap(socketFacts)?.inode == launcherInode)

            // A client loop, one new connection per request, across a crash of graced and
            // its worker (SIGKILL to both, as systemd's final SIGKILL would leave it). The
            // client thread kills them itself between two requests, so no request is in
            // flight in a process that dies: every later connection must wait in the
            // accept queue of the launcher's socket until the new worker takes it.
            let results = Locked<(ok: Int, failures: [String], parents: Set<Int>, slowest: Double)>((0, [], [], 0))
            let stop = Locked(false)
            let pendingKill = Locked<[Int]>([])
            let killedAt = Locked<ContinuousClock.Instant?>(nil)
            let clientDone = DispatchSemaphore(value: 0)
            let client = Thread {
                defer { clientDone.signal() }
                while !stop.withLock({ $0 }) {
                    let victims = pendingKill.withLock { pids in defer { pids = [] }; return pids }
                    if !victims.isEmpty {
                        for pid in victims { kill(pid_t(pid), SIGKILL) }
                        killedAt.withLock { $0 = .now }
                    }
                    do {
                        let sent = ContinuousClock.now
                        let info = try workerInfo(port: port, timeout: .seconds(30))
                        let took = (ContinuousClock.now - sent).seconds
                        results.withLock { $0.ok += 1; $0.parents.insert(info.ppid); $0.slowest = max($0.slowest, took) }
                    } catch {
                        results.withLock { $0.failures.append("\(error)") }
                    }
                    sleepThread(.milliseconds(20))
                }
            }
            client.start()
            var secondPID = 0
            do {
                defer {
                    stop.withLock { $0 = true }
                    clientDone.wait()
                }
                #expect(poll(timeout: .seconds(20)) { results.withLock { $0.ok } >= 5 })
                let from = manager.messages.count
                pendingKill.withLock { $0 = [firstPID, before.pid] }
                #expect(poll(timeout: .seconds(10)) { killedAt.withLock { $0 } != nil })
                let (_, secondReady) = try manager.waitFor(from: from, timeout: .seconds(60), what: "READY=1 from a new graced") {
                    $0.has("READY=1") && $0.senderPID != firstPID
                }
                secondPID = secondReady.senderPID
                #expect(poll(timeout: .seconds(20)) { results.withLock { $0.parents.contains(secondPID) } },
                        "no request answered by the restarted graced's worker")
                sleepThread(.milliseconds(500))
                if let killed = killedAt.withLock({ $0 }) {
                    print("SystemdTests restart: new graced ready \((secondReady.receivedAt - killed).seconds) s after the SIGKILL")
                }
            }
            let outcome = results.withLock { $0 }
            print("SystemdTests restart: \(outcome.ok) requests ok, \(outcome.failures.count) failed across the restart, "
                  + "slowest \(outcome.slowest) s")
            #expect(outcome.failures.isEmpty, "requests failed across the restart: \(outcome.failures.prefix(5))\nlog:\n\(log())")
            #expect(outcome.parents.isSuperset(of: [firstPID, secondPID]), "answered by workers of \(outcome.parents)")
            #expect(SocketPassingLauncher.startedPIDs(pidFile) == [firstPID, secondPID], "log:\n\(log())")

            let after = try #require(try sdListeners(config: config).first)
            #expect(after.origin == "fd store" && after.inode == launcherInode, "\(after)")
            #expect(listeningTCPSockets(port: port).map(\.inode) == [launcherInode], "\(listeningTCPSockets(port: port))")
            if let info = try? workerInfo(port: port, timeout: .seconds(10)) { strayPIDs.append(info.pid) }
        }
    }
}

// MARK: - Journal

extension SystemdTests {
    @Suite("journal", .timeLimit(.minutes(5)))
    struct Journal {
        enum Trigger: String, CaseIterable, Sendable {
            /// JOURNAL_STREAM = dev:inode of graced's stderr (what systemd sets for StandardError=journal).
            case journalStreamMatchesStderr
            /// `[graced] log_format = "journal"`.
            case logFormatJournal
        }

        /// Under journald graced logs through sd_journal_sendv with PRIORITY, MESSAGE,
        /// SYSLOG_IDENTIFIER=graced and its structured fields, and writes no event lines to
        /// stderr. Captured on a test-owned /run/systemd/journal/socket in a private mount
        /// namespace.
        @Test(.enabled(if: JournalCapture.isAvailable, "needs root and unshare --mount to capture journal entries"),
              arguments: Trigger.allCases)
        func logsStructuredEntriesToTheJournal(_ trigger: Trigger) throws {
            let directory = try TemporaryDirectory(prefix: "sd-journal")
            let port = freeTCPPort()
            let gracedLines = trigger == .logFormatJournal ? ["log_format = \"journal\""] : []
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(["--print-lines", "2"]),
                                         workerLines: ["ready = \"notify\"", "drain_timeout = \"5s\""], gracedLines: gracedLines)
            let (wrapper, entriesPath) = try JournalCapture.prepare(in: directory.path, command: [try Binaries.graced])
            let logPath = directory.file("graced.log")
            FileManager.default.createFile(atPath: logPath, contents: nil)
            var environment: [String: String] = [:]
            if trigger == .journalStreamMatchesStderr { environment["JOURNAL_STREAM"] = try deviceAndInode(of: logPath) }
            let graced = try GracedProcess(config: config, environment: environment, logPath: logPath, executable: wrapper)
            defer { graced.terminate() }
            func entries() -> [[String: String]] { JournalCapture.entries(entriesPath).map(\.fields) }
            func describe() -> String {
                "journal entries:\n" + entries().map { "  \($0)" }.joined(separator: "\n") + "\ngraced.log:\n\(graced.log())"
                    + "\nsink log:\n" + String(decoding: readWholeFile(directory.file("journal_sink.log")) ?? [], as: UTF8.self)
            }

            do {
                _ = try waitForHTTP(.tcp(host: "127.0.0.1", port: port), path: "/health", timeout: .seconds(60))
            } catch {
                throw TestSupportError("\(error); \(describe())")
            }
            let info = try workerInfo(port: port, timeout: .seconds(10))
            let gotReady = poll(timeout: .seconds(20)) { entries().contains { $0["GRACED_EVENT"] == "generation-ready" } }
            #expect(gotReady, "no generation-ready entry; \(describe())")

            for entry in entries() {
                #expect(entry["SYSLOG_IDENTIFIER"] == "graced" && entry["MESSAGE"] != nil && entry["PRIORITY"] != nil,
                        "entry without the standard fields: \(entry)")
            }
            let starting = entries().first { $0["GRACED_EVENT"] == "starting" }
            #expect(starting?["PRIORITY"] == "6" && starting?["MESSAGE"]?.contains("starting") == true, "\(describe())")
            #expect(starting?["WORKER_PID"] == nil, "graced's own pid journaled as WORKER_PID: \(starting ?? [:])")
            let opened = entries().first { $0["GRACED_EVENT"] == "listener-open" }
            #expect(opened?["LISTENER"] == "http" && opened?["MESSAGE"] == "listener http listening on 127.0.0.1:\(port)",
                    "\(describe())")
            let output = entries().first { $0["GRACED_EVENT"] == "worker-output" && $0["MESSAGE"] == "output line 1" }
            #expect(output != nil, "no worker-output entry for \"output line 1\"; \(describe())")
            if let output {
                #expect(output["PRIORITY"] == "6")
                #expect(output["WORKER_PID"] == "\(info.pid)", "\(output)")
                #expect(output["GRACED_GENERATION"] == "1", "\(output)")
                #expect(output["GRACED_STREAM"] == "stdout", "\(output)")
            }
            let ready = entries().first { $0["GRACED_EVENT"] == "generation-ready" }
            #expect(ready?["GRACED_GENERATION"] == "1" && ready?["PRIORITY"] == "6", "\(describe())")

            // An error with a multi-line message: PRIORITY=3, the message intact.
            let good = String(decoding: readWholeFile(config) ?? [], as: UTF8.self)
            try writeRawConfig(in: directory.path, sdBrokenConfig(directory: directory.path))
            let failed = runGraced(["reload", "--config", config], timeout: .seconds(90))
            #expect(failed.status == 1, "\(failed)")
            try writeRawConfig(in: directory.path, good)
            #expect(poll(timeout: .seconds(20)) { entries().contains { $0["GRACED_EVENT"] == "reload-failed" } }, "\(describe())")
            if let failure = entries().first(where: { $0["GRACED_EVENT"] == "reload-failed" }) {
                #expect(failure["PRIORITY"] == "3", "\(failure)")
                #expect(failure["MESSAGE"]?.contains("invalid configuration, nothing changed: ") == true, "\(failure)")
            }

            // Nothing of graced's own events went to stderr.
            let eventLines = graced.logLines().filter { $0.contains("event=") }
            #expect(eventLines.isEmpty, "text event lines while logging to the journal:\n\(eventLines.joined(separator: "\n"))")

            graced.signal(SIGTERM)
            #expect(try graced.waitForExit(timeout: .seconds(30)) == 0, "\(describe())")
            #expect(poll(timeout: .seconds(5)) { entries().contains { $0["GRACED_EVENT"] == "stopped" } }, "\(describe())")
            #expect(!graced.log().contains("event="), "graced.log:\n\(graced.log())")
        }

        /// A JOURNAL_STREAM that is not graced's stderr (inherited from a parent whose stderr
        /// went to the journal) keeps text logging on stderr.
        @Test func journalStreamOfAnotherFileKeepsTextLogs() throws {
            let directory = try TemporaryDirectory(prefix: "sd-nojournal")
            let port = freeTCPPort()
            let config = try writeConfig(in: directory.path, listeners: [("http", "127.0.0.1:\(port)")],
                                         command: Binaries.workerCommand(), workerLines: ["ready = \"notify\""])
            let other = try directory.write("other", "")
            let graced = try GracedProcess(config: config, environment: ["JOURNAL_STREAM": try deviceAndInode(of: other)])
            defer { graced.terminate() }
            let line = try graced.waitForLog(containing: "generation 1 ready", timeout: .seconds(60))
            #expect(line.contains("event=generation-ready"), "\(line)")
        }
    }
}

// MARK: - Units

extension SystemdTests {
    @Suite("shipped units", .timeLimit(.minutes(5)))
    struct Units {
        /// scripts/verify-units.sh: `systemd-analyze verify` passes, with nothing on stderr,
        /// on graced.service, graced@.service (as an instance) and graced.socket against the
        /// built graced.
        @Test(.enabled(if: Binaries.isExecutableFile("/usr/bin/systemd-analyze"), "needs systemd-analyze"))
        func shippedUnitsVerify() throws {
            let script = Binaries.repositoryRoot + "/scripts/verify-units.sh"
            let result = runCommand("/bin/bash", [script, try Binaries.graced], timeout: .seconds(180))
            #expect(result.status == 0, "verify-units.sh exited \(result.status):\n\(result.stdout)\n\(result.stderr)")
            for unit in ["graced.service", "graced@example.service", "graced.socket"] {
                #expect(result.stdout.contains("systemd-analyze verify \(unit): ok"), "\(unit):\n\(result.stdout)\n\(result.stderr)")
            }
        }

        /// What the units promise to graced: Type=notify with NotifyAccess=main, a reload
        /// through `graced reload`, KillMode=mixed, a watchdog, an fd store, and a socket unit
        /// whose FileDescriptorName= is the name of the example config's listener.
        @Test func unitsDeclareWhatGracedImplements() throws {
            let root = Binaries.repositoryRoot + "/etc/systemd/"
            for unit in ["graced.service", "graced@.service"] {
                let text = String(decoding: readWholeFile(root + unit) ?? [], as: UTF8.self)
                for line in ["Type=notify", "NotifyAccess=main", "KillMode=mixed", "FileDescriptorStoreMax="] {
                    #expect(text.contains(line), "\(unit) lacks \(line)")
                }
                #expect(text.contains("ExecReload=/usr/local/bin/graced reload"), "\(unit)")
                #expect(text.contains("WatchdogSec="), "\(unit)")
            }
            let socketUnit = String(decoding: readWholeFile(root + "graced.socket") ?? [], as: UTF8.self)
            let name = socketUnit.split(separator: "\n").first { $0.hasPrefix("FileDescriptorName=") }
                .map { String($0.dropFirst("FileDescriptorName=".count)) }
            let listen = socketUnit.split(separator: "\n").first { $0.hasPrefix("ListenStream=") }
                .map { String($0.dropFirst("ListenStream=".count)) }
            #expect(name == "http")
            let example = String(decoding: readWholeFile(Binaries.repositoryRoot + "/etc/graced.conf") ?? [], as: UTF8.self)
            if !example.isEmpty, let listen {
                #expect(example.contains("name = \"http\""), "etc/graced.conf has no listener named http")
                #expect(example.contains("\"\(listen)\""), "etc/graced.conf does not listen on \(listen) like graced.socket")
            }
        }
    }
}
