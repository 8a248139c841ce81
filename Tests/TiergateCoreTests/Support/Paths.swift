import TiergateCore

/// Where the package lives (for vectors and shared files).
enum Paths {
    static let packageRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)  // Support/Fixtures.swift, TiergateCoreTests, Tests
        return parts.joined(separator: "/")
    }()
    static var vectors: String { packageRoot + "/protocol-spec/vectors" }
    static var sharedVectors: String { packageRoot + "/../shared/vectors" }
}
