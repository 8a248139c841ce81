import Foundation
import Testing
import TiergateCLIKit

/// What a spawned job inherits (SpawnActions): standard input, output and error, nothing else.
struct DescriptorTests {
    /// Spawns `sh -c 'ls /proc/$$/fd'` with the actions and returns the descriptors the shell held.
    static func inherited(useCloseFrom: Bool) throws -> Set<String> {
        // A descriptor without close-on-exec, like SwiftNIO's sockets: a plain spawn would pass it on.
        let leaky = open("/dev/null", O_RDONLY)
        try #require(leaky >= 3)
        defer { close(leaky) }
        let out = Pipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, out.fileHandleForWriting.fileDescriptor, 1)
        SpawnActions.closeFromThree(&actions, useCloseFrom: useCloseFrom)
        var pid: pid_t = 0
        let words: [String] = ["/bin/sh", "-c", "ls /proc/$$/fd"]
        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ) == 0)
        try out.fileHandleForWriting.close()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status == 0)
        return Set(text.split(whereSeparator: \.isWhitespace).map(String.init))
    }

    @Test func aSpawnedChildHoldsOnlyStandardDescriptors() throws {
        #expect(try Self.inherited(useCloseFrom: true) == ["0", "1", "2"])
    }

    @Test func theFallbackClosesEachOpenDescriptorToo() throws {
        #expect(try Self.inherited(useCloseFrom: false) == ["0", "1", "2"])
    }
}
