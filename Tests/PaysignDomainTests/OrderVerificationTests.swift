import Foundation
@testable import PaysignDomain
import Testing

/// The payment center's rules on hand-made facts (issue 6): each rule turns one wrong fact into
/// the failure of the check that names it (D2, D6, D9, D13), and nothing else decides the verdict.
@Suite("OrderVerification rules")
struct OrderVerificationTests {
    static let now = Date(timeIntervalSince1970: 1_795_000_000)
    static let day: TimeInterval = 86_400
    static let payroll = Array("beneficiary_id,id_type,name,account,amount_piasters\n".utf8)
    static let payrollDigest = [UInt8](repeating: 0xAB, count: 32)

    static var document: [UInt8] {
        OrderDocument(
            orderID: 17, metadata: OrderMetadata(entityCode: "EG-0101", kind: .salary, valueDate: CalendarDay(year: 2026, month: 11, day: 24)!),
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

    static func signer(_ index: Int, role: String?, certificate: CertificateFacts?, boundTo: Int? = nil) -> SignerFacts {
        SignerFacts(
            index: index, claimedRole: role, signingTime: now - day, scheme: "rsa-pkcs1-sha256", signatureVerifies: true,
            messageDigestMatches: true, contentTypeIsData: true, signingCertificateMatches: true,
            hasPrecedingSignature: boundTo != nil, precededBy: boundTo, hasTimeStampToken: false, certificate: certificate,
            chain: certificate.map { ChainFacts(trusted: true, problem: nil, path: [$0, root]) }, revocation: .notListed(list))
    }

    static let officer = certificate("Officer One", unit: "first-signature", id: "28001010100011", sha: "a")
    static let ministry = certificate("MoF Representative", unit: "second-signature", id: "27503030100033", sha: "b")

    /// A valid order: the second SignerInfo (file index 0, DER order) bound to the first (index 1).
    static func valid() -> OrderFacts {
        OrderFacts(
            document: document, structureProblem: nil,
            signers: [signer(0, role: "second", certificate: ministry, boundTo: 1), signer(1, role: "first", certificate: officer)],
            payrollFile: PayrollFileFacts(sha256: payrollDigest, byteCount: payroll.count),
            trustedTime: TrustedTime(date: now, source: .given))
    }

    static func judge(_ facts: OrderFacts) -> VerificationReport { OrderVerification.judge(facts, order: "order-17") }

    static func expectOnly(_ report: VerificationReport, fails names: Set<CheckName>, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(report.verdict == .invalid, sourceLocation: sourceLocation)
        for name in names {
            #expect(report.check(name)?.status == .fail, "\(name) should fail: \(report.checks)", sourceLocation: sourceLocation)
        }
    }

    @Test("a valid order passes every check, in the documented order, signers in signing order")
    func valid() {
        let report = Self.judge(Self.valid())
        #expect(report.verdict == .valid, "\(report.checks.filter { $0.status != .pass })")
        #expect(report.checks.map(\.name) == CheckName.offlineChecks)
        #expect(CheckName.allCases == CheckName.reportOrder, "every check has its place in a report")
        #expect(report.checks.allSatisfy { $0.status == .pass })
        #expect(report.signers.map(\.claimedRole) == ["first", "second"])
        #expect(report.signers.map(\.position) == [1, 2])
        #expect(report.document?.entity == "EG-0101")
        #expect(report.schema == "paysign-order-verification/1")
    }

    @Test("a signature over other content, or one that does not verify, fails its own check")
    func signatures() {
        var facts = Self.valid()
        facts.signers[1].messageDigestMatches = false
        var report = Self.judge(facts)
        Self.expectOnly(report, fails: [.firstSignature])
        #expect(report.check(.secondSignature)?.status == .pass)
        #expect(report.check(.firstSignature)?.reason.contains("other content") == true)

        facts = Self.valid()
        facts.signers[0].signatureVerifies = false
        report = Self.judge(facts)
        Self.expectOnly(report, fails: [.secondSignature])
        #expect(report.check(.firstSignature)?.status == .pass)

        facts = Self.valid()
        facts.signers[0].signingCertificateMatches = nil
        Self.expectOnly(Self.judge(facts), fails: [.secondSignature])
    }

    @Test("D2: exactly one first and one second, the second bound to the first")
    func countOrderBinding() {
        // Second stripped.
        var facts = Self.valid()
        facts.signers = [Self.signer(0, role: "first", certificate: Self.officer)]
        Self.expectOnly(Self.judge(facts), fails: [.signerCountAndOrder, .secondSignature, .binding, .distinctSigners])

        // Two first signatures and no second.
        facts = Self.valid()
        let other = Self.certificate("Officer Two", unit: "first-signature", id: "28502020100022", sha: "c")
        facts.signers = [Self.signer(0, role: "first", certificate: other, boundTo: 1), Self.signer(1, role: "first", certificate: Self.officer)]
        Self.expectOnly(Self.judge(facts), fails: [.signerCountAndOrder, .secondSignature, .binding])

        // The first-role signer bound after the second: the wrong order.
        facts = Self.valid()
        facts.signers = [Self.signer(0, role: "second", certificate: Self.ministry), Self.signer(1, role: "first", certificate: Self.officer, boundTo: 0)]
        var report = Self.judge(facts)
        Self.expectOnly(report, fails: [.signerCountAndOrder, .binding])
        #expect(report.check(.signerCountAndOrder)?.reason.contains("after") == true)

        // Both unbound: nothing proves the order.
        facts = Self.valid()
        facts.signers[0].hasPrecedingSignature = false
        facts.signers[0].precededBy = nil
        Self.expectOnly(Self.judge(facts), fails: [.signerCountAndOrder, .binding])

        // A binding naming a signature that is not in the file.
        facts = Self.valid()
        facts.signers[0].precededBy = nil
        report = Self.judge(facts)
        Self.expectOnly(report, fails: [.binding])
        #expect(report.check(.binding)?.rule == .d2)

        // The second signature duplicated.
        facts = Self.valid()
        facts.signers.append(Self.signer(2, role: "second", certificate: Self.ministry, boundTo: 1))
        Self.expectOnly(Self.judge(facts), fails: [.signerCountAndOrder, .distinctSigners])
    }

    @Test("D2: the same person cannot sign twice, and a certificate without a national ID fails")
    func distinct() {
        var facts = Self.valid()
        facts.signers[0].certificate?.nationalID = Self.officer.nationalID
        var report = Self.judge(facts)
        Self.expectOnly(report, fails: [.distinctSigners])
        #expect(report.check(.distinctSigners)?.reason.contains("same person") == true)
        facts.signers[0].certificate?.nationalID = nil
        report = Self.judge(facts)
        Self.expectOnly(report, fails: [.distinctSigners])
    }

    @Test("roles: a clerk's certificate never passes (D13), roles and entity must match the certificate")
    func roles() {
        var facts = Self.valid()
        facts.signers[1].certificate = Self.certificate("Data Entry Clerk", unit: "data-entry", id: "29505050100055", sha: "d")
        var report = Self.judge(facts)
        Self.expectOnly(report, fails: [.roles])
        #expect(report.check(.roles)?.rule == .d13)

        facts = Self.valid()
        facts.signers[1].certificate?.organization = "Test Entity EG-0202"
        report = Self.judge(facts)
        Self.expectOnly(report, fails: [.roles])
        #expect(report.check(.roles)?.reason.contains("EG-0101") == true)

        facts = Self.valid()
        facts.signers[0].certificate?.organizationalUnit = "first-signature"
        Self.expectOnly(Self.judge(facts), fails: [.roles])

        // The ministry's own certificate may sign second; an entity in parentheses matches.
        facts = Self.valid()
        facts.signers[0].certificate?.organization = "Ministry of Finance"
        facts.signers[1].certificate?.organization = "Ministry of Health (EG-0101)"
        #expect(Self.judge(facts).verdict == .valid)
    }

    @Test("D3: the entity is matched by code: organizationIdentifier (what paysign issues) wins over the name in O")
    func entityByOrganizationIdentifier() {
        // The name alone in O says nothing about the code: refused.
        var facts = Self.valid()
        facts.signers[1].certificate?.organization = "Ministry of Health"
        Self.expectOnly(Self.judge(facts), fails: [.roles])

        // The code in organizationIdentifier, as AuthorityDesk writes it: accepted.
        facts.signers[1].certificate?.organizationIdentifier = "EG-0101"
        #expect(Self.judge(facts).verdict == .valid)

        // Another entity's code there is refused, whatever O says.
        facts.signers[1].certificate?.organization = "Test Entity EG-0101"
        facts.signers[1].certificate?.organizationIdentifier = "EG-0202"
        Self.expectOnly(Self.judge(facts), fails: [.roles])

        // A second signer registered to another entity does not pass as "the Ministry" by its O.
        facts = Self.valid()
        facts.signers[0].certificate?.organization = "Ministry of Finance"
        facts.signers[0].certificate?.organizationIdentifier = "EG-0202"
        Self.expectOnly(Self.judge(facts), fails: [.roles])
    }

    @Test("D6: validity and revocation are judged at the trusted time, never at the claimed signing time")
    func time() {
        var facts = Self.valid()
        facts.signers[1].certificate?.notAfter = Self.now - Self.day
        facts.signers[1].chain?.path[0].notAfter = Self.now - Self.day
        var report = Self.judge(facts)
        Self.expectOnly(report, fails: [.validityAtTrustedTime])
        #expect(report.check(.validityAtTrustedTime)?.notes.first?.contains("not proof of time") == true)

        // Revoked before the trusted time: fails; after it: passes with a note.
        facts = Self.valid()
        facts.signers[1].revocation = .listed(RevocationEntryFacts(revocationDate: Self.now - 3600, invalidityDate: nil, reason: "keyCompromise"), Self.list)
        report = Self.judge(facts)
        Self.expectOnly(report, fails: [.revocationAtTrustedTime])
        facts.signers[1].revocation = .listed(RevocationEntryFacts(revocationDate: Self.now + 3600, invalidityDate: nil, reason: "keyCompromise"), Self.list)
        report = Self.judge(facts)
        #expect(report.verdict == .valid)
        #expect(report.check(.revocationAtTrustedTime)?.notes.count == 1)
        // An invalidity date before the trusted time wins over a later revocation date.
        facts.signers[1].revocation = .listed(RevocationEntryFacts(revocationDate: Self.now + 3600, invalidityDate: Self.now - 60, reason: nil), Self.list)
        Self.expectOnly(Self.judge(facts), fails: [.revocationAtTrustedTime])

        // No list for the issuer, or one that had expired by the trusted time: indeterminate.
        facts = Self.valid()
        facts.signers[0].revocation = .noList(issuer: "CN=Root")
        report = Self.judge(facts)
        #expect(report.verdict == .indeterminate)
        #expect(report.check(.revocationAtTrustedTime)?.status == .indeterminate)
        facts = Self.valid()
        let stale = RevocationListFacts(issuer: "CN=Root", number: "01", thisUpdate: Self.now - 10 * Self.day, nextUpdate: Self.now - 3 * Self.day)
        facts.signers[0].revocation = .notListed(stale)
        #expect(Self.judge(facts).verdict == .indeterminate)
    }

    @Test("certificate-chain: an untrusted chain, a CA certificate, a key usage without signatures")
    func chain() {
        var facts = Self.valid()
        facts.signers[0].chain = ChainFacts(trusted: false, problem: "unable to get local issuer certificate", path: [Self.ministry])
        var report = Self.judge(facts)
        Self.expectOnly(report, fails: [.certificateChain])
        #expect(report.check(.certificateChain)?.reason.contains("local issuer") == true)
        facts = Self.valid()
        facts.signers[1].certificate?.isCA = true
        Self.expectOnly(Self.judge(facts), fails: [.certificateChain])
        facts = Self.valid()
        facts.signers[1].certificate?.digitalSignature = false
        facts.signers[1].certificate?.nonRepudiation = false
        Self.expectOnly(Self.judge(facts), fails: [.certificateChain])
        report = Self.judge(facts)
        #expect(report.failedChecks == [.certificateChain])
    }

    @Test("D9: the payroll file's digest and size are the document's; without --file the check is skipped")
    func fileNumber() {
        var facts = Self.valid()
        facts.payrollFile = PayrollFileFacts(sha256: [UInt8](repeating: 1, count: 32), byteCount: Self.payroll.count)
        let report = Self.judge(facts)
        Self.expectOnly(report, fails: [.fileNumber])
        #expect(report.check(.fileNumber)?.rule == .d9)
        facts.payrollFile = nil
        let skipped = Self.judge(facts)
        #expect(skipped.verdict == .valid)
        #expect(skipped.check(.fileNumber)?.status == .skipped)
    }

    @Test("a file that cannot be read is a failed cms-structure and never valid; a bad document fails order-document")
    func structure() {
        var facts = Self.valid()
        facts.structureProblem = "the 12 bytes are not a DER CMS SignedData"
        facts.signers = []
        let report = Self.judge(facts)
        #expect(report.verdict == .invalid)
        #expect(report.failedChecks == [.cmsStructure])
        #expect(report.checks.map(\.name) == CheckName.offlineChecks)

        facts = Self.valid()
        facts.document = Array("not an order\n".utf8)
        let bad = Self.judge(facts)
        #expect(bad.check(.orderDocument)?.status == .fail)
        #expect(bad.check(.fileNumber)?.status == .indeterminate)
        #expect(bad.verdict == .invalid)
    }

    @Test("the report encodes to the documented JSON: names, statuses, verdict")
    func json() throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(Self.judge(Self.valid()))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["schema"] as? String == "paysign-order-verification/1")
        #expect(object["verdict"] as? String == "valid")
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.map { $0["name"] as? String } == CheckName.offlineChecks.map(\.rawValue))
        #expect(checks.allSatisfy { $0["status"] as? String == "pass" })
        let trusted = try #require(object["trustedTime"] as? [String: Any])
        #expect(trusted["source"] as? String == "given")
    }
}

