import Foundation
public import PaysignApplication
public import PaysignDomain
import PaysignSecrets
import PaysignStore
import PaysignAPI

/// An error as the API answers it: RFC 9457 problem details, `application/problem+json`.
///
/// `type` is stable per kind of error (`urn:paysign:problem:not-authorized`), so clients branch on
/// it; `title` is the short name of that type; `detail` is the one sentence about this occurrence.
/// `rule` names the domain rule a refusal enforces (D3, D9, …) when there is one.
public struct Problem: Error, Sendable, Codable, Hashable {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var instance: String?
    /// The Ministry's rule behind a refusal, written as its number (`"D3"`) on the wire.
    public var rule: RuleNumber?
    /// Every problem found in an uploaded order file, by line (`invalid-order`).
    public var violations: [Violation]?

    /// One problem of an order file: its line (nil for the file or the metadata), field, rule.
    public struct Violation: Sendable, Codable, Hashable {
        public var line: Int?
        public var field: String?
        public var rule: RuleNumber?
        public var message: String

        init(_ violation: PaysignDomain.Violation) {
            line = violation.line
            field = violation.field
            rule = violation.rule
            message = violation.message
        }
    }

    public init(_ kind: Kind, _ detail: String, rule: RuleNumber? = nil, instance: String? = nil) {
        self.type = "urn:paysign:problem:" + kind.name
        self.title = kind.title
        self.status = kind.status
        self.detail = detail
        self.rule = rule
        self.instance = instance
    }

    /// A use case's failure as the API answers it: its kind decides the type and status, its rule,
    /// sentence and an order file's violations go as they are. The one conversion of the type.
    public init(_ failure: UseCaseError) {
        self.init(Self.kind(of: failure.kind), failure.message, rule: failure.rule)
        if !failure.violations.isEmpty { violations = failure.violations.map(Violation.init) }
    }

    /// Whatever a route or the router's head check threw, as the API answers it: the one place
    /// every error type is mapped (a use case's failure, a rule's refusal, the registry's error, a
    /// PIN field that is not a PIN); anything else is the daemon's own failure.
    init(answering error: any Error) {
        switch error {
        case let problem as Problem: self = problem
        case let failure as UseCaseError: self.init(failure)
        case let refusal as RuleRefusal: self.init(refusal)
        case let error as StoreError: self.init(UseCaseError(error))
        case let error as PINFieldError: self.init(error)
        default: self.init(.internalError, "the daemon failed: \(error)")
        }
    }

    /// A refusal of the Ministry's rules (`RuleRefusal`), answered as the use case reports it.
    public init(_ refusal: RuleRefusal) {
        self.init(UseCaseError(refusal))
    }

    /// The problem type of a kind of use-case failure.
    static func kind(of kind: UseCaseError.Kind) -> Kind {
        switch kind {
        case .notFound: return .notFound
        case .conflict: return .conflict
        case .invalidField: return .invalidField
        case .invalidOrder: return .invalidOrder
        case .wrongState: return .wrongState
        case .ruleViolated: return .ruleViolated
        case .notAuthorized: return .notAuthorized
        case .wrongPIN: return .wrongPIN
        case .pinLocked: return .pinLocked
        case .tokenAbsent: return .tokenAbsent
        case .tokenFailed: return .tokenFailed
        case .unavailable: return .unavailable
        case .internalError: return .internalError
        }
    }

    /// The kinds of problem the API can answer, each with its HTTP status.
    public struct Kind: Sendable, Hashable {
        public let name: String
        public let title: String
        public let status: Int

        public static let notFound = Kind(name: "not-found", title: "No such resource", status: 404)
        public static let methodNotAllowed = Kind(name: "method-not-allowed", title: "Method not allowed", status: 405)
        public static let malformedRequest = Kind(name: "malformed-request", title: "Malformed request", status: 400)
        public static let invalidJSON = Kind(name: "invalid-json", title: "Invalid JSON", status: 400)
        public static let invalidField = Kind(name: "invalid-field", title: "Invalid field", status: 422)
        public static let unsupportedMediaType = Kind(name: "unsupported-media-type", title: "Unsupported media type", status: 415)
        public static let bodyTooLarge = Kind(name: "body-too-large", title: "Request body too large", status: 413)
        public static let notAuthorized = Kind(name: "not-authorized", title: "Not authorized", status: 403)
        public static let conflict = Kind(name: "conflict", title: "Conflict", status: 409)
        public static let invalidOrder = Kind(name: "invalid-order", title: "The order file breaks the rules", status: 422)
        public static let wrongState = Kind(name: "wrong-state", title: "The order is not in a state that allows this", status: 409)
        public static let idempotencyMismatch = Kind(name: "idempotency-key-reused", title: "Idempotency key reused", status: 422)
        public static let ruleViolated = Kind(name: "rule-violated", title: "A rule of the Ministry of Finance forbids this", status: 409)
        public static let wrongPIN = Kind(name: "wrong-pin", title: "Wrong PIN", status: 403)
        public static let pinLocked = Kind(name: "pin-locked", title: "PIN locked", status: 423)
        public static let tokenAbsent = Kind(name: "token-absent", title: "Token absent", status: 409)
        public static let tokenFailed = Kind(name: "token-failed", title: "Token failed", status: 502)
        public static let unavailable = Kind(name: "unavailable", title: "Service unavailable", status: 503)
        public static let internalError = Kind(name: "internal-error", title: "Internal error", status: 500)

        /// Every kind, each a type of the document's `Problem` (`ContractTests`).
        public static let all: [Kind] = [
            notFound, methodNotAllowed, malformedRequest, invalidJSON, invalidField, unsupportedMediaType, bodyTooLarge,
            notAuthorized, conflict, invalidOrder, wrongState, idempotencyMismatch, ruleViolated, wrongPIN, pinLocked,
            tokenAbsent, tokenFailed, unavailable, internalError,
        ]
    }

    /// The problem as the document describes it (`Components.Schemas.Problem`): a type the
    /// document does not list is answered as internal-error (`ContractTests` keeps them equal).
    var wire: Components.Schemas.Problem {
        Components.Schemas.Problem(
            _type: .init(rawValue: type) ?? .urn_colon_paysign_colon_problem_colon_internalError, title: title, status: status,
            detail: detail, instance: instance, rule: rule?.rawValue,
            violations: violations?.map { .init(line: $0.line, field: $0.field, rule: $0.rule?.rawValue, message: $0.message) })
    }

    var json: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(wire)) ?? Data("{\"status\":500}".utf8)
    }
}
