public import Foundation
public import PaysignDomain
import GRDB
import PaysignOpenSSL

/// The daemon's registry (entities, operators and their roles, tokens and their certificates) and
/// its audit journal, in one SQLite file, `paysign.sqlite`, in the state directory.
///
/// Every change is one transaction that also appends its audit entry: the change and the record
/// of it are committed together or not at all. A change that is refused (a validation error, a
/// broken rule) writes nothing, not even to the journal.
///
/// Durability: a payment order is money, and an acknowledged change (an operator added, a
/// signature journaled) must survive a power cut. The database runs in WAL mode with
/// `synchronous = FULL`, so a transaction is on disk (WAL fsynced) before the call returns.
/// `NORMAL`, the usual WAL setting, could lose the last transactions on power loss.
///
/// Threading: GRDB's `DatabasePool` serialises writes on its own queue and runs reads
/// concurrently on snapshots; the async methods here never block a cooperative thread on SQLite.
public final class Registry: Sendable {
    /// The database file.
    public let databaseURL: URL
    let pool: DatabasePool
    let logger: RegistryLogger
    let clock: @Sendable () -> Date

    private init(databaseURL: URL, pool: DatabasePool, logger: RegistryLogger, clock: @escaping @Sendable () -> Date) {
        self.databaseURL = databaseURL
        self.pool = pool
        self.logger = logger
        self.clock = clock
    }

    /// The file name inside the state directory.
    public static let fileName = "paysign.sqlite"

    /// Opens (creating it if needed) the registry in `directory`, and brings its schema up to
    /// date.
    ///
    /// Refuses, with one sentence, rather than run on a database it cannot trust:
    /// - `.databaseTooNew` when the database has applied migrations this build does not know (a
    ///   newer paysignd wrote it; running would risk misreading or damaging it);
    /// - `.corrupt` when the file is not a SQLite database, fails `PRAGMA quick_check`, or holds
    ///   another application's tables;
    /// - `.notWritable` when the directory or the file cannot be created or written.
    ///
    /// `clock` gives the time stamped on audit entries and records (tests pass a fixed one).
    public static func open(
        at directory: URL, logger: RegistryLogger = .disabled, clock: @escaping @Sendable () -> Date = { Date() }
    ) async throws -> Registry {
        let databaseURL = directory.appendingPathComponent(fileName)
        let path = databaseURL.path
        try prepareDirectory(directory)

        var configuration = Configuration()
        configuration.label = "paysign-registry"
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // See the type's documentation: an acknowledged change survives a crash.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        // GRDB's DatabasePool puts its writer in WAL mode *after* prepareDatabase, and that sets
        // `synchronous = NORMAL`; the writer gets FULL back below (`synchronousMode`).

        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError.from(error, path: path, doing: "open")
        }
        do {
            let applied = try await checkBeforeMigrating(pool, path: path)
            let pending = Schema.knownMigrations.filter { !applied.contains($0) }
            if !pending.isEmpty {
                logger.log(.notice, "registry at \(path): applying migrations \(pending.joined(separator: ", "))")
            }
            try await migrate(pool)
            // Marks the file as paysign's; also a write, so that a database that opens but
            // cannot be written (read-only file or mount) is refused now, not at the first audit.
            try await pool.write { db in
                try db.execute(sql: "PRAGMA application_id = \(Schema.applicationID)")
            }
            try await pool.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA synchronous = FULL")
            }
        } catch {
            try? pool.close()
            let refusal = StoreError.from(error, path: path, doing: "open")
            logger.log(.error, refusal.description)
            throw refusal
        }
        logger.log(.info, "registry opened at \(path) (schema \(Schema.knownMigrations.joined(separator: ", ")))")
        return Registry(databaseURL: databaseURL, pool: pool, logger: logger, clock: clock)
    }

    /// The writer's `PRAGMA synchronous` (2: FULL), for the tests that hold it to its promise.
    public func synchronousMode() async throws -> Int {
        try await pool.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
    }

    /// Closes the database. Calls made after this throw.
    public func close() throws {
        do {
            try pool.close()
        } catch {
            throw StoreError.from(error, path: databaseURL.path, doing: "close")
        }
    }

    private static func prepareDirectory(_ directory: URL) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: directory.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw StoreError(
                    .notWritable,
                    "The state directory \(directory.path) is a file, not a directory; paysignd cannot keep its registry there.")
            }
            return
        }
        do {
            try manager.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StoreError(
                .notWritable,
                "paysignd cannot create its state directory \(directory.path); check the path and who owns its parent.",
                cause: String(describing: error))
        }
    }

    /// Refuses a database written by a newer paysignd, a damaged one, and another application's.
    /// Returns the migrations already applied.
    private static func checkBeforeMigrating(_ pool: DatabasePool, path: String) async throws -> Set<String> {
        struct Findings: Sendable {
            var applicationID: Int32
            var tables: [String]
            var applied: Set<String>
            var quickCheck: [String]
        }
        let findings = try await pool.read { db in
            Findings(
                applicationID: try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0,
                tables: try String.fetchAll(
                    db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"),
                applied: try Schema.migrator.appliedIdentifiers(db),
                quickCheck: try String.fetchAll(db, sql: "PRAGMA quick_check"))
        }
        if findings.quickCheck != ["ok"] {
            throw StoreError(
                .corrupt,
                "The registry at \(path) is damaged (SQLite's integrity check failed); move it aside and restore a backup.",
                cause: findings.quickCheck.prefix(3).joined(separator: "; "))
        }
        if findings.applicationID != 0 && findings.applicationID != Schema.applicationID
            || !findings.tables.isEmpty && !findings.tables.contains("grdb_migrations")
        {
            throw StoreError(
                .corrupt,
                "The file \(path) is a SQLite database of another application, not a paysign registry; move it aside.")
        }
        let unknown = findings.applied.subtracting(Schema.knownMigrations).sorted()
        if !unknown.isEmpty {
            let names = unknown.map { "'\($0)'" }.joined(separator: ", ")
            throw StoreError(
                .databaseTooNew,
                "The registry at \(path) was written by a newer paysignd (migration\(unknown.count == 1 ? "" : "s") "
                    + "\(names) unknown); upgrade paysignd or restore a backup.")
        }
        return findings.applied
    }

    private static func migrate(_ pool: DatabasePool) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Schema.migrator.asyncMigrate(pool) { result in
                switch result {
                case .success: continuation.resume()
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
        }
    }

    // MARK: Transactions

    /// One write transaction; any error rolls all of it back. GRDB and SQLite errors become
    /// `StoreError`s that say what was being done; an error of the caller's own code run inside
    /// the transaction (`CallerError`) comes out as the caller threw it.
    func write<T: Sendable>(_ doing: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.write(body)
        } catch let error as CallerError {
            throw error.underlying
        } catch {
            throw StoreError.from(error, path: databaseURL.path, doing: doing)
        }
    }

    func read<T: Sendable>(_ doing: String, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(body)
        } catch {
            throw StoreError.from(error, path: databaseURL.path, doing: doing)
        }
    }

    var now: String { Timestamp.string(clock()) }
}

