// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "graced",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "graced", targets: ["graced"]),
        .library(name: "SupervisorCore", targets: ["SupervisorCore"]),
        .library(name: "TOML", targets: ["TOML"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // libsystemd (sd_notify, sd_listen_fds_with_names, sd_journal_sendv) and the
        // async-signal-safe fork/exec helper. C, because the child side of a fork must
        // not run Swift code.
        .target(
            name: "CSystemd",
            linkerSettings: [.linkedLibrary("systemd")]
        ),
        // TOML 1.0 with source positions; the Swift standard library only.
        .target(name: "TOML"),
        .target(
            name: "SupervisorCore",
            dependencies: [
                "CSystemd",
                "TOML",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "graced",
            dependencies: [
                "SupervisorCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "SupervisorCoreTests",
            dependencies: ["SupervisorCore", "TOML"]
        ),
        .testTarget(
            name: "TOMLTests",
            dependencies: ["TOML"]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["SupervisorCore"]
        ),
    ]
)
