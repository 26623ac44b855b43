import Foundation

/// A debug-only seam under the PKCS#11 calls, to test what hardware makes hard to produce:
/// a token pulled out mid-sign (`CKR_DEVICE_REMOVED`), a locked PIN (`CKR_PIN_LOCKED`), a
/// misbehaving token (`CKR_GENERAL_ERROR`), a PIN on its final try.
///
/// Release builds compile it out. In debug builds rules come from `install(_:)` or from the
/// environment variable `PAYSIGN_PKCS11_FAULTS`, a comma-separated list such as
/// `C_Sign=CKR_DEVICE_REMOVED@2x1` (the third C_Sign fails, once) or `C_GetTokenInfo+final-try`.
public enum FaultSeam {
    /// One injected fault.
    public struct Rule: Sendable, Hashable {
        /// The PKCS#11 function, e.g. `C_Sign`.
        public var function: String
        /// The return value to give instead of the token's; nil to pass the call through.
        public var returnValue: ReturnValue?
        /// When true the real call is made first and its result replaced (the token's state
        /// moves on, as when hardware fails after doing the work); when false it is not made.
        public var callThrough: Bool
        /// Token flags to add to `C_GetTokenInfo` answers (`PINState` bits, e.g. final try).
        public var addPINState: PINState
        /// Matching calls to let through before the rule fires.
        public var skip: Int
        /// How many times it fires; nil for every matching call.
        public var times: Int?
        /// Milliseconds to wait before each matching call (a slow token: `C_Sign~30`); the call
        /// then goes through.
        public var delayMilliseconds: Int
        /// For `C_GetMechanismList`: the only mechanisms the token seems to offer (a token that
        /// offers less than SoftHSM: `C_GetMechanismList:only=CKM_RSA_PKCS|CKM_ECDSA`).
        public var onlyMechanisms: Set<UInt>?

        public init(
            function: String, returnValue: ReturnValue? = nil, callThrough: Bool = false,
            addPINState: PINState = [], skip: Int = 0, times: Int? = nil, delayMilliseconds: Int = 0
        ) {
            self.delayMilliseconds = delayMilliseconds
            self.function = function
            self.returnValue = returnValue
            self.callThrough = callThrough
            self.addPINState = addPINState
            self.skip = skip
            self.times = times
        }
    }

    #if DEBUG
    private final class State: @unchecked Sendable {
        // Guarded by `lock`.
        let lock = NSLock()
        var rules: [(rule: Rule, seen: Int, fired: Int)] = []
        var counts: [String: Int] = [:]
        init() {
            if let text = ProcessInfo.processInfo.environment["PAYSIGN_PKCS11_FAULTS"] {
                rules = FaultSeam.parse(text).map { ($0, 0, 0) }
            }
        }
    }
    private static let state = State()
    #endif

    /// Replaces the active rules (debug builds; release builds ignore it).
    public static func install(_ rules: [Rule]) {
        #if DEBUG
        state.lock.lock()
        state.rules = rules.map { ($0, 0, 0) }
        state.counts = [:]
        state.lock.unlock()
        #endif
    }

    /// Removes every rule.
    public static func reset() { install([]) }

    /// True in builds that carry the seam.
    public static var isAvailable: Bool {
        #if DEBUG
        return true
        #else
        return false
        #endif
    }