// MARK: - Entities

extension Registry {
    /// Adds an entity. Fails with `.invalidField` (code or name) or `.duplicate` (code).
    @discardableResult
    public func addEntity(code: String, name: String, by actor: AuditActor) async throws -> Entity {
        let name = name.trimmingCharacters(in: .whitespaces)
        if let problem = FieldRules.entityCode(code) ?? FieldRules.text(name, field: "name") {
            throw StoreError(problem)
        }
        let at = now
        let row = EntityRow(code: code, name: name, addedAt: at)
        return try await write("add an entity") { db in
            if try EntityRow.fetchOne(db, key: code) != nil {
                throw StoreError(.duplicate, "An entity with code '\(code)' already exists.", field: "code")
            }
            try row.insert(db)
            try Journal.append(db, .entityAdded(.init(code: code, name: name)), by: actor, at: at)
            return try Self.entity(row)
        }
    }

    public func entity(code: String) async throws -> Entity? {
        try await read("read an entity") { db in
            try EntityRow.fetchOne(db, key: code).map(Self.entity)
        }
    }

    /// All entities, by code.
    public func entities() async throws -> [Entity] {
        try await read("list entities") { db in
            try EntityRow.order(Column("code")).fetchAll(db).map(Self.entity)
        }
    }

    static func entity(_ row: EntityRow) throws -> Entity {
        Entity(code: row.code, name: row.name, addedAt: try date(row.addedAt, "entities.addedAt"))
    }

    static func date(_ text: String, _ column: String) throws -> Date {
        guard let date = Timestamp.date(text) else {
            throw StoreError(.corrupt, "The registry holds '\(text)' in \(column), which is not an ISO 8601 time.")
        }
        return date
    }
}

// MARK: - Operators

