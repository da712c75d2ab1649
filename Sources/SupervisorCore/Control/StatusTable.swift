/// Renders ``SupervisorStatus`` as the aligned text `graced status` prints.
public enum StatusTable {
    public static func render(_ status: SupervisorStatus) -> String {
        var out = "graced \(status.version), pid \(status.pid), \(status.state), up \(seconds(status.uptimeSeconds))\n"
        out += "config: \(status.config)\n"
        if let reload = status.lastReload {
            out += "last reload: \(reload.ok ? "ok" : "FAILED") in \(seconds(reload.durationSeconds)), \(seconds(reload.secondsAgo)) ago: \(reload.detail.split(separator: "\n").first ?? "")\n"
            if let phases = reload.phases, !phases.isEmpty {
                out += "  phases: " + phases.map { "\($0.name) \(seconds($0.seconds))" }.joined(separator: ", ") + "\n"
            }
            if !reload.ok {
                // The worker's own words: the lines after "last output:".
                for line in reload.detail.split(separator: "\n").dropFirst() { out += "  \(line.trimmingCharacters(in: " "))\n" }
            }
        }
        if let missing = status.notAccepting, !missing.isEmpty {
            out += "ERROR: no worker accepting on \(missing.joined(separator: ", "))\n"
        }
        var dropped: [String] = []
        if let notify = status.notifyDropped, notify > 0 { dropped.append("\(notify) notify datagrams from strangers") }
        if let lines = status.logLinesDropped, lines > 0 { dropped.append("\(lines) log lines (slow log reader)") }
        if !dropped.isEmpty { out += "dropped: \(dropped.joined(separator: ", "))\n" }
        out += "\n"
        out += table(header: ["LISTENER", "ADDRESS", "FD", "ORIGIN"], rows: status.listeners.map {
            [$0.name, $0.address, String($0.fd), $0.origin]
        })
        out += "\n"
        var rows: [[String]] = []
        for generation in status.generations {
            for worker in generation.workers {
                var state = worker.state
                if let draining = worker.drainingSeconds { state += " \(seconds(draining))" }
                rows.append([
                    String(generation.number), generation.state, String(worker.index), String(worker.pid), state,
                    seconds(worker.uptimeSeconds), String(worker.restarts),
                    worker.connections.map(String.init) ?? "-", worker.statusText ?? "", clip(worker.lastLine ?? ""),
                ])
            }
            if generation.workers.isEmpty {
                rows.append([String(generation.number), generation.state, "-", "-", "-", "-", "-", "-", "", ""])
            }
        }
        out += table(header: ["GEN", "GEN STATE", "WORKER", "PID", "STATE", "UPTIME", "RESTARTS", "CONNS", "STATUS", "LAST LINE"], rows: rows)
        return out
    }

    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        var widths = Array(repeating: 0, count: header.count)
        for row in all {
            for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
        }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ").trimmingCharacters(in: " ")
        }.joined(separator: "\n") + "\n"
    }

    /// A worker's line, short enough for one table row.
    static func clip(_ line: String) -> String {
        line.count <= 60 ? line : String(line.prefix(59)) + "…"
    }

    static func seconds(_ value: Double) -> String {
        if value < 1 { return "\(Int(value * 1000))ms" }
        if value < 60 { return "\(Int(value * 10) / 10).\(Int(value * 10) % 10)s" }
        if value < 3600 { return "\(Int(value) / 60)m\(Int(value) % 60)s" }
        return "\(Int(value) / 3600)h\(Int(value) % 3600 / 60)m"
    }
}
