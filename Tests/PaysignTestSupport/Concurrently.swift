import Foundation
import Synchronization

/// Runs jobs on threads of their own at once (clients that block on sockets and processes), and
/// returns their results in the jobs' order; the first error is thrown once every job has ended.
public enum Concurrently {
    public static func run<T: Sendable>(_ jobs: [@Sendable () throws -> T]) throws -> [T] {
        let results = Mutex<[Int: Result<T, any Error>]>([:])
        let group = DispatchGroup()
        for (index, job) in jobs.enumerated() {
            group.enter()
            Thread {
                let result = Result { try job() }
                results.withLock { $0[index] = result }
                group.leave()
            }.start()
        }
        group.wait()
        return try (0..<jobs.count).map { index in try results.withLock { $0[index]! }.get() }
    }
}

/// Runs blocking work (a process waited for) on a thread of its own and awaits it, so a long
/// wait does not hold one of the cooperative pool's threads (two on a two-core machine) and delay
/// the timed checks of the suites running beside it. Expectations stay in the test's task.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Swift.Result { try body() }) }
        thread.stackSize = 4 << 20
        thread.start()
    }
}
