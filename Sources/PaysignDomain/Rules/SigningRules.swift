public import Foundation

// The rules a signature on an order must meet, one type each, composed by `SigningPolicy` in the
// order a person wants to hear about them. Each is pure: registry facts in, `RuleRefusal` out.

/// D2, D3, D13: the caller is an operator holding the step's role; data entry never signs.
public enum SignerRoleRule {
    public static func role(for step: SignatureStep) -> Role { step == .first ? .firstSigner : .secondSigner }

    public static func check(_ caller: Operator?, callerName: String, step: SignatureStep) throws(RuleRefusal) -> Operator {
        guard let caller else {
            throw RuleRefusal(.notAuthorized, .d13, "\(callerName) is not an operator in paysign's registry and cannot sign")
        }
        if caller.roles.contains(.dataEntry) {
            throw RuleRefusal(.notAuthorized, .d13, "\(caller.unixUser) is data-entry staff; data entry never signs, whatever PIN or token it holds")
        }
        let role = role(for: step)
        guard caller.roles.contains(role) else {
            throw RuleRefusal(
                .notAuthorized, step == .first ? .d3 : .d2,
                "\(caller.unixUser) does not hold the \(role.rawValue) role; only \(step == .first ? "the entity's first-signature holders" : "the Ministry of Finance representative") apply the \(step.rawValue) signature")
        }
        return caller
    }
}

/// D2, D9: the order's state allows the act (`OrderState`'s transitions): a first signature on a
/// reviewed order, a second on a first-signed one.
public enum OrderStateRule {
    public static func checkSigning(_ order: Order, step: SignatureStep) throws(RuleRefusal) {
        let needed = OrderState.before(step)
        guard order.state != needed else { return }
        switch (order.state, step) {
        case (.draft, _):
            throw RuleRefusal(.wrongState, .d9, "order \(order.id) has not been reviewed; a reviewer confirms its file number before anyone signs")
        case (.reviewed, .second):
            throw RuleRefusal(.wrongState, .d2, "order \(order.id) has no first signature yet; the second signature comes after the first")
        case (.firstSigned, .first):
            throw RuleRefusal(.wrongState, .d2, "order \(order.id) already has its first signature")
        case (.payable, _):
            throw RuleRefusal(.wrongState, .d2, "order \(order.id) already has both signatures")
        case (.rejected, _):
            throw RuleRefusal(.wrongState, nil, "order \(order.id) was rejected\(order.rejectionReason.map { " (\($0))" } ?? ""); it cannot be signed")
        default:
            throw RuleRefusal(.wrongState, nil, "order \(order.id) is \(order.state.rawValue); the \(step.rawValue) signature needs it \(needed.rawValue)")
        }
    }
}

/// D9: the signer states the file number they reviewed, and it is the order's; the second signer
/// must state it.
public enum ReviewedFileNumberRule {
    public static func check(_ given: FileNumber?, order: Order, step: SignatureStep) throws(RuleRefusal) {
        if let given {
            guard given == order.fileNumber else {
                throw RuleRefusal(
                    .ruleViolated, .d9,
                    "the file number you reviewed, \(given.grouped), is not that of order \(order.id), \(order.fileNumber.grouped); do not sign a file you have not reviewed")
            }
        } else if step == .second {
            throw RuleRefusal(
                .invalidField, .d9,
                "the second signer states the file number they reviewed (fileNumber); it is compared with the uploaded file's before signing")
        }
    }
}

/// D2: the second signature is by a different person than the first: another operator, Unix
/// user, national ID, token and certificate.
public enum DistinctSignersRule {
    /// Whether a certificate names its holder's national ID (subject serialNumber): without one the
    /// signers of an order cannot be told apart, and the payment center fails the order. The
    /// daemon refuses to sign with such a certificate; the verifier's distinct-signers check fails.
    public static func namesPerson(_ certificate: CertificateFacts) -> Bool {
        !(certificate.nationalID?.isEmpty ?? true)
    }

