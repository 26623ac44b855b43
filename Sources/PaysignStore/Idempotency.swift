public import Foundation
public import PaysignDomain
import GRDB

/// The response the daemon gave to a request carrying an `Idempotency-Key`, kept so that the same
/// request sent again (a client retrying after a lost connection) gets the same answer instead
/// of creating a second order or a second signature.
///
/// Records are per caller (`uid`, from the socket's peer credentials) and key. `requestDigest`
/// says what was asked, so that a key reused for another request is told apart from a retry;
/// the daemon computes it and never puts a PIN into it (D5).
public struct IdempotencyRecord: Sendable, Hashable {
    public var uid: UInt32
    /// 1 to 200 printable ASCII characters (0x21…0x7E).
    public var key: String
    /// Digest of what was asked (the daemon computes it, never including a PIN).
    public var requestDigest: SHA256Hex
    /// The HTTP status of the response.
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// Set by the store when the record is saved.
    public var createdAt: Date?

    public init(
        uid: UInt32, key: String, requestDigest: SHA256Hex, status: Int, contentType: String, body: [UInt8],
        createdAt: Date? = nil
    ) {
        self.uid = uid
        self.key = key
        self.requestDigest = requestDigest
        self.status = status
        self.contentType = contentType
        self.body = body
        self.createdAt = createdAt
    }

    /// The field name errors about the key carry: the HTTP header it comes from.
    public static let keyField = "Idempotency-Key"

    /// Why `key` cannot be an idempotency key, or nil.
    static func keyProblem(_ key: String) -> StoreError? {
        let bytes = key.utf8
        if bytes.isEmpty || bytes.count > 200 || !bytes.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) {
            return StoreError(
                .invalidField,
                "The Idempotency-Key must be 1 to 200 printable ASCII characters with no space "
                    + "(got \(key.unicodeScalars.count) characters).",
                field: keyField)
        }
        return nil
    }

    /// Why this record cannot be saved, or nil.
    var problem: StoreError? {
        if let problem = Self.keyProblem(key) { return problem }
        if !(100...599).contains(status) {
            return StoreError(
                .invalidField, "The status of a saved response must be an HTTP status, 100 to 599 (got \(status)).",
                field: "status")
        }
        if let problem = FieldRules.text(contentType, field: "contentType", maximumLength: 200) {
            return StoreError(problem)
        }
        return nil
    }
}

extension Registry {
    /// The record saved for `uid` and `key`, if any.
    ///
    /// Fails with `.invalidField` (field `Idempotency-Key`) for a key that could never have been
    /// saved.
    public func idempotencyRecord(uid: UInt32, key: String) async throws -> IdempotencyRecord? {
        if let problem = IdempotencyRecord.keyProblem(key) { throw problem }
        return try await read("read an idempotency record") { db in
            let statement = try db.cachedStatement(sql: "SELECT * FROM idempotency WHERE uid = ? AND key = ?")
            return try IdempotencyRow.fetchOne(statement, arguments: [Int64(uid), key]).map(Self.idempotencyRecord)
        }
    }

    /// Saves a response on its own (for a request whose change, if any, is not the registry's).
    /// Changes that save their response with them take an `idempotency` closure instead, so the
    /// change and its record are one transaction.
    ///
    /// Fails with `.invalidField` (`Idempotency-Key`, status, contentType) or `.duplicate`
    /// (`Idempotency-Key`: a record for this uid and key exists).
    public func saveIdempotency(_ record: IdempotencyRecord) async throws {
        if let problem = record.problem { throw problem }
        let at = now
        try await write("save an idempotency record") { db in
            try Self.insertIdempotency(db, record, at: at)
        }
    }

    /// Deletes records saved before `date` (the daemon keeps them for a day or so; a retry comes
    /// within minutes). Returns how many went. Not journaled: a record is a cached response, not
    /// a change to the registry.
    @discardableResult
    public func pruneIdempotency(savedBefore date: Date) async throws -> Int {
        let cutoff = Timestamp.string(date)
        return try await write("prune idempotency records") { db in
            try db.execute(sql: "DELETE FROM idempotency WHERE createdAt < ?", arguments: [cutoff])
            return db.changesCount
        }
    }

    /// Inside a change's transaction: builds the record for the change's result and saves it.
    /// Any error (the closure's, a bad record, a duplicate) rolls the change back; the closure's
    /// own error reaches the caller as it was thrown.
    static func saveIdempotency(
        _ db: Database, _ make: (@Sendable (Order) throws -> IdempotencyRecord)?, for order: Order, at: String
    ) throws {
        guard let make else { return }
        let record: IdempotencyRecord
        do {
            record = try make(order)
        } catch let error as StoreError {
            throw error
        } catch {
            throw CallerError(underlying: error)
        }
        if let problem = record.problem { throw problem }
        try insertIdempotency(db, record, at: at)
    }

    static func insertIdempotency(_ db: Database, _ record: IdempotencyRecord, at: String) throws {
        let exists =
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM idempotency WHERE uid = ? AND key = ?)"),
                arguments: [Int64(record.uid), record.key]) ?? false
        if exists {
            throw StoreError(
                .duplicate,
                "A response is already saved for uid \(record.uid) under the Idempotency-Key '\(record.key)'.",
                field: IdempotencyRecord.keyField)
        }
        // ifnull: SQLite binds an empty byte string as NULL; an empty body is a zero-length blob.
        try db.cachedStatement(
            sql: """
                INSERT INTO idempotency (uid, key, requestDigest, status, contentType, body, createdAt)
                VALUES (?, ?, ?, ?, ?, ifnull(?, X''), ?)
                """
        ).execute(
            arguments: [
                Int64(record.uid), record.key, record.requestDigest.hex, record.status, record.contentType,
                Data(record.body), at,
            ])
    }

    static func idempotencyRecord(_ row: IdempotencyRow) throws -> IdempotencyRecord {
        guard let uid = UInt32(exactly: row.uid), let digest = SHA256Hex(row.requestDigest) else {
            throw StoreError(
                .corrupt, "The registry holds an idempotency record for uid \(row.uid) that cannot be read.")
        }
        return IdempotencyRecord(
            uid: uid, key: row.key, requestDigest: digest, status: row.status, contentType: row.contentType,
            body: Array(row.body), createdAt: try date(row.createdAt, "idempotency.createdAt"))
    }
}

/// An error thrown by the caller's code run inside a transaction (an `idempotency` closure):
/// `Registry.write` rolls back and rethrows `underlying` unchanged, rather than as a database
/// failure.
struct CallerError: Error {
    var underlying: any Error
}
