// swift-worker: the Swift example worker for graced, a socket-activated HTTP/1.1 server on
// SwiftNIO, the counterpart of examples/worker.py (same JSON answer, same log lines).
//
// - takes its listener from systemd socket activation (LISTEN_PID must be our pid; the
//   fd named by --listener in LISTEN_FDNAMES, by default the first, fd 3) with
//   ServerBootstrap.withBoundSocket;
// - answers every request with 200 and a JSON description of the process (GET /health:
//   "ok"; GET /sleep?ms=N: the same after N ms), HTTP/1.1 keep-alive;
// - sends READY=1 and STATUS= to $NOTIFY_SOCKET once serving (a path or an abstract @name);
// - on SIGTERM or SIGINT drains: STOPPING=1, closes the listener (close(), never
//   shutdown(): the socket is shared with graced and the next generation), finishes the
//   requests in flight (their answer says "Connection: close"), closes idle keep-alive
//   connections, and exits 0 once no connection is left (at most --drain-timeout).

import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

let usage = """
    usage: swift-worker [options]

    A socket-activated HTTP/1.1 server for graced (or systemd): it serves on the
    LISTEN_FDS socket named by --listener (default: the first, fd 3).

    options:
      --listener NAME        serve on the socket named NAME in LISTEN_FDNAMES (repeatable)
      --all-listeners        serve on every socket passed
      --fd N                 serve on fd N instead (repeatable; no socket activation needed)
      --threads N            event loop threads (default: the number of CPUs)
      --work-ms N            wait N ms before every answer (default 0)
      --drain-timeout SECS   exit at the latest this long after SIGTERM (default 25)
      --no-notify            send nothing to NOTIFY_SOCKET
      -h, --help             this text
    """

// MARK: - Command line

struct Options {
    var listenerNames: [String] = []
    var allListeners = false
    var explicitFDs: [CInt] = []
    var threads = System.coreCount
    var settings = ServerSettings()
    var drainTimeoutSeconds = 25.0
    var notify = true
}

func parseOptions(_ arguments: [String]) -> Options {
    var options = Options()
    var rest = arguments[...]
    func value(_ option: String) -> String {
        guard let value = rest.popFirst() else { failUsage("\(option) needs a value") }
        return value
    }
    while let argument = rest.popFirst() {
        switch argument {
        case "--listener": options.listenerNames.append(value(argument))
        case "--all-listeners": options.allListeners = true
        case "--fd":
            guard let fd = CInt(value(argument)), fd >= 0 else { failUsage("--fd needs an fd number") }
            options.explicitFDs.append(fd)
        case "--threads":
            guard let threads = Int(value(argument)), threads > 0 else { failUsage("--threads needs a positive number") }
            options.threads = threads
        case "--work-ms":
            guard let ms = Int64(value(argument)), ms >= 0 else { failUsage("--work-ms needs a number ≥ 0") }
            options.settings.workDelay = .milliseconds(ms)
        case "--drain-timeout":
            guard let seconds = Double(value(argument)), seconds > 0 else { failUsage("--drain-timeout needs seconds > 0") }
            options.drainTimeoutSeconds = seconds
        case "--no-notify": options.notify = false
        case "-h", "--help":
            print(usage)
            exit(0)
        default: failUsage("unknown argument \(argument)")
        }
    }
    return options
}

func failUsage(_ message: String) -> Never {
    log("swift-worker: \(message)\n\(usage)")
    exit(2)
}

// MARK: - Start

let inheritedFDs = openFDs()   // before anything opens an fd of its own
let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
let pid = getpid()

// The listeners to serve, from socket activation.
let activation = activationNames()
let activationCount = activation.count
let passedNames = activation.names
var selected: [Int] = []   // indexes into `listeners`
var listeners: [Listener] = []
if !options.explicitFDs.isEmpty {
    // --fd N (as worker.py): the fds given, named after LISTEN_FDNAMES where they are in it.
    for (index, fd) in options.explicitFDs.enumerated() {
        let activationIndex = Int(fd - listenFDsStart)
        let name = (0..<activationCount).contains(activationIndex) ? passedNames[activationIndex] : "fd\(fd)"
        listeners.append(adoptListener(fd: fd, name: name))
        selected.append(index)
    }
} else {
    guard activationCount > 0 else {
        failStart("no listening sockets: not socket-activated (LISTEN_FDS/LISTEN_PID not set for this process) "
                  + "and no --fd given; refusing to start")
    }
    if options.allListeners {
        selected = Array(0..<activationCount)
    } else if options.listenerNames.isEmpty {
        selected = [0]
    } else {
        for name in options.listenerNames {
            guard let index = passedNames.firstIndex(of: name) else {
                failStart("no listener named \(name) in LISTEN_FDNAMES=\(passedNames.joined(separator: ":"))")
            }
            selected.append(index)
        }
    }
    // Every passed socket is described (for the JSON), only the selected ones are served.
    listeners = (0..<activationCount).map { index -> Listener in
        let fd = listenFDsStart + CInt(index)
        if selected.contains(index) { return adoptListener(fd: fd, name: passedNames[index]) }
        return Listener(name: passedNames[index], fd: fd, family: "unknown", address: nil, backlog: nil)
    }
}
let facts = ProcessFacts(inheritedFDs: inheritedFDs, listeners: listeners)

