#if canImport(Glibc)
import Glibc
#endif

/// Counts the client connections processes still hold: their socket inodes matched
/// against the established TCP sockets of /proc/net/tcp and tcp6.
///
/// The tables list every socket of the network namespace (tens of thousands on a busy
/// host), so they are read once per question, whatever the number of processes.
enum ConnectionCounter {
    static func established(pids: [pid_t]) -> [pid_t: Int] {
        guard !pids.isEmpty else { return [:] }
        let established = establishedInodes(netOf: pids[0])
        var result: [pid_t: Int] = [:]
        for pid in pids {
            result[pid] = socketInodes(pid: pid).intersection(established).count
        }
        return result
    }

    /// Inodes of the ESTABLISHED TCP sockets in the network namespace of `pid`.
    private static func establishedInodes(netOf pid: pid_t) -> Set<UInt64> {
        var inodes = Set<UInt64>()
        for table in ["/proc/\(pid)/net/tcp", "/proc/\(pid)/net/tcp6"] {
            guard let text = FileContents.text(table, limit: 64 << 20) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                // sl local rem st tx:rx tr:tm retrnsmt uid timeout inode; st 01 = ESTABLISHED
                guard fields.count > 9, fields[3] == "01", let inode = UInt64(fields[9]) else { continue }
                inodes.insert(inode)
            }
        }
        return inodes
    }

    private static func socketInodes(pid: pid_t) -> Set<UInt64> {
        var result = Set<UInt64>()
        guard let dir = opendir("/proc/\(pid)/fd") else { return result }
        defer { closedir(dir) }
        var target = [CChar](repeating: 0, count: 64)
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != ".", name != ".." else { continue }
            let n = readlink("/proc/\(pid)/fd/\(name)", &target, target.count - 1)
            guard n > 0 else { continue }
            let link = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if link.hasPrefix("socket:["), let inode = UInt64(link.dropFirst(8).dropLast()) {
                result.insert(inode)
            }
        }
        return result
    }
}
