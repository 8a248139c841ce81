import Dispatch
import Foundation

extension Pipe {
    /// Reads this pipe and `other` to their ends at once (the other on a thread of its own), so that a child which
    /// fills one pipe while the caller waits on the other never blocks both.
    public func readBothToEnd(with other: Pipe) -> (Data, Data) {
        nonisolated(unsafe) var second = Data()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            second = other.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        let first = fileHandleForReading.readDataToEndOfFile()
        done.wait()
        return (first, second)
    }
}
