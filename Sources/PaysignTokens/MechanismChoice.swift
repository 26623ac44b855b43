public import PaysignPKCS11

/// How a token makes a signature (issue 21), decided from what it offers: one decision used by
/// the signer (`TokenSigner.mechanism(for:)`), the token list (`paysign tokens`, each key's
/// `mechanism`) and the support report (`paysign tokens --local --diagnose`).
public struct MechanismChoice: Sendable, Hashable {
    /// The mechanism paysign uses, nil when the token offers none that makes the signature.
    public var mechanism: SigningMechanism?
    /// One sentence: why this mechanism, or what the token lacks.
    public var reason: String

    /// The choice for `algorithm` with a key of `bits` on a token offering `offered` (nil: the
    /// module lists no mechanisms, and the usual one is tried).
    public static func choose(_ algorithm: SignatureAlgorithm, keyBits bits: Int?, offered: [UInt: MechanismInfo]?) -> MechanismChoice {
        let candidates: [SigningMechanism] = switch algorithm {
        case .rsaPKCS1SHA256: [.sha256RSAPKCS, .rsaPKCSDigestInfo]
        case .rsaPSSSHA256: [.rsaPSSSHA256]
        case .ecdsaSHA256: [.ecdsa]
        }
        guard let offered, !offered.isEmpty else {
            return MechanismChoice(mechanism: candidates[0], reason: "the module lists no mechanisms; \(candidates[0].ckName) is tried")
        }
        let size = bits.map { " with a \($0)-bit key" } ?? ""
        for candidate in candidates {
            guard let info = offered[candidate.type], info.signs, info.fits(bits: bits) else { continue }
            let reason: String = switch candidate {
            case .sha256RSAPKCS: "the token hashes and signs (\(candidate.ckName))"
            case .rsaPKCSDigestInfo: "the token does not offer CKM_SHA256_RSA_PKCS\(size): paysign makes the SHA-256 DigestInfo and the token signs it with CKM_RSA_PKCS"
            case .rsaPSSSHA256: "the token signs PSS over paysign's SHA-256 digest (CKM_RSA_PKCS_PSS, MGF1-SHA-256, 32-byte salt)"
            case .ecdsa: "the token signs paysign's SHA-256 digest with CKM_ECDSA"
            }
            return MechanismChoice(mechanism: candidate, reason: reason)
        }
        let names = candidates.map(\.ckName)
        let lacks = names.count == 1 ? "does not offer \(names[0])" : "offers neither " + names.joined(separator: " nor ")
        return MechanismChoice(mechanism: nil, reason: "it \(lacks) for signing\(size)")
    }
}

/// A key object's size in bits: the RSA modulus, or the EC curve's.
public func keyBits(_ key: ObjectInfo) -> Int? {
    key.keyType == .ec ? ecCurveBits(key.ecParameters) : key.modulusBits
}

/// The size in bits of the named curves paysign meets, from their DER OIDs (P-256, P-384, P-521).
public func ecCurveBits(_ parameters: [UInt8]?) -> Int? {
    switch parameters {
    case [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]: return 256
    case [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22]: return 384
    case [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23]: return 521
    default: return nil
    }
}
