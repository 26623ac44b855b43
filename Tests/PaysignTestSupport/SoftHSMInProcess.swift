public import Testing

/// The suites that load SoftHSM into the test process itself (not through a daemon) run one
/// after the other, never at the same time: SoftHSM's login state is per process and per token,
/// so one suite's logout would end another's login, and the fault seam is process-wide.
/// `@Suite(.softHSMInProcess)` on each such suite.
public struct SoftHSMInProcess: SuiteTrait, TestScoping {
    public var isRecursive: Bool { false }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        await Self.gate.enter()
        do {
            try await function()
        } catch {
            await Self.gate.leave()
            throw error
        }
        await Self.gate.leave()
    }

    static let gate = Gate()

    /// One holder at a time, waiters in arrival order.
    actor Gate {
        private var held = false
        private var waiting: [CheckedContinuation<Void, Never>] = []

        func enter() async {
            if !held {
                held = true
                return
            }
            await withCheckedContinuation { waiting.append($0) }
        }

        func leave() {
            if waiting.isEmpty {
                held = false
            } else {
                waiting.removeFirst().resume()
            }
        }
    }
}

extension Trait where Self == SoftHSMInProcess {
    /// The suite loads SoftHSM in the test process: no other such suite runs meanwhile.
    public static var softHSMInProcess: Self { Self() }
}
