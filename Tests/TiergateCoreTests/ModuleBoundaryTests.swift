import Foundation
import Testing

/// The pure protocol module stays pure (ARCHITECTURE.md): TiergateCore imports neither Foundation nor the C
/// library nor Dispatch, reads no clock and opens no file; its only dependency is libsodium. The compiler lets any
/// module import the system modules, so this test is what holds the line.
struct ModuleBoundaryTests {
    static let forbiddenModules = ["Foundation", "FoundationEssentials", "FoundationNetworking", "Glibc", "Musl",
                                   "Darwin", "Dispatch", "WinSDK", "Android", "NIOCore", "NIOPosix", "Logging",
                                   "SystemPackage", "TiergateStorage", "TiergateNode"]
    /// Calls that read a clock, touch files or start threads, by name. (Without the imports above none of them
    /// would compile; naming them keeps a re-export through another module from slipping by.)
    static let forbiddenCalls = ["clock_gettime(", "gettimeofday(", "fsync(", "fopen(", "fdatasync(",
                                 "pthread_create(", "concurrentPerform", "DispatchQueue", "FileManager", "Thread("]

    static func sources(_ target: String) throws -> [(path: String, text: String)] {
        let root = Paths.packageRoot + "/Sources/" + target
        let files = try #require(FileManager.default.enumerator(atPath: root)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }.sorted()
        return try files.map { ($0, try String(contentsOfFile: root + "/" + $0, encoding: .utf8)) }
    }

    /// `import X`, `@testable import X`, `import struct X.Y`, `@_exported import X` — the module name.
    static func importedModules(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line -> String? in
            let words = line.split(separator: " ").map(String.init).filter { !$0.hasPrefix("@") }
            guard words.first == "import" else { return nil }
            let name = words.count >= 3 ? words[2] : (words.count == 2 ? words[1] : "")
            return String(name.split(separator: ".").first ?? "")
        }
    }

    @Test func theProtocolCoreImportsNoSystemModule() throws {
        let files = try Self.sources("TiergateCore")
        #expect(files.count > 20, "found the sources")
        var found: [String] = []
        for (path, text) in files {
            for m in Self.importedModules(text) where m != "CSodium" { found.append("\(path): import \(m)") }
        }
        #expect(found.isEmpty, "TiergateCore may import CSodium only: \(found)")
    }

    @Test func theProtocolCoreReadsNoClockAndTouchesNoFile() throws {
        var found: [String] = []
        for (path, text) in try Self.sources("TiergateCore") {
            for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
                for call in Self.forbiddenCalls where code.contains(call) {
                    found.append("\(path):\(n + 1): \(call)")
                }
            }
        }
        #expect(found.isEmpty, "\(found)")
    }

    @Test func theCheckCatchesAnImport() {
        #expect(Self.importedModules("import Foundation\n@testable import Glibc\nimport struct Dispatch.DispatchQueue\n")
                == ["Foundation", "Glibc", "Dispatch"])
        #expect(Self.importedModules("// import Foundation\nlet importance = 1\n").isEmpty)
    }

    @Test func thePackageGivesTheCoreOnlyLibsodium() throws {
        let manifest = try String(contentsOfFile: Paths.packageRoot + "/Package.swift", encoding: .utf8)
        let compact = manifest.filter { !$0.isWhitespace }
        #expect(compact.contains(#".target(name:"TiergateCore",dependencies:["CSodium"])"#),
                "Package.swift: TiergateCore must depend on CSodium only")
    }
}
