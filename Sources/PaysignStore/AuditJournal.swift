import Foundation
public import PaysignDomain
import GRDB
import PaysignOpenSSL

/// Appending to the journal, inside a write transaction the caller already holds.
enum Journal {
    /// Canonical JSON: sorted keys, no whitespace, `/` not escaped. For the values the details
    /// hold (strings, integers, booleans, arrays, objects) this is RFC 8785's form.
    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func canonicalJSON(_ value: some Encodable, _ encoder: JSONEncoder) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Appends entries one after the other, remembering the head between them.
    struct Writer {
        private(set) var seq: Int64
        private(set) var hash: String
        private let encoder = Journal.makeEncoder()
        private var buffer: [UInt8] = []

        /// Starts after the journal's newest entry (or at the genesis).
        init(_ db: Database) throws {
            // A cached statement: every write that journals starts here.
            let newest = try db.cachedStatement(sql: "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            if let last = try Row.fetchOne(newest) {
                // seq is the rowid, always an integer; a hash that is not text (tampering) chains
                // as "" and the verifier reports the damage.
                seq = last[0]
                if case .string(let text) = (last[1] as DatabaseValue).storage {
                    hash = text
                } else {
                    hash = ""
                }
            } else {
                seq = 0
                hash = AuditChain.genesis.hex
            }
        }

        private var lastActor: (actor: AuditActor, json: String)?

        @discardableResult
        mutating func append(_ db: Database, _ event: AuditEvent, by actor: AuditActor, at: String) throws -> AuditRow {
            let actorJSON: String
            if let lastActor, lastActor.actor == actor {
                actorJSON = lastActor.json
            } else {
                actorJSON = try Journal.canonicalJSON(actor, encoder)
                lastActor = (actor, actorJSON)
            }
            let detailJSON = try Journal.canonicalJSON(event.detail, encoder)
            let next = seq + 1
            let kind = event.kind.rawValue
            AuditChain.encode(
                into: &buffer, seq: next, at: at, actor: actorJSON, kind: kind, detail: detailJSON, previousHash: hash)
            // A SHA-256 digest is always 32 bytes.
            let entryHash = SHA256Hex(bytes: SHA256.hash(buffer))!.hex
            let row = AuditRow(
                seq: next, at: at, actor: actorJSON, kind: kind, detail: detailJSON, previousHash: hash, hash: entryHash)
            try db.cachedStatement(
                sql: "INSERT INTO audit (seq, at, actor, kind, detail, previousHash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ).execute(arguments: [next, at, actorJSON, kind, detailJSON, hash, entryHash])
            seq = next
            hash = entryHash
            return row
        }
    }

    /// Appends one entry in the caller's transaction.
    @discardableResult
    static func append(_ db: Database, _ event: AuditEvent, by actor: AuditActor, at: String) throws -> AuditRow {
        var writer = try Writer(db)
        return try writer.append(db, event, by: actor, at: at)
    }

    /// An entry decoded from its row; a row that does not decode is reported as damage.
    static func entry(_ row: AuditRow, decoder: JSONDecoder) throws -> AuditEntry {
        func damaged(_ what: String) -> StoreError {
            StoreError(.corrupt, "The audit entry \(row.seq) cannot be read (\(what)); run a journal verification.")
        }
        guard let kind = AuditKind(rawValue: row.kind) else { throw damaged("unknown kind '\(row.kind)'") }
        guard let date = Timestamp.date(row.at) else { throw damaged("time '\(row.at)'") }
        guard let previousHash = SHA256Hex(row.previousHash), let hash = SHA256Hex(row.hash) else {
            throw damaged("hash not hex")
        }
        let actor: AuditActor
        let event: AuditEvent
        do {
            actor = try decoder.decode(AuditActor.self, from: Data(row.actor.utf8))
            let detail = try decoder.decode(AuditEvent.detailType(of: kind), from: Data(row.detail.utf8))
            guard let decoded = AuditEvent.event(kind: kind, detail: detail) else { throw damaged("detail of another kind") }
            event = decoded
        } catch let error as StoreError {
            throw error
        } catch {
            throw damaged("detail or actor: \(error)")
        }
        return AuditEntry(
            seq: row.seq, at: row.at, date: date, actor: actor, event: event, actorJSON: row.actor,
            detailJSON: row.detail, previousHash: previousHash, hash: hash)
    }
}

// MARK: - The journal's API

extension Registry {
    /// Appends an event that changes nothing else in the registry: a login, a signature, a
    /// refusal, a token inserted or removed, a revocation, a configuration load, an access denied.
    ///
    /// Fails with `.notAppendable` for the kinds the registry writes itself (`operator-added`,
    /// `role-changed`, … : they come with their change) and for a detail whose text breaks the
    /// shape rules (blank, too long, control characters).
    @discardableResult
    public func append(_ event: AuditEvent, by actor: AuditActor) async throws -> AuditEntry {
        try Self.checkAppendable(event)
        let at = now
        let row = try await write("append to the audit journal") { db in
            try Journal.append(db, event, by: actor, at: at)
        }
        return try Journal.entry(row, decoder: JSONDecoder())
    }

