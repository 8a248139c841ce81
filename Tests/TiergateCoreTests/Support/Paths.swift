import TiergateCore

/// Where the package lives (for the vectors).
enum Paths {
    static let packageRoot: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(4)  // Support/Fixtures.swift, TiergateCoreTests, Tests
        return parts.joined(separator: "/")
    }()
    static var vectors: String { packageRoot + "/protocol-spec/vectors" }
    /// Third-party vectors copied into the repository (source and licence in its README.md).
    static var thirdPartyVectors: String { vectors + "/third-party" }
}