extension Registry {
    /// Maps a Unix user to an operator with roles. `onSite` marks a first signer permanently
    /// present at the workplace (D3).
    ///
    /// Fails with `.invalidField` (unixUser, nationalID, name), `.duplicate` (unixUser),
    /// `.unknownEntity` (entityCode), or `.ruleViolated`: D13 (data-entry together with a signing
    /// role), D3 (a first signer belongs to an entity, an entity has at most two, and at least one
    /// of them is on-site).
    @discardableResult
    public func addOperator(
        unixUser: String, nationalID: String, name: String, entityCode: String?, roles: Set<Role>,
        onSite: Bool = false, by actor: AuditActor
    ) async throws -> Operator {
        let name = name.trimmingCharacters(in: .whitespaces)
        if let problem = FieldRules.unixUser(unixUser) ?? FieldRules.nationalID(nationalID)
            ?? FieldRules.text(name, field: "name")
        {
            throw StoreError(problem)
        }
        try Self.checkRoleCombination(roles)
        let at = now
        return try await write("add an operator") { db in
            if try OperatorRow.filter(Column("unixUser") == unixUser).fetchCount(db) > 0 {
                throw StoreError(
                    .duplicate, "The Unix user '\(unixUser)' is already mapped to an operator.", field: "unixUser")
            }
            if let entityCode, try EntityRow.fetchOne(db, key: entityCode) == nil {
                throw StoreError(
                    .unknownEntity, "The entityCode '\(entityCode)' names no entity in the registry.", field: "entityCode")
            }
            if roles.contains(.firstSigner) {
                try Self.checkFirstSignerLimit(db, entityCode: entityCode, excluding: nil)
            }
            try Self.checkScope(roles, entityCode: entityCode, unixUser: unixUser)
            var row = OperatorRow(
                id: nil, unixUser: unixUser, nationalID: nationalID, name: name, entityCode: entityCode, addedAt: at,
                onSite: onSite)
            try row.insert(db)
            guard let id = row.id else {
                throw StoreError(.database, "SQLite gave the new operator no id.")
            }
            for role in roles.sorted() {
                try OperatorRoleRow(operatorID: id, role: role.rawValue).insert(db)
            }
            if roles.contains(.firstSigner) {
                try Self.checkOnSiteFirstSigner(db, entityCode: entityCode)
            }
            let op = Operator(
                id: id, unixUser: unixUser, nationalID: nationalID, name: name, entityCode: entityCode, roles: roles,
                onSite: onSite, addedAt: try Self.date(at, "operators.addedAt"))
            try Journal.append(db, .operatorAdded(.init(op)), by: actor, at: at)
            return op
        }
    }

    public func `operator`(unixUser: String) async throws -> Operator? {
        let logger = self.logger
        return try await read("read an operator") { db in try Self.operator(db, unixUser: unixUser, logger: logger) }
    }

    public func `operator`(id: Operator.ID) async throws -> Operator? {
        let logger = self.logger
        return try await read("read an operator") { db in
            guard let row = try OperatorRow.fetchOne(db, key: id) else { return nil }
            return try Self.operators(db, rows: [row], logger: logger).first
        }
    }

    /// The registry's generation (v5-generation): it moves on with every change to entities,
    /// operators, roles, tokens and certificates. Read it before the facts of a decision, and give
    /// it to the write that records the act (`SignatureDecision.generation`).
    public func generation() async throws -> Int64 {
        try await read("read the registry's generation") { db in try Self.generation(db) }
    }

    /// The operator mapped to `unixUser` and the registry's generation read before it, in one
    /// read: the caller of a signature request (`SignatureDecision.generation`).
    public func operatorAndGeneration(unixUser: String) async throws -> (Operator?, Int64) {
        let logger = self.logger
        return try await read("read an operator") { db in
            let generation = try Self.generation(db)
            return (try Self.operator(db, unixUser: unixUser, logger: logger), generation)
        }
    }

    /// The operator mapped to `unixUser` as `db` sees it (a cached statement: every request reads
    /// its caller).
    static func `operator`(_ db: Database, unixUser: String, logger: RegistryLogger) throws -> Operator? {
        let statement = try db.cachedStatement(sql: "SELECT * FROM operators WHERE unixUser = ?")
        guard let row = try OperatorRow.fetchOne(statement, arguments: [unixUser]) else { return nil }
        return try operators(db, rows: [row], logger: logger).first
    }

    static func generation(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM registry_generation WHERE id = 1")) ?? 0
    }

    /// The operator with this id as the transaction `db` sees it (a cached statement: every
    /// recorded act reads its operator again).
    static func `operator`(_ db: Database, id: Operator.ID) throws -> Operator? {
        let statement = try db.cachedStatement(sql: "SELECT * FROM operators WHERE id = ?")
        guard let row = try OperatorRow.fetchOne(statement, arguments: [id]) else { return nil }
        return try operators(db, rows: [row], logger: .disabled).first
    }

    /// All operators, by Unix user.
    public func operators() async throws -> [Operator] {
        let logger = self.logger
        return try await read("list operators") { db in
            try Self.operators(db, rows: try OperatorRow.order(Column("unixUser")).fetchAll(db), logger: logger)
        }
    }

