import Logging

/// While a generation drains, a worker that calls `shutdown()` on its copy of a listener
/// stops the shared socket for everyone: look every ``interval`` and listen again at once
/// (``ListenerGuard``). Nothing drains, nothing is looked at.
final class DrainingListenerGuard {
    static let interval: Duration = .milliseconds(50)

    private let loop: EventLoop
    private let logger: Logger
    private let listeners: ListenerSet
    /// Whether a generation drains while graced runs (not stops).
    private let shouldWatch: () -> Bool
    /// The draining generations with their pids, for the log: "generation 3 (pid 12, 13)".
    private let suspects: () -> String
    private var timer: EventLoop.TimerID?

    init(loop: EventLoop, logger: Logger, listeners: ListenerSet,
         shouldWatch: @escaping () -> Bool, suspects: @escaping () -> String) {
        self.loop = loop
        self.logger = logger
        self.listeners = listeners
        self.shouldWatch = shouldWatch
        self.suspects = suspects
    }

    /// Starts looking if a generation drains and nobody looks yet.
    func watch() {
        guard timer == nil, shouldWatch() else { return }
        timer = loop.schedule(after: Self.interval) { [unowned self] in
            timer = nil
            check()
            watch()
        }
    }

    private func check() {
        for listener in listeners.all {
            switch ListenerGuard.check(listener.fd, backlog: listener.backlog) {
            case .listening:
                continue
            case .relistened:
                logger.error("listener \(listener.name) \(listener.address) had stopped listening (a draining worker shut it down: \(suspects())); listening again", metadata: [
                    "event": "listener-repaired", "listener": "\(listener.name)",
                ])
            case .failed(let error):
                logger.error("listener \(listener.name) \(listener.address) stopped listening and cannot listen again: \(error)", metadata: [
                    "event": "listener-failed", "listener": "\(listener.name)",
                ])
            }
        }
    }
}
