// Workers killed, stopped or leaving listener holders behind.
// Part of FaultInjectionTests (serialized); fixtures in Support/ReliabilityFixture.swift.

import Foundation
import Testing

extension FaultInjectionTests {
    @Suite struct Worker {
        // a. SIGKILL of random workers during a series of reloads.
        @Test func sigkillOfRandomWorkersDuringReloads() throws {
            let fixture = try ReliabilityFixture(
                command: Binaries.workerCommand(["--work-ms", "2", "--ready-after", "0.2"]),
                workerLines: ["drain_timeout = \"10s\"", "ready_timeout = \"20s\"", "restart = \"on-failure\""],
                processes: 2)
            var servingVictims: [Int] = []
            var newVictims: [Int] = []
            var outcomes: [String] = []
            var inFlight = 0   // client connections the victims held when they were killed
            var generator = SystemRandomNumberGenerator()
            let rounds = 10
            let result = try Reliability.underLoad(fixture.endpoint) { load in
                for round in 1...rounds {
                    let before = try fixture.status()
                    let serving = try #require(before.serving.first, "no serving generation: \(before)")
                    if round % 3 == 0 {
                        // The victim is a worker of the generation this reload starts.
                        let gracedPID = fixture.pid
                        let target = serving.number + 1
                        let killed = Locked<(pid: Int, held: Int)?>(nil)
                        let stop = Locked(false)
                        let killer = Reliability.Background("killer") {
                            while !stop.withLock({ $0 }) {
                                if let victim = Reliability.children(of: gracedPID, generation: target).first {
                                    let held = Reliability.killCountingConnections(victim)
                                    killed.withLock { $0 = (victim, held) }
                                    return
                                }
                                sleepThread(.milliseconds(2))
                            }
                        }
                        let reload = fixture.reload()
                        stop.withLock { $0 = true }
                        killer.wait()
                        let victim = killed.withLock { $0 }?.pid
                        if let killed = killed.withLock({ $0 }) {
                            newVictims.append(killed.pid)
                            inFlight += killed.held
                        }
                        #expect(reload.status == 0 || reload.status == 1, "round \(round): \(reload)")
                        if reload.status == 1 {
                            #expect(reload.stderr.contains("reload failed"), "round \(round): \(reload.stderr)")
                            let after = try fixture.status()
                            #expect(after.serving.first?.number == serving.number,
                                    "round \(round): the failed reload changed the serving generation: \(after)")
                        }
                        outcomes.append("r\(round): kill new-gen pid \(victim.map(String.init) ?? "none") -> exit \(reload.status)")
                    } else {
                        let candidates = serving.workers.filter { $0.state == "ready" }
                        let victim = try #require(candidates.randomElement(using: &generator), "no ready worker: \(before)")
                        let offset = fixture.graced.logOffset()
                        inFlight += Reliability.killCountingConnections(victim.pid)
                        servingVictims.append(victim.pid)
                        try fixture.graced.waitForLog(
                            matching: { Reliability.isEvent("worker-died", $0) && $0.contains("worker \(victim.pid) ") },
                            since: offset, timeout: .seconds(20), what: "worker-died for pid \(victim.pid)")
                        if round % 3 == 2 {
                            // Let the restart happen first.
                            let restarted = poll(timeout: .seconds(20), interval: .milliseconds(50)) {
                                guard let now = try? fixture.status(), let gen = now.serving.first else { return false }
                                return gen.number == serving.number && gen.workers.count == 2
                                    && gen.workers.allSatisfy { $0.state == "ready" && $0.pid != victim.pid }
                            }
                            #expect(restarted, "round \(round): pid \(victim.pid) of generation \(serving.number) not restarted: \((try? fixture.status()).map { "\($0)" } ?? "?")")
                        }
                        let reload = fixture.reload()
                        #expect(reload.status == 0, "round \(round) (victim \(victim.pid)): \(reload)\n\(fixture.logTail())")
                        outcomes.append("r\(round): kill serving pid \(victim.pid)\(round % 3 == 2 ? " (restarted first)" : "") -> exit \(reload.status)")
                    }
                    try load.waitForRequests(20, timeout: .seconds(30))
                }
            }
            let kills = servingVictims.count + newVictims.count
            print("FAULT a sigkill: \(rounds) reloads, \(kills) kills (\(servingVictims.count) serving, \(newVictims.count) new); "
                  + "requests ok \(result.ok) failed \(result.failed), the victims held \(inFlight) connections when killed; "
                  + "\(outcomes.joined(separator: "; "))")
            if !result.failures.isEmpty { print("FAULT a failures: \(result.failures.joined(separator: " | "))") }
            #expect(result.failed <= inFlight, "more failures than the killed workers had connections in flight (\(inFlight)): \(result)")
            #expect(result.ok > 100, "\(result)")