    /// Replaces an operator's roles. Appends `role-changed` (with the roles before and after) even
    /// when they are the same, so every successful call leaves a trace.
    ///
    /// Fails with `.unknownOperator` or `.ruleViolated`: D13 (data-entry together with a signing
    /// role, or for someone holding a token), D3 (at most two first signers, at least one on-site).
    @discardableResult
    public func setRoles(operator id: Operator.ID, roles: Set<Role>, by actor: AuditActor) async throws -> Operator {
        try Self.checkRoleCombination(roles)
        let at = now
        let logger = self.logger
        return try await write("change an operator's roles") { db in
            guard let row = try OperatorRow.fetchOne(db, key: id),
                var op = try Self.operators(db, rows: [row], logger: logger).first
            else {
                throw StoreError(.unknownOperator, "The operator \(id) is not in the registry.", field: "operator")
            }
            if roles.contains(.dataEntry) {
                // D5, D13: data-entry staff never hold a token.
                let held = try TokenRow.filter(Column("holderID") == id).order(Column("serial")).fetchAll(db)
                if !held.isEmpty {
                    throw StoreError(
                        .ruleViolated,
                        "The operator '\(op.unixUser)' holds token \(Self.quotedList(held.map(\.serial))); data-entry "
                            + "staff never hold a token or learn its PIN (rules D5, D13), so the token is surrendered "
                            + "first.",
                        field: "roles", rule: .d13)
                }
            }
            if roles.contains(.firstSigner) && !op.roles.contains(.firstSigner) {
                try Self.checkFirstSignerLimit(db, entityCode: op.entityCode, excluding: id)
            }
            try Self.checkScope(roles, entityCode: op.entityCode, unixUser: op.unixUser)
            let before = op.roles
            try OperatorRoleRow.filter(Column("operatorID") == id).deleteAll(db)
            for role in roles.sorted() {
                try OperatorRoleRow(operatorID: id, role: role.rawValue).insert(db)
            }
            if roles.contains(.firstSigner) || before.contains(.firstSigner) {
                try Self.checkOnSiteFirstSigner(db, entityCode: op.entityCode)
            }
            op.roles = roles
            try Journal.append(
                db, .roleChanged(.init(operatorID: id, unixUser: op.unixUser, before: before, after: roles)), by: actor,
                at: at)
            return op
        }
    }

    /// Removes an operator and their roles (D14). Refused while a registered token is still
    /// issued to them: the token is surrendered first (D6; `setTokenHolder(token:to: nil, …)`).
    ///
    /// Fails with `.unknownOperator` or `.ruleViolated` (D6; D3 when the last on-site first signer
    /// of an entity that keeps other first signers would go). Returns the operator as it was.
    @discardableResult
    public func removeOperator(_ id: Operator.ID, by actor: AuditActor) async throws -> Operator {
        let at = now
        let logger = self.logger
        return try await write("remove an operator") { db in
            guard let row = try OperatorRow.fetchOne(db, key: id),
                let op = try Self.operators(db, rows: [row], logger: logger).first
            else {
                throw StoreError(.unknownOperator, "The operator \(id) is not in the registry.", field: "operator")
            }
            let held = try TokenRow.filter(Column("holderID") == id).order(Column("serial")).fetchAll(db)
            if !held.isEmpty {
                let serials = held.map { "'\($0.serial)'" }.joined(separator: ", ")
                throw StoreError(
                    .ruleViolated,
                    "The operator '\(op.unixUser)' still holds token \(serials); a token is surrendered before its "
                        + "holder is removed (rule D6).",
                    field: "operator", rule: .d6)
            }
            _ = try OperatorRow.deleteOne(db, key: id)
            if op.roles.contains(.firstSigner) {
                try Self.checkOnSiteFirstSigner(db, entityCode: op.entityCode)
            }
            try Journal.append(db, .operatorRemoved(.init(operatorID: id, unixUser: op.unixUser)), by: actor, at: at)
            return op
        }
    }

    /// Rule D3: each entity has at most two first-signature holders (so a first signer must
    /// belong to an entity).
    static func checkFirstSignerLimit(_ db: Database, entityCode: String?, excluding id: Operator.ID?) throws {
        guard let entityCode else {
            throw StoreError(
                .ruleViolated,
                "A first signer must belong to an entity: rule D3 allows each entity at most two first-signature holders.",
                field: "entityCode", rule: .d3)
        }
        let holders = try String.fetchAll(
            db,
            sql: """
                SELECT o.unixUser FROM operators o JOIN operator_roles r ON r.operatorID = o.id
                WHERE r.role = ? AND o.entityCode = ? AND o.id IS NOT ? ORDER BY o.unixUser
                """,
            arguments: [Role.firstSigner.rawValue, entityCode, id])
        if holders.count >= 2 {
            throw StoreError(
                .ruleViolated,
                "The entity '\(entityCode)' already has two first-signature holders (\(holders.joined(separator: ", "))); "
                    + "rule D3 allows at most two.",
                field: "roles", rule: .d3)
        }
    }

