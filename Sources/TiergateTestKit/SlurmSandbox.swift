import Foundation

/// A real single-host Slurm for the tests and the benchmark (issue 16): munged, slurmctld and slurmd from Debian's
/// `munge` and `slurm-wlm`, installed when missing, each sandbox with its own configuration, ports, state and munge
/// socket (so that two sandboxes, or a system munged, never share a daemon that one of them stops). `stop()` ends
/// every process it started, and every job process.
public final class SlurmSandbox: @unchecked Sendable {
    public let dir: String
    public let conf: String
    /// SLURM_CONF for the Slurm commands.
    public var env: [String: String] { ["SLURM_CONF": conf] }
    private let mungeDir: String
    private var munged: Process?
    private var stopped = false

    /// Slurm's and munge's binaries (and util-linux's setpriv), installed from Debian when missing; nil, or why
    /// they cannot be had here.
    public static func ensureInstalled() -> String? {
        TestHost.ensureDebian(["slurm-wlm", "munge", "util-linux"],
                              providing: ["/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch", "/usr/bin/setpriv"])
    }

    /// Starts munged (its own socket), slurmctld and slurmd in `dir`, with partitions `main` (default) and `gpu`,
    /// and `prolog` (a shell command; SLURM_CONF is set for it) as PrologSlurmctld. Throws, after stopping what it
    /// started, when slurmd does not register.
    public init(dir: String, prolog: String?) throws {
        self.dir = dir
        conf = dir + "/slurm.conf"
        mungeDir = "/run/tiergate-munge-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        for d in ["state", "spool", "log"] { try FileManager.default.createDirectory(atPath: dir + "/" + d, withIntermediateDirectories: true) }
        // munged checks that every directory up to its socket is searchable by all, which a test's private working
        // directory is not; /run is.
        try FileManager.default.createDirectory(atPath: mungeDir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        _ = TestHost.sh("/bin/chown", ["munge:munge", mungeDir])
        let m = Process()
        m.executableURL = URL(fileURLWithPath: "/bin/su")
        // In the foreground, as this process's child (a daemonized munged would keep the caller's output pipe open).
        m.arguments = ["-s", "/bin/sh", "munge", "-c",
                       "exec /usr/sbin/munged -F --socket=\(mungeDir)/socket --pid-file=\(mungeDir)/pid --seed-file=\(mungeDir)/seed --log-file=\(mungeDir)/log"]
        _ = FileManager.default.createFile(atPath: dir + "/munged.out", contents: nil)
        let out = FileHandle(forWritingAtPath: dir + "/munged.out")  // one offset for both streams
        m.standardOutput = out
        m.standardError = out
        m.standardInput = FileHandle.nullDevice
        try m.run()
        munged = m
        guard TestHost.eventually(10, { FileManager.default.fileExists(atPath: mungeDir + "/socket") }) else {
            stop()
            throw SandboxError("munged did not start: \((try? String(contentsOfFile: dir + "/munged.out", encoding: .utf8)) ?? "")")
        }
        var prologLine = ""
        if let prolog {
            let script = dir + "/prolog.sh"
            _ = FileManager.default.createFile(atPath: script, contents: Data("#!/bin/sh\nexport SLURM_CONF=\(conf)\n\(prolog)\n".utf8),
                                           attributes: [.posixPermissions: 0o755])
            prologLine = "PrologSlurmctld=\(script)\n"
        }
        let host = TestHost.sh("/bin/hostname", ["-s"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        _ = FileManager.default.createFile(atPath: conf, contents: Data("""
            ClusterName=tiergate\(getpid())
            SlurmctldHost=\(host)
            SlurmUser=root
            SlurmdUser=root
            SlurmctldPort=\(TestHost.freePort())
            SlurmdPort=\(TestHost.freePort())
            AuthType=auth/munge
            AuthInfo=socket=\(mungeDir)/socket
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
            \(prologLine)NodeName=\(host) CPUs=\(cpus) RealMemory=1000 State=UNKNOWN
            PartitionName=main Nodes=\(host) Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:64
            PartitionName=gpu Nodes=\(host) MaxTime=INFINITE State=UP OverSubscribe=FORCE:64
            PartitionName=canary Nodes=\(host) MaxTime=INFINITE State=UP OverSubscribe=FORCE:64

            """.utf8))
        let a = TestHost.sh("/usr/sbin/slurmctld", ["-f", conf], env: env, daemon: dir + "/slurmctld.out")
        let b = TestHost.sh("/usr/sbin/slurmd", ["-f", conf], env: env, daemon: dir + "/slurmd.out")
        guard a.code == 0, b.code == 0, TestHost.eventually(60, { self.run("/usr/bin/sinfo", ["-h", "-o", "%t"]).out.contains("idle") }) else {
            let why = "slurmd did not register: \(logs())"
            stop()
            throw SandboxError(why)
        }
    }

    deinit { stop() }

    /// Cancels the jobs, lets the daemons stop, then makes sure: every process whose environment names this
    /// cluster's configuration (slurmd, slurmstepd, job scripts and their children) is killed; munged last.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        if FileManager.default.fileExists(atPath: dir + "/slurmctld.pid") {
            _ = run("/usr/bin/scancel", ["--full", "-u", "root"])
            _ = TestHost.eventually(10) { self.run("/usr/bin/squeue", ["-h"]).out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty }
        }
        for pidFile in ["slurmd.pid", "slurmctld.pid"] {
            if let pid = Int32(((try? String(contentsOfFile: dir + "/" + pidFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGTERM)
            }
        }
        usleep(1_000_000)
        TestHost.killAll(environmentContaining: "SLURM_CONF=\(conf)")
        if let m = munged, m.isRunning {
            m.terminate()  // su passes it on to munged
            m.waitUntilExit()
        }
        try? FileManager.default.removeItem(atPath: mungeDir)
    }

    /// A Slurm command against this cluster.
    public func run(_ tool: String, _ args: [String]) -> (code: Int32, out: String) { TestHost.sh(tool, args, env: env) }

    public func logs() -> String {
        ["slurmctld.log", "slurmd.log"].map { f in "== \(f):\n" + String(((try? String(contentsOfFile: dir + "/log/" + f, encoding: .utf8)) ?? "").suffix(3000)) }
            .joined(separator: "\n") + "\n== sinfo: " + run("/usr/bin/sinfo", ["-h"]).out
    }

    public var drained: Bool { run("/usr/bin/sinfo", ["-h", "-o", "%t"]).out.contains("drain") }

    /// State, reason and admin comment of a job (`scontrol show job`).
    public func job(_ id: String) -> (state: String, reason: String, comment: String) {
        let out = run("/usr/bin/scontrol", ["show", "job", id, "--oneliner"]).out
        func field(_ k: String) -> String {
            guard let r = out.range(of: " \(k)=") else { return "" }
            let rest = out[r.upperBound...]
            // AdminComment runs to the next " Key=" field.
            if k == "AdminComment", let next = rest.range(of: #" [A-Za-z]+="#, options: .regularExpression) { return String(rest[..<next.lowerBound]) }
            return String(rest.prefix { $0 != " " })
        }
        return (field("JobState"), field("Reason"), field("AdminComment"))
    }

    /// Submits `sleep 600` (or `command`) with `args`; its job id ("" when sbatch refused it).
    public func sbatch(_ args: [String], command: String = "sleep 600") -> String {
        let r = run("/usr/bin/sbatch", ["--parsable"] + (args.contains("-o") ? [] : ["-o", "/dev/null"]) + args + ["--wrap", command])
        return r.out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ";").first.map(String.init) ?? ""
    }

    /// Each job's state, from one `squeue` call.
    public func states() -> [String: String] {
        var out: [String: String] = [:]
        for line in run("/usr/bin/squeue", ["-h", "-o", "%i %T"]).out.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count == 2 { out[String(f[0])] = String(f[1]) }
        }
        return out
    }
}

public struct SandboxError: Error, CustomStringConvertible {
    public let description: String
    public init(_ d: String) { description = d }
}