            #expect(fixture.graced.isRunning)
            let problem = fixture.waitUntilConsistent(timeout: .seconds(30))
            #expect(problem == nil, "\(problem ?? "")\n\(fixture.logTail())")
            #expect(fixture.waitForNoZombies().isEmpty)
            // Every unasked death is an error naming the pid.
            let lines = fixture.logLines()
            for victim in servingVictims + newVictims {
                let line = lines.first {
                    (Reliability.isEvent("worker-died", $0) || Reliability.isEvent("worker-failed", $0)) && $0.contains(" pid=\(victim) ")
                }
                #expect(line != nil, "no worker-died/worker-failed line for pid \(victim)")
                if let line { #expect(Reliability.level(of: line) == "error", "\(line)") }
            }
            let restarts = lines.filter { Reliability.isEvent("restart-scheduled", $0) }
            #expect(!restarts.isEmpty, "no restart-scheduled line")
            for line in restarts { #expect(Reliability.level(of: line) == "info", "\(line)") }
            #expect(fixture.lines(atLevel: "crit").isEmpty, "\(fixture.lines(atLevel: "crit"))")
            print("FAULT a log: \(lines.filter { Reliability.isEvent("worker-died", $0) }.count) worker-died (error), "
                  + "\(lines.filter { Reliability.isEvent("worker-failed", $0) }.count) worker-failed (error), "
                  + "\(restarts.count) restart-scheduled (info), graced state: \((try? fixture.status()).map { "\($0)" } ?? "?")")
        }

        // b. A new worker SIGSTOPped right after spawn never becomes ready.
        @Test func sigstoppedNewWorkerFailsTheReloadAndIsKilled() throws {
            let fixture = try ReliabilityFixture(
                command: Binaries.workerCommand(["--work-ms", "2"]),
                workerLines: ["ready_timeout = \"10s\"", "drain_timeout = \"2s\""])
            let before = try workerInfo(fixture.endpoint)
            // --start-delay: the new worker sleeps 1 s before it takes its listener, so it is
            // stopped before it accepts anything.
            try fixture.rewrite(command: Reliability.faultyWorkerCommand(["--start-delay", "1", "--work-ms", "2"]),
                                workerLines: ["ready_timeout = \"2s\"", "drain_timeout = \"2s\""])
            var stoppedPID: Int?
            var stoppedState: Character?
            var reload: (status: Int32, stdout: String, stderr: String) = (0, "", "")
            var goneAfter: Duration?
            let reloadReturned = Locked<ContinuousClock.Instant?>(nil)
            let result = try Reliability.underLoad(fixture.endpoint) { load in
                let gracedPID = fixture.pid
                let started = ContinuousClock.now
                let background = Reliability.Background("reload") { [fixture] in
                    let outcome = fixture.reload()
                    reloadReturned.withLock { $0 = .now }
                    return outcome
                }
                poll(timeout: .seconds(10), interval: .milliseconds(2)) {
                    guard let pid = Reliability.children(of: gracedPID, generation: 2).first else { return false }
                    kill(pid_t(pid), SIGSTOP)
                    stoppedPID = pid
                    return true
                }
                if let stoppedPID {
                    poll(timeout: .seconds(2), interval: .milliseconds(5)) { processStat(pid: stoppedPID)?.state == "T" }
                    stoppedState = processStat(pid: stoppedPID)?.state
                }
                reload = background.wait()
                if let stoppedPID {
                    let gone = poll(timeout: .seconds(20), interval: .milliseconds(20)) { !processExists(pid: stoppedPID) }
                    if gone { goneAfter = ContinuousClock.now - (reloadReturned.withLock { $0 } ?? started) }
                }
                try load.waitForRequests(30, timeout: .seconds(30))
            }
            let stopped = try #require(stoppedPID, "no generation-2 child of graced appeared\n\(fixture.logTail())")
            print("FAULT b sigstop: stopped pid \(stopped) (state \(stoppedState.map(String.init) ?? "?")), reload exit \(reload.status): "
                  + "\(reload.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); stopped process gone "
                  + "\(goneAfter.map { "\($0) after the verdict" } ?? "NEVER"); requests ok \(result.ok) failed \(result.failed)")
            #expect(stoppedState == "T", "pid \(stopped) was not stopped")
            #expect(reload.status == 1, "\(reload)\n\(fixture.logTail())")
            #expect(reload.stderr.contains("ready_timeout"), "\(reload.stderr)")
            #expect(goneAfter != nil, "the stopped worker \(stopped) was left behind: state \(processStat(pid: stopped).map { String($0.state) } ?? "gone")")
            #expect(result.failed == 0, "\(result)")
            let after = try workerInfo(fixture.endpoint)
            #expect(after.pid == before.pid && after.generation == "1", "\(after.pid) gen \(after.generation ?? "?")")
            let problem = fixture.waitUntilConsistent()
            #expect(problem == nil, "\(problem ?? "")\n\(fixture.logTail())")
            let status = try fixture.status()
            #expect(status.serving.first?.number == 1 && status.allPIDs == [before.pid], "\(status)")
            // The verdict is an error naming ready_timeout; the stopped worker is SIGKILLed
            // after drain_timeout (SIGTERM stays pending in a stopped process), a warning.
            let lines = fixture.logLines()
            let failed = lines.first { Reliability.isEvent("reload-failed", $0) }
            #expect(failed.map { Reliability.level(of: $0) } == "error", "reload-failed line: \(failed ?? "none")")
            #expect(failed?.contains("ready_timeout") == true, "\(failed ?? "none")")
            let killed = lines.first { Reliability.isEvent("drain-timeout", $0) && $0.contains(" pid=\(stopped) ") }
            if let killed { #expect(Reliability.level(of: killed) == "warn", "\(killed)") }
            let abandoned = lines.first { Reliability.isEvent("generation-abandoned", $0) }
            #expect(abandoned.map { Reliability.level(of: $0) } == "info", "generation-abandoned line: \(abandoned ?? "none")")
            print("FAULT b log: \([failed, killed, abandoned].compactMap { $0 }.joined(separator: " || "))")
            #expect(fixture.lines(atLevel: "crit").isEmpty)
        }

        // e. A worker whose forked child keeps the listening socket, after the worker's
        // generation is retired.
        @Test func descendantHoldingTheListenerAfterItsGenerationIsRetired() throws {
            let fixture = try ReliabilityFixture(
                command: Reliability.faultyWorkerCommand(["--fork-holder", "--holder-pid-file", "{dir}/holder.pid",
                                                          "--work-ms", "2"]),
                workerLines: ["drain_timeout = \"3s\""])
            var holder: Int?
            poll(timeout: .seconds(20), interval: .milliseconds(20)) {
                holder = (try? String(contentsOfFile: fixture.directory.file("holder.pid"), encoding: .utf8))
                    .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                return holder != nil
            }
            let holderPID = try #require(holder, "the worker wrote no holder pid\n\(fixture.logTail())")
            defer {
                // The holder is no descendant of graced once its worker exits: kill it here.
                if commandLine(pid: holderPID).contains(where: { $0.hasSuffix("faulty_worker.py") }) {
                    kill(pid_t(holderPID), SIGKILL)
                }
            }
            let status = try fixture.status()
            let worker = try #require(status.allPIDs.first)
            let inode = try #require(status.listeners.first?.inode, "no listener inode in status")
            func holdsListener(_ pid: Int) -> Bool {
                openFDs(pid: pid).contains { socketInode(pid: pid, fd: $0) == inode }
            }
            try #require(holdsListener(holderPID), "the holder \(holderPID) does not hold the listener (inode \(inode))")
            let group = processStat(pid: holderPID)?.processGroup

            // Retire generation 1 in favour of a worker without such a child.
            try fixture.rewrite(command: Binaries.workerCommand(["--work-ms", "2"]), workerLines: ["drain_timeout = \"3s\""])
            let reload = fixture.reload(["--wait-drained"])
            #expect(reload.status == 0, "\(reload)\n\(fixture.logTail())")
            let drained = try fixture.graced.waitForLog(containing: "generation 1 drained", timeout: .seconds(20))
            #expect(Reliability.level(of: drained) == "info", "\(drained)")
            sleepThread(.milliseconds(500))
            #expect(!processExists(pid: worker), "the retired worker \(worker) still exists")
            // graced sends the leftover group the stop signal (ignored here), then SIGKILL after
            // drain_timeout (3 s), with a warning.
            let leftover = try fixture.graced.waitForLog(containing: "event=leftover-processes", timeout: .seconds(20))
            #expect(Reliability.level(of: leftover) == "warn", "\(leftover)")
            _ = poll(timeout: .seconds(15), interval: .milliseconds(100)) { !isAlive(pid: holderPID) }
            let holderAlive = isAlive(pid: holderPID)
            let keepsListener = holderAlive && holdsListener(holderPID)
            let holderParent = parentPID(of: holderPID)
            #expect(fixture.waitUntilConsistent() == nil)

            // Once graced has stopped and closed its listener, is the port still taken?
            let stop = runGraced(["stop", "--control", fixture.controlPath], timeout: .seconds(30))
            #expect(stop.status == 0, "\(stop)")
            let exit = try fixture.graced.waitForExit(timeout: .seconds(20))
            #expect(exit == 0)
            var afterStop = "refused"
            do {
                let response = try httpRequest(fixture.endpoint, timeout: .seconds(2))
                afterStop = "answered \(response.status)"
            } catch {
                let text = "\(error)"
                afterStop = text.contains("refused") ? "refused" : "accepted but never answered (\(text))"
            }
            print("FAULT e listener holder: holder pid \(holderPID) (process group \(group.map(String.init) ?? "?"), "
                  + "the worker's) after generation 1 drained: alive \(holderAlive), parent \(holderParent.map(String.init) ?? "-"), "
                  + "keeps listener inode \(inode): \(keepsListener); after `graced stop` the port is \(afterStop); "
                  + "graced logged: \(drained.split(separator: " ").dropFirst(2).prefix(10).joined(separator: " "))")
            // What is left of a worker's process group once the worker exits is stopped, then
            // killed: it must not keep the listening socket (a process that left the group with
            // setsid escapes this; see the README).
            #expect(!keepsListener, "pid \(holderPID) still holds the listener (inode \(inode)) after generation 1 drained")
            #expect(afterStop == "refused", "after graced stopped, the port is \(afterStop)")
        }
    }
}