    public static func check(
        _ caller: Operator, order: Order, step: SignatureStep, firstSignerNationalID: String?, tokenSerial: String,
        certificateSHA256: SHA256Hex
    ) throws(RuleRefusal) {
        guard step == .second, let first = order.signature(.first) else { return }
        if first.signer.operatorID == caller.id || first.signer.unixUser == caller.unixUser {
            throw RuleRefusal(.ruleViolated, .d2, "\(caller.unixUser) applied the first signature of order \(order.id); the second is by a different person")
        }
        if let firstSignerNationalID, firstSignerNationalID == caller.nationalID {
            throw RuleRefusal(.ruleViolated, .d2, "the first signature of order \(order.id) is by the same person (national ID) as \(caller.unixUser); the second is by a different person")
        }
        if first.certificateSHA256 == certificateSHA256 || first.tokenSerial == tokenSerial {
            throw RuleRefusal(.ruleViolated, .d2, "the token \(tokenSerial) already applied the first signature of order \(order.id); the second is made with another person's key")
        }
    }
}

/// D5, D13: a holder signs only with the token the authority registered to them, and with the
/// certificate registered for it.
public enum OwnTokenRule {
    public static func check(_ token: TokenRecord?, caller: Operator, tokenSerial: String, certificateSHA256: SHA256Hex) throws(RuleRefusal) -> TokenRecord {
        guard let token else {
            throw RuleRefusal(.notAuthorized, .d5, "the token \(tokenSerial) is not registered to anyone; the certification authority registers a token to its holder before it signs")
        }
        guard token.holder == caller.id else {
            throw RuleRefusal(.notAuthorized, .d5, "the token \(tokenSerial) is not issued to \(caller.unixUser); a holder signs only with their own token, and knowing its PIN does not make it theirs")
        }
        guard token.certificates.contains(where: { $0.sha256 == certificateSHA256 }) else {
            throw RuleRefusal(.notAuthorized, .d5, "the certificate on token \(tokenSerial) (\(certificateSHA256.hex.prefix(16))…) is not the one registered for it")
        }
        return token
    }
}

/// D6: only a token the certification authority holds active signs.
public enum TokenInServiceRule {
    public static func check(_ token: TokenRecord, serial: String) throws(RuleRefusal) {
        switch token.state {
        case .active: return
        case .revoked, .surrendered:
            let why = token.revocation.map { " (\($0.cause.rawValue), \($0.reason.rawValue))" } ?? ""
            throw RuleRefusal(.ruleViolated, .d6, "the token \(serial) was \(token.state.rawValue)\(why); it cannot sign")
        case .suspended:
            throw RuleRefusal(.ruleViolated, .d6, "the token \(serial) is suspended by the certification authority; it signs again only once resumed")
        case .issued:
            throw RuleRefusal(.ruleViolated, .d6, "the token \(serial) is issued but not yet activated by the certification authority")
        }
    }
}

/// D6: a certificate signs only within its validity.
public enum CertificateValidityRule {
    public static func check(notBefore: Date, notAfter: Date, now: Date, serial: String) throws(RuleRefusal) {
        if now > notAfter {
            throw RuleRefusal(.ruleViolated, .d6, "the certificate on token \(serial) expired on \(day(notAfter)); an expired certificate cannot sign")
        }
        if now < notBefore {
            throw RuleRefusal(.ruleViolated, .d6, "the certificate on token \(serial) is not valid before \(day(notBefore)); it cannot sign yet")
        }
    }

    static func day(_ date: Date) -> String {
        let days = Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
        return CalendarDay(daysSince1970: days).description
    }
}

/// D5: the PIN that goes with the signing key is changed periodically. Refuses a PIN older than
/// `maximumDays`; warns `warningDays` before.
public struct PINAgeRule: Sendable, Hashable {
    public var maximumDays: Int?
    public var warningDays: Int

    public init(maximumDays: Int?, warningDays: Int) {
        self.maximumDays = maximumDays
        self.warningDays = warningDays
    }

    /// The warnings to give, or the refusal.
    public func check(_ token: TokenRecord, serial: String, now: Date) throws(RuleRefusal) -> [String] {
        try check(since: token.pinChangedAt ?? token.registeredAt, serial: serial, now: now)
    }

    /// The same, from the time the PIN's age counts from.
    public func check(since: Date, serial: String, now: Date) throws(RuleRefusal) -> [String] {
        guard let maximum = maximumDays else { return [] }
        let age = Int(now.timeIntervalSince(since) / 86_400)
        if age > maximum {
            throw RuleRefusal(
                .ruleViolated, .d5,
                "the PIN of token \(serial) was last changed \(age) days ago, more than the \(maximum) allowed; change it (paysign pin change) before signing")
        }
        if age > maximum - warningDays {
            return ["the PIN of token \(serial) is \(age) days old; change it within \(maximum - age) days (paysign pin change) or signing will be refused (D5)"]
        }
        return []
    }
}
