// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "tiergate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tiergate", targets: ["tiergate"]),
        .executable(name: "tiergate-bench", targets: ["tiergate-bench"]),
        .library(name: "TiergateCore", targets: ["TiergateCore"]),
        .library(name: "TiergateStorage", targets: ["TiergateStorage"]),
        .library(name: "TiergateNode", targets: ["TiergateNode"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CSodium",
            pkgConfig: "libsodium",
            providers: [.apt(["libsodium-dev"])]
        ),
        // The pure protocol: no Foundation, Glibc or Dispatch, no clock, no files (ModuleBoundaryTests enforce it).
        .target(
            name: "TiergateCore",
            dependencies: ["CSodium"]
        ),
        // Files with fsync (ledger, keys, signer state), the system clock, and checks on all cores.
        .target(
            name: "TiergateStorage",
            dependencies: ["TiergateCore", "CSodium"]
        ),
        .target(
            name: "TiergateNode",
            dependencies: [
                "TiergateCore",
                "TiergateStorage",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // What the commands share: failures and exit codes, output, loading files and keys, connecting to a node.
        .target(
            name: "TiergateCLIKit",
            dependencies: [
                "TiergateCore",
                "TiergateStorage",
                "TiergateNode",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The `tiergate demo` story (five real node processes), kept out of the commands' code.
        .target(
            name: "TiergateDemo",
            dependencies: ["TiergateCore", "TiergateStorage", "TiergateNode", "TiergateCLIKit"]
        ),
        .executableTarget(
            name: "tiergate",
            dependencies: [
                "TiergateCore",
                "TiergateStorage",
                "TiergateNode",
                "TiergateCLIKit",
                "TiergateDemo",
                "TiergateBuildInfo",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The benchmarks: their own program, not part of the product binary.
        .executableTarget(
            name: "tiergate-bench",
            dependencies: [
                "TiergateCore",
                "TiergateStorage",
                "TiergateNode",
                "TiergateCLIKit",
                "TiergateTestKit",  // the Slurm sandbox
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The release, spec version and git commit for `tiergate --version` (the commit written at build time).
        .target(
            name: "TiergateBuildInfo",
            plugins: ["BuildInfo"]
        ),
        .plugin(
            name: "BuildInfo",
            capability: .buildTool()
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
            dependencies: ["TiergateCore", "TiergateStorage", "TiergateTestKit", "TiergateFuzzModel"],
            exclude: ["FuzzFindings"]  // fuzz inputs, read from disk by FuzzRegressionTests
        ),
        .testTarget(
            name: "TiergateNodeTests",
            dependencies: [
                "TiergateCore",
                "TiergateStorage",
                "TiergateNode",
                "TiergateTestKit",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "tiergateTests",
            dependencies: ["TiergateCore", "TiergateStorage", "TiergateNode", "TiergateCLIKit", "TiergateTestKit"]
        ),
    ]
)
