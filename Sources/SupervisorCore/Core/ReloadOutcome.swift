/// The verdict of one reload.
public enum ReloadOutcome: Equatable, Sendable {
    /// The new generation serves; the previous one (if any) was told to stop, and with
    /// `drained` it has exited too (`graced reload --wait-drained`).
    case succeeded(generation: Int, retired: Int?, drained: Bool = false)
    /// Nothing changed that users can see: the previous generation still serves.
    case failed(reason: String)

    public var succeeded: Bool {
        if case .succeeded = self { return true }
        return false
    }
}