// SIGTERM and SIGINT are blocked before any thread starts (the event loop threads inherit
// the mask) and taken with sigwait below.
var stopSignals = sigset_t()
sigemptyset(&stopSignals)
sigaddset(&stopSignals, SIGTERM)
sigaddset(&stopSignals, SIGINT)
pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
signal(SIGPIPE, SIG_IGN)

let group = MultiThreadedEventLoopGroup(numberOfThreads: options.threads)
let tracker = ConnectionTracker(eventLoop: group.next())
let settings = options.settings

var serverChannels: [Channel] = []
for index in selected {
    let listener = listeners[index]
    let bootstrap = ServerBootstrap(group: group)
        .serverChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(AcceptCounter(tracker: tracker))
            }
        }
        .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: listener.family == "unix" ? 0 : 1)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)
                try sync.addHandler(IdleStateHandler(readTimeout: settings.idleTimeout))
                try sync.addHandler(HTTPHandler(facts: facts, listener: listener.name, settings: settings,
                                                tracker: tracker))
            }
        }
    do {
        serverChannels.append(try bootstrap.withBoundSocket(listener.fd).wait())
    } catch {
        failStart("cannot serve on fd \(listener.fd) (\(listener.name)): \(error)")
    }
    // withBoundSocket calls listen() again with SwiftNIO's default backlog (128), which
    // would shrink the shared socket's accept queue for every generation: restore the
    // backlog graced gave it (TCP: read from TCP_INFO; otherwise graced's default).
    let backlog = listener.backlog ?? 4096
    if listen(listener.fd, backlog) != 0 {
        log("worker \(pid): listen(\(listener.fd), \(backlog)): \(String(cString: strerror(errno)))")
    }
}

let names = selected.map { listeners[$0].name }.joined(separator: ",")
log("worker \(pid) generation \(facts.generation ?? "-") serving on \(names) (swift-worker, SwiftNIO, "
    + "\(options.threads) thread\(options.threads == 1 ? "" : "s"))")
if options.notify { sdNotify("READY=1\nSTATUS=serving on \(names)") }

// MARK: - Drain

/// Blocks until every connection is gone (true) or `timeout` has passed (false).
func waitUntilAllGone(timeout: TimeAmount) -> Bool {
    let loop = group.next()
    let outcome = loop.makePromise(of: Bool.self)
    let decided = NIOLockedValueBox(false)
    func decide(_ value: Bool) {
        if decided.withLockedValue({ done in defer { done = true }; return !done }) { outcome.succeed(value) }
    }
    tracker.allGone.futureResult.whenComplete { _ in decide(true) }
    loop.scheduleTask(in: timeout) { decide(false) }
    return (try? outcome.futureResult.wait()) ?? false
}

var received: CInt = 0
while sigwait(&stopSignals, &received) != 0 {}
let signalName = received == SIGTERM ? "SIGTERM" : "SIGINT"
log("worker \(pid) draining (\(signalName)): \(tracker.count) connection(s) open")
if options.notify { sdNotify("STOPPING=1") }

let drainStart = NIODeadline.now()
for channel in tracker.startDrain() {
    channel.pipeline.fireUserInboundEventTriggered(DrainStarted())
}
EventLoopFuture.andAllComplete(serverChannels.map { $0.close() }, on: group.next())
    .whenComplete { _ in tracker.listenersClosed() }

// Wait for the last connection, at most --drain-timeout (a second signal changes nothing:
// graced's drain_timeout and SIGKILL are the hard limit).
let finished = waitUntilAllGone(timeout: .nanoseconds(Int64(options.drainTimeoutSeconds * 1e9)))
let elapsed = Double((NIODeadline.now() - drainStart).nanoseconds) / 1e9
let seconds = String(Int(elapsed * 1000)) + " ms"
if finished == true {
    log("worker \(pid) drained in \(seconds), exiting")
} else {
    let left = tracker.openConnections()
    log("worker \(pid) drain timeout after \(seconds): closing \(left.count) connection(s), exiting")
    for channel in left { channel.close(promise: nil) }
}
exit(0)
