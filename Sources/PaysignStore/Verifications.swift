public import Foundation
public import PaysignDomain
import GRDB

// MARK: - The payment center: trusted time of signing, presentations for payment (issue 6)

/// A valid signed order presented to the payment center for payment, as the registry keeps it.
/// The same document, the same file number (D9) or the same entity and order id is never recorded
/// twice: a second presentation is a replay.
public struct OrderPresentation: Sendable, Hashable, Codable {
    public var id: Int64
    public var documentSHA256: SHA256Hex
    /// The file number's 64 hex digits (the SHA-256 of the payroll file, D9).
    public var fileNumber: SHA256Hex
    public var orderID: Int64
    public var entityCode: String
    /// Who presented it: the caller's uid and Unix user (or `uid N`), and its operator.
    public var presenterUID: UInt32
    public var presenter: String
    public var presenterOperatorID: Operator.ID?
    public var presentedAt: Date
    /// The time validity and revocation were judged at.
    public var trustedTime: Date

    public init(
        id: Int64, documentSHA256: SHA256Hex, fileNumber: SHA256Hex, orderID: Int64, entityCode: String, presenterUID: UInt32,
        presenter: String, presenterOperatorID: Operator.ID?, presentedAt: Date, trustedTime: Date
    ) {
        self.id = id
        self.documentSHA256 = documentSHA256
        self.fileNumber = fileNumber
        self.orderID = orderID
        self.entityCode = entityCode
        self.presenterUID = presenterUID
        self.presenter = presenter
        self.presenterOperatorID = presenterOperatorID
        self.presentedAt = presentedAt
        self.trustedTime = trustedTime
    }
}

/// When the payment center's daemon first saw a signature (SHA-256 of its SignerInfo's signature
/// value): its trusted time of signing (issue 6).
public struct SignatureSighting: Sendable, Hashable {
    public var signature: SHA256Hex
    public var firstSeenAt: Date
    /// Registered by this call.
    public var isNew: Bool

    public init(signature: SHA256Hex, firstSeenAt: Date, isNew: Bool) {
        self.signature = signature
        self.firstSeenAt = firstSeenAt
        self.isNew = isNew
    }
}

/// What `Registry.recordPresentation` did.
public enum PresentationOutcome: Sendable, Hashable {
    /// Recorded now (and journaled as `order-presented`).
    case recorded(OrderPresentation)
    /// Refused: this earlier presentation has the same document, file number, or entity and order
    /// id. Nothing was written.
    case replay(OrderPresentation)
}

extension Registry {
    /// Registers the signatures (SHA-256 of each SignerInfo's signature value) of the document
    /// with digest `document`: one not seen before gets the time now, and those are journaled as
    /// one `signature-registered` entry in the same transaction. Returns when each was first
    /// seen (the trusted time of signing, issue 6), and whether that was now. A first sighting is
    /// never moved (a trigger).
    public func registerSignatures(_ signatures: [SHA256Hex], document: SHA256Hex, by actor: AuditActor) async throws -> [SignatureSighting] {
        let unique = Array(Set(signatures)).sorted()
        guard !unique.isEmpty else { return [] }
        let at = now
        return try await write("register signatures") { db in
            var sightings: [SignatureSighting] = []
            let select = try db.cachedStatement(sql: "SELECT firstSeenAt FROM signature_sightings WHERE signatureSHA256 = ?")
            for signature in unique {
                if let text = try String.fetchOne(select, arguments: [signature.hex]) {
                    sightings.append(SignatureSighting(signature: signature, firstSeenAt: try Self.date(text, "signature_sightings.firstSeenAt"), isNew: false))
                } else {
                    try db.cachedStatement(sql: "INSERT INTO signature_sightings (signatureSHA256, documentSHA256, firstSeenAt) VALUES (?, ?, ?)")
                        .execute(arguments: [signature.hex, document.hex, at])
                    sightings.append(SignatureSighting(signature: signature, firstSeenAt: try Self.date(at, "signature_sightings.firstSeenAt"), isNew: true))
                }
            }
            let added = sightings.filter(\.isNew).map(\.signature)
            if !added.isEmpty {
                try Journal.append(db, .signatureRegistered(.init(documentSHA256: document, signatures: added)), by: actor, at: at)
            }
            return sightings
        }
    }

    /// When each of these signatures was first seen; those never seen are absent.
    public func signatureSightings(_ signatures: [SHA256Hex]) async throws -> [SHA256Hex: Date] {
        try await read("read signature sightings") { db in
            var found: [SHA256Hex: Date] = [:]
            let select = try db.cachedStatement(sql: "SELECT firstSeenAt FROM signature_sightings WHERE signatureSHA256 = ?")
            for signature in signatures {
                if let text = try String.fetchOne(select, arguments: [signature.hex]) {
                    found[signature] = try Self.date(text, "signature_sightings.firstSeenAt")
                }
            }
            return found
        }
    }

