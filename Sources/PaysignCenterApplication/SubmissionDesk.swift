public import Foundation
public import Logging
public import PaysignCenterStore
public import PaysignDomain
public import PaysignOpenSSL
public import PaysignTokens
import Metrics
import PaysignVerification

/// The payment center receiving an entity's signed order (issue 18, D8, D2, D6, D9): the envelope
/// opened on the center's HSM, the order verified with the same engine as `paysign verify`, the
/// submission recorded (and accepted for payment at most once, across every node, by the store's
/// constraints), and a receipt signed on the center's token.
///
/// Steps, each refusing in one sentence:
/// 1. The identical envelope recorded before: its first receipt, nothing decrypted or written.
/// 2. Open: the content key decrypted on the token (`C_Decrypt`, RSAES-OAEP), the content with
///    AES-256-GCM and its tag checked (`EnvelopeError`).
/// 3. Read the package (document, SignedData, payroll file) and the document's entity, order and
///    file number; a document naming another entity than the submission certificate's is refused
///    (D8: an entity submits its own orders).
/// 4. Verify at the time received (the trusted time; a signature's verified time-stamp wins for
///    its signer, as in `paysign verify`), against the center's anchors and revocation lists.
/// 5. Sign the receipt (`CenterReceipt`, canonical JSON, in an attached SignedData) on the token.
/// 6. Record it, with its acceptance when valid, in one transaction (`CenterStore.record`): a
///    replay raced in from another node returns that node's receipt; a second acceptance of the
///    same document, file number, or entity and order is refused naming the first
///    (`AcceptOnceRule`).
public final class SubmissionDesk: Sendable {
    public let store: CenterStore
    let decrypter: TokenSigner
    let receiptSigner: TokenSigner
    let trust: @Sendable () -> TrustContext
    let node: String
    let logger: Logger
    let clock: @Sendable () -> Date

    public init(store: CenterStore, decrypter: TokenSigner, receiptSigner: TokenSigner, trust: @escaping @Sendable () -> TrustContext,
                node: String, logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.decrypter = decrypter
        self.receiptSigner = receiptSigner
        self.trust = trust
        self.node = node
        self.logger = logger
        self.clock = clock
    }

    /// What a submission came to.
    public struct Outcome: Sendable {
        /// The signed receipt (DER SignedData carrying `receipt`'s canonical JSON).
        public var signedReceipt: [UInt8]
        public var receipt: CenterReceipt
        /// True when this envelope was recorded before (by any node): the first receipt, again.
        public var replay: Bool
    }

