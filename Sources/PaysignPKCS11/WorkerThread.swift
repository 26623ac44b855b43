import Foundation
import Logging

/// A dedicated thread that runs blocking C calls one after another.
///
/// PKCS#11 calls (`C_Login`, `C_Sign`, …) can block for seconds on a real token or a PIN pad.
/// They never run on Swift's cooperative thread pool: each token gets one of these threads, which
/// also serializes that token's operations. Jobs run in submission order. A token's thread runs
/// each job as a shared holder of its module's gate, so that the module is never re-initialized
/// while one of them is inside a C call (`PKCS11Module.reinitialize`).
final class WorkerThread: @unchecked Sendable {
    // `jobs` and `stopped` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var stopped = false
    private let finished = DispatchSemaphore(value: 0)
    private var thread: Thread?
    private let gate: ModuleGate?

    /// - Parameter prioritized: a slot's thread, which asks for `TokenThreadPriority.nice` when
    ///   it starts (logging a refusal once with `logger`).
    init(name: String, gate: ModuleGate? = nil, prioritized: Bool = false, logger: Logger? = nil) {
        self.gate = gate
        let thread = Thread { [self] in
            TokenThreadPriority.name(name)
            if prioritized { _ = TokenThreadPriority.raise(logger: logger) }
            self.loop()
            self.finished.signal()
        }
        self.thread = thread
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    private func loop() {
        while true {
            condition.lock()
            while head == jobs.count && !stopped { condition.wait() }
            if head == jobs.count && stopped {
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on the thread and returns its result to the caller's task.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = post { continuation.resume(with: Result(catching: body)) }
            if !accepted {
                continuation.resume(throwing: PKCS11Error(.cancelled, "the token worker has shut down"))
            }
        }
    }

    /// Runs `body` on the thread and blocks the calling thread until it is done
    /// (for synchronous callers that are not on the cooperative pool, such as the benchmarks).
    func runBlocking<T>(_ body: @escaping () throws -> T) throws -> T {
        let box = UnsafeTransfer(body)
        nonisolated(unsafe) var result: Result<T, any Error>?
        let done = DispatchSemaphore(value: 0)
        let accepted = post {
            result = Result(catching: box.value)
            done.signal()
        }
        guard accepted else { throw PKCS11Error(.cancelled, "the token worker has shut down") }
        done.wait()
        return try result!.get()
    }

    /// Queues `job` without waiting for it; false when the thread has shut down.
    @discardableResult
    func post(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !stopped else { return false }
        if let gate {
            jobs.append { gate.shared(job) }
        } else {
            jobs.append(job)
        }
        condition.signal()
        return true
    }

    /// Lets queued jobs finish, ends the thread and waits for it (unless called from the thread
    /// itself), so that nothing runs after the module it calls into is finalized.
    func shutdown() {
        condition.lock()
        let first = !stopped
        stopped = true
        condition.signal()
        condition.unlock()
        if first && Thread.current !== thread { finished.wait() }
        thread = nil
    }
}

/// Moves a non-Sendable value to a thread that the caller waits for.
struct UnsafeTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
