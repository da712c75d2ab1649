#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Reads the workers' stdout and stderr pipes (non-blocking, one chunk per wake-up) and
/// logs each line with the worker's pid, generation and slot, keeping the last lines of
/// each worker for failure reports.
final class OutputPump {
    /// Per worker: where its lines go and what it said last.
    private struct Source {
        var generation: Int
        var slot: Int
        var expectedShutdownMessages: [String]
        var recent = RecentLines(capacity: 20)
        /// The first line that looked like an exception: Ruby and Node print it before
        /// more frames than ``recent`` keeps.
        var firstException: String?
    }

    private let loop: EventLoop
    private let logger: Logger
    private var streams: [Int32: OutputStream] = [:]
    private var sources: [Int32: Source] = [:]
    /// Whether the worker was told to stop: its expected shutdown lines are the normal
    /// sound of a closed listener, logged as such.
    var isDraining: (Int32) -> Bool = { _ in false }

    init(loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.logger = logger
    }

    func watch(pid: Int32, generation: Int, slot: Int, stdout: Int32, stderr: Int32, expectedShutdownMessages: [String]) {
        sources[pid] = Source(generation: generation, slot: slot, expectedShutdownMessages: expectedShutdownMessages)
        for (fd, name) in [(stdout, "stdout"), (stderr, "stderr")] {
            let stream = OutputStream(fd: fd, pid: pid, name: name)
            do {
                try loop.register(fd: fd) { [unowned self] _ in pump(stream) }
                streams[fd] = stream
            } catch {
                logger.warning("cannot watch \(name) of worker \(pid): \(error)")
                FileDescriptor.close(fd)
            }
        }
    }

    /// Reads whatever a worker left in its pipes, so that its last lines are known when
    /// its exit is reported.
    func flush(pid: Int32) {
        for stream in streams.values where stream.pid == pid {
            pump(stream)
        }
    }

    func recentLines(of pid: Int32) -> [String] {
        sources[pid]?.recent.lines ?? []
    }

    /// The line that best says why the worker failed, if it printed one.
    func errorLine(of pid: Int32) -> String? {
        guard let source = sources[pid] else { return nil }
        return source.firstException ?? FailureLine.first(in: source.recent.lines)
    }

    /// The worker was reaped; its pipes close at end of file (descendants may still write).
    func forget(pid: Int32) {
        if !streams.values.contains(where: { $0.pid == pid }) { sources.removeValue(forKey: pid) }
    }

    func closeAll() {
        for stream in streams.values {
            loop.unregister(fd: stream.fd)
            FileDescriptor.close(stream.fd)
        }
        streams.removeAll()
        sources.removeAll()
    }

    private func pump(_ stream: OutputStream) {
        let (lines, ended) = stream.readAvailable()
        for line in lines { log(line, from: stream) }
        if ended {
            loop.unregister(fd: stream.fd)
            streams.removeValue(forKey: stream.fd)
            FileDescriptor.close(stream.fd)
        }
    }

    private func log(_ line: String, from stream: OutputStream) {
        sources[stream.pid]?.recent.append(line)
        if sources[stream.pid]?.firstException == nil, FailureLine.looksLikeException(line) {
            sources[stream.pid]?.firstException = line
        }
        let source = sources[stream.pid]
        var metadata: Logger.Metadata = ["pid": "\(stream.pid)", "stream": "\(stream.name)"]
        if let source {
            metadata["generation"] = "\(source.generation)"
            metadata["worker"] = "\(source.slot)"
        }
        if let source, isDraining(stream.pid),
           source.expectedShutdownMessages.contains(where: { !$0.isEmpty && line.contains($0) }) {
            // The normal sound of a listener being closed under a draining server.
            metadata["event"] = "closed-listener"
            logger.info("\(line)", metadata: metadata)
            return
        }
        metadata["event"] = "worker-output"
        // The level the worker gave the line (`ERROR:`, `[E]`, `level=error`, `<3>`), else info.
        let (level, message) = WorkerLineLevel.classify(line)
        logger.log(level: level ?? .info, "\(message)", metadata: metadata)
    }
}
