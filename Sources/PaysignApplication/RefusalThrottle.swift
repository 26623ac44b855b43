public import PaysignDomain
import Synchronization

/// Keeps a caller from flooding the append-only journal with its own refusals: one entry per Unix
/// user and act a minute (an act is a route's pattern, `GET /v1/orders/{id}`, or a kind of refusal,
/// never text the caller chose), the next one saying how many were left out. A window that ended
/// with refusals left out is handed back once (`Admission.ended`) so its count is journaled even
/// when the caller went quiet.
///
/// Bounded: at most `capacity` callers and acts are remembered; past that, the oldest window goes
/// (its count handed back too).
public final class RefusalThrottle: Sendable {
    struct Key: Hashable {
        var uid: UInt32
        var act: String
    }

    struct Window {
        var start: ContinuousClock.Instant
        var skipped: Int
        var user: String?
        var rule: RuleNumber?
    }

    /// A window that ended with refusals left out.
    public struct Ended: Sendable {
        public var uid: UInt32
        public var user: String?
        public var act: String
        public var skipped: Int
        /// The rule of the refusals left out, when they name one.
        public var rule: RuleNumber?
    }

    public struct Admission: Sendable {
        /// Nil: leave this refusal out (it is counted); else how many of the same caller and act
        /// were left out before it.
        public var journal: Int?
        /// Windows of any caller that ended with refusals left out, to journal now.
        public var ended: [Ended]
    }

    private let windows = Mutex<[Key: Window]>([:])
    let interval: Duration
    let capacity: Int

    public init(interval: Duration = .seconds(60), capacity: Int = 4096) {
        self.interval = interval
        self.capacity = capacity
    }

    /// Whether to journal this refusal now, and the windows that ended meanwhile with a count.
    public func admit(uid: UInt32, user: String?, act: String, rule: RuleNumber? = nil, now: ContinuousClock.Instant = .now) -> Admission {
        let key = Key(uid: uid, act: act)
        return windows.withLock { windows -> Admission in
            var ended: [Ended] = []
            func close(_ key: Key, _ window: Window) {
                if window.skipped > 0 {
                    ended.append(Ended(uid: key.uid, user: window.user, act: key.act, skipped: window.skipped, rule: window.rule))
                }
            }
            // Windows that ended hand their counts back once, and are forgotten.
            for (other, window) in windows where other != key && now - window.start >= interval {
                close(other, window)
                windows[other] = nil
            }
            if var window = windows[key], now - window.start < interval {
                window.skipped += 1
                windows[key] = window
                return Admission(journal: nil, ended: ended)
            }
            let skipped = windows[key]?.skipped ?? 0
            if windows[key] == nil, windows.count >= capacity,
                let oldest = windows.min(by: { $0.value.start < $1.value.start })
            {
                close(oldest.key, oldest.value)
                windows[oldest.key] = nil
            }
            windows[key] = Window(start: now, skipped: 0, user: user, rule: rule)
            return Admission(journal: skipped, ended: ended)
        }
    }

    /// The sentence for a window's refusals that were left out.
    public static func summary(_ ended: Ended) -> String {
        "\(ended.skipped) refusal\(ended.skipped == 1 ? "" : "s") of \(ended.user ?? "uid \(ended.uid)") for \(ended.act) within a minute were not journaled one by one"
    }

    /// Text a caller chose (a path, an entity code in a sentence) made fit for the journal's
    /// fields: control characters become `?`, and it is cut to `limit` characters, so the refusal
    /// it describes is always journaled.
    public static func journalText(_ text: String, limit: Int) -> String {
        let clean = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : $0 }))
        return clean.count <= limit ? clean : String(clean.prefix(limit - 1)) + "…"
    }

    /// `reason`, with the count of refusals left out before it when there were some.
    public static func reason(_ reason: String, skipped: Int) -> String {
        skipped == 0 ? reason : reason + " (\(skipped) more refusal\(skipped == 1 ? "" : "s") of this caller for this act within the minute before were not journaled)"
    }
}
