import Foundation
import PaysignDomain
import PaysignOpenSSL
import PaysignTestSupport
import PaysignVerification
import Testing

/// RFC 3161 signature time-stamp tokens as the trusted time of a signature (issue 6, D6): tokens
/// made by a real TSA (`openssl ts -reply`, with the test PKI's TSA certificate issued by the test
/// root, Certs/make-test-pki.sh), attached to the first signer of a genuinely signed order with
/// `TimeStampToken.attach`; `openssl ts -verify` is the independent judge of each token.
@Suite("RFC 3161 time-stamp tokens (TimeStamp)", .serialized)
struct TimeStampTests {
    let bench: Bench
    let stamps: Stamps

    init() throws {
        bench = try Bench.shared.get()
        stamps = try Stamps.shared.get()
    }

    @Test("a valid token makes a signer revoked after its genTime pass, judged at the time-stamp; openssl ts -verify agrees")
    func validToken() async throws {
        // Without the token, judged at a time after the revocation: revoked.
        let revokedAfterStamp = try bench.verifier(crls: [stamps.crlRevokedAfterStamp], at: stamps.afterRevocation)
        let plain = revokedAfterStamp.verify(name: "plain", documentPath: bench.path("order.txt"), signaturePath: bench.path("good.p7s"))
        #expect(plain.verdict == .invalid)
        #expect(plain.failedChecks == [.revocationAtTrustedTime])

        // With it, the first signer is judged at its time-stamp, before the revocation.
        let report = revokedAfterStamp.verify(name: "stamped", documentPath: bench.path("order.txt"), signaturePath: stamps.path("stamped.p7s"))
        #expect(report.verdict == .valid, "\(report.checks.filter { $0.status != .pass })")
        #expect(report.checks.map(\.name) == CheckName.offlineChecks)
        let first = try #require(report.signers.first { $0.claimedRole == "first" })
        let stamp = try #require(first.timeStamp)
        #expect(stamp.verified && stamp.problem == nil)
        #expect(stamp.tsa?.contains("paysign Test TSA") == true)
        #expect(stamp.hashAlgorithm == "sha256" && stamp.accuracySeconds == 1)
        let genTime = try #require(stamp.genTime)
        #expect(genTime >= stamps.madeFrom.addingTimeInterval(-1) && genTime <= stamps.madeUntil)
        #expect(first.trustedTime?.source == .timeStamp)
        #expect(first.trustedTime?.date == genTime.addingTimeInterval(1))
        // The second signer has no token: the order's trusted time (given).
        #expect(report.signers.first { $0.claimedRole == "second" }?.trustedTime == nil)
        #expect(report.trustedTime.source == .given)
        let revocation = try #require(report.check(.revocationAtTrustedTime))
        #expect(revocation.notes.contains { $0.contains("after the time of its time-stamp") }, "\(revocation)")
        #expect(revocation.reason.contains("RFC 3161 time-stamp"))
        #expect(report.check(.validityAtTrustedTime)?.reason.contains("RFC 3161 time-stamp") == true)

        // The renderers say it; the JSON reads back.
        #expect(ReportRendering.text(report).contains("time-stamp    verified"))
        #expect(ReportRendering.html(report).contains("<br>time-stamp    verified, genTime"))
        let decoded = try JSONDecoder.iso.decode(VerificationReport.self, from: try ReportRendering.json(report))
        #expect(decoded.signers.first { $0.claimedRole == "first" }?.trustedTime?.source == .timeStamp)
        #expect(decoded.signers.first { $0.claimedRole == "first" }?.timeStamp?.verified == true)

        // The attached file is still the order OpenSSL verifies, and OpenSSL accepts the token.
        #expect(try await stamps.openSSLAcceptsOrder(bench, "stamped.p7s"))
        #expect(try await stamps.openSSLAcceptsToken("valid.tst", digest: stamps.firstDigest))
    }