    /// Rule D3: at least one of an entity's first-signature holders is permanently present at the
    /// workplace. Checked after a change to the entity's first signers, inside its transaction
    /// (throwing rolls the change back): an entity with first signers and none of them on-site is
    /// refused. An entity with no first signer at all has nobody to be present.
    static func checkOnSiteFirstSigner(_ db: Database, entityCode: String?) throws {
        guard let entityCode else { return }
        let holders = try Row.fetchAll(
            db,
            sql: """
                SELECT o.unixUser, o.onSite FROM operators o JOIN operator_roles r ON r.operatorID = o.id
                WHERE r.role = ? AND o.entityCode = ? ORDER BY o.unixUser
                """,
            arguments: [Role.firstSigner.rawValue, entityCode])
        guard !holders.isEmpty, !holders.contains(where: { ($0[1] as Bool?) == true }) else { return }
        let names = holders.map { $0[0] as String }.joined(separator: ", ")
        throw StoreError(
            .ruleViolated,
            "The entity '\(entityCode)' would have no on-site first-signature holder (its first signers: \(names)); "
                + "rule D3 requires at least one to be permanently present.",
            field: "onSite", rule: .d3)
    }

    /// Rule D13 (and D5): data-entry is for the accounting unit's staff, who never hold a token,
    /// never learn a PIN and never sign; a role set that makes one person both is refused.
    static func checkRoleCombination(_ roles: Set<Role>) throws {
        guard roles.contains(.dataEntry) else { return }
        let signing = roles.intersection([.firstSigner, .secondSigner]).sorted()
        guard !signing.isEmpty else { return }
        throw StoreError(
            .ruleViolated,
            "The roles data-entry and \(signing.map(\.rawValue).joined(separator: " and ")) cannot be held together: "
                + "data-entry staff never sign (rule D13).",
            field: "roles", rule: .d13)
    }

    /// Rules D3, D9, D13: the accounting unit's data entry, reviewers and first signers act for one
    /// entity (`OperatorScope`); an operator with such a role and no entity would be scoped to
    /// nothing, so the registry refuses to make one.
    static func checkScope(_ roles: Set<Role>, entityCode: String?, unixUser: String) throws {
        guard entityCode == nil, case .unassigned = OperatorScope(entityCode: nil, roles: roles) else { return }
        let bound = roles.intersection(OperatorScope.entityRoles).sorted()
        // The rule of the role: first signers are counted per entity (D3), data entry is the
        // accounting unit's (D13), reviewers review its files (D9).
        let rule: RuleNumber = bound.contains(.firstSigner) ? .d3 : bound.contains(.dataEntry) ? .d13 : .d9
        throw StoreError(
            .ruleViolated,
            "The operator '\(unixUser)' belongs to no entity, and the role \(bound.map(\.rawValue).joined(separator: " and ")) "
                + "acts for one entity only; give the entity's code (rule \(rule.rawValue)).",
            field: "entityCode", rule: rule)
    }

    /// `'A1', 'B2'`.
    static func quotedList(_ values: [String]) -> String {
        values.map { "'\($0)'" }.joined(separator: ", ")
    }

    /// Builds operators from their rows and their role rows. A role name this build does not know
    /// is left out (and logged): less power, never more.
    static func operators(_ db: Database, rows: [OperatorRow], logger: RegistryLogger) throws -> [Operator] {
        let ids = rows.compactMap(\.id)
        guard !ids.isEmpty else { return [] }
        var roles: [Int64: Set<Role>] = [:]
        let roleRows: [OperatorRoleRow]
        if ids.count == 1 {
            let statement = try db.cachedStatement(sql: "SELECT * FROM operator_roles WHERE operatorID = ?")
            roleRows = try OperatorRoleRow.fetchAll(statement, arguments: [ids[0]])
        } else {
            roleRows = try OperatorRoleRow.fetchAll(db)
        }
        for roleRow in roleRows {
            guard let role = Role(rawValue: roleRow.role) else {
                logger.log(.warning, "operator \(roleRow.operatorID) has the unknown role '\(roleRow.role)'; ignored")
                continue
            }
            roles[roleRow.operatorID, default: []].insert(role)
        }
        return try rows.compactMap { row in
            guard let id = row.id else { return nil }
            return Operator(
                id: id, unixUser: row.unixUser, nationalID: row.nationalID, name: row.name, entityCode: row.entityCode,
                roles: roles[id] ?? [], onSite: row.onSite, addedAt: try date(row.addedAt, "operators.addedAt"),
                service: try service(row))
        }
    }
}

// MARK: - Tokens

