internal import CP11Kit

extension PKCS11Session {
    /// The DER SubjectPublicKeyInfo (RFC 5280 4.1.2.7) of a key on the token, without a
    /// certificate: what a certification request or a self-signed CA certificate carries for a key
    /// that never leaves the token.
    ///
    /// `CKA_PUBLIC_KEY_INFO` when the module returns it (PKCS#11 v2.40); otherwise built from
    /// `CKA_MODULUS` and `CKA_PUBLIC_EXPONENT` (RSA: rsaEncryption with NULL parameters, RFC 3279
    /// 2.3.1) or `CKA_EC_PARAMS` and `CKA_EC_POINT` (EC: id-ecPublicKey with the token's
    /// parameters, RFC 5480 2.1.1; the point unwrapped from the DER OCTET STRING PKCS#11 puts it
    /// in, or taken as it is when a module returns it raw).
    ///
    /// `key` is a public key object, or a private key: for one whose public half cannot be read
    /// from it (an EC private key has no point), the public key object with the same `CKA_ID` is used.
    public func subjectPublicKeyInfo(of key: ObjectInfo) async throws -> [UInt8] {
        guard key.objectClass != .certificate else {
            throw PKCS11Error(.objectNotFound, "a certificate object is not a key; pass the public or private key beside it (same CKA_ID)")
        }
        let types: [UInt] = [
            UInt(CKA_PUBLIC_KEY_INFO), UInt(CKA_KEY_TYPE), UInt(CKA_MODULUS), UInt(CKA_PUBLIC_EXPONENT),
            UInt(CKA_EC_PARAMS), UInt(CKA_EC_POINT),
        ]
        let values = try await attributeValues(of: key.handle, types: types)
        if let info = values[UInt(CKA_PUBLIC_KEY_INFO)], info.first == 0x30 {
            return info
        }
        let keyType: KeyType
        switch values[UInt(CKA_KEY_TYPE)].flatMap(Self.ulongValue) {
        case UInt(CKK_RSA): keyType = .rsa
        case UInt(CKK_EC): keyType = .ec
        case nil: keyType = key.keyType ?? .other
        default: keyType = .other
        }
        let label = key.label.isEmpty ? "with id \(key.id.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined())" : "'\(key.label)'"
        switch keyType {
        case .rsa:
            if let modulus = values[UInt(CKA_MODULUS)], let exponent = values[UInt(CKA_PUBLIC_EXPONENT)],
                !modulus.isEmpty, !exponent.isEmpty
            {
                return PublicKeyDER.rsa(modulus: modulus, exponent: exponent)
            }
        case .ec:
            if let parameters = values[UInt(CKA_EC_PARAMS)], let point = values[UInt(CKA_EC_POINT)],
                !parameters.isEmpty, !point.isEmpty
            {
                return PublicKeyDER.ec(parameters: parameters, point: point)
            }
        case .other:
            throw PKCS11Error(.keyUnusable, "the key \(label) on \(errorContext) is neither RSA nor EC; paysign cannot describe its public key")
        }
        if key.objectClass == .privateKey {
            var uri = PKCS11URI()
            uri.id = key.id
            if let publicKey = try await objects(.publicKey, matching: uri).first {
                return try await subjectPublicKeyInfo(of: publicKey)
            }
        }
        throw PKCS11Error(.objectNotFound, "\(errorContext) does not reveal the public half of key \(label) (no CKA_PUBLIC_KEY_INFO, \(keyType == .rsa ? "CKA_MODULUS or CKA_PUBLIC_EXPONENT" : "CKA_EC_PARAMS or CKA_EC_POINT")) and holds no public key object with its CKA_ID")
    }

    private static func ulongValue(_ bytes: [UInt8]) -> UInt? {
        guard bytes.count == MemoryLayout<UInt>.size else { return nil }
        return bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt.self) }
    }
}

