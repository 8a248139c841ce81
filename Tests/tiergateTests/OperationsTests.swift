import Foundation
import Testing
import TiergateCore
import TiergateTestKit

/// Issue 17: the node as a service — its HTTP side (metrics, health, the live status page in a real browser),
/// notifications, `tiergate watch`, JSON logs and the systemd unit — against real node processes.
@Suite(.serialized) struct OperationsTests {
    static func skipOrFail(_ why: String) { CI.skipOrFail("OperationsTests", why) }

    /// One HTTP request through Python's urllib (no client of this project's): status, headers (lowercased), body.
    static func http(_ method: String, _ url: String) -> (status: Int, headers: [String: String], body: String) {
        let script = """
            import json, sys, urllib.request, urllib.error
            req = urllib.request.Request(sys.argv[2], method=sys.argv[1], data=(b"x" if sys.argv[1] == "POST" else None))
            try:
                r = urllib.request.urlopen(req, timeout=10); status, headers, body = r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                status, headers, body = e.code, e.headers, e.read()
            print(json.dumps({"status": status, "headers": {k.lower(): v for k, v in headers.items()}, "body": body.decode()}))
            """
        let r = TestHost.sh("/usr/bin/env", ["python3", "-c", script, method, url])
        guard let j = try? JSONValue.parse(r.out), case .number(let s)? = j["status"], let status = Int(s) else { return (0, [:], r.out) }
        var headers: [String: String] = [:]
        if case .object(let o)? = j["headers"] { for (k, v) in o { if case .string(let s) = v { headers[k] = s } } }
        if case .string(let b)? = j["body"] { return (status, headers, b) }
        return (status, headers, "")
    }

    /// Starts a node with `extra` options; returns it and the HTTP address it printed ("http on HOST:PORT").
    static func node(_ w: Workdir, _ name: String, _ dir: String, peers: [NodeProcess] = [], extra: [String] = []) throws -> (NodeProcess, String?) {
        let n = try NodeProcess(in: w.path, args: ["node", "--data", dir, "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/\(name).key",
                                                   "--anti-entropy-interval", "200ms"] + peers.flatMap { ["--peer", $0.address] } + extra)
        guard extra.contains("--http") else { return (n, nil) }
        let line = n.nextLine()
        #expect(line.hasPrefix("http on "), "\(line)")
        return (n, String(line.dropFirst("http on ".count)))
    }

