import Foundation
import PaysignDomain
import PaysignOpenSSL
import PaysignTestSupport
import PaysignVerification
import Testing

/// The payment center's verification of genuinely signed orders (issue 6): orders signed on the
/// SoftHSM tokens of a test PKI by `paysign-make-orders` (a process of its own), then every
/// tampering the verifier must catch, each by the check that names it; `openssl cms -verify`
/// accepts whatever paysign accepts; the `paysign verify` binary's exit codes.
@Suite("Payment-order verification", .serialized)
struct VerificationTests {
    let bench: Bench

    init() throws { bench = try Bench.shared.get() }

    // MARK: In process, the engine

    @Test("a genuinely signed order is valid, and openssl cms -verify agrees")
    func validOrder() async throws {
        let verifier = try bench.verifier(crls: ["crl-empty.der"])
        let report = verifier.verify(name: "good", documentPath: bench.path("order.txt"), signaturePath: bench.path("good.p7s"),
                                     payrollFile: try bench.payroll("payroll.csv"))
        #expect(report.verdict == .valid, "\(report.checks.filter { $0.status != .pass })")
        #expect(report.checks.map(\.name) == CheckName.offlineChecks)
        #expect(report.signers.map(\.claimedRole) == ["first", "second"])
        #expect(report.signers.first?.certificate?.nationalID == "28001010100011")
        #expect(report.signers.last?.certificate?.nationalID == "27503030100033")
        #expect(report.trustedTime.source == .now)
        #expect(try await bench.openSSLAccepts("order.txt", "good.p7s"))
    }

    @Test("each tampering is caught by the check that names it", arguments: Bench.tamperings)
    func tampering(_ tampering: Bench.Tampering) async throws {
        let verifier = try bench.verifier(crls: ["crl-empty.der"])
        let report = verifier.verify(name: tampering.name, documentPath: bench.path(tampering.document),
                                     signaturePath: bench.path(tampering.signature), payrollFile: try bench.payroll("payroll.csv"))
        #expect(report.verdict == .invalid, "\(tampering.name): \(report.verdict)")
        for name in tampering.fails {
            #expect(report.check(name)?.status == .fail, "\(tampering.name): \(name) should fail; \(report.checks)")
        }
        // Whatever paysign refuses, it never says valid; what OpenSSL refuses, paysign refuses too.
        if !(try await bench.openSSLAccepts(tampering.document, tampering.signature)) {
            #expect(report.verdict != .valid)
        }
    }

    @Test("garbage, truncated, empty and huge signature files are a failed cms-structure, never valid")
    func garbage() throws {
        let verifier = try bench.verifier(crls: ["crl-empty.der"])
        for name in ["garbage.p7s", "truncated.p7s", "empty.p7s", "huge.p7s", "no-such.p7s"] {
            let report = verifier.verify(name: name, documentPath: bench.path("order.txt"), signaturePath: bench.path(name))
            #expect(report.verdict == .invalid, "\(name)")
            #expect(report.check(.cmsStructure)?.status == .fail, "\(name): \(report.checks)")
        }
        // Every prefix of a good file, and every single-byte change in its first 400 bytes.
        let good = try bench.read("good.p7s")
        let document = try bench.read("order.txt")
        for cut in stride(from: 0, to: good.count, by: 7) {
            #expect(verifier.verify(name: "cut", document: document, signature: Array(good.prefix(cut))).verdict != .valid)
        }
        for position in 0..<min(400, good.count) {
            var changed = good
            changed[position] ^= 0x5A
            #expect(verifier.verify(name: "flip", document: document, signature: changed).verdict != .valid, "byte \(position)")
        }
    }

    @Test("D6: revoked before the trusted time fails; revoked after it passes with a note; no CRL is indeterminate")
    func revocation() throws {
        let revokedBefore = try bench.verifier(crls: ["crl-revoked-before.der"])
        var report = revokedBefore.verify(name: "r", documentPath: bench.path("order.txt"), signaturePath: bench.path("good.p7s"))
        #expect(report.verdict == .invalid)
        #expect(report.failedChecks == [.revocationAtTrustedTime])

        let revokedAfter = try bench.verifier(crls: ["crl-revoked-after.der"], at: bench.trustedTime)
        report = revokedAfter.verify(name: "r", documentPath: bench.path("order.txt"), signaturePath: bench.path("good.p7s"))
        #expect(report.verdict == .valid, "\(report.checks.filter { $0.status != .pass })")
        #expect(report.check(.revocationAtTrustedTime)?.notes.contains { $0.contains("after the trusted time") } == true)
        #expect(report.trustedTime.source == .given)

        let none = try bench.verifier(crls: [])
        report = none.verify(name: "r", documentPath: bench.path("order.txt"), signaturePath: bench.path("good.p7s"))
        #expect(report.verdict == .indeterminate)
        #expect(report.check(.revocationAtTrustedTime)?.status == .indeterminate)

        // A CRL not signed by a trust anchor is refused before anything is verified.
        #expect(throws: VerificationSetupError.self) { _ = try bench.verifier(crls: ["other-ca-crl.pem"]) }
    }

