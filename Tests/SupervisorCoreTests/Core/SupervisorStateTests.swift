import XCTest
@testable import SupervisorCore

/// Drives the whole pure core — reload transaction, generation table, stop sequence —
/// through ``SupervisorState`` with made-up pids and times: no process, no socket.
final class SupervisorStateTests: XCTestCase {
    /// A state machine with a clock the test moves, and the effects of the last event.
    struct Harness {
        var state: SupervisorState
        var now = MonotonicInstant(nanoseconds: 1_000_000_000)
        var effects: [SupervisorEffect] = []
        var nextPID: Int32 = 100

        init(_ worker: WorkerConfig = WorkerConfig(command: ["/bin/true"], ready: .notify)) {
            state = SupervisorState(config: GracedConfig.testing(worker: worker))
        }

        @discardableResult
        mutating func send(_ event: SupervisorEvent) -> [SupervisorEffect] {
            effects = state.handle(event, at: now)
            return effects
        }

        mutating func advance(_ duration: Duration) { now = now + duration }

        /// Answers every spawn effect of the last event with a new pid; returns the pids.
        @discardableResult
        mutating func spawnAll() -> [Int32] {
            var pids: [Int32] = []
            var pending = effects
            while let effect = pending.first {
                pending.removeFirst()
                if case .spawn(let generation, let slot) = effect {
                    let pid = nextPID
                    nextPID += 1
                    pids.append(pid)
                    pending += send(.spawned(generation: generation, slot: slot, pid: pid))
                }
            }
            return pids
        }

        /// Starts generation 1 with every worker ready; returns its pids.
        mutating func startServing() -> [Int32] {
            send(.started)
            let pids = spawnAll()
            for pid in pids { send(.workerReady(pid: pid, how: "test")) }
            return pids
        }

        /// Requests a reload and answers its config read with `config`; returns the new pids.
        mutating func reload(_ id: Int, waitDrained: Bool = false, config: GracedConfig? = nil) -> [Int32] {
            send(.reloadRequested(ReloadRequestID(id), waitDrained: waitDrained))
            guard effects.contains(.readConfig) else { return [] }
            send(.configRead(config ?? state.config))
            return spawnAll()
        }
    }

    func testFirstGenerationAnnouncesReadyOnceAllWorkersAre() {
        var h = Harness(WorkerConfig(command: ["/bin/true"], processes: 2, ready: .notify))
        h.send(.started)
        let pids = h.spawnAll()
        XCTAssertEqual(pids.count, 2)
        h.send(.workerReady(pid: pids[0], how: "test"))
        XCTAssertFalse(h.effects.contains { if case .serviceManager(.ready) = $0 { return true } else { return false } })
        h.send(.workerReady(pid: pids[1], how: "test"))
        XCTAssertTrue(h.effects.contains { if case .serviceManager(.ready) = $0 { return true } else { return false } })
        XCTAssertTrue(h.state.announcedReady)
    }

