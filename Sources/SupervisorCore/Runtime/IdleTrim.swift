/// Gives graced's cold code pages back (``CodePages``) once nothing has happened for
/// ``delay`` and graced is idle: the code that started, reloaded or drained (argument
/// parsing, the config loader, spawning) is not needed until the next of those.
final class IdleTrim {
    /// How long graced must have been idle before it gives its cold code pages back.
    static let delay: Duration = .seconds(2)

    private let loop: EventLoop
    /// Whether nothing is starting, reloading or draining.
    private let isIdle: () -> Bool
    private var timer: EventLoop.TimerID?
    /// Whether anything happened since the last trim: an idle graced trims once.
    private var busySinceTrim = true

    init(loop: EventLoop, isIdle: @escaping () -> Bool) {
        self.loop = loop
        self.isIdle = isIdle
    }

    /// Something happened: the idle clock starts again.
    func activity() {
        busySinceTrim = true
        loop.cancel(timer)
        timer = loop.schedule(after: Self.delay) { [unowned self] in
            timer = nil
            guard busySinceTrim, isIdle() else { return }
            busySinceTrim = false
            CodePages.releaseClean()
        }
    }
}
