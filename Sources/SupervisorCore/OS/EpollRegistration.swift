/// One fd watched by an epoll instance, from a `tfd:` line of /proc/PID/fdinfo/EPFD:
/// `tfd:        3 events:       19 data:                3  pos:0 ino:2a5f sdev:8`.
struct EpollRegistration: Equatable, Sendable {
    /// The fd number the watched file had in the registering process.
    var fd: Int32
    /// The event mask as armed now (an EPOLLONESHOT registration that fired keeps only
    /// its flag bits, without EPOLLIN, until it is re-armed).
    var events: UInt32
    /// The inode of the watched file: for a socket, the number in `socket:[N]`.
    var inode: UInt64

    static let epollIn: UInt32 = 0x001

    /// True when a readable listener wakes this epoll set.
    var wantsInput: Bool { events & EpollRegistration.epollIn != 0 }

    /// Every registration in an fdinfo file.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> [EpollRegistration] {
        var result: [EpollRegistration] = []
        var lineStart = 0
        let count = bytes.count
        while lineStart < count {
            var lineEnd = lineStart
            while lineEnd < count, bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
            if line.starts(with: tfdKey), let registration = parseLine(line) { result.append(registration) }
            lineStart = lineEnd + 1
        }
        return result
    }

    private static let tfdKey = Array("tfd:".utf8)
    private static let eventsKey = Array("events:".utf8)
    private static let inoKey = Array("ino:".utf8)

    private static func parseLine(_ line: UnsafeRawBufferPointer) -> EpollRegistration? {
        guard let fd = value(after: tfdKey, in: line, hex: false),
              let events = value(after: eventsKey, in: line, hex: true),
              let inode = value(after: inoKey, in: line, hex: true),
              fd <= UInt64(Int32.max), events <= UInt64(UInt32.max) else { return nil }
        return EpollRegistration(fd: Int32(fd), events: UInt32(events), inode: inode)
    }

    /// The number following `key` (and any spaces), decimal or hex.
    private static func value(after key: [UInt8], in line: UnsafeRawBufferPointer, hex: Bool) -> UInt64? {
        guard line.count >= key.count else { return nil }
        var start = -1
        var i = 0
        while i + key.count <= line.count {
            // A key starts the line or follows a space ("ino:" is not the end of another word).
            if (i == 0 || line[i - 1] == UInt8(ascii: " ") || line[i - 1] == UInt8(ascii: "\t")),
               line[i] == key[0], UnsafeRawBufferPointer(rebasing: line[i..<(i + key.count)]).elementsEqual(key) {
                start = i + key.count
                break
            }
            i += 1
        }
        guard start >= 0 else { return nil }
        var j = start
        while j < line.count, line[j] == UInt8(ascii: " ") || line[j] == UInt8(ascii: "\t") { j += 1 }
        var result: UInt64 = 0
        var digits = 0
        while j < line.count {
            let byte = line[j]
            if hex, let digit = ThreadSyscall.hexDigit(byte) {
                result = (result << 4) | UInt64(digit)
            } else if !hex, byte >= 0x30, byte <= 0x39 {
                result = result &* 10 &+ UInt64(byte - 0x30)
            } else {
                break
            }
            digits += 1
            j += 1
        }
        return digits > 0 ? result : nil
    }
}
