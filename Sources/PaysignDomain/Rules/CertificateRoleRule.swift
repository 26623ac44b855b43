/// D2 (with D3 and D13): a signature at a step is made with a certificate issued for that step's
/// role, to the order's entity. The first signature needs `OU=first-signature` of the entity; the
/// second `OU=second-signature` (the Ministry of Finance representative), of the entity or of the
/// Ministry itself; a data-entry clerk's certificate never signs (D13).
///
/// One type for both sides: `SigningPolicy` refuses before a PIN reaches the token, and
/// `OrderVerification` fails the `roles` check, with the same findings, so the daemon never makes
/// an order payable that the payment center refuses for its certificates' roles.
public enum CertificateRoleRule {
    /// The role values paysign writes into signer-attributes-v2 (`SignatureStep.rawValue`).
    public static let firstRole = SignatureStep.first.rawValue, secondRole = SignatureStep.second.rawValue
    /// The organizational units (OU) of paysign's PKI (Certs/make-test-pki.sh, the daemon's issuer).
    public static let firstUnit = "first-signature", secondUnit = "second-signature", clerkUnit = "data-entry"

    /// One thing wrong with a certificate for the role it signs (or would sign) under.
    public struct Finding: Sendable, Hashable {
        public var rule: RuleNumber
        public var problem: String
    }

    /// What is wrong with `certificate` signing under `claimedRole` for `entity` (nil: the entity
    /// is unknown and not compared); empty when nothing is. `who` and `act` make the sentences
    /// ("SignerInfo 2 (…)", "signed"; "officer1", "would sign").
    public static func findings(
        who: String, act: String, claimedRole: String?, certificate: CertificateFacts, entity: String?
    ) -> [Finding] {
        let unit = certificate.organizationalUnit ?? "none"
        if unit == clerkUnit {
            return [Finding(rule: .d13, problem: "\(who): the certificate is a data-entry clerk's (OU=\(clerkUnit)); data-entry staff never sign")]
        }
        var findings: [Finding] = []
        switch claimedRole {
        case firstRole?:
            if unit != firstUnit {
                findings.append(Finding(rule: .d2, problem: "\(who) \(act) as first, but the certificate's role is \(unit), not \(firstUnit)"))
            }
            if let entity, !matches(certificate, entity: entity) {
                findings.append(Finding(rule: .d2, problem: "\(who): the certificate is for \(certificate.organization ?? "no entity"), not the order's entity \(entity)"))
            }
        case secondRole?:
            if unit != secondUnit {
                findings.append(Finding(rule: .d2, problem: "\(who) \(act) as second, but the certificate's role is \(unit), not \(secondUnit) (the Ministry of Finance representative)"))
            }
            if let entity, !matches(certificate, entity: entity), !isMinistry(certificate) {
                findings.append(Finding(rule: .d2, problem: "\(who): the certificate is for \(certificate.organization ?? "no entity"), neither the order's entity \(entity) nor the Ministry of Finance"))
            }
        case let other:
            findings.append(Finding(rule: .d2, problem: "\(who): it claims the role '\(other ?? "none")'; paysign's signers claim first or second"))
        }
        return findings
    }

    /// The certificate is for `entity` (D3). When it has an organizationIdentifier (paysign's
    /// authority writes the entity's code there), that alone decides; otherwise O is the code, or
    /// ends with it (`Test Entity EG-0101`), or names it in parentheses (`Ministry of Health (EG-0101)`).
    public static func matches(_ certificate: CertificateFacts, entity: String) -> Bool {
        if let code = certificate.organizationIdentifier { return code == entity }
        guard let organization = certificate.organization else { return false }
        return organization == entity || organization.hasSuffix(" " + entity) || organization.contains("(" + entity + ")")
    }

    /// The second signer may also hold a certificate of the Ministry itself.
    /// Only for a certificate without an organizationIdentifier: paysign's authority registers the
    /// Ministry's representative to each entity (D3) and writes that entity's code, so a
    /// certificate it issued never passes for another entity by the name in O.
    public static func isMinistry(_ certificate: CertificateFacts) -> Bool {
        guard certificate.organizationIdentifier == nil else { return false }
        return certificate.organization?.hasPrefix("Ministry of Finance") ?? false
    }
}
