#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// The one thread that owns all supervisor state: epoll for fds, a small timer list for
/// deadlines. Handlers run one at a time on this thread, so no locks are needed.
///
/// Idle means blocked in epoll_wait with no timeout: no polling, no periodic wake-ups.
public final class EventLoop {
    /// Identifies a scheduled timer, for ``cancel(_:)``.
    public struct TimerID: Hashable, Sendable {
        fileprivate let value: UInt64
    }

    private let epollFD: Int32
    private var handlers: [Int32: (UInt32) -> Void] = [:]
    private var timers: [UInt64: (deadline: MonotonicInstant, action: () -> Void)] = [:]
    private var nextTimer: UInt64 = 1
    private var stopped = false

    public init() throws(SystemError) {
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SystemError("epoll_create1") }
    }

    deinit {
        FileDescriptor.close(epollFD)
    }

    /// Calls `handler` with the ready events whenever `fd` is readable (level-triggered).
    public func register(fd: Int32, events: UInt32 = EPOLLIN.rawValue, handler: @escaping (UInt32) -> Void) throws(SystemError) {
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else { throw SystemError("epoll_ctl(ADD)") }
        handlers[fd] = handler
    }

    /// Changes the event mask of a registered fd (e.g. to wait for EPOLLOUT).
    public func modify(fd: Int32, events: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.fd = fd
        _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
    }

    /// Stops reporting a registered fd until `resume(fd:)`; its handler stays.
    public func pause(fd: Int32) {
        modify(fd: fd, events: 0)
    }

    /// Reports a paused fd again when it is readable.
    public func resume(fd: Int32) {
        modify(fd: fd, events: EPOLLIN.rawValue)
    }

    /// Must be called before the fd is closed, since the fd number may be reused at once.
    public func unregister(fd: Int32) {
        guard handlers.removeValue(forKey: fd) != nil else { return }
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
    }

    @discardableResult
    public func schedule(after delay: Duration, _ action: @escaping () -> Void) -> TimerID {
        let id = nextTimer
        nextTimer += 1
        timers[id] = (MonotonicInstant.now() + delay, action)
        return TimerID(value: id)
    }

    public func cancel(_ timer: TimerID?) {
        guard let timer else { return }
        timers.removeValue(forKey: timer.value)
    }

    /// Runs until ``stop()`` is called from a handler.
    public func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while !stopped {
            fireDueTimers()
            if stopped { break }
            let timeout = millisecondsUntilNextTimer()
            let count = epoll_wait(epollFD, &events, Int32(events.count), timeout)
            if count < 0 {
                if errno == EINTR { continue }
                fatalError("epoll_wait: \(SystemError.describe(errno))")
            }
            for i in 0..<Int(count) {
                let fd = events[i].data.fd
                // A previous handler in this batch may have unregistered (and closed) it.
                guard let handler = handlers[fd] else { continue }
                handler(events[i].events)
            }
        }
    }

    public func stop() {
        stopped = true
    }

    private func fireDueTimers() {
        let now = MonotonicInstant.now()
        // Oldest first, and only those due now: a timer scheduled by a handler waits a turn.
        let due = timers.filter { $0.value.deadline <= now }.sorted { $0.value.deadline < $1.value.deadline || ($0.value.deadline == $1.value.deadline && $0.key < $1.key) }
        for (id, timer) in due {
            guard timers.removeValue(forKey: id) != nil else { continue }
            timer.action()
        }
    }

    private func millisecondsUntilNextTimer() -> Int32 {
        guard let next = timers.values.map(\.deadline).min() else { return -1 }
        let remaining = next.since(.now()).nanoseconds
        if remaining <= 0 { return 0 }
        // Round up so we never wake just before the deadline and spin.
        return Int32(clamping: (remaining + 999_999) / 1_000_000)
    }
}
