/// Where a listening socket came from, as `graced status` shows it.
public enum ListenerOrigin: String, Sendable {
    case bound
    case systemd
    case fdStore = "fd store"
}
