public import Foundation

/// Where a payment order stands. The only transitions are those `OrderState.next` allows:
///
/// ```
/// draft ──review (D9)──▶ reviewed ──first signature──▶ first-signed ──second signature (D2)──▶ payable
///   │                        │                              │
///   └────────────────────────┴──────────── reject ──────────┴──▶ rejected
/// ```
/// `payable` and `rejected` are final: a payable order is the payment center's to verify, and a
/// rejected one is uploaded again as a new order.
public enum OrderState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Uploaded and valid; its file number is waiting for the reviewers (D9).
    case draft
    /// A reviewer confirmed the file number (D9); the first signer may sign.
    case reviewed
    /// The entity's finance officer signed (D2); the Ministry representative may sign.
    case firstSigned = "first-signed"
    /// Both signatures are on it (D2).
    case payable
    /// Someone with a say in it refused it, with a reason.
    case rejected

    /// The state a signature step needs the order to be in.
    public static func before(_ step: SignatureStep) -> OrderState {
        switch step {
        case .first: return .reviewed
        case .second: return .firstSigned
        }
    }

    /// The state a signature step leaves the order in.
    public static func after(_ step: SignatureStep) -> OrderState {
        switch step {
        case .first: return .firstSigned
        case .second: return .payable
        }
    }

    /// A state no transition leaves.
    public var isFinal: Bool { self == .payable || self == .rejected }

    /// True when `self → next` is one of the transitions drawn above.
    public func allows(_ next: OrderState) -> Bool {
        switch (self, next) {
        case (.draft, .reviewed), (.reviewed, .firstSigned), (.firstSigned, .payable): return true
        case (.draft, .rejected), (.reviewed, .rejected), (.firstSigned, .rejected): return true
        default: return false
        }
    }
}

/// A payment order as the registry keeps it: what was uploaded (its metadata and the digest of
/// its exact bytes, the file number of D9), where it stands, and who moved it there.
public struct Order: Sendable, Hashable, Codable, Identifiable {
    public typealias ID = Int64

    public var id: ID
    public var metadata: OrderMetadata
    /// SHA-256 of the uploaded bytes (D9).
    public var fileNumber: FileNumber
    public var fileBytes: Int
    public var lineCount: Int
    public var totalPiasters: Int64
    /// SHA-256 of the canonical order document (`OrderDocument`), the content both signatures cover.
    public var documentSHA256: SHA256Hex
    public var state: OrderState
    public var createdBy: OrderActor
    public var createdAt: Date
    public var reviewedBy: OrderActor?
    public var reviewedAt: Date?
    public var rejectedBy: OrderActor?
    public var rejectedAt: Date?
    public var rejectionReason: String?
    /// The signatures made so far, first then second.
    public var signatures: [OrderSignature]

    public init(
        id: ID, metadata: OrderMetadata, fileNumber: FileNumber, fileBytes: Int, lineCount: Int, totalPiasters: Int64,
        documentSHA256: SHA256Hex, state: OrderState, createdBy: OrderActor, createdAt: Date,
        reviewedBy: OrderActor? = nil, reviewedAt: Date? = nil, rejectedBy: OrderActor? = nil, rejectedAt: Date? = nil,
        rejectionReason: String? = nil, signatures: [OrderSignature] = []
    ) {
        self.id = id
        self.metadata = metadata
        self.fileNumber = fileNumber
        self.fileBytes = fileBytes
        self.lineCount = lineCount
        self.totalPiasters = totalPiasters
        self.documentSHA256 = documentSHA256
        self.state = state
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.reviewedBy = reviewedBy
        self.reviewedAt = reviewedAt
        self.rejectedBy = rejectedBy
        self.rejectedAt = rejectedAt
        self.rejectionReason = rejectionReason
        self.signatures = signatures
    }

    /// The signature made at `step`, if made.
    public func signature(_ step: SignatureStep) -> OrderSignature? {
        signatures.first { $0.step == step }
    }
}

/// Who moved an order: the operator (when the caller is mapped to one) and the Unix user.
public struct OrderActor: Sendable, Hashable, Codable {
    public var operatorID: Operator.ID?
    public var unixUser: String

    public init(operatorID: Operator.ID?, unixUser: String) {
        self.operatorID = operatorID
        self.unixUser = unixUser
    }
}

/// One signature on an order, as the registry records it beside the SignedData that holds it.
public struct OrderSignature: Sendable, Hashable, Codable {
    public var step: SignatureStep
    public var signer: OrderActor
    /// `CK_TOKEN_INFO.serialNumber` of the token that signed.
    public var tokenSerial: String
    /// SHA-256 of the signer's certificate (the registry's fingerprint).
    public var certificateSHA256: SHA256Hex
    /// SHA-256 of the SignerInfo's signature value: what the second signature binds (D2).
    public var signatureSHA256: SHA256Hex
    public var signedAt: Date

    public init(
        step: SignatureStep, signer: OrderActor, tokenSerial: String, certificateSHA256: SHA256Hex,
        signatureSHA256: SHA256Hex, signedAt: Date
    ) {
        self.step = step
        self.signer = signer
        self.tokenSerial = tokenSerial
        self.certificateSHA256 = certificateSHA256
        self.signatureSHA256 = signatureSHA256
        self.signedAt = signedAt
    }
}

/// Which orders a listing returns; nil fields do not filter.
public struct OrderFilter: Sendable, Hashable {
    public var entityCode: String?
    public var state: OrderState?
    /// Value dates from this day on.
    public var from: CalendarDay?
    /// Value dates up to this day.
    public var to: CalendarDay?
    /// At most this many, newest first.
    public var limit: Int

    public init(entityCode: String? = nil, state: OrderState? = nil, from: CalendarDay? = nil, to: CalendarDay? = nil, limit: Int = 100) {
        self.entityCode = entityCode
        self.state = state
        self.from = from
        self.to = to
        self.limit = limit
    }
}
