import Foundation
import Testing
import TiergateCore
import TiergateTestKit

/// The Kubernetes example (issue 16, examples/kubernetes/): every manifest validates strictly against a current
/// Kubernetes schema (`kubernetes-validate --strict`, PyPI), and the manifests run as written. No container engine
/// or cluster runs here, so each pod is played on this host the way the kubelet would set it up: the user and groups
/// of its securityContext (runAsUser, runAsGroup, fsGroup), its ConfigMap and Secret mounts laid out as the kubelet
/// lays them out (`..data` symlinks, the Secret's defaultMode, group fsGroup), its volumes owned by fsGroup, and its
/// command run exactly as the manifest gives it, with only paths and the Service's names mapped to this host.
@Suite(.serialized) struct KubernetesTests {
    static let dir = CLI.repoRoot + "/examples/kubernetes"
    static let manifests = ["nodes.yaml", "job.yaml", "job-init-container.yaml"]

    /// kubernetes-validate (and PyYAML, which it brings) from PyPI, pinned; nil, or why it cannot be had.
    static func ensureValidator() -> String? { TestHost.ensurePython("kubernetes_validate, yaml", package: "kubernetes-validate==1.37.0") }

    static func skipOrFail(_ why: String) { CI.skipOrFail("KubernetesTests", why) }

    @Test func everyManifestValidatesStrictly() throws {
        if let why = Self.ensureValidator() { return Self.skipOrFail(why) }
        let files = Self.manifests.map { Self.dir + "/" + $0 }
        let r = TestHost.sh("/usr/bin/env", ["python3", "-m", "kubernetes_validate", "--strict", "-k", "1.37.0"] + files)
        #expect(r.code == 0, "\(r.out)")
        for resource in ["service/tiergate", "statefulset/tiergate-alice", "statefulset/tiergate-bob", "statefulset/tiergate-carol",
                         "job/train-v5-tier3", "job/train-v5-tier3-checked-at-start"] {
            #expect(r.out.contains("passed for resource \(resource) against version 1.37"), "\(resource): \(r.out)")
        }
        // The control: strict validation rejects what a typo would leave out silently.
        let w = Workdir()
        let typo = try String(contentsOfFile: files[1], encoding: .utf8).replacingOccurrences(of: "backoffLimit: 0", with: "backofLimit: 0")
        w.write("typo.yaml", Array(typo.utf8))
        let bad = TestHost.sh("/usr/bin/env", ["python3", "-m", "kubernetes_validate", "--strict", "-k", "1.37.0", w.file("typo.yaml")])
        #expect(bad.code != 0 && bad.out.contains("backofLimit"), "\(bad.out)")
        // The roster comes from the signed file itself (kubectl create configmap --from-file), never pasted in.
        let readme = try String(contentsOfFile: Self.dir + "/README.md", encoding: .utf8)
        #expect(readme.contains("kubectl create configmap tiergate-roster --from-file=roster.json="))
        #expect(try !Self.documents().contains { $0["kind"] == .string("ConfigMap") })
    }

    /// The manifests' documents, as JSON (PyYAML).
    static func documents() throws -> [JSONValue] {
        let files = manifests.map { dir + "/" + $0 }
        let r = TestHost.sh("/usr/bin/env", ["python3", "-c", "import sys, json, yaml; print(json.dumps([d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f))]))"] + files)
        guard r.code == 0, case .array(let docs) = try JSONValue.parse(r.out) else { throw SandboxError("cannot read the manifests: \(r.out)") }
        return docs
    }

    static func array(_ v: JSONValue?) -> [JSONValue] { if case .array(let a)? = v { a } else { [] } }
    static func string(_ v: JSONValue?) -> String? { if case .string(let s)? = v { s } else { nil } }
    static func int(_ v: JSONValue?) -> Int? { if case .number(let n)? = v { Int(n) } else { nil } }

    /// One pod of a manifest, played on this host.
    struct Pod {
        let uid: Int
        let gid: Int
        let fsGroup: Int
        /// mountPath → the directory standing in for it here, per container name.
        var mounts: [String: [(String, String)]] = [:]