    /// A node started with standard error closed (`2>&-`) opens /dev/null in its place first. Without that, the
    /// next thing it opened became descriptor 2 — SwiftNIO's epoll instance, so every log line was lost — and a
    /// ledger or key file opened first would have taken the log lines into its bytes.
    @Test func aNodeStartedWithStandardErrorClosedKeepsItsLedgerClean() throws {
        let w = Workdir()
        try w.lab()
        let n = try NodeProcess(in: w.path, args: ["node", "--data", "closed", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"],
                                wrapper: ("/bin/sh", ["-c", "exec \"$0\" \"$@\" 2>&-"]))
        defer { n.terminate() }
        let stderrTarget = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(n.process.processIdentifier)/fd/2")
        #expect(stderrTarget == "/dev/null", "descriptor 2 of the node is \(stderrTarget ?? "closed")")
        for i in 0..<3 {
            #expect(try w.tg("halt", "--reason", "halt \(i)", "--key", "keys/erin.key", "--roster", "roster.json", "--node", n.address).code == 0)
        }
        n.terminate()
        let verify = try w.tg("ledger", "verify", "closed/ledger", "--roster", "roster.json")
        #expect(verify.code == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stdout.contains("3 frame(s)") && verify.stdout.contains("VALID"), "\(verify.stdout)")
    }

    @Test func httpSideServesHealthReadinessMetricsAndJSONLogs() throws {
        if let why = TestHost.ensurePython("prometheus_client", package: "prometheus-client") { return Self.skipOrFail(why) }
        let w = Workdir()
        try w.lab()
        let (a, addr) = try Self.node(w, "alice", "a", extra: ["--http", "127.0.0.1:0", "--log-format", "json"])
        defer { a.terminate() }
        guard let addr else { return }
        let base = "http://\(addr)"
        // Alive, and not yet ready: no peer to be in sync with.
        #expect(Self.http("GET", base + "/healthz").status == 200)
        let notReady = Self.http("GET", base + "/readyz")
        #expect(notReady.status == 503 && notReady.body.contains("in sync with no peer"), "\(notReady)")
        let (b, _) = try Self.node(w, "bob", "b", peers: [a])
        defer { b.terminate() }
        #expect(ClusterTests().eventually(20) { Self.http("GET", base + "/readyz").status == 200 }, "ready once in sync with bob's node")

        // Something to count: a proposal and two votes at alice's node, a token refused (tier 1 is not authorised).
        let p = try w.tg("propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key", "--roster", "roster.json", "--node", a.address).lastLine
        for v in ["bob", "carol"] { #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", a.address).code == 0) }
        #expect(try w.tg("token", "--node", a.address, "--tier", "1", "--out", "t", "--roster", "roster.json", "--key", "keys/dave.key").code != 0)

        let m = Self.http("GET", base + "/metrics")
        #expect(m.status == 200 && (m.headers["content-type"] ?? "").hasPrefix("text/plain; version=0.0.4"))
        w.write("metrics.txt", Array(m.body.utf8))
        // Parsed by the Prometheus project's own parser (prometheus-client): every family and sample, as JSON.
        let parsed = TestHost.sh("/usr/bin/env", ["python3", "-c", """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for f in text_string_to_metric_families(open(sys.argv[1]).read()):
                out[f.name] = {"type": f.type, "samples": [[s.name, s.labels, s.value] for s in f.samples]}
            print(json.dumps(out))
            """, w.file("metrics.txt")])
        #expect(parsed.code == 0, "\(parsed.out)")
        let families = (try? JSONValue.parse(parsed.out)) ?? .null
        func samples(_ family: String) -> [(labels: JSONValue, value: Double)] {
            guard case .array(let a)? = families[family]?["samples"] else { return [] }
            return a.compactMap { s in
                guard case .array(let t) = s, t.count == 3, case .number(let v) = t[2] else { return nil }
                return (t[1], Double(v) ?? .nan)
            }
        }
        /// The first sample named `sample` (default: the family's name) of `family` with `label`.
        func value(_ family: String, _ label: (String, String)? = nil, sample: String? = nil) -> Double? {
            guard case .array(let a)? = families[family]?["samples"] else { return nil }
            for s in a {
                guard case .array(let t) = s, t.count == 3, case .string(let name) = t[0], case .number(let v) = t[2] else { continue }
                guard name == (sample ?? family), label.map({ t[1][$0.0] == .string($0.1) }) ?? true else { continue }
                return Double(v)
            }
            return nil
        }
        // prometheus-client names a counter's family without "_total".
        for family in ["tiergate_authorised_tier", "tiergate_halts_in_force", "tiergate_ledger_entries", "tiergate_member_last_seen_seconds",
                       "tiergate_peers_connected", "tiergate_peer_last_heard_seconds_ago", "tiergate_connections_refused", "tiergate_submissions",
                       "tiergate_tokens", "tiergate_ledger_append_seconds", "tiergate_in_sync", "tiergate_storage_writable"] {
            #expect(families[family] != nil, "\(family) in \(m.body.prefix(3000))")
        }
        #expect(families["tiergate_ledger_append_seconds"]?["type"] == .string("histogram"))
        #expect(value("tiergate_authorised_tier") == 0 && value("tiergate_halts_in_force") == 0)
        #expect(value("tiergate_ledger_entries", ("kind", "proposal")) == 1 && value("tiergate_ledger_entries", ("kind", "vote")) == 2)
        #expect(value("tiergate_submissions", ("result", "stored"), sample: "tiergate_submissions_total") == 3)
        #expect(value("tiergate_tokens", ("result", "refused"), sample: "tiergate_tokens_total") == 1)
        #expect(value("tiergate_peers_connected") == 1)
        #expect(samples("tiergate_peer_last_heard_seconds_ago").first?.labels["member"] == .string("bob"))
        #expect((value("tiergate_member_last_seen_seconds", ("member", "alice")) ?? 0) > 1_700_000_000)
        #expect((value("tiergate_ledger_append_seconds", sample: "tiergate_ledger_append_seconds_count") ?? 0) >= 3, "each append timed, fsync included")

        // The page: a strict content policy, no outside assets; wrong paths and methods answered plainly.
        let page = Self.http("GET", base + "/")
        #expect(page.status == 200 && page.body.contains("id=\"authorised-tier\" data-tier=\"0\"") && page.body.contains("t1"))
        #expect((page.headers["content-security-policy"] ?? "").contains("default-src 'none'"))
        #expect(!page.body.contains("http://") && !page.body.contains("https://"), "the page loads nothing from elsewhere")
        #expect(Self.http("GET", base + "/nope").status == 404)
        #expect(Self.http("POST", base + "/metrics").status == 405)

        // --log-format json: every line a JSON object with the fixed fields.
        let lines = a.log.split(separator: "\n").filter { !$0.isEmpty }
        #expect(!lines.isEmpty)
        for line in lines {
            let j = try? JSONValue.parse(String(line))
            #expect(j?["level"] != nil && j?["message"] != nil && j?["time"] != nil && j?["label"] == .string("tiergate.node"), "\(line)")
        }
    }

    @Test func statusPageShowsTheTierAndAHaltLiveInChromium() throws {
        if let why = TestHost.ensureDebian(["chromium"], providing: ["/usr/bin/chromium"]) ?? TestHost.ensurePython("websocket", package: "websocket-client") {
            return Self.skipOrFail(why)
        }
        let w = Workdir()
        try w.lab()
        let (a, addr) = try Self.node(w, "alice", "a", extra: ["--http", "127.0.0.1:0"])
        defer { a.terminate() }
        let (b, _) = try Self.node(w, "bob", "b", peers: [a])
        defer { b.terminate() }
        guard let addr else { return }
        let p = try w.tg("propose", "--tier", "1", "--title", "Scale to 10^25 FLOP", "--key", "keys/alice.key", "--roster", "roster.json", "--node", a.address).lastLine
        for v in ["alice", "bob", "carol"] { #expect(try w.tg("vote", p, "--yes", "--key", "keys/\(v).key", "--roster", "roster.json", "--node", a.address).code == 0) }
        // The halt goes to bob's node: the page learns of it through gossip, then its live stream.
        let halt = "\(CLI.binary) halt --reason 'the eval found <deceptive> behaviour' --key \(w.file("keys/erin.key")) --roster \(w.file("roster.json")) --node \(b.address)"
        let r = TestHost.sh("/usr/bin/env", ["python3", CLI.repoRoot + "/scripts/browser-check", "http://\(addr)/", "--expect-tier", "1",
                                                 "--then", halt, "--expect-halt", "the eval found <deceptive> behaviour", "--within", "2",
                                                 "--screenshot", w.file("status-page.png")])
        let j = (try? JSONValue.parse(String(r.out.split(separator: "\n").last ?? ""))) ?? .null
        #expect(r.code == 0 && j["ok"] == .bool(true), "\(r.out)")
        #expect(j["static_tier"] == .string("1"), "without JavaScript the served page shows the tier: \(r.out)")
        #expect(j["tier"] == .string("1") && j["tier_after"] == .string("0") && j["reloaded"] == .bool(false), "\(r.out)")
        print("chromium: the page showed the halt \(j["halt_shown_after_s"].map { "\($0)" } ?? "?") s after it was submitted, without a reload")
    }

    @Test func notificationsAndWatchCarryEveryEventKind() throws {
        let w = Workdir()
        // A lapse within 24 h of any authorisation: lapse_due at once. A drill is due every minute and none has
        // succeeded: drill_overdue at once; the enforcer is the observer `gate`.
        try w.lab(policy: #"{ "lapse": "12h", "drill": { "interval": "1m", "deadline": "2s" } }"#, observers: ["gate"])
        // The sink: answers 503 to its first request (the node must retry), then 200; one line per body received.
        let sink = Process()
        sink.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        sink.arguments = ["python3", "-u", "-c", """
            import http.server, sys
            first = [True]
            class H(http.server.BaseHTTPRequestHandler):
                def do_POST(self):
                    body = self.rfile.read(int(self.headers["Content-Length"]))
                    if first[0]:
                        first[0] = False
                        self.send_response(503); self.end_headers(); return
                    with open(sys.argv[1], "ab") as f:
                        f.write(body.replace(b"\\n", b" ") + b"\\n")
                    self.send_response(200); self.end_headers()
                def log_message(self, *a): pass
            s = http.server.HTTPServer(("127.0.0.1", 0), H)
            print(s.server_address[1], flush=True)
            s.serve_forever()
            """, w.file("sink.jsonl")]
        let sinkOut = Pipe()
        sink.standardOutput = sinkOut
        sink.standardError = FileHandle.nullDevice
        try sink.run()
        // SIGKILL: a child of the test runner inherits its blocked SIGTERM, and Python would never see it.
        defer { kill(sink.processIdentifier, SIGKILL); sink.waitUntilExit() }
        let port = String(decoding: sinkOut.fileHandleForReading.availableData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(Int(port) != nil, "the sink's port: \(port)")

        let (a, _) = try Self.node(w, "alice", "a", extra: ["--notify", "http://127.0.0.1:\(port)/hook"])
        defer { a.terminate() }
        let (b, _) = try Self.node(w, "bob", "b", peers: [a])
        defer { b.terminate() }
        // tiergate watch, as a script would run it, on both nodes.
        let watch = try CLI.background(["watch", "--node", a.address, "--node", b.address, "--roster", "roster.json", "--key", "keys/dave.key"],
                                       in: w.path, stderr: w.file("watch.log"), stdout: w.file("watch.jsonl"))
        defer { watch.stopAndWait() }
        usleep(1_500_000)  // both have subscribed and read the (empty) ledger

        func tg(_ args: [String]) throws -> CLI.Result { try w.tg(args + ["--roster", "roster.json", "--node", a.address]) }
        // Drills first: one nobody acknowledges fails at its deadline; one the gate (an enforcer) answers succeeds,
        // and a minute later (the interval) the next is overdue — while the rest of the story runs. (The gate's job
        // is stopped by the halt below.)
        #expect(try tg(["drill", "--reason", "unanswered", "--key", "keys/bob.key", "--wait"]).code == 1)
        let gate = try CLI.background(["gate", "--tier", "0", "--roster", "roster.json", "--node", a.address, "--node", b.address, "--key", "keys/gate.key",
                                       "--", "sleep", "600"], in: w.path, stderr: w.file("gate.log"))
        defer { gate.stopAndWait() }
        #expect(ClusterTests().eventually(20) { w.text("gate.log").contains("started sleep") }, "\(w.text("gate.log"))")
        let answered = try tg(["drill", "--reason", "answered", "--key", "keys/bob.key", "--wait"])
        #expect(answered.code == 0, "\(answered.stdout) \(answered.stderr) \(w.text("gate.log"))")

        // Opened, votes, passed; lapse due (12 h away).
        let p = try tg(["propose", "--tier", "1", "--title", "t1", "--key", "keys/alice.key"]).lastLine
        for v in ["alice", "bob", "carol"] { #expect(try tg(["vote", p, "--yes", "--key", "keys/\(v).key"]).code == 0) }
        // Expired: a window of one second nobody votes in.
        #expect(try tg(["propose", "--tier", "2", "--title", "too quick", "--closes-in", "1s", "--key", "keys/bob.key"]).code == 0)
        // Halt, then resume.
        let h = try tg(["halt", "--reason", "stop", "--key", "keys/erin.key", "--json"])
        guard case .string(let haltID)? = (try? h.json())?["halt_id"] else { Issue.record("no halt id: \(h.stdout)"); return }
        let r = try tg(["propose", "--tier", "1", "--title", "resume", "--resume", haltID, "--key", "keys/carol.key"]).lastLine
        for v in ["alice", "bob", "carol"] { #expect(try tg(["vote", r, "--yes", "--key", "keys/\(v).key"]).code == 0) }
        // Equivocation: dave signs two different entries at the same feed position (his signer state restored from
        // an old copy between them).
        try FileManager.default.copyItem(atPath: w.file("keys/dave.key.signer"), toPath: w.file("dave.signer.old"))
        #expect(try tg(["halt", "--reason", "first", "--key", "keys/dave.key"]).code == 0)
        try FileManager.default.removeItem(atPath: w.file("keys/dave.key.signer"))
        try FileManager.default.copyItem(atPath: w.file("dave.signer.old"), toPath: w.file("keys/dave.key.signer"))
        let second = try w.tg("halt", "--reason", "second", "--key", "keys/dave.key", "--roster", "roster.json", "--out", "second.entry")
        #expect(second.code == 0, "\(second.stderr)")
        let sub = try w.tg("submit", "second.entry", "--node", a.address, "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(sub.stderr.contains("equivocation"), "\(sub.stdout) \(sub.stderr)")

        let kinds = LabEvent.Kind.allCases.map(\.rawValue)
        func received(_ file: String) -> Set<String> {
            return Set(w.text(file).split(separator: "\n").compactMap { (try? JSONValue.parse(String($0)))?["event"] }.compactMap { if case .string(let s) = $0 { s } else { nil } })
        }
        let ok = ClusterTests().eventually(80) { Set(kinds).isSubset(of: received("sink.jsonl")) }  // drill_overdue: a minute after the drill
        let st = (try? w.tg("status", "--node", a.address, "--roster", "roster.json", "--key", "keys/erin.key", "--json").stdout) ?? ""
        #expect(ok, "the sink got every kind: missing \(Set(kinds).subtracting(received("sink.jsonl"))); \(a.log.suffix(1500)); status: \(st.suffix(3000))")
        #expect(ClusterTests().eventually(20) { Set(kinds).isSubset(of: received("watch.jsonl")) },
                "watch printed every kind: missing \(Set(kinds).subtracting(received("watch.jsonl")))")
        // Slack-compatible: every body has "text"; each event once in spite of the first delivery's failure.
        let bodies = w.text("sink.jsonl").split(separator: "\n").compactMap { try? JSONValue.parse(String($0)) }
        #expect(bodies.allSatisfy { if case .string(let t)? = $0["text"] { !t.isEmpty } else { false } })
        let keys = bodies.compactMap { if case .string(let k)? = $0["key"] { k } else { nil } }
        #expect(Set(keys).count == keys.count, "no event delivered twice")
        #expect(a.log.contains("notification failed; retrying"), "the 503 was retried")
        #expect(keys.contains("proposal_opened:\(p)"), "the first event, refused once by the sink, arrived on a retry: \(keys)")
        let watched = w.text("watch.jsonl").split(separator: "\n")
        #expect(Set(watched).count == watched.count, "watch prints an event seen through two nodes once")
    }

    @Test func badOperationsOptionsAreRefusedClearly() throws {
        let w = Workdir()
        try w.lab()
        let base = ["node", "--data", "a", "--listen", "127.0.0.1:0", "--roster", "roster.json", "--key", "keys/alice.key"]
        for (extra, says) in [(["--http", "nope"], "--http takes PORT or HOST:PORT"),
                              (["--notify", "https://hooks.example.com/x"], "https is not supported"),
                              (["--notify", "ftp://x"], "expected http://HOST[:PORT][/PATH]"),
                              (["--notify", "http://x:99999/"], "bad port"),
                              (["--log-format", "xml"], "--log-format takes text or json")] {
            let r = try w.tg(base + extra)
            #expect(r.code == 64 && r.stderr.contains(says), "\(extra): \(r.code) \(r.stderr)")
        }
        let watch = try w.tg("watch", "--roster", "roster.json", "--key", "keys/dave.key")
        #expect(watch.code == 64 && watch.stderr.contains("name at least one --node"), "\(watch.stderr)")
    }

    @Test func theSystemdUnitVerifies() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            return Self.skipOrFail("systemd-analyze (Debian's systemd) is not installed")
        }
        let unit = try String(contentsOfFile: CLI.repoRoot + "/examples/systemd/tiergate-node.service", encoding: .utf8)
        for directive in ["NoNewPrivileges=true", "ProtectSystem=strict", "ReadWritePaths=/var/lib/tiergate", "LimitNOFILE=", "Restart=on-failure",
                          "User=tiergate", "--http 127.0.0.1:", "--log-format json"] {
            #expect(unit.contains(directive), "\(directive)")
        }
        // Verified as written, with the binary's path pointed at this build (systemd checks that it exists).
        let w = Workdir()
        w.write("tiergate-node.service", Array(unit.replacingOccurrences(of: "/usr/local/bin/tiergate", with: CLI.binary).utf8))
        let r = TestHost.sh("/usr/bin/systemd-analyze", ["verify", "--man=no", w.file("tiergate-node.service")])
        #expect(r.code == 0 && r.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(r.out)")
        // The control: a misspelt directive is reported.
        w.write("bad.service", Array(unit.replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSystem=strcit").replacingOccurrences(of: "/usr/local/bin/tiergate", with: CLI.binary).utf8))
        let bad = TestHost.sh("/usr/bin/systemd-analyze", ["verify", "--man=no", w.file("bad.service")])
        #expect(bad.out.contains("protect system value") && bad.out.contains("strcit"), "\(bad.out)")
    }
}