    @Test("a token whose genTime is after the revocation fails revocation-at-trusted-time")
    func revokedBeforeStamp() throws {
        let verifier = try bench.verifier(crls: ["crl-revoked-before.der"])
        let report = verifier.verify(name: "r", documentPath: bench.path("order.txt"), signaturePath: stamps.path("stamped.p7s"))
        #expect(report.verdict == .invalid)
        #expect(report.failedChecks == [.revocationAtTrustedTime])
        #expect(report.check(.revocationAtTrustedTime)?.reason.contains("before the time of its time-stamp") == true)
    }

    struct BadToken: Sendable, CustomTestStringConvertible {
        var name: String
        var file: String
        /// What the reason of validity-at-trusted-time must say.
        var says: String
        /// The token, for `openssl ts -verify` (nil: the attribute holds no token it could read).
        var token: String?
        var testDescription: String { name }
    }

    static let badTokens: [BadToken] = [
        BadToken(name: "an imprint over another signature", file: "other-imprint.p7s", says: "time-stamps something else", token: "other-imprint.tst"),
        BadToken(name: "a TSA not chaining to the anchors", file: "untrusted.p7s", says: "does not chain to a trust anchor", token: "untrusted.tst"),
        BadToken(name: "a TSA certificate without the timeStamping EKU", file: "no-eku.p7s", says: "extended key usage timeStamping", token: "no-eku.tst"),
        BadToken(name: "a token signed over another TSTInfo", file: "bad-signature.p7s", says: "signature over the token does not verify", token: "bad-signature.tst"),
        BadToken(name: "DER garbage as the token", file: "der-garbage.p7s", says: "not a DER CMS SignedData", token: nil),
        BadToken(name: "bytes that are not DER in the attribute", file: "raw-garbage.p7s", says: "not a DER CMS SignedData", token: nil),
        BadToken(name: "a SignedData that is no TSTInfo (the order's own .p7s)", file: "not-tstinfo.p7s", says: "id-ct-TSTInfo", token: nil),
        BadToken(name: "two tokens on one signature", file: "two-tokens.p7s", says: "2 time-stamp tokens", token: nil),
    ]

    @Test("a token that does not verify makes the order invalid by validity-at-trusted-time, never a silent fallback", arguments: badTokens)
    func badToken(_ bad: BadToken) async throws {
        let verifier = try bench.verifier(crls: ["crl-empty.der"])
        let report = verifier.verify(name: bad.name, documentPath: bench.path("order.txt"), signaturePath: stamps.path(bad.file))
        #expect(report.verdict == .invalid, "\(bad.name)")
        #expect(report.failedChecks == [.validityAtTrustedTime], "\(bad.name): \(report.checks.filter { $0.status != .pass })")
        let reason = report.check(.validityAtTrustedTime)?.reason ?? ""
        #expect(reason.contains("time-stamp token does not verify") && reason.contains(bad.says), "\(bad.name): \(reason)")
        let first = try #require(report.signers.first { $0.claimedRole == "first" })
        #expect(first.timeStamp?.verified == false)
        #expect(first.trustedTime?.source == report.trustedTime.source)
        #expect(ReportRendering.text(report).contains("NOT VERIFIED"))
        if let token = bad.token {
            #expect(!(try await stamps.openSSLAcceptsToken(token, digest: stamps.firstDigest)), "openssl ts -verify accepted \(token)")
        }
        // The same order without the token is valid: the token alone makes it fail.
        #expect(verifier.verify(name: "plain", documentPath: bench.path("order.txt"), signaturePath: bench.path("good.p7s")).verdict == .valid)
    }