        /// The pod spec's user and groups and its volumes made real under `root`: a ConfigMap holds the lab's roster,
        /// a Secret the key `secrets` names, mode `defaultMode`, owner root, group fsGroup, behind the kubelet's
        /// `..data` symlinks; a volume claim or emptyDir is a directory owned by the pod's user and fsGroup.
        init(spec: JSONValue, root: String, roster: String, secrets: [String: (file: String, source: String)]) throws {
            let sc = spec["securityContext"]
            guard sc?["runAsNonRoot"] == .bool(true), let u = int(sc?["runAsUser"]), let g = int(sc?["runAsGroup"]), let f = int(sc?["fsGroup"]), u != 0 else {
                throw SandboxError("the pod must run as a non-root user with a group and fsGroup: \(String(describing: sc))")
            }
            uid = u
            gid = g
            fsGroup = f
            let fm = FileManager.default
            var volumes: [String: String] = [:]
            for v in array(spec["volumes"]) + array(spec["volumeClaimTemplates"]).map({ .object([("name", $0["metadata"]?["name"] ?? .null), ("claim", .bool(true))]) }) {
                guard let name = string(v["name"]) else { continue }
                let path = root + "/volumes/" + name
                if let cm = string(v["configMap"]?["name"]) {
                    guard cm == "tiergate-roster" else { throw SandboxError("unknown ConfigMap \(cm)") }
                    try Pod.kubeletLayout(path, file: "roster.json", bytes: Array(try Data(contentsOf: URL(fileURLWithPath: roster))), mode: 0o644, group: 0)
                } else if let secret = string(v["secret"]?["secretName"]) {
                    guard let s = secrets[secret] else { throw SandboxError("unknown Secret \(secret)") }
                    // Kubernetes' default is 0644; the manifests must say 0440 (with fsGroup) for tiergate to accept it.
                    let mode = int(v["secret"]?["defaultMode"]) ?? 0o644
                    try Pod.kubeletLayout(path, file: s.file, bytes: Array(try Data(contentsOf: URL(fileURLWithPath: s.source))), mode: mode_t(mode), group: gid_t(f))
                } else {
                    try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
                    chown(path, uid_t(u), gid_t(f))
                    chmod(path, 0o2770)
                }
                volumes[name] = path
            }
            for c in array(spec["initContainers"]) + array(spec["containers"]) {
                guard let cname = string(c["name"]) else { continue }
                mounts[cname] = try array(c["volumeMounts"]).map { m in
                    guard let n = string(m["name"]), let p = string(m["mountPath"]), let local = volumes[n] else { throw SandboxError("bad mount \(m)") }
                    return (p, local)
                }
            }
        }

        /// What the kubelet makes of a ConfigMap or Secret volume: `..TIMESTAMP/FILE`, `..data -> ..TIMESTAMP`,
        /// `FILE -> ..data/FILE`, the file with the volume's mode and group.
        static func kubeletLayout(_ dir: String, file: String, bytes: [UInt8], mode: mode_t, group: gid_t) throws {
            let fm = FileManager.default
            let stamp = dir + "/..2026_12_01_00_00_00.000000001"
            try fm.createDirectory(atPath: stamp, withIntermediateDirectories: true)
            fm.createFile(atPath: stamp + "/" + file, contents: Data(bytes))
            chown(stamp + "/" + file, 0, group)
            chmod(stamp + "/" + file, mode)
            try fm.createSymbolicLink(atPath: dir + "/..data", withDestinationPath: (stamp as NSString).lastPathComponent)
            try fm.createSymbolicLink(atPath: dir + "/" + file, withDestinationPath: "..data/" + file)
        }

        /// `text` with every mount path of `container` replaced by its stand-in, and the Service's names by `names`.
        func local(_ text: String, container: String, names: [String: String]) -> String {
            var t = text
            for (p, l) in (mounts[container] ?? []).sorted(by: { $0.0.count > $1.0.count }) { t = t.replacingOccurrences(of: p, with: l) }
            for (n, a) in names { t = t.replacingOccurrences(of: n, with: a) }
            return t
        }

