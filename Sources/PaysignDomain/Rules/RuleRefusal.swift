/// Why an act is refused: the Ministry's rule it breaks (typed, `RuleNumber`), what kind of
/// refusal it is (so every edge answers it the same way), and one sentence for the person.
///
/// Every rule type of this folder throws or returns this; the daemon maps `kind` to problem
/// details in one place, the verifier to a failed check.
public struct RuleRefusal: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        /// The caller may not do this (role, scope, token not theirs).
        case notAuthorized = "not-authorized"
        /// The order is not in the state this act needs.
        case wrongState = "wrong-state"
        /// The act breaks a rule (file number, same signer, certificate, PIN age, cap).
        case ruleViolated = "rule-violated"
        /// A field is missing or malformed.
        case invalidField = "invalid-field"
    }

    public var kind: Kind
    public var rule: RuleNumber?
    public var message: String
    public var description: String { message }

    public init(_ kind: Kind, _ rule: RuleNumber?, _ message: String) {
        self.kind = kind
        self.rule = rule
        self.message = message
    }
}
