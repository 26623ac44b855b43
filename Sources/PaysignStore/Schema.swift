import Foundation
import GRDB

/// The registry's schema, as named migrations.
///
/// A migration that has shipped is never edited, renamed or removed: a change to the schema is a
/// new migration appended at the end ("v2-…"). A database that has applied a migration this build
/// does not list was written by a newer paysignd, and `Registry.open` refuses it
/// (`.databaseTooNew`) rather than run on a schema it does not understand.
///
/// The SQL is written out rather than built with GRDB's schema DSL so that what a reviewer reads
/// here is exactly what `sqlite3 paysign.sqlite .schema` shows.
enum Schema {
    /// Marks the file as paysign's (`PRAGMA application_id`, the bytes "PySg").
    static let applicationID: Int32 = 0x5079_5367

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()

        // Entities, operators and their roles, tokens and their certificates.
        //
        // Roles live in their own table (one row per operator and role) rather than in a JSON or
        // text column: "who are the first signers of entity X" (D3) is a plain indexed query,
        // removing an operator removes their roles by cascade, and a role string this build does
        // not know shows up as a row it cannot decode instead of hiding inside a blob. There is
        // no CHECK on the role names so that adding a role does not need to rebuild the table.
        migrator.registerMigration("v1-registry") { db in
            try db.execute(
                sql: """
                    CREATE TABLE entities (
                        code TEXT PRIMARY KEY NOT NULL CHECK (code <> ''),
                        name TEXT NOT NULL CHECK (name <> ''),
                        addedAt TEXT NOT NULL
                    );
                    CREATE TABLE operators (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        unixUser TEXT NOT NULL UNIQUE CHECK (unixUser <> ''),
                        nationalID TEXT NOT NULL
                            CHECK (length(nationalID) = 14 AND nationalID NOT GLOB '*[^0-9]*'),
                        name TEXT NOT NULL CHECK (name <> ''),
                        entityCode TEXT REFERENCES entities(code) ON DELETE RESTRICT,
                        addedAt TEXT NOT NULL
                    );
                    CREATE INDEX operators_entityCode ON operators(entityCode);
                    CREATE TABLE operator_roles (
                        operatorID INTEGER NOT NULL REFERENCES operators(id) ON DELETE CASCADE,
                        role TEXT NOT NULL,
                        PRIMARY KEY (operatorID, role)
                    ) WITHOUT ROWID;
                    CREATE INDEX operator_roles_role ON operator_roles(role);
                    CREATE TABLE tokens (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        serial TEXT NOT NULL UNIQUE CHECK (serial <> ''),
                        label TEXT NOT NULL,
                        holderID INTEGER REFERENCES operators(id) ON DELETE RESTRICT,
                        registeredAt TEXT NOT NULL
                    );
                    CREATE INDEX tokens_holderID ON tokens(holderID);
                    CREATE TABLE token_certificates (
                        sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
                        tokenID INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
                        der BLOB NOT NULL,
                        serialHex TEXT NOT NULL,
                        subject TEXT NOT NULL,
                        notBefore TEXT NOT NULL,
                        notAfter TEXT NOT NULL
                    );
                    CREATE INDEX token_certificates_tokenID ON token_certificates(tokenID);
                    """)
        }

        // The audit journal: a hash chain (see `AuditChain`), and the signatures made over its
        // head on a token. The triggers stop paysign's own code, or a careless administrator with
        // sqlite3, from editing history; they do not stop a determined one (who can drop them):
        // the chain and the signed heads are what show that.
        migrator.registerMigration("v1-audit") { db in
            try db.execute(
                sql: """
                    CREATE TABLE audit (
                        seq INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),
                        at TEXT NOT NULL,
                        actor TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        detail TEXT NOT NULL,
                        previousHash TEXT NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END;
                    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit journal is append-only'); END;
                    CREATE TABLE audit_head_signatures (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        seq INTEGER NOT NULL,
                        hash TEXT NOT NULL,
                        signature BLOB NOT NULL,
                        certificateDER BLOB NOT NULL,
                        certificateSHA256 TEXT NOT NULL,
                        algorithm TEXT NOT NULL,
                        recordedAt TEXT NOT NULL,
                        auditSeq INTEGER NOT NULL UNIQUE
                    );
                    CREATE INDEX audit_head_signatures_seq ON audit_head_signatures(seq);
                    CREATE TRIGGER audit_head_signatures_no_update BEFORE UPDATE ON audit_head_signatures
                    BEGIN SELECT RAISE(ABORT, 'head signatures are append-only'); END;
                    CREATE TRIGGER audit_head_signatures_no_delete BEFORE DELETE ON audit_head_signatures
                    BEGIN SELECT RAISE(ABORT, 'head signatures are append-only'); END;
                    """)
        }

