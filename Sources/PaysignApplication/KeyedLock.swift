import Synchronization

/// Mutual exclusion per key (a token's serial), for async code: `withLock(key)` runs its body
/// when no other body holds the same key, in arrival order. A token is logged in for the whole
/// application (PKCS#11 2.40, 5.6), so two requests must never interleave login, sign and logout
/// on one token.
public final class KeyedLock: Sendable {
    public init() {}

    private struct State {
        var held: Set<String> = []
        var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]
    }
    private let state = Mutex(State())

    public func withLock<T: Sendable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await acquire(key)
        defer { release(key) }
        return try await body()
    }

    private func acquire(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if state.held.insert(key).inserted { return true }
                state.waiters[key, default: []].append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    private func release(_ key: String) {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if var queue = state.waiters[key], !queue.isEmpty {
                let first = queue.removeFirst()
                state.waiters[key] = queue.isEmpty ? nil : queue
                return first  // the key stays held, handed over
            }
            state.held.remove(key)
            return nil
        }
        next?.resume()
    }
}

/// A set of keys that are busy; `claim` fails at once instead of waiting (an order being signed,
/// an idempotency key being answered).
public final class BusySet: Sendable {
    public init() {}

    private let keys = Mutex<Set<String>>([])

    /// True when the key was free and is now claimed.
    public func claim(_ key: String) -> Bool { keys.withLock { $0.insert(key).inserted } }
    public func release(_ key: String) { _ = keys.withLock { $0.remove(key) } }
}
