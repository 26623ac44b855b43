public import Foundation
internal import CLibCrypto

/// Makes X.509 v3 certificates (RFC 5280) whose signatures are computed elsewhere: on the
/// certification authority's token, whose key never leaves it.
///
/// paysign writes the `TBSCertificate` as DER itself, hands those bytes to `sign`, and wraps what
/// comes back as `SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }`. The result is
/// parsed by OpenSSL and its signature verified with the issuer's key before it is returned, so a
/// token whose key does not match the issuer's certificate is caught here, not by a relying party.
///
/// `sign` follows `CMSBuilder`'s contract: it receives the DER to be signed, hashes it as `scheme`
/// requires (SHA-256; `CKM_SHA256_RSA_PKCS` does that on the token, `CKM_RSA_PKCS_PSS` and
/// `CKM_ECDSA` need the digest), and returns PKCS #1 v1.5 / PSS bytes or a DER ECDSA-Sig-Value.
///
/// Signature algorithms: sha256WithRSAEncryption (NULL parameters), RSASSA-PSS (SHA-256,
/// MGF1-SHA-256, salt 32), ecdsa-with-SHA256 (parameters absent). Times are UTCTime until 2049 and
/// GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
public enum CertificateIssuer {
    /// Issues an end-entity signing certificate (v3) for the key of `request`.
    ///
    /// | field | value |
    /// | --- | --- |
    /// | serialNumber | `serialNumber` (big-endian, positive, at most 20 octets once encoded) |
    /// | issuer | the issuer certificate's subject, its DER copied exactly |
    /// | validity | `notBefore` … `notAfter` (whole seconds) |
    /// | subject | `subject` (the authority's checked name, not the request's own) |
    /// | subjectPublicKeyInfo | copied from the request byte for byte |
    /// | basicConstraints | CA:FALSE, critical |
    /// | keyUsage | digitalSignature, nonRepudiation, critical (rule D5: the holder answers for every signature) |
    /// | subjectKeyIdentifier | SHA-1 of the key bits (RFC 5280 4.2.1.2, method 1) |
    /// | authorityKeyIdentifier | the issuer's subjectKeyIdentifier, or SHA-1 of its key bits |
    /// | certificatePolicies | `certificatePolicies` (OIDs, non-critical), left out when empty |
    ///
    /// Refused: a request whose self-signature does not verify (no proof the holder has the key),
    /// an issuer certificate that is no CA (basicConstraints CA:TRUE and keyCertSign), a scheme that
    /// does not fit the issuer's key, an empty subject, a validity that ends before it starts.
    ///
    /// - Returns: the parsed certificate; its DER verifies with `openssl verify -CAfile ISSUER`.
    public static func issue(request: CertificateRequest, subject: DistinguishedName, serialNumber: [UInt8],
                             notBefore: Date, notAfter: Date, issuer: Certificate, scheme: SignatureScheme,
                             certificatePolicies: [String] = [],
                             sign: @Sendable ([UInt8]) async throws -> [UInt8]) async throws -> Certificate {
        guard request.verifySelfSignature() else {
            throw X509BuildError(.requestSignatureInvalid, "the certification request for \(request.subject.isEmpty ? "an empty subject" : request.subject) is not signed by the key it carries; paysign certifies no key whose holder has not proven possession of it", rule: "RFC 2986 3")
        }
        guard request.keyAlgorithm != .other else {
            throw X509BuildError(.invalidKey, "the key in the certification request is neither RSA nor EC; paysign's tokens sign with those only")
        }
        try checkAuthority(issuer)
        try X509Support.checkScheme(scheme, issuer: issuer)
        guard !subject.isEmpty else {
            throw X509BuildError(.invalidName, "an end-entity certificate needs a subject; the name given is empty", rule: "RFC 5280 4.1.2.6")
        }
        try checkValidity(notBefore, notAfter)

        let issuerName = try X509Support.subjectAndKey(of: issuer).subject
        var extensions = [
            try DERWriter.extension("2.5.29.19", critical: true, value: DERWriter.sequence()),  // CA:FALSE is the DEFAULT
            try DERWriter.extension("2.5.29.15", critical: true, value: [0x03, 0x02, 0x06, 0xC0]),  // bits 0, 1
            try DERWriter.extension("2.5.29.14", critical: false,
                                    value: DERWriter.octetString(try X509Support.keyIdentifier(spki: request.subjectPublicKeyInfo))),
            try X509Support.authorityKeyIdentifierExtension(try X509Support.authorityKeyIdentifier(of: issuer)),
        ]
        if !certificatePolicies.isEmpty {
            extensions.append(try DERWriter.extension("2.5.29.32", critical: false, value: try policies(certificatePolicies)))
        }
        let tbs = try tbsCertificate(
            serialNumber: serialNumber, scheme: scheme, issuer: issuerName, notBefore: notBefore, notAfter: notAfter,
            subject: try subject.derEncoded, spki: request.subjectPublicKeyInfo, extensions: extensions)
        let certificate = try await finish(tbs, scheme: scheme, what: "certificate for \(subject)", sign: sign)
        guard verifies(certificate, with: issuer) else {
            throw X509BuildError(.signatureRejected, "the signature returned for the certificate of \(subject) does not verify with the key of issuer certificate \(issuer.serialNumber); the token's key is not the issuer's, or it signed other bytes")
        }
        return certificate
    }

