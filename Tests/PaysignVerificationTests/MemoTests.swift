import Foundation
@testable import PaysignDomain
import PaysignOpenSSL
import PaysignTestSupport
@testable import PaysignVerification
import Testing

/// A batch worker keeps what its orders share (`VerificationMemo`: the signers' facts, the
/// verdict's sentences for orders of the same shape, the JSON of checks and certificates met);
/// every report it makes must be the report made afresh, field for field and byte for byte
/// (issue 7). Orders of varied shapes are run through one memo, interleaved and repeated, so
/// that both the first meeting and the reuse of each shape are compared.
@Suite("Verification memo: the same reports as without it")
struct MemoTests {
    // MARK: Hand-made facts (the rules alone)

    static let now = Date(timeIntervalSince1970: 1_795_000_000)
    static let day: TimeInterval = 86_400
    static let payroll = Array("beneficiary_id,id_type,name,account,amount_piasters\n".utf8)
    static let payrollDigest = [UInt8](repeating: 0xAB, count: 32)

    static func document(order: Int64, entity: String = "EG-0101") -> [UInt8] {
        OrderDocument(
            orderID: order, metadata: OrderMetadata(entityCode: entity, kind: .salary, valueDate: CalendarDay(year: 2026, month: 11, day: 24)!),
            fileNumber: FileNumber(digest: payrollDigest)!, fileBytes: payroll.count, lineCount: 1, totalPiasters: 100
        ).bytes
    }

    static func certificate(_ name: String, unit: String, id: String?, sha: String, organization: String = "Test Entity EG-0101") -> CertificateFacts {
        CertificateFacts(
            subject: "CN=\(name)", issuer: "CN=Root", serialNumber: "0\(sha.prefix(3))", sha256: String(repeating: sha, count: 64 / sha.count),
            nationalID: id, commonName: name, organization: organization, organizationalUnit: unit, notBefore: now - 100 * day,
            notAfter: now + 100 * day, hasKeyUsage: true, digitalSignature: true, nonRepudiation: true, isCA: false,
            keyAlgorithm: "rsa", keyBits: 2048)
    }

    static let root = CertificateFacts(
        subject: "CN=Root", issuer: "CN=Root", serialNumber: "01", sha256: String(repeating: "9", count: 64), nationalID: nil,
        commonName: "Root", organization: "Ministry of Finance (TEST)", organizationalUnit: nil, notBefore: now - 1000 * day,
        notAfter: now + 1000 * day, hasKeyUsage: true, digitalSignature: false, nonRepudiation: false, isCA: true,
        keyAlgorithm: "rsa", keyBits: 2048)
    static let list = RevocationListFacts(issuer: "CN=Root", number: "02", thisUpdate: now - day, nextUpdate: now + 6 * day)
    static let officer = certificate("Officer One", unit: "first-signature", id: "28001010100011", sha: "a")
    static let ministry = certificate("MoF Representative", unit: "second-signature", id: "27503030100033", sha: "b")
    static let clerk = certificate("Clerk", unit: "data-entry", id: "29001010100044", sha: "d")

    static func signer(_ index: Int, role: String?, certificate: CertificateFacts?, boundTo: Int? = nil, signedAt: Date) -> SignerFacts {
        SignerFacts(
            index: index, claimedRole: role, signingTime: signedAt, scheme: "rsa-pkcs1-sha256", signatureVerifies: true,
            messageDigestMatches: true, contentTypeIsData: true, signingCertificateMatches: true,
            hasPrecedingSignature: boundTo != nil, precededBy: boundTo, hasTimeStampToken: false, certificate: certificate,
            chain: certificate.map { ChainFacts(trusted: true, problem: nil, path: [$0, root]) }, revocation: .notListed(list))
    }

    /// A valid order `order`, signed `minutes` before the trusted time (the claimed signing
    /// times differ from order to order, as they do in a batch).
    static func valid(_ order: Int64, minutes: Double) -> OrderFacts {
        let signedAt = now - minutes * 60
        return OrderFacts(
            document: document(order: order), structureProblem: nil,
            signers: [signer(0, role: "second", certificate: ministry, boundTo: 1, signedAt: signedAt + 30),
                      signer(1, role: "first", certificate: officer, signedAt: signedAt)],
            payrollFile: order % 2 == 0 ? PayrollFileFacts(sha256: payrollDigest, byteCount: payroll.count) : nil,
            trustedTime: TrustedTime(date: now, source: .given))
    }

