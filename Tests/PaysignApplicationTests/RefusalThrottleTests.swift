@testable import PaysignApplication
import Testing

/// The journal is not flooded by one caller's refusals (issue 15): one entry per caller and act a
/// minute, the next one counting those left out, and a window that ended hands its count back.
@Suite("RefusalThrottle")
struct RefusalThrottleTests {
    @Test("one refusal a minute per caller and act; the next counts those left out; other callers and acts apart")
    func window() {
        let throttle = RefusalThrottle(interval: .seconds(60), capacity: 16)
        let t0 = ContinuousClock.now
        #expect(throttle.admit(uid: 1000, user: "x", act: "GET /v1/orders/{id}", now: t0).journal == 0)
        for second in 1...9 {
            #expect(throttle.admit(uid: 1000, user: "x", act: "GET /v1/orders/{id}", now: t0 + .seconds(second)).journal == nil)
        }
        // Another act, another caller: journaled at once.
        #expect(throttle.admit(uid: 1000, user: "x", act: "POST /v1/orders", now: t0 + .seconds(10)).journal == 0)
        #expect(throttle.admit(uid: 1001, user: "y", act: "GET /v1/orders/{id}", now: t0 + .seconds(10)).journal == 0)
        // A minute on: journaled again, with the 9 left out.
        #expect(throttle.admit(uid: 1000, user: "x", act: "GET /v1/orders/{id}", now: t0 + .seconds(61)).journal == 9)
    }

    @Test("a window that ended with refusals left out hands its count back once, even when its caller went quiet")
    func endedWindows() {
        let throttle = RefusalThrottle(interval: .seconds(60), capacity: 16)
        let t0 = ContinuousClock.now
        _ = throttle.admit(uid: 1000, user: "x", act: "a", now: t0)
        for _ in 0..<5 { _ = throttle.admit(uid: 1000, user: "x", act: "a", now: t0 + .seconds(1)) }
        // Someone else's refusal two minutes later closes x's window.
        let later = throttle.admit(uid: 1001, user: "y", act: "b", now: t0 + .seconds(120))
        #expect(later.ended.count == 1)
        #expect(later.ended.first?.skipped == 5)
        #expect(later.ended.first.map(RefusalThrottle.summary) == "5 refusals of x for a within a minute were not journaled one by one")
        #expect(throttle.admit(uid: 1001, user: "y", act: "c", now: t0 + .seconds(121)).ended.isEmpty, "handed back once")
    }

    @Test("bounded: past its capacity the oldest window goes, its count handed back")
    func capacity() {
        let throttle = RefusalThrottle(interval: .seconds(60), capacity: 4)
        let t0 = ContinuousClock.now
        _ = throttle.admit(uid: 1, user: nil, act: "a", now: t0)
        _ = throttle.admit(uid: 1, user: nil, act: "a", now: t0 + .milliseconds(1))
        for uid in 2...4 { _ = throttle.admit(uid: UInt32(uid), user: nil, act: "a", now: t0 + .milliseconds(2)) }
        let fifth = throttle.admit(uid: 5, user: nil, act: "a", now: t0 + .milliseconds(3))
        #expect(fifth.journal == 0)
        #expect(fifth.ended.map(\.uid) == [1])
        #expect(fifth.ended.first?.skipped == 1)
    }
}

extension RefusalThrottleTests {
    @Test("text a caller chose fits the journal: control characters replaced, cut to the field's length")
    func journalText() {
        #expect(RefusalThrottle.journalText("entity 'EG\n01\u{7}'", limit: 100) == "entity 'EG?01?'")
        let long = RefusalThrottle.journalText("DELETE /v1/holders/" + String(repeating: "x", count: 300), limit: 200)
        #expect(long.count == 200)
        #expect(long.hasSuffix("…"))
    }
}
