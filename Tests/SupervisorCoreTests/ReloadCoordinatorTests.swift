import Testing
@testable import SupervisorCore

/// The reload transaction without processes: events in, actions out.
@Suite struct ReloadCoordinatorTests {
    let r1 = ReloadRequestID(1)
    let r2 = ReloadRequestID(2)
    let r3 = ReloadRequestID(3)

    func spawned(_ generation: Int, workers: Int = 2, settle: Duration = .zero) -> ReloadCoordinator.Event {
        .spawned(generation: generation, workers: workers, readyTimeout: .seconds(30), settle: settle)
    }

    @Test func successfulReloadPromotesAfterEveryWorkerIsReady() {
        var machine = ReloadCoordinator(serving: 1)
        #expect(machine.handle(.requested(r1)) == [.prepare])
        let afterSpawn = machine.handle(spawned(2))
        #expect(afterSpawn.contains(.startTimer(.readyTimeout(generation: 2), .seconds(30))))
        #expect(machine.startingGeneration == 2)
        // One of two workers ready: nothing is promoted yet.
        #expect(machine.handle(.workerReady(generation: 2, worker: 0)) == [])
        let done = machine.handle(.workerReady(generation: 2, worker: 1))
        #expect(done.contains(.cancelTimer(.readyTimeout(generation: 2))))
        #expect(done.contains(.promote(generation: 2)))
        #expect(done.contains(.reply([r1], .succeeded(generation: 2, retired: 1))))
        #expect(machine.isIdle)
        #expect(machine.serving == 2)
    }

    @Test func duplicateReadyFromTheSameWorkerCountsOnce() {
        var machine = ReloadCoordinator(serving: 1)
        _ = machine.handle(.requested(r1))
        _ = machine.handle(spawned(2))
        _ = machine.handle(.workerReady(generation: 2, worker: 0))
        #expect(machine.handle(.workerReady(generation: 2, worker: 0)) == [])
        #expect(machine.startingGeneration == 2)
    }

    @Test func invalidConfigChangesNothing() {
        var machine = ReloadCoordinator(serving: 1)
        _ = machine.handle(.requested(r1))
        let actions = machine.handle(.prepareFailed(reason: "graced.conf:3: unknown key"))
        #expect(actions == [.reply([r1], .failed(reason: "graced.conf:3: unknown key"))])
        #expect(!actions.contains { if case .promote = $0 { return true } else { return false } })
        #expect(machine.serving == 1)
        #expect(machine.isIdle)
    }

    @Test func workerExitBeforeReadyAbandonsTheNewGeneration() {
        var machine = ReloadCoordinator(serving: 1)
        _ = machine.handle(.requested(r1))
        _ = machine.handle(spawned(2))
        let actions = machine.handle(.workerFailed(generation: 2, worker: 1, reason: "exited 3"))
        #expect(actions.contains(.abandon(generation: 2)))
        #expect(actions.contains(.cancelTimer(.readyTimeout(generation: 2))))
        #expect(actions.contains(.reply([r1], .failed(reason: "exited 3"))))
        #expect(machine.serving == 1)
        // A late ready from the abandoned generation is ignored.
        #expect(machine.handle(.workerReady(generation: 2, worker: 0)) == [])
    }

    @Test func readyTimeoutNamesTheWorkersThatAreLate() {
        var machine = ReloadCoordinator(serving: 1)
        _ = machine.handle(.requested(r1))
        _ = machine.handle(spawned(2, workers: 3))
        _ = machine.handle(.workerReady(generation: 2, worker: 1))
        let actions = machine.handle(.timerFired(.readyTimeout(generation: 2)))
        #expect(actions.contains(.abandon(generation: 2)))
        guard case .reply(_, .failed(let reason)) = actions.last else {
            Issue.record("no failure reply: \(actions)")
            return
        }
        #expect(reason.contains("#0, #2"))
        #expect(reason.contains("ready_timeout"))
    }

    @Test func settleTimeDelaysThePromotion() {
        var machine = ReloadCoordinator(serving: 1)
        _ = machine.handle(.requested(r1))
        _ = machine.handle(spawned(2, workers: 1, settle: .seconds(2)))
        let ready = machine.handle(.workerReady(generation: 2, worker: 0))
        #expect(ready.contains(.startTimer(.settle(generation: 2), .seconds(2))))
        #expect(!ready.contains(.promote(generation: 2)))
        let settled = machine.handle(.timerFired(.settle(generation: 2)))
        #expect(settled.contains(.promote(generation: 2)))
    }

    @Test func requestsDuringAReloadAreCoalescedIntoOneMore() {
        var machine = ReloadCoordinator(serving: 1)
        _ = machine.handle(.requested(r1))
        _ = machine.handle(spawned(2, workers: 1))
        // Two more requests while generation 2 starts: neither starts a reload now.
        #expect(!machine.handle(.requested(r2)).contains(.prepare))
        #expect(!machine.handle(.requested(r3)).contains(.prepare))
        let first = machine.handle(.workerReady(generation: 2, worker: 0))
        #expect(first.contains(.reply([r1], .succeeded(generation: 2, retired: 1))))
        // ... and then exactly one reload serves both.
        #expect(first.last == .prepare)
        _ = machine.handle(spawned(3, workers: 1))
        let second = machine.handle(.workerReady(generation: 3, worker: 0))
        #expect(second.contains(.reply([r2, r3], .succeeded(generation: 3, retired: 2))))
        #expect(machine.isIdle)
    }

    @Test func aFailedReloadStillServesTheQueuedRequests() {
        var machine = ReloadCoordinator(serving: 1)
        _ = machine.handle(.requested(r1))
        _ = machine.handle(.requested(r2))
        let actions = machine.handle(.prepareFailed(reason: "bad"))
        #expect(actions == [.reply([r1], .failed(reason: "bad")), .prepare])
    }

    @Test func staleTimersAreIgnored() {
        var machine = ReloadCoordinator(serving: 1)
        #expect(machine.handle(.timerFired(.readyTimeout(generation: 7))) == [])
        _ = machine.handle(.requested(r1))
        _ = machine.handle(spawned(2))
        #expect(machine.handle(.timerFired(.readyTimeout(generation: 1))) == [])
        #expect(machine.handle(.timerFired(.settle(generation: 2))) == [])
        #expect(machine.startingGeneration == 2)
    }
}
