// Reading other processes' state from /proc: open fds, environment, parent/child
// relations, credentials. Every function returns nil or an empty value for a process
// that does not exist (or vanished while it was being read) instead of throwing.

import Foundation

/// The whole content of a file read with plain read(2) (sizes of /proc files are 0,
/// so anything relying on st_size would read nothing). nil if it cannot be opened.
func readWholeFile(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return n == 0 ? bytes : nil }
        bytes.append(contentsOf: chunk[0..<n])
    }
}

/// The target of a symbolic link (readlink(2)), e.g. "socket:[123]" for /proc/PID/fd/N.
func readLink(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink(path, &buffer, buffer.count - 1)
    guard n >= 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Numeric entries of a /proc directory, sorted.
private func numericEntries(_ directory: String) -> [Int] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
    return names.compactMap { Int($0) }.sorted()
}

/// The open fd numbers of a process, sorted (from /proc/PID/fd). For the calling
/// process itself the directory fd used for the listing is included.
func openFDs(pid: Int) -> [Int] {
    numericEntries("/proc/\(pid)/fd")
}

/// What an fd of a process points to ("socket:[123]", "pipe:[45]", "/dev/null", ...).
func fdTarget(pid: Int, fd: Int) -> String? {
    readLink("/proc/\(pid)/fd/\(fd)")
}

/// The socket inode of an fd of a process (from its "socket:[INODE]" link), nil if the
/// fd is not a socket. Two fds with the same inode are the same socket.
func socketInode(pid: Int, fd: Int) -> UInt64? {
    guard let target = fdTarget(pid: pid, fd: fd),
          target.hasPrefix("socket:["), target.hasSuffix("]") else { return nil }
    return UInt64(target.dropFirst("socket:[".count).dropLast())
}

/// The initial environment of a process (/proc/PID/environ), as it was at exec.
func environment(pid: Int) -> [String: String] {
    guard let bytes = readWholeFile("/proc/\(pid)/environ") else { return [:] }
    var result: [String: String] = [:]
    for entry in bytes.split(separator: 0) {
        let text = String(decoding: entry, as: UTF8.self)
        guard let equals = text.firstIndex(of: "=") else { continue }
        result[String(text[..<equals])] = String(text[text.index(after: equals)...])
    }
    return result
}

/// The argv of a process (/proc/PID/cmdline); empty for zombies and kernel threads.
func commandLine(pid: Int) -> [String] {
    guard let bytes = readWholeFile("/proc/\(pid)/cmdline") else { return [] }
    return bytes.split(separator: 0, omittingEmptySubsequences: false)
        .dropLast()   // the final NUL terminates the last argument
        .map { String(decoding: $0, as: UTF8.self) }
}

/// The fields of /proc/PID/stat that tests need.
struct ProcessStat {
    /// One-letter state: R running, S sleeping, D disk wait, Z zombie, T stopped, ...
    var state: Character
    var ppid: Int
    var processGroup: Int
    var session: Int
}

/// Parses /proc/PID/stat. The command name is in parentheses and may itself contain
/// spaces and parentheses, so the fields are counted from the last ')'.
func processStat(pid: Int) -> ProcessStat? {
    guard let bytes = readWholeFile("/proc/\(pid)/stat") else { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    guard let closeParen = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: closeParen)...].split(separator: " ")
    guard fields.count >= 4, let state = fields[0].first,
          let ppid = Int(fields[1]), let group = Int(fields[2]), let session = Int(fields[3])
    else { return nil }
    return ProcessStat(state: state, ppid: ppid, processGroup: group, session: session)
}

/// The parent pid of a process.
func parentPID(of pid: Int) -> Int? {
    processStat(pid: pid)?.ppid
}

/// The pids whose parent is `pid` (scans /proc/*/stat), sorted.
func children(of pid: Int) -> [Int] {
    numericEntries("/proc").filter { processStat(pid: $0)?.ppid == pid }
}

/// Children, grandchildren, ... of `pid` (breadth first; `pid` itself is not included).
func descendants(of pid: Int) -> [Int] {
    var parentOf: [Int: Int] = [:]
    for candidate in numericEntries("/proc") {
        if let stat = processStat(pid: candidate) { parentOf[candidate] = stat.ppid }
    }
    var result: [Int] = []
    var frontier = [pid]
    while !frontier.isEmpty {
        let next = parentOf.filter { frontier.contains($0.value) }.map(\.key).sorted()
        result += next
        frontier = next
    }
    return result
}

/// The "Uid:" or "Gid:" line of /proc/PID/status: real, effective, saved, filesystem.
private func statusIDs(pid: Int, field: String) -> [UInt32]? {
    guard let bytes = readWholeFile("/proc/\(pid)/status") else { return nil }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n")
    where line.hasPrefix(field + ":") {
        return line.dropFirst(field.count + 1).split(whereSeparator: { $0 == "\t" || $0 == " " })
            .compactMap { UInt32($0) }
    }
    return nil
}

/// The real uid of a process.
func uid(of pid: Int) -> UInt32? { statusIDs(pid: pid, field: "Uid")?.first }

/// The effective uid of a process.
func effectiveUID(of pid: Int) -> UInt32? { statusIDs(pid: pid, field: "Uid")?.dropFirst().first }

/// The real gid of a process.
func gid(of pid: Int) -> UInt32? { statusIDs(pid: pid, field: "Gid")?.first }

/// The supplementary groups of a process, sorted.
func groups(of pid: Int) -> [UInt32]? { statusIDs(pid: pid, field: "Groups")?.sorted() }

/// True if the process has exited but was not reaped yet.
func isZombie(pid: Int) -> Bool {
    processStat(pid: pid)?.state == "Z"
}

/// True if a process with this pid exists (zombies included; see `isAlive`).
func processExists(pid: Int) -> Bool {
    guard pid > 0 else { return false }
    return kill(pid_t(pid), 0) == 0 || errno == EPERM
}

/// True if the process exists and is not a zombie.
func isAlive(pid: Int) -> Bool {
    processExists(pid: pid) && !isZombie(pid: pid)
}
