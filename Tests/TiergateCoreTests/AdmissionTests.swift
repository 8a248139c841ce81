import Testing
@testable import TiergateCore
import TiergateTestKit

/// Connection admission (SPEC.md §12.4) as a pure state machine: per-address limits, fair eviction when full,
/// short timeouts under load, per-key session caps, and aggregated logs.
struct AdmissionTests {
    static func control(max: Int = 8, perAddress: Int = 4) -> AdmissionControl {
        var c = AdmissionControl()
        c.maxPending = max
        c.maxPendingPerAddress = perAddress
        c.handshakeTimeoutMs = 5_000
        c.loadedHandshakeTimeoutMs = 1_000
        return c
    }

    @Test func oneAddressGetsItsShareAndNoMore() {
        var c = Self.control()
        for id in 1...4 { #expect(c.admit(id, address: "203.0.113.7", now: t0) != .refuse(.tooManyFromAddress)) }
        #expect(c.admit(5, address: "203.0.113.7", now: t0) == .refuse(.tooManyFromAddress))
        #expect(c.admit(6, address: "198.51.100.1", now: t0) == .accept(timeoutMs: 1_000), "half full: the short timeout")
        c.finished(1)
        c.finished(1)  // idempotent
        #expect(c.admit(7, address: "203.0.113.7", now: t0) != .refuse(.tooManyFromAddress), "a slot came back")
        #expect(c.refusedTotal[.perAddress] == 1)
    }

    /// When every slot is taken, a newcomer from a quieter address evicts the oldest handshake of the busiest
    /// address; a newcomer from the busiest address itself is refused.
    @Test func whenFullTheBusiestAddressMakesRoom() {
        var c = Self.control(max: 8, perAddress: 8)
        for id in 1...6 { _ = c.admit(id, address: "10.0.0.1", now: t0 + UInt64(id)) }
        _ = c.admit(7, address: "10.0.0.2", now: t0 + 7)
        _ = c.admit(8, address: "10.0.0.2", now: t0 + 8)
        #expect(c.pendingCount == 8)
        #expect(c.admit(9, address: "10.0.0.1", now: t0 + 9) == .refuse(.overloaded))
        #expect(c.admit(10, address: "10.0.0.3", now: t0 + 10) == .acceptEvicting(1, timeoutMs: 1_000), "the oldest of the busiest")
        #expect(c.admit(11, address: "10.0.0.3", now: t0 + 11) == .acceptEvicting(2, timeoutMs: 1_000))
        #expect(c.pendingCount == 8)
        #expect(c.refusedTotal[.evicted] == 2 && c.refusedTotal[.overloaded] == 1)
        // Evenly shared: nobody holds more than a newcomer would, so a newcomer is refused rather than evicting.
        var even = Self.control(max: 4, perAddress: 4)
        for (id, addr) in ["a", "b", "c", "d"].enumerated() { _ = even.admit(id, address: addr, now: t0) }
        #expect(even.admit(9, address: "e", now: t0) == .refuse(.overloaded))
    }

    @Test func handshakesExpireSoonerUnderLoad() {
        var c = Self.control(max: 8, perAddress: 8)
        _ = c.admit(1, address: "a", now: t0)
        #expect(c.expired(now: t0 + 2_000).isEmpty, "not under load: 5 s")
        #expect(c.expired(now: t0 + 5_000) == [1])
        for id in 2...6 { _ = c.admit(id, address: "a", now: t0 + 10_000) }
        #expect(c.underLoad)
        #expect(c.expired(now: t0 + 11_000) == [2, 3, 4, 5, 6], "under load: 1 s")
        #expect(c.pendingCount == 0 && c.refusedTotal[.timeout] == 6)
    }

    @Test func sessionsAreCappedPerKey() {
        var c = AdmissionControl()
        c.maxSessionsPerKey = 2
        let k = VectorKeys.key("alice").publicKey
        #expect(c.sessionRefusal(for: k) == nil)
        c.sessionOpened(k)
        c.sessionOpened(k)
        #expect(c.sessionRefusal(for: k)?.contains("per-key cap") == true)
        #expect(c.sessionRefusal(for: VectorKeys.key("bob").publicKey) == nil, "other keys are not affected")
        c.sessionClosed(k)
        #expect(c.sessionRefusal(for: k) == nil && c.sessionCount == 1)
    }

    /// One line at once when refusals start, then one line per address per interval, busiest first, at most
    /// `logAddresses` of them and a sum of the rest.
    @Test func refusalsAreLoggedInAggregate() {
        var c = Self.control(max: 1, perAddress: 1)
        c.logAddresses = 2
        _ = c.admit(0, address: "10.0.0.9", now: t0)
        for i in 1...1_283 { _ = c.admit(i, address: "203.0.113.7", now: t0 + UInt64(i)) }
        for i in 0..<5 { _ = c.admit(5_000 + i, address: "198.51.100.\(i)", now: t0 + 2_000) }
        #expect(c.takeFirstRefusalLine()?.contains("refused a connection from 203.0.113.7") == true)
        #expect(c.takeFirstRefusalLine() == nil)
        #expect(c.drainLog(now: t0 + 5_000).isEmpty, "the window is 10 s")
        let lines = c.drainLog(now: t0 + 10_500)
        #expect(lines.count == 3)
        #expect(lines[0] == "refused 1,283 connections from 203.0.113.7 in 10 s: 1,283 too many handshakes in progress")
        #expect(lines[2] == "refused 4 more connections from 4 other addresses in 10 s")
        #expect(c.drainLog(now: t0 + 30_000).isEmpty, "nothing new, nothing logged")
    }
}
