#if canImport(Glibc)
import Glibc
#endif
import Logging

extension Supervisor {
    /// SIGTERM/SIGINT or `graced stop`: drain every generation, then close the listeners
    /// and exit 0. A second request while draining kills the workers at once.
    public func requestStop(reason: String, observer: (() -> Void)? = nil) {
        if let observer { stopObservers.append(observer) }
        switch stopPhase {
        case .running:
            stopPhase = .draining
            serviceManager.stopping()
            logger.info("stopping (\(reason)): draining \(workersByPID.count) worker\(workersByPID.count == 1 ? "" : "s")", metadata: ["event": "stopping"])
            waitingForDrainSlot = false
            loop.cancel(drainSlotTimer)
            for (id, observer) in reloadObservers {
                observer.finished(.failed(reason: "graced is stopping"))
                reloadObservers.removeValue(forKey: id)
            }
            for timer in reloadTimers.values { loop.cancel(timer) }
            reloadTimers.removeAll()
            for generation in orderedGenerations {
                if generation.state == .serving || generation.state == .starting {
                    retire(generation, abandoned: generation.state == .starting)
                }
            }
            serving = nil
            if workersByPID.isEmpty { finishStop() }
        case .draining:
            stopPhase = .killing
            logger.warning("stopping now (\(reason) again): killing \(workersByPID.count) worker\(workersByPID.count == 1 ? "" : "s")", metadata: ["event": "stop-now"])
            for worker in workersByPID.values { ProcessSignaller.send(.kill, to: worker.pid) }
            for pid in probes.keys { ProcessSignaller.send(.kill, to: pid) }
            if workersByPID.isEmpty { finishStop() }
        case .killing:
            break
        }
    }

    func finishStop() {
        // Tell `graced stop` clients before the control socket closes.
        for observer in stopObservers { observer() }
        stopObservers.removeAll()
        for pid in probes.keys { ProcessSignaller.send(.kill, to: pid) }
        for generation in orderedGenerations { generationFinished(generation) }
        listeners.closeAll()
        controlServer?.close()
        for stream in outputStreams.values {
            loop.unregister(fd: stream.fd)
            FileDescriptor.close(stream.fd)
        }
        outputStreams.removeAll()
        logger.info("graced stopped", metadata: ["event": "stopped"])
        exitCode = 0
        loop.stop()
    }
}
