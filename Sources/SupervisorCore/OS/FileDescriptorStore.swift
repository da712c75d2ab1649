#if canImport(Glibc)
import Glibc
#endif
import CSystemd

/// systemd's file-descriptor store: listeners kept there survive a crash or restart of
/// graced, and come back through `LISTEN_FDS` by name.
struct FileDescriptorStore {
    let isEnabled: Bool
    /// What the store holds, by name: the socket's inode tells a moved listener (same
    /// name, new socket) from an unchanged one.
    private(set) var stored: [String: UInt64?] = [:]

    /// On when graced runs under a service manager and either systemd exported `$FDSTORE`
    /// (systemd 254+ does when FileDescriptorStoreMax= is set) or the config says so.
    init(environment: [String: String], configured: Bool?) {
        let underManager = environment["NOTIFY_SOCKET"] != nil
        isEnabled = underManager && (configured ?? (environment["FDSTORE"].map { $0 != "0" } ?? false))
    }

    /// Makes the store hold exactly `listeners`: removes what is gone or was replaced
    /// (`FDSTOREREMOVE=1`), then stores what is new (`FDSTORE=1`, `FDNAME=<name>`).
    /// Called with the serving listeners only, so a failed reload never leaves its
    /// sockets behind.
    mutating func sync(_ listeners: [Listener]) {
        guard isEnabled else { return }
        for (name, inode) in stored where !listeners.contains(where: { $0.name == name && $0.inode == inode }) {
            _ = sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=\(name)")
            stored.removeValue(forKey: name)
        }
        for listener in listeners where stored[listener.name] == nil {
            var fd = listener.fd
            if graced_notify_with_fds("FDSTORE=1\nFDNAME=\(listener.name)", &fd, 1) > 0 {
                stored[listener.name] = listener.inode
            }
        }
    }
}