    @Test("the file number is checked against the payroll file (D9)")
    func fileNumber() throws {
        let verifier = try bench.verifier(crls: ["crl-empty.der"])
        let report = verifier.verify(name: "f", documentPath: bench.path("order.txt"), signaturePath: bench.path("good.p7s"),
                                     payrollFile: try bench.payroll("order2.txt"))
        #expect(report.failedChecks == [.fileNumber])
    }

    // MARK: The binary

    @Test("paysign verify: exit 0 valid, 1 invalid, 2 could not check; JSON and HTML reports")
    func cli() async throws {
        let anchors = ["--trust-anchors", bench.pki.caPEM.path]
        let good = [bench.path("order.txt"), bench.path("good.p7s")]
        var result = try await bench.paysign(["verify"] + good + anchors + ["--crl", bench.path("crl-empty.der"), "--file", bench.path("payroll.csv")])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("VALID"))
        #expect(result.stderr.isEmpty)

        result = try await bench.paysign(["verify", bench.path("order-changed-byte.txt"), bench.path("good.p7s")] + anchors + ["--crl", bench.path("crl-empty.der")])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("paysign: ") && result.stderr.contains("first-signature"))
        #expect(result.stderr.split(separator: "\n").count == 1)

        result = try await bench.paysign(["verify"] + good + anchors)  // no CRL
        #expect(result.status == 2)
        #expect(result.stderr.contains("revocation-at-trusted-time"))

        result = try await bench.paysign(["verify", bench.path("order.txt"), bench.path("garbage.p7s")] + anchors + ["--crl", bench.path("crl-empty.der")])
        #expect(result.status == 1 || result.status == 2)
        #expect(result.stdout.contains("cms-structure"))

        // Setup problems: one sentence, exit 2.
        for (arguments, expected) in [
            (good + ["--crl", bench.path("crl-empty.der")], "trust anchors"),
            (good + anchors + ["--crl", bench.path("garbage.p7s")], "not a valid CRL"),
            (good + anchors + ["--crl", bench.path("missing.der")], "does not exist"),
            (good + anchors + ["--crl", bench.path("other-ca-crl.pem")], "not signed by any trust anchor"),
            (good + anchors + ["--at", "yesterday"], "ISO 8601"),
        ] {
            var environment = ProcessInfo.processInfo.environment
            environment.removeValue(forKey: "PAYSIGN_TRUST_ANCHORS")
            let refused = try await bench.paysign(["verify"] + arguments, environment: environment)
            #expect(refused.status == 2, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.hasPrefix("paysign: ") && refused.stderr.contains(expected), "\(refused.stderr)")
            #expect(refused.stdout.isEmpty)
        }

        // JSON and HTML.
        let html = bench.path("report.html")
        result = try await bench.paysign(["verify"] + good + anchors + ["--crl", bench.path("crl-revoked-before.der"), "--json", "--html", html])
        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["schema"] as? String == "paysign-order-verification/1")
        #expect(object["verdict"] as? String == "invalid")
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.first { $0["name"] as? String == "revocation-at-trusted-time" }?["status"] as? String == "fail")
        #expect(checks.count == CheckName.offlineChecks.count)
        let page = try String(contentsOfFile: html, encoding: .utf8)
        #expect(page.contains("<tr class=\"fail\"><td>revocation-at-trusted-time</td>"))
        #expect(page.contains("<tr class=\"pass\"><td>first-signature</td>"))
        #expect(page.contains("28001010100011") && page.contains("Officer One"))
    }

    @Test("paysign verify: a file that is not there, or the two files swapped, is 'could not check' (exit 2, one sentence), not a verdict")
    func wrongInputs() async throws {
        let trust = ["--trust-anchors", bench.pki.caPEM.path]
        let missing = try await bench.paysign(["verify", bench.path("no-such-order.txt"), bench.path("good.p7s")] + trust)
        #expect(missing.status == 2, "\(missing.stdout) \(missing.stderr)")
        #expect(missing.stderr.hasPrefix("paysign: the order document") && missing.stderr.contains("no such file"), "\(missing.stderr)")
        let swapped = try await bench.paysign(["verify", bench.path("good.p7s"), bench.path("order.txt")] + trust)
        #expect(swapped.status == 2, "\(swapped.stdout) \(swapped.stderr)")
        #expect(swapped.stderr.contains("give the order document first"), "\(swapped.stderr)")
        #expect(swapped.stdout.isEmpty, "no report for inputs that were never checked")
        for result in [missing, swapped] { #expect(result.stderr.split(separator: "\n").count == 1) }
    }

    @Test("paysign verify --batch: every pair verified, one report each, a summary by reason")
    func batch() async throws {
        let folder = bench.path("batch")
        let out = bench.path("batch-out")
        try? FileManager.default.removeItem(atPath: out)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, document, signature) in [("a-good", "order.txt", "good.p7s"), ("b-changed", "order-changed-byte.txt", "good.p7s"),
                                            ("c-clerk", "order.txt", "clerk.p7s"), ("d-good2", "order2.txt", "good2.p7s")] {
            try? FileManager.default.removeItem(atPath: "\(folder)/\(name).txt")
            try? FileManager.default.removeItem(atPath: "\(folder)/\(name).p7s")
            try FileManager.default.copyItem(atPath: bench.path(document), toPath: "\(folder)/\(name).txt")
            try FileManager.default.copyItem(atPath: bench.path(signature), toPath: "\(folder)/\(name).p7s")
        }
        try? FileManager.default.removeItem(atPath: "\(folder)/a-good.csv")
        try FileManager.default.copyItem(atPath: bench.path("payroll.csv"), toPath: "\(folder)/a-good.csv")
        _ = FileManager.default.createFile(atPath: "\(folder)/e-lonely.txt", contents: Data("x\n".utf8))
        let result = try await bench.paysign(["verify", "--batch", folder, "--out", out, "--trust-anchors", bench.pki.caPEM.path,
                                              "--crl", bench.path("crl-empty.der"), "--jobs", "2"])
        #expect(result.status == 1, "\(result.stdout) \(result.stderr)")
        let summary = try JSONDecoder.iso.decode(BatchSummary.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/summary.json")))
        #expect(summary.total == 5 && summary.valid == 2 && summary.invalid == 3)
        #expect(summary.invalidByCheck["roles"] == 1)
        #expect(summary.invalidByCheck["first-signature"] == 1)
        #expect(summary.invalidByCheck["cms-structure"] == 1)
        for name in ["a-good", "b-changed", "c-clerk", "d-good2", "e-lonely"] {
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(name).json"))
        }
        let a = try JSONDecoder.iso.decode(VerificationReport.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/a-good.json")))
        #expect(a.verdict == .valid && a.check(.fileNumber)?.status == .pass)
        #expect(try String(contentsOfFile: out + "/summary.txt", encoding: .utf8).contains("invalid c-clerk: roles"))

        // Again into the same folder, where someone planted links named like the reports to
        // write (issue 16): the links are replaced by the reports, the files they point to
        // untouched; an output folder that is itself a link is refused.
        let victim = bench.path("victim.txt")
        try Data("not yours\n".utf8).write(to: URL(fileURLWithPath: victim))
        for name in ["a-good.json", "summary.json", "summary.txt"] {
            try FileManager.default.removeItem(atPath: "\(out)/\(name)")
            try FileManager.default.createSymbolicLink(atPath: "\(out)/\(name)", withDestinationPath: victim)
        }
        let again = try await bench.paysign(["verify", "--batch", folder, "--out", out, "--trust-anchors", bench.pki.caPEM.path,
                                             "--crl", bench.path("crl-empty.der"), "--jobs", "2"])
        #expect(again.status == 1, "\(again.stdout) \(again.stderr)")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "not yours\n", "a planted link's target was written")
        for name in ["a-good.json", "summary.json", "summary.txt"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(out)/\(name)")
            #expect(attributes[.type] as? FileAttributeType == .typeRegular, "\(name) is a report again, not the link")
        }
        let linked = bench.path("batch-out-link")
        try? FileManager.default.removeItem(atPath: linked)
        try FileManager.default.createSymbolicLink(atPath: linked, withDestinationPath: out)
        let refused = try await bench.paysign(["verify", "--batch", folder, "--out", linked, "--trust-anchors", bench.pki.caPEM.path,
                                               "--crl", bench.path("crl-empty.der")])
        #expect(refused.status != 0 && refused.status != 1, "\(refused.stdout)")
        #expect(refused.stderr.contains("symbolic link"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "one sentence: \(refused.stderr)")
    }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// The signed orders every test reads: made once per process in a temporary folder.
struct Bench: Sendable {
    let pki: TestPKI
    let directory: String
    let trustedTime: Date

    struct Tampering: Sendable, CustomTestStringConvertible {
        var name: String
        var document: String
        var signature: String
        var fails: [CheckName]
        var testDescription: String { name }
    }

    static let tamperings: [Tampering] = [
        Tampering(name: "a changed byte in the document", document: "order-changed-byte.txt", signature: "good.p7s", fails: [.firstSignature, .secondSignature]),
        Tampering(name: "a changed metadata field (entity)", document: "order-changed-entity.txt", signature: "good.p7s", fails: [.firstSignature, .secondSignature]),
        Tampering(name: "the .p7s of another order", document: "order.txt", signature: "good2.p7s", fails: [.firstSignature, .secondSignature]),
        Tampering(name: "signatures in the wrong order", document: "order.txt", signature: "wrong-order.p7s", fails: [.signerCountAndOrder, .binding]),
        Tampering(name: "second signature stripped", document: "order.txt", signature: "stripped.p7s", fails: [.signerCountAndOrder, .secondSignature]),
        Tampering(name: "second signature duplicated", document: "order.txt", signature: "duplicated.p7s", fails: [.signerCountAndOrder]),
        Tampering(name: "a certificate from another CA", document: "order.txt", signature: "other-ca.p7s", fails: [.certificateChain]),
        Tampering(name: "an expired certificate", document: "order.txt", signature: "expired.p7s", fails: [.validityAtTrustedTime]),
        Tampering(name: "two first signatures and no second", document: "order.txt", signature: "two-firsts.p7s", fails: [.signerCountAndOrder, .secondSignature]),
        Tampering(name: "a clerk's certificate (D13)", document: "order.txt", signature: "clerk.p7s", fails: [.roles]),
    ]

    static let shared: Result<Bench, any Error> = Result { try Bench() }

    func path(_ name: String) -> String { directory + "/" + name }
    func read(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    func payroll(_ name: String) throws -> PayrollFileFacts {
        let (digest, count) = try SHA256.hashFile(atPath: path(name))
        return PayrollFileFacts(sha256: digest, byteCount: count)
    }

    func verifier(crls: [String], at: Date? = nil) throws -> OrderVerifier {
        try OrderVerifier(
            anchors: TrustMaterial.anchors(at: pki.caPEM.path),
            revocationLists: crls.map { try TrustMaterial.revocationList(at: path($0)) }, at: at)
    }

    func paysign(_ arguments: [String], environment: [String: String]? = nil) async throws -> Shell.Result {
        try await Shell.exec(BuiltProducts.path("paysign"), arguments, environment: environment)
    }

    /// `openssl cms -verify -binary -inform DER -content DOC -in P7S -CAfile CA -purpose any`.
    func openSSLAccepts(_ document: String, _ signature: String) async throws -> Bool {
        let result = try await Shell.exec("openssl", [
            "cms", "-verify", "-binary", "-inform", "DER", "-content", path(document), "-in", path(signature),
            "-CAfile", pki.caPEM.path, "-purpose", "any", "-out", "/dev/null",
        ])
        return result.status == 0
    }

    private init() throws {
        pki = try TestPKI.forVerification()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-verify-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let now = Date()
        trustedTime = now.addingTimeInterval(3600)
        let tool = BuiltProducts.path("paysign-make-orders")
        func make(_ arguments: [String]) throws {
            let result = try Shell.run(tool, arguments + ["--pki", pki.directory.path])
            guard result.status == 0 else { throw Shell.Failure(message: "paysign-make-orders \(arguments): \(result.stderr)") }
        }
        func runTool(_ executable: String, _ arguments: [String]) throws {
            let result = try Shell.run(executable, arguments)
            guard result.status == 0 else { throw Shell.Failure(message: "\(executable) \(arguments): \(result.stderr)") }
        }
        func sign(_ out: String, _ token: String, _ role: String, content: String = "order.txt", bindTo: String? = nil,
                  extra: [String] = []) throws {
            try make(["sign", "--content", path(content), "--token", token, "--role", role, "--out", path(out)]
                     + (bindTo.map { ["--bind-to", path($0)] } ?? []) + extra)
        }
        func write(_ name: String, _ bytes: [UInt8]) throws { try Data(bytes).write(to: URL(fileURLWithPath: path(name))) }
        let documentTool = ["document", "--entity", "EG-0101"]
        // Order 1 with its payroll file, order 2, and two tampered copies of order 1's document.
        var result = try Shell.run(tool, documentTool + ["--order", "1", "--out", path("order.txt"), "--payroll", path("payroll.csv")])
        guard result.status == 0 else { throw Shell.Failure(message: result.stderr) }
        result = try Shell.run(tool, documentTool + ["--order", "2", "--out", path("order2.txt"), "--payroll", path("payroll2.csv")])
        guard result.status == 0 else { throw Shell.Failure(message: result.stderr) }
        let document = try read("order.txt")
        var changed = document
        changed[changed.count - 3] = changed[changed.count - 3] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
        try write("order-changed-byte.txt", changed)
        try write("order-changed-entity.txt", Array(String(decoding: document, as: UTF8.self)
            .replacingOccurrences(of: "entity: EG-0101", with: "entity: EG-0102").utf8))

        // Genuine orders, and the forgeries.
        try sign("first.p7s", "officer1", "first")
        try sign("good.p7s", "ministry", "second", bindTo: "first.p7s")
        try sign("first2.p7s", "officer1", "first", content: "order2.txt")
        try sign("good2.p7s", "ministry", "second", content: "order2.txt", bindTo: "first2.p7s")
        try sign("ministry-first.p7s", "ministry", "second")
        try sign("wrong-order.p7s", "officer1", "first", bindTo: "ministry-first.p7s")
        try sign("two-firsts.p7s", "officer2", "first", bindTo: "first.p7s")
        try sign("clerk-first.p7s", "clerk", "first")
        try sign("clerk.p7s", "ministry", "second", bindTo: "clerk-first.p7s")
        try sign("expired-first.p7s", "expired", "first", extra: ["--signing-time", "2020-06-01T10:00:00Z"])
        try sign("expired.p7s", "ministry", "second", bindTo: "expired-first.p7s")

        // Another CA, and a certificate from it for officer1's key on its token.
        let other = path("other-ca")
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
        let config = """
            [req]
            distinguished_name = dn
            [dn]
            [root]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash
            [officer]
            basicConstraints = critical,CA:FALSE
            keyUsage = critical,digitalSignature,nonRepudiation
            [ca]
            default_ca = own
            [own]
            database = \(other)/index.txt
            default_md = sha256
            default_crl_days = 7

            """
        try config.write(toFile: other + "/openssl.cnf", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: other + "/index.txt", contents: Data())
        try runTool("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", other + "/ca.key", "-sha256", "-days", "30",
                             "-subj", "/C=EG/O=Ministry of Finance (TEST)/OU=e-Certification Unit (TEST)/CN=paysign Test Root CA",
                             "-config", other + "/openssl.cnf", "-extensions", "root", "-out", other + "/ca.pem"])
        let officerPEM = pki.certificatePEM("officer1").path
        let key = try Shell.run("openssl", ["x509", "-in", officerPEM, "-pubkey", "-noout"])
        try key.stdout.write(toFile: other + "/officer1.pub.pem", atomically: true, encoding: .utf8)
        try runTool("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", other + "/throwaway.key",
                             "-subj", "/C=EG/O=Test Entity EG-0101/OU=first-signature/CN=Officer One/serialNumber=28001010100011",
                             "-config", other + "/openssl.cnf", "-out", other + "/officer1.csr"])
        try runTool("openssl", ["x509", "-req", "-in", other + "/officer1.csr", "-force_pubkey", other + "/officer1.pub.pem",
                             "-CA", other + "/ca.pem", "-CAkey", other + "/ca.key", "-set_serial", "0x1234", "-sha256", "-days", "30",
                             "-extfile", other + "/openssl.cnf", "-extensions", "officer", "-out", other + "/officer1.pem"])
        try runTool("openssl", ["ca", "-gencrl", "-keyfile", other + "/ca.key", "-cert", other + "/ca.pem", "-config", other + "/openssl.cnf",
                             "-out", path("other-ca-crl.pem")])
        try sign("other-ca-first.p7s", "officer1", "first", extra: ["--cert", other + "/officer1.pem"])
        try sign("other-ca.p7s", "ministry", "second", bindTo: "other-ca-first.p7s")

        // Stripped and duplicated SignerInfos, by rewriting the DER.
        let good = try read("good.p7s")
        let second = try DERSurgery.signerInfos(of: good).first { info in
            (try? SignedDocument(derEncoded: DERSurgery.replacingSignerInfos(in: good, with: [info])))?.signers.first?.role == "second"
        }
        guard let second else { throw Shell.Failure(message: "no second SignerInfo in good.p7s") }
        let firsts = try DERSurgery.signerInfos(of: good).filter { $0 != second }
        try write("stripped.p7s", try DERSurgery.replacingSignerInfos(in: good, with: firsts))
        try write("duplicated.p7s", try DERSurgery.replacingSignerInfos(in: good, with: try DERSurgery.signerInfos(of: good) + [second]))

        // Revocation lists on the authority token: empty; officer1 revoked an hour ago; revoked in two hours.
        let serial = pki.token("officer1").certificateSerial
        let iso = Date.ISO8601FormatStyle()
        try make(["crl", "--number", "1", "--out", path("crl-empty.der")])
        try make(["crl", "--number", "2", "--out", path("crl-revoked-before.der"), "--revoke", "\(serial)@\(now.addingTimeInterval(-3600).formatted(iso))"])
        try make(["crl", "--number", "3", "--out", path("crl-revoked-after.der"), "--revoke", "\(serial)@\(now.addingTimeInterval(7200).formatted(iso))"])

        // Garbage.
        try write("garbage.p7s", (0..<3000).map { _ in UInt8.random(in: 0...255) })
        try write("truncated.p7s", Array(good.prefix(good.count / 2)))
        try write("empty.p7s", [])
        try write("huge.p7s", [0x30, 0x84, 0x00, 0x20, 0x00, 0x00] + [UInt8](repeating: 0, count: 2 << 20))
    }
}

/// Rewrites the SignerInfos SET of a DER SignedData (tests only: the verifier must catch it).
enum DERSurgery {
    struct Bad: Error {}

    /// (tag, header length, content length) of the TLV at `offset`.
    static func header(_ bytes: [UInt8], at offset: Int) throws -> (tag: UInt8, header: Int, length: Int) {
        guard offset + 2 <= bytes.count else { throw Bad() }
        let first = bytes[offset + 1]
        if first < 0x80 { return (bytes[offset], 2, Int(first)) }
        let count = Int(first & 0x7F)
        guard offset + 2 + count <= bytes.count else { throw Bad() }
        let length = bytes[(offset + 2)..<(offset + 2 + count)].reduce(0) { $0 << 8 | Int($1) }
        return (bytes[offset], 2 + count, length)
    }

    static func children(_ bytes: [UInt8]) throws -> [[UInt8]] {
        let (_, header, length) = try header(bytes, at: 0)
        var out: [[UInt8]] = []
        var offset = header
        while offset < header + length {
            let (_, h, l) = try Self.header(bytes, at: offset)
            out.append(Array(bytes[offset..<(offset + h + l)]))
            offset += h + l
        }
        return out
    }

    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8]
        if content.count < 0x80 {
            length = [UInt8(content.count)]
        } else {
            var bytes: [UInt8] = []
            var rest = content.count
            while rest > 0 { bytes.insert(UInt8(rest & 0xFF), at: 0); rest >>= 8 }
            length = [0x80 | UInt8(bytes.count)] + bytes
        }
        return [tag] + length + content
    }

    static func signedData(_ der: [UInt8]) throws -> (info: [[UInt8]], fields: [[UInt8]]) {
        let info = try children(der)
        let wrapped = try children(info[1])
        return (info, try children(wrapped[0]))
    }

    static func signerInfos(of der: [UInt8]) throws -> [[UInt8]] { try children(try signedData(der).fields.last!) }

    static func replacingSignerInfos(in der: [UInt8], with infos: [[UInt8]]) throws -> [UInt8] {
        let (info, fields) = try signedData(der)
        let set = tlv(0x31, infos.sorted { $0.lexicographicallyPrecedes($1) }.flatMap { $0 })
        let signedData = tlv(0x30, (fields.dropLast() + [set]).flatMap { $0 })
        return tlv(0x30, info[0] + tlv(0xA0, signedData))
    }
}
