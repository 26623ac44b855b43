public import Foundation

/// Who may sign an order, at which step, with which token: the rules of the circular that bind
/// people (D2, D3, D5, D6, D9, D13), decided from registry facts alone, before a PIN reaches a
/// token. The daemon gathers the facts; this type says yes, or no with the rule and one sentence.
public struct SigningPolicy: Sendable {
    /// Refuse to sign with a PIN older than this many days (D5: the PIN is changed periodically);
    /// nil: no limit.
    public var maximumPINAgeDays: Int?
    /// Warn this many days before the limit.
    public var pinAgeWarningDays: Int

    public init(maximumPINAgeDays: Int? = nil, pinAgeWarningDays: Int = 14) {
        self.maximumPINAgeDays = maximumPINAgeDays
        self.pinAgeWarningDays = pinAgeWarningDays
    }

    /// What the daemon knows when a signature is asked for.
    public struct Request: Sendable {
        public var step: SignatureStep
        public var order: Order
        /// The operator the caller's Unix user maps to; nil when it maps to none.
        public var caller: Operator?
        /// The caller's Unix user name (for sentences), or a uid.
        public var callerName: String
        /// The registry's record of the token presented (by its serial), nil when unregistered.
        public var token: TokenRecord?
        /// The token's serial as the token reports it.
        public var tokenSerial: String
        /// SHA-256 of the certificate beside the key that would sign.
        public var certificateSHA256: SHA256Hex
        public var certificateNotBefore: Date
        public var certificateNotAfter: Date
        /// The file number the signer says they reviewed (D9); required for the second signature.
        public var fileNumber: FileNumber?
        /// The first signer's national ID, for a second signature (D2: a different person).
        public var firstSignerNationalID: String?
        public var now: Date

        public init(
            step: SignatureStep, order: Order, caller: Operator?, callerName: String, token: TokenRecord?,
            tokenSerial: String, certificateSHA256: SHA256Hex, certificateNotBefore: Date, certificateNotAfter: Date,
            fileNumber: FileNumber?, firstSignerNationalID: String?, now: Date
        ) {
            self.step = step
            self.order = order
            self.caller = caller
            self.callerName = callerName
            self.token = token
            self.tokenSerial = tokenSerial
            self.certificateSHA256 = certificateSHA256
            self.certificateNotBefore = certificateNotBefore
            self.certificateNotAfter = certificateNotAfter
            self.fileNumber = fileNumber
            self.firstSignerNationalID = firstSignerNationalID
            self.now = now
        }
    }