extension Registry {
    /// Registers a token and the certificates read from it (DER, as the token holds them). The
    /// serial, subject, validity and fingerprint stored for each certificate are read from the DER
    /// itself, never taken from the caller.
    ///
    /// Fails with `.invalidField` (serial, label, `certificates[i]` not DER), `.duplicate` (serial,
    /// a certificate already registered), `.unknownOperator` (holder), or `.ruleViolated` (D5: a
    /// certificate naming another person than the holder, by the national ID in its subject's
    /// `serialNumber`; D13: a holder with the data-entry role).
    @discardableResult
    public func registerToken(
        serial: String, label: String, holder: Operator.ID?, certificates: [[UInt8]], state: TokenState = .active,
        by actor: AuditActor, decide: RoleDecision? = nil
    ) async throws -> TokenRecord {
        guard state == .active || state == .issued else {
            throw StoreError(.invalidField, "A token is registered as issued or active, not \(state.rawValue).", field: "state")
        }
        if let problem = FieldRules.text(serial, field: "serial", maximumLength: 64)
            ?? (label.isEmpty ? nil : FieldRules.text(label, field: "label", maximumLength: 64))
        {
            throw StoreError(problem)
        }
        let parsed = try certificates.enumerated().map { index, der in
            try ParsedCertificate(der: der, field: "certificates[\(index)]")
        }
        if let duplicate = Self.firstDuplicate(parsed.map(\.sha256)) {
            throw StoreError(
                .duplicate, "The certificate \(duplicate.hex) is given twice.",
                field: "certificates[\(duplicate.index)]")
        }
        let at = now
        return try await write("register a token") { db in
            // Who may register, and who may register active (D6), decided on the registry as it
            // is at commit.
            try decide?.check(db)
            if try TokenRow.filter(Column("serial") == serial).fetchCount(db) > 0 {
                throw StoreError(.duplicate, "A token with serial '\(serial)' is already registered.", field: "serial")
            }
            if let holder {
                try Self.checkHolder(db, holder: holder, certificates: parsed)
            }
            for (index, certificate) in parsed.enumerated()
            where try TokenCertificateRow.fetchOne(db, key: certificate.sha256.hex) != nil {
                throw StoreError(
                    .duplicate, "The certificate \(certificate.sha256.hex) is already registered on another token.",
                    field: "certificates[\(index)]")
            }
            var row = TokenRow(
                id: nil, serial: serial, label: label, holderID: holder, registeredAt: at, pinChangedAt: nil,
                state: state.rawValue, stateChangedAt: at)
            try row.insert(db)
            guard let tokenID = row.id else {
                throw StoreError(.database, "SQLite gave the new token no id.")
            }
            for certificate in parsed {
                try certificate.row(tokenID: tokenID).insert(db)
            }
            let token = TokenRecord(
                id: tokenID, serial: serial, label: label, holder: holder,
                certificates: parsed.map { $0.registered(tokenID: tokenID) },
                registeredAt: try Self.date(at, "tokens.registeredAt"), state: state)
            try Journal.append(db, .tokenRegistered(.init(token)), by: actor, at: at)
            return token
        }
    }

    /// Issues a registered token to another operator, or records its surrender (`holder` nil,
    /// D6). Appends `token-holder-changed`.
    ///
    /// Fails with `.unknownToken`, `.unknownOperator` (holder) or `.ruleViolated` (D5, D13).
    @discardableResult
    public func setTokenHolder(token id: TokenRecord.ID, to holder: Operator.ID?, by actor: AuditActor) async throws
        -> TokenRecord
    {
        let at = now
        return try await write("change a token's holder") { db in
            guard var row = try TokenRow.fetchOne(db, key: id) else {
                throw StoreError(.unknownToken, "The token \(id) is not in the registry.", field: "token")
            }
            let certificates = try TokenCertificateRow.filter(Column("tokenID") == id).fetchAll(db)
            if let holder {
                try Self.checkHolder(
                    db, holder: holder,
                    certificates: try certificates.enumerated().map { index, certificate in
                        try ParsedCertificate(der: Array(certificate.der), field: "certificates[\(index)]")
                    })
            }
            let before = row.holderID
            row.holderID = holder
            try row.update(db)
            try Journal.append(
                db, .tokenHolderChanged(.init(tokenID: id, serial: row.serial, before: before, after: holder)),
                by: actor, at: at)
            return try Self.token(row, certificates: certificates)
        }
    }

    /// All tokens with their certificates, by serial.
    public func tokens() async throws -> [TokenRecord] {
        try await read("list tokens") { db in
            let rows = try TokenRow.order(Column("serial")).fetchAll(db)
            let certificates = Dictionary(
                grouping: try TokenCertificateRow.order(Column("notBefore"), Column("sha256")).fetchAll(db),
                by: \.tokenID)
            return try rows.map { row in try Self.token(row, certificates: row.id.flatMap { certificates[$0] } ?? []) }
        }
    }

    /// The token with this `CK_TOKEN_INFO.serialNumber`, if registered.
    public func token(serial: String) async throws -> TokenRecord? {
        try await read("read a token") { db in
            guard let row = try TokenRow.filter(Column("serial") == serial).fetchOne(db), let id = row.id else {
                return nil
            }
            let certificates = try TokenCertificateRow.filter(Column("tokenID") == id)
                .order(Column("notBefore"), Column("sha256")).fetchAll(db)
            return try Self.token(row, certificates: certificates)
        }
    }