    /// Appends several events in one transaction (all or none), in order; returns the new head.
    /// Same rules as `append(_:by:)`.
    @discardableResult
    public func append(contentsOf events: [AuditEvent], by actor: AuditActor) async throws -> JournalHead {
        for event in events {
            try Self.checkAppendable(event)
        }
        let at = now
        let (seq, hash) = try await write("append to the audit journal") { db in
            var writer = try Journal.Writer(db)
            for event in events {
                try writer.append(db, event, by: actor, at: at)
            }
            return (writer.seq, writer.hash)
        }
        guard let head = SHA256Hex(hash) else {
            throw StoreError(.corrupt, "The audit journal's newest hash '\(hash)' is not hex.")
        }
        return JournalHead(seq: seq, hash: head)
    }

    static func checkAppendable(_ event: AuditEvent) throws {
        if event.kind.isRegistryChange {
            throw StoreError(
                .notAppendable,
                "A '\(event.kind.rawValue)' entry is written by the registry with its change, never appended on its own.",
                field: "kind")
        }
        if let problem = event.problem {
            throw StoreError(.notAppendable, problem.sentence, field: problem.field)
        }
    }

    /// Entries with `seq` greater than `after`, oldest first, at most `limit` of them.
    public func auditEntries(after seq: Int64 = 0, limit: Int = 100) async throws -> [AuditEntry] {
        let rows = try await read("read the audit journal") { db in
            try AuditRow.filter(Column("seq") > seq).order(Column("seq")).limit(max(0, limit)).fetchAll(db)
        }
        let decoder = JSONDecoder()
        return try rows.map { try Journal.entry($0, decoder: decoder) }
    }

    /// The newest entry's seq and hash (seq 0 and the genesis hash for an empty journal).
    public func journalHead() async throws -> JournalHead {
        let last = try await read("read the audit journal's head") { db -> AuditRow? in
            try AuditRow.order(Column("seq").desc).fetchOne(db)
        }
        guard let last else { return JournalHead(seq: 0, hash: AuditChain.genesis) }
        guard let hash = SHA256Hex(last.hash) else {
            throw StoreError(.corrupt, "The audit entry \(last.seq) holds '\(last.hash)' as its hash, which is not hex.")
        }
        return JournalHead(seq: last.seq, hash: hash)
    }

    /// Stores a signature the daemon made on a token over the journal head (`seq`, `hash`; the
    /// bytes signed are `AuditChain.headSigningInput(seq:hash:)`) and appends a `head-signed`
    /// entry, in one transaction. This module does not check the signature itself; it checks that
    /// the head is an entry of this journal with that hash.
    ///
    /// Fails with `.headMismatch` (no entry `seq` with hash `hash`) or `.invalidField`
    /// (signature empty, certificateDER not a certificate, algorithm blank).
    @discardableResult
    public func recordHeadSignature(
        seq: Int64, hash: SHA256Hex, signature: [UInt8], certificateDER: [UInt8], algorithm: String,
        by actor: AuditActor = .daemon
    ) async throws -> HeadSignature {
        guard !signature.isEmpty else {
            throw StoreError(.invalidField, "The signature must not be empty.", field: "signature")
        }
        if let problem = FieldRules.text(algorithm, field: "algorithm", maximumLength: 64) {
            throw StoreError(problem)
        }
        let certificate = try ParsedCertificate(der: certificateDER, field: "certificateDER")
        let at = now
        let row = try await write("record a head signature") { db in
            guard let entry = try AuditRow.fetchOne(db, key: seq) else {
                throw StoreError(.headMismatch, "The audit journal has no entry \(seq) to vouch for.", field: "seq")
            }
            guard entry.hash == hash.hex else {
                throw StoreError(
                    .headMismatch, "The audit entry \(seq) has hash \(entry.hash), not the \(hash.hex) that was signed.",
                    field: "hash")
            }
            let headSigned = try Journal.append(
                db,
                .headSigned(
                    .init(seq: seq, hash: hash, certificateSHA256: certificate.sha256, algorithm: algorithm)),
                by: actor, at: at)
            var row = HeadSignatureRow(
                id: nil, seq: seq, hash: hash.hex, signature: Data(signature), certificateDER: Data(certificateDER),
                certificateSHA256: certificate.sha256.hex, algorithm: algorithm, recordedAt: at,
                auditSeq: headSigned.seq)
            try row.insert(db)
            return row
        }
        return try Self.headSignature(row)
    }

    /// Every stored head signature, oldest first.
    public func headSignatures() async throws -> [HeadSignature] {
        let rows = try await read("read head signatures") { db in
            try HeadSignatureRow.order(Column("id")).fetchAll(db)
        }
        return try rows.map(Self.headSignature)
    }

