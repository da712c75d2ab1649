// graced's NOTIFY_SOCKET under attack (issue "hostile", item 1): a filesystem socket in a
// directory only the workers' users can enter, and datagrams from uids that run no
// worker dropped before any /proc read, a bounded batch per wake-up.

import Foundation
import Testing

@Suite("notify socket")
struct NotifySocketTests {
    /// Sends datagrams to `path` as fast as it can for `seconds`, as `user`, from a
    /// separate process; prints how many were accepted by the kernel and how many refused.
    static func flooder(path: String, seconds: Double, user: String?) -> Process {
        let script = """
            import socket, sys, time
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.setblocking(False)
            sent = refused = 0
            end = time.monotonic() + \(seconds)
            while time.monotonic() < end:
                try:
                    s.sendto(b"READY=1\\nSTATUS=forged", \(String(reflecting: path)))
                    sent += 1
                except BlockingIOError:
                    time.sleep(0.0005)
                except OSError:
                    refused += 1
                    time.sleep(0.0005)
            print(sent, refused)
            """
        let process = Process()
        if let user {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(user)", "--regid=\(user)", "--clear-groups", CoreHarness.systemPython ?? "/usr/bin/python3", "-c", script]
        } else {
            process.executableURL = URL(fileURLWithPath: CoreHarness.systemPython ?? "/usr/bin/python3")
            process.arguments = ["-c", script]
        }
        process.standardOutput = Pipe()
        process.standardError = FileHandle.nullDevice
        return process
    }

    /// Workers run as nobody; 4 flooders run as root (graced's own uid, which runs no
    /// worker here: dropped unread, and the socket paused after each batch of them) and
    /// 4 as daemon (refused by the directory's mode).
    /// graced stays responsive, a reload under the flood succeeds, and the worker's own
    /// READY=1 still counts.
    @Test(.enabled(if: CoreHarness.canRunAsNobody && Binaries.isExecutableFile("/usr/bin/setpriv"), "needs root, nobody and setpriv"))
    func floodFromOtherUsersLeavesGracedResponsive() throws {
        let tmp = try TemporaryDirectory(prefix: "notify")
        try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tmp.path)
        let port = freeTCPPort()
        let graced = try CoreHarness.startGraced(
            in: tmp, listeners: [("http", "127.0.0.1:\(port)")],
            command: [CoreHarness.systemPython!, Binaries.workerScript],
            workerLines: CoreHarness.defaultWorkerLines + ["user = \"nobody\"", "directory = \"/\""])
        defer { graced.terminate() }
        let worker = try #require(graced.childPIDs().first)
        let path = try #require(environment(pid: worker)["NOTIFY_SOCKET"])
        #expect(path.hasPrefix("/"))

        let seconds = 8.0
        let flooders = (0..<8).map { NotifySocketTests.flooder(path: path, seconds: seconds, user: $0 < 4 ? nil : "daemon") }
        let cpuBefore = Reliability.cpuSeconds(pid: graced.pid) ?? 0
        let started = ContinuousClock.now
        for flooder in flooders { try flooder.run() }
        sleepThread(.seconds(1))
        var worst = Duration.zero
        for _ in 0..<10 {
            let before = ContinuousClock.now
            _ = try CoreHarness.status(config: graced.configPath)
            worst = max(worst, ContinuousClock.now - before)
            sleepThread(.milliseconds(300))
        }
        let reloadStarted = ContinuousClock.now
        let reload = runGraced(["reload", "--config", graced.configPath], timeout: .seconds(30))
        let reloadTook = ContinuousClock.now - reloadStarted
        for flooder in flooders { flooder.waitUntilExit() }
        let span = ContinuousClock.now - started
        let elapsed = Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18
        let cpu = (Reliability.cpuSeconds(pid: graced.pid) ?? cpuBefore) - cpuBefore
        let counts = flooders.map { flooder -> String in
            let data = (flooder.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile()
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let status = try CoreHarness.status(config: graced.configPath)
        print("NOTIFY flood: 8 senders for \(seconds)s (sent refused: \(counts.joined(separator: ", "))); status worst \(worst); graced CPU \(String(format: "%.1f", 100 * cpu / elapsed))%; reload exit \(reload.status) in \(reloadTook); dropped \(status["notify_dropped"] ?? "?")")
        #expect(reload.status == 0, "\(reload.stdout) \(reload.stderr)")
        #expect(worst < .seconds(1), "graced status took \(worst) under the flood")
        #expect(reloadTook < .seconds(10), "the worker's READY=1 waited behind the flood")
        // Reading every forged datagram cost 55-60 % of a CPU; pausing the socket after a
        // batch of them costs 2-3 %.
        #expect(cpu / elapsed < 0.2, "graced used \(cpu)s of CPU in \(elapsed)s")
        // daemon cannot even reach the socket; root's datagrams reach it and are dropped.
        for line in counts.suffix(4) { #expect(line.hasPrefix("0 "), "daemon sent datagrams: \(line)") }
        let text = status["generations"] as? [[String: Any]] ?? []
        let texts = text.flatMap { ($0["workers"] as? [[String: Any]] ?? []).compactMap { $0["status_text"] as? String } }
        #expect(!texts.contains("forged"), "a stranger set STATUS=: \(texts)")
    }
}