    @Test("a changed byte anywhere in the token: never a crash, and paysign accepts only what openssl ts -verify accepts")
    func mutatedTokens() async throws {
        let verifier = try bench.verifier(crls: ["crl-empty.der"])
        let document = try bench.read("order.txt")
        let good = try bench.read("good.p7s")
        let token = try stamps.read("valid.tst")
        var accepted = 0
        for position in stride(from: 0, to: token.count, by: 5) {
            var changed = token
            changed[position] ^= 0x21
            let signature = try Stamps.addingTokenAttribute(changed, toSigner: stamps.firstIndex, in: good)
            let report = verifier.verify(name: "flip", document: document, signature: signature)
            let first = report.signers.first { $0.claimedRole == "first" }
            if first?.timeStamp?.verified == true {
                accepted += 1
                let file = "flip-\(position).tst"
                try Data(changed).write(to: URL(fileURLWithPath: stamps.path(file)))
                #expect(try await stamps.openSSLAcceptsToken(file, digest: stamps.firstDigest), "byte \(position): paysign accepted a token OpenSSL refuses")
            } else {
                #expect(report.verdict == .invalid && report.failedChecks == [.validityAtTrustedTime], "byte \(position): \(report.checks.filter { $0.status != .pass })")
            }
        }
        #expect(accepted < token.count / 5 / 4, "most changes must be refused (\(accepted) accepted)")
    }