    /// The holder exists, is not data-entry staff (D13, D5: they never hold a token or learn its
    /// PIN), and each certificate that carries a national ID names the holder (D5: a holder
    /// answers for every operation made with their key, so the key is theirs).
    static func checkHolder(_ db: Database, holder: Operator.ID, certificates: [ParsedCertificate]) throws {
        guard let op = try OperatorRow.fetchOne(db, key: holder) else {
            throw StoreError(.unknownOperator, "The holder \(holder) is not an operator in the registry.", field: "holder")
        }
        let isDataEntry = try OperatorRoleRow
            .filter(Column("operatorID") == holder && Column("role") == Role.dataEntry.rawValue).fetchCount(db) > 0
        if isDataEntry {
            throw StoreError(
                .ruleViolated,
                "The operator '\(op.unixUser)' has the data-entry role; data-entry staff never hold a token or learn "
                    + "its PIN (rules D5, D13).",
                field: "holder", rule: .d13)
        }
        for (index, certificate) in certificates.enumerated() {
            if let nationalID = certificate.subjectSerialNumber, nationalID != op.nationalID {
                throw StoreError(
                    .ruleViolated,
                    "The certificate \(certificate.sha256.hex) names national ID \(nationalID), not that of the holder "
                        + "'\(op.unixUser)'; a token is issued to the person its certificate names (rule D5).",
                    field: "certificates[\(index)]", rule: .d5)
            }
        }
    }

    /// The holder's service as the v3-authority columns hold it.
    static func service(_ row: OperatorRow) throws -> HolderService {
        func day(_ text: String?, _ column: String) throws -> CalendarDay? {
            guard let text else { return nil }
            guard let day = CalendarDay(iso: text) else {
                throw StoreError(.corrupt, "The registry holds '\(text)' in \(column), which is not a date.")
            }
            return day
        }
        var notice: DeathNotice?
        if let died = try day(row.deathDate, "operators.deathDate"),
            let notified = try day(row.deathNotifiedOn, "operators.deathNotifiedOn")
        {
            notice = DeathNotice(dateOfDeath: died, notifiedOn: notified, reference: row.deathNoticeReference ?? "")
        }
        return HolderService(
            retirementDate: try day(row.retirementDate, "operators.retirementDate"),
            clearedAt: try row.clearedAt.map { try date($0, "operators.clearedAt") }, deathNotice: notice)
    }

    /// How a token left service, from its v3-authority columns.
    static func revocation(_ row: TokenRow) throws -> TokenRevocation? {
        guard let at = row.revokedAt else { return nil }
        guard let cause = row.revocationCause.flatMap(RevocationCause.init(rawValue:)),
            let reason = row.revocationReason.flatMap(RevocationReason.init(rawValue:))
        else {
            throw StoreError(.corrupt, "The token '\(row.serial)' is revoked without a known cause and reason.")
        }
        return TokenRevocation(
            at: try date(at, "tokens.revokedAt"), cause: cause, reason: reason,
            invalidityDate: try row.invalidityDate.map { try date($0, "tokens.invalidityDate") })
    }

    static func token(_ row: TokenRow, certificates: [TokenCertificateRow]) throws -> TokenRecord {
        guard let id = row.id else { throw StoreError(.corrupt, "A token row has no id.") }
        guard let state = TokenState(rawValue: row.state) else {
            throw StoreError(.corrupt, "The token '\(row.serial)' is in the unknown state '\(row.state)'.")
        }
        return TokenRecord(
            id: id, serial: row.serial, label: row.label, holder: row.holderID,
            certificates: try certificates.map { certificate in
                guard let sha256 = SHA256Hex(certificate.sha256) else {
                    throw StoreError(
                        .corrupt, "The registry holds '\(certificate.sha256)' as a certificate fingerprint, which is not hex.")
                }
                return RegisteredCertificate(
                    tokenID: id, derEncoded: Array(certificate.der), serialHex: certificate.serialHex,
                    subject: certificate.subject,
                    notBefore: try date(certificate.notBefore, "token_certificates.notBefore"),
                    notAfter: try date(certificate.notAfter, "token_certificates.notAfter"), sha256: sha256)
            },
            registeredAt: try date(row.registeredAt, "tokens.registeredAt"),
            pinChangedAt: try row.pinChangedAt.map { try date($0, "tokens.pinChangedAt") }, state: state,
            revocation: try revocation(row))
    }

    static func firstDuplicate(_ digests: [SHA256Hex]) -> (hex: String, index: Int)? {
        var seen: Set<SHA256Hex> = []
        for (index, digest) in digests.enumerated() where !seen.insert(digest).inserted {
            return (digest.hex, index)
        }
        return nil
    }
}

