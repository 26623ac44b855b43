import Synchronization

/// Keeps a caller with no role from flooding the append-only journal with its own refusals: one
/// entry per Unix user and act a minute, the next one saying how many were left out. A caller with
/// a role is journaled every time (the attempt is evidence of what they tried).
///
/// Bounded: at most `capacity` callers and acts are remembered; past that, windows that ended are
/// dropped first, then the oldest.
final class RefusalThrottle: Sendable {
    struct Key: Hashable {
        var uid: UInt32
        var act: String
    }

    struct Window {
        var start: ContinuousClock.Instant
        var skipped: Int
    }

    private let windows = Mutex<[Key: Window]>([:])
    let interval: Duration
    let capacity: Int

    init(interval: Duration = .seconds(60), capacity: Int = 4096) {
        self.interval = interval
        self.capacity = capacity
    }

    /// Whether to journal this refusal now: nil when it is left out (and counted), else how many
    /// refusals of the same caller and act were left out before it.
    func admit(uid: UInt32, act: String, now: ContinuousClock.Instant = .now) -> Int? {
        let key = Key(uid: uid, act: act)
        return windows.withLock { windows -> Int? in
            if var window = windows[key], now - window.start < interval {
                window.skipped += 1
                windows[key] = window
                return nil
            }
            let skipped = windows[key]?.skipped ?? 0
            if windows[key] == nil && windows.count >= capacity {
                windows = windows.filter { now - $0.value.start < interval }
                if windows.count >= capacity, let oldest = windows.min(by: { $0.value.start < $1.value.start })?.key {
                    windows[oldest] = nil
                }
            }
            windows[key] = Window(start: now, skipped: 0)
            return skipped
        }
    }

    /// `reason`, with the count of refusals left out before it when there were some.
    static func reason(_ reason: String, skipped: Int) -> String {
        skipped == 0 ? reason : reason + " (\(skipped) more refusal\(skipped == 1 ? "" : "s") of this caller for this act in the minute before were not journaled)"
    }
}
