import Foundation
import Logging
import NIOPosix
import TiergateCore
import TiergateStorage
import TiergateNode

extension Bench {
    /// Does scraping a node's `/metrics` 100 times a second slow a halt's propagation (issue 17)? In-process nodes
    /// on real TCP, the first with its HTTP side; halts submitted to that node, timed until every node has each on
    /// disk — without scraping (before and after) and while two clients scrape its `/metrics` at 100/s in all over
    /// keep-alive connections.
    func scrape() throws -> JSONValue {
        let n = quick ? 5 : 10
        let repeats = quick ? 4 : 30
        let rate = 100.0
        say("\n== scrape: halt at a node → all \(n) nodes, while its /metrics is scraped \(Int(rate))/s, vs not scraped")
        let (doc, keys) = Bench.lab(members: 5)
        let cluster = try haltCluster("scrape", n: n, doc: doc, keys: keys) { _, ports in Array(ports.suffix(3)) }
        let (runtimes, ports, seen) = (cluster.runtimes, cluster.ports, cluster.seen)
        var logger = Logger(label: "bench")
        logger.logLevel = .critical
        let metrics = NodeMetrics()
        runtimes[0].onAppendDuration = { ns in metrics.appendTimer.recordNanoseconds(Int64(clamping: ns)) }
        let http = NodeHTTPServer(runtime: runtimes[0], endpoint: Endpoint(host: "127.0.0.1", port: 0), metrics: metrics, logger: logger)
        let httpPort = try http.start().wait().port!
        defer {
            _ = try? http.stop().wait()
            cluster.stop()
        }
        usleep(1_500_000)  // let every dial complete

        var heads: [Int: (UInt64, Digest)] = [:]
        func halts(_ count: Int) throws -> [Double] {
            var out: [Double] = []
            for _ in 0..<count {
                let author = (heads.values.map(\.0).reduce(0, +) % UInt64(keys.count))
                let a = Int(author)
                let head = heads[a] ?? (0, .zero)
                let h = SignedEntry(signing: Entry(
                    lab: doc.roster.lab, genesis: doc.roster.hash, rosterVersion: 1, author: keys[a].publicKey, seq: head.0 + 1, prev: head.1,
                    time: SystemClock.nowMs(), body: .halt(Halt(reason: "scrape bench"))), with: keys[a])
                heads[a] = (head.0 + 1, h.id)
                let client = try NodeClient(endpoint: Endpoint(host: "127.0.0.1", port: ports[0]), genesis: doc.roster.hash, identity: keys[a])
                let start = Bench.monotonicNs()
                _ = try client.submit(h)
                let deadline = start + 10_000_000_000
                while (seen.value[h.id]?.count ?? 0) < n && Bench.monotonicNs() < deadline { usleep(200) }
                out.append(Double((seen.value[h.id]?.values.max() ?? deadline) - start) / 1e6)
                client.close()
                usleep(50_000)
            }
            return out
        }

        let before = try halts(repeats / 2)
        // Two scrapers, 50/s each, each on one keep-alive connection.
        let stop = UncheckedBox(false)
        let scraped = UncheckedBox(0)
        let failed = UncheckedBox(0)
        let done = DispatchGroup()
        for _ in 0..<2 {
            done.enter()
            Thread.detachNewThread {
                defer { done.leave() }
                var conn: ScrapeConnection?
                let interval = 2.0 / rate
                var next = Date()
                while !stop.value {
                    if conn == nil { conn = ScrapeConnection(port: httpPort) }
                    if let c = conn, c.get("/metrics") { scraped.update { $0 += 1 } } else {
                        failed.update { $0 += 1 }
                        conn?.close()
                        conn = nil
                    }
                    next = next.addingTimeInterval(interval)
                    let wait = next.timeIntervalSinceNow
                    if wait > 0 { usleep(UInt32(wait * 1e6)) }
                }
                conn?.close()
            }
        }
        let scrapeStart = Date()
        let loaded = try halts(repeats)
        let scrapeSeconds = Date().timeIntervalSince(scrapeStart)
        stop.update { $0 = true }
        done.wait()
        let after = try halts(repeats - repeats / 2)
        let base = Bench.percentiles(before + after)
        let load = Bench.percentiles(loaded)
        let achieved = Double(scraped.value) / scrapeSeconds
        say("  not scraped: \(repeats) halts reached all \(n) nodes after p50 \(fmt(base.p50)) ms, p99 \(fmt(base.p99)) ms")
        say("  scraped at \(fmt(achieved, 0))/s (\(scraped.value) scrapes, \(failed.value) failed): p50 \(fmt(load.p50)) ms, p99 \(fmt(load.p99)) ms")
        say("  ratio of p99s (scraped / not): \(fmt(load.p99 / base.p99, 2)); of p50s: \(fmt(load.p50 / base.p50, 2))")
        return .object([
            ("nodes", .int(n)), ("halts", .int(repeats)), ("scrapes_per_second", .number(fmt(achieved, 1))), ("scrapes", .int(scraped.value)),
            ("scrapes_failed", .int(failed.value)),
            ("baseline_p50_ms", .number(fmt(base.p50, 3))), ("baseline_p99_ms", .number(fmt(base.p99, 3))),
            ("scraped_p50_ms", .number(fmt(load.p50, 3))), ("scraped_p99_ms", .number(fmt(load.p99, 3))),
            ("ratio", .number(fmt(load.p99 / base.p99, 3))),
        ])
    }
}

/// One keep-alive HTTP/1.1 connection to 127.0.0.1 (plain sockets: nothing of the node's stack on this side).
final class ScrapeConnection {
    let fd: Int32

    init?(port: Int) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(port).bigEndian)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
        if !ok {
            Glibc.close(fd)
            return nil
        }
    }

    func close() { Glibc.close(fd) }

    /// GET `path`; true on a 200 with its whole body read.
    func get(_ path: String) -> Bool {
        let req = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard req.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == req.count else { return false }
        var buf: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headerEnd: Int?
        var length = -1
        while true {
            let r = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard r > 0 else { return false }
            buf += chunk[..<r]
            if headerEnd == nil, let range = buf.firstRange(of: Array("\r\n\r\n".utf8)) {
                headerEnd = range.upperBound
                let head = String(decoding: buf[..<range.lowerBound], as: UTF8.self).lowercased()
                guard head.hasPrefix("http/1.1 200") else { return false }
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? -1
                }
                guard length >= 0 else { return false }
            }
            if let h = headerEnd, buf.count - h >= length { return true }
        }
    }
}
