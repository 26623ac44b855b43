/// Who may open a link to the payment center (rule D8: files between the accounting units and the
/// e-payment center travel over a direct link, protected under the government certification
/// authority's systems). Decided at the TLS handshake, before any byte of a request is read, from
/// facts the certificate layer gathered; the same decision for every node of the center.
///
/// A client certificate is accepted when
/// - it chains to the center's trust anchors and is not listed in the revocation list the center
///   holds for its issuer (a certificate whose issuer has no list there is refused: the center
///   cannot tell it was not revoked),
/// - it is valid now,
/// - it is of one of the profiles the authority issues for the link: an entity's **submission**
///   certificate (the policy `CertificateProfileOID.submission`, extended key usage TLS client
///   authentication, the entity's code in `organizationIdentifier`), or a **center staff**
///   certificate (`CertificateProfileOID.centerStaff`, TLS client authentication) whose holder's
///   roles the center's registry keeps.
///
/// Officers' signing certificates and clerks' carry neither policy and are refused, whatever their
/// key usage: a signing key signs orders, never a link.
public enum SubmissionCertificateRule {
    /// What the certificate layer found about a presented certificate.
    public struct Facts: Sendable, Hashable {
        public var subject: String
        public var serialNumber: String
        /// SHA-256 (hex) of the certificate: how the center's registry knows its people.
        public var certificateSHA256: String
        public var chainProblem: String?
        public var revoked: String?
        public var noRevocationList: Bool
        public var validNow: Bool
        public var extendedKeyUsages: [String]
        public var policies: [String]
        public var organizationIdentifier: String?

        public init(subject: String, serialNumber: String, certificateSHA256: String, chainProblem: String?, revoked: String?, noRevocationList: Bool,
                    validNow: Bool, extendedKeyUsages: [String], policies: [String], organizationIdentifier: String?) {
            self.subject = subject
            self.serialNumber = serialNumber
            self.certificateSHA256 = certificateSHA256
            self.chainProblem = chainProblem
            self.revoked = revoked
            self.noRevocationList = noRevocationList
            self.validNow = validNow
            self.extendedKeyUsages = extendedKeyUsages
            self.policies = policies
            self.organizationIdentifier = organizationIdentifier
        }
    }

    /// Who is on the other end of an accepted link.
    public enum Peer: Sendable, Hashable {
        /// An accounting unit's daemon, submitting for the entity of this code.
        case entity(code: String)
        /// A person of the payment center, known by their certificate (its SHA-256); their role is
        /// the center's registry's, not the certificate's.
        case staff(subject: String, certificateSHA256: String)
    }

    /// id-kp-clientAuth (RFC 5280 4.2.1.12).
    public static let clientAuthentication = "1.3.6.1.5.5.7.3.2"

    /// Decides; a refusal names the first thing wrong, in one sentence.
    public static func decide(_ facts: Facts) -> Result<Peer, RuleRefusal> {
        let who = "the client certificate \(facts.serialNumber) (\(facts.subject))"
        func refuse(_ why: String) -> Result<Peer, RuleRefusal> {
            .failure(RuleRefusal(.notAuthorized, .d8, "\(who) \(why)"))
        }
        if let problem = facts.chainProblem {
            return refuse("does not chain to the center's trust anchors (\(problem)); only the government certification authority's certificates open the link")
        }
        if let revoked = facts.revoked { return refuse("is revoked (\(revoked))") }
        if facts.noRevocationList {
            return refuse("cannot be checked for revocation: the center holds no revocation list of its issuer")
        }
        guard facts.validNow else { return refuse("is not valid now (expired, or not yet valid)") }
        guard facts.extendedKeyUsages.contains(clientAuthentication) else {
            return refuse("is not for TLS client authentication (extended key usage id-kp-clientAuth); a signing certificate signs orders, never a link")
        }
        if facts.policies.contains(CertificateProfileOID.submission) {
            guard let code = facts.organizationIdentifier, FieldRules.entityCode(code) == nil else {
                return refuse("is a submission certificate without a valid entity code in organizationIdentifier")
            }
            return .success(.entity(code: code))
        }
        if facts.policies.contains(CertificateProfileOID.centerStaff) {
            return .success(.staff(subject: facts.subject, certificateSHA256: facts.certificateSHA256))
        }
        return refuse("is of no profile the center accepts (neither an entity's submission certificate, policy \(CertificateProfileOID.submission), nor a center staff certificate, policy \(CertificateProfileOID.centerStaff))")
    }
}

/// The certificate policies of the profiles paysign's authority issues for the link to the center.
/// Identifiers under the UUID arc (2.25, ITU-T X.667), which needs no registration.
public enum CertificateProfileOID {
    /// An accounting unit's submission certificate: its daemon's key for the link (D8).
    public static let submission = "2.25.308683874879709541138332373844464616789"
    /// A payment-center person's certificate: operators and auditors of the center.
    public static let centerStaff = "2.25.264439672940767442065922572086543001833"
}
