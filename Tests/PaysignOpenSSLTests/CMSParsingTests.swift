import Foundation
import SwiftASN1
import Testing

@testable import PaysignOpenSSL

/// Parsing `.p7s` files, and the CMS builder driven by a software key through the `openssl` command
/// (the token tests in PaysignTokensTests do the same with keys on SoftHSM).
@Suite("CMS SignedData: parsing, building with an outside signer, verifying")
struct CMSParsingTests {
    /// A throw-away folder with a self-signed certificate and its key, made by the `openssl` command.
    final class Fixture: @unchecked Sendable {
        // Immutable after init; the folder is removed in deinit.
        let directory: URL
        let certificate: Certificate
        let keyPath: String
        let certificatePath: String

        init(key: [String], commonName: String = "Signer", serialNumber: String = "29001010100022") throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-cms-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            keyPath = directory.appendingPathComponent("key.pem").path
            certificatePath = directory.appendingPathComponent("cert.pem").path
            let made = try CMSParsingTests.openssl(["req", "-x509", "-newkey"] + key + [
                "-nodes", "-keyout", keyPath, "-days", "30", "-subj", "/C=EG/O=Test/CN=\(commonName)/serialNumber=\(serialNumber)",
                "-addext", "keyUsage=critical,digitalSignature,nonRepudiation,keyCertSign", "-out", certificatePath,
            ])
            guard made.status == 0 else { throw Failure(message: "openssl req: \(made.stderr)") }
            certificate = try Certificate(pemEncoded: String(contentsOfFile: certificatePath, encoding: .utf8))
        }

        deinit { try? FileManager.default.removeItem(at: directory) }

        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

