// Where the tests find the Swift example worker (examples/swift-worker, its own SwiftPM
// package: `make swift-worker` builds it, `make test` does so first).

import Foundation

extension Binaries {
    /// The built examples/swift-worker executable: `$GRACED_SWIFT_WORKER` if set, otherwise
    /// `examples/swift-worker/.build/release/swift-worker`, otherwise the debug build; nil
    /// if none is there.
    static var swiftWorker: String? {
        if let override = ProcessInfo.processInfo.environment["GRACED_SWIFT_WORKER"], !override.isEmpty {
            return isExecutableFile(override) ? override : nil
        }
        let package = examplesDirectory + "/swift-worker/.build"
        return [package + "/release/swift-worker", package + "/debug/swift-worker"].first(where: isExecutableFile)
    }

    /// Why the Swift worker tests are skipped when it is not built.
    static let swiftWorkerMissing = "examples/swift-worker is not built: run `make swift-worker` "
        + "(swift build -c release --package-path examples/swift-worker) or set GRACED_SWIFT_WORKER"

    /// argv that runs the Swift worker with `arguments`, for a `[worker] command`.
    static func swiftWorkerCommand(_ arguments: [String] = []) throws -> [String] {
        guard let worker = swiftWorker else { throw TestSupportError(swiftWorkerMissing) }
        return [worker] + arguments
    }
}
