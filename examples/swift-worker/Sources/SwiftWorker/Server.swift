// HTTP/1.1 with keep-alive on SwiftNIO, and the drain: stop accepting, finish what is in
// flight, close idle keep-alive connections, report when the last connection is gone.

import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Settings from the command line that the handlers need.
struct ServerSettings: Sendable {
    /// Delay before every answer (like worker.py --work-ms).
    var workDelay: TimeAmount = .zero
    /// During a drain, a keep-alive connection that has been idle this long since its last
    /// response is closed (at once if it already was): a client that is sending its next
    /// request right now gets it answered with "Connection: close" instead of a reset.
    var drainIdleGrace: TimeAmount = .milliseconds(500)
    /// During a drain, an accepted connection that has not sent a byte yet is closed
    /// after this long (it is never closed while a request may be on its way).
    var drainFreshGrace: TimeAmount = .seconds(2)
    /// Outside a drain, idle keep-alive connections are closed after this.
    var idleTimeout: TimeAmount = .seconds(60)
}

/// Sent through a connection's pipeline when the drain starts.
struct DrainStarted: Sendable {}

/// Every open connection, counted from the moment the server channel accepts it (on the
/// server channel's event loop, so a connection accepted before the listener closed is
/// always counted), until its channel has closed.
final class ConnectionTracker: Sendable {
    private struct State {
        var connections: [ObjectIdentifier: Channel] = [:]
        var draining = false
        var listenersClosed = false
    }

    private let state = NIOLockedValueBox(State())
    /// Succeeds once draining, with the listeners closed and no connection left.
    let allGone: EventLoopPromise<Void>

    init(eventLoop: EventLoop) {
        allGone = eventLoop.makePromise()
    }

    var isDraining: Bool { state.withLockedValue { $0.draining } }
    var count: Int { state.withLockedValue { $0.connections.count } }

    func add(_ channel: Channel) {
        state.withLockedValue { $0.connections[ObjectIdentifier(channel)] = channel }
        channel.closeFuture.whenComplete { _ in self.remove(channel) }
    }

    private func remove(_ channel: Channel) {
        let done = state.withLockedValue { state -> Bool in
            state.connections[ObjectIdentifier(channel)] = nil
            return state.draining && state.listenersClosed && state.connections.isEmpty
        }
        if done { allGone.succeed(()) }
    }

    /// Marks the drain; returns the connections open now (each must be told).
    func startDrain() -> [Channel] {
        state.withLockedValue { state in
            state.draining = true
            return Array(state.connections.values)
        }
    }

    /// Called once every listener is closed: no connection can be added any more.
    func listenersClosed() {
        let done = state.withLockedValue { state -> Bool in
            state.listenersClosed = true
            return state.connections.isEmpty
        }
        if done { allGone.succeed(()) }
    }

    /// The connections still open (for the drain timeout).
    func openConnections() -> [Channel] {
        state.withLockedValue { Array($0.connections.values) }
    }
}

/// In the server channel's pipeline, before ServerBootstrap's acceptor: counts each
/// accepted connection.
final class AcceptCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    private let tracker: ConnectionTracker

    init(tracker: ConnectionTracker) { self.tracker = tracker }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        tracker.add(unwrapInboundIn(data))
        context.fireChannelRead(data)
    }
}