/// The byte-level reading of order documents a batch uses agrees with `OrderDocument(parsing:)`.
@Suite("OrderDocument quick parse")
struct OrderDocumentQuickParseTests {
    @Test("same document as init(parsing:) when it accepts; nil or the same refusal otherwise")
    func agrees() throws {
        let base = String(decoding: OrderVerificationTests.document, as: UTF8.self)
        var variants = [base]
        for (from, to) in [("order: 17", "order: 017"), ("order: 17", "order: +17"), ("order: 17", "order: 0"),
                           ("total-piasters: 100", "total-piasters: -100"), ("total-piasters: 100", "total-piasters: -0"),
                           ("total-piasters: 100", "total-piasters: 0100"), ("entity: EG-0101", "entity: "),
                           ("entity: EG-0101", "entity: مالية"), ("kind: salary", "kind: bonus"),
                           ("value-date: 2026-11-24", "value-date: 2026-11-31"), ("value-date: 2026-11-24", "value-date: 2026-1-24"),
                           ("file-bytes:", "file-bytes: "), ("abab", "ABAB"), ("abab-", "abab"), ("lines: 1", "lines: 1 "),
                           ("currency: EGP", "currency: USD"), ("paysign-payment-order: 1", "paysign-payment-order: 2")] {
            variants.append(base.replacingOccurrences(of: from, with: to))
        }
        variants.append(String(base.dropLast()))
        variants.append(base + "\n")
        for text in variants {
            let bytes = Array(text.utf8)
            let slow = try? OrderDocument(parsing: bytes)
            let quick = OrderDocument.quickParse(bytes)
            if let quick {
                #expect(slow == quick.document, "\(text)")
                #expect(quick.fileNumber == quick.document.fileNumber.grouped)
            }
            if slow != nil && !text.contains("مالية") { #expect(quick != nil, "the common path missed: \(text)") }
        }
    }
}