    /// A self-signed CA certificate for the authority's own key (on its token), so a PKI's root
    /// can live on a token: basicConstraints CA:TRUE (critical), keyUsage keyCertSign + cRLSign
    /// (critical), subjectKeyIdentifier, and an authorityKeyIdentifier naming the same key.
    ///
    /// - Parameters:
    ///   - spki: the DER SubjectPublicKeyInfo of the key `sign` uses (from the token:
    ///     `PKCS11Session.subjectPublicKeyInfo(of:)`).
    /// - Returns: the parsed certificate, whose signature has been verified with its own key.
    public static func selfSigned(subject: DistinguishedName, subjectPublicKeyInfo spki: [UInt8], serialNumber: [UInt8],
                                  notBefore: Date, notAfter: Date, scheme: SignatureScheme,
                                  sign: @Sendable ([UInt8]) async throws -> [UInt8]) async throws -> Certificate {
        guard !subject.isEmpty else {
            throw X509BuildError(.invalidName, "a CA certificate needs a subject; the name given is empty", rule: "RFC 5280 4.1.2.4")
        }
        try X509Support.checkKey(spki, scheme: scheme, whose: "key of the CA certificate")
        try checkValidity(notBefore, notAfter)
        let keyID = try X509Support.keyIdentifier(spki: spki)
        let extensions = [
            try DERWriter.extension("2.5.29.19", critical: true, value: DERWriter.sequence(DERWriter.booleanTrue)),
            try DERWriter.extension("2.5.29.15", critical: true, value: [0x03, 0x02, 0x01, 0x06]),  // bits 5, 6
            try DERWriter.extension("2.5.29.14", critical: false, value: DERWriter.octetString(keyID)),
            try X509Support.authorityKeyIdentifierExtension(keyID),
        ]
        let name = try subject.derEncoded
        let tbs = try tbsCertificate(
            serialNumber: serialNumber, scheme: scheme, issuer: name, notBefore: notBefore, notAfter: notAfter,
            subject: name, spki: spki, extensions: extensions)
        let certificate = try await finish(tbs, scheme: scheme, what: "CA certificate for \(subject)", sign: sign)
        guard verifies(certificate, with: certificate) else {
            throw X509BuildError(.signatureRejected, "the signature returned for the CA certificate of \(subject) does not verify with the key it certifies; the signer used another key, or signed other bytes")
        }
        return certificate
    }

    // MARK: Pieces

    /// ```
    /// TBSCertificate ::= SEQUENCE {
    ///     version [0] EXPLICIT Version (v3), serialNumber, signature, issuer, validity,
    ///     subject, subjectPublicKeyInfo, extensions [3] EXPLICIT Extensions }
    /// ```
    private static func tbsCertificate(serialNumber: [UInt8], scheme: SignatureScheme, issuer: [UInt8], notBefore: Date,
                                       notAfter: Date, subject: [UInt8], spki: [UInt8], extensions: [[UInt8]]) throws -> [UInt8] {
        DERWriter.sequence(
            DERWriter.contextConstructed(0, DERWriter.integer(2)),
            try X509Support.serialInteger(serialNumber, what: "certificate"),
            X509Support.algorithmIdentifier(scheme),
            issuer,
            DERWriter.sequence(try DERWriter.time(notBefore), try DERWriter.time(notAfter)),
            subject,
            spki,
            DERWriter.contextConstructed(3, DERWriter.sequence(of: extensions)))
    }

