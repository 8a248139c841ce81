import Foundation
import Testing
import TiergateCLIKit

/// What a spawned job inherits (SpawnActions): standard input, output and error, and what it is told to keep.
struct DescriptorTests {
    /// Two descriptors without close-on-exec, as SwiftNIO's sockets: a plain spawn would pass both on. The child is
    /// spawned with `closeAll(keeping: kept ? [first] : [])` and reports what it holds.
    static func spawn(keepFirst: Bool, useCloseFrom: Bool) throws -> (held: Set<String>, first: String, second: String) {
        let first = open("/dev/null", O_RDONLY), second = open("/dev/null", O_RDONLY)
        try #require(first >= 3 && second >= 3)
        defer { close(first); close(second) }
        let out = Pipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, out.fileHandleForWriting.fileDescriptor, 1)
        SpawnActions.closeAll(&actions, keeping: keepFirst ? [first] : [], useCloseFrom: useCloseFrom)
        var pid: pid_t = 0
        // `; :` keeps the shell from handing itself over to ls (as bash does with a last command): $$ is the shell.
        let words: [String] = ["/bin/sh", "-c", "ls /proc/$$/fd; :"]
        let argv = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        try #require(posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ) == 0)
        try out.fileHandleForWriting.close()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status == 0)
        return (Set(text.split(whereSeparator: \.isWhitespace).map(String.init)), "\(first)", "\(second)")
    }

    /// glibc's close-from closes everything from 3 up in the child: exactly 0, 1 and 2 are left.
    @Test func aSpawnedChildHoldsOnlyStandardDescriptors() throws {
        #expect(try Self.spawn(keepFirst: false, useCloseFrom: true).held == ["0", "1", "2"])
    }

    /// What the spawner was started with passes on; what it opened does not. (Other tests of this process may open
    /// descriptors while the actions are made, so only these two are asserted on.)
    @Test func aKeptDescriptorPassesOnAndNoOther() throws {
        for useCloseFrom in [true, false] {
            let r = try Self.spawn(keepFirst: true, useCloseFrom: useCloseFrom)
            #expect(r.held.isSuperset(of: ["0", "1", "2", r.first]) && !r.held.contains(r.second), "closefrom \(useCloseFrom): \(r)")
        }
    }

    /// Without close-from, one close action per open descriptor.
    @Test func theFallbackClosesEachOpenDescriptorToo() throws {
        let r = try Self.spawn(keepFirst: false, useCloseFrom: false)
        #expect(r.held.isSuperset(of: ["0", "1", "2"]) && !r.held.contains(r.first) && !r.held.contains(r.second), "\(r)")
    }
}
