public import Foundation
public import Logging
public import PaysignDomain
public import PaysignOpenSSL
public import PaysignStore
import PaysignVerification
import Synchronization

/// The payment center's verification through the daemon (issue 6): `POST /v1/verifications`.
///
/// The order is checked as `paysign verify` checks it offline (`PaysignVerification`, the same
/// report and renderer), against this daemon's `trust-anchors` and the revocation lists it holds
/// (the newest of each issuer key, issued here or imported), with two things only a daemon can
/// give:
///
/// - **The trusted time of signing.** Every signature that verifies over the document with a
///   certificate chaining to an anchor is registered the first time this daemon sees it (the
///   registry's `signature_sightings`, journaled as `signature-registered`); validity and
///   revocation are judged at the latest first sighting of the order's signatures, the moment this
///   daemon first held the order as it is (D6). A certificate revoked after that moment does not
///   undo the order; one revoked before it does. A signature whose RFC 3161 time-stamp token
///   verifies is judged at the token's time instead (`OrderVerification`: the time-stamp wins
///   over this order-level time for its signer, as offline over `--at`); one that does not verify
///   fails validity-at-trusted-time.
/// - **Replays.** An order presented for payment (`"present": true`) and found valid is recorded
///   (`order_presentations`, journaled as `order-presented`); the same document, the same file
///   number (D9), or the same entity and order id presented again fails the check
///   `not-presented-before`, naming the first presentation, and the verdict is invalid. Without
///   `present` the order is only checked: it says whether it was presented, and records nothing
///   but its signatures' first sighting.
///
/// A presentation that is refused (invalid, or not checkable) is journaled as a `refusal` with the
/// rule of the first failed check. Only the payment center presents; auditors and administrators
/// check.
public final class VerificationDesk: Sendable {
    /// The registry; the edge reads callers and idempotency records from it, never a rule.
    public let registry: Registry
    let anchors: [Certificate]
    let logger: Logger
    let clock: @Sendable () -> Date
    /// The trust context of the lists last held (time-independent: chains and CRL lookups only),
    /// rebuilt when the registry holds another list.
    private let cached = Mutex<Trust?>(nil)

    struct Trust: @unchecked Sendable {
        var key: [String]
        var lists: [RevocationList]
        var context: TrustContext
    }

    public init(registry: Registry, anchors: [Certificate], logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.registry = registry
        self.anchors = anchors
        self.logger = logger
        self.clock = clock
    }

    /// The largest body `POST /v1/verifications` reads: the largest payroll file (`max-order-bytes`),
    /// signature and document, base64-encoded, with room for the JSON around them.
    public static func bodyLimit(maxOrderBytes: Int) -> Int {
        let raw = maxOrderBytes + OrderEvidence.maximumSignatureBytes + OrderVerifier.maximumDocumentBytes
        return (raw + 2) / 3 * 4 + (64 << 10)
    }

    /// An order to verify: the exact signed document, the detached SignedData, the payroll file
    /// when given (its digest must be the document's file number, D9), and whether it is
    /// presented for payment (recorded when valid) or only checked.
    public struct VerificationInput: Sendable {
        public var name: String
        public var document: [UInt8]
        public var signature: [UInt8]
        public var file: [UInt8]?
        public var present: Bool

        public init(name: String, document: [UInt8], signature: [UInt8], file: [UInt8]?, present: Bool) {
            self.name = name
            self.document = document
            self.signature = signature
            self.file = file
            self.present = present
        }
    }

    // MARK: Verifying