    static func headSignature(_ row: HeadSignatureRow) throws -> HeadSignature {
        guard let hash = SHA256Hex(row.hash), let certificateSHA256 = SHA256Hex(row.certificateSHA256) else {
            throw StoreError(.corrupt, "The head signature over entry \(row.seq) holds a hash that is not hex.")
        }
        return HeadSignature(
            seq: row.seq, hash: hash, signature: Array(row.signature), certificateDER: Array(row.certificateDER),
            certificateSHA256: certificateSHA256, algorithm: row.algorithm,
            recordedAt: try date(row.recordedAt, "audit_head_signatures.recordedAt"), auditSeq: row.auditSeq)
    }

    /// Walks the whole chain, streaming rows (memory stays flat however long the journal is), and
    /// names the first entry that fails:
    /// - a gap: entry n is missing (deleted) — broken at n;
    /// - `previousHash` not the previous entry's hash (the first entry's not 64 zeros);
    /// - `hash` not the hash of the entry's own columns (the entry was edited);
    /// - a stored head signature over entry n naming another hash than entry n now has, or over
    ///   an entry past the end (the newest entries were cut off).
    ///
    /// Reads one snapshot, so appends made meanwhile neither disturb nor appear in the walk.
    public func verifyJournal() async throws -> JournalVerification {
        let result = try await walkJournal()
        switch result {
        case .intact(let entries, let head):
            logger.log(.info, "audit journal intact: \(entries) entries, head \(head.hex)")
        case .broken(let seq, let reason):
            logger.log(.error, "audit journal broken at entry \(seq): \(reason)")
        }
        return result
    }

    private func walkJournal() async throws -> JournalVerification {
        try await read("verify the audit journal") { db -> JournalVerification in
            var signedHeads: [Int64: [String]] = [:]
            // CAST: whatever someone stored there, it reads without a type error.
            let signatures = try Row.fetchAll(
                db, sql: "SELECT CAST(seq AS INTEGER), CAST(hash AS TEXT) FROM audit_head_signatures")
            for row in signatures {
                let seq: Int64? = row[0]
                let hash: String? = row[1]
                if let seq { signedHeads[seq, default: []].append(hash ?? "") }
            }
            var expected: Int64 = 1
            var previous = AuditChain.genesis.hex
            var buffer: [UInt8] = []
            buffer.reserveCapacity(4096)
            // SQLite says which columns are not text, so that the loop can read text the fast way
            // (a non-text value read as String would stop the process).
            let cursor = try Row.fetchCursor(
                db,
                sql: """
                    SELECT seq, at, actor, kind, detail, previousHash, hash,
                        CASE
                            WHEN typeof(at) <> 'text' THEN 'at'
                            WHEN typeof(actor) <> 'text' THEN 'actor'
                            WHEN typeof(kind) <> 'text' THEN 'kind'
                            WHEN typeof(detail) <> 'text' THEN 'detail'
                            WHEN typeof(previousHash) <> 'text' THEN 'previousHash'
                            WHEN typeof(hash) <> 'text' THEN 'hash'
                        END
                    FROM audit ORDER BY seq
                    """)
            while let row = try cursor.next() {
                // seq is the table's INTEGER PRIMARY KEY (the rowid): always an integer.
                let seq: Int64 = row[0]
                if seq != expected {
                    return seq > expected
                        ? .broken(
                            at: expected,
                            reason: "entry \(expected) is missing (the next entry is \(seq)): entries were deleted")
                        : .broken(at: seq, reason: "entry \(seq) comes out of order after entry \(expected - 1)")
                }
                if let column: String = row[7] {
                    return .broken(at: seq, reason: "its \(column) is not text")
                }
                let at: String = row[1]
                let actor: String = row[2]
                let kind: String = row[3]
                let detail: String = row[4]
                let previousHash: String = row[5]
                let storedHash: String = row[6]
                if previousHash != previous {
                    return .broken(
                        at: seq,
                        reason: seq == 1
                            ? "its previousHash is not the genesis hash (64 zeros)"
                            : "its previousHash does not match the hash of entry \(seq - 1)")
                }
                AuditChain.encode(
                    into: &buffer, seq: seq, at: at, actor: actor, kind: kind, detail: detail, previousHash: previousHash)
                let computed = SHA256Hex(bytes: SHA256.hash(buffer))!.hex
                if computed != storedHash {
                    return .broken(
                        at: seq, reason: "its hash does not match its content (computed \(computed)): the entry was changed")
                }
                if let signed = signedHeads[seq], let other = signed.first(where: { $0 != storedHash }) {
                    return .broken(
                        at: seq,
                        reason: "a head signature vouches for entry \(seq) with hash \(other), but the entry's hash is "
                            + "\(storedHash): the journal was rewritten")
                }
                previous = storedHash
                expected += 1
            }
            let count = expected - 1
            if let furthest = signedHeads.keys.max(), furthest > count {
                return .broken(
                    at: count + 1,
                    reason: "the journal ends at entry \(count), but a head signature vouches for entry \(furthest): "
                        + "entries were removed from the end")
            }
            guard let head = SHA256Hex(previous) else {
                return .broken(at: count, reason: "its hash is not hex")
            }
            return .intact(entries: count, head: head)
        }
    }
}
