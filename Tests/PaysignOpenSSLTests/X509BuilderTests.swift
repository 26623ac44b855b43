import Foundation
import PaysignOpenSSL
import SwiftASN1
import Synchronization
import Testing

/// Certificates, requests and CRLs built by paysign with an external signer (here OpenSSL's
/// command line with a software key, standing in for the authority's token), judged by OpenSSL's
/// command line: `verify`, `req -verify`, `crl -CAfile`, `x509 -text`, `crl -text`.
@Suite("X.509 builders: self-signed CA, PKCS #10, issued certificates, CRLs, judged by openssl")
struct X509BuilderTests {
    // MARK: Fixtures

    /// A folder of files for one test, and the `openssl` command run in it.
    final class Workbench: Sendable {
        let directory: URL

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-x509b-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        struct Result {
            var status: Int32
            var stdout: String
            var stderr: String
            var output: String { stdout + stderr }
        }

        /// Runs `openssl ARGS` with stdout and stderr in files (no pipe can fill up).
        @discardableResult
        func openssl(_ arguments: [String]) throws -> Result {
            let id = UUID().uuidString
            let out = path("out-\(id)"), err = path("err-\(id)")
            _ = FileManager.default.createFile(atPath: out, contents: nil)
            _ = FileManager.default.createFile(atPath: err, contents: nil)
            defer {
                try? FileManager.default.removeItem(atPath: out)
                try? FileManager.default.removeItem(atPath: err)
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["openssl"] + arguments
            process.currentDirectoryURL = directory
            process.standardInput = FileHandle.nullDevice
            let outHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
            let errHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
            process.standardOutput = outHandle
            process.standardError = errHandle
            try process.run()
            process.waitUntilExit()
            try outHandle.close()
            try errHandle.close()
            return Result(
                status: process.terminationStatus,
                stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
        }

        /// `openssl ARGS` that must succeed; its stdout.
        @discardableResult
        func must(_ arguments: [String]) throws -> String {
            let result = try openssl(arguments)
            guard result.status == 0 else {
                throw Failure("openssl \(arguments.joined(separator: " ")) failed: \(result.stderr)")
            }
            return result.stdout
        }

        func write(_ bytes: [UInt8], _ name: String) throws -> String {
            try Data(bytes).write(to: directory.appendingPathComponent(name))
            return path(name)
        }

        func write(_ text: String, _ name: String) throws -> String {
            try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
            return path(name)
        }

        func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: directory.appendingPathComponent(name))) }

