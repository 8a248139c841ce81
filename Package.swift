// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "tiergate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tiergate", targets: ["tiergate"]),
        .library(name: "TiergateCore", targets: ["TiergateCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
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
        .executableTarget(
            name: "tiergate",
            dependencies: [
                "TiergateCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "TiergateCoreTests",
            dependencies: ["TiergateCore"]
        ),
        .testTarget(
            name: "tiergateTests",
            dependencies: ["TiergateCore"]
        ),
    ]
)
