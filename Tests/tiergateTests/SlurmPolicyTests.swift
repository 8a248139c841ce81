import Foundation
import Testing
import TiergateCore
import TiergateCLIKit
import TiergateTestKit

/// The Slurm integration's pure parts: the configuration file, the tier a job declares, and the enforcer's plan.
struct SlurmPolicyTests {
    static let config: SlurmConfig = try! SlurmConfig(json: try! JSONValue.parse(Array("""
        { "roster": "/etc/tiergate/roster.json", "key": "/etc/tiergate/cluster.key",
          "nodes": ["10.0.0.1:7400", "10.0.0.2:7400"], "protected_partitions": ["gpu"] }
        """.utf8)))

    @Test func theTierIsReadFromOneExactPlace() {
        #expect(SlurmPolicy.declaredTier(comment: "tier=3") == .success(3))
        #expect(SlurmPolicy.declaredTier(comment: "run 7, tier=2 nightly") == .success(2))
        #expect(SlurmPolicy.declaredTier(comment: "") == .success(nil))
        #expect(SlurmPolicy.declaredTier(comment: "frontier=5") == .success(nil), "not a tier declaration")
        for bad in ["tier=", "tier=x", "tier=-1", "tier=1.5", "tier=99999999999", "tier=1 tier=2", "tier=３"] {
            guard case .failure = SlurmPolicy.declaredTier(comment: bad) else { Issue.record("'\(bad)' was read as a tier"); continue }
        }
    }

    @Test func undeclaredJobsOnProtectedPartitionsCountAsTheHighestTier() {
        let roster = Lab().genesis
        func tier(_ comment: String, _ partition: String) -> UInt32? {
            try? SlurmPolicy.tier(of: SlurmJob(id: "1", comment: comment, partition: partition, state: "PENDING", reason: "", adminComment: ""),
                                  config: Self.config, roster: roster).get()
        }
        #expect(tier("", "gpu") == roster.maxTier)
        #expect(tier("", "main") == roster.baseTier)
        #expect(tier("tier=1", "gpu") == 1)
    }

    @Test func thePlanStopsWhatIsAboveTheAllowedTierAndReleasesOnlyWhatItStopped() {
        let roster = Lab().genesis
        func job(_ id: String, _ comment: String, _ state: String, reason: String = "", admin: String = "") -> SlurmJob {
            SlurmJob(id: id, comment: comment, partition: "main", state: state, reason: reason, adminComment: admin)
        }
        let jobs = [
            job("1", "tier=2", "RUNNING"), job("2", "tier=1", "RUNNING"), job("3", "tier=2", "PENDING", reason: "Resources"),
            job("4", "tier=2", "PENDING", reason: "JobHeldAdmin"), job("5", "tier=x", "RUNNING"), job("6", "", "RUNNING"),
        ]
        #expect(SlurmPolicy.plan(jobs: jobs, allowed: 1, config: Self.config, roster: roster) == [.suspend("1"), .hold("3"), .suspend("5")])
        var cancel = Self.config
        cancel.action = .cancel
        #expect(SlurmPolicy.plan(jobs: jobs, allowed: 1, config: cancel, roster: roster).first == .cancel("1"))
        // After a resume: resume and release what tiergate stopped (its marker), never an administrator's hold.
        let later = [
            job("1", "tier=2", "SUSPENDED", admin: "tiergate: suspended: …"), job("7", "tier=2", "SUSPENDED", admin: "maintenance"),
            job("3", "tier=2", "PENDING", reason: "JobHeldAdmin", admin: "tiergate: held: …"), job("4", "tier=2", "PENDING", reason: "JobHeldAdmin"),
        ]
        #expect(SlurmPolicy.plan(jobs: later, allowed: 2, config: Self.config, roster: roster) == [.resume("1"), .release("3")])
    }

    @Test func theConfigurationIsStrict() {
        #expect(Self.config.action == .suspend && Self.config.scontrol == "/usr/bin/scontrol")
        for bad in [#"{ "roster": "r", "key": "k", "nodes": [] }"#, #"{ "roster": "r", "key": "k", "nodes": ["a:1"], "action": "pause" }"#,
                    #"{ "roster": "r", "key": "k", "nodes": ["a:1"], "drain": true }"#] {
            #expect(throws: JSONError.self) { try SlurmConfig(json: try JSONValue.parse(Array(bad.utf8))) }
        }
        #expect(Self.config.canaryPartition == nil)
        #expect(throws: JSONError.self) { try SlurmConfig(json: try JSONValue.parse(Array(#"{ "roster": "r", "key": "k", "nodes": ["a:1"], "canary_partition": 3 }"#.utf8))) }
    }

    /// The example in examples/slurm/ is a configuration this build reads (with a canary partition).
    @Test func theExampleConfigurationReads() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: CLI.repoRoot + "/examples/slurm/slurm.json")))
        let c = try SlurmConfig(json: try JSONValue.parse(bytes))
        #expect(c.canaryPartition == "canary" && c.protectedPartitions == ["gpu"] && c.nodes.count == 3)
    }

    @Test func squeueJSONIsRead() throws {
        let jobs = try SlurmJob.parse(squeueJSON: Array(#"""
            { "meta": {}, "errors": [], "jobs": [ { "job_id": 12, "comment": "tier=1", "partition": "gpu", "job_state": "RUNNING",
              "state_reason": "None", "admin_comment": "", "other": [1, 2] } ] }
            """#.utf8))
        #expect(jobs == [SlurmJob(id: "12", comment: "tier=1", partition: "gpu", state: "RUNNING", reason: "None", adminComment: "")])
    }

    /// Where a refused batch job's owner reads the reason: its stderr path (spaces kept), owner and group.
    @Test func showJobGivesTheStderrFileAndOwner() {
        let text = """
            JobId=7 JobName=wrap
               UserId=ana(1001) GroupId=lab(2002) MCS_label=N/A
               Requeue=1 Restarts=1 BatchFlag=1 Reboot=0 ExitCode=0:0
               StdErr=/home/ana/runs/my run.err
               StdIn=/dev/null
               StdOut=/home/ana/runs/my run.out
            """
        let o = SlurmJobOutput(showJob: text)
        #expect(o == SlurmJobOutput(showJob: text) && o.batch && o.stderr == "/home/ana/runs/my run.err" && o.uid == 1001 && o.gid == 2002)
        let interactive = SlurmJobOutput(showJob: "JobId=8\n   UserId=bo(1002) GroupId=bo(1002)\n   BatchFlag=0\n   StdErr=(null)\n")
        #expect(!interactive.batch && interactive.stderr == nil && interactive.uid == 1002)
        #expect(SlurmJobOutput(showJob: "   UserId=x GroupId=y(z)").uid == nil)
    }
}