    func testSuccessfulReloadPromotesAndRetires() {
        var h = Harness()
        let old = h.startServing()
        let new = h.reload(1)
        XCTAssertEqual(h.state.table.generations[2]?.state, .starting)
        h.send(.workerReady(pid: new[0], how: "test"))
        XCTAssertTrue(h.effects.contains(.signal(pid: old[0], .term)))
        XCTAssertTrue(h.effects.contains(.watchStopAccepting(generation: 1)))
        XCTAssertTrue(h.effects.contains(.commitConfig(h.state.config)))
        XCTAssertTrue(h.effects.contains(.startTimer(.stopAccept(generation: 1), .seconds(5))))
        // The verdict waits until the old generation no longer accepts.
        XCTAssertFalse(h.effects.contains { if case .reply = $0 { return true } else { return false } })
        h.send(.stoppedAccepting(generation: 1, after: .milliseconds(12)))
        XCTAssertTrue(h.effects.contains(.progress([ReloadRequestID(1)], "generation 1 stopped accepting (12ms)")))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(1)], .succeeded(generation: 2, retired: 1))))
        XCTAssertEqual(h.state.transaction.serving, 2)
        XCTAssertEqual(h.state.serving?.number, 2)
        XCTAssertTrue(h.state.table.generations[1]?.isDraining ?? false)
        // The old worker's exit ends its generation: listeners released, logged at info.
        h.send(.workerExited(pid: old[0], status: .exited(0), lastOutput: [], leftovers: false))
        XCTAssertNil(h.state.table.generations[1])
        XCTAssertTrue(h.effects.contains(.releaseListeners(generation: 1)))
        XCTAssertFalse(h.effects.contains { if case .log(let note) = $0 { return note.level >= .warning } else { return false } })
    }

    func testFailedReloadRestoresTheListenerPlanAndKeepsServing() {
        var h = Harness()
        _ = h.startServing()
        let new = h.reload(1)
        h.send(.workerExited(pid: new[0], status: .exited(3), lastOutput: ["boom"], leftovers: false))
        XCTAssertTrue(h.effects.contains(.restoreListeners))
        XCTAssertFalse(h.effects.contains { if case .commitConfig = $0 { return true } else { return false } })
        guard case .reply(_, .failed(let reason))? = h.effects.first(where: { if case .reply = $0 { return true } else { return false } }) else {
            return XCTFail("no failure reply in \(h.effects)")
        }
        XCTAssertTrue(reason.contains("exited 3 before it was ready"), reason)
        XCTAssertTrue(reason.contains("boom"), reason)
        XCTAssertEqual(h.state.transaction.serving, 1)
        XCTAssertNil(h.state.transaction.pendingConfig)
        XCTAssertEqual(h.state.transaction.lastReload?.succeeded, false)
    }

    func testSpawnFailureOfANewGenerationFailsTheReload() {
        var h = Harness()
        _ = h.startServing()
        h.send(.reloadRequested(ReloadRequestID(1), waitDrained: false))
        h.send(.configRead(h.state.config))
        h.send(.spawnFailed(generation: 2, slot: 0, error: "no such file"))
        XCTAssertTrue(h.effects.contains(.restoreListeners))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(1)], .failed(reason: "generation 2: cannot start worker #0: no such file"))))
    }

    func testWorkerExitingDuringReadySettleFailsTheReloadWithThatWording() {
        var h = Harness(WorkerConfig(command: ["/bin/true"], ready: .notify, readySettle: .seconds(1)))
        _ = h.startServing()
        let new = h.reload(1)
        h.send(.workerReady(pid: new[0], how: "test"))
        XCTAssertTrue(h.effects.contains(.startTimer(.settle(generation: 2), .seconds(1))))
        XCTAssertTrue(h.state.transaction.isSettling(2))
        h.send(.workerExited(pid: new[0], status: .exited(1), lastOutput: [], leftovers: false))
        XCTAssertTrue(h.effects.contains(.cancelTimer(.settle(generation: 2))))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(1)], .failed(reason: "worker #0 of generation 2 (pid \(new[0])) exited 1 during ready_settle"))))
        XCTAssertEqual(h.state.transaction.serving, 1)
    }

    func testReloadsCoalescedDuringADrainSlotWait() {
        var h = Harness(WorkerConfig(command: ["/bin/true"], ready: .notify, maxDraining: 1))
        _ = h.startServing()
        // Reload 1 succeeds: generation 1 drains and takes the only drain slot.
        let second = h.reload(1)
        h.send(.workerReady(pid: second[0], how: "test"))
        h.send(.stoppedAccepting(generation: 1, after: .zero))
        XCTAssertEqual(h.state.table.drainSlotsInUse, 1)
        // Reload 2 has to wait for a slot; 3 and 4 queue behind it.
        h.send(.reloadRequested(ReloadRequestID(2), waitDrained: false))
        XCTAssertTrue(h.effects.contains(.startTimer(.drainSlot, ReloadTransaction.drainSlotWait)))
        XCTAssertFalse(h.effects.contains(.readConfig))
        h.send(.reloadRequested(ReloadRequestID(3), waitDrained: false))
        h.send(.reloadRequested(ReloadRequestID(4), waitDrained: false))
        XCTAssertEqual(h.state.transaction.queued.map(\.id), [ReloadRequestID(3), ReloadRequestID(4)])
        // The drain slot frees up: reload 2 goes on at once.
        h.send(.workerExited(pid: 100, status: .exited(0), lastOutput: [], leftovers: false))
        XCTAssertTrue(h.effects.contains(.cancelTimer(.drainSlot)))
        XCTAssertTrue(h.effects.contains(.readConfig))
        h.send(.configRead(h.state.config))
        let third = h.spawnAll()
        h.send(.workerReady(pid: third[0], how: "test"))
        h.send(.stoppedAccepting(generation: 2, after: .milliseconds(5)))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(2)], .succeeded(generation: 3, retired: 2))))
        // 3 and 4 are served together by one more reload, which waits for a slot again.
        XCTAssertTrue(h.effects.contains(.startTimer(.drainSlot, ReloadTransaction.drainSlotWait)))
        h.send(.timerFired(.drainSlot))
        XCTAssertTrue(h.effects.contains(.readConfig))
        h.send(.configRead(h.state.config))
        let fourth = h.spawnAll()
        h.send(.workerReady(pid: fourth[0], how: "test"))
        // Generation 2 was still draining past max_draining = 1: the oldest is killed.
        XCTAssertTrue(h.effects.contains(.signal(pid: second[0], .kill)))
        h.send(.stoppedAccepting(generation: 3, after: .milliseconds(5)))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(3), ReloadRequestID(4)], .succeeded(generation: 4, retired: 3))))
        XCTAssertEqual(h.state.transaction.lastReload?.phases.map(\.name), ["drain slot", "prepare", "ready", "stop accepting"])
    }

    func testMaxDrainingKillsTheOldestDrainingGeneration() {
        var h = Harness(WorkerConfig(command: ["/bin/true"], ready: .notify, maxDraining: 1))
        let first = h.startServing()
        let second = h.reload(1)
        h.send(.workerReady(pid: second[0], how: "test"))
        h.send(.stoppedAccepting(generation: 1, after: .zero))
        h.send(.reloadRequested(ReloadRequestID(2), waitDrained: false))
        h.send(.timerFired(.drainSlot))
        h.send(.configRead(h.state.config))
        let third = h.spawnAll()
        h.send(.workerReady(pid: third[0], how: "test"))
        XCTAssertTrue(h.effects.contains(.signal(pid: first[0], .kill)))
        XCTAssertTrue(h.effects.contains(.signalGroup(leader: first[0], .kill)))
        XCTAssertFalse(h.effects.contains(.signal(pid: second[0], .kill)))
        XCTAssertTrue(h.effects.contains { if case .log(let note) = $0 { return note.level == .warning && note.message.contains("max_draining 1") } else { return false } })
    }

    func testWaitDrainedRepliesOnceTheOldGenerationIsGone() {
        var h = Harness()
        let old = h.startServing()
        let new = h.reload(1, waitDrained: true)
        h.send(.workerReady(pid: new[0], how: "test"))
        XCTAssertFalse(h.effects.contains { if case .reply = $0 { return true } else { return false } })
        h.send(.stoppedAccepting(generation: 1, after: .zero))
        XCTAssertTrue(h.effects.contains(.progress([ReloadRequestID(1)], "waiting for generation 1 to drain")))
        h.send(.workerExited(pid: old[0], status: .exited(0), lastOutput: [], leftovers: false))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(1)], .succeeded(generation: 2, retired: 1, drained: true))))
    }

    func testStopDuringAReloadFailsItAndAbandonsTheNewGeneration() {
        var h = Harness()
        let old = h.startServing()
        let new = h.reload(1)
        h.send(.reloadRequested(ReloadRequestID(2), waitDrained: false))
        h.send(.stopRequested(reason: "test"))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(1), ReloadRequestID(2)], .failed(reason: "graced is stopping"))))
        XCTAssertTrue(h.effects.contains(.cancelTimer(.readyTimeout(generation: 2))))
        XCTAssertTrue(h.effects.contains(.signal(pid: old[0], .term)))
        XCTAssertTrue(h.effects.contains(.signal(pid: new[0], .term)))
        XCTAssertEqual(h.state.table.generations[2]?.state, .abandoned)
        XCTAssertNil(h.state.transaction.serving)
        // A late READY=1 from the abandoned worker changes nothing.
        h.send(.workerReady(pid: new[0], how: "test"))
        XCTAssertFalse(h.effects.contains { if case .reply = $0 { return true } else { return false } })
        h.send(.reloadRequested(ReloadRequestID(3), waitDrained: false))
        XCTAssertEqual(h.effects, [.reply([ReloadRequestID(3)], .failed(reason: "graced is stopping"))])
        h.send(.workerExited(pid: old[0], status: .exited(0), lastOutput: [], leftovers: false))
        XCTAssertFalse(h.effects.contains { if case .finishStop = $0 { return true } else { return false } })
        h.send(.workerExited(pid: new[0], status: .signaled(15), lastOutput: [], leftovers: false))
        XCTAssertEqual(h.effects.last, .finishStop(code: 0))
    }

    func testStopDuringADrainSlotWait() {
        var h = Harness(WorkerConfig(command: ["/bin/true"], ready: .notify, maxDraining: 1))
        _ = h.startServing()
        let second = h.reload(1)
        h.send(.workerReady(pid: second[0], how: "test"))
        h.send(.stoppedAccepting(generation: 1, after: .zero))
        h.send(.reloadRequested(ReloadRequestID(2), waitDrained: false))
        XCTAssertEqual(h.state.transaction.phase, .waitingForDrainSlot(requests: [.init(id: ReloadRequestID(2))]))
        h.send(.stopRequested(reason: "test"))
        XCTAssertTrue(h.effects.contains(.cancelTimer(.drainSlot)))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(2)], .failed(reason: "graced is stopping"))))
        // A drain slot timer that fires anyway does nothing.
        h.send(.timerFired(.drainSlot))
        XCTAssertFalse(h.effects.contains(.readConfig))
    }

    func testSecondStopKillsAndStopWaitsForLeftovers() {
        var h = Harness()
        let pids = h.startServing()
        XCTAssertEqual(h.send(.stopRequested(reason: "SIGTERM")).filter { if case .signal = $0 { return true } else { return false } },
                       [.signal(pid: pids[0], .term), .signal(pid: pids[0], .cont)])
        XCTAssertEqual(h.state.stop.phase, .draining)
        h.send(.stopRequested(reason: "SIGTERM"))
        XCTAssertTrue(h.effects.contains(.killAll))
        XCTAssertEqual(h.state.stop.phase, .killing)
        // A third does nothing more.
        h.send(.stopRequested(reason: "SIGTERM"))
        XCTAssertFalse(h.effects.contains(.killAll))
        // The worker dies but left a process behind: graced waits for it.
        h.send(.workerExited(pid: pids[0], status: .signaled(9), lastOutput: [], leftovers: true))
        XCTAssertTrue(h.effects.contains(.pollLeftovers([pids[0]])))
        XCTAssertFalse(h.effects.contains { if case .finishStop = $0 { return true } else { return false } })
        h.send(.leftoversPolled(asked: [pids[0]], gone: []))
        XCTAssertFalse(h.effects.contains { if case .finishStop = $0 { return true } else { return false } })
        h.send(.timerFired(.leftoverPoll))
        XCTAssertTrue(h.effects.contains(.pollLeftovers([pids[0]])))
        h.send(.leftoversPolled(asked: [pids[0]], gone: [pids[0]]))
        XCTAssertEqual(h.effects.last, .finishStop(code: 0))
        XCTAssertEqual(h.state.stop.phase, .finished)
        // Finishing happens once.
        h.send(.leftoversPolled(asked: [pids[0]], gone: [pids[0]]))
        XCTAssertFalse(h.effects.contains { if case .finishStop = $0 { return true } else { return false } })
    }

    func testCrashedServingWorkerRestartsWithGrowingBackoff() {
        var h = Harness()
        var pid = h.startServing()[0]
        var delays: [Duration] = []
        for _ in 0..<4 {
            h.advance(.seconds(1))
            h.send(.workerExited(pid: pid, status: .exited(1), lastOutput: [], leftovers: false))
            guard case .startTimer(.restart(1, 0), let delay)? = h.effects.first(where: { if case .startTimer(.restart, _) = $0 { return true } else { return false } }) else {
                return XCTFail("no restart scheduled: \(h.effects)")
            }
            delays.append(delay)
            h.send(.timerFired(.restart(generation: 1, slot: 0)))
            pid = h.spawnAll()[0]
            h.send(.workerReady(pid: pid, how: "test"))
        }
        XCTAssertEqual(delays, [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4)])
        XCTAssertEqual(h.state.table.generations[1]?.restarts, [4])
        // After a long healthy run the backoff starts over.
        h.advance(.seconds(60))
        h.send(.workerExited(pid: pid, status: .exited(1), lastOutput: [], leftovers: false))
        XCTAssertTrue(h.effects.contains(.startTimer(.restart(generation: 1, slot: 0), .milliseconds(500))))
    }

    func testStartLimitStopsGracedWithExitStatusOne() {
        var worker = WorkerConfig(command: ["/bin/true"], ready: .notify)
        worker.startLimit = 3
        var h = Harness(worker)
        h.send(.started)
        var pid = h.spawnAll()[0]
        for attempt in 1...3 {
            h.send(.workerExited(pid: pid, status: .exited(1), lastOutput: [], leftovers: false))
            if attempt < 3 {
                h.send(.timerFired(.restart(generation: 1, slot: 0)))
                pid = h.spawnAll()[0]
            }
        }
        XCTAssertTrue(h.effects.contains { if case .log(let note) = $0 { return note.message.contains("start_limit 3") } else { return false } })
        XCTAssertEqual(h.effects.last, .finishStop(code: 1))
    }

    func testRestartsStopOnceGracedStops() {
        var h = Harness()
        let pid = h.startServing()[0]
        h.send(.workerExited(pid: pid, status: .exited(1), lastOutput: [], leftovers: false))
        XCTAssertTrue(h.effects.contains(.startTimer(.restart(generation: 1, slot: 0), .milliseconds(500))))
        h.send(.stopRequested(reason: "test"))
        XCTAssertTrue(h.effects.contains(.cancelTimer(.restart(generation: 1, slot: 0))))
        XCTAssertEqual(h.effects.last, .finishStop(code: 0))
        h.send(.timerFired(.restart(generation: 1, slot: 0)))
        XCTAssertFalse(h.effects.contains { if case .spawn = $0 { return true } else { return false } })
    }

    func testNormalEndsAreWordedAsSuch() {
        var h = Harness()
        let old = h.startServing()
        let new = h.reload(1)
        h.send(.workerReady(pid: new[0], how: "test"))
        h.send(.workerExited(pid: old[0], status: .signaled(15), lastOutput: [], leftovers: false))
        let messages = h.effects.compactMap { if case .log(let note) = $0 { return note } else { return nil } }
        XCTAssertTrue(messages.allSatisfy { $0.level == .info }, "\(messages)")
        XCTAssertTrue(messages.contains { $0.message.contains("ended by its stop signal SIGTERM") })
        XCTAssertFalse(messages.contains { $0.message.contains("killed by") })
    }

    func testReadyTimeoutOfANewGenerationAbandonsIt() {
        var h = Harness(WorkerConfig(command: ["/bin/true"], processes: 2, ready: .notify, readyTimeout: .seconds(5)))
        _ = h.startServing()
        let new = h.reload(1)
        h.send(.workerReady(pid: new[0], how: "test"))
        h.send(.readinessHint(pid: new[1], text: "not seen waiting for connections on http"))
        h.send(.timerFired(.readyTimeout(generation: 2)))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(1)], .failed(reason: "generation 2: worker #1 not ready within ready_timeout: worker #1 (pid \(new[1])) not seen waiting for connections on http"))))
        XCTAssertTrue(h.effects.contains(.signal(pid: new[1], .term)))
        XCTAssertEqual(h.state.table.generations[2]?.state, .abandoned)
    }

    func testStopAcceptTimeoutWarnsNamingThePidsAndStillSucceeds() {
        var worker = WorkerConfig(command: ["/bin/true"], ready: .notify)
        worker.stopAcceptTimeout = .seconds(2)
        var h = Harness(worker)
        let old = h.startServing()
        let new = h.reload(1)
        h.send(.workerReady(pid: new[0], how: "test"))
        XCTAssertTrue(h.effects.contains(.startTimer(.stopAccept(generation: 1), .seconds(2))))
        h.send(.timerFired(.stopAccept(generation: 1)))
        XCTAssertTrue(h.effects.contains(.unwatchStopAccepting(generation: 1)))
        XCTAssertTrue(h.effects.contains { if case .log(let note) = $0 { return note.level == .warning && note.message.contains("pids \(old[0])") } else { return false } })
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(1)], .succeeded(generation: 2, retired: 1))))
        // A late answer of the watcher changes nothing.
        h.send(.stoppedAccepting(generation: 1, after: .seconds(3)))
        XCTAssertFalse(h.effects.contains { if case .reply = $0 { return true } else { return false } })
    }

    func testOldGenerationExitingEndsTheStopAcceptWait() {
        var h = Harness()
        let old = h.startServing()
        let new = h.reload(1)
        h.send(.workerReady(pid: new[0], how: "test"))
        h.send(.workerExited(pid: old[0], status: .exited(0), lastOutput: [], leftovers: false))
        XCTAssertTrue(h.effects.contains(.cancelTimer(.stopAccept(generation: 1))))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(1)], .succeeded(generation: 2, retired: 1))))
        XCTAssertTrue(h.state.transaction.isIdle)
    }

    func testRequestsDuringTheStopAcceptWaitAreServedNext() {
        var h = Harness()
        _ = h.startServing()
        let new = h.reload(1)
        h.send(.workerReady(pid: new[0], how: "test"))
        h.send(.reloadRequested(ReloadRequestID(2), waitDrained: false))
        XCTAssertFalse(h.effects.contains(.readConfig))
        h.send(.stoppedAccepting(generation: 1, after: .zero))
        XCTAssertTrue(h.effects.contains(.reply([ReloadRequestID(1)], .succeeded(generation: 2, retired: 1))))
        XCTAssertTrue(h.effects.contains(.readConfig))
    }

    func testServingGenerationWithNobodyAcceptingIsAnError() {
        var h = Harness()
        let pids = h.startServing()
        XCTAssertTrue(h.effects.contains(.startTimer(.servingCheck, SupervisorState.servingCheckDelay)))
        h.send(.timerFired(.servingCheck))
        XCTAssertEqual(h.effects, [.checkServingAccepts])
        h.send(.servingAccepting(generation: 1, missing: ["http"]))
        XCTAssertTrue(h.effects.contains { if case .log(let note) = $0 { return note.level == .error && note.message.hasPrefix("no worker accepting on http") } else { return false } })
        XCTAssertTrue(h.state.statusSummary.contains("no worker accepting on http"), h.state.statusSummary)
        // Said once, not at every look.
        h.send(.servingAccepting(generation: 1, missing: ["http"]))
        XCTAssertTrue(h.effects.isEmpty)
        // A crash of a serving worker makes graced look again shortly.
        h.send(.workerExited(pid: pids[0], status: .exited(1), lastOutput: [], leftovers: false))
        XCTAssertTrue(h.effects.contains(.startTimer(.servingCheck, SupervisorState.servingCheckDelay)))
        h.send(.servingAccepting(generation: 1, missing: []))
        XCTAssertFalse(h.state.statusSummary.contains("no worker accepting"))
    }

    func testLeftoversGetAGraceBeforeTheWarning() {
        var h = Harness()
        let old = h.startServing()
        let new = h.reload(1)
        h.send(.workerReady(pid: new[0], how: "test"))
        h.send(.workerExited(pid: old[0], status: .exited(0), lastOutput: [], leftovers: true))
        XCTAssertTrue(h.effects.contains(.startTimer(.leftoverGrace(leader: old[0]), .seconds(1))))
        XCTAssertFalse(h.effects.contains { if case .log(let note) = $0 { return note.level >= .warning } else { return false } })
        // A helper that was on its way out: gone by then, nothing said.
        h.send(.timerFired(.leftoverGrace(leader: old[0])))
        XCTAssertEqual(h.effects, [.pollLeftovers([old[0]])])
        h.send(.leftoversPolled(asked: [old[0]], gone: [old[0]]))
        XCTAssertFalse(h.effects.contains { if case .log(let note) = $0 { return note.level >= .warning } else { return false } })
        XCTAssertTrue(h.state.table.unfinishedGroups.isEmpty)
    }

    func testLeftoversStillThereAfterTheGraceAreStoppedThenKilled() {
        var h = Harness()
        let pid = h.startServing()[0]
        h.send(.workerExited(pid: pid, status: .exited(1), lastOutput: [], leftovers: true))
        h.send(.timerFired(.leftoverGrace(leader: pid)))
        h.send(.leftoversPolled(asked: [pid], gone: []))
        XCTAssertTrue(h.effects.contains(.signalGroup(leader: pid, .term)))
        XCTAssertTrue(h.effects.contains(.startTimer(.leftoverKill(leader: pid), .seconds(30))))
        XCTAssertTrue(h.effects.contains { if case .log(let note) = $0 { return note.level == .warning } else { return false } })
        h.send(.timerFired(.leftoverKill(leader: pid)))
        XCTAssertEqual(h.effects, [.killLeftovers(leader: pid)])
    }

    func testReadyGoesToSystemdOnlyOnceTheFirstGenerationWasReady() {
        var h = Harness()
        h.send(.started)
        let first = h.spawnAll()
        // A reload before the first generation was ever ready, and it fails.
        let new = h.reload(1)
        h.send(.workerExited(pid: new[0], status: .exited(1), lastOutput: [], leftovers: false))
        XCTAssertFalse(h.effects.contains { if case .serviceManager(.ready) = $0 { return true } else { return false } })
        XCTAssertTrue(h.effects.contains { if case .serviceManager(.status) = $0 { return true } else { return false } })
        h.send(.workerReady(pid: first[0], how: "test"))
        XCTAssertTrue(h.effects.contains { if case .serviceManager(.ready) = $0 { return true } else { return false } })
    }
}

extension GracedConfig {
    /// A configuration as the loader would produce it, without reading a file.
    static func testing(worker: WorkerConfig) -> GracedConfig {
        GracedConfig(path: "/test/graced.conf", daemon: DaemonSettings(), listeners: [], worker: worker)
    }
}
