/// Receives a reload's progress and verdict (a control client, or nobody for SIGHUP).
public struct ReloadObserver {
    public var progress: (String) -> Void
    public var finished: (ReloadOutcome) -> Void

    public init(progress: @escaping (String) -> Void, finished: @escaping (ReloadOutcome) -> Void) {
        self.progress = progress
        self.finished = finished
    }
}