    /// Parses `C_Sign=CKR_DEVICE_REMOVED@2x1,C_Login=CKR_PIN_LOCKED,C_GetTokenInfo+final-try`.
    /// `!` after the return value makes the call go through first (`C_Sign=CKR_GENERAL_ERROR!`);
    /// `C_Sign~30` waits 30 ms before every C_Sign (a slow token), then makes it.
    public static func parse(_ text: String) -> [Rule] {
        text.split(separator: ",").compactMap { item -> Rule? in
            var spec = Substring(item.trimmingCharacters(in: .whitespaces))
            if let colon = spec.range(of: ":only=") {
                var only: Set<UInt> = []
                for name in spec[colon.upperBound...].split(separator: "|") {
                    guard let type = MechanismNames.type(named: String(name)) else { return nil }
                    only.insert(type)
                }
                var rule = Rule(function: String(spec[..<colon.lowerBound]))
                rule.onlyMechanisms = only
                return rule
            }
            if let tilde = spec.firstIndex(of: "~") {
                guard let ms = Int(spec[spec.index(after: tilde)...]), ms > 0, ms <= 10_000 else { return nil }
                return Rule(function: String(spec[..<tilde]), delayMilliseconds: ms)
            }
            var times: Int?
            var skip = 0
            if let x = spec.lastIndex(of: "x"), let n = Int(spec[spec.index(after: x)...]), spec[..<x].contains("@") {
                times = n
                spec = spec[..<x]
            }
            if let at = spec.lastIndex(of: "@"), let n = Int(spec[spec.index(after: at)...]) {
                skip = n
                spec = spec[..<at]
            }
            if let plus = spec.firstIndex(of: "+") {
                let flag = spec[spec.index(after: plus)...]
                let state: PINState
                switch flag {
                case "final-try": state = [.countLow, .finalTry]
                case "count-low": state = [.countLow]
                case "locked": state = [.locked]
                case "to-be-changed": state = [.toBeChanged]
                default: return nil
                }
                return Rule(function: String(spec[..<plus]), addPINState: state, skip: skip, times: times)
            }
            guard let eq = spec.firstIndex(of: "=") else { return nil }
            var name = spec[spec.index(after: eq)...]
            let through = name.hasSuffix("!")
            if through { name = name.dropLast() }
            guard let rv = ReturnValue(name: String(name)) else { return nil }
            return Rule(function: String(spec[..<eq]), returnValue: rv, callThrough: through, skip: skip, times: times)
        }
    }

    /// How many times `function` reached the seam since the last `install`/`reset` (debug builds):
    /// lets tests prove, for instance, that a wrong PIN led to exactly one `C_Login`.
    public static func calls(to function: String) -> Int {
        #if DEBUG
        state.lock.lock()
        defer { state.lock.unlock() }
        return state.counts[function, default: 0]
        #else
        return 0
        #endif
    }

    /// Runs one PKCS#11 call through the seam.
    @inline(__always)
    static func call(_ function: StaticString, _ body: () -> UInt) -> UInt {
        #if DEBUG
        count(function)
        if let delay = delay(function) { usleep(useconds_t(delay) * 1000) }
        if let rule = fire(function, wantsReturnValue: true), let rv = rule.returnValue {
            if rule.callThrough { _ = body() }
            return rv.rawValue
        }
        #endif
        return body()
    }

    /// PIN-state bits to add to a `C_GetTokenInfo` answer.
    /// The mechanisms a token offers, less those a rule hides (debug builds).
    static func offered(_ types: [UInt]) -> [UInt] {
        #if DEBUG
        state.lock.lock()
        let only = state.rules.compactMap { $0.rule.function == "C_GetMechanismList" ? $0.rule.onlyMechanisms : nil }.first
        state.lock.unlock()
        guard let only else { return types }
        return types.filter(only.contains)
        #else
        return types
        #endif
    }

    static func extraPINState() -> PINState {
        #if DEBUG
        return fire("C_GetTokenInfo", wantsReturnValue: false)?.addPINState ?? []
        #else
        return []
        #endif
    }

    #if DEBUG
    private static func count(_ function: StaticString) {
        state.lock.lock()
        state.counts[function.description, default: 0] += 1
        state.lock.unlock()
    }

    /// The milliseconds a delay rule asks to wait before `function`, if one does.
    private static func delay(_ function: StaticString) -> Int? {
        state.lock.lock()
        defer { state.lock.unlock() }
        guard !state.rules.isEmpty else { return nil }
        let name = function.description
        return state.rules.first { $0.rule.function == name && $0.rule.delayMilliseconds > 0 }?.rule.delayMilliseconds
    }

    private static func fire(_ function: StaticString, wantsReturnValue: Bool) -> Rule? {
        state.lock.lock()
        defer { state.lock.unlock() }
        guard !state.rules.isEmpty else { return nil }
        let name = function.description
        for i in state.rules.indices {
            let rule = state.rules[i].rule
            guard rule.function == name, rule.delayMilliseconds == 0, (rule.returnValue != nil) == wantsReturnValue else { continue }
            state.rules[i].seen += 1
            guard state.rules[i].seen > rule.skip else { continue }
            if let times = rule.times, state.rules[i].fired >= times { continue }
            state.rules[i].fired += 1
            return rule
        }
        return nil
    }
    #endif
}
