/// How the core runs independent iterations (signature checks of a batch): the core starts no threads of its
/// own, so whoever drives it passes a strategy in. `sequential` is the default and what the simulator uses;
/// TiergateStorage's `allCores` spreads the iterations over every core.
public struct ParallelFor: Sendable {
    public let run: @Sendable (_ iterations: Int, _ body: @Sendable (Int) -> Void) -> Void

    public init(_ run: @escaping @Sendable (_ iterations: Int, _ body: @Sendable (Int) -> Void) -> Void) {
        self.run = run
    }

    public static let sequential = ParallelFor { iterations, body in
        for i in 0..<iterations { body(i) }
    }

    /// Maps `items` through `transform` in `chunks` disjoint slices (run through this strategy); the result is
    /// in order and equal to `items.map(transform)`. `transform` must be safe to call from several threads.
    public func map<T, R>(_ items: [T], chunks: Int, placeholder: R, _ transform: (T) -> R) -> [R] {
        var out = [R](repeating: placeholder, count: items.count)
        guard !items.isEmpty else { return out }
        let n = max(1, min(chunks, items.count))
        let count = items.count
        out.withUnsafeMutableBufferPointer { buf in
            // Each iteration writes a disjoint slice of `buf`; `items` is only read.
            let slots = UncheckedSendable(buf.baseAddress!)
            let input = UncheckedSendable(items)
            withoutActuallyEscaping(transform) { t in
                let f = UncheckedSendable(t)
                run(n) { c in
                    for i in (c * count / n)..<((c + 1) * count / n) { (slots.value + i).pointee = f.value(input.value[i]) }
                }
            }
        }
        return out
    }
}

/// A value passed across threads where the caller guarantees disjoint or read-only access.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
