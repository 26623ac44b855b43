internal import CPaysignShims
import Foundation
import Logging
import Synchronization

/// How the threads that talk to tokens are scheduled (one per slot, `WorkerThread`).
///
/// A token signs one thing at a time and every signature waits for it, so its thread should get a
/// core the moment it has work: on a busy machine (a month-end batch verification, many requests
/// at once) the bookkeeping around signatures then waits, not the token. The daemon asks for a
/// nice value below the default for these threads (`nice`); the rest of the process keeps its own.
/// Linux allows it to a process with CAP_SYS_NICE or an RLIMIT_NICE that reaches that value
/// (paysignd.service sets `LimitNICE=`); where it is refused, the threads keep the default
/// priority and a notice says so once.
///
/// A new thread starts at the nice value of the thread that creates it, and a slot's thread wakes
/// tasks, which can make the thread pool start a thread. libdispatch sets each of its threads'
/// nice value from its quality of service when the thread starts (0 for the cooperative pool), so
/// no pool thread keeps the token's: `TokenThreadPriorityTests` checks it. paysign starts no other
/// thread from a slot's thread.
public enum TokenThreadPriority {
    private static let state = Mutex<(nice: Int32?, reported: Bool)>((nil, false))

    /// The nice value a slot's thread asks for when it starts (nil, the default: leave it).
    /// Threads already running keep theirs.
    public static var nice: Int32? {
        get { state.withLock { $0.nice } }
        set { state.withLock { $0.nice = newValue } }
    }

    /// Names the calling thread (ps, top and perf show it); at most 15 bytes are kept.
    static func name(_ name: String) {
        _ = name.withCString { CPaysignShims_set_thread_name($0) }
    }

    /// Asks for `nice` on the calling thread: true when it now runs at that value; false when none
    /// is set or it was refused (a refusal is logged once per process, at notice level, with
    /// `logger`; the thread then works at the default priority).
    static func raise(logger: Logger?) -> Bool {
        guard let nice else { return false }
        if CPaysignShims_set_thread_nice(nice) == 0 { return true }
        let reason = String(cString: strerror(errno))
        let first = state.withLock { value -> Bool in
            defer { value.reported = true }
            return !value.reported
        }
        if first {
            logger?.notice(
                "token threads keep the default priority: nice \(nice) was refused (\(reason)); allow it with LimitNICE=\(nice) and setpriority in SystemCallFilter=, as paysignd.service does")
        }
        return false
    }
}