        /// setpriv: this pod's user, group and fsGroup (as a supplementary group, as the kubelet adds it).
        var asUser: (executable: String, prefix: [String]) {
            ("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(gid)", "--groups=\(fsGroup)", "--"])
        }
    }

    @Test func theManifestsRunAsWrittenAsANonRootUser() throws {
        if let why = Self.ensureValidator() ?? (getuid() == 0 ? nil : "playing pods as another user (setpriv) needs root") { return Self.skipOrFail(why) }
        let w = Workdir()
        try w.lab()
        chmod(w.path, 0o755)
        let docs = try Self.documents()
        let secrets: [String: (file: String, source: String)] = [
            "tiergate-alice-key": ("node.key", w.file("keys/alice.key")), "tiergate-bob-key": ("node.key", w.file("keys/bob.key")),
            "tiergate-carol-key": ("node.key", w.file("keys/carol.key")), "tiergate-cluster-key": ("cluster.key", w.file("keys/dave.key")),
        ]
        let sets = docs.filter { $0["kind"] == .string("StatefulSet") }
        #expect(sets.count == 3)
        // The Service's names → this host's ports.
        var names: [String: String] = [:]
        var ports: [String: Int] = [:]
        for s in sets {
            let name = Self.string(s["metadata"]?["name"]) ?? ""
            ports[name] = TestHost.freePort()
            names["\(name)-0.tiergate:7400"] = "127.0.0.1:\(ports[name]!)"
        }

        // 1. The nodes, each as its StatefulSet's pod.
        var nodes: [NodeProcess] = []
        defer { nodes.forEach { $0.terminate() } }
        var probes: [(Pod, [String])] = []
        for s in sets {
            let name = Self.string(s["metadata"]?["name"]) ?? ""
            guard let spec = s["spec"]?["template"]?["spec"], let c = Self.array(spec["containers"]).first else { Issue.record("no pod in \(name)"); return }
            let pod = try Pod(spec: spec.merging(volumeClaims: s["spec"]?["volumeClaimTemplates"]), root: w.file(name), roster: w.file("roster.json"), secrets: secrets)
            var args = Self.array(c["command"]).compactMap(Self.string).map { pod.local($0, container: "node", names: names) }
            #expect(args.first == "tiergate")
            args = args.map { $0 == "0.0.0.0:7400" ? "127.0.0.1:\(ports[name]!)" : $0 }
            nodes.append(try NodeProcess(in: w.path, args: Array(args.dropFirst()), wrapper: pod.asUser))
            // Its liveness probe, as written: inside the pod, 127.0.0.1:7400 is this node.
            var podNames = names
            podNames["127.0.0.1:7400"] = "127.0.0.1:\(ports[name]!)"
            let probe = Self.array(c["livenessProbe"]?["exec"]?["command"]).compactMap(Self.string).map { pod.local($0, container: "node", names: podNames) }
            #expect(probe.first == "tiergate", "\(name) has an exec liveness probe")
            probes.append((pod, probe))
        }
        /// The distinct peers each node has heard from.
        func heard(_ n: NodeProcess) -> Int {
            Set(Self.array(try? w.tg("status", "--node", n.address, "--roster", "roster.json", "--key", "keys/dave.key", "--json").json()["node"]?["peers_heard"])
                .compactMap { Self.string($0["key"]) }).count
        }
        #expect(ClusterTests().eventually(20) { nodes.allSatisfy { heard($0) == 2 } }, "the nodes found each other by the Service's names: \(nodes.map(heard)) \(nodes[0].log)")

        for (pod, probe) in probes {
            let r = TestHost.sh(pod.asUser.executable, pod.asUser.prefix + [CLI.binary] + probe.dropFirst())
            #expect(r.code == 0, "the liveness probe passes against a live node: \(probe) \(r.out)")
        }

        // 2. The init-container variant: refused while tier 3 is not authorised, admitted after the votes.
        guard let initJob = docs.first(where: { Self.string($0["metadata"]?["name"]) == "train-v5-tier3-checked-at-start" }),
              let initSpec = initJob["spec"]?["template"]?["spec"], let ic = Self.array(initSpec["initContainers"]).first else {
            Issue.record("no init-container Job")
            return
        }
        let initPod = try Pod(spec: initSpec, root: w.file("init-job"), roster: w.file("roster.json"), secrets: secrets)
        let initCommand = Self.array(ic["command"]).compactMap(Self.string).map { initPod.local($0, container: "tiergate-check", names: names) }
        #expect(initCommand.first == "/bin/sh")
        let path = (CLI.binary as NSString).deletingLastPathComponent + ":/usr/bin:/bin"
        func runInit() -> (code: Int32, out: String) {
            TestHost.sh(initPod.asUser.executable, initPod.asUser.prefix + initCommand, env: ["PATH": path])
        }
        let refused = runInit()
        #expect(refused.code != 0 && refused.out.contains("tier 3"), "\(refused.out)")
        for tier in 1...3 {  // one tier at a time
            let p = try w.tg("propose", "--tier", "\(tier)", "--title", "t\(tier)", "--key", "keys/alice.key", "--roster", "roster.json", "--node", nodes[0].address).lastLine
            for v in ["alice", "bob", "carol"] {
                #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", nodes[0].address).code == 0)
            }
        }
        #expect(ClusterTests().eventually(20) { runInit().code == 0 }, "the init container admits tier 3: \(runInit().out)")

        // 3. The Job with gate as its entrypoint (the trainer replaced by `sleep`): it starts, and a halt at any
        //    node stops it (exit 76).
        guard let job = docs.first(where: { Self.string($0["metadata"]?["name"]) == "train-v5-tier3" }),
              let jobSpec = job["spec"]?["template"]?["spec"], let jc = Self.array(jobSpec["containers"]).first else {
            Issue.record("no gate Job")
            return
        }
        #expect(Self.int(job["spec"]?["backoffLimit"]) == 0 && Self.string(jobSpec["restartPolicy"]) == "Never")
        let jobPod = try Pod(spec: jobSpec, root: w.file("job"), roster: w.file("roster.json"), secrets: secrets)
        var gateArgs = Self.array(jc["command"]).compactMap(Self.string).map { jobPod.local($0, container: "trainer", names: names) }
        guard let dash = gateArgs.firstIndex(of: "--"), gateArgs.first == "tiergate", gateArgs[1] == "gate" else { Issue.record("not a gate: \(gateArgs)"); return }
        gateArgs = Array(gateArgs[1...dash]) + ["sleep", "600"]
        let gate = try CLI.background(gateArgs, in: w.path, stderr: w.file("gate.log"), wrapper: jobPod.asUser)
        defer { gate.stopAndWait() }
        func log() -> String { w.text("gate.log") }
        #expect(ClusterTests().eventually(30) { log().contains("started sleep") }, "\(log())")
        #expect(try w.tg("halt", "--reason", "stop", "--key", "keys/erin.key", "--roster", "roster.json", "--node", nodes[2].address).code == 0)
        #expect(ClusterTests().eventually(20) { !gate.isRunning }, "\(log())")
        gate.waitUntilExit()
        #expect(gate.terminationStatus == 76, "\(log())")

        // 4. The control: the same Secret with Kubernetes' default mode (0644) is refused, saying why.
        try Pod.kubeletLayout(w.file("loose"), file: "cluster.key", bytes: w.bytes("keys/dave.key"), mode: 0o644, group: gid_t(jobPod.fsGroup))
        let r = TestHost.sh(jobPod.asUser.executable, jobPod.asUser.prefix + [CLI.binary, "status", "--node", nodes[0].address, "--roster",
                                w.file("roster.json"), "--key", w.file("loose/cluster.key")])
        #expect(r.code == 2 && r.out.contains("readable by others"), "\(r.out)")
    }
}

extension JSONValue {
    /// A StatefulSet's pod spec with its volume claim templates, as the pod sees them (volumes by name).
    func merging(volumeClaims: JSONValue?) -> JSONValue {
        guard case .object(var o) = self, let v = volumeClaims else { return self }
        o.append(("volumeClaimTemplates", v))
        return .object(o)
    }
}
