/// The last reload, for `graced status`: its verdict and how long each phase took.
public struct ReloadRecord: Equatable, Sendable {
    public var succeeded: Bool
    public var detail: String
    public var duration: Duration
    public var generation: Int?
    public var finishedAt: MonotonicInstant
    /// Each phase the reload went through, in order, with its duration
    /// (`drain slot`, `prepare`, `ready`, `settle`).
    public var phases: [Phase]

    public struct Phase: Equatable, Sendable {
        public var name: String
        public var duration: Duration
    }
}
