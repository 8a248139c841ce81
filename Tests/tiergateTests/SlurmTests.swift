import Foundation
import Testing
import TiergateCore

/// Enforcement through a real Slurm (issue 16): munge, slurmctld and slurmd from Debian on this host (installed if
/// missing, started here and stopped afterwards), with `tiergate slurm prolog` as PrologSlurmctld and `tiergate slurm
/// enforce` watching two of three real node processes. Under CI=true a machine where Slurm cannot run fails loudly.
@Suite(.serialized) struct SlurmTests {
    /// Runs a command and returns its exit code and output. With `daemon`, the output goes to that file instead:
    /// a daemon keeps the output descriptors it inherited, and reading a pipe to its end would then never return.
    static func sh(_ exe: String, _ args: [String], env: [String: String] = [:], daemon log: String? = nil) -> (code: Int32, out: String) {
        if let log {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: exe)
            p.arguments = args
            p.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
            p.standardInput = FileHandle.nullDevice
            FileManager.default.createFile(atPath: log, contents: nil)
            p.standardOutput = FileHandle(forWritingAtPath: log)
            p.standardError = FileHandle(forWritingAtPath: log)
            guard (try? p.run()) != nil else { return (-1, "cannot run \(exe)") }
            p.waitUntilExit()
            return (p.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
        }
        guard let r = try? CLI.run(args, env: env, executable: exe) else { return (-1, "cannot run \(exe)") }
        return (r.code, r.stdout + r.stderr)
    }