    /// The earlier presentation with this document, this file number, or this entity and order
    /// id (the oldest, when several match), or nil.
    public func presentation(document: SHA256Hex, fileNumber: SHA256Hex?, entityCode: String?, orderID: Int64?) async throws -> OrderPresentation? {
        try await read("read order presentations") { db in
            try Self.prior(db, document: document, fileNumber: fileNumber, entityCode: entityCode, orderID: orderID)
        }
    }

    /// Every presentation recorded, oldest first.
    public func presentations() async throws -> [OrderPresentation] {
        try await read("list order presentations") { db in
            try PresentationRow.order(Column("id")).fetchAll(db).map(Self.presentation)
        }
    }

    /// Records a valid order presented for payment, and journals `order-presented`, in one
    /// transaction; unless an earlier presentation has the same document, file number, or entity
    /// and order id: then nothing is written and that one is returned (`.replay`). `idempotency`,
    /// when given, makes the record of the answer saved in the same transaction.
    public func recordPresentation(
        document: SHA256Hex, fileNumber: SHA256Hex, orderID: Int64, entityCode: String, trustedTime: Date,
        presenterUID: UInt32, presenter: String, presenterOperatorID: Operator.ID?, by actor: AuditActor,
        decide: RoleDecision? = nil, idempotency: (@Sendable (OrderPresentation) throws -> IdempotencyRecord)? = nil
    ) async throws -> PresentationOutcome {
        if let problem = FieldRules.text(entityCode, field: "entityCode", maximumLength: 64) { throw StoreError(problem) }
        let at = now
        return try await write("record an order presentation") { db in
            try decide?.check(db)
            if let earlier = try Self.prior(db, document: document, fileNumber: fileNumber, entityCode: entityCode, orderID: orderID) {
                return .replay(earlier)
            }
            var row = PresentationRow(
                id: nil, documentSHA256: document.hex, fileNumber: fileNumber.hex, orderID: orderID, entityCode: entityCode,
                presenterUID: Int64(presenterUID), presenter: presenter, presenterOperatorID: presenterOperatorID,
                presentedAt: at, trustedTime: Timestamp.string(trustedTime))
            try row.insert(db)
            let presentation = try Self.presentation(row)
            try Journal.append(
                db,
                .orderPresented(.init(
                    presentationID: presentation.id, orderID: orderID, entityCode: entityCode, documentSHA256: document,
                    fileNumber: fileNumber, trustedTime: row.trustedTime)),
                by: actor, at: at)
            if let idempotency {
                let record: IdempotencyRecord
                do { record = try idempotency(presentation) } catch let error as StoreError { throw error } catch {
                    throw CallerError(underlying: error)
                }
                if let problem = record.problem { throw problem }
                try Self.insertIdempotency(db, record, at: at)
            }
            return .recorded(presentation)
        }
    }

    static func prior(_ db: Database, document: SHA256Hex, fileNumber: SHA256Hex?, entityCode: String?, orderID: Int64?) throws -> OrderPresentation? {
        let row = try PresentationRow.fetchOne(
            db,
            sql: """
                SELECT * FROM order_presentations
                WHERE documentSHA256 = ? OR fileNumber = ? OR (entityCode = ? AND orderID = ?)
                ORDER BY id LIMIT 1
                """,
            arguments: [document.hex, fileNumber?.hex, entityCode, orderID])
        return try row.map(presentation)
    }

    static func presentation(_ row: PresentationRow) throws -> OrderPresentation {
        guard let id = row.id, let document = SHA256Hex(row.documentSHA256), let fileNumber = SHA256Hex(row.fileNumber),
            let uid = UInt32(exactly: row.presenterUID)
        else {
            throw StoreError(.corrupt, "An order presentation row is damaged.")
        }
        return OrderPresentation(
            id: id, documentSHA256: document, fileNumber: fileNumber, orderID: row.orderID, entityCode: row.entityCode,
            presenterUID: uid, presenter: row.presenter, presenterOperatorID: row.presenterOperatorID,
            presentedAt: try date(row.presentedAt, "order_presentations.presentedAt"),
            trustedTime: try date(row.trustedTime, "order_presentations.trustedTime"))
    }
}

struct PresentationRow: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "order_presentations"
    var id: Int64?
    var documentSHA256: String
    var fileNumber: String
    var orderID: Int64
    var entityCode: String
    var presenterUID: Int64
    var presenter: String
    var presenterOperatorID: Int64?
    var presentedAt: String
    var trustedTime: String

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}