        // Payment orders and their signatures, idempotency records, on-site first signers (D3)
        // and PIN-change dates (D5).
        //
        // An order keeps the uploaded bytes as they came (`file`: its SHA-256 is the file number
        // of D9) and the canonical document both signatures cover (`document`, see
        // `OrderDocument`), written right after the insert that gives the order its id, in the
        // same transaction. `signedData` is the CMS SignedData as it stands (one SignerInfo after
        // the first signature, two after the second).
        //
        // The operator columns (`createdByOperator`, `signerOperator`, …) are not foreign keys:
        // an order and its signatures are evidence (D7) that outlives the operator's mapping
        // (D14), operator ids are never reused (AUTOINCREMENT), and the Unix user is kept beside
        // the id so the record reads on its own.
        //
        // The triggers keep what was uploaded and signed from being edited by paysign's own code
        // or a careless administrator with sqlite3: the uploaded bytes and the document never
        // change once written, an order is never deleted, its state moves only along the
        // transitions of `OrderState.allows`, and `order_signatures` is append-only, like the
        // audit journal.
        migrator.registerMigration("v2-orders") { db in
            try db.execute(
                sql: """
                    ALTER TABLE operators ADD COLUMN onSite INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE tokens ADD COLUMN pinChangedAt TEXT;
                    CREATE TABLE orders (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        entityCode TEXT NOT NULL REFERENCES entities(code) ON DELETE RESTRICT,
                        kind TEXT NOT NULL CHECK (kind <> ''),
                        currency TEXT NOT NULL CHECK (currency <> ''),
                        valueDate TEXT NOT NULL
                            CHECK (length(valueDate) = 10 AND valueDate GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
                        fileSHA256 TEXT NOT NULL
                            CHECK (length(fileSHA256) = 64 AND fileSHA256 NOT GLOB '*[^0-9a-f]*'),
                        fileBytes INTEGER NOT NULL CHECK (fileBytes >= 0),
                        lineCount INTEGER NOT NULL CHECK (lineCount >= 0),
                        totalPiasters INTEGER NOT NULL,
                        file BLOB NOT NULL,
                        document BLOB NOT NULL,
                        documentSHA256 TEXT NOT NULL,
                        state TEXT NOT NULL
                            CHECK (state IN ('draft', 'reviewed', 'first-signed', 'payable', 'rejected')),
                        createdByOperator INTEGER,
                        createdByUser TEXT NOT NULL,
                        createdAt TEXT NOT NULL,
                        reviewedByOperator INTEGER,
                        reviewedByUser TEXT,
                        reviewedAt TEXT,
                        rejectedByOperator INTEGER,
                        rejectedByUser TEXT,
                        rejectedAt TEXT,
                        rejectionReason TEXT,
                        signedData BLOB
                    );
                    CREATE INDEX orders_entityCode ON orders(entityCode, id);
                    CREATE INDEX orders_state ON orders(state, id);
                    CREATE INDEX orders_valueDate ON orders(valueDate, id);
                    CREATE TRIGGER orders_content_fixed
                    BEFORE UPDATE OF entityCode, kind, currency, valueDate, fileSHA256, fileBytes, lineCount,
                        totalPiasters, file, createdByOperator, createdByUser, createdAt ON orders
                    WHEN NEW.entityCode IS NOT OLD.entityCode OR NEW.kind IS NOT OLD.kind
                        OR NEW.currency IS NOT OLD.currency OR NEW.valueDate IS NOT OLD.valueDate
                        OR NEW.fileSHA256 IS NOT OLD.fileSHA256 OR NEW.fileBytes IS NOT OLD.fileBytes
                        OR NEW.lineCount IS NOT OLD.lineCount OR NEW.totalPiasters IS NOT OLD.totalPiasters
                        OR NEW.file IS NOT OLD.file OR NEW.createdByOperator IS NOT OLD.createdByOperator
                        OR NEW.createdByUser IS NOT OLD.createdByUser OR NEW.createdAt IS NOT OLD.createdAt
                    BEGIN SELECT RAISE(ABORT, 'an uploaded order never changes'); END;
                    CREATE TRIGGER orders_document_fixed BEFORE UPDATE OF document, documentSHA256 ON orders
                    WHEN OLD.documentSHA256 <> ''
                        AND (NEW.document IS NOT OLD.document OR NEW.documentSHA256 IS NOT OLD.documentSHA256)
                    BEGIN SELECT RAISE(ABORT, 'an order document never changes once written'); END;
                    CREATE TRIGGER orders_state_transitions BEFORE UPDATE OF state ON orders
                    WHEN NEW.state IS NOT OLD.state AND NOT (
                        (OLD.state = 'draft' AND NEW.state IN ('reviewed', 'rejected'))
                        OR (OLD.state = 'reviewed' AND NEW.state IN ('first-signed', 'rejected'))
                        OR (OLD.state = 'first-signed' AND NEW.state IN ('payable', 'rejected')))
                    BEGIN SELECT RAISE(ABORT, 'an order moves only along its allowed transitions'); END;
                    CREATE TRIGGER orders_no_delete BEFORE DELETE ON orders
                    BEGIN SELECT RAISE(ABORT, 'payment orders are never deleted'); END;
                    CREATE TABLE order_signatures (
                        orderID INTEGER NOT NULL REFERENCES orders(id) ON DELETE RESTRICT,
                        step TEXT NOT NULL CHECK (step IN ('first', 'second')),
                        signerOperator INTEGER,
                        signerUser TEXT NOT NULL,
                        tokenSerial TEXT NOT NULL,
                        certificateSHA256 TEXT NOT NULL CHECK (length(certificateSHA256) = 64),
                        signatureSHA256 TEXT NOT NULL CHECK (length(signatureSHA256) = 64),
                        signedAt TEXT NOT NULL,
                        PRIMARY KEY (orderID, step)
                    ) WITHOUT ROWID;
                    CREATE INDEX order_signatures_signer ON order_signatures(signerOperator, signedAt);
                    CREATE TRIGGER order_signatures_no_update BEFORE UPDATE ON order_signatures
                    BEGIN SELECT RAISE(ABORT, 'order signatures are append-only'); END;
                    CREATE TRIGGER order_signatures_no_delete BEFORE DELETE ON order_signatures
                    BEGIN SELECT RAISE(ABORT, 'order signatures are append-only'); END;
                    CREATE TABLE idempotency (
                        uid INTEGER NOT NULL,
                        key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
                        requestDigest TEXT NOT NULL CHECK (length(requestDigest) = 64),
                        status INTEGER NOT NULL,
                        contentType TEXT NOT NULL,
                        body BLOB NOT NULL,
                        createdAt TEXT NOT NULL,
                        PRIMARY KEY (uid, key)
                    ) WITHOUT ROWID;
                    CREATE INDEX idempotency_createdAt ON idempotency(createdAt);
                    """)
        }