    /// Verifies, registers the signatures' first sighting, checks for a replay, records a
    /// presentation, and answers the report (`paysign-order-verification/1` plus the check
    /// `not-presented-before`). Only the payment center presents; auditors and administrators
    /// check (a presentation by another caller is refused and journaled as `access-denied`).
    public func verify(_ input: VerificationInput, caller: Caller, idempotency: IdempotencyKey?) async throws -> VerificationReport {
        if input.present && !caller.roles.contains(.paymentCenter) {
            let reason = "\(caller.name) lacks the role payment-center: only the payment center presents orders for payment (auditors and administrators check them, without present)"
            _ = try? await registry.append(
                .accessDenied(.init(uid: caller.uid, user: caller.userName, action: "POST /v1/verifications (present)", reason: reason)),
                by: caller.actor)
            throw UseCaseError(.notAuthorized, reason)
        }
        let trust = try await currentTrust()
        let documentDigest = SHA256Hex(bytes: SHA256.hash(input.document))!

        // The signatures worth a first sighting: those that verify over this document with a
        // certificate chaining to an anchor (garbage never fills the table).
        let evidence = OrderEvidence.gather(document: input.document, signature: input.signature, trust: trust.context)
        let genuine = evidence.signers
            .filter { $0.signatureVerifies && $0.messageDigestMatches && $0.chain?.trusted == true }
            .compactMap { SHA256Hex(bytes: $0.signatureDigest) }
        let now = clock()
        let trustedTime: TrustedTime
        if genuine.isEmpty {
            trustedTime = TrustedTime(
                date: now, source: .now,
                note: "no signature verifies over the document with a trusted certificate, so none was registered; judged at the time of verification")
        } else {
            let sightings = try await withStore { try await registry.registerSignatures(genuine, document: documentDigest, by: caller.actor) }
            let latest = sightings.map(\.firstSeenAt).max() ?? now
            let seenBefore = sightings.filter { !$0.isNew }.count
            let note: String
            if seenBefore == 0 {
                note = "the time paysignd first registered the order's signatures: now, by this verification"
            } else if seenBefore == sightings.count {
                note = "the time paysignd first registered the order's signatures (the latest of \(sightings.count)), not the time of this verification"
            } else {
                note = "the time paysignd first registered the order's signatures: \(seenBefore) of \(sightings.count) seen before, the others now"
            }
            trustedTime = TrustedTime(date: latest, source: .given, note: note)
        }

        var payroll: PayrollFileFacts?
        if let file = input.file { payroll = PayrollFileFacts(sha256: SHA256.hash(file), byteCount: file.count) }
        let verifier: OrderVerifier
        do {
            verifier = try OrderVerifier(anchors: anchors, revocationLists: trust.lists, at: trustedTime.date, now: now)
        } catch let error as VerificationSetupError {
            throw UseCaseError(.unavailable, error.message)
        }
        var report = await HeavyWork.run { [payroll] in
            verifier.verify(name: input.name, document: input.document, signature: input.signature, payrollFile: payroll)
        }
        // The judge's own remark (signatures judged at their time-stamp instead) stays after ours;
        // each such signer's own time is in its `trustedTime`, untouched here.
        var time = trustedTime
        if let remark = report.trustedTime.note { time.note = (time.note.map { $0 + "; " } ?? "") + remark }
        report.trustedTime = time

        // Replays.
        let summary = report.document
        let fileNumber = summary.flatMap { FileNumber($0.fileNumber) }?.digest
        let earlier = try await withStore {
            try await registry.presentation(document: documentDigest, fileNumber: fileNumber, entityCode: summary?.entity, orderID: summary?.orderID)
        }
        let what = summary.map { "order \($0.orderID) of \($0.entity)" } ?? "this order"
        if let earlier {
            return try await answer(Self.finished(report, Self.replay(earlier, documentDigest: documentDigest, fileNumber: fileNumber, what: what)),
                                    input: input, caller: caller, documentDigest: documentDigest)
        }
        guard input.present else {
            let check = summary == nil
                ? Check(.notPresentedBefore, .pass, "this document was not presented before (its order and file number are unknown: the document cannot be read); nothing was recorded: a check, not a presentation")
                : Check(.notPresentedBefore, .pass, "\(what) (this document, its file number) was not presented before; nothing was recorded: a check, not a presentation (send present: true to present it for payment)")
            return try await answer(Self.finished(report, check), input: input, caller: caller, documentDigest: documentDigest)
        }
        guard report.verdict == .valid, let summary, let fileNumber else {
            let check = Check(.notPresentedBefore, .pass, "\(what) was not presented before; this presentation is not recorded: the order is not valid")
            return try await answer(Self.finished(report, check), input: input, caller: caller, documentDigest: documentDigest)
        }

        // Present it: recorded in one transaction with its journal entry (and the answer, for an
        // Idempotency-Key), unless another presentation got there first.
        let base = report
        var maker: (@Sendable (OrderPresentation) throws -> IdempotencyRecord)?
        if let idempotency {
            let (uid, key, digest) = (idempotency.uid, idempotency.key, idempotency.digest)
            maker = { @Sendable (presentation: OrderPresentation) throws -> IdempotencyRecord in
                let body = try ReportRendering.json(Self.finished(base, Self.recorded(presentation, what: what)))
                return IdempotencyRecord(
                    uid: uid, key: key, requestDigest: digest, status: 200, contentType: "application/json", body: Array(body))
            }
        }
        let made = maker
        let outcome: PresentationOutcome
        do {
            outcome = try await withStore {
                try await registry.recordPresentation(
                    document: documentDigest, fileNumber: fileNumber, orderID: summary.orderID, entityCode: summary.entity,
                    trustedTime: report.trustedTime.date, presenterUID: caller.uid, presenter: caller.name,
                    presenterOperatorID: caller.op?.id, by: caller.actor,
                    decide: caller.decision([.paymentCenter], doing: "the presentation for payment", rule: nil), idempotency: made)
            }
        } catch let refusal as RuleRefusal {
            throw await registry.journalRefusal(UseCaseError(refusal), by: caller.actor, logger: logger)
        }
        switch outcome {
        case .recorded(let presentation):
            logger.notice("\(what) presented for payment by \(caller.name) (presentation \(presentation.id))")
            return Self.finished(report, Self.recorded(presentation, what: what))
        case .replay(let first):
            return try await answer(Self.finished(report, Self.replay(first, documentDigest: documentDigest, fileNumber: fileNumber, what: what)),
                                    input: input, caller: caller, documentDigest: documentDigest)
        }
    }

