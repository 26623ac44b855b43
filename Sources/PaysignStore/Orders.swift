public import Foundation
public import PaysignDomain
import GRDB
import PaysignOpenSSL

// MARK: - Payment orders

/// Payment orders: uploaded as drafts, reviewed (D9), signed first and second (D2), or rejected.
///
/// Each change is one write transaction with its audit entry (and, when the caller gives one, the
/// idempotency record of its response); a refused change writes nothing. The state machine is
/// `OrderState`'s; the database's triggers refuse any other transition too.
extension Registry {
    /// Stores a validated order file as a new draft order.
    ///
    /// The store computes the file number (SHA-256 of `file`, D9) and, inside the transaction
    /// once the insert has given the order its id, the canonical document
    /// (`OrderDocument(orderID:…).bytes`) and its SHA-256. Appends `order-created`. If
    /// `idempotency` is given, the record it returns for the new order is saved in the same
    /// transaction (as with every change here: an error the closure throws rolls the change back
    /// and is rethrown as it is).
    ///
    /// Fails with `.invalidField` (file empty, currency not three capital letters, lineCount or
    /// totalPiasters negative, createdBy's Unix user blank), `.unknownEntity` (entityCode), or
    /// `.duplicate` (`Idempotency-Key` already used by this uid).
    public func createOrder(
        metadata: OrderMetadata, file: [UInt8], lineCount: Int, totalPiasters: Int64, createdBy: OrderActor,
        by actor: AuditActor, decide: ActDecision? = nil,
        idempotency: (@Sendable (Order) throws -> IdempotencyRecord)? = nil
    ) async throws -> Order {
        guard !file.isEmpty else {
            throw StoreError(.invalidField, "The order file is empty; an order pays at least one line.", field: "file")
        }
        let currency = metadata.currency.utf8
        guard currency.count == 3, currency.allSatisfy({ $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            throw StoreError(
                .invalidField, "The currency must be an ISO 4217 code of three capital letters (EGP).", field: "currency")
        }
        guard lineCount >= 0 else {
            throw StoreError(.invalidField, "The lineCount must not be negative (got \(lineCount)).", field: "lineCount")
        }
        guard totalPiasters >= 0 else {
            throw StoreError(
                .invalidField, "The totalPiasters must not be negative (got \(totalPiasters)).", field: "totalPiasters")
        }
        try Self.checkOrderActor(createdBy, field: "createdBy")
        // Hashed before the transaction (it is pure), so a large file does not hold the writer.
        // SHA-256 digests are 32 bytes: FileNumber(digest:) cannot fail.
        let fileNumber = FileNumber(digest: SHA256.hash(file))!
        let at = now
        return try await write("create an order") { db in
            guard try EntityRow.fetchOne(db, key: metadata.entityCode) != nil else {
                throw StoreError(
                    .unknownEntity, "The entityCode '\(metadata.entityCode)' names no entity in the registry.",
                    field: "entityCode")
            }
            try decide?.check(db, act: .upload, entityCode: metadata.entityCode)
            // D11: the month's cashier orders are summed in this transaction, so two uploads at
            // once cannot both pass the cap.
            if metadata.kind == .cashier {
                let month = metadata.valueDate
                let (othersTotal, others) = try Self.cashierMonth(db, entityCode: metadata.entityCode, year: month.year, month: month.month)
                if let violation = CashierCapRule.monthly(
                    total: totalPiasters, othersTotal: othersTotal, others: others, year: month.year, month: month.month)
                {
                    throw CallerError(underlying: OrderViolations([violation]))
                }
            }
            // The document names the order's id, so it is written once the insert has given one.
            try db.execute(
                sql: """
                    INSERT INTO orders (
                        entityCode, kind, currency, valueDate, fileSHA256, fileBytes, lineCount, totalPiasters, file,
                        document, documentSHA256, state, createdByOperator, createdByUser, createdAt)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, X'', '', ?, ?, ?, ?)
                    """,
                arguments: [
                    metadata.entityCode, metadata.kind.rawValue, metadata.currency, metadata.valueDate.description,
                    fileNumber.digest.hex, file.count, lineCount, totalPiasters, Data(file), OrderState.draft.rawValue,
                    createdBy.operatorID, createdBy.unixUser, at,
                ])
            let id = db.lastInsertedRowID
            let document = OrderDocument(
                orderID: id, metadata: metadata, fileNumber: fileNumber, fileBytes: file.count, lineCount: lineCount,
                totalPiasters: totalPiasters
            ).bytes
            let documentSHA256 = SHA256Hex(bytes: SHA256.hash(document))!
            try db.execute(
                sql: "UPDATE orders SET document = ?, documentSHA256 = ? WHERE id = ?",
                arguments: [Data(document), documentSHA256.hex, id])
            let order = try Self.existingOrder(db, id: id)
            try Journal.append(db, .orderCreated(.init(order)), by: actor, at: at)
            try Self.saveIdempotency(db, idempotency, for: order, at: at)
            return order
        }
    }

    /// The order with this id, with its signatures (first, then second).
    public func order(id: Order.ID) async throws -> Order? {
        try await read("read an order") { db in try Self.order(db, id: id) }
    }

    /// Orders matching `filter`, newest (highest id) first, at most `filter.limit` of them (taken
    /// as 1 to 1000). `from` and `to` bound the value date, both inclusive.
    public func orders(_ filter: OrderFilter) async throws -> [Order] {
        try await read("list orders") { db in
            var request = OrderRow.all()
            if let entityCode = filter.entityCode { request = request.filter(Column("entityCode") == entityCode) }
            if let state = filter.state { request = request.filter(Column("state") == state.rawValue) }
            if let from = filter.from { request = request.filter(Column("valueDate") >= from.description) }
            if let to = filter.to { request = request.filter(Column("valueDate") <= to.description) }
            let rows = try request.order(Column("id").desc).limit(min(max(filter.limit, 1), 1000)).fetchAll(db)
            guard !rows.isEmpty else { return [] }
            let signatures = Dictionary(
                grouping: try OrderSignatureRow.filter(rows.map(\.id).contains(Column("orderID"))).fetchAll(db),
                by: \.orderID)
            return try rows.map { try Self.order($0, signatures: signatures[$0.id] ?? []) }
        }
    }

    /// The uploaded bytes, exactly as they came.
    public func orderFile(id: Order.ID) async throws -> [UInt8]? {
        try await read("read an order's file") { db in
            try Data.fetchOne(db, sql: "SELECT file FROM orders WHERE id = ?", arguments: [id]).map { Array($0) }
        }
    }

    /// The canonical order document (`OrderDocument`) both signatures cover.
    public func orderDocument(id: Order.ID) async throws -> [UInt8]? {
        try await read("read an order's document") { db in
            try Data.fetchOne(db, sql: "SELECT document FROM orders WHERE id = ?", arguments: [id]).map { Array($0) }
        }
    }

    /// What a signature on an order starts from, in one read: the order, the canonical document
    /// both signatures cover, and the SignedData so far (nil before the first signature); with
    /// `tokenSerial`, also what the signing policy reads of the registry (`signingRecords`), from
    /// the same snapshot. Nil when there is no such order.
    public func orderToSign(id: Order.ID, tokenSerial: String? = nil) async throws -> OrderToSign? {
        try await read("read an order to sign") { db in
            guard let order = try Self.order(db, id: id) else { return nil }
            let blobs = try db.cachedStatement(sql: "SELECT document, signedData FROM orders WHERE id = ?")
            guard let row = try Row.fetchOne(blobs, arguments: [id]) else { return nil }
            let document: Data? = row[0]
            let signedData: Data? = row[1]
            // For a second signature, who signed first (D2, D3). A record that cannot be read is
            // left out here: the caller reads it again on its own once the order is known to be
            // visible to the caller, and answers that failure then (not instead of a 404).
            let records = tokenSerial.flatMap {
                try? Self.signingRecords(db, tokenSerial: $0, firstSigner: order.signature(.first)?.signer.operatorID)
            }
            return OrderToSign(
                order: order, document: document.map { Array($0) } ?? [], signedData: signedData.map { Array($0) },
                records: records)
        }
    }

    /// What the signing policy needs from the registry besides the order, in one read: the token
    /// registered under `tokenSerial` (nil if none; as `token(serial:)` reads it) and the national
    /// ID of `firstSigner`, the operator who signed first (for a second signature; nil if none).
    public func signingRecords(tokenSerial: String, firstSigner: Operator.ID?) async throws -> SigningRecords {
        try await read("read a token and a signer") { db in
            try Self.signingRecords(db, tokenSerial: tokenSerial, firstSigner: firstSigner)
        }
    }

    static func signingRecords(_ db: Database, tokenSerial: String, firstSigner: Operator.ID?) throws -> SigningRecords {
        var token: TokenRecord?
        let tokens = try db.cachedStatement(sql: "SELECT * FROM tokens WHERE serial = ?")
        if let row = try TokenRow.fetchOne(tokens, arguments: [tokenSerial]), let id = row.id {
            let certificates = try db.cachedStatement(
                sql: "SELECT * FROM token_certificates WHERE tokenID = ? ORDER BY notBefore, sha256")
            token = try Self.token(row, certificates: try TokenCertificateRow.fetchAll(certificates, arguments: [id]))
        }
        var nationalID: String?
        if let firstSigner {
            let operators = try db.cachedStatement(sql: "SELECT nationalID FROM operators WHERE id = ?")
            nationalID = try String.fetchOne(operators, arguments: [firstSigner])
        }
        return SigningRecords(tokenSerial: tokenSerial, token: token, firstSignerNationalID: nationalID)
    }

    /// The CMS SignedData (DER) as it stands: nil until the first signature, then one SignerInfo,
    /// then two.
    public func orderSignedData(id: Order.ID) async throws -> [UInt8]? {
        try await read("read an order's SignedData") { db in
            try Data.fetchOne(db, sql: "SELECT signedData FROM orders WHERE id = ?", arguments: [id]).map { Array($0) }
        }
    }

    /// Rule D9: a reviewer confirms the file number of a draft order; it becomes `reviewed`.
    /// Appends `order-reviewed`, and saves the idempotency record if one is given.
    ///
    /// Fails with `.unknownOrder`, `.wrongState` (rule D9: the order is not a draft),
    /// `.ruleViolated` (rule D9, field `fileNumber`: the number given is not the order's), or
    /// `.invalidField` (the reviewer's Unix user blank).
    public func reviewOrder(
        id: Order.ID, fileNumber: FileNumber, by reviewer: OrderActor, actor: AuditActor, decide: ActDecision? = nil,
        idempotency: (@Sendable (Order) throws -> IdempotencyRecord)? = nil
    ) async throws -> Order {
        try Self.checkOrderActor(reviewer, field: "reviewer")
        let at = now
        return try await write("review an order") { db in
            let order = try Self.existingOrder(db, id: id)
            try decide?.check(db, act: .review, entityCode: order.metadata.entityCode)
            guard order.state == .draft else {
                throw StoreError(
                    .wrongState,
                    "The order \(id) is \(Self.phrase(order.state)), not a draft; only a draft order is reviewed "
                        + "(rule D9).",
                    rule: .d9)
            }
            guard fileNumber == order.fileNumber else {
                throw StoreError(
                    .ruleViolated,
                    "The file number \(fileNumber.grouped) is not that of order \(id), \(order.fileNumber.grouped); "
                        + "the reviewed file number must equal the file uploaded (rule D9).",
                    field: "fileNumber", rule: .d9)
            }
            try db.execute(
                sql: """
                    UPDATE orders SET state = ?, reviewedByOperator = ?, reviewedByUser = ?, reviewedAt = ?
                    WHERE id = ?
                    """,
                arguments: [OrderState.reviewed.rawValue, reviewer.operatorID, reviewer.unixUser, at, id])
            try Journal.append(
                db, .orderReviewed(.init(orderID: id, fileNumber: order.fileNumber.digest)), by: actor, at: at)
            let reviewed = try Self.existingOrder(db, id: id)
            try Self.saveIdempotency(db, idempotency, for: reviewed, at: at)
            return reviewed
        }
    }

    /// Refuses an order that is a draft, reviewed or first-signed, with a reason; it becomes
    /// `rejected` (final: a corrected file is uploaded as a new order). Appends `order-rejected`.
    ///
    /// Fails with `.invalidField` (reason blank, over 500 characters or with control characters;
    /// the Unix user blank), `.unknownOrder`, or `.wrongState` (the order is payable or already
    /// rejected).
    public func rejectOrder(
        id: Order.ID, reason: String, by: OrderActor, actor: AuditActor, decide: ActDecision? = nil,
        idempotency: (@Sendable (Order) throws -> IdempotencyRecord)? = nil
    ) async throws -> Order {
        let rejecter = by
        let reason = reason.trimmingCharacters(in: .whitespaces)
        if let problem = FieldRules.text(reason, field: "reason", maximumLength: 500) {
            throw StoreError(problem)
        }
        try Self.checkOrderActor(rejecter, field: "by")
        let at = now
        return try await write("reject an order") { db in
            let order = try Self.existingOrder(db, id: id)
            try decide?.check(db, act: .reject, entityCode: order.metadata.entityCode)
            guard order.state.allows(.rejected) else {
                throw StoreError(
                    .wrongState,
                    "The order \(id) is \(Self.phrase(order.state)); only a draft, reviewed or first-signed order can "
                        + "be rejected.")
            }
            try db.execute(
                sql: """
                    UPDATE orders SET state = ?, rejectedByOperator = ?, rejectedByUser = ?, rejectedAt = ?,
                        rejectionReason = ?
                    WHERE id = ?
                    """,
                arguments: [OrderState.rejected.rawValue, rejecter.operatorID, rejecter.unixUser, at, reason, id])
            try Journal.append(
                db, .orderRejected(.init(orderID: id, from: order.state, reason: reason)), by: actor, at: at)
            let rejected = try Self.existingOrder(db, id: id)
            try Self.saveIdempotency(db, idempotency, for: rejected, at: at)
            return rejected
        }
    }

    /// Records a signature made at `signature.step`, in one transaction:
    /// - the order must be in `OrderState.before(step)`, else `.wrongState` (rule D2 for a second
    ///   signature before the first, D9 for a first signature before the review);
    /// - for the second, the first signature must be by another person (rule D2): another
    ///   operator, Unix user, national ID, token and certificate, else `.ruleViolated` (field
    ///   `signer`);
    /// - the state becomes `OrderState.after(step)`, `signedData` replaces the stored
    ///   SignedData, the signature row is added (append-only), a `signature` entry is journaled
    ///   (with the order id, the document digest and the grouped file number), and the
    ///   idempotency record, if any, is saved.
    ///
    /// `journalFirst` are entries of the request that made the signature, journaled just before
    /// it in the same transaction (the daemon's `login-succeeded`: one commit instead of two); the
    /// same rules as `append(_:by:)`. If the signature is refused, they are not written.
    ///
    /// Also fails with `.unknownOrder`, or `.invalidField` (signedData empty, tokenSerial or the
    /// signer's Unix user blank).
    ///
    /// With `decide`, the signing policy is run again inside the transaction, on the registry as it
    /// is at commit (the caller's roles and entity, the token's holder and state, the order):
    /// a role removed, a token suspended or revoked, a holder moved to another entity while the
    /// signature was being made refuses it, and the `RuleRefusal` is thrown as it is (nothing is
    /// written; the caller journals the refusal and discards the signature bytes).
    public func recordSignature(
        orderID: Order.ID, signature: OrderSignature, signedData: [UInt8], by actor: AuditActor,
        journalFirst: [AuditEvent] = [], decide: SignatureDecision? = nil,
        idempotency: (@Sendable (Order) throws -> IdempotencyRecord)? = nil
    ) async throws -> Order {
        guard !signedData.isEmpty else {
            throw StoreError(.invalidField, "The signedData must not be empty.", field: "signedData")
        }
        for event in journalFirst {
            try Self.checkAppendable(event)
        }
        if let problem = FieldRules.text(signature.tokenSerial, field: "tokenSerial", maximumLength: 64) {
            throw StoreError(problem)
        }
        try Self.checkOrderActor(signature.signer, field: "signer")
        let step = signature.step
        let at = now
        return try await write("record a signature on an order") { db in
            // With `decide`, the generation says whether anything of the people and tokens changed
            // since the request read its facts (and the policy approved them): if not, the approval
            // stands as it would be made now, but for what depends on the time alone.
            let unchanged = try decide?.generation.map { try Self.generation(db) == $0 } ?? false
            // A first signature needs only the order's state and digests here; a second one, or a
            // policy run again, the whole order (its first signature, D2).
            let whole = step == .second || (decide != nil && !unchanged) ? try Self.existingOrder(db, id: orderID) : nil
            let order = try whole.map { OrderHead(state: $0.state, documentSHA256: $0.documentSHA256, fileNumber: $0.fileNumber) }
                ?? Self.orderHead(db, id: orderID)
            if let decide {
                do {
                    if unchanged {
                        try decide.policy.checkTime(
                            certificate: decide.certificate, pinSince: decide.pinSince, tokenSerial: signature.tokenSerial,
                            now: decide.now)
                    } else if let read = whole {
                        // The act is allowed by what the registry holds now, in this transaction.
                        let caller = try decide.callerID.flatMap { try Self.operator(db, id: $0) }
                        let records = try Self.signingRecords(
                            db, tokenSerial: signature.tokenSerial, firstSigner: read.signature(.first)?.signer.operatorID)
                        _ = try decide.policy.check(SigningPolicy.Request(
                            step: step, order: read, caller: caller, callerName: decide.callerName, token: records.token,
                            tokenSerial: signature.tokenSerial, certificate: decide.certificate,
                            fileNumber: decide.fileNumber,
                            firstSignerNationalID: step == .second ? records.firstSignerNationalID : nil, now: decide.now))
                    }
                } catch let refusal as RuleRefusal {
                    throw CallerError(underlying: refusal)
                }
            }
            let needed = OrderState.before(step)
            guard order.state == needed else {
                let state = Self.phrase(order.state)
                switch (step, order.state) {
                case (.second, .draft), (.second, .reviewed):
                    throw StoreError(
                        .wrongState,
                        "The order \(orderID) is \(state) and has no first signature; the second signature comes "
                            + "after the first (rule D2).",
                        rule: .d2)
                case (.first, .draft):
                    throw StoreError(
                        .wrongState,
                        "The order \(orderID) is a draft; its file number is reviewed before it is signed (rule D9).",
                        rule: .d9)
                default:
                    throw StoreError(
                        .wrongState,
                        "The order \(orderID) is \(state); a \(step.rawValue) signature is made only on a "
                            + "\(needed.rawValue) order.")
                }
            }
            if step == .second, let whole {
                try Self.checkDifferentSigner(db, order: whole, second: signature)
            }
            try db.cachedStatement(sql: "UPDATE orders SET state = ?, signedData = ? WHERE id = ?")
                .execute(arguments: [OrderState.after(step).rawValue, Data(signedData), orderID])
            try OrderSignatureRow(
                orderID: orderID, step: step.rawValue, signerOperator: signature.signer.operatorID,
                signerUser: signature.signer.unixUser, tokenSerial: signature.tokenSerial,
                certificateSHA256: signature.certificateSHA256.hex, signatureSHA256: signature.signatureSHA256.hex,
                signedAt: Timestamp.string(signature.signedAt)
            ).insert(db)
            if step == .second {
                // Payable: queued for delivery to the payment center in this same transaction
                // (D8), so no payable order is ever missing from the outbox.
                try db.execute(
                    sql: "INSERT INTO outbox (orderID, queuedAt) VALUES (?, ?)", arguments: [orderID, Timestamp.string(signature.signedAt)])
            }
            var journal = try Journal.Writer(db)
            for event in journalFirst {
                try journal.append(db, event, by: actor, at: at)
            }
            try journal.append(
                db,
                .signature(
                    .init(
                        tokenSerial: signature.tokenSerial, certificateSHA256: signature.certificateSHA256,
                        documentSHA256: order.documentSHA256, step: step, fileNumber: order.fileNumber.grouped,
                        orderID: orderID)),
                by: actor, at: at)
            let signed = try Self.existingOrder(db, id: orderID)
            try Self.saveIdempotency(db, idempotency, for: signed, at: at)
            return signed
        }
    }

    /// A payable order waiting for (or done with) delivery to the payment center (D8).
    public struct OutboxEntry: Sendable, Hashable {
        public var orderID: Order.ID
        public var entityCode: String
        public var queuedAt: Date
        public var state: String
        public var attempts: Int
        public var lastError: String?
        /// When the next attempt is due (pending entries that failed before).
        public var nextAttemptAt: Date? = nil
        /// The center's final answer: `accepted`, `invalid` or `refused` (delivered entries).
        public var outcome: String? = nil
        public var submissionID: Int64? = nil
        public var answeredAt: Date? = nil
        /// The order's state at the center (`accepted`, `paid`, `returned`), as last learned.
        public var centerState: String? = nil
        /// The center's final answer in one sentence.
        public var detail: String? = nil
    }

    /// The outbox, oldest first; `entity` limits it to one entity's orders.
    public func outbox(entity: String? = nil, orderID: Order.ID? = nil) async throws -> [OutboxEntry] {
        try await read("read the outbox") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT outbox.orderID, orders.entityCode, outbox.queuedAt, outbox.state, outbox.attempts, outbox.lastError,
                           outbox.nextAttemptAt, outbox.outcome, outbox.submissionID, outbox.answeredAt, outbox.centerState,
                           outbox.detail
                    FROM outbox JOIN orders ON orders.id = outbox.orderID
                    WHERE (? IS NULL OR orders.entityCode = ?) AND (? IS NULL OR outbox.orderID = ?)
                    ORDER BY outbox.queuedAt, outbox.orderID
                    """,
                arguments: [entity, entity, orderID, orderID]
            ).map { row in
                let next: String? = row[6]
                let answered: String? = row[9]
                return OutboxEntry(
                    orderID: row[0], entityCode: row[1], queuedAt: try Self.date(row[2], "outbox.queuedAt"),
                    state: row[3], attempts: row[4], lastError: row[5],
                    nextAttemptAt: try next.map { try Self.date($0, "outbox.nextAttemptAt") }, outcome: row[7], submissionID: row[8],
                    answeredAt: try answered.map { try Self.date($0, "outbox.answeredAt") }, centerState: row[10], detail: row[11])
            }
        }
    }

    // MARK: Delivery to the payment center (D8)

    /// What a delivery sends: the order's document, SignedData and payroll file, and the envelope
    /// sealed before, if any (a retry resends it byte for byte).
    public struct Delivery: Sendable {
        public var orderID: Order.ID
        public var entityCode: String
        public var document: [UInt8]
        public var signedData: [UInt8]
        public var file: [UInt8]
        public var envelope: [UInt8]?
        public var attempts: Int
    }

    /// Pending deliveries due at `now` (never tried, or their back-off over), oldest first.
    public func dueDeliveries(now: Date, limit: Int = 16) async throws -> [Delivery] {
        try await read("read the deliveries due") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT outbox.orderID, orders.entityCode, orders.document, orders.signedData, orders.file, outbox.envelope,
                           outbox.attempts
                    FROM outbox JOIN orders ON orders.id = outbox.orderID
                    WHERE outbox.state = 'pending' AND (outbox.nextAttemptAt IS NULL OR outbox.nextAttemptAt <= ?)
                    ORDER BY outbox.queuedAt, outbox.orderID LIMIT ?
                    """,
                arguments: [Timestamp.string(now), limit]
            ).map { row in
                let envelope: Data? = row[5]
                return Delivery(
                    orderID: row[0], entityCode: row[1], document: Array(row[2] as Data), signedData: Array(row[3] as Data),
                    file: Array(row[4] as Data), envelope: envelope.map(Array.init), attempts: row[6])
            }
        }
    }

    /// Keeps the envelope sealed for a delivery, unless one was kept already (then that one is
    /// returned: every attempt sends the same bytes).
    public func keepEnvelope(orderID: Order.ID, envelope: [UInt8], sha256: String) async throws -> [UInt8] {
        try await write("keep a sealed envelope") { db in
            try db.execute(
                sql: "UPDATE outbox SET envelope = ?, envelopeSHA256 = ? WHERE orderID = ? AND envelope IS NULL",
                arguments: [Data(envelope), sha256, orderID])
            let kept: Data? = try Data.fetchOne(db, sql: "SELECT envelope FROM outbox WHERE orderID = ?", arguments: [orderID])
            return kept.map(Array.init) ?? envelope
        }
    }

    /// An attempt that got no final answer (the center unreachable, busy or failing): counted, its
    /// sentence kept, the next one due at `next`.
    public func deliveryFailed(orderID: Order.ID, error: String, next: Date) async throws {
        try await write("note a failed delivery") { db in
            try db.execute(
                sql: "UPDATE outbox SET attempts = attempts + 1, lastError = ?, nextAttemptAt = ? WHERE orderID = ? AND state = 'pending'",
                arguments: [String(error.prefix(1000)), Timestamp.string(next), orderID])
        }
    }

    /// The center's final answer: the entry is delivered, the receipt (or refusal) kept and
    /// journaled (`order-delivered`) in one transaction.
    public func recordDelivery(
        orderID: Order.ID, outcome: String, submissionID: Int64?, receipt: [UInt8]?, detail: String, at date: Date, by actor: AuditActor
    ) async throws {
        try await write("record a delivery") { db in
            guard let row = try Row.fetchOne(
                db,
                sql: "SELECT orders.entityCode, outbox.envelopeSHA256 FROM outbox JOIN orders ON orders.id = outbox.orderID WHERE outbox.orderID = ? AND outbox.state = 'pending'",
                arguments: [orderID])
            else { return }
            let entity: String = row[0]
            let envelopeSHA256: String = row[1] ?? ""
            try db.execute(
                sql: """
                    UPDATE outbox SET state = 'delivered', outcome = ?, submissionID = ?, receipt = ?, answeredAt = ?, lastError = NULL,
                                      nextAttemptAt = NULL, attempts = attempts + 1, centerState = ?, detail = ?
                    WHERE orderID = ?
                    """,
                arguments: [outcome, submissionID, receipt.map { Data($0) }, Timestamp.string(date), outcome == "accepted" ? "accepted" : nil,
                            String(detail.prefix(1000)), orderID])
            var journal = try Journal.Writer(db)
            try journal.append(
                db,
                .orderDelivered(.init(
                    orderID: orderID, entityCode: entity, outcome: outcome, submissionID: submissionID, envelopeSHA256: envelopeSHA256,
                    receiptSHA256: receipt.map { SHA256Hex(bytes: SHA256.hash($0))?.hex ?? "" }, detail: String(detail.prefix(1000)))),
                by: actor, at: Timestamp.string(date))
        }
    }

    /// Delivered orders accepted by the center and not yet paid or returned there: (order, submission).
    public func awaitingPayment(limit: Int = 100) async throws -> [(orderID: Order.ID, submissionID: Int64)] {
        try await read("read the orders awaiting payment") { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT orderID, submissionID FROM outbox
                    WHERE state = 'delivered' AND outcome = 'accepted' AND centerState = 'accepted' AND submissionID IS NOT NULL
                    ORDER BY answeredAt LIMIT ?
                    """,
                arguments: [limit]
            ).map { (orderID: $0[0], submissionID: $0[1]) }
        }
    }

    /// The center paid the order, or the bank returned it: kept and journaled
    /// (`center-state-changed`) once.
    public func centerStateChanged(orderID: Order.ID, submissionID: Int64, state: String, reason: String?, changedAt: Date?, by actor: AuditActor) async throws {
        let now = clock()
        try await write("record the center's state") { db in
            try db.execute(
                sql: "UPDATE outbox SET centerState = ?, detail = COALESCE(?, detail) WHERE orderID = ? AND centerState = 'accepted'",
                arguments: [state, reason, orderID])
            guard db.changesCount == 1 else { return }
            var journal = try Journal.Writer(db)
            try journal.append(
                db,
                .centerStateChanged(.init(
                    orderID: orderID, submissionID: submissionID, state: state, reason: reason, changedAt: changedAt.map(Timestamp.string))),
                by: actor, at: Timestamp.string(now))
        }
    }

    /// The signed receipt kept for an order, if the center answered with one.
    public func deliveryReceipt(orderID: Order.ID) async throws -> [UInt8]? {
        try await read("read a receipt") { db in
            try Data.fetchOne(db, sql: "SELECT receipt FROM outbox WHERE orderID = ?", arguments: [orderID]).map(Array.init)
        }
    }

    /// The total (piasters) and count of the entity's cashier orders with a value date in the
    /// month, rejected ones left out (D11).
    static func cashierMonth(_ db: Database, entityCode: String, year: Int, month: Int) throws -> (Int64, Int) {
        // Bounds written as the stored value dates are (CalendarDay's own form, the year padded).
        guard let first = CalendarDay(year: year, month: month, day: 1),
            let last = CalendarDay(year: year, month: month, day: CalendarDay.daysIn(month: month, year: year))
        else { return (0, 0) }
        let row = try Row.fetchOne(
            db,
            sql: """
                SELECT COALESCE(SUM(totalPiasters), 0), COUNT(*) FROM orders
                WHERE entityCode = ? AND kind = ? AND state != ? AND valueDate >= ? AND valueDate <= ?
                """,
            arguments: [entityCode, OrderKind.cashier.rawValue, OrderState.rejected.rawValue, first.description, last.description])
        return (row?[0] ?? 0, row?[1] ?? 0)
    }

    /// The most recent time the operator signed (any order, either step), nil if never: how long
    /// a holder's key has been unused (D4).
    public func lastSignature(operator id: Operator.ID) async throws -> Date? {
        let text = try await read("read an operator's last signature") { db in
            try String.fetchOne(
                db, sql: "SELECT MAX(signedAt) FROM order_signatures WHERE signerOperator = ?", arguments: [id])
        }
        return try text.map { try Self.date($0, "order_signatures.signedAt") }
    }

    // MARK: Helpers

    /// Rule D2: the second signature is by a different person than the first.
    static func checkDifferentSigner(_ db: Database, order: Order, second: OrderSignature) throws {
        guard let first = order.signature(.first) else {
            throw StoreError(
                .corrupt, "The order \(order.id) is first-signed but the registry holds no first signature for it.")
        }
        var same: String?
        if first.certificateSHA256 == second.certificateSHA256 {
            same = "with the same certificate \(first.certificateSHA256.hex)"
        } else if first.tokenSerial == second.tokenSerial {
            same = "with the same token '\(first.tokenSerial)'"
        } else if let a = first.signer.operatorID, let b = second.signer.operatorID, a == b {
            same = "as the same operator \(a)"
        } else if first.signer.unixUser == second.signer.unixUser {
            same = "as the same Unix user"
        } else if let a = first.signer.operatorID, let b = second.signer.operatorID,
            let firstID = try String.fetchOne(db, sql: "SELECT nationalID FROM operators WHERE id = ?", arguments: [a]),
            let secondID = try String.fetchOne(db, sql: "SELECT nationalID FROM operators WHERE id = ?", arguments: [b]),
            firstID == secondID
        {
            same = "under another Unix user with the same national ID"
        }
        if let same {
            throw StoreError(
                .ruleViolated,
                "The order \(order.id) was signed first by '\(first.signer.unixUser)', and this signature is made "
                    + "\(same); the second signature is by a different person (rule D2).",
                field: "signer", rule: .d2)
        }
    }

    static func checkOrderActor(_ actor: OrderActor, field: String) throws {
        if let problem = FieldRules.text(actor.unixUser, field: field, maximumLength: 256) {
            throw StoreError(
                .invalidField,
                "The Unix user of the \(field) must be 1 to 256 characters with no control characters.",
                field: field, cause: problem.sentence)
        }
    }

    /// `a draft`, `reviewed`, `first-signed`, … for sentences ("The order 7 is a draft").
    static func phrase(_ state: OrderState) -> String {
        state == .draft ? "a draft" : state.rawValue
    }

    /// One order by id, with its signatures. Both statements are compiled once per connection
    /// (`cachedStatement`): an order is read several times for every signature.
    static func order(_ db: Database, id: Order.ID) throws -> Order? {
        let statement = try db.cachedStatement(sql: "SELECT \(orderColumns) FROM orders WHERE id = ?")
        guard let row = try OrderRow.fetchOne(statement, arguments: [id]) else { return nil }
        let signatures = try db.cachedStatement(sql: "SELECT * FROM order_signatures WHERE orderID = ?")
        return try order(row, signatures: try OrderSignatureRow.fetchAll(signatures, arguments: [id]))
    }

    /// `OrderRow.databaseSelection` as SQL: every column but the file, the document and the
    /// SignedData (large blobs, read on their own).
    static let orderColumns = """
        id, entityCode, kind, currency, valueDate, fileSHA256, fileBytes, lineCount, totalPiasters, documentSHA256, \
        state, createdByOperator, createdByUser, createdAt, reviewedByOperator, reviewedByUser, reviewedAt, \
        rejectedByOperator, rejectedByUser, rejectedAt, rejectionReason
        """

    /// What `recordSignature` checks and journals of an order: its state and digests.
    struct OrderHead {
        var state: OrderState
        var documentSHA256: SHA256Hex
        var fileNumber: FileNumber
    }

    /// The order's `OrderHead`, without its other columns and signatures. Fails with
    /// `.unknownOrder`, or `.corrupt` as `order(_:signatures:)` does.
    static func orderHead(_ db: Database, id: Order.ID) throws -> OrderHead {
        let statement = try db.cachedStatement(sql: "SELECT state, documentSHA256, fileSHA256 FROM orders WHERE id = ?")
        guard let row = try Row.fetchOne(statement, arguments: [id]) else {
            throw StoreError(.unknownOrder, "The order \(id) is not in the registry.", field: "order")
        }
        let stateText: String = row[0]
        let documentText: String = row[1]
        let fileText: String = row[2]
        func damaged(_ what: String) -> StoreError {
            StoreError(.corrupt, "The registry holds order \(id) with \(what), which paysignd cannot read.")
        }
        guard let state = OrderState(rawValue: stateText) else { throw damaged("the state '\(stateText)'") }
        guard let documentSHA256 = SHA256Hex(documentText) else { throw damaged("no document digest") }
        guard let fileNumber = FileNumber(fileText) else { throw damaged("a file number that is not hex") }
        return OrderHead(state: state, documentSHA256: documentSHA256, fileNumber: fileNumber)
    }

    static func existingOrder(_ db: Database, id: Order.ID) throws -> Order {
        guard let order = try order(db, id: id) else {
            throw StoreError(.unknownOrder, "The order \(id) is not in the registry.", field: "order")
        }
        return order
    }

    static func order(_ row: OrderRow, signatures: [OrderSignatureRow]) throws -> Order {
        func damaged(_ what: String) -> StoreError {
            StoreError(.corrupt, "The registry holds order \(row.id) with \(what), which paysignd cannot read.")
        }
        guard let kind = OrderKind(rawValue: row.kind) else { throw damaged("the kind '\(row.kind)'") }
        guard let valueDate = CalendarDay(iso: row.valueDate) else { throw damaged("the value date '\(row.valueDate)'") }
        guard let fileNumber = FileNumber(row.fileSHA256) else { throw damaged("a file number that is not hex") }
        guard let documentSHA256 = SHA256Hex(row.documentSHA256) else { throw damaged("no document digest") }
        guard let state = OrderState(rawValue: row.state) else { throw damaged("the state '\(row.state)'") }
        func actor(_ operatorID: Int64?, _ user: String?) -> OrderActor? {
            user.map { OrderActor(operatorID: operatorID, unixUser: $0) }
        }
        func time(_ text: String?, _ column: String) throws -> Date? {
            try text.map { try date($0, "orders.\(column)") }
        }
        let signatures = try signatures.map { signature -> OrderSignature in
            guard let step = SignatureStep(rawValue: signature.step),
                let certificate = SHA256Hex(signature.certificateSHA256),
                let value = SHA256Hex(signature.signatureSHA256)
            else { throw damaged("a signature row that cannot be read") }
            return OrderSignature(
                step: step, signer: OrderActor(operatorID: signature.signerOperator, unixUser: signature.signerUser),
                tokenSerial: signature.tokenSerial, certificateSHA256: certificate, signatureSHA256: value,
                signedAt: try date(signature.signedAt, "order_signatures.signedAt"))
        }
        let steps = SignatureStep.allCases
        return Order(
            id: row.id,
            metadata: OrderMetadata(entityCode: row.entityCode, kind: kind, currency: row.currency, valueDate: valueDate),
            fileNumber: fileNumber, fileBytes: row.fileBytes, lineCount: row.lineCount,
            totalPiasters: row.totalPiasters, documentSHA256: documentSHA256, state: state,
            createdBy: OrderActor(operatorID: row.createdByOperator, unixUser: row.createdByUser),
            createdAt: try date(row.createdAt, "orders.createdAt"),
            reviewedBy: actor(row.reviewedByOperator, row.reviewedByUser),
            reviewedAt: try time(row.reviewedAt, "reviewedAt"),
            rejectedBy: actor(row.rejectedByOperator, row.rejectedByUser),
            rejectedAt: try time(row.rejectedAt, "rejectedAt"), rejectionReason: row.rejectionReason,
            signatures: signatures.sorted { steps.firstIndex(of: $0.step)! < steps.firstIndex(of: $1.step)! })
    }
}

/// An order with the bytes a signature on it needs (`Registry.orderToSign(id:)`).
public struct OrderToSign: Sendable {
    public var order: Order
    /// The canonical order document (`OrderDocument`) both signatures cover.
    public var document: [UInt8]
    /// The CMS SignedData (DER) so far; nil before the first signature.
    public var signedData: [UInt8]?
    /// What the signing policy reads of the registry, when a token serial was given.
    public var records: SigningRecords?
}

/// What the signing policy reads of the registry besides the order (`Registry.signingRecords`).
public struct SigningRecords: Sendable {
    /// The serial the records were read for.
    public var tokenSerial: String
    /// The token registered under that serial; nil if none.
    public var token: TokenRecord?
    /// The national ID of the operator who signed first (for a second signature); nil if none.
    public var firstSignerNationalID: String?
}

/// What `Registry.recordSignature` decides again inside the transaction that records a signature:
/// the signing policy (`SigningPolicy`, the same rules the daemon ran when the request arrived)
/// with the request's own facts; the registry's facts are read in the transaction.
public struct SignatureDecision: Sendable {
    public var policy: SigningPolicy
    /// The operator who signs (nil: the caller maps to none, and is refused).
    public var callerID: Operator.ID?
    public var callerName: String
    /// The certificate the signature was made with.
    public var certificate: CertificateFacts
    /// The file number the signer stated (D9).
    public var fileNumber: FileNumber?
    /// The time the act is judged at.
    public var now: Date
    /// The registry's generation read before any fact of the approval (`Registry.generation()`);
    /// when it is still the same at commit, the policy is not run again (nothing it read changed).
    /// Nil: always run it again.
    public var generation: Int64?
    /// Since when the token's PIN counts its age, as the approval read it (`Approval.pinSince`).
    public var pinSince: Date?

    public init(
        policy: SigningPolicy, callerID: Operator.ID?, callerName: String, certificate: CertificateFacts,
        fileNumber: FileNumber?, now: Date, generation: Int64? = nil, pinSince: Date? = nil
    ) {
        self.generation = generation
        self.pinSince = pinSince
        self.policy = policy
        self.callerID = callerID
        self.callerName = callerName
        self.certificate = certificate
        self.fileNumber = fileNumber
        self.now = now
    }
}

/// Who asks for an act on an order, decided again inside the transaction that records it
/// (`OrderActRule`): the operator is read in the transaction, so a role removed or an entity
/// changed since the request arrived refuses the act. The `RuleRefusal` is thrown as it is.
public struct ActDecision: Sendable {
    public var operatorID: Operator.ID?
    public var callerName: String

    public init(operatorID: Operator.ID?, callerName: String) {
        self.operatorID = operatorID
        self.callerName = callerName
    }

    func check(_ db: Database, act: OrderAct, entityCode: String) throws {
        let op = try operatorID.flatMap { try Registry.operator(db, id: $0) }
        do {
            try OrderActRule.check(op, callerName: callerName, act: act, entityCode: entityCode)
        } catch {
            throw CallerError(underlying: error)
        }
    }
}

/// Who asks for an act of the authority or the payment center, decided again inside the
/// transaction that records it (`RoleHeldRule`): the operator must still hold one of `roles`.
/// An administrator by the daemon's configuration (`configured`: the role does not come from the
/// registry) keeps it while the daemon runs: the configuration does not change meanwhile.
public struct RoleDecision: Sendable {
    public var operatorID: Operator.ID?
    public var callerName: String
    public var roles: Set<Role>
    public var configured: Bool
    public var doing: String
    public var rule: RuleNumber?

    public init(operatorID: Operator.ID?, callerName: String, roles: Set<Role>, configured: Bool, doing: String, rule: RuleNumber?) {
        self.operatorID = operatorID
        self.callerName = callerName
        self.roles = roles
        self.configured = configured
        self.doing = doing
        self.rule = rule
    }

    func check(_ db: Database) throws {
        // An administrator by the configuration, for an act administrators may do.
        if configured && roles.contains(.administrator) { return }
        let op = try operatorID.flatMap { try Registry.operator(db, id: $0) }
        do {
            try RoleHeldRule.check(op, callerName: callerName, roles: roles, doing: doing, rule: rule)
        } catch {
            throw CallerError(underlying: error)
        }
    }
}