/// The few DER encodings a SubjectPublicKeyInfo needs (X.690), so this module needs no ASN.1 library.
enum PublicKeyDER {
    /// rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters.
    static let rsaAlgorithm: [UInt8] = [0x30, 0x0D, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01, 0x05, 0x00]
    /// id-ecPublicKey (1.2.840.10045.2.1).
    static let ecPublicKey: [UInt8] = [0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]

    /// `SEQUENCE { rsaEncryption, BIT STRING { RSAPublicKey ::= SEQUENCE { modulus, publicExponent } } }`
    static func rsa(modulus: [UInt8], exponent: [UInt8]) -> [UInt8] {
        let key = tlv(0x30, integer(modulus) + integer(exponent))
        return tlv(0x30, rsaAlgorithm + tlv(0x03, [0] + key))
    }

    /// `SEQUENCE { SEQUENCE { id-ecPublicKey, parameters }, BIT STRING ECPoint }`
    static func ec(parameters: [UInt8], point: [UInt8]) -> [UInt8] {
        let q = ecPoint(point, parameters: parameters)
        return tlv(0x30, tlv(0x30, ecPublicKey + parameters) + tlv(0x03, [0] + q))
    }

    /// The ECPoint octets. PKCS#11 says `CKA_EC_POINT` is the DER of an OCTET STRING holding the
    /// point (SoftHSM does so); some modules return the point bare. Both read alike when a bare
    /// point happens to start like an OCTET STRING, so the curve's size decides where it is known.
    static func ecPoint(_ value: [UInt8], parameters: [UInt8]) -> [UInt8] {
        let unwrapped = octetStringContent(value)
        if let size = fieldSize(parameters) {
            let fits = { (point: [UInt8]) -> Bool in
                (point.first == 0x04 && point.count == 2 * size + 1) || ((point.first == 0x02 || point.first == 0x03) && point.count == size + 1)
            }
            if let unwrapped, fits(unwrapped) { return unwrapped }
            if fits(value) { return value }
        }
        return unwrapped ?? value
    }

    /// The content of a DER OCTET STRING that spans all of `bytes`, or nil.
    static func octetStringContent(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count >= 2, bytes[0] == 0x04 else { return nil }
        var length = 0
        var offset = 2
        if bytes[1] < 0x80 {
            length = Int(bytes[1])
        } else {
            let count = Int(bytes[1] & 0x7F)
            guard count >= 1, count <= 4, bytes.count >= 2 + count else { return nil }
            for byte in bytes[2..<2 + count] { length = length << 8 | Int(byte) }
            offset += count
        }
        guard offset + length == bytes.count else { return nil }
        return Array(bytes[offset...])
    }

    /// The field size in bytes of the named curves tokens carry, by the DER of their OID.
    static func fieldSize(_ parameters: [UInt8]) -> Int? {
        let known: [[UInt8]: Int] = [
            [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]: 32,  // prime256v1 / P-256
            [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22]: 48,  // secp384r1 / P-384
            [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x23]: 66,  // secp521r1 / P-521
            [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x0A]: 32,  // secp256k1
            [0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x07]: 32,  // brainpoolP256r1
            [0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0B]: 48,  // brainpoolP384r1
            [0x06, 0x09, 0x2B, 0x24, 0x03, 0x03, 0x02, 0x08, 0x01, 0x01, 0x0D]: 64,  // brainpoolP512r1
        ]
        return known[parameters]
    }

    /// A non-negative INTEGER from big-endian bytes (minimal, 0x00 added before a set high bit).
    static func integer(_ magnitude: [UInt8]) -> [UInt8] {
        var content = Array(magnitude.drop(while: { $0 == 0 }))
        if content.isEmpty { content = [0] } else if content[0] & 0x80 != 0 { content.insert(0, at: 0) }
        return tlv(0x02, content)
    }

    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8]
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            length = []
            var rest = content.count
            while rest > 0 {
                length.insert(UInt8(rest & 0xFF), at: 0)
                rest >>= 8
            }
            length.insert(0x80 | UInt8(length.count), at: 0)
        }
        return [tag] + length + content
    }
}
