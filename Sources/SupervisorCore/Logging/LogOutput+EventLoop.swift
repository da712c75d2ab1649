#if canImport(Glibc)
import Glibc
#endif
import CSystemd

extension LogOutput {
    /// Lets `loop` write queued records as soon as the destination has room: while
    /// records are pending, ``pollFD`` is registered for EPOLLOUT and each wake-up calls
    /// ``drainPending()``; once the queue is empty the fd is unregistered again (so an
    /// idle graced never wakes up for its log).
    ///
    /// The loop must run on the thread that logs (graced's one thread).
    public func attach(to loop: EventLoop) {
        guard let fd = pollFD else { return }
        let armed = LockedValue(false)
        setOnPending { [weak loop] output in
            guard let loop, armed.withLock({ was in defer { was = true }; return !was }) else { return }
            do {
                try loop.register(fd: fd, events: EPOLLOUT.rawValue) { [weak loop] _ in
                    guard !output.drainPending() else { return }
                    loop?.unregister(fd: fd)
                    armed.withLock { $0 = false }
                    // A record queued between the drain and the disarm re-arms through onPending.
                    if output.hasPending { output.rearm() }
                }
            } catch {
                armed.withLock { $0 = false }  // not pollable (e.g. a regular file): records go out with the next write
            }
        }
        if hasPending { rearm() }
    }

    /// ``attach(to:)`` for every output created so far (the text log or the journal).
    public static func attachAll(to loop: EventLoop) {
        for output in registry.withLock({ $0 }) { output.attach(to: loop) }
    }

    /// Runs the onPending action again (the queue is not empty).
    func rearm() {
        let action = stateOnPending()
        action?(self)
    }
}
