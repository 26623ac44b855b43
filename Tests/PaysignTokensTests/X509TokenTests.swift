import PaysignSecrets
import Foundation
import PaysignOpenSSL
import PaysignTestSupport
import Testing

@testable import PaysignPKCS11
@testable import PaysignTokens

/// Requests, CA certificates and CRLs whose signatures are made on the SoftHSM tokens with
/// `C_Sign`, judged by OpenSSL's command line. They touch SoftHSM, so they belong to the
/// serialized `TokenTests` suite.
extension TokenTests {
    /// A signer closure over `PKCS11Session.sign`: the to-be-signed DER goes to the token whole for
    /// `CKM_SHA256_RSA_PKCS`, as its SHA-256 for `CKM_RSA_PKCS_PSS` and `CKM_ECDSA`; ECDSA's raw
    /// r‖s comes back as a DER Ecdsa-Sig-Value.
    static func tokenSign(_ session: PKCS11Session, key: ObjectInfo, scheme: SignatureScheme) -> @Sendable ([UInt8]) async throws -> [UInt8] {
        { toBeSigned in
            switch scheme {
            case .rsaPKCS1SHA256:
                return try await session.sign(toBeSigned, mechanism: .sha256RSAPKCS, key: key)
            case .rsaPSSSHA256:
                return try await session.sign(SHA256.hash(toBeSigned), mechanism: .rsaPSSSHA256, key: key)
            case .ecdsaSHA256:
                let raw = try await session.sign(SHA256.hash(toBeSigned), mechanism: .ecdsa, key: key)
                return try ECDSASignature(rawRepresentation: raw).derEncoded
            }
        }
    }

    static func workFolder() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-x509-token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static func serial(hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var text = Substring(hex.count % 2 == 1 ? "0" + hex : hex)
        while !text.isEmpty {
            bytes.append(UInt8(text.prefix(2), radix: 16)!)
            text = text.dropFirst(2)
        }
        return bytes
    }

    static func rootSubject(_ label: String) -> DistinguishedName {
        DistinguishedName(
            country: "EG", organization: "Ministry of Finance (TEST)", organizationalUnit: "e-Certification Unit (TEST)",
            commonName: "paysign Token Root on \(label)")
    }

    // MARK: SubjectPublicKeyInfo