    /// One variation of the valid order each: tampered, revoked, wrong order, expired (whose
    /// validity note quotes the claimed signing time), unreadable, another entity…
    static let variations: [(String, @Sendable (inout OrderFacts) -> Void)] = [
        ("valid", { _ in }),
        ("changed document", { $0.signers[0].messageDigestMatches = false; $0.signers[1].messageDigestMatches = false }),
        ("signature does not verify", { $0.signers[1].signatureVerifies = false }),
        ("no signing-certificate-v2", { $0.signers[0].signingCertificateMatches = nil }),
        ("revoked before the trusted time", {
            $0.signers[1].revocation = .listed(RevocationEntryFacts(revocationDate: now - 3600, invalidityDate: nil, reason: "keyCompromise"), list)
        }),
        ("revoked after the trusted time", {
            $0.signers[1].revocation = .listed(RevocationEntryFacts(revocationDate: now + 3600, invalidityDate: nil, reason: nil), list)
        }),
        ("no revocation list", { $0.signers[0].revocation = .noList(issuer: "CN=Root") }),
        ("wrong order", { facts in
            facts.signers[0].hasPrecedingSignature = false
            facts.signers[0].precededBy = nil
            facts.signers[1].hasPrecedingSignature = true
            facts.signers[1].precededBy = 0
        }),
        ("expired", { facts in
            facts.signers[1].certificate?.notAfter = now - day
            facts.signers[1].chain?.path[0].notAfter = now - day
            facts.signers[1].signingTime = (facts.signers[1].signingTime ?? now) - 50 * day  // within its validity: a note
        }),
        ("untrusted chain", { $0.signers[1].chain = ChainFacts(trusted: false, problem: "unable to get local issuer certificate", path: [officer]) }),
        ("clerk", { $0.signers[1].certificate = clerk; $0.signers[1].chain = ChainFacts(trusted: true, problem: nil, path: [clerk, root]) }),
        ("same person twice", { $0.signers[0].certificate?.nationalID = officer.nationalID }),
        ("another entity", { facts in
            let id = OrderDocument.quickParse(facts.document!)!.document.orderID
            facts.document = document(order: id, entity: "EG-0777")
        }),
        ("document unreadable", { $0.document = nil; $0.documentProblem = "the order document x cannot be read" }),
        ("document not canonical", { $0.document = Array("not an order\n".utf8) }),
        ("payroll of another file", { $0.payrollFile = PayrollFileFacts(sha256: [UInt8](repeating: 1, count: 32), byteCount: 3) }),
        ("a time-stamp token", { $0.signers[0].hasTimeStampToken = true }),
        ("another trusted time", { $0.trustedTime = TrustedTime(date: now + 60, source: .now, note: "no trusted time was given") }),
        ("second stripped", { $0.signers.removeFirst(); $0.signers[0].index = 0 }),
        ("unreadable signature file", { $0.signers = []; $0.structureProblem = "the signature file is empty" }),
    ]

    @Test("judge with a memo gives the report judge gives afresh, for every variation, met first and again")
    func verdicts() throws {
        let memo = VerdictMemo()
        var order: Int64 = 1
        for round in 0..<3 {
            for (name, change) in Self.variations {
                for _ in 0..<2 {
                    var facts = Self.valid(order, minutes: Double(order % 97) + Double(round))
                    change(&facts)
                    let fresh = OrderVerification.judge(facts, order: "order-\(order)")
                    let memoised = OrderVerification.judge(facts, order: "order-\(order)", memo: memo)
                    #expect(memoised == fresh, "\(name), round \(round)")
                    #expect(try ReportRendering.json(memoised) == ReportRendering.json(fresh), "\(name)")
                    order += 1
                }
            }
        }
        // The memo was used (valid orders of the same shape, varied signing times, documents and
        // payroll files), and it kept no more than its capacity.
        #expect(memo.hits > 2 * Self.variations.count)
        #expect(memo.misses > 0)
        #expect(memo.entries.count <= VerdictMemo.capacity)
        // Expired certificates' reports quote each order's claimed signing time: never reused.
        #expect(memo.entries.allSatisfy { entry in entry.checks.contains { $0.name == .validityAtTrustedTime && $0.status == .pass } })
    }

    // MARK: Genuinely signed orders (SoftHSM), through the engine and the renderer