        // The certification authority: token states (only `active` signs, D6), revocations with
        // their RFC 5280 reason and invalidity date, holders' service (retirement date,
        // clearance, death notice, D6), and the revocation lists issued or imported.
        //
        // `order_signatures_token_active` makes the database itself refuse a signature made with a
        // registered token that is not active (an unregistered one is SigningPolicy's to refuse): a revocation that commits while a signature is being
        // made on that token wins, and the signature is discarded (D6).
        migrator.registerMigration("v3-authority") { db in
            try db.execute(
                sql: """
                    ALTER TABLE tokens ADD COLUMN state TEXT NOT NULL DEFAULT 'active'
                        CHECK (state IN ('issued', 'active', 'suspended', 'surrendered', 'revoked'));
                    ALTER TABLE tokens ADD COLUMN stateChangedAt TEXT;
                    ALTER TABLE tokens ADD COLUMN revokedAt TEXT;
                    ALTER TABLE tokens ADD COLUMN revocationCause TEXT;
                    ALTER TABLE tokens ADD COLUMN revocationReason TEXT;
                    ALTER TABLE tokens ADD COLUMN invalidityDate TEXT;
                    CREATE TRIGGER tokens_final_states BEFORE UPDATE OF state ON tokens
                    WHEN OLD.state IN ('surrendered', 'revoked') AND NEW.state IS NOT OLD.state
                    BEGIN SELECT RAISE(ABORT, 'a surrendered or revoked token never returns to service'); END;
                    ALTER TABLE operators ADD COLUMN retirementDate TEXT;
                    ALTER TABLE operators ADD COLUMN clearedAt TEXT;
                    ALTER TABLE operators ADD COLUMN deathDate TEXT;
                    ALTER TABLE operators ADD COLUMN deathNotifiedOn TEXT;
                    ALTER TABLE operators ADD COLUMN deathNoticeReference TEXT;
                    CREATE TRIGGER order_signatures_token_active BEFORE INSERT ON order_signatures
                    WHEN EXISTS (SELECT 1 FROM tokens WHERE serial = NEW.tokenSerial AND state <> 'active')
                    BEGIN SELECT RAISE(ABORT, 'rule D6: the token is not active'); END;
                    CREATE TABLE crls (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        issuerKeyID TEXT NOT NULL CHECK (issuerKeyID <> ''),
                        issuer TEXT NOT NULL,
                        numberKey TEXT NOT NULL CHECK (length(numberKey) = 40),
                        thisUpdate TEXT NOT NULL,
                        nextUpdate TEXT,
                        der BLOB NOT NULL,
                        sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
                        source TEXT NOT NULL CHECK (source IN ('issued', 'imported')),
                        recordedAt TEXT NOT NULL,
                        UNIQUE (issuerKeyID, numberKey)
                    );
                    CREATE TRIGGER crls_no_update BEFORE UPDATE ON crls
                    BEGIN SELECT RAISE(ABORT, 'revocation lists are kept as they were recorded'); END;
                    """)
        }