    @Test("the SubjectPublicKeyInfo read from a token key equals the certificate's beside it (RSA and EC)",
          arguments: ["officer1", "officer2"])
    func tokenSubjectPublicKeyInfo(label: String) async throws {
        defer { service.close() }
        let signer = try await signer(label)
        let session = signer.session
        let certificateSPKI = try signer.certificate.subjectPublicKeyInfo
        // OpenSSL's own reading of the certificate's key agrees.
        let pubkey = try await Shell.exec("openssl", ["x509", "-in", pki.certificatePEM(label).path, "-noout", "-pubkey"])
        let der = try await Shell.exec("sh", ["-c", "openssl pkey -pubin -outform DER | od -An -v -tx1"], stdin: Data(pubkey.stdout.utf8))
        #expect(Self.serial(hex: der.stdout.filter(\.isHexDigit)) == certificateSPKI)

        #expect(try await signer.subjectPublicKeyInfo() == certificateSPKI)
        let publicKey = try #require(try await session.objects(.publicKey).first)
        #expect(try await session.subjectPublicKeyInfo(of: publicKey) == certificateSPKI)

        // Both ways a module may answer: CKA_PUBLIC_KEY_INFO, and the key's own attributes.
        let values = try await session.attributeValues(of: publicKey.handle, types: [0x129, 0x120, 0x122, 0x180, 0x181])
        let publicKeyInfo = values[0x129] ?? []
        let answer = values[0x129] == nil ? "not available" : publicKeyInfo.isEmpty ? "empty" : "\(publicKeyInfo.count) bytes"
        Swift.print("SoftHSM CKA_PUBLIC_KEY_INFO of \(label)'s public key object: \(answer)")
        if !publicKeyInfo.isEmpty { #expect(publicKeyInfo == certificateSPKI) }
        if label == "officer1" {
            let built = PublicKeyDER.rsa(modulus: try #require(values[0x120]), exponent: try #require(values[0x122]))
            #expect(built == certificateSPKI)
        } else {
            let parameters = try #require(values[0x180]), point = try #require(values[0x181])
            #expect(point.count == 67 && point[0] == 0x04 && point[1] == 65 && point[2] == 0x04, "SoftHSM wraps the point in an OCTET STRING")
            #expect(PublicKeyDER.ec(parameters: parameters, point: point) == certificateSPKI)
            #expect(PublicKeyDER.ec(parameters: parameters, point: Array(point.dropFirst(2))) == certificateSPKI, "a bare point too")
        }

        // From the private key after login: RSA from its modulus and exponent, EC through the
        // public key object with the same CKA_ID (an EC private key has no point).
        try await signer.login(pin: PIN(pki.token(label).pin))
        let privateKey = try await signer.privateKey()
        #expect(try await session.subjectPublicKeyInfo(of: privateKey) == certificateSPKI)
        let certificateObject = try #require(try await session.objects(.certificate).first)
        await #expect(throws: PKCS11Error.self) { _ = try await session.subjectPublicKeyInfo(of: certificateObject) }
    }

    // MARK: PKCS #10 on a token

    @Test("a certification request signed on the token verifies with openssl req -verify, and the test root certifies its key",
          arguments: [
            ("officer1", SignatureScheme.rsaPKCS1SHA256), ("officer1", .rsaPSSSHA256), ("officer2", .ecdsaSHA256),
          ])
    func tokenRequest(label: String, scheme: SignatureScheme) async throws {
        defer { service.close() }
        let work = try Self.workFolder()
        defer { try? FileManager.default.removeItem(at: work) }
        let signer = try await signer(label)
        try await signer.login(pin: PIN(pki.token(label).pin))
        let key = try await signer.privateKey()
        let spki = try await signer.subjectPublicKeyInfo()
        let subject = DistinguishedName(
            country: "EG", organization: "Test Entity EG-0101", organizationalUnit: "first-signature",
            commonName: "Officer Renewed", serialNumber: "28001010100011")
        let request = try await CertificateRequest.make(
            subject: subject, subjectPublicKeyInfo: spki, scheme: scheme, sign: Self.tokenSign(signer.session, key: key, scheme: scheme))
        #expect(request.verifySelfSignature())
        #expect(request.subjectPublicKeyInfo == spki)
        #expect(request.subjectSerialNumber == "28001010100011")
        let requestFile = work.appendingPathComponent("token.csr")
        try request.pemEncoded.write(to: requestFile, atomically: true, encoding: .utf8)
        let verdict = try await Shell.exec("openssl", ["req", "-in", requestFile.path, "-verify", "-noout"])
        #expect(verdict.status == 0 && (verdict.stdout + verdict.stderr).contains("verify OK"), "\(verdict.stderr)")

        // The test root, whose key lives on the 'authority' token, certifies the token's key from the request.
        let authority = try await self.signer("authority")
        try await authority.login(pin: PIN(pki.token("authority").pin))
        let root = authority.certificate
        #expect(root == (try Certificate(pemEncoded: String(contentsOf: pki.caPEM, encoding: .utf8))))
        let authorityKey = try await authority.privateKey()
        var serial = (0..<16).map { _ in UInt8.random(in: 0...255) }
        serial[0] &= 0x7F
        serial[0] |= 0x01
        let certificate = try await CertificateIssuer.issue(
            request: request, subject: subject, serialNumber: serial, notBefore: Date() - 60, notAfter: Date() + 365 * 86400,
            issuer: root, scheme: .rsaPKCS1SHA256,
            sign: Self.tokenSign(authority.session, key: authorityKey, scheme: .rsaPKCS1SHA256))
        let certificateFile = work.appendingPathComponent("renewed.pem")
        try certificate.pemEncoded.write(to: certificateFile, atomically: true, encoding: .utf8)
        let chain = try await Shell.exec("openssl", ["verify", "-x509_strict", "-CAfile", pki.caPEM.path, certificateFile.path])
        #expect(chain.status == 0 && chain.stdout.contains(": OK"), "\(chain.stdout) \(chain.stderr)")
        #expect(try certificate.subjectPublicKeyInfo == signer.certificate.subjectPublicKeyInfo)
        #expect(certificate.authorityKeyIdentifier == root.subjectKeyIdentifier)

        // The token's key signs under the new certificate.
        let message = Array("payment order under a renewed certificate".utf8)
        let algorithm: SignatureAlgorithm = scheme == .ecdsaSHA256 ? .ecdsaSHA256 : .rsaPKCS1SHA256
        let signature = try await signer.sign(message, algorithm: algorithm)
        #expect(try certificate.verify(signature: signature.bytes, over: message, scheme: algorithm.scheme))
        #expect(try Shell.opensslVerifies(signature: signature.bytes, message: message, certificate: certificateFile))
    }

    // MARK: A CA and a CRL on a token

    @Test("a self-signed CA and a CRL signed on the token verify with openssl (verify, crl -CAfile)",
          arguments: [
            ("ministry", SignatureScheme.rsaPKCS1SHA256), ("ministry", .rsaPSSSHA256), ("officer2", .ecdsaSHA256),
            ("authority", .rsaPKCS1SHA256),
          ])
    func tokenRevocationList(label: String, scheme: SignatureScheme) async throws {
        defer { service.close() }
        let work = try Self.workFolder()
        defer { try? FileManager.default.removeItem(at: work) }
        let signer = try await signer(label)
        try await signer.login(pin: PIN(pki.token(label).pin))
        let key = try await signer.privateKey()
        let sign = Self.tokenSign(signer.session, key: key, scheme: scheme)
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))

        // The root's certificate: the test root itself on the 'authority' token; on any other
        // token a self-signed CA certificate signed by the token's key itself.
        let isAuthority = label == "authority"
        let root = isAuthority ? signer.certificate : try await CertificateIssuer.selfSigned(
            subject: Self.rootSubject(label), subjectPublicKeyInfo: try await signer.subjectPublicKeyInfo(),
            serialNumber: [0x01], notBefore: now - 60, notAfter: now + 5 * 365 * 86400, scheme: scheme, sign: sign)
        let rootFile = work.appendingPathComponent("root.pem")
        try root.pemEncoded.write(to: rootFile, atomically: true, encoding: .utf8)
        if isAuthority {
            #expect(root == (try Certificate(pemEncoded: String(contentsOf: pki.caPEM, encoding: .utf8))))
            #expect(try await signer.subjectPublicKeyInfo() == root.subjectPublicKeyInfo)
        }
        let selfCheck = try await Shell.exec("openssl", ["verify", "-x509_strict", "-CAfile", rootFile.path, rootFile.path])
        #expect(selfCheck.status == 0 && selfCheck.stdout.contains(": OK"), "\(selfCheck.stdout) \(selfCheck.stderr)")
        let rootText = try await Shell.exec("openssl", ["x509", "-in", rootFile.path, "-noout", "-text"])
        #expect(rootText.stdout.contains("CA:TRUE") && rootText.stdout.contains("Certificate Sign, CRL Sign"))

        // A token's end-entity certificate cannot pretend to issue CRLs: no cRLSign.
        if !isAuthority {
            do {
                _ = try await RevocationList.make(issuer: signer.certificate, number: 1, thisUpdate: now, nextUpdate: now + 86400,
                                                  entries: [], scheme: scheme, sign: sign)
                Issue.record("an end-entity certificate issued a CRL")
            } catch let error as X509BuildError {
                #expect(error.code == .issuerNotAuthority)
            }
        }

        // Revoked: officer1's key was compromised; the expired token was surrendered (rule D6).
        let officer1 = pki.token("officer1").certificateSerial, surrendered = pki.token("expired").certificateSerial
        let entries = [
            RevokedEntry(serialNumber: Self.serial(hex: officer1), revocationDate: now - 3600, reason: RevokedEntry.keyCompromise,
                         invalidityDate: now - 2 * 86400),
            RevokedEntry(serialNumber: Self.serial(hex: surrendered), revocationDate: now - 7200,
                         reason: RevokedEntry.cessationOfOperation, invalidityDate: nil),
        ]
        let list = try await RevocationList.make(
            issuer: root, number: 42, thisUpdate: now, nextUpdate: now + 7 * 86400, entries: entries, scheme: scheme, sign: sign)
        let listFile = work.appendingPathComponent("crl.der")
        try Data(list.derEncoded).write(to: listFile)
        let verdict = try await Shell.exec("openssl", ["crl", "-inform", "DER", "-in", listFile.path, "-CAfile", rootFile.path, "-noout"])
        #expect(verdict.status == 0 && (verdict.stdout + verdict.stderr).contains("verify OK"), "\(verdict.stderr)")
        if !isAuthority {
            // Another name: OpenSSL 3.0's `crl` finds no issuer ("Error getting CRL issuer
            // certificate") and, as with "verify failure", still exits 0: the words are the verdict.
            let wrong = try await Shell.exec("openssl", ["crl", "-inform", "DER", "-in", listFile.path, "-CAfile", pki.caPEM.path, "-noout"])
            let words = wrong.stdout + wrong.stderr
            #expect(!words.contains("verify OK") && words.contains("Error getting CRL issuer certificate"), "the test root did not sign it: \(words)")
        }
        let text = try await Shell.exec("openssl", ["crl", "-inform", "DER", "-in", listFile.path, "-noout", "-text"])
        #expect(text.stdout.contains("Serial Number: \(officer1)") && text.stdout.contains("Serial Number: \(surrendered)"))
        #expect(text.stdout.contains("Key Compromise") && text.stdout.contains("Cessation Of Operation"))

        #expect(list.isSigned(by: root))
        // The same key, but only a certificate whose key usage allows cRLSign may sign a list
        // (RFC 5280 4.2.1.3): the authority's does, an officer's does not.
        #expect(list.isSigned(by: signer.certificate) == isAuthority, "the same key on the token")
        #expect(list.isSigned(by: try Certificate(pemEncoded: String(contentsOf: pki.caPEM, encoding: .utf8))) == isAuthority)
        #expect(!list.isSigned(by: try Certificate(pemEncoded: String(contentsOf: pki.certificatePEM("officer1"), encoding: .utf8))))
        #expect(list.issuer == root.subject)
        #expect(list.crlNumberValue == 42)
        #expect(list.authorityKeyIdentifier == root.subjectKeyIdentifier)
        let officer1Certificate = try Certificate(pemEncoded: String(contentsOf: pki.certificatePEM("officer1"), encoding: .utf8))
        #expect(list.entry(for: officer1Certificate)?.reason == RevokedEntry.keyCompromise)
        #expect(list.entry(for: officer1Certificate)?.invalidityDate == now - 2 * 86400)
        #expect(list.entry(for: surrendered)?.reasonName == "cessationOfOperation")
        #expect(list.entry(for: pki.token("officer2").certificateSerial) == nil)
    }
}