    /// Why a signature is refused.
    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable {
            /// The caller may not sign this (role, entity, token not theirs).
            case notAuthorized = "not-authorized"
            /// The order is not in the state this step needs.
            case wrongState = "wrong-state"
            /// The request breaks a rule (file number, same signer, certificate, PIN age).
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

    /// What the signer should know although the signature may go ahead.
    public struct Approval: Sendable, Hashable {
        public var warnings: [String]
    }

    /// The checks, in the order a person would want to hear about them: who you are, where the
    /// order stands, what you reviewed, whose token it is, and whether its certificate and PIN
    /// may still sign.
    public func check(_ r: Request) throws(Refusal) -> Approval {
        let order = r.order
        let role: Role = r.step == .first ? .firstSigner : .secondSigner
        let stepName = r.step == .first ? "first" : "second"

        // Who you are (D2, D3, D13).
        guard let caller = r.caller else {
            throw Refusal(.notAuthorized, .d13, "\(r.callerName) is not an operator in paysign's registry and cannot sign")
        }
        // A holder whose own token left service hears that first (D6): revoking it also took the
        // signing role away, and "no role" would hide why.
        if let token = r.token, token.holder == caller.id, token.state.isFinal || token.state == .suspended {
            let why = token.revocation.map { " (\($0.cause.rawValue), \($0.reason.rawValue))" } ?? ""
            throw Refusal(.ruleViolated, .d6, "the token \(r.tokenSerial) was \(token.state.rawValue) by the certification authority\(why); it cannot sign")
        }
        if caller.roles.contains(.dataEntry) {
            throw Refusal(.notAuthorized, .d13, "\(caller.unixUser) is data-entry staff; data entry never signs, whatever PIN or token it holds")
        }
        guard caller.roles.contains(role) else {
            throw Refusal(
                .notAuthorized, r.step == .first ? .d3 : .d2,
                "\(caller.unixUser) does not hold the \(role.rawValue) role; only \(r.step == .first ? "the entity's first-signature holders" : "the Ministry of Finance representative") apply the \(stepName) signature")
        }
        guard caller.entityCode == order.metadata.entityCode else {
            throw Refusal(
                .notAuthorized, .d3,
                "\(caller.unixUser) is a \(role.rawValue) of \(caller.entityCode.map { "entity '\($0)'" } ?? "no entity"), not of '\(order.metadata.entityCode)' whose order this is")
        }

        // Where the order stands (D2, D9).
        let needed = OrderState.before(r.step)
        guard order.state == needed else {
            switch (order.state, r.step) {
            case (.draft, _):
                throw Refusal(.wrongState, .d9, "order \(order.id) has not been reviewed; a reviewer confirms its file number before anyone signs")
            case (.reviewed, .second):
                throw Refusal(.wrongState, .d2, "order \(order.id) has no first signature yet; the second signature comes after the first")
            case (.firstSigned, .first):
                throw Refusal(.wrongState, .d2, "order \(order.id) already has its first signature")
            case (.payable, _):
                throw Refusal(.wrongState, .d2, "order \(order.id) already has both signatures")
            case (.rejected, _):
                throw Refusal(.wrongState, nil, "order \(order.id) was rejected\(order.rejectionReason.map { " (\($0))" } ?? ""); it cannot be signed")
            default:
                throw Refusal(.wrongState, nil, "order \(order.id) is \(order.state.rawValue); the \(stepName) signature needs it \(needed.rawValue)")
            }
        }

        // What you reviewed (D9).
        if let given = r.fileNumber {
            guard given == order.fileNumber else {
                throw Refusal(
                    .ruleViolated, .d9,
                    "the file number you reviewed, \(given.grouped), is not that of order \(order.id), \(order.fileNumber.grouped); do not sign a file you have not reviewed")
            }
        } else if r.step == .second {
            throw Refusal(
                .invalidField, .d9,
                "the second signer states the file number they reviewed (fileNumber); it is compared with the uploaded file's before signing")
        }

        // A different person (D2).
        if r.step == .second, let first = order.signature(.first) {
            if first.signer.operatorID == caller.id || first.signer.unixUser == caller.unixUser {
                throw Refusal(.ruleViolated, .d2, "\(caller.unixUser) applied the first signature of order \(order.id); the second is by a different person")
            }
            if let nationalID = r.firstSignerNationalID, nationalID == caller.nationalID {
                throw Refusal(.ruleViolated, .d2, "the first signature of order \(order.id) is by the same person (national ID) as \(caller.unixUser); the second is by a different person")
            }
            if first.certificateSHA256 == r.certificateSHA256 || first.tokenSerial == r.tokenSerial {
                throw Refusal(.ruleViolated, .d2, "the token \(r.tokenSerial) already applied the first signature of order \(order.id); the second is made with another person's key")
            }
        }

        // Whose token it is (D5, D13).
        guard let token = r.token else {
            throw Refusal(.notAuthorized, .d5, "the token \(r.tokenSerial) is not registered to anyone; the certification authority registers a token to its holder before it signs")
        }
        guard token.holder == caller.id else {
            throw Refusal(.notAuthorized, .d5, "the token \(r.tokenSerial) is not issued to \(caller.unixUser); a holder signs only with their own token, and knowing its PIN does not make it theirs")
        }
        guard token.certificates.contains(where: { $0.sha256 == r.certificateSHA256 }) else {
            throw Refusal(.notAuthorized, .d5, "the certificate on token \(r.tokenSerial) (\(r.certificateSHA256.hex.prefix(16))…) is not the one registered for it")
        }

        // Whether the authority lets the token sign (D6): only an active token does.
        switch token.state {
        case .active: break
        case .revoked, .surrendered:
            let why = token.revocation.map { " (\($0.cause.rawValue), \($0.reason.rawValue))" } ?? ""
            throw Refusal(.ruleViolated, .d6, "the token \(r.tokenSerial) was \(token.state.rawValue)\(why); it cannot sign")
        case .suspended:
            throw Refusal(.ruleViolated, .d6, "the token \(r.tokenSerial) is suspended by the certification authority; it signs again only once resumed")
        case .issued:
            throw Refusal(.ruleViolated, .d6, "the token \(r.tokenSerial) is issued but not yet activated by the certification authority")
        }

        // Whether the certificate may still sign (D6).
        if r.now > r.certificateNotAfter {
            throw Refusal(.ruleViolated, .d6, "the certificate on token \(r.tokenSerial) expired on \(Self.day(r.certificateNotAfter)); an expired certificate cannot sign")
        }
        if r.now < r.certificateNotBefore {
            throw Refusal(.ruleViolated, .d6, "the certificate on token \(r.tokenSerial) is not valid before \(Self.day(r.certificateNotBefore)); it cannot sign yet")
        }

        // Whether the PIN is fresh enough (D5).
        var warnings: [String] = []
        if let maximum = maximumPINAgeDays {
            let since = token.pinChangedAt ?? token.registeredAt
            let age = Int(r.now.timeIntervalSince(since) / 86_400)
            if age > maximum {
                throw Refusal(
                    .ruleViolated, .d5,
                    "the PIN of token \(r.tokenSerial) was last changed \(age) days ago, more than the \(maximum) allowed; change it (paysign pin change) before signing")
            }
            if age > maximum - pinAgeWarningDays {
                warnings.append("the PIN of token \(r.tokenSerial) is \(age) days old; change it within \(maximum - age) days (paysign pin change) or signing will be refused (D5)")
            }
        }
        return Approval(warnings: warnings)
    }

    static func day(_ date: Date) -> String {
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
        return CalendarDay(daysSince1970: days).description
    }
}
