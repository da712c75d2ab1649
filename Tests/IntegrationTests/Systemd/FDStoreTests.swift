// The file-descriptor store: part of SystemdTests; helpers in Support/SystemdFixtures.swift.

import Foundation
import Testing

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