/// One connection: answers every request with the process description (or "ok" for
/// /health), keeps the connection alive unless asked not to or draining.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        /// Waiting for a request; `since` = when the connection became idle.
        case idle(since: NIODeadline)
        /// Reading or answering a request.
        case busy
        case closed
    }

    private let facts: ProcessFacts
    private let listener: String
    private let settings: ServerSettings
    private let tracker: ConnectionTracker

    private var state: State = .idle(since: .now())
    private var served = 0
    private var draining = false
    private var request: HTTPRequestHead?
    private var keepAlive = false
    private var idleClose: Scheduled<Void>?

    init(facts: ProcessFacts, listener: String, settings: ServerSettings, tracker: ConnectionTracker) {
        self.facts = facts
        self.listener = listener
        self.settings = settings
        self.tracker = tracker
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // A connection accepted just before the drain started may miss DrainStarted.
        if tracker.isDraining { drainStarted(context: context) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            idleClose?.cancel()
            idleClose = nil
            state = .busy
            request = head
            keepAlive = head.isKeepAlive
        case .body:
            break   // request bodies are read and ignored
        case .end:
            guard let head = request else { return }
            request = nil
            served += 1
            let delay = requestedDelay(head.uri)
            if delay > .zero {
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: delay) {
                    let (handler, context) = loopBound.value
                    handler.respond(context: context, to: head)
                }
            } else {
                respond(context: context, to: head)
            }
        }
    }

    /// --work-ms, or ms=N on /sleep (at most 60 s): the slow endpoint.
    private func requestedDelay(_ uri: String) -> TimeAmount {
        let parts = uri.split(separator: "?", maxSplits: 1)
        if parts.first == "/sleep", parts.count == 2 {
            for pair in parts[1].split(separator: "&") where pair.hasPrefix("ms=") {
                if let ms = Int64(pair.dropFirst(3)) { return .milliseconds(min(max(ms, 0), 60_000)) }
            }
        }
        return settings.workDelay
    }

    private func respond(context: ChannelHandlerContext, to head: HTTPRequestHead) {
        guard case .busy = state else { return }   // closed meanwhile
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let contentType: String
        let body: String
        if path == "/health" {
            (contentType, body) = ("text/plain", "ok")
        } else {
            (contentType, body) = ("application/json",
                                   describeProcess(facts, listener: listener, method: head.method.rawValue, path: head.uri))
        }
        if draining { keepAlive = false }   // in flight during a drain: answer, then close
        let close = !keepAlive

        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: close ? "close" : "keep-alive")
        headers.add(name: "X-Worker-Pid", value: String(facts.pid))
        let version = head.version.major == 1 && head.version.minor == 0 ? HTTPVersion.http1_0 : .http1_1
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .ok, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))),
                          promise: nil)
        }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { result in
            let (handler, context) = loopBound.value
            if close || (try? result.get()) == nil {
                handler.close(context: context)
            } else {
                handler.becameIdle(context: context)
            }
        }
    }

    private func becameIdle(context: ChannelHandlerContext) {
        guard case .busy = state else { return }
        state = .idle(since: .now())
        if draining { scheduleIdleClose(context: context) }
    }

    private func drainStarted(context: ChannelHandlerContext) {
        guard !draining else { return }
        draining = true
        if case .idle = state { scheduleIdleClose(context: context) }
    }

    /// Closes an idle connection once it has been idle for its grace (at once if it has).
    private func scheduleIdleClose(context: ChannelHandlerContext) {
        guard case .idle(let since) = state else { return }
        let grace = served > 0 ? settings.drainIdleGrace : settings.drainFreshGrace
        let remaining = since + grace - .now()
        if remaining <= .zero {
            close(context: context)
            return
        }
        idleClose?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        idleClose = context.eventLoop.scheduleTask(in: remaining) {
            let (handler, context) = loopBound.value
            if case .idle = handler.state { handler.close(context: context) }
        }
    }

    private func close(context: ChannelHandlerContext) {
        if case .closed = state { return }
        state = .closed
        idleClose?.cancel()
        idleClose = nil
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is DrainStarted:
            drainStarted(context: context)
        case let idle as IdleStateHandler.IdleStateEvent where idle == .read:
            if case .idle = state { close(context: context) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        idleClose?.cancel()
        idleClose = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A malformed request: HTTPServerProtocolErrorHandler answers 400 and closes.
        if error is HTTPParserError { return }
        // A reset by the client, or another I/O error: the connection is done.
        close(context: context)
    }
}
