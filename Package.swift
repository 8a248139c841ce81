// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "tiergate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tiergate", targets: ["tiergate"]),
        .library(name: "TiergateCore", targets: ["TiergateCore"]),
        .library(name: "TiergateNode", targets: ["TiergateNode"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        .target(
            name: "TiergateCore",
            dependencies: ["CSodium"]
        ),
        .target(
            name: "TiergateNode",
            dependencies: [
                "TiergateCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "tiergate",
            dependencies: [
                "TiergateCore",
                "TiergateNode",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "TiergateTestKit",
            dependencies: ["TiergateCore"]
        ),
        // The `link` fuzz target's checks, shared with the regression tests (scripts/fuzz compiles the same files).
        .target(
            name: "TiergateFuzzModel",
            dependencies: ["TiergateCore"],
            path: "Fuzz/Model"
        ),
        .testTarget(
            name: "TiergateCoreTests",
            dependencies: ["TiergateCore", "TiergateTestKit", "TiergateFuzzModel"],
            exclude: ["FuzzFindings"]  // fuzz inputs, read from disk by FuzzRegressionTests
        ),
        .testTarget(
            name: "TiergateNodeTests",
            dependencies: [
                "TiergateCore",
                "TiergateNode",
                "TiergateTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "tiergateTests",
            dependencies: ["TiergateCore", "TiergateNode", "TiergateTestKit"]
        ),
    ]
)