    @Test("orders verified with a worker's memo: the same reports and the same JSON bytes as without")
    func genuineOrders() throws {
        let bench = try Bench.shared.get()
        let cases: [(document: String, signature: String, payroll: String?)] =
            [("order.txt", "good.p7s", "payroll.csv"), ("order2.txt", "good2.p7s", nil), ("order.txt", "good.p7s", nil)]
            + Bench.tamperings.map { ($0.document, $0.signature, "payroll.csv") }
            + [("order.txt", "garbage.p7s", nil), ("order.txt", "truncated.p7s", nil), ("order.txt", "no-such.p7s", nil),
               ("no-such.txt", "good.p7s", nil), ("order.txt", "expired.p7s", nil)]
        for crls in [["crl-empty.der"], ["crl-revoked-before.der"], ["crl-revoked-after.der"], []] {
            let verifier = try bench.verifier(crls: crls, at: bench.trustedTime)
            let memo = VerificationMemo()
            for round in 0..<2 {
                for (document, signature, payroll) in cases {
                    let facts = try payroll.map { try bench.payroll($0) }
                    let name = "\(document)+\(signature)"
                    let fresh = verifier.verify(name: name, documentPath: bench.path(document), signaturePath: bench.path(signature),
                                                payrollFile: facts)
                    let memoised = verifier.verify(name: name, documentPath: bench.path(document), signaturePath: bench.path(signature),
                                                   payrollFile: facts, memo: memo)
                    #expect(memoised == fresh, "\(name), CRLs \(crls), round \(round)")
                    #expect(ReportRendering.jsonBytes(memoised, memo: memo.rendering) == ReportRendering.jsonBytes(fresh),
                            "\(name), CRLs \(crls), round \(round)")
                }
            }
            #expect(memo.verdicts.hits > 0, "CRLs \(crls)")
        }
    }

    // MARK: The binary: a batch's reports are single verifications' reports

    @Test("paysign verify --batch on two workers writes for each order the JSON paysign verify --json prints for it alone")
    func batchAgreesWithSingle() async throws {
        let bench = try Bench.shared.get()
        let folder = bench.path("memo-batch")
        let out = bench.path("memo-batch-out")
        try? FileManager.default.removeItem(atPath: folder)
        try? FileManager.default.removeItem(atPath: out)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Each kind of order several times, so that each worker meets each shape again.
        let kinds = [("good", "order.txt", "good.p7s"), ("good2", "order2.txt", "good2.p7s"), ("changed", "order-changed-byte.txt", "good.p7s"),
                     ("clerk", "order.txt", "clerk.p7s"), ("expired", "order.txt", "expired.p7s"), ("other-ca", "order.txt", "other-ca.p7s"),
                     ("wrong-order", "order.txt", "wrong-order.p7s"), ("stripped", "order.txt", "stripped.p7s"),
                     ("garbage", "order.txt", "garbage.p7s")]
        var names: [(name: String, document: String, signature: String)] = []
        for copy in 1...4 {
            for (kind, document, signature) in kinds {
                let name = "\(kind)-\(copy)"
                try FileManager.default.copyItem(atPath: bench.path(document), toPath: "\(folder)/\(name).txt")
                try FileManager.default.copyItem(atPath: bench.path(signature), toPath: "\(folder)/\(name).p7s")
                names.append((name, "\(folder)/\(name).txt", "\(folder)/\(name).p7s"))
            }
        }
        let at = ["--at", Date.ISO8601FormatStyle().format(bench.trustedTime)]
        let trust = ["--trust-anchors", bench.pki.caPEM.path, "--crl", bench.path("crl-revoked-after.der")] + at
        let batch = try await bench.paysign(["verify", "--batch", folder, "--out", out, "--jobs", "2"] + trust)
        #expect(batch.status == 1, "\(batch.stdout) \(batch.stderr)")
        for (name, document, signature) in names {
            let single = try await bench.paysign(["verify", document, signature, "--json"] + trust)
            let written = try String(contentsOfFile: "\(out)/\(name).json", encoding: .utf8)
            // The single report names the order by its path, the batch's by NAME: otherwise equal, byte for byte.
            let expected = single.stdout.replacingOccurrences(of: "\"order\" : \"\(document)\"", with: "\"order\" : \"\(name)\"")
            #expect(expected != single.stdout, "\(name): the single report names \(document)")
            #expect(written + "\n" == expected, "\(name)")
        }
    }
}
