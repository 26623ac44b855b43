public import Foundation
public import Logging
import PaysignDomain
public import PaysignOpenSSL
public import PaysignStore

/// The link's far end as the delivery sees it: sends an envelope, returns the center's answer, or
/// throws when there was none (unreachable, the handshake refused, cut). The daemon's edge
/// provides it over mutual TLS with the submission key on its token (`PaysignCenterLink`).
public protocol CenterSubmitting: Sendable {
    func submit(envelope: [UInt8]) async throws -> CenterReply
    /// `GET /v1/submissions/{id}`: where a submission stands at the center.
    func status(submission: Int64) async throws -> CenterReply
}

/// What the center answered.
public struct CenterReply: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: [UInt8]

    public init(status: Int, contentType: String?, body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// The problem's sentence (`detail`) when the answer is problem details.
    var problemDetail: String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object["detail"] as? String
    }
}

/// The entity delivers its payable orders to the payment center (issue 18, rule D8): each order in
/// the outbox is sealed once to the center's encryption certificate (CMS AuthEnvelopedData,
/// AES-256-GCM, RSAES-OAEP) and sent until the center answers for good, at least once:
///
/// - **201/200 with a receipt**: the receipt must verify (a SignedData chaining to the trust
///   anchors, signed by the configured center receipt certificate) and prove this very envelope
///   (its SHA-256), entity and order; it is kept and journaled (`order-delivered`, outcome
///   `accepted` or `invalid`). A receipt that does not verify is no answer: the attempt failed.
/// - **409, 403, 413, 415, 422**: the center refused for good (accepted before, another entity's,
///   a malformed envelope): the sentence is kept and journaled (`refused`).
/// - **Anything else, or no answer**: retried with back-off (5 s doubling to an hour). The same
///   envelope is resent, so a center that recorded it before answers with its first receipt.
public final class DeliveryDesk: Sendable {
    let registry: Registry
    let center: any CenterSubmitting
    let encryptionCertificate: Certificate
    let oaep: AuthEnvelope.OAEPHash
    let receiptCertificate: Certificate
    let anchors: [Certificate]
    let logger: Logger
    let clock: @Sendable () -> Date

    public init(registry: Registry, center: any CenterSubmitting, encryptionCertificate: Certificate, oaep: AuthEnvelope.OAEPHash,
                receiptCertificate: Certificate, anchors: [Certificate], logger: Logger, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.registry = registry
        self.center = center
        self.encryptionCertificate = encryptionCertificate
        self.oaep = oaep
        self.receiptCertificate = receiptCertificate
        self.anchors = anchors
        self.logger = logger
        self.clock = clock
    }

    /// One round: every delivery due now, one after the other. Returns how many were attempted.
    @discardableResult
    public func deliverDue() async -> Int {
        let due: [Registry.Delivery]
        do {
            due = try await registry.dueDeliveries(now: clock())
        } catch {
            logger.error("the outbox cannot be read: \(error)")
            return 0
        }
        for delivery in due {
            await deliver(delivery)
        }
        return due.count
    }

    /// Back-off after `attempts` failed tries: 5 s doubling, at most an hour, with up to a fifth
    /// more at random so entities that lost the center together do not return together.
    static func backOff(attempts: Int) -> TimeInterval {
        let base = min(3600, 5 * pow(2, Double(min(attempts, 20))))
        return base + Double.random(in: 0...(base / 5))
    }