        // The payment center (issue 6). `signature_sightings`: when this daemon first saw each
        // signature (SHA-256 of a SignerInfo's signature value), the trusted time of signing its
        // verifications use from then on. `order_presentations`: each valid order presented for
        // payment; the same document, file number or entity and order id never twice (a replay).
        // Both append-only: a first sighting moved later, or a presentation deleted, would let a
        // revoked signature or a paid order through again.
        migrator.registerMigration("v4-verifications") { db in
            try db.execute(
                sql: """
                    CREATE TABLE signature_sightings (
                        signatureSHA256 TEXT PRIMARY KEY NOT NULL CHECK (length(signatureSHA256) = 64),
                        documentSHA256 TEXT NOT NULL CHECK (length(documentSHA256) = 64),
                        firstSeenAt TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TRIGGER signature_sightings_no_update BEFORE UPDATE ON signature_sightings
                    BEGIN SELECT RAISE(ABORT, 'a signature''s first sighting is kept as recorded'); END;
                    CREATE TRIGGER signature_sightings_no_delete BEFORE DELETE ON signature_sightings
                    BEGIN SELECT RAISE(ABORT, 'a signature''s first sighting is kept as recorded'); END;
                    CREATE TABLE order_presentations (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        documentSHA256 TEXT NOT NULL UNIQUE CHECK (length(documentSHA256) = 64),
                        fileNumber TEXT NOT NULL UNIQUE CHECK (length(fileNumber) = 64),
                        orderID INTEGER NOT NULL,
                        entityCode TEXT NOT NULL CHECK (entityCode <> ''),
                        presenterUID INTEGER NOT NULL,
                        presenter TEXT NOT NULL,
                        presenterOperatorID INTEGER,
                        presentedAt TEXT NOT NULL,
                        trustedTime TEXT NOT NULL,
                        UNIQUE (entityCode, orderID)
                    );
                    CREATE TRIGGER order_presentations_no_update BEFORE UPDATE ON order_presentations
                    BEGIN SELECT RAISE(ABORT, 'order presentations are append-only'); END;
                    CREATE TRIGGER order_presentations_no_delete BEFORE DELETE ON order_presentations
                    BEGIN SELECT RAISE(ABORT, 'order presentations are append-only'); END;
                    """)
        }
        // v5-generation (issue 15): a counter every change to the people and tokens of the
        // registry moves on (entities, operators and their roles, tokens and their certificates),
        // by trigger. A signature is decided again inside the transaction that records it; when
        // the counter is where it was before the request read its facts, nothing those facts came
        // from has changed, and the decision made on them stands (`Registry.recordSignature`).
        migrator.registerMigration("v5-generation") { db in
            try db.execute(
                sql: """
                    CREATE TABLE registry_generation (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        value INTEGER NOT NULL
                    );
                    INSERT INTO registry_generation (id, value) VALUES (1, 0);
                    CREATE TRIGGER registry_generation_no_delete BEFORE DELETE ON registry_generation
                    BEGIN SELECT RAISE(ABORT, 'the registry generation is never deleted'); END;
                    CREATE TRIGGER entities_generation_insert AFTER INSERT ON entities
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER entities_generation_update AFTER UPDATE ON entities
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER entities_generation_delete AFTER DELETE ON entities
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER operators_generation_insert AFTER INSERT ON operators
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER operators_generation_update AFTER UPDATE ON operators
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER operators_generation_delete AFTER DELETE ON operators
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER operator_roles_generation_insert AFTER INSERT ON operator_roles
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER operator_roles_generation_update AFTER UPDATE ON operator_roles
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER operator_roles_generation_delete AFTER DELETE ON operator_roles
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER tokens_generation_insert AFTER INSERT ON tokens
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER tokens_generation_update AFTER UPDATE ON tokens
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER tokens_generation_delete AFTER DELETE ON tokens
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER token_certificates_generation_insert AFTER INSERT ON token_certificates
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER token_certificates_generation_update AFTER UPDATE ON token_certificates
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    CREATE TRIGGER token_certificates_generation_delete AFTER DELETE ON token_certificates
                    BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END;
                    """)
        }
        // v6-outbox (issue 18, D8): a payable order waits here for delivery to the payment
        // center, queued in the transaction that records its second signature.
        migrator.registerMigration("v6-outbox") { db in
            try db.execute(
                sql: """
                    CREATE TABLE outbox (
                        orderID INTEGER PRIMARY KEY REFERENCES orders(id),
                        queuedAt TEXT NOT NULL,
                        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered')),
                        attempts INTEGER NOT NULL DEFAULT 0,
                        lastError TEXT
                    );
                    """)
        }
        // v7-delivery (issue 18, D8): what the delivery service needs of each outbox entry: the
        // envelope sealed once (a retry resends the same bytes, which the center answers as a
        // replay), when to try next, and the center's final answer (its signed receipt, or its
        // refusal) and the order's state there.
        migrator.registerMigration("v7-delivery") { db in
            try db.execute(
                sql: """
                    ALTER TABLE outbox ADD COLUMN envelope BLOB;
                    ALTER TABLE outbox ADD COLUMN envelopeSHA256 TEXT;
                    ALTER TABLE outbox ADD COLUMN nextAttemptAt TEXT;
                    ALTER TABLE outbox ADD COLUMN outcome TEXT CHECK (outcome IN ('accepted', 'invalid', 'refused'));
                    ALTER TABLE outbox ADD COLUMN submissionID INTEGER;
                    ALTER TABLE outbox ADD COLUMN receipt BLOB;
                    ALTER TABLE outbox ADD COLUMN answeredAt TEXT;
                    ALTER TABLE outbox ADD COLUMN centerState TEXT;
                    ALTER TABLE outbox ADD COLUMN detail TEXT;
                    """)
        }
        return migrator
    }()

    /// The migrations this build knows, in order.
    static var knownMigrations: [String] { migrator.migrations }
}

