/// Capped exponential backoff with jitter (SPEC.md §8.5): 100 ms doubling to 2 s, ±25 % (a peer that returns after a
/// partition is reached within seconds); 10 s after misbehaviour.
public struct Backoff: Sendable {
    public var initialMs: UInt64 = 100
    public var maxMs: UInt64 = 2_000
    public var misbehaviourMs: UInt64 = 10_000
    private(set) var currentMs: UInt64 = 0

    public init() {}

    /// The delay before the next attempt after a failure; `misbehaved` jumps to the cap.
    public mutating func next(misbehaved: Bool = false, random: inout some RandomNumberGenerator) -> UInt64 {
        currentMs = misbehaved ? misbehaviourMs : (currentMs == 0 ? initialMs : min(currentMs * 2, maxMs))
        let jitter = Double.random(in: 0.75...1.25, using: &random)
        return UInt64(Double(currentMs) * jitter)
    }

    /// A connection succeeded: start from the beginning next time.
    public mutating func reset() { currentMs = 0 }
}
