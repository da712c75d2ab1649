// The JSON document every request gets: the same fields as examples/worker.py, so the
// graced tests parse both workers' answers alike (Tests/IntegrationTests/Support:
// WorkerInfo, LoadGenerator).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A JSON value, written by hand (no Foundation).
indirect enum JSON {
    case null
    case int(Int)
    case string(String)
    case array([JSON])
    /// Keys in the given order.
    case object([(String, JSON)])

    static func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
    static func optional(_ value: Int?) -> JSON { value.map(JSON.int) ?? .null }

    func write(to output: inout String) {
        switch self {
        case .null: output += "null"
        case .int(let value): output += String(value)
        case .string(let value): JSON.writeString(value, to: &output)
        case .array(let items):
            output += "["
            for (index, item) in items.enumerated() {
                if index > 0 { output += ", " }
                item.write(to: &output)
            }
            output += "]"
        case .object(let members):
            output += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { output += ", " }
                JSON.writeString(key, to: &output)
                output += ": "
                value.write(to: &output)
            }
            output += "}"
        }
    }

    private static let hexDigits = Array("0123456789abcdef")

    private static func writeString(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                let value = Int(scalar.value)
                output += "\\u00" + String(hexDigits[value >> 4]) + String(hexDigits[value & 0xf])
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }

    var text: String {
        var output = ""
        write(to: &output)
        return output
    }
}

/// Sorted open fd numbers, without the directory fd used to list them.
func openFDs() -> [Int] {
    guard let directory = opendir("/proc/self/fd") else { return [] }
    defer { closedir(directory) }
    let own = Int(dirfd(directory))
    var fds: [Int] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if let fd = Int(name), fd != own { fds.append(fd) }
    }
    return fds.sorted()
}

/// readlink(2) of /proc/self/fd/N ("socket:[123]", "pipe:[45]", "/dev/null"), or nil.
func fdTarget(_ fd: Int) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let count = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
    guard count >= 0 else { return nil }
    return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

private func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return "" }
    return String(cString: buffer)
}

private func supplementaryGroups() -> [Int] {
    let count = getgroups(0, nil)
    guard count > 0 else { return [] }
    var groups = [gid_t](repeating: 0, count: Int(count))
    let got = getgroups(count, &groups)
    return got < 0 ? [] : groups.prefix(Int(got)).map(Int.init).sorted()
}

/// What does not change while the worker runs, computed once.
struct ProcessFacts {
    let pid = Int(getpid())
    let generation = environment("GRACED_GENERATION")
    let worker = environment("GRACED_WORKER")
    let listenPID = environment("LISTEN_PID").flatMap { Int($0) }
    let listenFDs = environment("LISTEN_FDS").flatMap { Int($0) }
    let listenFDNames = environment("LISTEN_FDNAMES")
    let einhornFDs = environment("EINHORN_FDS")
    let notifySocket = environment("NOTIFY_SOCKET")
    /// APP_* and TEST_*, sorted by name (as worker.py reports them).
    let selectedEnvironment: [(String, String)] = environmentPairs()
        .filter { $0.0.hasPrefix("APP_") || $0.0.hasPrefix("TEST_") }
        .sorted { $0.0 < $1.0 }
    /// The fds open when main() started, before SwiftNIO opened any: what was inherited.
    let inheritedFDs: [Int]
    let listeners: [Listener]

    init(inheritedFDs: [Int], listeners: [Listener]) {
        self.inheritedFDs = inheritedFDs
        self.listeners = listeners
    }
}

/// The document for one request on `listener`.
func describeProcess(_ facts: ProcessFacts, listener: String, method: String, path: String) -> String {
    let fds = openFDs()
    var targets: [(String, JSON)] = []
    for fd in fds {
        if let target = fdTarget(fd) { targets.append((String(fd), .string(target))) }
    }
    let document: JSON = .object([
        ("pid", .int(facts.pid)),
        ("ppid", .int(Int(getppid()))),
        ("generation", .optional(facts.generation)),
        ("worker", .optional(facts.worker)),
        ("listen_pid", .optional(facts.listenPID)),
        ("listen_fds", .optional(facts.listenFDs)),
        ("listen_fdnames", .optional(facts.listenFDNames)),
        ("einhorn_fds", .optional(facts.einhornFDs)),
        ("notify_socket", .optional(facts.notifySocket)),
        ("uid", .int(Int(getuid()))),
        ("gid", .int(Int(getgid()))),
        ("groups", .array(supplementaryGroups().map(JSON.int))),
        ("cwd", .string(currentDirectory())),
        ("fds", .array(fds.map(JSON.int))),
        ("inherited_fds", .array(facts.inheritedFDs.map(JSON.int))),
        ("fd_targets", .object(targets)),
        ("listener", .string(listener)),
        ("listeners", .array(facts.listeners.map { listener in
            .object([("name", .string(listener.name)), ("fd", .int(Int(listener.fd))),
                     ("family", .string(listener.family)), ("address", .optional(listener.address))])
        })),
        ("method", .string(method)),
        ("path", .string(path)),
        ("child_pid", .null),
        ("env", .object(facts.selectedEnvironment.map { ($0.0, JSON.string($0.1)) })),
        ("server", .string("swift-worker")),
    ])
    return document.text + "\n"
}
