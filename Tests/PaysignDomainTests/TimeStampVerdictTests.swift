import Foundation
import PaysignDomain
import Testing

/// The rules on RFC 3161 signature time-stamps, on hand-made facts (issue 6, D6): a verified token
/// moves its signer's trusted time to genTime plus accuracy, for validity and revocation alike,
/// whatever the order's time; each reason a token does not verify fails validity-at-trusted-time,
/// named; a signer without a token is judged exactly as before.
@Suite("Time-stamp verdicts (TimeStamp)")
struct TimeStampVerdictTests {
    typealias Base = OrderVerificationTests
    static let now = Base.now, day = Base.day

    static let tsaCertificate = CertificateFacts(
        subject: "CN=Test TSA", issuer: "CN=Root", serialNumber: "7777", sha256: String(repeating: "7", count: 64), nationalID: nil,
        commonName: "Test TSA", organization: "Ministry of Finance (TEST)", organizationalUnit: nil, notBefore: now - 300 * day,
        notAfter: now + 300 * day, hasKeyUsage: true, digitalSignature: true, nonRepudiation: true, isCA: false,
        keyAlgorithm: "rsa", keyBits: 2048)

    /// A token that verifies, genTime `at`, accuracy 1 s.
    static func stamp(at genTime: Date) -> TimeStampFacts {
        TimeStampFacts(
            problem: nil, genTime: genTime, accuracy: 1, hashAlgorithm: "sha256", imprintMatches: true, signatureVerifies: true,
            timeStampingUsage: true, signingCertificateMatches: true, certificate: tsaCertificate,
            chain: ChainFacts(trusted: true, problem: nil, path: [tsaCertificate, Base.root]), revocation: .notListed(Base.list))
    }

    /// The valid order of `OrderVerificationTests` with the first signer (file index 1) stamped and
    /// revoked at `revoked`, judged at `time`.
    static func facts(stamp: TimeStampFacts?, revoked: Date, time: Date) -> OrderFacts {
        var facts = Base.valid()
        facts.trustedTime = TrustedTime(date: time, source: .given)
        facts.signers[1].timeStamp = stamp
        facts.signers[1].hasTimeStampToken = stamp != nil
        facts.signers[1].revocation = .listed(RevocationEntryFacts(revocationDate: revoked, invalidityDate: nil, reason: "keyCompromise"), Base.list)
        return facts
    }

    @Test("a verified token: its signer is judged at genTime plus accuracy, the other at the order's time")
    func verified() throws {
        let genTime = Self.now - 10 * Self.day
        // Revoked 2 s after genTime: after genTime + 1 s (accuracy) → passes, with a note.
        let report = Base.judge(Self.facts(stamp: Self.stamp(at: genTime), revoked: genTime + 2, time: Self.now))
        #expect(report.verdict == .valid, "\(report.checks.filter { $0.status != .pass })")
        let first = try #require(report.signers.first { $0.claimedRole == "first" })
        #expect(first.trustedTime?.source == .timeStamp && first.trustedTime?.date == genTime + 1)
        #expect(first.timeStamp?.verified == true && first.timeStamp?.accuracySeconds == 1)
        #expect(report.signers.first { $0.claimedRole == "second" }?.trustedTime == nil)
        #expect(report.check(.revocationAtTrustedTime)?.notes.contains { $0.contains("after the time of its time-stamp") } == true)
        #expect(report.trustedTime.note?.contains("judged at the token's time") == true)

        // Revoked within the accuracy: the token does not prove the signature came first.
        let within = Base.judge(Self.facts(stamp: Self.stamp(at: genTime), revoked: genTime + 1, time: Self.now))
        #expect(within.failedChecks == [.revocationAtTrustedTime])
        #expect(within.check(.revocationAtTrustedTime)?.reason.contains("before the time of its time-stamp") == true)

        // The same revocation without a token, judged at the order's time: revoked.
        let plain = Base.judge(Self.facts(stamp: nil, revoked: genTime + 2, time: Self.now))
        #expect(plain.failedChecks == [.revocationAtTrustedTime])
        #expect(plain.signers.allSatisfy { $0.trustedTime == nil && $0.timeStamp == nil })
        #expect(plain.trustedTime.note == nil)
    }

