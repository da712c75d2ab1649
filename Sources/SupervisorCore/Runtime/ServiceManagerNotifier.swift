#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// Talks to the service manager that started graced (systemd `Type=notify`), through
/// libsystemd's sd_notify. Without `NOTIFY_SOCKET` every call is a no-op.
public struct ServiceManagerNotifier: Sendable {
    public let isEnabled: Bool

    public init(environment: [String: String]) {
        isEnabled = environment["NOTIFY_SOCKET"] != nil
    }

    public func send(_ state: String) {
        guard isEnabled else { return }
        _ = sd_notify(0, state)
    }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// `RELOADING=1` with the `MONOTONIC_USEC=` that systemd 253+ requires for
    /// `Type=notify-reload`, harmless for older ones.
    public func reloading() { send("RELOADING=1\nMONOTONIC_USEC=\(MonotonicInstant.now().microseconds)") }

    public func stopping() { send("STOPPING=1") }

    public func status(_ text: String) { send("STATUS=\(text)") }
}