        /// A software key made by `openssl genpkey` (`rsa` or `ec`), and its DER SubjectPublicKeyInfo.
        func key(_ kind: String, _ name: String) throws -> (path: String, spki: [UInt8]) {
            let key = path(name + ".key")
            if kind == "rsa" {
                try must(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key])
            } else {
                try must(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key])
            }
            try must(["pkey", "-in", key, "-pubout", "-outform", "DER", "-out", path(name + ".spki")])
            return (key, try read(name + ".spki"))
        }

        /// A signer closure that signs with `openssl dgst -sha256 -sign KEY` in a subprocess, as
        /// the token would (PSS: MGF1-SHA-256, salt 32; ECDSA: DER Ecdsa-Sig-Value).
        func signer(key: String, scheme: SignatureScheme) -> @Sendable ([UInt8]) async throws -> [UInt8] {
            { [self] toBeSigned in
                let id = UUID().uuidString
                let input = try write(toBeSigned, "tbs-\(id)")
                var arguments = ["dgst", "-sha256", "-sign", key]
                if scheme == .rsaPSSSHA256 {
                    arguments += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256"]
                }
                try must(arguments + ["-out", path("sig-\(id)"), input])
                return try read("sig-\(id)")
            }
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    static let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
    static let rootName = DistinguishedName(
        country: "EG", organization: "Ministry of Finance (TEST)", organizationalUnit: "e-Certification Unit (TEST)",
        commonName: "paysign Test Token Root")

    /// A self-signed CA of `kind` ("rsa" or "ec") signed with `scheme`, written as `NAME.pem`.
    static func makeCA(_ bench: Workbench, kind: String, scheme: SignatureScheme, name: String = "ca",
                       subject: DistinguishedName = rootName) async throws -> (certificate: Certificate, key: String) {
        let key = try bench.key(kind, name)
        let certificate = try await CertificateIssuer.selfSigned(
            subject: subject, subjectPublicKeyInfo: key.spki, serialNumber: [0x01, 0x02, 0x03, 0x04],
            notBefore: now - 3600, notAfter: now + 10 * 365 * 86400, scheme: scheme,
            sign: bench.signer(key: key.path, scheme: scheme))
        _ = try bench.write(certificate.pemEncoded, name + ".pem")
        return (certificate, key.path)
    }

    // MARK: Self-signed CA

    @Test("a self-signed CA made through an external signer: openssl verify accepts it, x509 -text shows CA:TRUE, keyCertSign, cRLSign",
          arguments: [("rsa", SignatureScheme.rsaPKCS1SHA256), ("ec", .ecdsaSHA256), ("rsa", .rsaPSSSHA256)])
    func selfSignedCA(kind: String, scheme: SignatureScheme) async throws {
        let bench = try Workbench()
        let (ca, key) = try await Self.makeCA(bench, kind: kind, scheme: scheme)
        let verdict = try bench.openssl(["verify", "-x509_strict", "-CAfile", "ca.pem", "ca.pem"])
        #expect(verdict.status == 0 && verdict.stdout.contains("ca.pem: OK"), "\(verdict.output)")

        let text = try bench.must(["x509", "-in", "ca.pem", "-noout", "-text"])
        #expect(text.contains("Version: 3 (0x2)"))
        #expect(text.contains("X509v3 Basic Constraints: critical") && text.contains("CA:TRUE"))
        #expect(text.contains("X509v3 Key Usage: critical") && text.contains("Certificate Sign, CRL Sign"))
        #expect(text.contains("X509v3 Subject Key Identifier") && text.contains("X509v3 Authority Key Identifier"))
        switch scheme {
        case .rsaPKCS1SHA256: #expect(text.contains("Signature Algorithm: sha256WithRSAEncryption"))
        case .rsaPSSSHA256:
            #expect(text.contains("Signature Algorithm: rsassaPss"))
            #expect(text.contains("Hash Algorithm: sha256") && text.contains("Mask Algorithm: mgf1 with sha256"))
            #expect(text.contains("Salt Length: 0x20"))
        case .ecdsaSHA256: #expect(text.contains("Signature Algorithm: ecdsa-with-SHA256"))
        }

        #expect(ca.subject == "CN=paysign Test Token Root,OU=e-Certification Unit (TEST),O=Ministry of Finance (TEST),C=EG")
        #expect(ca.issuer == ca.subject)
        #expect(ca.serialNumber == "01020304")
        #expect(ca.keyUsage == [.keyCertSign, .cRLSign])
        #expect(ca.notBefore == Self.now - 3600)
        #expect(ca.keyAlgorithm == (kind == "rsa" ? .rsa : .ec))
        #expect(try ca.subjectPublicKeyInfo == bench.read("ca.spki"))
        // The key identifier is the one OpenSSL computes for the same key (RFC 5280 4.2.1.2, method 1).
        try bench.must(["req", "-new", "-x509", "-key", key, "-subj", "/CN=reference", "-days", "1",
                        "-addext", "subjectKeyIdentifier=hash", "-out", "reference.pem"])
        let reference = try Certificate(pemEncoded: String(contentsOfFile: bench.path("reference.pem"), encoding: .utf8))
        #expect(ca.subjectKeyIdentifier != nil && ca.subjectKeyIdentifier == reference.subjectKeyIdentifier)
        #expect(ca.authorityKeyIdentifier == ca.subjectKeyIdentifier)
        // What is returned is what was signed: DER and PEM read back the same.
        #expect(try Certificate(pemEncoded: ca.pemEncoded) == ca)
    }

    // MARK: PKCS #10

    @Test("a certification request made through an external signer: openssl req -verify accepts it, and it reads back",
          arguments: [("rsa", SignatureScheme.rsaPKCS1SHA256), ("ec", .ecdsaSHA256), ("rsa", .rsaPSSSHA256)])
    func requestVerifies(kind: String, scheme: SignatureScheme) async throws {
        let bench = try Workbench()
        let key = try bench.key(kind, "holder")
        let subject = DistinguishedName([
            DistinguishedName.country("EG"), DistinguishedName.organization("Test Entity EG-0101"),
            DistinguishedName.organizationalUnit("first-signature"), DistinguishedName.commonName("Officer Éa"),
            DistinguishedName.serialNumber("28001010100011"),
        ])
        let request = try await CertificateRequest.make(
            subject: subject, subjectPublicKeyInfo: key.spki, scheme: scheme,
            sign: bench.signer(key: key.path, scheme: scheme))
        _ = try bench.write(request.pemEncoded, "holder.csr")
        let verdict = try bench.openssl(["req", "-in", "holder.csr", "-verify", "-noout"])
        #expect(verdict.status == 0 && verdict.output.contains("verify OK"), "\(verdict.output)")
        let text = try bench.must(["req", "-in", "holder.csr", "-noout", "-text", "-nameopt", "RFC2253,-esc_msb"])
        #expect(text.contains("serialNumber=28001010100011,CN=Officer Éa,OU=first-signature,O=Test Entity EG-0101,C=EG"), "\(text)")

        #expect(request.verifySelfSignature())
        #expect(request.subject == "serialNumber=28001010100011,CN=Officer Éa,OU=first-signature,O=Test Entity EG-0101,C=EG")
        #expect(try request.subject == subject.rfc2253)
        #expect(request.subjectSerialNumber == "28001010100011")
        #expect(request.commonName == "Officer Éa")
        #expect(request.subjectPublicKeyInfo == key.spki)
        #expect(request.keyAlgorithm == (kind == "rsa" ? .rsa : .ec))
        #expect(request.keyBits == (kind == "rsa" ? 2048 : 256))
        let reread = try CertificateRequest(pemEncoded: String(contentsOfFile: bench.path("holder.csr"), encoding: .utf8))
        #expect(reread.derEncoded == request.derEncoded)
        try bench.must(["req", "-in", "holder.csr", "-outform", "DER", "-out", "holder.der"])
        #expect(try bench.read("holder.der") == request.derEncoded, "openssl re-encodes the request to the same DER")
    }

    @Test("a distinguished name is encoded as OpenSSL encodes the same -subj (C and serialNumber PrintableString, the rest UTF8String)")
    func distinguishedNameMatchesOpenSSL() throws {
        let bench = try Workbench()
        let key = try bench.key("ec", "k")
        try bench.must(["req", "-new", "-utf8", "-key", key.path, "-out", "r.csr",
                        "-subj", "/C=EG/O=Test Entity EG-0101/OU=first-signature/CN=Officer Éa/serialNumber=28001010100011"])
        let request = try CertificateRequest(pemEncoded: String(contentsOfFile: bench.path("r.csr"), encoding: .utf8))
        let name = DistinguishedName(
            country: "EG", organization: "Test Entity EG-0101", organizationalUnit: "first-signature",
            commonName: "Officer Éa", serialNumber: "28001010100011")
        #expect(try name.derEncoded == request.subjectDER)
        #expect(name.attributes.map(\.oid) == ["2.5.4.6", "2.5.4.10", "2.5.4.11", "2.5.4.3", "2.5.4.5"])
        #expect(name == DistinguishedName(name.attributes))

        for (bad, phrase) in [
            (DistinguishedName([DistinguishedName.country("EGY")]), "two-letter"),
            (DistinguishedName([DistinguishedName.serialNumber("2800_1010")]), "PrintableString"),
            (DistinguishedName([DistinguishedName.commonName("")]), "empty"),
            (DistinguishedName([DistinguishedName.commonName(String(repeating: "x", count: 65))]), "at most 64"),
            (DistinguishedName([(oid: "2.5.4.x", value: "v")]), "object identifier"),
        ] {
            do {
                _ = try bad.derEncoded
                Issue.record("\(bad) was encoded")
            } catch let error as X509BuildError {
                #expect(error.code == .invalidName && error.message.contains(phrase), "\(error)")
            }
        }
    }

    // MARK: Issuing

    @Test("a certificate issued from an OpenSSL-made request verifies with openssl verify -CAfile, with its subject and key usage",
          arguments: [
            ("rsa", SignatureScheme.rsaPKCS1SHA256, "ec"), ("ec", .ecdsaSHA256, "rsa"), ("rsa", .rsaPSSSHA256, "rsa"),
          ])
    func issueFromOpenSSLRequest(caKind: String, scheme: SignatureScheme, holderKind: String) async throws {
        let bench = try Workbench()
        let (ca, caKey) = try await Self.makeCA(bench, kind: caKind, scheme: scheme)
        let holder = try bench.key(holderKind, "holder")
        // The holder's own request names itself; the authority decides the subject it certifies.
        try bench.must(["req", "-new", "-key", holder.path, "-subj", "/CN=whatever the holder typed", "-out", "holder.csr"])
        let request = try CertificateRequest(pemEncoded: String(contentsOfFile: bench.path("holder.csr"), encoding: .utf8))
        #expect(request.verifySelfSignature())
        let subject = DistinguishedName(
            country: "EG", organization: "Test Entity EG-0101", organizationalUnit: "first-signature",
            commonName: "Officer One", serialNumber: "28001010100011")
        let serial: [UInt8] = [0x7F] + Array(repeating: 0xA5, count: 19)  // 20 octets, top bit clear
        let certificate = try await CertificateIssuer.issue(
            request: request, subject: subject, serialNumber: serial, notBefore: Self.now - 60,
            notAfter: Self.now + 730 * 86400, issuer: ca, scheme: scheme, certificatePolicies: ["1.3.6.1.4.1.99999.2.1"],
            sign: bench.signer(key: caKey, scheme: scheme))
        _ = try bench.write(certificate.pemEncoded, "holder.pem")

        let verdict = try bench.openssl(["verify", "-x509_strict", "-CAfile", "ca.pem", "holder.pem"])
        #expect(verdict.status == 0 && verdict.stdout.contains("holder.pem: OK"), "\(verdict.output)")
        let other = try await Self.makeCA(bench, kind: caKind, scheme: scheme, name: "other")
        #expect(other.certificate.subject == ca.subject, "same name, other key")
        let refusal = try bench.openssl(["verify", "-CAfile", "other.pem", "holder.pem"])
        #expect(refusal.status != 0, "the judge refuses a certificate under another key")

        let text = try bench.must(["x509", "-in", "holder.pem", "-noout", "-text", "-nameopt", "RFC2253"])
        #expect(text.contains("Subject: serialNumber=28001010100011,CN=Officer One,OU=first-signature,O=Test Entity EG-0101,C=EG"), "\(text)")
        #expect(text.contains("X509v3 Basic Constraints: critical") && text.contains("CA:FALSE"))
        #expect(text.contains("X509v3 Key Usage: critical") && text.contains("Digital Signature, Non Repudiation"))
        #expect(text.contains("Policy: 1.3.6.1.4.1.99999.2.1"))
        #expect(!text.contains("whatever the holder typed"))

        #expect(certificate.subject == "serialNumber=28001010100011,CN=Officer One,OU=first-signature,O=Test Entity EG-0101,C=EG")
        #expect(certificate.subjectSerialNumber == "28001010100011")
        #expect(certificate.issuer == ca.subject)
        #expect(try certificate.subjectDER == subject.derEncoded)
        #expect(certificate.serialNumber == "7F" + String(repeating: "A5", count: 19))
        #expect(certificate.keyUsage == [.digitalSignature, .nonRepudiation])
        #expect(certificate.notBefore == Self.now - 60 && certificate.notAfter == Self.now + 730 * 86400)
        #expect(try certificate.subjectPublicKeyInfo == holder.spki)
        #expect(certificate.keyAlgorithm == (holderKind == "rsa" ? .rsa : .ec))
        #expect(certificate.authorityKeyIdentifier == ca.subjectKeyIdentifier)
        #expect(certificate.subjectKeyIdentifier != nil && certificate.subjectKeyIdentifier != ca.subjectKeyIdentifier)
        // The issuer name in the certificate is the CA's subject DER, byte for byte.
        let issuerDER = try Self.tbsFields(certificate.derEncoded)[2].encodedBytes
        #expect(try Array(issuerDER) == ca.subjectDER)
    }

    @Test("a request whose signature was tampered with is refused by issue, before anything is signed")
    func tamperedRequestRefused() async throws {
        let bench = try Workbench()
        let (ca, caKey) = try await Self.makeCA(bench, kind: "ec", scheme: .ecdsaSHA256)
        let holder = try bench.key("rsa", "holder")
        try bench.must(["req", "-new", "-key", holder.path, "-subj", "/CN=Officer", "-outform", "DER", "-out", "holder.der"])
        let original = try bench.read("holder.der")
        #expect(try CertificateRequest(derEncoded: original).verifySelfSignature())

        var badSignature = original
        badSignature[badSignature.count - 5] ^= 0x01  // inside the signature BIT STRING
        var badSubject = original
        let cn = try #require(Self.range(of: Array("Officer".utf8), in: badSubject))
        badSubject[cn.lowerBound] = UInt8(ascii: "o")  // the signed info changed
        for tampered in [badSignature, badSubject] {
            let request = try CertificateRequest(derEncoded: tampered)
            #expect(!request.verifySelfSignature())
            let calls = Counter()
            let sign = bench.signer(key: caKey, scheme: .ecdsaSHA256)
            do {
                _ = try await CertificateIssuer.issue(
                    request: request, subject: DistinguishedName(commonName: "Officer"), serialNumber: [0x10],
                    notBefore: Self.now, notAfter: Self.now + 86400, issuer: ca, scheme: .ecdsaSHA256
                ) { tbs in
                    calls.value.withLock { $0 += 1 }
                    return try await sign(tbs)
                }
                Issue.record("a tampered request was certified")
            } catch let error as X509BuildError {
                #expect(error.code == .requestSignatureInvalid)
                #expect(error.message.contains("not signed by the key it carries"))
            }
            #expect(calls.value.withLock { $0 } == 0, "nothing went to the signer")
        }
    }

    @Test("the builders refuse what RFC 5280 forbids and signatures that do not verify")
    func refusals() async throws {
        let bench = try Workbench()
        let (ca, caKey) = try await Self.makeCA(bench, kind: "rsa", scheme: .rsaPKCS1SHA256)
        let sign = bench.signer(key: caKey, scheme: .rsaPKCS1SHA256)
        let holder = try bench.key("ec", "holder")
        let request = try await CertificateRequest.make(
            subject: DistinguishedName(commonName: "Holder"), subjectPublicKeyInfo: holder.spki, scheme: .ecdsaSHA256,
            sign: bench.signer(key: holder.path, scheme: .ecdsaSHA256))

        func expectRefusal(_ code: X509BuildError.Code, _ phrase: String, _ body: () async throws -> Void) async {
            do {
                try await body()
                Issue.record("not refused: expected \(code)")
            } catch let error as X509BuildError {
                #expect(error.code == code && error.message.contains(phrase), "\(error.code): \(error)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        func issue(serial: [UInt8] = [1], notAfter: Date = now + 86400, issuer: Certificate? = nil,
                   scheme: SignatureScheme = .rsaPKCS1SHA256,
                   sign custom: (@Sendable ([UInt8]) async throws -> [UInt8])? = nil) async throws {
            _ = try await CertificateIssuer.issue(
                request: request, subject: DistinguishedName(commonName: "Holder"), serialNumber: serial,
                notBefore: now, notAfter: notAfter, issuer: issuer ?? ca, scheme: scheme, sign: custom ?? sign)
        }
        let now = Self.now
        await expectRefusal(.invalidSerial, "zero") { try await issue(serial: [0, 0]) }
        await expectRefusal(.invalidSerial, "at most 20") { try await issue(serial: [0x80] + Array(repeating: 1, count: 19)) }
        await expectRefusal(.invalidValidity, "before it starts") { try await issue(notAfter: now) }
        await expectRefusal(.schemeMismatch, "does not fit") { try await issue(scheme: .ecdsaSHA256) }
        // Signed by another key than the issuer's: caught before it is returned.
        let stranger = try bench.key("rsa", "stranger")
        await expectRefusal(.signatureRejected, "does not verify") {
            try await issue(sign: bench.signer(key: stranger.path, scheme: .rsaPKCS1SHA256))
        }
        // An end-entity certificate is no issuer.
        let endEntity = try await CertificateIssuer.issue(
            request: request, subject: DistinguishedName(commonName: "Holder"), serialNumber: [2], notBefore: now,
            notAfter: now + 86400, issuer: ca, scheme: .rsaPKCS1SHA256, sign: sign)
        await expectRefusal(.issuerNotAuthority, "not a CA") { try await issue(issuer: endEntity) }
        await expectRefusal(.issuerNotAuthority, "cRLSign") {
            _ = try await RevocationList.make(issuer: endEntity, number: 1, thisUpdate: now, nextUpdate: now + 86400,
                                              entries: [], scheme: .ecdsaSHA256, sign: sign)
        }
        // ECDSA: a token's raw r‖s must be converted first.
        let ecCA = try await Self.makeCA(bench, kind: "ec", scheme: .ecdsaSHA256, name: "ecca")
        await expectRefusal(.signatureRejected, "not a DER ECDSA-Sig-Value") {
            try await issue(issuer: ecCA.certificate, scheme: .ecdsaSHA256) { _ in [UInt8](repeating: 7, count: 64) }
        }
        await expectRefusal(.signatureRejected, "empty signature") {
            try await issue(issuer: ecCA.certificate, scheme: .ecdsaSHA256) { _ in [] }
        }
        // A request over a key the scheme does not fit, and one signed with another key.
        await expectRefusal(.schemeMismatch, "does not fit") {
            _ = try await CertificateRequest.make(subject: DistinguishedName(commonName: "x"), subjectPublicKeyInfo: holder.spki,
                                                  scheme: .rsaPKCS1SHA256, sign: sign)
        }
        await expectRefusal(.signatureRejected, "does not verify with the request's key") {
            _ = try await CertificateRequest.make(subject: DistinguishedName(commonName: "x"), subjectPublicKeyInfo: holder.spki,
                                                  scheme: .ecdsaSHA256, sign: bench.signer(key: ecCA.key, scheme: .ecdsaSHA256))
        }
        await expectRefusal(.invalidKey, "SubjectPublicKeyInfo") {
            _ = try await CertificateRequest.make(subject: DistinguishedName(commonName: "x"), subjectPublicKeyInfo: [0x30, 0x00],
                                                  scheme: .ecdsaSHA256, sign: sign)
        }
        await expectRefusal(.invalidName, "empty") {
            _ = try await CertificateRequest.make(subject: DistinguishedName([]), subjectPublicKeyInfo: holder.spki,
                                                  scheme: .ecdsaSHA256, sign: sign)
        }
        // CRL entries.
        func crl(_ entries: [RevokedEntry], nextUpdate: Date = now + 86400) async throws {
            _ = try await RevocationList.make(issuer: ca, number: 1, thisUpdate: now, nextUpdate: nextUpdate, entries: entries,
                                              scheme: .rsaPKCS1SHA256, sign: sign)
        }
        let entry = { (serial: [UInt8], reason: Int?) in RevokedEntry(serialNumber: serial, revocationDate: now, reason: reason, invalidityDate: nil) }
        await expectRefusal(.invalidEntry, "not a CRLReason") { try await crl([entry([1], 7)]) }
        await expectRefusal(.invalidEntry, "not a CRLReason") { try await crl([entry([1], 11)]) }
        await expectRefusal(.invalidEntry, "delta CRLs only") { try await crl([entry([1], 8)]) }
        await expectRefusal(.invalidEntry, "listed twice") { try await crl([entry([1, 2], 1), entry([0, 1, 2], 4)]) }
        await expectRefusal(.invalidSerial, "zero") { try await crl([entry([0], 1)]) }
        await expectRefusal(.invalidValidity, "not after") { try await crl([], nextUpdate: now) }
    }

    // MARK: CRLs

    @Test("a CRL with two entries verifies with openssl crl -CAfile, lists serials, reasons, invalidity date, number and AKI, and reads back",
          arguments: [("rsa", SignatureScheme.rsaPKCS1SHA256), ("ec", .ecdsaSHA256), ("rsa", .rsaPSSSHA256)])
    func revocationList(kind: String, scheme: SignatureScheme) async throws {
        let bench = try Workbench()
        let (ca, caKey) = try await Self.makeCA(bench, kind: kind, scheme: scheme)
        let compromised = RevokedEntry(
            serialNumber: [0x7F] + Array(repeating: 0x11, count: 19), revocationDate: Self.now - 7200, reason: RevokedEntry.keyCompromise,
            invalidityDate: Self.now - 86400 * 3)
        let superseded = RevokedEntry(
            serialNumber: [0x00, 0x0A, 0x1B, 0x2C], revocationDate: Self.now - 3600, reason: RevokedEntry.superseded, invalidityDate: nil)
        let list = try await RevocationList.make(
            issuer: ca, number: 7, thisUpdate: Self.now, nextUpdate: Self.now + 7 * 86400, entries: [compromised, superseded],
            scheme: scheme, sign: bench.signer(key: caKey, scheme: scheme))
        _ = try bench.write(list.derEncoded, "crl.der")

        let verdict = try bench.openssl(["crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "ca.pem", "-noout"])
        #expect(verdict.status == 0 && verdict.output.contains("verify OK"), "\(verdict.output)")
        let text = try bench.must(["crl", "-inform", "DER", "-in", "crl.der", "-noout", "-text"])
        #expect(text.contains("Version 2 (0x1)"))
        #expect(text.contains("Serial Number: 0A1B2C"))
        #expect(text.contains("Serial Number: 7F" + String(repeating: "11", count: 19)))
        #expect(text.contains("Key Compromise") && text.contains("Superseded"))
        #expect(text.contains("Invalidity Date") && text.contains(Self.opensslDate(Self.now - 86400 * 3)))
        #expect(Self.lineAfter("X509v3 CRL Number:", in: text) == "7", "\(text)")
        #expect(text.contains("X509v3 Authority Key Identifier"))
        let akiHex = try #require(ca.subjectKeyIdentifier).map { String(format: "%02X", $0) }.joined(separator: ":")
        #expect(text.contains(akiHex), "the AKI names the CA's key id \(akiHex)")
        // Sorted by serial: the short one first.
        let first = try #require(text.range(of: "Serial Number: 0A1B2C")), second = try #require(text.range(of: "Serial Number: 7F"))
        #expect(first.lowerBound < second.lowerBound)

        let back = try RevocationList(derEncoded: try bench.read("crl.der"))
        #expect(back.derEncoded == list.derEncoded)
        #expect(back.version == 2)
        #expect(back.issuer == ca.subject)
        #expect(back.crlNumber == [7] && back.crlNumberValue == 7)
        #expect(back.thisUpdate == Self.now && back.nextUpdate == Self.now + 7 * 86400)
        #expect(back.entries == [superseded, compromised])
        #expect(back.entries[0].serialNumber == [0x0A, 0x1B, 0x2C] && back.entries[0].serialHex == "0A1B2C")
        #expect(back.entries[1].reasonName == "keyCompromise" && back.entries[0].reasonName == "superseded")
        #expect(back.authorityKeyIdentifier == ca.subjectKeyIdentifier)
        #expect(back.entry(for: "0a1b2c") == superseded && back.entry(for: "0x000A1B2C") == superseded)
        #expect(back.entry(for: "0A1B2D") == nil && back.entry(for: "not hex") == nil)
        #expect(back.isSigned(by: ca))
        let other = try await Self.makeCA(bench, kind: kind, scheme: scheme, name: "other")
        #expect(!back.isSigned(by: other.certificate))
        let wrongCA = try bench.openssl(["crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "other.pem", "-noout"])
        // OpenSSL 3.0's `crl` prints "verify failure" but still exits 0: the words are the verdict.
        #expect(wrongCA.output.contains("verify failure") && !wrongCA.output.contains("verify OK"),
                "the judge refuses the CRL under another key of the same name: \(wrongCA.output)")
        #expect(try RevocationList(pemEncoded: back.pemEncoded).derEncoded == back.derEncoded)
        let pem = try bench.must(["crl", "-inform", "DER", "-in", "crl.der"])
        #expect(try RevocationList(pemEncoded: pem).derEncoded == back.derEncoded)

        // The reasonCode extension is non-critical and the ENUMERATED OpenSSL read agrees.
        let parsed = try Self.tbsFields(list.derEncoded, list: true)
        #expect(parsed.count == 7, "version, signature, issuer, thisUpdate, nextUpdate, revokedCertificates, [0] crlExtensions")
        #expect(parsed[3].identifier == .utcTime && parsed[4].identifier == .utcTime)
    }

    @Test("a CRL with no entries leaves revokedCertificates out; 2050 and later dates are GeneralizedTime; reason 0 is not written")
    func emptyAndFarFutureLists() async throws {
        let bench = try Workbench()
        let (ca, caKey) = try await Self.makeCA(bench, kind: "ec", scheme: .ecdsaSHA256)
        let empty = try await RevocationList.make(
            issuer: ca, number: 0, thisUpdate: Self.now, nextUpdate: Self.now + 86400, entries: [],
            scheme: .ecdsaSHA256, sign: bench.signer(key: caKey, scheme: .ecdsaSHA256))
        _ = try bench.write(empty.derEncoded, "empty.der")
        let verdict = try bench.openssl(["crl", "-inform", "DER", "-in", "empty.der", "-CAfile", "ca.pem", "-noout"])
        #expect(verdict.status == 0 && verdict.output.contains("verify OK"), "\(verdict.output)")
        let text = try bench.must(["crl", "-inform", "DER", "-in", "empty.der", "-noout", "-text"])
        #expect(text.contains("No Revoked Certificates."))
        let fields = try Self.tbsFields(empty.derEncoded, list: true)
        #expect(fields.count == 6, "no empty revokedCertificates SEQUENCE")
        #expect(fields.last?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific))
        #expect(empty.entries.isEmpty && empty.crlNumber == [0] && empty.crlNumberValue == 0)

        // 2051: GeneralizedTime (RFC 5280 5.1.2.4); a 20-octet CRL serial; reason 0 left out.
        let far = Date(timeIntervalSince1970: 2_556_144_000)  // 2051-01-01
        let unspecified = RevokedEntry(serialNumber: [0x42], revocationDate: far, reason: 0, invalidityDate: far - 86400)
        let list = try await RevocationList.make(
            issuer: ca, number: UInt64.max, thisUpdate: far, nextUpdate: far + 86400, entries: [unspecified],
            scheme: .ecdsaSHA256, sign: bench.signer(key: caKey, scheme: .ecdsaSHA256))
        _ = try bench.write(list.derEncoded, "far.der")
        let farVerdict = try bench.openssl(["crl", "-inform", "DER", "-in", "far.der", "-CAfile", "ca.pem", "-noout"])
        #expect(farVerdict.status == 0 && farVerdict.output.contains("verify OK"), "\(farVerdict.output)")
        let farFields = try Self.tbsFields(list.derEncoded, list: true)
        #expect(farFields[3].identifier == .generalizedTime && farFields[4].identifier == .generalizedTime)
        #expect(list.thisUpdate == far && list.nextUpdate == far + 86400)
        #expect(list.crlNumber == Array(repeating: 0xFF, count: 8) && list.crlNumberValue == UInt64.max)
        #expect(list.entries.first?.reason == nil, "unspecified is written as no reasonCode")
        #expect(list.entries.first?.invalidityDate == far - 86400)
        #expect(list.entries.first?.revocationDate == far)
        let farText = try bench.must(["crl", "-inform", "DER", "-in", "far.der", "-noout", "-text"])
        #expect(!farText.contains("CRL Reason Code"))
        #expect(farText.contains("Invalidity Date"))
    }

    @Test("a foreign CRL with a 20-octet CRL number reads back (openssl ca made it)")
    func foreignCRL() throws {
        let bench = try Workbench()
        try bench.must(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
                        "-subj", "/CN=Foreign CA", "-days", "30", "-out", "ca.pem"])
        let dir = bench.directory.path
        _ = try bench.write("", "index.txt")
        _ = try bench.write("7F" + String(repeating: "01", count: 19) + "\n", "crlnumber")
        let config = """
            [ca]
            default_ca = test
            [test]
            database = \(dir)/index.txt
            crlnumber = \(dir)/crlnumber
            default_md = sha256
            default_crl_days = 30
            crl_extensions = ext
            [ext]
            authorityKeyIdentifier = keyid:always
            """
        _ = try bench.write(config, "ca.cnf")
        try bench.must(["ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "ca.key", "-cert", "ca.pem", "-out", "crl.pem"])
        let list = try RevocationList(pemEncoded: String(contentsOfFile: bench.path("crl.pem"), encoding: .utf8))
        #expect(list.crlNumber == [0x7F] + Array(repeating: 0x01, count: 19))
        #expect(list.crlNumberValue == nil)
        #expect(list.entries.isEmpty)
        let ca = try Certificate(pemEncoded: String(contentsOfFile: bench.path("ca.pem"), encoding: .utf8))
        #expect(list.isSigned(by: ca))
        #expect(list.issuer == "CN=Foreign CA")
    }

    @Test("garbage and truncated DER are refused with one sentence, never a crash")
    func garbage() async throws {
        let bench = try Workbench()
        let (ca, caKey) = try await Self.makeCA(bench, kind: "ec", scheme: .ecdsaSHA256)
        let list = try await RevocationList.make(
            issuer: ca, number: 1, thisUpdate: Self.now, nextUpdate: Self.now + 86400,
            entries: [RevokedEntry(serialNumber: [5], revocationDate: Self.now, reason: 1, invalidityDate: nil)],
            scheme: .ecdsaSHA256, sign: bench.signer(key: caKey, scheme: .ecdsaSHA256))
        let holder = try bench.key("ec", "holder")
        let request = try await CertificateRequest.make(
            subject: DistinguishedName(commonName: "Holder"), subjectPublicKeyInfo: holder.spki, scheme: .ecdsaSHA256,
            sign: bench.signer(key: holder.path, scheme: .ecdsaSHA256))
        let samples: [[UInt8]] = [
            [], [0x30], [0x30, 0x82, 0xFF, 0xFF, 0x01], Array(repeating: 0x41, count: 1000),
            Array(list.derEncoded.dropLast(10)), Array(list.derEncoded.prefix(list.derEncoded.count / 2)), list.derEncoded + [0x00],
            Array(request.derEncoded.dropLast(3)), request.derEncoded + [0x05, 0x00], ca.derEncoded,
        ]
        for bytes in samples {
            do {
                _ = try RevocationList(derEncoded: bytes)
                Issue.record("\(bytes.count) garbage bytes parsed as a CRL")
            } catch let error as OpenSSLError {
                #expect(error.code == .malformedRevocationList)
                #expect(Self.isOneSentence(error.message), "\(error.message)")
            }
            do {
                _ = try CertificateRequest(derEncoded: bytes)
                Issue.record("\(bytes.count) garbage bytes parsed as a request")
            } catch let error as OpenSSLError {
                #expect(error.code == .malformedRequest)
                #expect(Self.isOneSentence(error.message), "\(error.message)")
            }
        }
        #expect(throws: OpenSSLError.self) { _ = try RevocationList(pemEncoded: ca.pemEncoded) }
        #expect(throws: OpenSSLError.self) { _ = try CertificateRequest(pemEncoded: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n") }
    }

    // MARK: Helpers

    static func isOneSentence(_ message: String) -> Bool {
        !message.isEmpty && !message.contains("\n") && !message.dropLast().contains(". ")
    }

    /// The fields of the TBSCertificate (after the version) or TBSCertList.
    static func tbsFields(_ der: [UInt8], list: Bool = false) throws -> [ASN1Node] {
        guard case .constructed(let outer) = try DER.parse(der).content, let tbs = Array(outer).first,
            case .constructed(let fields) = tbs.content
        else { throw Failure("not a signed structure") }
        var result = Array(fields)
        if !list, result.first?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) { result.removeFirst() }
        return result
    }

    static func range(of needle: [UInt8], in haystack: [UInt8]) -> Range<Int>? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where Array(haystack[start..<start + needle.count]) == needle {
            return start..<start + needle.count
        }
        return nil
    }

    /// OpenSSL's way of printing a time: `Mar  4 09:05:01 2026 GMT`.
    static func opensslDate(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return String(format: "%@ %2d %02d:%02d:%02d %d GMT", months[c.month! - 1], c.day!, c.hour!, c.minute!, c.second!, c.year!)
    }

    /// The trimmed line after the line holding `marker`.
    static func lineAfter(_ marker: String, in text: String) -> String? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard let at = lines.firstIndex(where: { $0.contains(marker) }), at + 1 < lines.count else { return nil }
        return lines[at + 1].trimmingCharacters(in: .whitespaces)
    }
}

final class Counter: Sendable {
    let value = Mutex(0)
}