    @Test("through paysignd: a verified time-stamp wins over the daemon's first registration for its signer (D6)")
    func daemon() async throws {
        // officer1 revoked two seconds after the token's latest time, before the daemon first sees
        // the order: judged at the first registration, revoked; at its time-stamp, not yet.
        let revokedAt = stamps.madeUntil.addingTimeInterval(2)
        let crl = stamps.path("crl-daemon.der")
        let made = try Shell.run(BuiltProducts.path("paysign-make-orders"), [
            "crl", "--number", "20", "--out", crl, "--pki", bench.pki.directory.path,
            "--revoke", "\(bench.pki.token("officer1").certificateSerial)@\(revokedAt.formatted(Date.ISO8601FormatStyle()))",
        ])
        try #require(made.status == 0, "\(made.stderr)")
        while Date() < revokedAt.addingTimeInterval(1.5) { try await Task.sleep(for: .milliseconds(200)) }

        let daemon = try DaemonProcess(pki: bench.pki, arguments: ["--trust-anchors", bench.pki.caPEM.path])
        defer { _ = daemon.stop() }
        let imported = try await bench.paysign(["crl", "import", crl, "--socket", daemon.socket])
        try #require(imported.status == 0, "\(imported.stdout) \(imported.stderr)")

        let plain = try await bench.paysign(["verify", "--daemon", bench.path("order.txt"), bench.path("good.p7s"), "--socket", daemon.socket, "--json"])
        #expect(plain.status == 1, "\(plain.stdout) \(plain.stderr)")
        let refused = try JSONDecoder.iso.decode(VerificationReport.self, from: Data(plain.stdout.utf8))
        #expect(refused.failedChecks == [.revocationAtTrustedTime])
        #expect(refused.trustedTime.source == .given && refused.trustedTime.note?.contains("first registered") == true)

        let result = try await bench.paysign(["verify", "--daemon", bench.path("order.txt"), stamps.path("stamped.p7s"), "--socket", daemon.socket, "--json"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        let report = try JSONDecoder.iso.decode(VerificationReport.self, from: Data(result.stdout.utf8))
        #expect(report.verdict == .valid, "\(report.checks.filter { $0.status != .pass })")
        #expect(report.trustedTime.source == .given && report.trustedTime.date > revokedAt)
        let first = try #require(report.signers.first { $0.claimedRole == "first" })
        #expect(first.trustedTime?.source == .timeStamp && first.timeStamp?.verified == true)
        #expect(try #require(first.trustedTime?.date) < revokedAt)
        #expect(report.checks.last?.name == .notPresentedBefore)
    }

    @Test("a batch worker's memo gives time-stamped orders the same reports and JSON bytes as a single verification")
    func memo() throws {
        let files = ["stamped.p7s", "other-imprint.p7s", "untrusted.p7s", "no-eku.p7s", "bad-signature.p7s", "two-tokens.p7s", "der-garbage.p7s"]
        for (crls, at) in [([stamps.crlRevokedAfterStamp], stamps.afterRevocation), (["crl-empty.der"], nil), (["crl-revoked-before.der"], nil)] {
            let verifier = try bench.verifier(crls: crls, at: at)
            let memo = VerificationMemo()
            for round in 0..<2 {
                // Interleaved with the unstamped order, so the memo meets each shape among others.
                for file in files {
                    for (signature, path) in [(file, stamps.path(file)), ("good.p7s", bench.path("good.p7s"))] {
                        let fresh = verifier.verify(name: signature, documentPath: bench.path("order.txt"), signaturePath: path)
                        let memoised = verifier.verify(name: signature, documentPath: bench.path("order.txt"), signaturePath: path, memo: memo)
                        #expect(memoised == fresh, "\(signature), CRLs \(crls), round \(round)")
                        #expect(ReportRendering.jsonBytes(memoised, memo: memo.rendering) == ReportRendering.jsonBytes(fresh),
                                "\(signature), CRLs \(crls), round \(round)")
                    }
                }
            }
            #expect(memo.verdicts.hits > 0, "CRLs \(crls)")
        }
    }

    @Test("attach refuses a second token, a signer that is not there, and a token that is not one DER value")
    func attachRefusals() throws {
        let good = try bench.read("good.p7s")
        let token = try stamps.read("valid.tst")
        let stamped = try stamps.read("stamped.p7s")
        // attach keeps the SignerInfos in DER order, so the first signer may have moved.
        let trust = try TrustContext(anchors: TrustMaterial.anchors(at: bench.pki.caPEM.path), revocationLists: [])
        let signers = OrderEvidence.gather(document: try bench.read("order.txt"), signature: stamped, trust: trust).signers
        let first = try #require(signers.first { $0.claimedRole == "first" })
        #expect(first.timeStamp != nil && first.hasTimeStampToken)
        #expect(throws: TimeStampToken.AttachError.self) { try TimeStampToken.attach(token: token, toSigner: first.index, of: stamped) }
        #expect(throws: TimeStampToken.AttachError.self) { try TimeStampToken.attach(token: token, toSigner: 2, of: good) }
        #expect(throws: TimeStampToken.AttachError.self) { try TimeStampToken.attach(token: [0x30, 0x05, 0x01], toSigner: 0, of: good) }
        #expect(throws: TimeStampToken.AttachError.self) { try TimeStampToken.attach(token: token, toSigner: 0, of: Array(good.prefix(100))) }
        #expect(throws: TimeStampToken.AttachError.self) { try TimeStampToken.attach(token: [], toSigner: 0, of: good) }
        // The other signer may take one of its own, and the file stays one OpenSSL reads.
        let both = try TimeStampToken.attach(token: try stamps.read("other-imprint.tst"), toSigner: 1 - first.index, of: stamped)
        #expect(try SignedDocument(derEncoded: both).signers.count == 2)
    }
}

/// The tokens and stamped orders the time-stamp tests read: made once per process.
struct Stamps: Sendable {
    let directory: String
    let firstIndex: Int
    let firstDigest: [UInt8]
    let madeFrom: Date
    let madeUntil: Date
    /// A CRL revoking officer1 30 s after the valid token was made, and a time after that.
    let crlRevokedAfterStamp: String
    let afterRevocation: Date
    let caPEM: String

    static let shared: Result<Stamps, any Error> = Result { try make(bench: Bench.shared.get()) }