    /// Why a submission was refused without a receipt.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public enum Kind: String, Sendable {
            /// The envelope cannot be opened or read (malformed, tampered, not for this center).
            case envelope
            /// The document cannot be read: the center cannot tell which order it is.
            case unreadableOrder
            /// The order is another entity's (D8), or accepted already (D2, D9).
            case notAllowed
            /// The order was accepted for payment already (D2, D9): `AcceptOnceRule`.
            case acceptedBefore
        }

        public var kind: Kind
        public var rule: RuleNumber?
        public var message: String
        public var description: String { message }
    }

    /// The center's figures (swift-metrics; the server exports them in Prometheus's format).
    enum Figures {
        static func submitted(_ outcome: String) { Counter(label: "paysign_center_submissions_total", dimensions: [("outcome", outcome)]).increment() }
        static let submission = Metrics.Timer(label: "paysign_center_submission_seconds")
        static let decrypt = Metrics.Timer(label: "paysign_center_decrypt_seconds")
        static let verify = Metrics.Timer(label: "paysign_center_verify_seconds")
        static let receiptSign = Metrics.Timer(label: "paysign_center_receipt_sign_seconds")
        static let record = Metrics.Timer(label: "paysign_center_record_seconds")

        static func timed<T>(_ timer: Metrics.Timer, _ work: () async throws -> T) async rethrows -> T {
            let start = ContinuousClock.now
            defer { timer.record(duration: ContinuousClock.now - start) }
            return try await work()
        }
    }

    public func submit(envelope: [UInt8], from entity: String) async throws -> Outcome {
        let started = ContinuousClock.now
        do {
            let outcome = try await submitCounted(envelope: envelope, from: entity)
            Figures.submitted(outcome.replay ? "replay" : (outcome.receipt.accepted ? "accepted" : outcome.receipt.verdict))
            Figures.submission.record(duration: ContinuousClock.now - started)
            return outcome
        } catch let refusal as Refusal {
            Figures.submitted(refusal.kind == .acceptedBefore ? "accepted-before" : "refused")
            throw refusal
        } catch {
            Figures.submitted("error")
            throw error
        }
    }

    func submitCounted(envelope: [UInt8], from entity: String) async throws -> Outcome {
        let envelopeSHA256 = Hex.string(SHA256.hash(envelope))
        if let first = try await store.submission(envelopeSHA256: envelopeSHA256) {
            // The first receipt goes back over its own entity's link only (D8): another entity
            // holding the same bytes learns nothing of the order, as GET /v1/submissions/{id}
            // answers it 404.
            guard first.entityCode == entity else {
                throw Refusal(kind: .notAllowed, rule: .d8, message: "this envelope carries another entity's order; an entity submits its own orders only")
            }
            return try Self.outcome(first, replay: true)
        }
        // To the millisecond: the receipt's canonical JSON carries no finer time, and the record the same.
        let receivedAt = Date(timeIntervalSince1970: (clock().timeIntervalSince1970 * 1000).rounded(.down) / 1000)

        let content: [UInt8]
        do {
            content = try await Figures.timed(Figures.decrypt) { try await decrypter.open(try AuthEnvelope.parse(envelope)) }
        } catch let error as EnvelopeError {
            logger.notice("envelope from \(entity) refused: \(error.message)")
            throw Refusal(kind: .envelope, rule: .d8, message: error.message)
        }
        let package: SubmissionPackage
        do {
            package = try SubmissionPackage(derEncoded: content)
        } catch let error as EnvelopeError {
            throw Refusal(kind: .envelope, rule: .d8, message: error.message)
        }

        let verifier = OrderVerifier(trust: trust(), at: receivedAt)
        let payroll = PayrollFileFacts(sha256: SHA256.hash(package.payrollFile), byteCount: package.payrollFile.count)
        let report = await Figures.timed(Figures.verify) {
            await Self.heavy {
                verifier.verify(name: "submission", document: package.document, signature: package.signature, payrollFile: payroll)
            }
        }
        guard let summary = report.document else {
            let reason = report.checks.first { $0.name == .orderDocument && $0.status == .fail }?.reason
            throw Refusal(kind: .unreadableOrder, rule: .d9, message: "the order document in the envelope cannot be read\(reason.map { ": " + $0 } ?? ""); the center cannot tell which order it is, so nothing was recorded")
        }
        guard summary.entity == entity else {
            throw Refusal(kind: .notAllowed, rule: .d8, message: "the order in the envelope is entity \(summary.entity)'s, and the link is entity \(entity)'s; an entity submits its own orders only")
        }

        let id = try await store.nextSubmissionID()
        let failed = report.checks.filter { $0.status == .fail || $0.status == .indeterminate }.map {
            CenterReceipt.FailedCheck(check: $0.name.rawValue, rule: $0.rule?.rawValue, reason: $0.reason)
        }
        let documentSHA256 = Hex.string(SHA256.hash(package.document))
        let receipt = CenterReceipt(
            submission: id, envelopeSHA256: envelopeSHA256, documentSHA256: documentSHA256, entity: summary.entity,
            order: summary.orderID, fileNumber: summary.fileNumber, verdict: report.verdict.rawValue,
            accepted: report.verdict == .valid, failedChecks: failed, receivedAt: receivedAt)
        let signed = try await Figures.timed(Figures.receiptSign) { try await sign(receipt) }

        do {
            let outcome = try await Figures.timed(Figures.record) { try await store.record(
                id: id, envelopeSHA256: envelopeSHA256, entityCode: summary.entity, orderID: summary.orderID,
                documentSHA256: documentSHA256, fileNumber: summary.fileNumber, verdict: report.verdict.rawValue,
                failedChecks: failed.map(\.check), receipt: signed, receivedAt: receipt.receivedAt, node: node,
                totalPiasters: summary.totalPiasters, valueDate: summary.valueDate) }
            switch outcome {
            case .recorded(let submission, let accepted):
                logger.notice("submission \(submission.id): order \(summary.orderID) of \(summary.entity) \(accepted ? "accepted for payment" : "recorded as \(report.verdict.rawValue)")")
                return Outcome(signedReceipt: signed, receipt: receipt, replay: false)
            case .replay(let first):
                return try Self.outcome(first, replay: true)
            }
        } catch let refusal as RuleRefusal {
            logger.notice("order \(summary.orderID) of \(summary.entity) refused: \(refusal.message)")
            throw Refusal(kind: .acceptedBefore, rule: refusal.rule, message: refusal.message)
        }
    }

    /// The receipt in an attached SignedData, signed on the center's token (proof-of-receipt).
    func sign(_ receipt: CenterReceipt) async throws -> [UInt8] {
        let content = receipt.canonicalJSON
        let signature = try await receiptSigner.signCMS(
            content: content, role: "payment-center", commitment: .proofOfReceipt, signingTime: receipt.receivedAt)
        return try AttachedSignature.attach(content, to: signature.derEncoded)
    }

    static func outcome(_ submission: CenterStore.Submission, replay: Bool) throws -> Outcome {
        let (content, _) = try AttachedSignature.split(submission.receipt)
        return Outcome(signedReceipt: submission.receipt, receipt: try CenterReceipt(canonicalJSON: content), replay: replay)
    }

    /// Verification off Swift's cooperative threads (it is CPU-bound: a payroll file's digest was
    /// made already, but chains and signatures are checked here).
    static func heavy<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }

    static let queue = DispatchQueue(label: "paysign.center.verify", attributes: .concurrent)
}
