public import PaysignPKCS11

/// A signature algorithm as X.509 and CMS name it, and how it is made on a PKCS#11 token.
public enum SignatureAlgorithm: String, Sendable, Codable, CaseIterable, Hashable {
    /// sha256WithRSAEncryption (PKCS #1 v1.5), `CKM_SHA256_RSA_PKCS`.
    case rsaPKCS1SHA256 = "rsa-pkcs1-sha256"
    /// RSASSA-PSS with SHA-256, MGF1-SHA-256, 32-byte salt, `CKM_RSA_PKCS_PSS` over a digest.
    case rsaPSSSHA256 = "rsa-pss-sha256"
    /// ecdsa-with-SHA256, `CKM_ECDSA` over a digest, r‖s converted to DER.
    case ecdsaSHA256 = "ecdsa-sha256"

    public var mechanism: SigningMechanism {
        switch self {
        case .rsaPKCS1SHA256: return .sha256RSAPKCS
        case .rsaPSSSHA256: return .rsaPSSSHA256
        case .ecdsaSHA256: return .ecdsa
        }
    }

    /// The algorithm paysign uses by default for a key type: PKCS #1 v1.5 for RSA (what every
    /// CMS verifier accepts), ECDSA for EC.
    public static func `default`(for keyType: KeyType) -> SignatureAlgorithm? {
        switch keyType {
        case .rsa: return .rsaPKCS1SHA256
        case .ec: return .ecdsaSHA256
        case .other: return nil
        }
    }

    func fits(_ keyType: KeyType) -> Bool {
        switch self {
        case .rsaPKCS1SHA256, .rsaPSSSHA256: return keyType == .rsa
        case .ecdsaSHA256: return keyType == .ec
        }
    }
}
