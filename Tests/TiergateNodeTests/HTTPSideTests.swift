import Foundation
import Logging
import NIOCore
import Testing
import TiergateCore
@testable import TiergateNode
import TiergateTestKit

/// The node's HTTP side (issue 17) in this process: idle connections are closed, event streams are not.
@Suite struct HTTPSideTests {
    /// A plain TCP connection to 127.0.0.1:`port`; `request` is sent if given.
    static func connect(_ port: Int, _ request: String? = nil) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = in_port_t(UInt16(port).bigEndian)
        sa.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &sa) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        if let request { _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
        return fd
    }

    /// Reads until the peer closes or `seconds` pass; what was read, and whether it closed.
    static func drain(_ fd: Int32, seconds: Double) -> (text: String, closed: Bool) {
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (String(decoding: out, as: UTF8.self), true) }
            if n > 0 { out += buf[..<n] }
        }
        return (String(decoding: out, as: UTF8.self), false)
    }

    @Test func idleConnectionsAreClosedButEventStreamsStay() throws {
        let node = try TestNode(lab: Lab())
        defer { node.stop() }
        let http = NodeHTTPServer(runtime: node.runtime, endpoint: Endpoint(host: "127.0.0.1", port: 0), metrics: NodeMetrics(),
                                  logger: Logger(label: "test.http"), idleTimeout: .milliseconds(500))
        let port = try http.start().wait().port!
        defer { _ = try? http.stop().wait() }

        let silent = Self.connect(port)
        defer { close(silent) }
        let stream = Self.connect(port, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
        defer { close(stream) }
        let answered = Self.connect(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        defer { close(answered) }

        #expect(Self.drain(silent, seconds: 5).closed, "a connection that sends nothing is closed after the idle timeout")
        let kept = Self.drain(answered, seconds: 5)
        #expect(kept.text.hasPrefix("HTTP/1.1 200") && kept.closed, "a keep-alive connection is answered, then closed when idle: \(kept.text)")
        let events = Self.drain(stream, seconds: 1.5)
        #expect(!events.closed && events.text.contains("text/event-stream") && events.text.contains("event: status"),
                "an event stream outlives the idle timeout: \(events.text.prefix(300))")
    }
}
