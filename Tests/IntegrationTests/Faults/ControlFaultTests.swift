// Reload storms, refused control clients, a config replaced or deleted mid-reload.
// Part of FaultInjectionTests (serialized); fixtures in Support/ReliabilityFixture.swift.

import Foundation
import Testing

extension FaultInjectionTests {
    @Suite struct Control {
        // h. 100 concurrent `graced reload` and 100 SIGHUPs within about a second.
        @Test func reloadStormOfConcurrentReloadsAndSighups() throws {
            let fixture = try ReliabilityFixture(
                command: Binaries.workerCommand(["--work-ms", "2"]),
                workerLines: ["drain_timeout = \"10s\"", "max_draining = 2"])
            let offset = fixture.graced.logOffset()
            let outcomes = Locked<[(status: Int32, stderr: String, seconds: Double)]>([])
            var afterStorm: GracedStatusSnapshot?
            let started = ContinuousClock.now
            let result = try Reliability.underLoad(fixture.endpoint) { load in
                let group = DispatchGroup()
                let controlPath = fixture.controlPath
                for index in 0..<100 {
                    group.enter()
                    let thread = Thread {
                        let begin = ContinuousClock.now
                        let reload = runGraced(["reload", "--control", controlPath], timeout: .seconds(90))
                        outcomes.withLock { $0.append((reload.status, reload.stderr, (ContinuousClock.now - begin).seconds)) }
                        group.leave()
                    }
                    thread.name = "storm-\(index)"
                    thread.start()
                }
                let gracedPID = fixture.pid
                group.enter()
                let hupper = Thread {
                    for _ in 0..<100 {
                        kill(pid_t(gracedPID), SIGHUP)
                        sleepThread(.milliseconds(10))
                    }
                    group.leave()
                }
                hupper.start()
                #expect(group.wait(timeout: .now() + 150) == .success, "the storm did not end")
                afterStorm = try fixture.status()
                try load.waitForRequests(30)
            }
            let all = outcomes.withLock { $0 }
            let elapsed = ContinuousClock.now - started
            var byStatus: [Int32: Int] = [:]
            var reasons: [String: Int] = [:]
            for outcome in all {
                byStatus[outcome.status, default: 0] += 1
                if outcome.status != 0 {
                    let reason = outcome.stderr.split(separator: "\n").first.map(String.init) ?? "(no message)"
                    reasons[String(reason.prefix(120)), default: 0] += 1
                }
            }
            let storm = fixture.graced.logLines(since: offset)
            let reloadsRun = storm.filter { Reliability.isEvent("reload-started", $0) }.count
            let succeeded = Set(storm.filter { Reliability.isEvent("reload-succeeded", $0) }.compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("generation=") }.map(String.init)
            }).count
            let worst = all.map(\.seconds).max() ?? 0
            print("FAULT h storm: 100 reload clients + 100 SIGHUPs in \(elapsed): exit statuses \(byStatus.sorted { $0.key < $1.key }), "
                  + "slowest client \(String(format: "%.1f", worst))s; \(reloadsRun) reloads run (\(succeeded) generations succeeded); "
                  + "right after: \(afterStorm.map { "\($0.serving.count) serving, \($0.draining.count) draining" } ?? "?"); "
                  + "requests ok \(result.ok) failed \(result.failed); non-zero reasons: \(reasons)")
            #expect(all.count == 100)
            #expect(all.allSatisfy { $0.status == 0 || $0.status == 1 }, "exit statuses \(byStatus): \(reasons)")
            #expect(fixture.graced.isRunning)
            if let afterStorm {
                #expect(afterStorm.serving.count == 1, "\(afterStorm)")
                #expect(afterStorm.draining.count <= 2, "\(afterStorm)")
            }
            let problem = fixture.waitUntilConsistent(timeout: .seconds(30))
            #expect(problem == nil, "\(problem ?? "")\n\(fixture.logTail())")
            #expect(fixture.waitForNoZombies().isEmpty)
            #expect(result.failed == 0, "\(result)")
            #expect(fixture.lines(atLevel: "crit").isEmpty)
            let failedReloads = storm.filter { Reliability.isEvent("reload-failed", $0) }
            #expect(failedReloads.isEmpty, "\(failedReloads.prefix(5))")
        }

        // h, continued: what the storm's 65th and later clients meet, made deterministic.
        // graced serves at most 64 control connections and refuses the rest with a reply
        // and a close; a `graced reload` or `graced status` refused that way must exit with
        // a message (1, or 3), not be killed by SIGPIPE while it sends its request.
        // Fails with graced as of this writing (reported): ControlClient.send writes the
        // request with write(2) (FileDescriptor.writeAll), no MSG_NOSIGNAL, and the client
        // commands keep SIGPIPE's default action, so when graced's refusal and close come
        // first the client dies silently with status 141.
        @Test func controlClientsRefusedForTooManyConnectionsExitWithAMessage() throws {
            let fixture = try ReliabilityFixture(command: Binaries.workerCommand(["--work-ms", "2"]),
                                                 workerLines: ["drain_timeout = \"5s\""])
            let address = try SocketAddress(unixPath: fixture.controlPath)
            var held: [Int32] = []
            defer { held.forEach { close($0) } }
            // graced serves 256 control connections at once; hold them all.
            for _ in 0..<256 {
                let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                guard fd >= 0 else { continue }
                if address.withSockaddr({ connect(fd, $0, $1) }) == 0 { held.append(fd) } else { close(fd) }
            }
            try #require(held.count == 256)
            sleepThread(.milliseconds(300))   // graced has accepted them
            var statuses: [String: Int] = [:]
            var messages: Set<String> = []
            for round in 0..<12 {
                let command = round % 2 == 0 ? "reload" : "status"
                let result = runGraced([command, "--control", fixture.controlPath], timeout: .seconds(30))
                statuses["\(command) \(result.status)", default: 0] += 1
                let message = result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
                messages.insert("\(command) \(result.status): \(message.isEmpty ? "(nothing)" : message)")
            }
            print("FAULT h refused clients: with 256 idle control connections held, 6 × graced reload and 6 × graced status "
                  + "exited \(statuses.sorted { $0.key < $1.key }); \(messages.sorted())")
            for message in messages {
                #expect(!message.contains(" 141: "), "a refused client was killed by SIGPIPE (exit 141): \(message)")
                #expect(!message.hasSuffix("(nothing)"), "a refused client exited without a message: \(message)")
            }
            held.forEach { close($0) }
            held = []
            #expect(fixture.graced.isRunning)
            #expect(poll(timeout: .seconds(10), interval: .milliseconds(100)) {
                runGraced(["status", "--control", fixture.controlPath], timeout: .seconds(5)).status == 0
            })
        }

        // i. The config file replaced (rename over it) while reloading, then deleted.
        @Test func configReplacedDuringReloadsAndConfigThatDisappears() throws {
            func command(_ work: String) -> [String] { Binaries.workerCommand(["--work-ms", work]) }
            func lines(_ variant: String) -> [String] {
                ["drain_timeout = \"10s\"", "environment = { TEST_VARIANT = \"\(variant)\" }"]
            }
            let fixture = try ReliabilityFixture(command: command("2"), workerLines: lines("a"))
            let variants = [
                try fixture.configText(command: command("2"), workerLines: lines("a"), padding: 128 * 1024),
                try fixture.configText(command: command("3"), workerLines: lines("b"), padding: 128 * 1024),
            ]
            let configPath = fixture.configPath
            let temporary = fixture.directory.file("graced.conf.new")
            let stop = Locked(false)
            let replacer = Reliability.Background("replacer") { () -> Int in
                var count = 0
                while !stop.withLock({ $0 }) {
                    do {
                        try variants[count % 2].write(toFile: temporary, atomically: false, encoding: .utf8)
                        if rename(temporary, configPath) == 0 { count += 1 }
                    } catch {}
                    sleepThread(.milliseconds(1))
                }
                return count
            }
            var mixed: [String] = []
            var reloads: [Int32] = []
            let result = try Reliability.underLoad(fixture.endpoint) { load in
                defer { stop.withLock { $0 = true } }
                for _ in 1...10 {
                    let reload = fixture.reload()
                    reloads.append(reload.status)
                    #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
                    for pid in (try fixture.status().serving.first?.workers.map(\.pid)) ?? [] {
                        let work = commandLine(pid: pid).last
                        let variant = environment(pid: pid)["TEST_VARIANT"]
                        if !((work == "2" && variant == "a") || (work == "3" && variant == "b")) {
                            mixed.append("pid \(pid): --work-ms \(work ?? "?") with TEST_VARIANT \(variant ?? "nil")")
                        }
                    }
                }
                try load.waitForRequests(20)
            }
            let replacements = replacer.wait()
            #expect(mixed.isEmpty, "a worker got parts of two config versions: \(mixed)")
            #expect(result.failed == 0, "\(result)")

            // The config disappears. First let the last reload's old generation finish, so
            // that every answer comes from the serving one.
            #expect(fixture.waitUntilConsistent() == nil)
            let servingBefore = try #require(try fixture.status().serving.first)
            let generationBefore = servingBefore.number
            let before = try #require(servingBefore.workers.first)
            let saved = fixture.directory.file("graced.conf.saved")
            try #require(rename(configPath, saved) == 0)
            let offset = fixture.graced.logOffset()
            let missing = fixture.reload()
            let clientWithMissingConfig = runGraced(["reload", "--config", configPath], timeout: .seconds(30))
            #expect(missing.status == 1, "\(missing)")
            #expect(missing.stderr.contains(configPath), "the message does not name \(configPath): \(missing.stderr)")
            let failedLine = try fixture.graced.waitForLog(matching: { Reliability.isEvent("reload-failed", $0) },
                                                           since: offset, timeout: .seconds(10), what: "reload-failed")[0]
            #expect(Reliability.level(of: failedLine) == "error", "\(failedLine)")
            let still = try workerInfo(fixture.endpoint)
            #expect(still.pid == before.pid && still.generation == String(generationBefore),
                    "another worker serves: pid \(still.pid) generation \(still.generation ?? "?"), was \(before.pid) of \(generationBefore)")
            #expect(try fixture.status().serving.first?.number == generationBefore)
            #expect(isAlive(pid: before.pid))

            // Restored.
            try #require(rename(saved, configPath) == 0)
            let restored = fixture.reload()
            #expect(restored.status == 0, "\(restored)\n\(fixture.logTail())")
            #expect(try fixture.status().serving.first?.number ?? 0 > generationBefore)
            #expect(fixture.waitUntilConsistent() == nil)
            print("FAULT i config: \(replacements) renames over the config during 10 reloads (exits \(reloads)), "
                  + "mixed versions \(mixed.count), requests ok \(result.ok) failed \(result.failed); deleted config: "
                  + "reload exit \(missing.status) \"\(missing.stderr.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "\n", with: " / "))\", "
                  + "logged at \(Reliability.level(of: failedLine) ?? "?"); `graced reload --config <deleted>` exit "
                  + "\(clientWithMissingConfig.status): \(clientWithMissingConfig.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); "
                  + "restored: reload exit \(restored.status)")
        }
    }
}