        /// Signs `bytes` with the key as `openssl dgst -sha256 -sign` does (the signer stands in for a token).
        func sign(_ bytes: [UInt8], options: [String] = []) throws -> [UInt8] {
            let input = path("tbs-\(UUID().uuidString)")
            try Data(bytes).write(to: URL(fileURLWithPath: input))
            let signature = path("sig-\(UUID().uuidString)")
            let result = try CMSParsingTests.openssl(["dgst", "-sha256", "-sign", keyPath] + options + ["-out", signature, input])
            guard result.status == 0 else { throw Failure(message: "openssl dgst -sign: \(result.stderr)") }
            return Array(try Data(contentsOf: URL(fileURLWithPath: signature)))
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func openssl(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Small outputs only (a few kB): reading one pipe after the other cannot block here.
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: stderr, as: UTF8.self))
    }

    static let content = Array("PAYMENT ORDER 2026/000419 EGP 99.50\r\n\u{0}".utf8)

    // MARK: Bad input

    @Test("garbage, truncated and foreign DER is refused with a sentence, never a crash", arguments: [
        [UInt8](),
        [0x30],
        [0x30, 0x82, 0xFF, 0xFF, 0x01],
        Array(repeating: 0x41, count: 1000),
        [0x06, 0x03, 0x55, 0x04, 0x03],  // an OBJECT IDENTIFIER
        // A ContentInfo of type id-data: CMS, but not SignedData.
        [0x30, 0x11, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01, 0xA0, 0x04, 0x04, 0x02, 0x41, 0x42],
        // A ContentInfo of type id-signedData with an empty SignedData.
        [0x30, 0x0F, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02, 0xA0, 0x02, 0x30, 0x00],
    ])
    func garbage(bytes: [UInt8]) {
        do {
            _ = try SignedDocument(derEncoded: bytes)
            Issue.record("garbage parsed")
        } catch let error as OpenSSLError {
            #expect(error.code == .malformedSignature)
            #expect(error.message.count > 30, "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("a real .p7s cut short, with bytes after it, or with its content inside, is refused")
    func damagedFiles() throws {
        let fixture = try Fixture(key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        try Data(Self.content).write(to: URL(fileURLWithPath: fixture.path("order")))
        for (flag, name) in [("", "detached.p7s"), ("-nodetach", "embedded.p7s")] {
            let made = try Self.openssl(["cms", "-sign", "-binary", "-cades", "-outform", "DER", "-signer", fixture.certificatePath,
                                         "-inkey", fixture.keyPath, "-in", fixture.path("order"), "-out", fixture.path(name)]
                                        + (flag.isEmpty ? [] : [flag]))
            #expect(made.status == 0, "\(made.stderr)")
        }
        let detached = Array(try Data(contentsOf: URL(fileURLWithPath: fixture.path("detached.p7s"))))
        #expect(try SignedDocument(derEncoded: detached).signers.count == 1)
        for cut in [1, 10, detached.count / 2, detached.count - 1] {
            #expect(throws: OpenSSLError.self) { _ = try SignedDocument(derEncoded: Array(detached.dropLast(cut))) }
        }
        do {
            _ = try SignedDocument(derEncoded: detached + [0x00])
            Issue.record("trailing bytes accepted")
        } catch let error as OpenSSLError {
            #expect(error.message.contains("followed by 1 unexpected byte;"))
        }
        let embedded = Array(try Data(contentsOf: URL(fileURLWithPath: fixture.path("embedded.p7s"))))
        do {
            _ = try SignedDocument(derEncoded: embedded)
            Issue.record("embedded content accepted")
        } catch let error as OpenSSLError {
            #expect(error.message.contains("carries its content inside"))
        }
    }

    // MARK: Files made by OpenSSL itself

    @Test("a detached CAdES file made by `openssl cms -sign` reads and verifies in process")
    func opensslMadeFile() throws {
        let fixture = try Fixture(key: ["rsa:2048"])
        try Data(Self.content).write(to: URL(fileURLWithPath: fixture.path("order")))
        let made = try Self.openssl(["cms", "-sign", "-binary", "-cades", "-outform", "DER", "-signer", fixture.certificatePath,
                                     "-inkey", fixture.keyPath, "-in", fixture.path("order"), "-out", fixture.path("o.p7s"), "-md", "sha256"])
        #expect(made.status == 0, "\(made.stderr)")
        let document = try SignedDocument(derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: fixture.path("o.p7s")))))
        let signer = try #require(document.signers.first)
        #expect(signer.certificate == fixture.certificate)
        #expect(signer.serialNumber == fixture.certificate.serialNumber)
        #expect(signer.scheme == .rsaPKCS1SHA256)
        #expect(signer.messageDigest == SHA256.hash(Self.content))
        #expect(abs((signer.signingTime ?? .distantPast).timeIntervalSinceNow) < 300)
        #expect(signer.role == nil && signer.commitment == nil && signer.precedingSignatureDigest == nil)
        let check = try document.verify(content: Self.content, trustAnchors: [fixture.certificate])
        #expect(check.isValid, "\(check.signers.flatMap(\.problems)) \(check.openSSLReasons)")
        let wrong = try document.verify(content: Self.content + [0x20], trustAnchors: [fixture.certificate])
        #expect(!wrong.isValid && !wrong.openSSLVerified && wrong.signers.first?.contentMatches == false)
        #expect(wrong.signers.first?.problems.first?.contains("other content") == true)
    }

    // MARK: Building with an outside signer

    @Test("the builder signs through any signer: ECDSA, PKCS #1 and PSS files verify with openssl cms -cades",
          arguments: [
            (["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], SignatureScheme.ecdsaSHA256, [String]()),
            (["rsa:2048"], .rsaPKCS1SHA256, []),
            (["rsa:2048"], .rsaPSSSHA256, ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256"]),
          ])
    func builderWithSoftwareKey(key: [String], scheme: SignatureScheme, options: [String]) async throws {
        let fixture = try Fixture(key: key)
        let time = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let document = try await CMSBuilder.signDetached(
            content: Self.content, certificate: fixture.certificate, scheme: scheme, role: "first", signingTime: time
        ) { tbs in
            // What is signed is a DER SET (tag 0x31) that swift-asn1 reads back with 6 attributes.
            #expect(tbs.first == 0x31)
            let node = try DER.parse(tbs)
            guard case .constructed(let attributes) = node.content else { throw Failure(message: "not constructed") }
            #expect(Array(attributes).count == 6)
            return try fixture.sign(tbs, options: options)
        }
        let signer = try #require(document.signers.first)
        #expect(signer.scheme == scheme && signer.role == "first" && signer.signingTime == time)
        #expect(signer.commitment == .proofOfApproval)

        let p7s = fixture.path("o.p7s")
        try Data(document.derEncoded).write(to: URL(fileURLWithPath: p7s))
        try Data(Self.content).write(to: URL(fileURLWithPath: fixture.path("order")))
        let verified = try Self.openssl([
            "cms", "-verify", "-binary", "-cades", "-inform", "DER", "-content", fixture.path("order"), "-in", p7s,
            "-CAfile", fixture.certificatePath, "-purpose", "any", "-out", "/dev/null",
        ])
        #expect(verified.status == 0, "\(verified.stderr)")
        let check = try document.verify(content: Self.content, trustAnchors: [fixture.certificate])
        #expect(check.isValid, "\(check.signers.flatMap(\.problems)) \(check.openSSLReasons)")
        // Checked two days ago, the certificate (made today) was not valid yet.
        let early = try document.verify(content: Self.content, trustAnchors: [fixture.certificate], at: time - 2 * 86400)
        #expect(!early.isValid && !early.openSSLVerified && early.signers.first?.certificateTrusted == false)
        #expect(early.signers.first?.problems.contains { $0.contains("not yet valid") } == true, "\(early.signers.first?.problems ?? [])")
    }

    @Test("two signers without a binding (openssl cms -resign) prove no order, and nobody signs after them")
    func unboundSigners() async throws {
        let a = try Fixture(key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], commonName: "A", serialNumber: "1")
        let b = try Fixture(key: ["rsa:2048"], commonName: "B", serialNumber: "2")
        let c = try Fixture(key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], commonName: "C", serialNumber: "3")
        try Data(Self.content).write(to: URL(fileURLWithPath: a.path("order")))
        var made = try Self.openssl(["cms", "-sign", "-binary", "-cades", "-outform", "DER", "-signer", a.certificatePath,
                                     "-inkey", a.keyPath, "-in", a.path("order"), "-out", a.path("a.p7s")])
        #expect(made.status == 0, "\(made.stderr)")
        made = try Self.openssl(["cms", "-resign", "-binary", "-inform", "DER", "-outform", "DER", "-in", a.path("a.p7s"),
                                 "-signer", b.certificatePath, "-inkey", b.keyPath, "-out", a.path("ab.p7s")])
        #expect(made.status == 0, "\(made.stderr)")
        let both = try SignedDocument(derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: a.path("ab.p7s")))))
        #expect(both.signers.count == 2)
        #expect(both.signingOrder == nil)
        #expect(try both.verify(content: Self.content, trustAnchors: [a.certificate, b.certificate]).signers.allSatisfy(\.signatureValid))
        do {
            _ = try await CMSBuilder.signDetached(
                content: Self.content, certificate: c.certificate, scheme: .ecdsaSHA256, role: "second", bindTo: both,
                signingTime: Date()) { tbs in try c.sign(tbs) }
            Issue.record("signed after an unordered pair")
        } catch let error as CMSError {
            #expect(error.code == .orderUnproven)
        }
        // The single-signer file has an order of one, and a third party can sign after it.
        let single = try SignedDocument(derEncoded: Array(try Data(contentsOf: URL(fileURLWithPath: a.path("a.p7s")))))
        #expect(single.signingOrder?.count == 1)
        let next = try await CMSBuilder.signDetached(
            content: Self.content, certificate: c.certificate, scheme: .ecdsaSHA256, role: "second", bindTo: single,
            signingTime: Date()) { tbs in try c.sign(tbs) }
        #expect(next.signingOrder?.map(\.certificate) == [a.certificate, c.certificate])
        let check = try next.verify(content: Self.content, trustAnchors: [a.certificate, c.certificate])
        #expect(check.isValid, "\(check.signers.flatMap(\.problems)) \(check.openSSLReasons)")
    }

    @Test("a signer that signs with another key is caught before the file is returned")
    func wrongKey() async throws {
        let fixture = try Fixture(key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        let other = try Fixture(key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
        do {
            _ = try await CMSBuilder.signDetached(
                content: Self.content, certificate: fixture.certificate, scheme: .ecdsaSHA256, role: "first",
                signingTime: Date()
            ) { tbs in try other.sign(tbs) }
            Issue.record("a signature by another key was accepted")
        } catch let error as CMSError {
            #expect(error.code == .signatureRejected)
        }
        await #expect(throws: OpenSSLError.self) {
            _ = try await CMSBuilder.signDetached(
                content: Self.content, certificate: fixture.certificate, scheme: .rsaPSSSHA256, role: "first",
                signingTime: Date()) { _ in [] }
        }
    }

    @Test("the daemon's two-step path (prepare, finishDetached) returns a file that verifies, and catches a signature by another key, first and second")
    func detachedTwoStep() async throws {
        let first = try Fixture(key: ["rsa:2048"], commonName: "First", serialNumber: "11")
        let second = try Fixture(key: ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"], commonName: "Second", serialNumber: "12")
        let other = try Fixture(key: ["rsa:2048"], commonName: "Other", serialNumber: "13")

        // A first signature made with another key than the certificate's: refused, not returned.
        let wrong = try CMSBuilder.prepare(
            content: Self.content, certificate: first.certificate, scheme: .rsaPKCS1SHA256, role: "first", signingTime: Date())
        #expect(throws: CMSError.self) { _ = try wrong.finishDetached(signature: try other.sign(wrong.signedAttributes)) }

        // The right key: the DER is a file every verifier accepts, and the digest is the signature's.
        let draft = try CMSBuilder.prepare(
            content: Self.content, certificate: first.certificate, scheme: .rsaPKCS1SHA256, role: "first", signingTime: Date())
        let signature = try first.sign(draft.signedAttributes)
        let made = try draft.finishDetached(signature: signature)
        #expect(made.signature == signature && made.signatureDigest == SHA256.hash(signature))
        let parsed = try SignedDocument(derEncoded: made.derEncoded)
        #expect(parsed.signers.count == 1 && parsed.signers[0].signatureDigest == made.signatureDigest)
        let check = try parsed.verify(content: Self.content, trustAnchors: [first.certificate])
        #expect(check.isValid, "\(check.signers.flatMap(\.problems)) \(check.openSSLReasons)")

        // The second signer, bound to the first: another key is refused; the right one verifies.
        let wrongSecond = try CMSBuilder.prepare(
            content: Self.content, certificate: second.certificate, scheme: .ecdsaSHA256, role: "second", bindTo: parsed,
            signingTime: Date())
        #expect(throws: CMSError.self) {
            _ = try wrongSecond.finishDetached(signature: try first.sign(wrongSecond.signedAttributes))
        }
        let next = try CMSBuilder.prepare(
            content: Self.content, certificate: second.certificate, scheme: .ecdsaSHA256, role: "second", bindTo: parsed,
            signingTime: Date())
        let both = try SignedDocument(derEncoded: try next.finishDetached(signature: try second.sign(next.signedAttributes)).derEncoded)
        #expect(both.signingOrder?.map(\.certificate) == [first.certificate, second.certificate])
        let bothCheck = try both.verify(content: Self.content, trustAnchors: [first.certificate, second.certificate])
        #expect(bothCheck.isValid, "\(bothCheck.signers.flatMap(\.problems)) \(bothCheck.openSSLReasons)")
    }

    @Test("the attribute values are the DER the ASN.1 says")
    func attributeEncodings() throws {
        let role = try derBytes(SignerAttributeV2(claimedRole: "second"))
        // SEQUENCE { [0] { SEQUENCE { SEQUENCE { OID 2.5.4.72, SET { UTF8String "second" } } } } }
        #expect(role == [0x30, 0x15, 0xA0, 0x13, 0x30, 0x11, 0x30, 0x0F, 0x06, 0x03, 0x55, 0x04, 0x48, 0x31, 0x08, 0x0C, 0x06]
                + Array("second".utf8))
        #expect(try SignerAttributeV2(derEncoded: role).claimedRole == "second")
        let commitment = try derBytes(CommitmentTypeIndication(commitmentTypeID: CommitmentType.proofOfApproval.oid))
        #expect(commitment == [0x30, 0x0D, 0x06, 0x0B, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x06, 0x05])
        #expect(SignerDraft.derLength(5) == [5])
        #expect(SignerDraft.derLength(127) == [0x7F])
        #expect(SignerDraft.derLength(128) == [0x81, 0x80])
        #expect(SignerDraft.derLength(0x1234) == [0x82, 0x12, 0x34])
        // The PSS parameters are what OpenSSL itself writes for SHA-256 / MGF1-SHA-256 / salt 32.
        let parsed = try DER.parse(SignerDraft.pssParameters)
        #expect(parsed.identifier == .sequence && parsed.encodedBytes.count == SignerDraft.pssParameters.count)
    }
}