// MARK: - Records (one per table; the domain's value types are built from them)

struct EntityRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "entities"
    var code: String
    var name: String
    var addedAt: String
}

struct OperatorRow: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "operators"
    var id: Int64?
    var unixUser: String
    var nationalID: String
    var name: String
    var entityCode: String?
    var addedAt: String
    /// v2-orders: a first signer permanently present at the workplace (D3).
    var onSite: Bool
    /// v3-authority: the holder's service (D6), dates as YYYY-MM-DD, `clearedAt` a time.
    var retirementDate: String?
    var clearedAt: String?
    var deathDate: String?
    var deathNotifiedOn: String?
    var deathNoticeReference: String?

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

struct OperatorRoleRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "operator_roles"
    var operatorID: Int64
    var role: String
}

struct TokenRow: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "tokens"
    var id: Int64?
    var serial: String
    var label: String
    var holderID: Int64?
    var registeredAt: String
    /// v2-orders: when the holder last changed the user PIN (D5); nil: never.
    var pinChangedAt: String?
    /// v3-authority: the token's state with the authority, and how it left service.
    var state: String = "active"
    var stateChangedAt: String?
    var revokedAt: String?
    var revocationCause: String?
    var revocationReason: String?
    var invalidityDate: String?

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

struct TokenCertificateRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "token_certificates"
    var sha256: String
    var tokenID: Int64
    var der: Data
    var serialHex: String
    var subject: String
    var notBefore: String
    var notAfter: String
}