    /// A port free on every address, below the kernel's ephemeral range (32768 and up here), so that the many
    /// client connections of tests running beside this one cannot take it between this check and Slurm's bind
    /// (slurmctld and slurmd listen on all addresses).
    static func freePort() -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000..<30_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = 0  // INADDR_ANY
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
            if ok { return port }
        }
        return 29_999
    }

    /// SIGKILL to every process (but this one) whose environment holds `marker`.
    static func killAll(environmentContaining marker: String) {
        let me = getpid()
        let needle = Array(marker.utf8)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != me, let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            if [UInt8](env).split(separator: 0).contains(where: { Array($0) == needle }) { kill(pid, SIGKILL) }
        }
    }

    /// Slurm's binaries, installed from Debian when missing; nil (with the reason) when that is impossible here.
    static func ensureSlurm() -> String? {
        let need = ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch"]
        if need.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }) { return nil }
        guard getuid() == 0 else { return "slurm-wlm and munge are not installed and this is not root" }
        _ = sh("/usr/bin/apt-get", ["update"])
        let r = sh("/usr/bin/apt-get", ["install", "-y", "slurm-wlm", "munge"], env: ["DEBIAN_FRONTEND": "noninteractive"])
        return r.code == 0 && need.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }) ? nil : "apt-get install slurm-wlm munge failed: \(r.out.suffix(500))"
    }

    @Test func haltsStopSlurmJobsAndRefusalsNeverDrainTheNode() throws {
        let ci = ProcessInfo.processInfo.environment["CI"] == "true"
        if let why = Self.ensureSlurm() ?? (getuid() == 0 ? nil : "Slurm's daemons need root here") {
            if ci { Issue.record(Comment(rawValue: why)) } else { print("SlurmTests: skipped: \(why)") }
            return
        }
        let w = Workdir()
        try w.lab()
        let dir = w.path + "/slurm"
        for d in ["state", "spool", "log"] { try FileManager.default.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true) }
        // munged: use the running one, or run one in the foreground as this test's child (a daemonized munged would
        // keep the test runner's output pipe open after the test), stopped afterwards.
        var munged: Process?
        if Self.sh("/usr/bin/pgrep", ["-x", "munged"]).code != 0 {
            _ = Self.sh("/bin/mkdir", ["-p", "/run/munge"])
            _ = Self.sh("/bin/chown", ["munge:munge", "/run/munge"])
            let m = Process()
            m.executableURL = URL(fileURLWithPath: "/bin/su")
            m.arguments = ["-s", "/bin/sh", "munge", "-c", "exec /usr/sbin/munged -F"]
            FileManager.default.createFile(atPath: w.file("munged.log"), contents: nil)
            m.standardOutput = FileHandle(forWritingAtPath: w.file("munged.log"))
            m.standardError = FileHandle(forWritingAtPath: w.file("munged.log"))
            m.standardInput = FileHandle.nullDevice
            try m.run()
            munged = m
            #expect(ClusterTests().eventually(10) { FileManager.default.fileExists(atPath: "/run/munge/munge.socket.2") }, "munged started")
        }
        defer {
            if let m = munged, m.isRunning {
                m.terminate()  // su passes it on to munged
                m.waitUntilExit()
            }
        }

        // Three Tiergate nodes; the enforcer and the prolog use two of them, as dave (the cluster's key here).
        let names = ["alice", "bob", "carol"]
        var nodes: [NodeProcess] = []
        defer { nodes.forEach { $0.terminate() } }
        for i in 0..<3 {
            nodes.append(try NodeProcess(in: w.path, args: ["node", "--data", "n\(i)", "--listen", "127.0.0.1:0", "--roster", "roster.json",
                                                          "--key", "keys/\(names[i]).key", "--anti-entropy-interval", "200ms"] + nodes.flatMap { ["--peer", $0.address] }))
        }
        let config = """
            { "roster": "\(w.file("roster.json"))", "key": "\(w.file("keys/dave.key"))",
              "nodes": ["\(nodes[0].address)", "\(nodes[1].address)"], "protected_partitions": ["gpu"], "action": "suspend" }
            """
        w.write("slurm.json", Array(config.utf8))
        let conf = dir + "/slurm.conf"
        let host = Self.sh("/bin/hostname", ["-s"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        let prolog = dir + "/prolog.sh"
        w.write("slurm/prolog.sh", Array("#!/bin/sh\nexport SLURM_CONF=\(conf)\nexec \(CLI.binary) slurm prolog --config \(w.file("slurm.json"))\n".utf8))
        chmod(prolog, 0o755)
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        w.write("slurm/slurm.conf", Array("""
            ClusterName=tiergate\(getpid())
            SlurmctldHost=\(host)
            SlurmUser=root
            SlurmdUser=root
            SlurmctldPort=\(Self.freePort())
            SlurmdPort=\(Self.freePort())
            AuthType=auth/munge
            StateSaveLocation=\(dir)/state
            SlurmdSpoolDir=\(dir)/spool
            SlurmctldPidFile=\(dir)/slurmctld.pid
            SlurmdPidFile=\(dir)/slurmd.pid
            SlurmctldLogFile=\(dir)/log/slurmctld.log
            SlurmdLogFile=\(dir)/log/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_Core
            ReturnToService=2
            MpiDefault=none
            PrologSlurmctld=\(prolog)
            NodeName=\(host) CPUs=\(cpus) RealMemory=1000 State=UNKNOWN
            PartitionName=main Nodes=\(host) Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
            PartitionName=gpu Nodes=\(host) MaxTime=INFINITE State=UP OverSubscribe=FORCE:8

            """.utf8))
        let env = ["SLURM_CONF": conf]
        func slurm(_ tool: String, _ args: [String]) -> (code: Int32, out: String) { Self.sh(tool, args, env: env) }
        #expect(Self.sh("/usr/sbin/slurmctld", ["-f", conf], env: env, daemon: dir + "/slurmctld.out").code == 0)
        #expect(Self.sh("/usr/sbin/slurmd", ["-f", conf], env: env, daemon: dir + "/slurmd.out").code == 0)
        defer {
            // Cancel the jobs, let the daemons stop, then make sure: every process whose environment names this
            // cluster's configuration (slurmd, slurmstepd, job scripts and their children) is killed.
            _ = slurm("/usr/bin/scancel", ["--full", "-u", "root"])
            _ = ClusterTests().eventually(10) { slurm("/usr/bin/squeue", ["-h"]).out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
            for pidFile in ["slurmd.pid", "slurmctld.pid"] {
                if let pid = Int32(((try? String(contentsOfFile: dir + "/" + pidFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) {
                    kill(pid, SIGTERM)
                }
            }
            usleep(1_000_000)
            Self.killAll(environmentContaining: "SLURM_CONF=\(conf)")
        }
        let registered = ClusterTests().eventually(60) { slurm("/usr/bin/sinfo", ["-h", "-o", "%t"]).out.contains("idle") }
        func logs() -> String {
            ["slurmctld.log", "slurmd.log"].map { f in "== \(f):\n" + String(((try? String(contentsOfFile: dir + "/log/" + f, encoding: .utf8)) ?? "").suffix(3000)) }
                .joined(separator: "\n") + "\n== sinfo: " + slurm("/usr/bin/sinfo", ["-h"]).out
        }
        #expect(registered, "slurmd did not register: \(logs())")
        guard registered else { return }

        func job(_ id: String) -> (state: String, reason: String, comment: String) {
            let out = slurm("/usr/bin/scontrol", ["show", "job", id, "--oneliner"]).out
            func field(_ k: String) -> String {
                guard let r = out.range(of: " \(k)=") else { return "" }
                let rest = out[r.upperBound...]
                // AdminComment runs to the next " Key=" field.
                if k == "AdminComment", let next = rest.range(of: #" [A-Za-z]+="#, options: .regularExpression) { return String(rest[..<next.lowerBound]) }
                return String(rest.prefix { $0 != " " })
            }
            return (field("JobState"), field("Reason"), field("AdminComment"))
        }
        func sbatch(_ args: [String]) -> String {
            let r = slurm("/usr/bin/sbatch", ["--parsable", "-o", "/dev/null"] + args + ["--wrap", "sleep 600"])
            return r.out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
        }

        // 1. Paused by default, before the enforcer runs: the prolog refuses a tier-1 job and holds it, with the
        //    reason where its owner sees it; the node is not drained.
        let first = sbatch(["-p", "main", "--comment", "tier=1"])
        #expect(ClusterTests().eventually(20) { job(first).comment.contains("refused: tier 1") }, "\(job(first))")
        #expect(ClusterTests().eventually(20) { job(first).reason.contains("Held") }, "\(job(first))")
        #expect(!slurm("/usr/bin/sinfo", ["-h", "-o", "%t"]).out.contains("drain"), "a refusal never drains the node")
        // A tier read from one exact place: `frontier=5` in a job name or comment is not a tier, and a malformed one is refused.
        let malformed = sbatch(["-p", "main", "--comment", "tier=x"])
        #expect(ClusterTests().eventually(20) { job(malformed).comment.contains("is not a tier") }, "\(job(malformed))")
        #expect(ClusterTests().eventually(20) { job(malformed).reason.contains("Held") }, "\(job(malformed))")

        // The enforcer, as a service.
        let enforcer = Process()
        enforcer.executableURL = URL(fileURLWithPath: CLI.binary)
        enforcer.arguments = ["slurm", "enforce", "--config", w.file("slurm.json")]
        enforcer.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
        let enforceLog = w.file("enforce.log")
        FileManager.default.createFile(atPath: enforceLog, contents: nil)
        enforcer.standardError = FileHandle(forWritingAtPath: enforceLog)
        enforcer.standardOutput = FileHandle.nullDevice
        try enforcer.run()
        defer { if enforcer.isRunning { enforcer.terminate(); enforcer.waitUntilExit() } }
        func enforced() -> String { (try? String(contentsOfFile: enforceLog, encoding: .utf8)) ?? "" }

        // 2. Tier 1 passes (3 of 5 at node 0): the enforcer releases the held job, and the prolog admits it.
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", nodes[0].address).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", nodes[0].address).code == 0)
        }
        #expect(ClusterTests().eventually(30) { job(first).state == "RUNNING" }, "\(job(first)) \(enforced())")
        // An undeclared job on the protected partition counts as the highest tier: refused.
        let undeclared = sbatch(["-p", "gpu"])
        // (Held by whichever acts first: the enforcer, seeing it pending above the authorised tier, or the prolog.)
        #expect(ClusterTests().eventually(20) { job(undeclared).comment.contains("tier 4 is above") || job(undeclared).comment.contains("refused: tier 4") }, "\(job(undeclared))")
        #expect(job(undeclared).state == "PENDING")
        // An undeclared job elsewhere runs at the base tier.
        let base = sbatch(["-p", "main"])
        #expect(ClusterTests().eventually(20) { job(base).state == "RUNNING" }, "\(job(base))")

        // 3. A halt at node 2 (not watched by the enforcer): the running tier-1 job is suspended; the base job runs on.
        let halted = Date()
        let h = try w.tg("halt", "--reason", "stop the cluster", "--key", "keys/erin.key", "--roster", "roster.json", "--node", nodes[2].address, "--json")
        #expect(h.code == 0, "\(h.stderr)")
        #expect(ClusterTests().eventually(20) { job(first).state == "SUSPENDED" }, "\(job(first)) \(enforced())")
        print("slurm: halt submitted → running tier-1 job suspended after \(Int(Date().timeIntervalSince(halted) * 1000)) ms (goal: within 5 s)")
        #expect(job(first).comment.contains("suspended") && enforced().contains("stop the cluster"), "\(job(first)) \(enforced())")
        #expect(job(base).state == "RUNNING", "base-tier work is not stopped")

        // 4. A resume quorum (3 of 5): the suspended job runs again.
        let st = try w.tg("status", "--node", nodes[0].address, "--roster", "roster.json", "--key", "keys/dave.key", "--json").json()
        guard case .array(let hs)? = st["halts"], case .string(let haltID)? = hs.first?["id"] else {
            Issue.record("no halt id")
            return
        }
        let r = try w.tg("propose", "--tier", "1", "--title", "resume", "--resume", haltID, "--key", "keys/bob.key", "--roster", "roster.json", "--node", nodes[0].address).lastLine
        for v in ["alice", "bob", "carol"] {
            #expect(try w.tg("vote", r, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", nodes[0].address).code == 0)
        }
        #expect(ClusterTests().eventually(30) { job(first).state == "RUNNING" }, "\(job(first)) \(enforced())")
        #expect(!slurm("/usr/bin/sinfo", ["-h", "-o", "%t"]).out.contains("drain"), "never drained")
    }
}
