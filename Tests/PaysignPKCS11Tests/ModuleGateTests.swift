import Foundation
import Testing

@testable import PaysignPKCS11

/// The gate that keeps a module's re-initialization apart from every call into the module.
@Suite("A module's re-initialization waits for calls in flight and holds new ones back")
struct ModuleGateTests {
    /// What ran, in order, from several threads.
    final class Trace: @unchecked Sendable {
        private let lock = NSLock()
        private var events: [String] = []  // guarded by lock
        func add(_ event: String) { lock.withLock { events.append(event) } }
        var all: [String] { lock.withLock { events } }
    }

    @Test("a job inside the module finishes before the re-initialization starts; a job that arrives meanwhile runs after it")
    func exclusiveWaitsForShared() async throws {
        let gate = ModuleGate()
        let worker = WorkerThread(name: "gate-test-token", gate: gate)
        let other = WorkerThread(name: "gate-test-other-token", gate: gate)
        defer {
            worker.shutdown()
            other.shutdown()
        }
        let trace = Trace()
        // A slow call on a token's thread (a PIN pad, a slow card).
        let slow = Task {
            try await worker.run {
                trace.add("call starts")
                Thread.sleep(forTimeInterval: 0.2)
                trace.add("call ends")
            }
        }
        while !trace.all.contains("call starts") { try await Task.sleep(for: .milliseconds(5)) }
        let reinit = Thread {
            gate.exclusive {
                trace.add("re-initialization starts")
                Thread.sleep(forTimeInterval: 0.1)
                trace.add("re-initialization ends")
            }
        }
        reinit.start()
        while !gate.exclusiveIsWaiting && !trace.all.contains("re-initialization starts") { try await Task.sleep(for: .milliseconds(5)) }
        // Another token's call arrives while the re-initialization waits: it goes after it.
        try await other.run { trace.add("later call") }
        try await slow.value
        #expect(trace.all == ["call starts", "call ends", "re-initialization starts", "re-initialization ends", "later call"])
    }
}