    func deliver(_ delivery: Registry.Delivery) async {
        let order = "order \(delivery.orderID) of \(delivery.entityCode)"
        do {
            var envelope = delivery.envelope
            if envelope == nil {
                let package = SubmissionPackage(document: delivery.document, signature: delivery.signedData, payrollFile: delivery.file)
                let sealed = try AuthEnvelope.seal(package.derEncoded, to: encryptionCertificate, oaep: oaep)
                envelope = try await registry.keepEnvelope(
                    orderID: delivery.orderID, envelope: sealed, sha256: Hex.string(SHA256.hash(sealed)))
            }
            guard let envelope else { return }
            let reply: CenterReply
            do {
                reply = try await center.submit(envelope: envelope)
            } catch {
                try await failed(delivery, "the center gave no answer: \(error)")
                return
            }
            switch reply.status {
            case 200, 201:
                let receipt: CenterReceipt
                do {
                    receipt = try check(receipt: reply.body, envelope: envelope, delivery: delivery)
                } catch {
                    try await failed(delivery, "the center's receipt for \(order) was not accepted: \(error)")
                    return
                }
                let outcome = receipt.accepted ? "accepted" : "invalid"
                let detail = receipt.accepted
                    ? "accepted for payment by the center (submission \(receipt.submission))"
                    : "recorded \(receipt.verdict) by the center (submission \(receipt.submission)): \(receipt.failedChecks.map { "\($0.check): \($0.reason)" }.joined(separator: "; "))"
                try await registry.recordDelivery(
                    orderID: delivery.orderID, outcome: outcome, submissionID: receipt.submission, receipt: reply.body, detail: detail,
                    at: clock(), by: .daemon)
                logger.notice("\(order) delivered: \(detail)")
            case 403, 409, 413, 415, 422:
                let detail = reply.problemDetail ?? "the center refused it (HTTP \(reply.status))"
                try await registry.recordDelivery(
                    orderID: delivery.orderID, outcome: "refused", submissionID: nil, receipt: nil, detail: detail, at: clock(), by: .daemon)
                logger.warning("\(order) refused by the center: \(detail)")
            default:
                try await failed(delivery, "the center answered HTTP \(reply.status)\(reply.problemDetail.map { ": " + $0 } ?? "")")
            }
        } catch {
            logger.error("\(order) could not be delivered: \(error)")
        }
    }

    /// Asks the center where each accepted order stands; a paid or returned one is kept and
    /// journaled (`center-state-changed`). Returns how many changed.
    @discardableResult
    public func refreshCenterStates() async -> Int {
        let awaiting: [(orderID: Int64, submissionID: Int64)]
        do {
            awaiting = try await registry.awaitingPayment()
        } catch {
            logger.error("the delivered orders cannot be read: \(error)")
            return 0
        }
        var changed = 0
        for (orderID, submissionID) in awaiting {
            do {
                let reply = try await center.status(submission: submissionID)
                guard reply.status == 200,
                    let object = try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any],
                    let state = object["state"] as? String, state == "paid" || state == "returned"
                else { continue }
                let changedAt = (object["stateChangedAt"] as? String).flatMap { try? Date($0, strategy: .iso8601) }
                try await registry.centerStateChanged(
                    orderID: orderID, submissionID: submissionID, state: state, reason: object["stateReason"] as? String,
                    changedAt: changedAt, by: .daemon)
                logger.notice("order \(orderID): the payment center says \(state)")
                changed += 1
            } catch {
                logger.info("the center's state of order \(orderID) cannot be read now: \(error)")
                break
            }
        }
        return changed
    }

    func failed(_ delivery: Registry.Delivery, _ sentence: String) async throws {
        let wait = Self.backOff(attempts: delivery.attempts)
        logger.warning("order \(delivery.orderID) of \(delivery.entityCode): \(sentence); next attempt in \(Int(wait)) s")
        try await registry.deliveryFailed(orderID: delivery.orderID, error: sentence, next: clock().addingTimeInterval(wait))
    }

    /// A receipt proves this envelope, entity and order, signed by the center's receipt certificate
    /// chaining to the trust anchors.
    func check(receipt bytes: [UInt8], envelope: [UInt8], delivery: Registry.Delivery) throws -> CenterReceipt {
        let (content, signature) = try AttachedSignature.split(bytes)
        let verification = try signature.verify(content: content, trustAnchors: anchors)
        guard verification.isValid else {
            throw DeliveryError("its signature does not verify (\(verification.signers.flatMap(\.problems).joined(separator: "; ")))")
        }
        guard signature.signers.count == 1, signature.signers[0].certificate == receiptCertificate else {
            throw DeliveryError("it is not signed by the center's receipt certificate \(receiptCertificate.serialNumber)")
        }
        let receipt = try CenterReceipt(canonicalJSON: content)
        guard receipt.envelopeSHA256 == Hex.string(SHA256.hash(envelope)) else {
            throw DeliveryError("it is for another envelope (\(receipt.envelopeSHA256))")
        }
        guard receipt.entity == delivery.entityCode, receipt.order == delivery.orderID else {
            throw DeliveryError("it names order \(receipt.order) of \(receipt.entity)")
        }
        guard receipt.documentSHA256 == Hex.string(SHA256.hash(delivery.document)) else {
            throw DeliveryError("it names another document")
        }
        return receipt
    }
}

struct DeliveryError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
