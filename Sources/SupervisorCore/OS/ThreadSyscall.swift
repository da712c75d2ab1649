/// The system call a thread is blocked in, as /proc/PID/task/TID/syscall shows it:
/// `NR arg0 arg1 arg2 arg3 arg4 arg5 sp pc` (hex arguments), `-1 sp pc` when it is
/// blocked outside a system call, `running` while it runs.
///
/// Only the calls that can wait for a connection are told apart; numbers are those of
/// the native ABI (x86_64 or aarch64), which is what a native process uses.
struct ThreadSyscall: Equatable, Sendable {
    enum Call: Equatable, Sendable {
        /// accept(2) or accept4(2) on fd `arguments[0]`.
        case accept
        /// poll(2) or ppoll(2): `arguments[0]` points to `arguments[1]` struct pollfd.
        case poll
        /// select(2) or pselect6(2): `arguments[0]` is nfds, `arguments[1]` the read set.
        case select
        /// epoll_wait, epoll_pwait or epoll_pwait2 on the epoll fd `arguments[0]`.
        case epollWait
        case other
    }

    var number: Int64
    var arguments: [UInt64]

    var call: Call { ThreadSyscall.classify(number) }

    static func classify(_ number: Int64) -> Call {
        #if arch(x86_64)
        switch number {
        case 43, 288: return .accept          // accept, accept4
        case 7, 271: return .poll             // poll, ppoll
        case 23, 270: return .select          // select, pselect6
        case 232, 281, 441: return .epollWait // epoll_wait, epoll_pwait, epoll_pwait2
        default: return .other
        }
        #elseif arch(arm64)
        switch number {
        case 202, 242: return .accept         // accept, accept4
        case 73: return .poll                 // ppoll (no poll on the generic ABI)
        case 72: return .select               // pselect6
        case 22, 441: return .epollWait       // epoll_pwait, epoll_pwait2
        default: return .other
        }
        #else
        return .other
        #endif
    }

    /// nil for `running`, for `-1 …` (not in a system call) and for anything malformed.
    static func parse(_ bytes: UnsafeRawBufferPointer) -> ThreadSyscall? {
        var fields: [UInt64] = []
        fields.reserveCapacity(9)
        var index = 0
        let count = bytes.count
        // The first field: a signed decimal system-call number.
        guard count > 0, bytes[0] >= 0x30, bytes[0] <= 0x39 else { return nil }
        var number: Int64 = 0
        while index < count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            number = number &* 10 &+ Int64(bytes[index] - 0x30)
            index += 1
        }
        // Then up to six "0x…" arguments.
        while index < count, fields.count < 6 {
            while index < count, bytes[index] == UInt8(ascii: " ") { index += 1 }
            guard index + 1 < count, bytes[index] == UInt8(ascii: "0"), bytes[index + 1] == UInt8(ascii: "x") else { break }
            index += 2
            var value: UInt64 = 0
            var digits = 0
            while index < count, let digit = hexDigit(bytes[index]) {
                value = (value << 4) | UInt64(digit)
                index += 1
                digits += 1
            }
            guard digits > 0 else { return nil }
            fields.append(value)
        }
        guard fields.count == 6 else { return nil }
        return ThreadSyscall(number: number, arguments: fields)
    }

    static func hexDigit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x61...0x66: return byte - 0x61 + 10
        case 0x41...0x46: return byte - 0x41 + 10
        default: return nil
        }
    }
}
