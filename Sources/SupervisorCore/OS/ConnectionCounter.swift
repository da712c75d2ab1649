#if canImport(Glibc)
import Glibc
#endif

/// Counts the client connections a process still holds: its socket inodes matched
/// against the established TCP sockets in /proc/net/tcp and tcp6.
enum ConnectionCounter {
    static func established(pid: pid_t) -> Int? {
        let inodes = socketInodes(pid: pid)
        guard !inodes.isEmpty else { return 0 }
        var count = 0
        for table in ["/proc/\(pid)/net/tcp", "/proc/\(pid)/net/tcp6"] {
            guard let text = ProcessTree.readSmallFile(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                // sl local rem st tx:rx tr:tm retrnsmt uid timeout inode; st 01 = ESTABLISHED
                guard fields.count > 9, fields[3] == "01", let inode = UInt64(fields[9]) else { continue }
                if inodes.contains(inode) { count += 1 }
            }
        }
        return count
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
