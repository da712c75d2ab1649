// swift-tools-version:6.0
// libFuzzer targets for graced's parsers of untrusted input. Not part of the main build:
// see fuzz/README.md and fuzz/run.sh. Built with -sanitize=fuzzer (and address).
//
// Each target defines LLVMFuzzerTestOneInput. SwiftPM links an executable target with
// main renamed to `<module>_main` (--defsym main=fuzz_config_main, for testability), so
// libFuzzer's own main cannot be used: each target defines that symbol and hands over
// to libFuzzer's LLVMFuzzerRunDriver, which behaves exactly like libFuzzer's main.
import PackageDescription

// A local dependency's identity is its directory name, which depends on where the
// repository is checked out (main, a CI clone, ...).
let rootIdentity = Context.packageDirectory
    .split(separator: "/").dropLast().last.map { String($0).lowercased() } ?? "graced"

func fuzzTarget(_ name: String, also: [Target.Dependency] = []) -> Target {
    .executableTarget(
        name: name,
        dependencies: ["CFuzzDriver", .product(name: "SupervisorCore", package: rootIdentity)] + also,
        path: "Sources/\(name)",
        swiftSettings: [.unsafeFlags(["-parse-as-library"])]
    )
}

let package = Package(
    name: "graced-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "CFuzzDriver", path: "Sources/CFuzzDriver"),
        fuzzTarget("fuzz-config", also: [.product(name: "TOML", package: rootIdentity)]),
        fuzzTarget("fuzz-control"),
        fuzzTarget("fuzz-notify"),
    ]
)