    func path(_ name: String) -> String { directory + "/" + name }
    func read(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    /// `openssl ts -verify -digest HEX -in TOKEN -token_in -CAfile CA`.
    func openSSLAcceptsToken(_ token: String, digest: [UInt8]) async throws -> Bool {
        let result = try await Shell.exec("openssl", ["ts", "-verify", "-digest", Hex.string(digest), "-in", path(token), "-token_in", "-CAfile", caPEM])
        return result.status == 0 && result.stdout.contains("Verification: OK")
    }

    func openSSLAcceptsOrder(_ bench: Bench, _ signature: String) async throws -> Bool {
        let result = try await Shell.exec("openssl", [
            "cms", "-verify", "-binary", "-inform", "DER", "-content", bench.path("order.txt"), "-in", path(signature),
            "-CAfile", bench.pki.caPEM.path, "-purpose", "any", "-out", "/dev/null",
        ])
        return result.status == 0
    }

    private static func make(bench: Bench) throws -> Stamps {
        let directory = bench.path("stamps")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory + "/" + name }
        func read(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name)))) }
        let tsa = bench.pki.directory.appendingPathComponent("tsa").path
        func run(_ arguments: [String]) throws {
            let result = try Shell.run("openssl", arguments)
            guard result.status == 0 else { throw Shell.Failure(message: "openssl \(arguments): \(result.stderr)") }
        }
        func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name)) }

        // The signature values to time-stamp: their SHA-256 is the imprint (RFC 3161 Appendix A).
        let good = try bench.read("good.p7s")
        let trust = try TrustContext(anchors: TrustMaterial.anchors(at: bench.pki.caPEM.path), revocationLists: [])
        let signers = OrderEvidence.gather(document: try bench.read("order.txt"), signature: good, trust: trust).signers
        guard let first = signers.first(where: { $0.claimedRole == "first" }),
            let second = signers.first(where: { $0.claimedRole == "second" })
        else { throw Shell.Failure(message: "good.p7s lacks a first or second signer") }
        let firstIndex = first.index
        let firstDigest = first.signatureDigest

        /// A token from a TSA (`openssl ts -query` then `-reply -token_out`) over `digest`.
        func stamp(_ out: String, digest: [UInt8], signer: String, key: String, config: String) throws {
            try run(["ts", "-query", "-digest", Hex.string(digest), "-sha256", "-cert", "-no_nonce", "-out", path(out + ".tsq")])
            try run(["ts", "-reply", "-config", config, "-queryfile", path(out + ".tsq"), "-signer", signer, "-inkey", key,
                     "-token_out", "-out", path(out)])
        }
        func attach(_ token: String, _ out: String) throws {
            try write(out, try TimeStampToken.attach(token: try read(token), toSigner: firstIndex, of: good))
        }
        let config = tsa + "/tsa.cnf"
        let madeFrom = Date()
        try stamp("valid.tst", digest: firstDigest, signer: tsa + "/tsa.pem", key: tsa + "/tsa.key", config: config)
        let madeUntil = Date()
        try attach("valid.tst", "stamped.p7s")

        // A token over the second signature, attached to the first.
        try stamp("other-imprint.tst", digest: second.signatureDigest, signer: tsa + "/tsa.pem", key: tsa + "/tsa.key", config: config)
        try attach("other-imprint.tst", "other-imprint.p7s")

        // A TSA under another root (the other CA of the bench), with the right EKU.
        let other = bench.path("other-ca")
        let extensions = """
            [tsa]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature,nonRepudiation
            extendedKeyUsage = critical,timeStamping

            """
        try extensions.write(toFile: path("tsa-ext.cnf"), atomically: true, encoding: .utf8)
        try run(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", path("untrusted-tsa.key"), "-subj", "/CN=paysign Test TSA",
                 "-config", other + "/openssl.cnf", "-out", path("untrusted-tsa.csr")])
        try run(["x509", "-req", "-in", path("untrusted-tsa.csr"), "-CA", other + "/ca.pem", "-CAkey", other + "/ca.key",
                 "-set_serial", "0x77", "-sha256", "-days", "30", "-extfile", path("tsa-ext.cnf"), "-extensions", "tsa",
                 "-out", path("untrusted-tsa.pem")])
        try stamp("untrusted.tst", digest: firstDigest, signer: path("untrusted-tsa.pem"), key: path("untrusted-tsa.key"), config: config)
        try attach("untrusted.tst", "untrusted.p7s")

        // No EKU: `openssl ts -reply` refuses such a signer, so the valid token's TSTInfo is signed
        // again as a CAdES SignedData (with its ESS signing-certificate-v2) by the TSA's twin
        // certificate without the EKU, same key.
        try run(["cms", "-verify", "-noverify", "-inform", "DER", "-in", path("valid.tst"), "-binary", "-out", path("valid.tstinfo")])
        try run(["cms", "-sign", "-cades", "-econtent_type", "1.2.840.113549.1.9.16.1.4", "-nodetach", "-binary", "-md", "sha256",
                 "-in", path("valid.tstinfo"), "-signer", tsa + "/tsa-no-eku.pem", "-inkey", tsa + "/tsa.key", "-nosmimecap",
                 "-outform", "DER", "-out", path("no-eku.tst")])
        try attach("no-eku.tst", "no-eku.p7s")

        // A bad signature: the valid token with one byte of its TSTInfo's policy changed.
        var token = try read("valid.tst")
        let tstInfo = try read("valid.tstinfo")
        guard let at = range(of: Array(tstInfo.prefix(12)), in: token) else {
            throw Shell.Failure(message: "the TSTInfo is not inside the token")
        }
        token[at + 8] ^= 0x01  // inside the policy OID: still DER, no longer what was signed
        try write("bad-signature.tst", token)
        try attach("bad-signature.tst", "bad-signature.p7s")

        // Garbage.
        try write("der-garbage.tst", DERSurgery.tlv(0x30, DERSurgery.tlv(0x04, (0..<200).map { _ in UInt8.random(in: 0...255) })))
        try attach("der-garbage.tst", "der-garbage.p7s")
        try write("not-tstinfo.p7s", try TimeStampToken.attach(token: good, toSigner: firstIndex, of: good))
        try write("raw-garbage.p7s", try addingTokenAttribute([0xFF, 0x13, 0x37] + (0..<64).map { _ in UInt8.random(in: 0...255) },
                                                                    toSigner: firstIndex, in: good))
        let valid = try read("valid.tst")
        try write("two-tokens.p7s", try addingTokenAttribute(valid + valid, toSigner: firstIndex, in: good))

        // officer1 revoked 30 s after the valid token was made; verified a minute after that.
        let revokedAt = madeUntil.addingTimeInterval(30)
        let afterRevocation = revokedAt.addingTimeInterval(60)
        let crlRevokedAfterStamp = "crl-revoked-after-stamp.der"
        let result = try Shell.run(BuiltProducts.path("paysign-make-orders"), [
            "crl", "--number", "10", "--out", bench.path(crlRevokedAfterStamp), "--pki", bench.pki.directory.path,
            "--revoke", "\(bench.pki.token("officer1").certificateSerial)@\(revokedAt.formatted(Date.ISO8601FormatStyle()))",
        ])
        guard result.status == 0 else { throw Shell.Failure(message: "paysign-make-orders crl: \(result.stderr)") }
        return Stamps(
            directory: directory, firstIndex: firstIndex, firstDigest: firstDigest, madeFrom: madeFrom, madeUntil: madeUntil,
            crlRevokedAfterStamp: crlRevokedAfterStamp, afterRevocation: afterRevocation, caPEM: bench.pki.caPEM.path)
    }

    static func range(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }

    /// The order with an id-aa-signatureTimeStampToken attribute whose value SET holds `content`
    /// as it is (tests only: what `TimeStampToken.attach` refuses to write).
    static func addingTokenAttribute(_ content: [UInt8], toSigner index: Int, in der: [UInt8]) throws -> [UInt8] {
        var infos = try DERSurgery.signerInfos(of: der)
        let fields = try DERSurgery.children(infos[index])
        let oid: [UInt8] = [0x06, 0x0B, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x09, 0x10, 0x02, 0x0E]
        let attribute = DERSurgery.tlv(0x30, oid + DERSurgery.tlv(0x31, content))
        infos[index] = DERSurgery.tlv(0x30, fields.flatMap { $0 } + DERSurgery.tlv(0xA1, attribute))
        return try DERSurgery.replacingSignerInfos(in: der, with: infos)
    }
}