struct AuditRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "audit"
    var seq: Int64
    var at: String
    var actor: String
    var kind: String
    var detail: String
    var previousHash: String
    var hash: String
}

struct HeadSignatureRow: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "audit_head_signatures"
    var id: Int64?
    var seq: Int64
    var hash: String
    var signature: Data
    var certificateDER: Data
    var certificateSHA256: String
    var algorithm: String
    var recordedAt: String
    var auditSeq: Int64

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

/// An order's columns except the blobs (`file`, `document`, `signedData`), which are read on their
/// own: listing orders never loads their files.
struct OrderRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "orders"
    static var databaseSelection: [any SQLSelectable] {
        [
            Column("id"), Column("entityCode"), Column("kind"), Column("currency"), Column("valueDate"),
            Column("fileSHA256"), Column("fileBytes"), Column("lineCount"), Column("totalPiasters"),
            Column("documentSHA256"), Column("state"), Column("createdByOperator"), Column("createdByUser"),
            Column("createdAt"), Column("reviewedByOperator"), Column("reviewedByUser"), Column("reviewedAt"),
            Column("rejectedByOperator"), Column("rejectedByUser"), Column("rejectedAt"), Column("rejectionReason"),
        ]
    }
    var id: Int64
    var entityCode: String
    var kind: String
    var currency: String
    var valueDate: String
    var fileSHA256: String
    var fileBytes: Int
    var lineCount: Int
    var totalPiasters: Int64
    var documentSHA256: String
    var state: String
    var createdByOperator: Int64?
    var createdByUser: String
    var createdAt: String
    var reviewedByOperator: Int64?
    var reviewedByUser: String?
    var reviewedAt: String?
    var rejectedByOperator: Int64?
    var rejectedByUser: String?
    var rejectedAt: String?
    var rejectionReason: String?
}

struct OrderSignatureRow: Codable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "order_signatures"
    var orderID: Int64
    var step: String
    var signerOperator: Int64?
    var signerUser: String
    var tokenSerial: String
    var certificateSHA256: String
    var signatureSHA256: String
    var signedAt: String
}

struct IdempotencyRow: Codable, FetchableRecord, TableRecord {
    static let databaseTableName = "idempotency"
    var uid: Int64
    var key: String
    var requestDigest: String
    var status: Int
    var contentType: String
    var body: Data
    var createdAt: String
}

struct CRLRow: Codable, FetchableRecord, MutablePersistableRecord {
    static let databaseTableName = "crls"
    var id: Int64?
    var issuerKeyID: String
    var issuer: String
    /// The CRL number as 40 upper-case hex digits, zero-padded, so text order is number order.
    var numberKey: String
    var thisUpdate: String
    var nextUpdate: String?
    var der: Data
    var sha256: String
    var source: String
    var recordedAt: String

    mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }
}

// MARK: Rows read on every request

