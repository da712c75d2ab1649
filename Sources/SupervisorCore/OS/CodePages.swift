#if canImport(Glibc)
import Glibc
#endif

/// Gives the kernel back the pages of graced's own executable that it touched while
/// starting or reloading (argument parsing, the config loader, spawning): most of a
/// static Swift binary's resident memory is clean text and read-only data that an idle
/// supervisor no longer needs. `MADV_PAGEOUT` (Linux 5.4+) reclaims them at once; what
/// the event loop uses afterwards faults back in from the page cache. Nothing is lost:
/// the pages are clean and file-backed.
enum CodePages {
    /// `MADV_PAGEOUT`, not in every Glibc's headers.
    private static let pageOut: Int32 = 21

    /// Returns the number of bytes advised, 0 when the kernel refused or nothing was found.
    @discardableResult
    static func releaseClean() -> Int {
        var exe = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &exe, exe.count - 1)
        guard length > 0 else { return 0 }
        let executable = String(decoding: exe[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let maps = FileContents.text("/proc/self/maps", limit: 16 << 20) else { return 0 }
        var advised = 0
        for line in maps.split(separator: "\n") {
            // "start-end perms offset dev inode path"
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count == 6, fields[5].drop(while: { $0 == " " }) == executable[...],
                  fields[1] == "r-xp" || fields[1] == "r--p" else { continue }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let start = UInt(bounds[0], radix: 16), let end = UInt(bounds[1], radix: 16),
                  let address = UnsafeMutableRawPointer(bitPattern: start) else { continue }
            if madvise(address, Int(end - start), pageOut) == 0 { advised += Int(end - start) }
        }
        return advised
    }
}