    /// The answer for a report that records no presentation; a refused presentation is journaled.
    private func answer(_ report: VerificationReport, input: VerificationInput, caller: Caller, documentDigest: SHA256Hex) async throws -> VerificationReport {
        if input.present && report.verdict != .valid {
            let failed = report.checks.filter { $0.status == .fail }
            let unsure = report.checks.filter { $0.status == .indeterminate }
            let what = report.document.map { "order \($0.orderID) of \($0.entity)" } ?? "an order"
            let reason = failed.isEmpty
                ? "payment of \(what) refused: it could not be checked completely (\(unsure.map(\.name.rawValue).joined(separator: ", ")))"
                : "payment of \(what) refused: \(failed.map(\.name.rawValue).joined(separator: ", ")) failed"
            let rule = (failed.isEmpty ? unsure : failed).lazy.compactMap { $0.rule }.first
            await registry.journalRefusal(rule: rule, reason, by: caller.actor, document: documentDigest, logger: logger)
        }
        return report
    }

    /// The report with `check` added after the twelve, and its verdict worked out again.
    static func finished(_ report: VerificationReport, _ check: Check) -> VerificationReport {
        var report = report
        report.checks.removeAll { $0.name == check.name }
        report.checks.append(check)
        report.checks.sort { $0.name < $1.name }
        if report.checks.contains(where: { $0.status == .fail }) {
            report.verdict = .invalid
        } else if report.checks.contains(where: { $0.status == .indeterminate }) {
            report.verdict = .indeterminate
        } else {
            report.verdict = .valid
        }
        return report
    }

    static func recorded(_ presentation: OrderPresentation, what: String) -> Check {
        Check(
            .notPresentedBefore, .pass,
            "\(what) was not presented before; this presentation is recorded for payment (presentation \(presentation.id), \(OrderVerification.iso(presentation.presentedAt)), by \(presentation.presenter))",
            notes: ["recorded as presentation \(presentation.id)"])
    }

    static func replay(_ first: OrderPresentation, documentDigest: SHA256Hex, fileNumber: SHA256Hex?, what: String) -> Check {
        let same: String
        if first.documentSHA256 == documentDigest {
            same = "the same document"
        } else if first.fileNumber == fileNumber {
            same = "the same file number \(FileNumber(digest: first.fileNumber).grouped) in another document"
        } else {
            same = "the same entity and order id in another document"
        }
        return Check(
            .notPresentedBefore, .fail,
            "\(what) was already presented for payment on \(OrderVerification.iso(first.presentedAt)) by \(first.presenter) (presentation \(first.id), order \(first.orderID) of \(first.entityCode), \(same)): a second presentation is a replay",
            notes: ["first presentation: \(first.id)"])
    }

    // MARK: Trust material

    /// The anchors and the newest list of each issuer key the registry holds (only those an
    /// anchor signed: the same test an import passes), with their trust context, built once per
    /// set of lists.
    private func currentTrust() async throws -> Trust {
        guard !anchors.isEmpty else {
            throw UseCaseError(.unavailable, "this daemon has no trust anchors to verify orders against: set trust-anchors in its configuration")
        }
        let stored = try await withStore { try await registry.latestCRLs() }
        let key = stored.map(\.sha256.hex)
        if let trust = cached.withLock({ $0 }), trust.key == key { return trust }
        var lists: [RevocationList] = []
        for crl in stored {
            do {
                let list = try RevocationList(derEncoded: crl.derEncoded)
                if anchors.contains(where: { $0.subject == list.issuer && list.isSigned(by: $0) }) {
                    lists.append(list)
                } else {
                    logger.warning("the revocation list \(crl.number) of \(crl.issuer) is signed by no trust anchor; verifications leave it out")
                }
            } catch {
                logger.error("the revocation list \(crl.number) of \(crl.issuer) held in the registry cannot be read: \(error)")
            }
        }
        let context: TrustContext
        do {
            context = try TrustContext(anchors: anchors, revocationLists: lists)
        } catch {
            throw UseCaseError(.unavailable, "the trust anchors and revocation lists cannot be used: \(error)")
        }
        let trust = Trust(key: key, lists: lists, context: context)
        cached.withLock { $0 = trust }
        return trust
    }
}
