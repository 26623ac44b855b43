/// What an operator may do. An operator is a Unix user mapped in the registry to one or more roles
/// (issue "The daemon"); the socket's peer credentials say who is calling.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Prepares and uploads payment-order files; never holds a token, never learns a PIN (D5, D13).
    case dataEntry = "data-entry"
    /// Reviews an uploaded file and confirms its file number (D9).
    case reviewer
    /// The entity's finance officer: applies the first signature (D2, D3).
    case firstSigner = "first-signer"
    /// The Ministry of Finance representative: applies the second signature (D2, D9).
    case secondSigner = "second-signer"
    /// The Ministry of Finance e-certification unit: issues, suspends, revokes tokens (D6).
    case certificationAuthority = "certification-authority"
    /// The e-payment center: verifies signed orders before paying.
    case paymentCenter = "payment-center"
    /// Reads the audit journal and verifies its chain.
    case auditor
    /// Maps Unix users to operators and roles, registers entities.
    case administrator

    public static func < (a: Role, b: Role) -> Bool { a.rawValue < b.rawValue }
}
