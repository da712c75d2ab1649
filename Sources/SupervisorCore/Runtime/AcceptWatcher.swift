#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Looks at the workers from /proc (``AcceptingProbe``): which of them wait for
/// connections on which listeners. It answers three questions, each only while someone
/// asks it — at idle it has no timer and reads nothing:
/// - is a new worker accepting yet (`ready = "accepting"`), polled every ``interval``;
/// - has a retired generation stopped accepting (the reload's verdict waits for it);
/// - does the serving generation still wait on every listener (looked at once, on request).
final class AcceptWatcher {
    static let interval: Duration = .milliseconds(15)
    /// Ticks in a row without any waiter that mean "stopped accepting" (about 45 ms).
    static let quietTicksToStop = 3
    /// The same, while a process that was seen blocked in accept/poll/select still holds
    /// the listener: such a thread waits only between connections, so a busy one looks
    /// idle for a moment (about 300 ms).
    static let quietTicksToStopWhileHeld = 20

    private let loop: EventLoop
    private let probe = AcceptingProbe()
    private let groups = ProcessGroupMembers()
    private var readyWatches: [Int32: Set<UInt64>] = [:]
    private var stopWatches: [Int: (pids: () -> [Int32], inodes: Set<UInt64>, since: MonotonicInstant, quietTicks: Int, transient: Set<Int32>)] = [:]
    private var timer: EventLoop.TimerID?
    var onReady: (Int32) -> Void = { _ in }
    var onStopped: (Int, Duration) -> Void = { _, _ in }

    init(loop: EventLoop) {
        self.loop = loop
    }

    func watchReady(pid: Int32, inodes: Set<UInt64>) {
        readyWatches[pid] = inodes
        schedule()
    }

    func unwatchReady(pid: Int32) {
        readyWatches.removeValue(forKey: pid)
    }

    /// Reports through ``onStopped`` once no process of `pids()` (and of their process
    /// groups) waits on `inodes`.
    func watchStop(generation: Int, pids: @escaping () -> [Int32], inodes: Set<UInt64>) {
        stopWatches[generation] = (pids, inodes, .now(), 0, [])
        groups.invalidate()
        schedule()
    }

    func unwatchStop(generation: Int) {
        stopWatches.removeValue(forKey: generation)
    }

    /// The listener inodes on which some process of `leaders`' groups waits now.
    func acceptingInodes(ofGroups leaders: [Int32], among inodes: Set<UInt64>) -> Set<UInt64> {
        guard !inodes.isEmpty else { return [] }
        let pids = leaders.flatMap { groups.members(ofGroup: $0) }
        return probe.probe(pids: pids, listenerInodes: inodes).acceptingInodes
    }

    private func schedule() {
        guard timer == nil, !readyWatches.isEmpty || !stopWatches.isEmpty else { return }
        timer = loop.schedule(after: Self.interval) { [unowned self] in
            timer = nil
            tick()
        }
    }

    private func tick() {
        var ready: [Int32] = []
        for (pid, inodes) in readyWatches {
            let report = probe.probe(pids: groups.members(ofGroup: pid), listenerInodes: inodes, stopWhenAllSeen: true)
            if report.isAccepting(onAll: inodes) { ready.append(pid) }
        }
        var stopped: [(Int, Duration)] = []
        for (generation, watch) in stopWatches {
            let pids = watch.pids().flatMap { groups.members(ofGroup: $0) }
            let report = probe.probe(pids: pids, listenerInodes: watch.inodes)
            var transient = watch.transient
            for waiter in report.waiters {
                switch waiter.mechanism {
                case .accept, .poll, .select: transient.insert(waiter.pid)
                case .epoll: break
                }
            }
            let quiet = report.waiters.isEmpty ? watch.quietTicks + 1 : 0
            stopWatches[generation]?.quietTicks = quiet
            stopWatches[generation]?.transient = transient
            let stillHeld = report.holders.keys.contains { transient.contains($0) }
            if quiet >= (stillHeld ? Self.quietTicksToStopWhileHeld : Self.quietTicksToStop) {
                stopped.append((generation, MonotonicInstant.now().since(watch.since)))
            }
        }
        for pid in ready {
            readyWatches.removeValue(forKey: pid)
            onReady(pid)
        }
        for (generation, after) in stopped {
            stopWatches.removeValue(forKey: generation)
            onStopped(generation, after)
        }
        schedule()
    }
}