    private static func finish(_ tbs: [UInt8], scheme: SignatureScheme, what: String,
                               sign: @Sendable ([UInt8]) async throws -> [UInt8]) async throws -> Certificate {
        let der = try await X509Support.signed(tbs, scheme: scheme, what: what, sign: sign)
        do {
            return try Certificate(derEncoded: der)
        } catch {
            throw X509BuildError(.signatureRejected, "OpenSSL cannot read the \(what) once signed: \(error)")
        }
    }

    /// `certificatePolicies ::= SEQUENCE OF PolicyInformation { policyIdentifier }` (no qualifiers).
    private static func policies(_ oids: [String]) throws -> [UInt8] {
        DERWriter.sequence(of: try oids.map { oid in
            do {
                return DERWriter.sequence(try DERWriter.oid(oid))
            } catch {
                throw X509BuildError(.invalidEntry, "the certificate policy '\(oid)' is not an object identifier in dotted form")
            }
        })
    }

    private static func checkValidity(_ notBefore: Date, _ notAfter: Date) throws {
        guard notBefore.timeIntervalSince1970.rounded(.down) < notAfter.timeIntervalSince1970.rounded(.down) else {
            throw X509BuildError(.invalidValidity, "the validity ends (\(notAfter)) before it starts (\(notBefore))", rule: "RFC 5280 4.1.2.5")
        }
    }

    /// The issuer must be a CA that may sign certificates (RFC 5280 4.2.1.9 and 4.2.1.3).
    private static func checkAuthority(_ issuer: Certificate) throws {
        guard X509_check_ca(issuer.x509) != 0 else {
            throw X509BuildError(.issuerNotAuthority, "the issuer certificate \(issuer.subject) (serial \(issuer.serialNumber)) is not a CA certificate (basicConstraints CA:TRUE); certificates it signed would not verify", rule: "RFC 5280 4.2.1.9")
        }
        guard issuer.keyUsage.isEmpty || issuer.keyUsage.contains(.keyCertSign) else {
            throw X509BuildError(.issuerNotAuthority, "the key usage of issuer certificate \(issuer.subject) (serial \(issuer.serialNumber)) does not include keyCertSign", rule: "RFC 5280 4.2.1.3")
        }
    }

    /// True when `certificate`'s signature verifies with `issuer`'s public key (`X509_verify`).
    static func verifies(_ certificate: Certificate, with issuer: Certificate) -> Bool {
        OpenSSLError.clearQueue()
        defer { OpenSSLError.clearQueue() }
        guard let key = X509_get0_pubkey(issuer.x509) else { return false }
        return X509_verify(certificate.x509, key) == 1
    }
}

extension Certificate {
    /// Whether `issuer` issued this certificate: the issuer name is `issuer`'s subject and the
    /// signature verifies with `issuer`'s key (`X509_verify`). Validity dates are not judged.
    public func isIssued(by issuer: Certificate) -> Bool {
        self.issuer == issuer.subject && CertificateIssuer.verifies(self, with: issuer)
    }

    /// The exact DER of the certificate's SubjectPublicKeyInfo.
    public var subjectPublicKeyInfo: [UInt8] {
        get throws { try X509Support.subjectAndKey(of: self).spki }
    }

    /// The exact DER of the certificate's subject `Name`.
    public var subjectDER: [UInt8] {
        get throws { try X509Support.subjectAndKey(of: self).subject }
    }

    /// The subjectKeyIdentifier extension's key identifier (2.5.29.14), if the certificate has one.
    public var subjectKeyIdentifier: [UInt8]? {
        X509Text.octets(X509_get0_subject_key_id(x509))
    }

    /// The authorityKeyIdentifier extension's key identifier (2.5.29.35), if the certificate has one.
    public var authorityKeyIdentifier: [UInt8]? {
        X509Text.octets(X509_get0_authority_key_id(x509))
    }
}
