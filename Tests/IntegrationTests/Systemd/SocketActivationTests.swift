// Socket activation and sockets handed back: part of SystemdTests; helpers in Support/SystemdFixtures.swift.

import Foundation
import Testing

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