/// What the registry keeps of a certificate, read from its DER by OpenSSL.
struct ParsedCertificate: Sendable {
    var der: [UInt8]
    var serialHex: String
    var subject: String
    var subjectSerialNumber: String?
    var notBefore: Date
    var notAfter: Date
    var sha256: SHA256Hex

    init(der: [UInt8], field: String) throws {
        let certificate: Certificate
        do {
            certificate = try Certificate(derEncoded: der)
        } catch {
            throw StoreError(
                .invalidField, "The \(field) is not a DER X.509 certificate.", field: field,
                cause: String(describing: error))
        }
        guard let sha256 = SHA256Hex(bytes: certificate.sha256Fingerprint) else {
            throw StoreError(.invalidField, "The \(field) has no SHA-256 fingerprint.", field: field)
        }
        self.der = der
        serialHex = certificate.serialNumber
        subject = certificate.subject
        subjectSerialNumber = certificate.subjectSerialNumber
        notBefore = certificate.notBefore
        notAfter = certificate.notAfter
        self.sha256 = sha256
    }

    func row(tokenID: Int64) -> TokenCertificateRow {
        TokenCertificateRow(
            sha256: sha256.hex, tokenID: tokenID, der: Data(der), serialHex: serialHex, subject: subject,
            notBefore: Timestamp.string(notBefore), notAfter: Timestamp.string(notAfter))
    }

    /// The value as read back: the dates at the millisecond precision they are stored with.
    func registered(tokenID: Int64) -> RegisteredCertificate {
        RegisteredCertificate(
            tokenID: tokenID, derEncoded: der, serialHex: serialHex, subject: subject,
            notBefore: Timestamp.date(Timestamp.string(notBefore)) ?? notBefore,
            notAfter: Timestamp.date(Timestamp.string(notAfter)) ?? notAfter, sha256: sha256)
    }
}

// MARK: - Errors from below

extension StoreError {
    /// Turns a GRDB or SQLite error into one sentence with the raw error as its cause.
    static func from(_ error: any Error, path: String, doing: String, file: String = #fileID, line: Int = #line)
        -> StoreError
    {
        if let error = error as? StoreError { return error }
        guard let error = error as? DatabaseError else {
            return StoreError(
                .database, "paysignd could not \(doing) in the registry at \(path).", cause: String(describing: error),
                file: file, line: line)
        }
        let cause = "SQLite error \(error.resultCode.rawValue): \(error.message ?? "no message")"
        switch error.resultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB:
            return StoreError(
                .corrupt,
                "The registry at \(path) is not a SQLite database or is damaged; move it aside and restore a backup.",
                cause: cause, file: file, line: line)
        case .SQLITE_CANTOPEN, .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
            return StoreError(
                .notWritable,
                "paysignd cannot write its registry at \(path); check that the state directory exists and belongs to "
                    + "the user paysignd runs as.",
                cause: cause, file: file, line: line)
        case .SQLITE_FULL:
            return StoreError(
                .database, "The disk holding the registry at \(path) is full; nothing was written.", cause: cause,
                file: file, line: line)
        case .SQLITE_CONSTRAINT:
            // A trigger that guards a rule, the last line under the domain's rule types, raises
            // `rule Dn: sentence`: its number is read back as the typed rule.
            if let refusal = TriggerRefusal(error.message) {
                return StoreError(.ruleViolated, refusal.sentence, rule: refusal.rule, cause: cause, file: file, line: line)
            }
            return StoreError(
                .database, "The registry refused to \(doing): the change breaks a constraint of its schema.",
                cause: cause, file: file, line: line)
        default:
            return StoreError(
                .database, "paysignd could not \(doing) in the registry at \(path).", cause: cause, file: file,
                line: line)
        }
    }
}

/// What a schema trigger that guards a rule says when it refuses a write: `RAISE(ABORT, 'rule D6:
/// the token is not active')`, read back as the typed rule and a sentence for the person.
struct TriggerRefusal {
    var rule: RuleNumber
    var sentence: String

    /// Sentences for the triggers of the shipped migrations, by rule (the migrations' own text is
    /// never edited).
    static let sentences: [RuleNumber: String] = [
        // `order_signatures_token_active` (v3-authority): the authority took the token out of
        // service while the signature was being made.
        .d6: "The token was suspended, surrendered or revoked while the signature was being made; the signature is discarded (rule D6).",
    ]

    init?(_ message: String?) {
        guard let message, message.hasPrefix("rule "), let colon = message.firstIndex(of: ":"),
            let rule = RuleNumber(rawValue: String(message[message.index(message.startIndex, offsetBy: 5)..<colon]))
        else { return nil }
        self.rule = rule
        let said = message[message.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        sentence = Self.sentences[rule] ?? "The registry refused the change: \(said) (rule \(rule.rawValue))."
    }
}