    @Test("the TSA and every CA on its path must be looked up, and a key compromise refuses the token whatever its genTime (D6)")
    func tsaRevocation() {
        let genTime = Self.now - 10 * Self.day
        func judged(_ change: (inout TimeStampFacts) -> Void) -> VerificationReport {
            var stamp = Self.stamp(at: genTime)
            change(&stamp)
            // Revoked after genTime and before now: only a verified token saves the signer.
            return Base.judge(Self.facts(stamp: stamp, revoked: genTime + 2, time: Self.now))
        }
        func entry(_ at: Date, _ reason: String?) -> RevocationFacts {
            .listed(RevocationEntryFacts(revocationDate: at, invalidityDate: nil, reason: reason), Base.list)
        }
        #expect(judged { _ in }.verdict == .valid)
        // No list of the TSA's issuer: the token proves nothing.
        var report = judged { $0.revocation = .noList(issuer: "CN=Root") }
        #expect(report.failedChecks.contains(.validityAtTrustedTime))
        #expect(report.check(.validityAtTrustedTime)?.reason.contains("no revocation list of the issuer of the TSA certificate") == true)
        // The TSA's key compromised after genTime (or with no reason given): refused anyway.
        for reason in ["keyCompromise", nil] {
            report = judged { $0.revocation = entry(Self.now - Self.day, reason) }
            #expect(report.failedChecks.contains(.validityAtTrustedTime), "\(String(describing: reason))")
            #expect(report.check(.validityAtTrustedTime)?.reason.contains("a compromised key can write any genTime") == true)
        }
        // Ceased operation after genTime: its earlier tokens stand.
        #expect(judged { $0.revocation = entry(Self.now - Self.day, "cessationOfOperation") }.verdict == .valid)
        // An issuing CA on the TSA's path, revoked for a compromise, or never looked up.
        let issuing = Base.certificate("Issuing CA", unit: "ca", id: nil, sha: "e")
        report = judged {
            $0.chain?.authorityRevocations = [AuthorityRevocationFacts(certificate: issuing, revocation: entry(Self.now - Self.day, "cACompromise"))]
        }
        #expect(report.check(.validityAtTrustedTime)?.reason.contains("the CA certificate Issuing CA on the TSA's path was revoked") == true)
        report = judged { $0.chain?.authorityRevocations = [AuthorityRevocationFacts(certificate: issuing, revocation: .noList(issuer: "CN=Root"))] }
        #expect(report.failedChecks.contains(.validityAtTrustedTime))
    }

    @Test("a signer's intermediate CA revoked for a compromise fails whatever the trusted time; for another reason, only when before it")
    func signerAuthorityCompromise() {
        let issuing = Base.certificate("Issuing CA", unit: "ca", id: nil, sha: "e")
        func judged(_ reason: String?, at: Date) -> VerificationReport {
            var facts = Base.valid()
            facts.signers[1].chain?.authorityRevocations = [AuthorityRevocationFacts(
                certificate: issuing,
                revocation: .listed(RevocationEntryFacts(revocationDate: at, invalidityDate: nil, reason: reason), Base.list))]
            return Base.judge(facts)
        }
        let after = Self.now + Self.day
        #expect(judged("keyCompromise", at: after).failedChecks == [.revocationAtTrustedTime])
        #expect(judged(nil, at: after).failedChecks == [.revocationAtTrustedTime])
        #expect(judged("superseded", at: after).verdict == .valid)
        #expect(judged("superseded", at: Self.now - Self.day).failedChecks == [.revocationAtTrustedTime])
    }

