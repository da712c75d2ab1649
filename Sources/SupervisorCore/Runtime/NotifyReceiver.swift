/// Reads graced's `NOTIFY_SOCKET` for the event loop: a bounded batch per wake-up, the
/// strangers' datagrams dropped unread, and a pause when they flood it.
///
/// Only the kernel-vouched uid is looked at here; which worker a datagram speaks for, and
/// what its `READY=1` or `STATUS=` means, is the supervisor's business (`deliver`).
final class NotifyReceiver {
    /// Datagrams read per wake-up: a flood cannot starve the control socket or the reaper.
    static let budget = 64
    /// Strangers' datagrams in one wake-up that make a flood.
    static let floodBatch = 8
    /// How long the socket goes unread after a wake-up that strangers filled.
    static let floodPause = Duration.milliseconds(10)

    let socket: NotifySocket
    private let loop: EventLoop
    /// Whether a uid runs a worker; the others' datagrams are dropped unread.
    private let acceptsUID: (UInt32) -> Bool
    /// Hands over a datagram from a worker's uid; false if it came from no worker's tree.
    private let deliver: (NotifyDatagram) -> Bool
    private var paused = false
    /// Datagrams dropped: from a uid that runs no worker, or from no worker's tree.
    private(set) var dropped = 0

    init(socket: NotifySocket, loop: EventLoop, acceptsUID: @escaping (UInt32) -> Bool,
         deliver: @escaping (NotifyDatagram) -> Bool) {
        self.socket = socket
        self.loop = loop
        self.acceptsUID = acceptsUID
        self.deliver = deliver
    }

    /// Starts watching the socket.
    func register() throws(SystemError) {
        try loop.register(fd: socket.fd) { [unowned self] _ in readBatch() }
    }

    private func readBatch() {
        var droppedNow = 0
        var readNow = 0
        defer {
            // Strangers sent most of this batch: a flood (only root or graced's own uid can
            // reach the socket). Read nothing for a moment: the kernel queue, short
            // (net.unix.max_dgram_qlen, 10 by default), fills and the flooders wait, not
            // graced. A worker's own message waits a few pauses at most.
            if droppedNow >= Self.floodBatch && droppedNow * 2 > readNow { pause() }
        }
        for _ in 0..<Self.budget {
            readNow += 1
            // The kernel vouches for the uid: a stranger costs no /proc read at all.
            switch socket.receive(accept: acceptsUID) {
            case .empty:
                return
            case .dropped:
                dropped += 1
                droppedNow += 1
            case .datagram(let datagram):
                // Workers have no business storing fds with graced.
                datagram.fds.forEach(FileDescriptor.close)
                if !deliver(datagram) {
                    dropped += 1
                    droppedNow += 1
                }
            }
        }
    }

    private func pause() {
        guard !paused else { return }
        paused = true
        loop.pause(fd: socket.fd)
        loop.schedule(after: Self.floodPause) { [unowned self] in
            paused = false
            loop.resume(fd: socket.fd)
        }
    }
}
