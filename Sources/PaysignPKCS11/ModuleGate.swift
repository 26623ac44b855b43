import Foundation

/// Keeps a module's re-initialization (`C_Finalize` + `C_Initialize`) apart from every other call
/// into that module.
///
/// Every job on a token's thread runs as a `shared` holder, so tokens of one module still work side
/// by side; a re-initialization is `exclusive`: it waits until no job is inside a C call on the
/// module, and jobs that arrive meanwhile wait until it is done (a waiting re-initialization goes
/// before them, so a stream of requests cannot starve it).
final class ModuleGate: @unchecked Sendable {
    // `active`, `exclusiveHeld` and `exclusiveWaiting` are guarded by `condition`.
    private let condition = NSCondition()
    private var active = 0
    private var exclusiveHeld = false
    private var exclusiveWaiting = 0

    /// Runs `body` beside other shared holders, never during an exclusive one.
    func shared<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        while exclusiveHeld || exclusiveWaiting > 0 { condition.wait() }
        active += 1
        condition.unlock()
        defer {
            condition.lock()
            active -= 1
            if active == 0 { condition.broadcast() }
            condition.unlock()
        }
        return try body()
    }

    /// True while a re-initialization waits for shared holders to leave (for tests).
    var exclusiveIsWaiting: Bool {
        condition.lock()
        defer { condition.unlock() }
        return exclusiveWaiting > 0
    }

    /// Runs `body` once no shared holder is inside it, and keeps new ones out until it returns.
    func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        exclusiveWaiting += 1
        while exclusiveHeld || active > 0 { condition.wait() }
        exclusiveWaiting -= 1
        exclusiveHeld = true
        condition.unlock()
        defer {
            condition.lock()
            exclusiveHeld = false
            condition.broadcast()
            condition.unlock()
        }
        return try body()
    }
}
