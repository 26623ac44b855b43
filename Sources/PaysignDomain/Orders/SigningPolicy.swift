public import Foundation

/// Who may sign an order, at which step, with which token: the rules of the circular that bind
/// people (D2, D3, D5, D6, D9, D13), each a type of `Rules/`, composed here and decided from
/// registry facts alone. The daemon gathers the facts; this type says yes, or no with the rule and
/// one sentence.
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
        /// The certificate beside the key that would sign: its fingerprint, validity and the
        /// subject fields that say its role and entity (`CertificateRoleRule`).
        public var certificate: CertificateFacts
        /// The file number the signer says they reviewed (D9); required for the second signature.
        public var fileNumber: FileNumber?
        /// The first signer's national ID, for a second signature (D2: a different person).
        public var firstSignerNationalID: String?
        public var now: Date

        /// SHA-256 of the certificate (`certificate.sha256`, nil only if that is not a digest).
        public var certificateSHA256: SHA256Hex? { SHA256Hex(certificate.sha256) }

        public init(
            step: SignatureStep, order: Order, caller: Operator?, callerName: String, token: TokenRecord?,
            tokenSerial: String, certificate: CertificateFacts, fileNumber: FileNumber?, firstSignerNationalID: String?,
            now: Date
        ) {
            self.step = step
            self.order = order
            self.caller = caller
            self.callerName = callerName
            self.token = token
            self.tokenSerial = tokenSerial
            self.certificate = certificate
            self.fileNumber = fileNumber
            self.firstSignerNationalID = firstSignerNationalID
            self.now = now
        }
    }

    /// Why a signature is refused.
    public typealias Refusal = RuleRefusal

    /// What the signer should know although the signature may go ahead.
    public struct Approval: Sendable, Hashable {
        public var warnings: [String]
        /// Since when the token's PIN counts its age (D5), as the approval read it.
        public var pinSince: Date?
    }

    /// The rules that depend on the time alone, for an approval whose registry facts are known
    /// unchanged (`Registry.recordSignature` with an unchanged generation): the certificate's
    /// validity (D6) and the PIN's age (D5) at `now`.
    public func checkTime(certificate: CertificateFacts, pinSince: Date?, tokenSerial: String, now: Date) throws(Refusal) {
        try CertificateValidityRule.check(
            notBefore: certificate.notBefore, notAfter: certificate.notAfter, now: now, serial: tokenSerial)
        if let pinSince {
            _ = try PINAgeRule(maximumDays: maximumPINAgeDays, warningDays: pinAgeWarningDays)
                .check(since: pinSince, serial: tokenSerial, now: now)
        }
    }

    /// The rules, in the order a person would want to hear about them: who you are, where the
    /// order stands, what you reviewed, whose token it is, whether the authority lets it sign,
    /// whether its certificate is for this step, and whether certificate and PIN may still sign.
    /// Run twice for every signature: when the request arrives, before a PIN reaches the token,
    /// and again inside the write transaction that records it (`Registry.recordSignature`).
    public func check(_ r: Request) throws(Refusal) -> Approval {
        let order = r.order
        guard let certificateSHA256 = r.certificateSHA256 else {
            throw Refusal(.invalidField, nil, "the certificate on token \(r.tokenSerial) has no SHA-256 fingerprint")
        }
        // A holder whose own token left service hears that first (D6): revoking it also took the
        // signing role away, and "no role" would hide why.
        if let caller = r.caller, let token = r.token, token.holder == caller.id, token.state.isFinal || token.state == .suspended {
            try TokenInServiceRule.check(token, serial: r.tokenSerial)
        }
        // Who you are, and for whom (D2, D3, D13).
        let caller = try SignerRoleRule.check(r.caller, callerName: r.callerName, step: r.step)
        try ScopeRule.check(
            caller, entityCode: order.metadata.entityCode,
            doing: "is a \(SignerRoleRule.role(for: r.step).rawValue)", rule: .d3)
        // Where the order stands (D2, D9), what you reviewed (D9), a different person (D2).
        try OrderStateRule.checkSigning(order, step: r.step)
        try ReviewedFileNumberRule.check(r.fileNumber, order: order, step: r.step)
        try DistinctSignersRule.check(
            caller, order: order, step: r.step, firstSignerNationalID: r.firstSignerNationalID,
            tokenSerial: r.tokenSerial, certificateSHA256: certificateSHA256)
        // Whose token it is (D5, D13), and whether the authority lets it sign (D6).
        let token = try OwnTokenRule.check(r.token, caller: caller, tokenSerial: r.tokenSerial, certificateSHA256: certificateSHA256)
        try TokenInServiceRule.check(token, serial: r.tokenSerial)
        // Whether the certificate is for this step and entity (D2, D3, D13): the payment center
        // judges the same (`OrderVerification`'s roles check).
        if let finding = CertificateRoleRule.findings(
            who: caller.unixUser, act: "would sign", claimedRole: r.step.rawValue, certificate: r.certificate,
            entity: order.metadata.entityCode
        ).first {
            throw Refusal(.ruleViolated, finding.rule, finding.problem + "; the payment center would refuse the order")
        }
        guard DistinctSignersRule.namesPerson(r.certificate) else {
            throw Refusal(
                .ruleViolated, .d2,
                "the certificate on token \(r.tokenSerial) names no national ID (subject serialNumber), so the payment center could not tell the two signers apart")
        }
        // Whether the certificate and the PIN may still sign (D6, D5).
        try CertificateValidityRule.check(
            notBefore: r.certificate.notBefore, notAfter: r.certificate.notAfter, now: r.now, serial: r.tokenSerial)
        let warnings = try PINAgeRule(maximumDays: maximumPINAgeDays, warningDays: pinAgeWarningDays)
            .check(token, serial: r.tokenSerial, now: r.now)
        return Approval(warnings: warnings, pinSince: token.pinChangedAt ?? token.registeredAt)
    }
}