// GRDB decodes a Codable record through a generic decoder; an explicit `init(row:)` reads the
// columns directly (GRDB's documented fast path). These are the rows a signature request reads:
// the caller's operator, the order with its signatures, the token with its certificates. A column
// missing or of the wrong type throws, as the Codable decoding did (the registry reports it as
// damage), never traps.

extension OperatorRow {
    init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        unixUser = try row.decode(forColumn: "unixUser")
        nationalID = try row.decode(forColumn: "nationalID")
        name = try row.decode(forColumn: "name")
        entityCode = try row.decode(forColumn: "entityCode")
        addedAt = try row.decode(forColumn: "addedAt")
        onSite = try row.decode(forColumn: "onSite")
        retirementDate = try row.decode(forColumn: "retirementDate")
        clearedAt = try row.decode(forColumn: "clearedAt")
        deathDate = try row.decode(forColumn: "deathDate")
        deathNotifiedOn = try row.decode(forColumn: "deathNotifiedOn")
        deathNoticeReference = try row.decode(forColumn: "deathNoticeReference")
    }
}

extension TokenRow {
    init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        serial = try row.decode(forColumn: "serial")
        label = try row.decode(forColumn: "label")
        holderID = try row.decode(forColumn: "holderID")
        registeredAt = try row.decode(forColumn: "registeredAt")
        pinChangedAt = try row.decode(forColumn: "pinChangedAt")
        state = try row.decode(forColumn: "state")
        stateChangedAt = try row.decode(forColumn: "stateChangedAt")
        revokedAt = try row.decode(forColumn: "revokedAt")
        revocationCause = try row.decode(forColumn: "revocationCause")
        revocationReason = try row.decode(forColumn: "revocationReason")
        invalidityDate = try row.decode(forColumn: "invalidityDate")
    }
}

extension TokenCertificateRow {
    init(row: Row) throws {
        sha256 = try row.decode(forColumn: "sha256")
        tokenID = try row.decode(forColumn: "tokenID")
        der = try row.decode(forColumn: "der")
        serialHex = try row.decode(forColumn: "serialHex")
        subject = try row.decode(forColumn: "subject")
        notBefore = try row.decode(forColumn: "notBefore")
        notAfter = try row.decode(forColumn: "notAfter")
    }
}

extension OrderRow {
    init(row: Row) throws {
        id = try row.decode(forColumn: "id")
        entityCode = try row.decode(forColumn: "entityCode")
        kind = try row.decode(forColumn: "kind")
        currency = try row.decode(forColumn: "currency")
        valueDate = try row.decode(forColumn: "valueDate")
        fileSHA256 = try row.decode(forColumn: "fileSHA256")
        fileBytes = try row.decode(forColumn: "fileBytes")
        lineCount = try row.decode(forColumn: "lineCount")
        totalPiasters = try row.decode(forColumn: "totalPiasters")
        documentSHA256 = try row.decode(forColumn: "documentSHA256")
        state = try row.decode(forColumn: "state")
        createdByOperator = try row.decode(forColumn: "createdByOperator")
        createdByUser = try row.decode(forColumn: "createdByUser")
        createdAt = try row.decode(forColumn: "createdAt")
        reviewedByOperator = try row.decode(forColumn: "reviewedByOperator")
        reviewedByUser = try row.decode(forColumn: "reviewedByUser")
        reviewedAt = try row.decode(forColumn: "reviewedAt")
        rejectedByOperator = try row.decode(forColumn: "rejectedByOperator")
        rejectedByUser = try row.decode(forColumn: "rejectedByUser")
        rejectedAt = try row.decode(forColumn: "rejectedAt")
        rejectionReason = try row.decode(forColumn: "rejectionReason")
    }
}

extension OrderSignatureRow {
    init(row: Row) throws {
        orderID = try row.decode(forColumn: "orderID")
        step = try row.decode(forColumn: "step")
        signerOperator = try row.decode(forColumn: "signerOperator")
        signerUser = try row.decode(forColumn: "signerUser")
        tokenSerial = try row.decode(forColumn: "tokenSerial")
        certificateSHA256 = try row.decode(forColumn: "certificateSHA256")
        signatureSHA256 = try row.decode(forColumn: "signatureSHA256")
        signedAt = try row.decode(forColumn: "signedAt")
    }
}
