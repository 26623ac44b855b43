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
