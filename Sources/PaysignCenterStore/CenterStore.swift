public import Foundation
public import Logging
import PaysignDomain
import PaysignStore
public import PostgresNIO

/// The payment center's state in PostgreSQL (issue 18): submissions, acceptances and the center's
/// audit journal, shared by every node of the center. Nothing is decided by a read made before a
/// write: an order is accepted once across all nodes because PostgreSQL's unique constraints
/// refuse a second acceptance inside its transaction (`AcceptOnceRule`), and the journal stays one
/// hash chain when nodes append at once because each append holds the journal's advisory lock
/// for its transaction.
///
/// The caller runs `client.run()` (the connection pool) for as long as the store is used.
public final class CenterStore: Sendable {
    public let client: PostgresClient
    let logger: Logger

    /// How long one operation may wait for PostgreSQL (30 s unless told) (a connection, a query, a transaction)
    /// before it fails: a node whose database went away answers 503 at once rather than holding
    /// the request (seen after a server restart: a pooled connection that never answers).
    public let timeout: Duration

    public init(client: PostgresClient, logger: Logger, timeout: Duration = .seconds(30)) {
        self.client = client
        self.logger = logger
        self.timeout = timeout
    }

    /// Runs `operation`, or fails with `CenterStoreError` once `timeout` has passed (the operation
    /// is cancelled: a transaction cut short is rolled back by PostgreSQL).
    func bounded<T: Sendable>(_ what: String, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = self.timeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw CenterStoreError("the database did not answer within \(timeout) (\(what))")
            }
            return value
        }
    }

    // MARK: Migrations

    /// The schema, in named steps applied once each, in order, under an advisory lock (several
    /// nodes starting at once apply each step once). Never edit a step that has shipped: add one.
    static let migrations: [(name: String, statements: [String])] = [
        (
            "2026-12-07-submissions-acceptances-journal",
            [
                """
                CREATE TABLE submissions (
                    id bigserial PRIMARY KEY,
                    envelope_sha256 text NOT NULL UNIQUE,
                    entity_code text NOT NULL,
                    order_id bigint NOT NULL,
                    document_sha256 text NOT NULL,
                    file_number text NOT NULL,
                    received_at timestamptz NOT NULL,
                    verdict text NOT NULL CHECK (verdict IN ('valid', 'invalid', 'indeterminate')),
                    failed_checks text[] NOT NULL DEFAULT '{}',
                    receipt bytea NOT NULL
                )
                """,
                """
                CREATE TABLE acceptances (
                    submission_id bigint PRIMARY KEY REFERENCES submissions (id),
                    entity_code text NOT NULL,
                    order_id bigint NOT NULL,
                    document_sha256 text NOT NULL,
                    file_number text NOT NULL,
                    accepted_at timestamptz NOT NULL,
                    state text NOT NULL DEFAULT 'accepted' CHECK (state IN ('accepted', 'paid', 'returned')),
                    CONSTRAINT acceptances_document_once UNIQUE (document_sha256),
                    CONSTRAINT acceptances_file_number_once UNIQUE (file_number),
                    CONSTRAINT acceptances_entity_order_once UNIQUE (entity_code, order_id)
                )
                """,
                """
                CREATE TABLE journal (
                    seq bigint PRIMARY KEY,
                    at text NOT NULL,
                    actor text NOT NULL,
                    kind text NOT NULL,
                    detail text NOT NULL,
                    previous_hash text NOT NULL,
                    hash text NOT NULL UNIQUE
                )
                """,
            ]
        ),
        (
            "2026-12-07-staff-payments-totals",
            [
                // What the monthly totals (P6) add up, read from the verified document.
                "ALTER TABLE submissions ADD COLUMN total_piasters bigint NOT NULL DEFAULT 0",
                "ALTER TABLE submissions ADD COLUMN value_date text NOT NULL DEFAULT ''",
                "ALTER TABLE acceptances ADD COLUMN state_changed_at timestamptz",
                "ALTER TABLE acceptances ADD COLUMN state_reason text",
                "ALTER TABLE acceptances ADD COLUMN state_changed_by text",
                // The center's people: operators mark orders paid or returned, auditors read.
                // Known by the SHA-256 of their staff certificate (presented at the handshake).
                """
                CREATE TABLE staff (
                    certificate_sha256 text PRIMARY KEY,
                    subject text NOT NULL,
                    name text NOT NULL,
                    role text NOT NULL CHECK (role IN ('operator', 'auditor')),
                    added_at timestamptz NOT NULL,
                    removed_at timestamptz
                )
                """,
            ]
        ),
    ]

    /// Applies the migrations not applied yet; returns the names it applied.
    @discardableResult
    public func migrate() async throws -> [String] {
        try await client.withTransaction(logger: logger) { connection in
            // One node migrates at a time; the others find the steps applied.
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.migrationLock))", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS center_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            var applied: Set<String> = []
            for try await name in try await connection.query("SELECT name FROM center_migrations", logger: logger).decode(String.self) {
                applied.insert(name)
            }
            var done: [String] = []
            for migration in Self.migrations where !applied.contains(migration.name) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO center_migrations (name) VALUES (\(migration.name))", logger: logger)
                done.append(migration.name)
            }
            return done
        }
    }

    static let migrationLock: Int64 = 0x7061_7973_6d69  // "paysmi"
    static let journalLock: Int64 = 0x7061_7973_6a6e  // "paysjn"

    // MARK: Submissions and acceptance

    /// A submission as the center recorded it, with its signed receipt.
    public struct Submission: Sendable, Hashable {
        public var id: Int64
        public var envelopeSHA256: String
        public var entityCode: String
        public var orderID: Int64
        public var documentSHA256: String
        public var fileNumber: String
        public var verdict: String
        public var failedChecks: [String]
        public var receipt: [UInt8]
    }

    /// What `record` did with a submission.
    public enum Outcome: Sendable, Hashable {
        /// Recorded now; accepted for payment when its verdict is valid.
        case recorded(Submission, accepted: Bool)
        /// The identical envelope came before: its first record and receipt, nothing written.
        case replay(Submission)
    }

    /// Records a verified submission and, when its verdict is valid, accepts it for payment, in one
    /// transaction with its journal entry. The same envelope again returns its first record; a
    /// valid order colliding with an accepted one (same document, file number, or entity and order
    /// id) is refused by PostgreSQL's constraints and nothing is written (`AcceptOnceRule`).
    /// A number for a submission about to be recorded: its receipt names it before the row exists
    /// (a number drawn for a submission that is never recorded is simply not used).
    public func nextSubmissionID() async throws -> Int64 {
        try await bounded("a submission number") { [client, logger] in
            for try await id in try await client.query("SELECT nextval('submissions_id_seq')", logger: logger).decode(Int64.self) {
                return id
            }
            throw CenterStoreError("PostgreSQL drew no submission number")
        }
    }

    public func record(
        id submissionID: Int64, envelopeSHA256: String, entityCode: String, orderID: Int64, documentSHA256: String, fileNumber: String,
        verdict: String, failedChecks: [String], receipt: [UInt8], receivedAt: Date, node: String,
        totalPiasters: Int64 = 0, valueDate: String = ""
    ) async throws -> Outcome {
        try await bounded("recording a submission") { [self] in
            try await recordUnbounded(
                id: submissionID, envelopeSHA256: envelopeSHA256, entityCode: entityCode, orderID: orderID, documentSHA256: documentSHA256,
                fileNumber: fileNumber, verdict: verdict, failedChecks: failedChecks, receipt: receipt, receivedAt: receivedAt, node: node,
                totalPiasters: totalPiasters, valueDate: valueDate)
        }
    }

    func recordUnbounded(
        id submissionID: Int64, envelopeSHA256: String, entityCode: String, orderID: Int64, documentSHA256: String, fileNumber: String,
        verdict: String, failedChecks: [String], receipt: [UInt8], receivedAt: Date, node: String, totalPiasters: Int64, valueDate: String
    ) async throws -> Outcome {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    INSERT INTO submissions (id, envelope_sha256, entity_code, order_id, document_sha256, file_number, received_at,
                                             verdict, failed_checks, receipt, total_piasters, value_date)
                    VALUES (\(submissionID), \(envelopeSHA256), \(entityCode), \(orderID), \(documentSHA256), \(fileNumber), \(receivedAt),
                            \(verdict), \(failedChecks), \(ByteBuffer(bytes: receipt)), \(totalPiasters), \(valueDate))
                    RETURNING id
                    """, logger: logger)
                var id: Int64?
                for try await value in rows.decode(Int64.self) { id = value }
                guard let id else { throw CenterStoreError("the submission was not recorded") }
                let accepted = verdict == "valid"
                if accepted {
                    try await connection.query(
                        """
                        INSERT INTO acceptances (submission_id, entity_code, order_id, document_sha256, file_number, accepted_at)
                        VALUES (\(id), \(entityCode), \(orderID), \(documentSHA256), \(fileNumber), \(receivedAt))
                        """, logger: logger)
                }
                let detail = Self.json([
                    "submission": String(id), "entity": entityCode, "order": String(orderID), "verdict": verdict,
                    "accepted": accepted ? "true" : "false",
                ])
                try await Self.append(
                    connection, kind: accepted ? "order-accepted" : "order-refused", actor: Self.json(["node": node]), detail: detail,
                    at: receivedAt, logger: logger)
                let submission = Submission(
                    id: id, envelopeSHA256: envelopeSHA256, entityCode: entityCode, orderID: orderID, documentSHA256: documentSHA256,
                    fileNumber: fileNumber, verdict: verdict, failedChecks: failedChecks, receipt: receipt)
                return .recorded(submission, accepted: accepted)
            }
        } catch {
            // A unique constraint: the same envelope (a replay), or a second acceptance.
            guard let constraint = Self.uniqueViolation(error) else { throw error }
            if constraint == "submissions_envelope_sha256_key", let first = try await submissionUnbounded(envelopeSHA256: envelopeSHA256) {
                return .replay(first)
            }
            let key: AcceptOnceRule.Key = switch constraint {
            case "acceptances_document_once": .document
            case "acceptances_file_number_once": .fileNumber
            default: .entityOrder
            }
            let earlier = try await acceptance(colliding: key, entityCode: entityCode, orderID: orderID,
                                               documentSHA256: documentSHA256, fileNumber: fileNumber)
            throw AcceptOnceRule.refusal(key, earlier: earlier ?? .init(submissionID: 0, entityCode: entityCode, orderID: orderID, acceptedAt: "?"))
        }
    }

    /// The constraint a unique violation (SQLSTATE 23505) broke, as PostgreSQL names it; nil for
    /// any other error.
    /// PostgreSQL's own error behind `error`: bare, or what a transaction's closure threw.
    public static func serverError(_ error: any Error) -> PSQLError? {
        (error as? PSQLError) ?? ((error as? PostgresTransactionError)?.closureError as? PSQLError)
    }

    static func uniqueViolation(_ error: any Error) -> String? {
        guard let psql = serverError(error), psql.serverInfo?[.sqlState] == "23505" else { return nil }
        return psql.serverInfo?[.constraintName] ?? ""
    }

    /// The submission recorded for an envelope, if any.
    public func submission(envelopeSHA256: String) async throws -> Submission? {
        try await bounded("looking up an envelope") { [self] in try await submissionUnbounded(envelopeSHA256: envelopeSHA256) }
    }

    func submissionUnbounded(envelopeSHA256: String) async throws -> Submission? {
        let rows = try await client.query(
            """
            SELECT id, entity_code, order_id, document_sha256, file_number, verdict, failed_checks, receipt
            FROM submissions WHERE envelope_sha256 = \(envelopeSHA256)
            """, logger: logger)
        for try await (id, entity, order, document, fileNumber, verdict, failed, receipt)
            in rows.decode((Int64, String, Int64, String, String, String, [String], ByteBuffer).self)
        {
            return Submission(
                id: id, envelopeSHA256: envelopeSHA256, entityCode: entity, orderID: order, documentSHA256: document,
                fileNumber: fileNumber, verdict: verdict, failedChecks: failed, receipt: Array(buffer: receipt))
        }
        return nil
    }

    /// The acceptance a refused one collided with.
    func acceptance(
        colliding key: AcceptOnceRule.Key, entityCode: String, orderID: Int64, documentSHA256: String, fileNumber: String
    ) async throws -> AcceptOnceRule.Earlier? {
        let query: PostgresQuery = switch key {
        case .document:
            "SELECT submission_id, entity_code, order_id, accepted_at FROM acceptances WHERE document_sha256 = \(documentSHA256)"
        case .fileNumber:
            "SELECT submission_id, entity_code, order_id, accepted_at FROM acceptances WHERE file_number = \(fileNumber)"
        case .entityOrder:
            "SELECT submission_id, entity_code, order_id, accepted_at FROM acceptances WHERE entity_code = \(entityCode) AND order_id = \(orderID)"
        }
        for try await (id, entity, order, at) in try await client.query(query, logger: logger).decode((Int64, String, Int64, Date).self) {
            return AcceptOnceRule.Earlier(submissionID: id, entityCode: entity, orderID: order, acceptedAt: Self.timestamp(at))
        }
        return nil
    }

    /// How many acceptances the center holds for an entity's order (0 or 1).
    public func acceptances(entityCode: String, orderID: Int64) async throws -> Int {
        var count = 0
        for try await n in try await client.query(
            "SELECT count(*) FROM acceptances WHERE entity_code = \(entityCode) AND order_id = \(orderID)", logger: logger
        ).decode(Int64.self) {
            count = Int(n)
        }
        return count
    }

    // MARK: The center's people, payments, totals (issue 18, item 6; P1, P3, P6)

    /// A person of the center, known by their staff certificate.
    public struct Staff: Sendable, Hashable, Codable {
        public var certificateSHA256: String
        public var subject: String
        public var name: String
        /// `operator` (marks orders paid or returned) or `auditor` (reads).
        public var role: String

        public init(certificateSHA256: String, subject: String, name: String, role: String) {
            self.certificateSHA256 = certificateSHA256
            self.subject = subject
            self.name = name
            self.role = role
        }
    }

    /// Adds (or gives a new role to) a person of the center; journaled `staff-added`.
    public func addStaff(_ staff: Staff, by actor: String, at date: Date) async throws {
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO staff (certificate_sha256, subject, name, role, added_at) VALUES
                    (\(staff.certificateSHA256), \(staff.subject), \(staff.name), \(staff.role), \(date))
                ON CONFLICT (certificate_sha256) DO UPDATE SET subject = EXCLUDED.subject, name = EXCLUDED.name, role = EXCLUDED.role,
                    added_at = EXCLUDED.added_at, removed_at = NULL
                """, logger: logger)
            try await Self.append(
                connection, kind: "staff-added", actor: Self.json(["by": actor]),
                detail: Self.json(["certificate": staff.certificateSHA256, "subject": staff.subject, "name": staff.name, "role": staff.role]),
                at: date, logger: logger)
        }
    }

    /// Removes a person of the center (their certificate opens the link no more for their role).
    public func removeStaff(certificateSHA256: String, by actor: String, at date: Date) async throws -> Bool {
        try await client.withTransaction(logger: logger) { connection in
            var removed = false
            for try await _ in try await connection.query(
                "UPDATE staff SET removed_at = \(date) WHERE certificate_sha256 = \(certificateSHA256) AND removed_at IS NULL RETURNING 1",
                logger: logger
            ).decode(Int.self) {
                removed = true
            }
            if removed {
                try await Self.append(
                    connection, kind: "staff-removed", actor: Self.json(["by": actor]), detail: Self.json(["certificate": certificateSHA256]),
                    at: date, logger: logger)
            }
            return removed
        }
    }

    /// The person holding this staff certificate, if any (and not removed).
    public func staff(certificateSHA256: String) async throws -> Staff? {
        for try await (sha, subject, name, role) in try await client.query(
            "SELECT certificate_sha256, subject, name, role FROM staff WHERE certificate_sha256 = \(certificateSHA256) AND removed_at IS NULL",
            logger: logger
        ).decode((String, String, String, String).self) {
            return Staff(certificateSHA256: sha, subject: subject, name: name, role: role)
        }
        return nil
    }

    public func allStaff() async throws -> [Staff] {
        var found: [Staff] = []
        for try await (sha, subject, name, role) in try await client.query(
            "SELECT certificate_sha256, subject, name, role FROM staff WHERE removed_at IS NULL ORDER BY name", logger: logger
        ).decode((String, String, String, String).self) {
            found.append(Staff(certificateSHA256: sha, subject: subject, name: name, role: role))
        }
        return found
    }

    /// A submission as the center's people (and its entity) read it.
    public struct Listing: Sendable, Hashable, Codable {
        public var submission: Int64
        public var entity: String
        public var order: Int64
        public var fileNumber: String
        public var documentSHA256: String
        public var valueDate: String
        public var totalPiasters: Int64
        public var verdict: String
        public var failedChecks: [String]
        public var receivedAt: Date
        /// `accepted`, `paid` or `returned` for an accepted order; nil for one not accepted.
        public var state: String?
        public var stateChangedAt: Date?
        public var stateReason: String?
    }

    static let listingColumns = """
        s.id, s.entity_code, s.order_id, s.file_number, s.document_sha256, s.value_date, s.total_piasters, s.verdict,
        s.failed_checks, s.received_at, a.state, a.state_changed_at, a.state_reason
        """

    func listings(_ query: PostgresQuery) async throws -> [Listing] {
        var found: [Listing] = []
        let rows = try await client.query(query, logger: logger)
        for try await row in rows {
            let r = try row.decode((Int64, String, Int64, String, String, String, Int64, String, [String], Date, String?, Date?, String?).self)
            found.append(Listing(
                submission: r.0, entity: r.1, order: r.2, fileNumber: r.3, documentSHA256: r.4, valueDate: r.5, totalPiasters: r.6,
                verdict: r.7, failedChecks: r.8, receivedAt: r.9, state: r.10, stateChangedAt: r.11, stateReason: r.12))
        }
        return found
    }

    /// Submissions, newest first: `entity` limits them to one entity's, `state` to accepted ones in
    /// that state (`accepted`, `paid`, `returned`) or to those not accepted (`refused`).
    public func submissions(entity: String?, state: String?, limit: Int) async throws -> [Listing] {
        let stateFilter = state ?? ""
        return try await listings(
            """
            SELECT \(unescaped: Self.listingColumns) FROM submissions s LEFT JOIN acceptances a ON a.submission_id = s.id
            WHERE (\(entity ?? "") = '' OR s.entity_code = \(entity ?? ""))
              AND (\(stateFilter) = '' OR (\(stateFilter) = 'refused' AND a.state IS NULL) OR a.state = \(stateFilter))
            ORDER BY s.id DESC LIMIT \(limit)
            """)
    }

    public func listing(id: Int64) async throws -> Listing? {
        try await listings(
            "SELECT \(unescaped: Self.listingColumns) FROM submissions s LEFT JOIN acceptances a ON a.submission_id = s.id WHERE s.id = \(id)"
        ).first
    }

    /// Why a payment mark was refused.
    public enum PaymentRefusal: Error, Sendable, Equatable {
        case unknown
        case notAccepted
        case already(String)
        /// The certificate is no operator's when the mark is recorded (removed, or an auditor now).
        case notOperator
    }

    /// An operator marks an accepted order paid, or returned by the bank (with the reason), once:
    /// decided by the row's state inside the transaction (`WHERE state = 'accepted'`), journaled
    /// (`order-paid`, `order-returned`) in the same transaction.
    ///
    /// The operator is judged in the same transaction (`operator` is their staff certificate's
    /// SHA-256): one removed, or made an auditor, after the request arrived records nothing.
    public func markPayment(
        submissionID: Int64, state: String, reason: String?, operator certificateSHA256: String, by actor: String, at date: Date
    ) async throws -> Listing {
        let changed: Bool
        do {
            changed = try await client.withTransaction(logger: logger) { connection in
            var isOperator = false
            for try await _ in try await connection.query(
                """
                SELECT 1 FROM staff WHERE certificate_sha256 = \(certificateSHA256) AND role = 'operator' AND removed_at IS NULL FOR SHARE
                """, logger: logger
            ).decode(Int.self) {
                isOperator = true
            }
            guard isOperator else { throw PaymentRefusal.notOperator }
            var changed = false
            for try await (entity, order) in try await connection.query(
                """
                UPDATE acceptances SET state = \(state), state_changed_at = \(date), state_reason = \(reason), state_changed_by = \(actor)
                WHERE submission_id = \(submissionID) AND state = 'accepted' RETURNING entity_code, order_id
                """, logger: logger
            ).decode((String, Int64).self) {
                changed = true
                var detail = ["submission": String(submissionID), "entity": entity, "order": String(order)]
                if let reason { detail["reason"] = reason }
                try await Self.append(
                    connection, kind: state == "paid" ? "order-paid" : "order-returned", actor: Self.json(["by": actor]),
                    detail: Self.json(detail), at: date, logger: logger)
            }
            return changed
            }
        } catch let error as PostgresTransactionError {
            // The refusal decided inside the transaction, as itself (nothing was written).
            if let refusal = error.closureError as? PaymentRefusal { throw refusal }
            throw error
        }
        guard let listing = try await listing(id: submissionID) else { throw PaymentRefusal.unknown }
        guard changed else {
            guard let current = listing.state else { throw PaymentRefusal.notAccepted }
            throw PaymentRefusal.already(current)
        }
        return listing
    }

    /// One entity's month (P6): orders accepted for payment, and of them paid and returned, with
    /// their totals in piasters (by the documents' value dates, `YYYY-MM`).
    public struct MonthlyTotal: Sendable, Hashable, Codable {
        public var entity: String
        public var month: String
        public var accepted: Int
        public var acceptedPiasters: Int64
        public var paid: Int
        public var paidPiasters: Int64
        public var returned: Int
        public var returnedPiasters: Int64
    }

    public func monthlyTotals(month: String) async throws -> [MonthlyTotal] {
        var totals: [MonthlyTotal] = []
        for try await (entity, accepted, acceptedSum, paid, paidSum, returned, returnedSum) in try await client.query(
            """
            SELECT s.entity_code, count(*), COALESCE(sum(s.total_piasters), 0)::bigint,
                   count(*) FILTER (WHERE a.state = 'paid'), COALESCE(sum(s.total_piasters) FILTER (WHERE a.state = 'paid'), 0)::bigint,
                   count(*) FILTER (WHERE a.state = 'returned'), COALESCE(sum(s.total_piasters) FILTER (WHERE a.state = 'returned'), 0)::bigint
            FROM acceptances a JOIN submissions s ON s.id = a.submission_id
            WHERE left(s.value_date, 7) = \(month)
            GROUP BY s.entity_code ORDER BY s.entity_code
            """, logger: logger
        ).decode((String, Int64, Int64, Int64, Int64, Int64, Int64).self) {
            totals.append(MonthlyTotal(
                entity: entity, month: month, accepted: Int(accepted), acceptedPiasters: acceptedSum, paid: Int(paid), paidPiasters: paidSum,
                returned: Int(returned), returnedPiasters: returnedSum))
        }
        return totals
    }

    // MARK: The journal

    /// Appends one entry to the center's journal in `connection`'s transaction, under the
    /// journal's advisory lock: the lock is held until the transaction ends, so entries from every
    /// node form one chain (`AuditChain`, the daemon's format).
    static func append(
        _ connection: PostgresConnection, kind: String, actor: String, detail: String, at date: Date, logger: Logger
    ) async throws {
        try await connection.query("SELECT pg_advisory_xact_lock(\(journalLock))", logger: logger)
        var seq: Int64 = 0
        var previous = AuditChain.genesis.hex
        for try await (last, hash) in try await connection.query(
            "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1", logger: logger
        ).decode((Int64, String).self) {
            seq = last
            previous = hash
        }
        seq += 1
        let at = timestamp(date)
        let hash = AuditChain.hash(seq: seq, at: at, actor: actor, kind: kind, detail: detail, previousHash: previous).hex
        try await connection.query(
            """
            INSERT INTO journal (seq, at, actor, kind, detail, previous_hash, hash)
            VALUES (\(seq), \(at), \(actor), \(kind), \(detail), \(previous), \(hash))
            """, logger: logger)
    }

    /// Walks the journal's chain: nil when intact, else the first entry that breaks it.
    public func verifyJournal() async throws -> (entries: Int64, brokenAt: Int64?) {
        var previous = AuditChain.genesis.hex
        var expected: Int64 = 1
        for try await (seq, at, actor, kind, detail, previousHash, hash) in try await client.query(
            "SELECT seq, at, actor, kind, detail, previous_hash, hash FROM journal ORDER BY seq", logger: logger
        ).decode((Int64, String, String, String, String, String, String).self) {
            guard seq == expected, previousHash == previous,
                AuditChain.hash(seq: seq, at: at, actor: actor, kind: kind, detail: detail, previousHash: previousHash).hex == hash
            else { return (expected - 1, seq) }
            previous = hash
            expected += 1
        }
        return (expected - 1, nil)
    }

    static func json(_ fields: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(fields)) ?? Data("{}".utf8), as: UTF8.self)
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }
}

/// The store could not do what was asked (not a rule's refusal: `RuleRefusal`).
public struct CenterStoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
