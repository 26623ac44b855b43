public import PaysignDomain
import PaysignOpenSSL
public import PaysignPKCS11
public import PaysignStore
import PaysignTokens

/// Why a use case did not happen: one sentence, its kind, the Ministry's rule when one forbids it,
/// and for an order file every problem by line. No HTTP here: the daemon turns a kind into a
/// problem type and status in one place (`Problem.init(_: UseCaseError)`), a command-line edge
/// would turn it into `paysign: …` and an exit code.
public struct UseCaseError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// Nothing by that name, or nothing the caller may see by that name.
        case notFound
        /// Another request holds what this one needs, or what it would create exists.
        case conflict
        /// A value of the request is not acceptable.
        case invalidField
        /// An uploaded order file breaks the order rules (`violations`).
        case invalidOrder
        /// The order is not in a state that allows the act.
        case wrongState
        /// A rule of the Ministry forbids the act.
        case ruleViolated
        /// The caller may not do this.
        case notAuthorized
        /// The token refused the PIN.
        case wrongPIN
        /// The PIN is locked, expired or on its final try (not tried).
        case pinLocked
        /// The token is not there (removed, never inserted, ambiguous).
        case tokenAbsent
        /// The token or its module failed.
        case tokenFailed
        /// This installation cannot do it (not configured for it).
        case unavailable
        /// paysign failed.
        case internalError
    }

    public var kind: Kind
    public var message: String
    public var rule: RuleNumber?
    /// Every problem of an uploaded order file (`invalidOrder`), by line.
    public var violations: [Violation]

    public init(_ kind: Kind, _ message: String, rule: RuleNumber? = nil, violations: [Violation] = []) {
        self.kind = kind
        self.message = message
        self.rule = rule
        self.violations = violations
    }

    /// A refusal of the Ministry's rules as a use case reports it: its kind, rule and sentence.
    public init(_ refusal: RuleRefusal) {
        let kind: Kind
        switch refusal.kind {
        case .notAuthorized: kind = .notAuthorized
        case .wrongState: kind = .wrongState
        case .ruleViolated: kind = .ruleViolated
        case .invalidField: kind = .invalidField
        }
        self.init(kind, refusal.message, rule: refusal.rule)
    }

    /// The registry's refusal as a use case reports it (one sentence, the rule). The one
    /// conversion of `StoreError`.
    public init(_ error: StoreError) {
        switch error.code {
        case .unknownOperator, .unknownToken, .unknownOrder: self.init(.notFound, error.message)
        case .invalidField, .unknownEntity: self.init(.invalidField, error.message, rule: error.rule)
        case .duplicate: self.init(.conflict, error.message)
        case .ruleViolated: self.init(.ruleViolated, error.message, rule: error.rule)
        case .wrongState: self.init(.wrongState, error.message, rule: error.rule)
        case .staleCRL: self.init(.conflict, error.message, rule: .d6)
        default: self.init(.internalError, error.message)
        }
    }

    /// Every violation of an order file, nothing stored; the rule when all name the same one.
    public static func invalidOrder(_ violations: [Violation]) -> UseCaseError {
        let rules = Set(violations.compactMap(\.rule))
        let common = rules.count == 1 && violations.allSatisfy({ $0.rule != nil }) ? rules.first : nil
        return UseCaseError(
            .invalidOrder, "the order file has \(violations.count) problem\(violations.count == 1 ? "" : "s"); nothing was stored",
            rule: common, violations: violations)
    }

    public var description: String { message }
}

/// Runs a registry call, its `StoreError` reported as a `UseCaseError` (a `RuleRefusal` passes
/// as it is: the caller journals it).
func withStore<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let error as StoreError { throw UseCaseError(error) }
}

/// What the token and paysign's token checks say, as a use case reports it. The one conversion of
/// `PKCS11Error`, `TokenError` and `CMSError`.
public enum TokenFailures {
    public static func error(for error: any Error) -> UseCaseError? {
        switch error {
        case let error as UseCaseError:
            return error
        case let error as PKCS11Error:
            switch error.code {
            case .pinIncorrect: return UseCaseError(.wrongPIN, error.message, rule: .d5)
            case .pinLocked, .pinFinalTry, .pinExpired: return UseCaseError(.pinLocked, error.message, rule: .d5)
            case .tokenNotFound, .ambiguousToken, .tokenRemoved, .sessionInvalid: return UseCaseError(.tokenAbsent, error.message)
            case .invalidURI: return UseCaseError(.invalidField, error.message)
            case .pinRequired, .pinInvalid: return UseCaseError(.invalidField, error.message)
            default: return UseCaseError(.tokenFailed, error.description)
            }
        case let error as TokenError:
            switch error.code {
            case .pinInURI: return UseCaseError(.invalidField, error.message, rule: .d5)
            case .certificateExpired, .certificateNotYetValid: return UseCaseError(.ruleViolated, error.message, rule: .d6)
            default: return UseCaseError(.tokenFailed, error.message)
            }
        case let error as CMSError:
            // The earlier signatures of an order say who may sign after them (D2): the wrapper
            // names no rule, the use case does.
            switch error.code {
            case .sameSigner, .contentMismatch, .orderUnproven, .previousSignatureInvalid:
                return UseCaseError(.ruleViolated, error.message, rule: .d2)
            default: return UseCaseError(.tokenFailed, error.message)
            }
        default:
            return nil
        }
    }

    /// The token failure, or `fallback` for an error that is not the token's.
    static func error(for error: any Error, otherwise fallback: @autoclosure () -> UseCaseError) -> UseCaseError {
        self.error(for: error) ?? fallback()
    }
}

/// A PKCS#11 URI given by a caller; one that carries a PIN is refused (D5: PINs travel only in the
/// fields made for them, and never come back in an answer).
public enum TokenURI {
    public static func parse(_ text: String) throws(UseCaseError) -> PKCS11URI {
        let uri: PKCS11URI
        do { uri = try PKCS11URI(text) } catch { throw TokenFailures.error(for: error, otherwise: UseCaseError(.invalidField, "\(error)")) }
        if uri.pinValue != nil || uri.pinSource != nil {
            throw UseCaseError(.invalidField, "the token URI carries a PIN (pin-value or pin-source); send the PIN only in its own field", rule: .d5)
        }
        return uri
    }
}
