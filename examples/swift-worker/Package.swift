// swift-tools-version:5.9
// The Swift example worker for graced: a socket-activated HTTP/1.1 server on SwiftNIO.
// Its own package, so that graced's build does not pull in SwiftNIO.
//
//   swift build -c release --package-path examples/swift-worker
//   .build/release/swift-worker --help
import PackageDescription

let package = Package(
    name: "swift-worker",
    products: [
        .executable(name: "swift-worker", targets: ["SwiftWorker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "SwiftWorker",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
    ]
)