    @Test("a token later than the order's trusted time changes nothing: the earlier proof is kept (D6)")
    func laterToken() throws {
        // The daemon first saw the order ten days ago; a token obtained today; revoked in between.
        let firstSeen = Self.now - 10 * Self.day
        let report = Base.judge(Self.facts(stamp: Self.stamp(at: Self.now), revoked: Self.now - 5 * Self.day, time: firstSeen))
        #expect(report.verdict == .valid, "\(report.checks.filter { $0.status != .pass })")
        let first = try #require(report.signers.first { $0.claimedRole == "first" })
        #expect(first.trustedTime?.date == firstSeen && first.trustedTime?.source == .given)
        #expect(first.trustedTime?.note?.contains("not earlier than the order's trusted time") == true)
        #expect(first.timeStamp?.verified == true)
        // The same token when nothing earlier proves the signature: it decides, and the signer is revoked by then.
        let late = Base.judge(Self.facts(stamp: Self.stamp(at: Self.now), revoked: Self.now - 5 * Self.day, time: Self.now + Self.day))
        #expect(late.failedChecks == [.revocationAtTrustedTime])
    }

    @Test("the certificate is judged valid or not at the token's time, not the order's")
    func validityAtStamp() {
        // genTime before the officer's certificate began: not valid then, though valid now.
        let early = Base.judge(Self.facts(stamp: Self.stamp(at: Self.now - 200 * Self.day), revoked: Self.now + Self.day, time: Self.now))
        #expect(early.failedChecks == [.validityAtTrustedTime])
        #expect(early.check(.validityAtTrustedTime)?.reason.contains("after the time of its time-stamp") == true)
    }

    struct Broken: Sendable, CustomTestStringConvertible {
        var name: String
        var change: @Sendable (inout TimeStampFacts) -> Void
        var says: String
        var testDescription: String { name }
    }

    static let brokenTokens: [Broken] = [
        Broken(name: "unreadable", change: { $0.problem = "the time-stamp token is not a DER CMS SignedData" }, says: "not a DER CMS SignedData"),
        Broken(name: "bad signature", change: { $0.signatureVerifies = false }, says: "signature over the token does not verify"),
        Broken(name: "another imprint", change: { $0.imprintMatches = false }, says: "time-stamps something else"),
        Broken(name: "an imprint with MD5", change: { $0.imprintMatches = false; $0.hashAlgorithm = "md5" }, says: "uses md5"),
        Broken(name: "no EKU", change: { $0.timeStampingUsage = false }, says: "extended key usage timeStamping"),
        Broken(name: "ESS names another certificate", change: { $0.signingCertificateMatches = false }, says: "signing-certificate attribute"),
        Broken(name: "untrusted TSA", change: { $0.chain = ChainFacts(trusted: false, problem: "self-signed certificate", path: []) }, says: "does not chain"),
        Broken(name: "no TSA certificate", change: { $0.certificate = nil; $0.chain = nil }, says: "does not carry the TSA's certificate"),
        Broken(name: "TSA certificate expired at genTime", change: { $0.genTime = Self.now - 400 * Self.day }, says: "was not valid at the token's genTime"),
        Broken(name: "TSA revoked before genTime", change: {
            $0.revocation = .listed(RevocationEntryFacts(revocationDate: Self.now - 20 * Self.day, invalidityDate: nil, reason: nil), Base.list)
        }, says: "TSA certificate (Test TSA) was revoked"),
    ]

    @Test("each way a token fails to verify fails validity-at-trusted-time, named; the signer keeps the order's time", arguments: brokenTokens)
    func broken(_ broken: Broken) throws {
        var stamp = Self.stamp(at: Self.now - 10 * Self.day)
        broken.change(&stamp)
        #expect(OrderVerification.stampedTime(stamp) == nil)
        #expect(OrderVerification.timeStampProblems(stamp).contains { $0.contains(broken.says) }, "\(OrderVerification.timeStampProblems(stamp))")
        let report = Base.judge(Self.facts(stamp: stamp, revoked: Self.now + Self.day, time: Self.now))
        #expect(report.failedChecks == [.validityAtTrustedTime], "\(broken.name): \(report.checks.filter { $0.status != .pass })")
        #expect(report.check(.validityAtTrustedTime)?.reason.contains(broken.says) == true)
        let first = try #require(report.signers.first { $0.claimedRole == "first" })
        #expect(first.timeStamp?.verified == false && first.timeStamp?.problem?.contains(broken.says) == true)
        #expect(first.trustedTime?.source == .given && first.trustedTime?.date == Self.now)
    }
}
