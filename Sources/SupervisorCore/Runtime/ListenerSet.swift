#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The listening sockets, keyed by listener name.
///
/// A reload keeps a listener whose name and address are unchanged (the very same socket,
/// so not one queued connection is lost), binds new ones, and closes removed ones only
/// after the generations that used them have drained.
public final class ListenerSet {
    /// In config order: this order is the fd order (3, 4, ...) of new workers.
    public fileprivate(set) var current: [Listener] = []
    fileprivate(set) var retiredListeners: [Listener] = []
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Sockets handed over by systemd or the fd store, by name, not yet claimed.
    var inherited: [String: (fd: Int32, origin: ListenerOrigin)] = [:]
    /// The set before a reload's ``reconcile(with:)``, until the reload commits or restores it.
    private var beforeReload: [Listener]?
    /// Listeners a reload renamed, with their names before it, for ``restore()``.
    private var namesBeforeReload: [(Listener, String)] = []
    /// The listeners each generation was given, in fd order.
    private var byGeneration: [Int: [Listener]] = [:]

    /// Makes `current` match `configs`. All-or-nothing: if one listener cannot be opened,
    /// the ones opened by this call are closed again and nothing changes.
    func reconcile(with configs: [ListenerConfig]) throws(ListenerError) {
        let before = current
        var next: [Listener] = []
        var opened: [Listener] = []
        for config in configs {
            if let existing = current.first(where: { $0.name == config.name && $0.address == config.address }) {
                next.append(existing)
                continue
            }
            // The same address under another name, re-added while its old generation
            // drains, or retried after a failed reload: the socket graced still holds is
            // the one to use (binding again would fail with EADDRINUSE).
            if let reused = (current + retiredListeners).first(where: { candidate in
                candidate.address == config.address && !next.contains { $0 === candidate }
            }) {
                if reused.name != config.name {
                    namesBeforeReload.append((reused, reused.name))
                    logger.info("listener \(reused.name) \(reused.address) is now named \(config.name) (same socket)", metadata: [
                        "event": "listener-renamed", "listener": "\(config.name)",
                    ])
                    reused.name = config.name
                }
                reused.retired = false
                retiredListeners.removeAll { $0 === reused }
                next.append(reused)
                continue
            }
            do throws(ListenerError) {
                let listener: Listener
                if let handed = inherited.removeValue(forKey: config.name) {
                    if let problem = InheritedSockets.mismatch(fd: handed.fd, address: config.address) {
                        FileDescriptor.close(handed.fd)
                        throw ListenerError(listener: config.name, address: config.address.description,
                                            message: "the socket systemd passed as '\(config.name)' does not fit: \(problem)")
                    }
                    listener = Listener(name: config.name, address: config.address, fd: handed.fd, origin: handed.origin, backlog: config.backlog)
                } else {
                    let fd = try ListeningSocket.open(config)
                    listener = Listener(name: config.name, address: config.address, fd: fd, origin: .bound, backlog: config.backlog)
                }
                opened.append(listener)
                next.append(listener)
            } catch {
                for listener in opened { close(listener, log: false) }
                throw error
            }
        }
        for listener in opened {
            logger.info("listener \(listener.name) listening on \(listener.address)", metadata: [
                "event": "listener-open", "listener": "\(listener.name)", "fd": "\(listener.fd)", "origin": "\(listener.origin.rawValue)",
            ])
        }
        for old in current where !next.contains(where: { $0 === old }) {
            old.retired = true
            retiredListeners.append(old)
        }
        if beforeReload == nil { beforeReload = before }
        current = next
        closeUnusedRetired()
    }

    /// The reconciled set is final: a later ``restore()`` no longer goes back past it.
    func commit() {
        beforeReload = nil
        namesBeforeReload = []
    }

    /// Gives `generation` the listeners as they are now (its workers get them as fds 3, 4, ...).
    func assign(to generation: Int) {
        byGeneration[generation] = current
        markInUse(current, by: generation)
    }

    /// The listeners `generation` was given.
    func assigned(to generation: Int) -> [Listener] {
        byGeneration[generation] ?? current
    }

    /// Inherited sockets that no listener claimed; the caller closes them.
    func takeUnclaimed() -> [(name: String, fd: Int32)] {
        defer { inherited = [:] }
        return inherited.map { ($0.key, $0.value.fd) }.sorted { $0.fd < $1.fd }
    }

    /// Records that `generation` was given `listeners`.
    func markInUse(_ listeners: [Listener], by generation: Int) {
        for listener in listeners { listener.users.insert(generation) }
    }

    /// A generation has ended: its retired listeners may now be closed.
    func release(generation: Int) {
        byGeneration.removeValue(forKey: generation)
        for listener in current + retiredListeners { listener.users.remove(generation) }
        closeUnusedRetired()
    }

    /// Every socket graced holds: current and retired ones still in use.
    var all: [Listener] { current + retiredListeners }

    /// Closes every socket (graced's own shutdown).
    func closeAll() {
        for listener in retiredListeners + current { close(listener, log: true) }
        retiredListeners = []
        current = []
    }

    fileprivate func closeUnusedRetired() {
        let (done, waiting) = (retiredListeners.filter { $0.users.isEmpty }, retiredListeners.filter { !$0.users.isEmpty })
        retiredListeners = waiting
        for listener in done { close(listener, log: true) }
    }

    private func close(_ listener: Listener, log: Bool) {
        if case .unix(let path) = listener.address, listener.origin == .bound {
            _ = unlink(path)
        }
        FileDescriptor.close(listener.fd)
        if log {
            logger.info("listener \(listener.name) \(listener.address) closed", metadata: [
                "event": "listener-closed", "listener": "\(listener.name)",
            ])
        }
    }
}

extension ListenerSet {
    /// Undoes the ``reconcile(with:)`` of a reload that failed: the set before it becomes
    /// current again, and listeners opened for the failed reload close once its workers are gone.
    func restore() {
        guard let previous = beforeReload else { return }
        beforeReload = nil
        for (listener, name) in namesBeforeReload.reversed() { listener.name = name }
        namesBeforeReload = []
        for listener in current where !previous.contains(where: { $0 === listener }) {
            listener.retired = true
            retiredListeners.append(listener)
        }
        for listener in previous { listener.retired = false }
        retiredListeners.removeAll { listener in previous.contains { $0 === listener } }
        current = previous
        closeUnusedRetired()
    }
}
