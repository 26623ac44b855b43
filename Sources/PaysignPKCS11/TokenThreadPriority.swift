internal import CPaysignShims
import Foundation
import Logging
import Synchronization

/// How the threads that talk to tokens are scheduled (one per slot, `WorkerThread`).
///
/// A token signs one thing at a time and every signature waits for it, so its thread should get a
/// core the moment it has work: on a busy machine (a month-end batch verification, many requests
/// at once) the bookkeeping around signatures then waits, not the token. The daemon asks for a
/// nice value below the default for these threads (`nice`); the rest of the process keeps the
/// default. Linux allows it to a process with CAP_SYS_NICE or an RLIMIT_NICE that reaches that
/// value (paysignd.service sets `LimitNICE=`); where it is refused, the threads keep the default
/// priority and a notice says so once.
public enum TokenThreadPriority {
    private static let state = Mutex<(nice: Int32?, reported: Bool)>((nil, false))

    /// The nice value each slot's thread asks for when it starts (nil, the default: leave it).
    /// Threads already running keep theirs.
    public static var nice: Int32? {
        get { state.withLock { $0.nice } }
        set { state.withLock { $0.nice = newValue } }
    }

    /// Called on a new slot thread: names it and asks for `nice`. A refusal is logged once per
    /// process (at notice level) and otherwise ignored: the thread works at the default priority.
    static func apply(name: String, logger: Logger?) {
        _ = name.withCString { CPaysignShims_set_thread_name($0) }
        guard let nice = nice else { return }
        guard CPaysignShims_set_thread_nice(nice) != 0 else { return }
        let reason = String(cString: strerror(errno))
        let first = state.withLock { value -> Bool in
            defer { value.reported = true }
            return !value.reported
        }
        if first {
            logger?.notice(
                "token threads keep the default priority: nice \(nice) was refused (\(reason)); allow it with LimitNICE=\(nice) (and setpriority in SystemCallFilter=), as paysignd.service does")
        }
    }
}
