public import Foundation
public import PaysignDomain
import GRDB
import PaysignOpenSSL

// MARK: - The certification authority: token lifecycle, holders' service, revocation lists (D6)

/// A certificate of a revoked or surrendered token, as a CRL lists it.
public struct RevokedCertificate: Sendable, Hashable {
    public var serialHex: String
    public var certificateSHA256: SHA256Hex
    public var tokenSerial: String
    public var revocation: TokenRevocation

    public init(serialHex: String, certificateSHA256: SHA256Hex, tokenSerial: String, revocation: TokenRevocation) {
        self.serialHex = serialHex
        self.certificateSHA256 = certificateSHA256
        self.tokenSerial = tokenSerial
        self.revocation = revocation
    }
}

/// A revocation list the registry holds: issued here on the authority's token, or imported.
public struct StoredCRL: Sendable, Hashable {
    public enum Source: String, Sendable, Hashable, Codable { case issued, imported }

    public var issuerKeyID: String
    public var issuer: String
    /// The CRL number, upper-case hex without leading zeros.
    public var number: String
    public var thisUpdate: Date
    public var nextUpdate: Date?
    public var derEncoded: [UInt8]
    public var sha256: SHA256Hex
    public var source: Source
    public var recordedAt: Date

    public init(
        issuerKeyID: String, issuer: String, number: String, thisUpdate: Date, nextUpdate: Date?, derEncoded: [UInt8],
        sha256: SHA256Hex, source: Source, recordedAt: Date
    ) {
        self.issuerKeyID = issuerKeyID
        self.issuer = issuer
        self.number = number
        self.thisUpdate = thisUpdate
        self.nextUpdate = nextUpdate
        self.derEncoded = derEncoded
        self.sha256 = sha256
        self.source = source
        self.recordedAt = recordedAt
    }

    /// The number as 40 hex digits, zero-padded: text order is number order. Nil when the text
    /// is not hex or longer than 20 bytes (RFC 5280 5.2.3).
    public static func numberKey(_ hex: String) -> String? {
        // ASCII only: Character.isHexDigit also takes fullwidth digits, which would sort above all.
        guard !hex.isEmpty, hex.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x46).contains($0) || (0x61...0x66).contains($0) }) else {
            return nil
        }
        let digits = hex.uppercased().drop { $0 == "0" }
        guard digits.count <= 40 else { return nil }
        return String(repeating: "0", count: 40 - digits.count) + digits
    }
}

extension Registry {
    /// Moves a token along the lifecycle (`TokenState.allows`). Revoking or surrendering needs a
    /// cause; it records the RFC 5280 reason the cause maps to and the invalidity date, and takes
    /// the holder's signing roles away in the same transaction (their place among the entity's
    /// two first signers is free again, D3). Appends `token-state-changed` (and `role-changed`).
    ///
    /// Fails with `.unknownToken`, `.wrongState` (the action is not allowed from the token's
    /// state; the sentence lists the allowed ones), or `.invalidField` (cause missing, note too
    /// long, an invalidity date after now).
    @discardableResult
    public func transitionToken(
        id: TokenRecord.ID, action: TokenAction, cause: RevocationCause? = nil, invalidityDate: Date? = nil,
        note: String? = nil, by actor: AuditActor, decide: RoleDecision? = nil
    ) async throws -> TokenRecord {
        let ending = action == .revoke || action == .surrender
        if ending && cause == nil {
            throw StoreError(.invalidField, "Give the cause of the \(action.rawValue): \(RevocationCause.allCases.map(\.rawValue).joined(separator: ", ")).", field: "cause")
        }
        if !ending && (cause != nil || invalidityDate != nil) {
            throw StoreError(.invalidField, "A cause and an invalidity date go with a revocation or a surrender only.", field: "cause")
        }
        if let note, let problem = FieldRules.text(note, field: "note", maximumLength: 500) { throw StoreError(problem) }
        let at = now
        let nowDate = clock()
        if let invalidityDate, invalidityDate > nowDate.addingTimeInterval(60) {
            throw StoreError(.invalidField, "The invalidity date is in the future; it is when the key stopped being trustworthy.", field: "invalidityDate")
        }
        let logger = self.logger
        return try await write("change a token's state") { db in
            try decide?.check(db)
            guard var row = try TokenRow.fetchOne(db, key: id) else {
                throw StoreError(.unknownToken, "The token \(id) is not in the registry.", field: "token")
            }
            guard let from = TokenState(rawValue: row.state) else {
                throw StoreError(.corrupt, "The token '\(row.serial)' is in the unknown state '\(row.state)'.")
            }
            guard from.allows(action) else {
                let allowed = from.allowedActions.map(\.rawValue)
                throw StoreError(
                    .wrongState,
                    "The token '\(row.serial)' is \(from.rawValue): it cannot be \(Self.pastTense(action))"
                        + (allowed.isEmpty ? "; it is out of service for good." : " (allowed: \(allowed.joined(separator: ", "))).")
                        + "",
                    field: "action", rule: .d6)
            }
            let to = TokenState.after(action)
            row.state = to.rawValue
            row.stateChangedAt = at
            var invalidityText: String?
            if ending, let cause {
                row.revokedAt = at
                row.revocationCause = cause.rawValue
                row.revocationReason = cause.reason.rawValue
                invalidityText = invalidityDate.map(Timestamp.string)
                row.invalidityDate = invalidityText
            }
            try row.update(db)
            try Journal.append(
                db,
                .tokenStateChanged(
                    .init(
                        tokenID: id, serial: row.serial, action: action, from: from, to: to, holder: row.holderID,
                        cause: cause, reason: cause?.reason, invalidityDate: invalidityText, note: note)),
                by: actor, at: at)
            if ending, let holder = row.holderID {
                try Self.removeSigningRoles(db, operator: holder, by: actor, at: at, logger: logger)
            }
            let certificates = try TokenCertificateRow.filter(Column("tokenID") == id)
                .order(Column("notBefore"), Column("sha256")).fetchAll(db)
            return try Self.token(row, certificates: certificates)
        }
    }

    static func pastTense(_ action: TokenAction) -> String {
        switch action {
        case .activate: return "activated"
        case .suspend: return "suspended"
        case .resume: return "resumed"
        case .surrender: return "surrendered"
        case .revoke: return "revoked"
        }
    }

    /// A token left service: its holder no longer signs, and frees their place (D3). The on-site
    /// rule is not applied here: a revocation is never refused; the holders report shows an
    /// entity left without an on-site first signer.
    static func removeSigningRoles(_ db: Database, operator id: Operator.ID, by actor: AuditActor, at: String, logger: RegistryLogger) throws {
        guard let row = try OperatorRow.fetchOne(db, key: id), let op = try operators(db, rows: [row], logger: logger).first else { return }
        let signing: Set<Role> = [.firstSigner, .secondSigner]
        guard !op.roles.isDisjoint(with: signing) else { return }
        // Only when no other live token still lets them sign.
        let live = try TokenRow.filter(Column("holderID") == id && [TokenState.issued.rawValue, TokenState.active.rawValue, TokenState.suspended.rawValue].contains(Column("state"))).fetchCount(db)
        guard live == 0 else { return }
        let after = op.roles.subtracting(signing)
        try OperatorRoleRow.filter(Column("operatorID") == id && signing.map(\.rawValue).contains(Column("role"))).deleteAll(db)
        try Journal.append(db, .roleChanged(.init(operatorID: id, unixUser: op.unixUser, before: op.roles, after: after)), by: actor, at: at)
    }

    /// The token with this registry id.
    public func token(id: TokenRecord.ID) async throws -> TokenRecord? {
        try await read("read a token") { db in
            guard let row = try TokenRow.fetchOne(db, key: id) else { return nil }
            let certificates = try TokenCertificateRow.filter(Column("tokenID") == id)
                .order(Column("notBefore"), Column("sha256")).fetchAll(db)
            return try Self.token(row, certificates: certificates)
        }
    }

    /// Every certificate of a revoked or surrendered token, by certificate serial: what the next
    /// CRL lists.
    public func revokedCertificates() async throws -> [RevokedCertificate] {
        try await read("list revoked certificates") { db in
            let rows = try TokenRow.filter([TokenState.revoked.rawValue, TokenState.surrendered.rawValue].contains(Column("state"))).fetchAll(db)
            var out: [RevokedCertificate] = []
            for row in rows {
                guard let id = row.id, let revocation = try Self.revocation(row) else { continue }
                for certificate in try TokenCertificateRow.filter(Column("tokenID") == id).fetchAll(db) {
                    guard let sha = SHA256Hex(certificate.sha256) else { continue }
                    out.append(RevokedCertificate(serialHex: certificate.serialHex, certificateSHA256: sha, tokenSerial: row.serial, revocation: revocation))
                }
            }
            return out.sorted { $0.serialHex.count != $1.serialHex.count ? $0.serialHex.count < $1.serialHex.count : $0.serialHex < $1.serialHex }
        }
    }

    // MARK: Holders' service (D6)

    /// Sets (or clears, nil) a holder's retirement date. Appends `retirement-date-set`.
    @discardableResult
    public func setRetirementDate(operator id: Operator.ID, _ date: CalendarDay?, by actor: AuditActor) async throws -> Operator {
        let at = now
        let logger = self.logger
        return try await write("set a retirement date") { db in
            guard var row = try OperatorRow.fetchOne(db, key: id) else {
                throw StoreError(.unknownOperator, "The operator \(id) is not in the registry.", field: "operator")
            }
            row.retirementDate = date?.description
            try row.update(db)
            try Journal.append(db, .retirementDateSet(.init(operatorID: id, unixUser: row.unixUser, retirementDate: date)), by: actor, at: at)
            guard let op = try Self.operators(db, rows: [row], logger: logger).first else {
                throw StoreError(.corrupt, "The operator \(id) cannot be read back.")
            }
            return op
        }
    }

    /// Clears a holder to leave (retirement, transfer, secondment): refused while they hold a
    /// token that is not surrendered or revoked (D6). Removes every role and records the
    /// clearance. Appends `holder-cleared`.
    @discardableResult
    public func clearHolder(operator id: Operator.ID, by actor: AuditActor, decide: RoleDecision? = nil) async throws -> Operator {
        let at = now
        let logger = self.logger
        return try await write("clear a holder") { db in
            try decide?.check(db)
            guard var row = try OperatorRow.fetchOne(db, key: id), let op = try Self.operators(db, rows: [row], logger: logger).first else {
                throw StoreError(.unknownOperator, "The operator \(id) is not in the registry.", field: "operator")
            }
            let live = try TokenRow.filter(Column("holderID") == id && [TokenState.issued.rawValue, TokenState.active.rawValue, TokenState.suspended.rawValue].contains(Column("state")))
                .order(Column("serial")).fetchAll(db)
            if !live.isEmpty {
                let list = live.map { "'\($0.serial)' (\($0.state))" }.joined(separator: ", ")
                throw StoreError(
                    .ruleViolated,
                    "\(op.unixUser) still holds token \(list); the token is surrendered to the certification authority, or revoked, before the holder is cleared (rule D6).",
                    field: "operator", rule: .d6)
            }
            row.clearedAt = at
            try row.update(db)
            try OperatorRoleRow.filter(Column("operatorID") == id).deleteAll(db)
            try Journal.append(db, .holderCleared(.init(operatorID: id, unixUser: op.unixUser, rolesRemoved: Array(op.roles))), by: actor, at: at)
            guard let cleared = try Self.operators(db, rows: [row], logger: logger).first else {
                throw StoreError(.corrupt, "The operator \(id) cannot be read back.")
            }
            return cleared
        }
    }

    /// Records a holder's death notice (D6: within a week; a later one is accepted and flagged)
    /// and revokes every token still in service, cause `death`, invalid from the date of death.
    /// Appends `death-notified`, then `token-state-changed` per token.
    public func recordDeathNotice(
        operator id: Operator.ID, _ notice: DeathNotice, by actor: AuditActor, decide: RoleDecision? = nil
    ) async throws
        -> (holder: Operator, revoked: [TokenRecord])
    {
        if let problem = FieldRules.text(notice.reference, field: "reference", maximumLength: 200) { throw StoreError(problem) }
        guard notice.delayDays >= 0 else {
            throw StoreError(.invalidField, "The notice is dated before the death it reports.", field: "notifiedOn")
        }
        let at = now
        let today = CalendarDay(clock(), in: TimeZone(identifier: "UTC")!)
        guard notice.notifiedOn <= today else {
            throw StoreError(.invalidField, "The notice is dated in the future (\(notice.notifiedOn)).", field: "notifiedOn")
        }
        let logger = self.logger
        let invalidity = Date(timeIntervalSince1970: TimeInterval(notice.dateOfDeath.daysSince1970) * 86_400)
        return try await write("record a death notice") { db in
            try decide?.check(db)
            guard var row = try OperatorRow.fetchOne(db, key: id) else {
                throw StoreError(.unknownOperator, "The operator \(id) is not in the registry.", field: "operator")
            }
            if row.deathDate != nil {
                throw StoreError(.duplicate, "A death notice for \(row.unixUser) is already recorded.", field: "operator")
            }
            row.deathDate = notice.dateOfDeath.description
            row.deathNotifiedOn = notice.notifiedOn.description
            row.deathNoticeReference = notice.reference
            try row.update(db)
            try Journal.append(db, .deathNotified(.init(operatorID: id, unixUser: row.unixUser, notice: notice)), by: actor, at: at)
            var revoked: [TokenRecord] = []
            let live = try TokenRow.filter(Column("holderID") == id && [TokenState.issued.rawValue, TokenState.active.rawValue, TokenState.suspended.rawValue].contains(Column("state"))).fetchAll(db)
            for var token in live {
                guard let tokenID = token.id, let from = TokenState(rawValue: token.state) else { continue }
                token.state = TokenState.revoked.rawValue
                token.stateChangedAt = at
                token.revokedAt = at
                token.revocationCause = RevocationCause.death.rawValue
                token.revocationReason = RevocationCause.death.reason.rawValue
                token.invalidityDate = Timestamp.string(invalidity)
                try token.update(db)
                try Journal.append(
                    db,
                    .tokenStateChanged(
                        .init(tokenID: tokenID, serial: token.serial, action: .revoke, from: from, to: .revoked, holder: id,
                            cause: .death, reason: RevocationCause.death.reason, invalidityDate: token.invalidityDate,
                            note: "death notice \(notice.reference)")),
                    by: actor, at: at)
                let certificates = try TokenCertificateRow.filter(Column("tokenID") == tokenID).fetchAll(db)
                revoked.append(try Self.token(token, certificates: certificates))
            }
            if !live.isEmpty { try Self.removeSigningRoles(db, operator: id, by: actor, at: at, logger: logger) }
            guard let holder = try Self.operators(db, rows: [row], logger: logger).first else {
                throw StoreError(.corrupt, "The operator \(id) cannot be read back.")
            }
            return (holder, revoked)
        }
    }

    // MARK: Revocation lists

    /// Records a revocation list, issued here or imported (already verified against the trust
    /// anchors by the caller). Refuses one whose number is not above the highest held for the
    /// same issuer key (`.staleCRL`: an older or replayed list never replaces a newer one).
    /// Appends `crl-issued` or `crl-imported`.
    @discardableResult
    public func recordCRL(
        issuerKeyID: String, issuer: String, number: String, thisUpdate: Date, nextUpdate: Date?, derEncoded: [UInt8],
        entries: Int, source: StoredCRL.Source, by actor: AuditActor
    ) async throws -> StoredCRL {
        guard let key = StoredCRL.numberKey(number) else {
            throw StoreError(.invalidField, "The CRL number '\(number)' is not a number of at most 20 bytes.", field: "number")
        }
        guard !issuerKeyID.isEmpty else { throw StoreError(.invalidField, "The CRL names no issuer key.", field: "issuerKeyID") }
        let digest = SHA256Hex(bytes: SHA256.hash(derEncoded))!
        let at = now
        let display = String(key.drop { $0 == "0" }).isEmpty ? "0" : String(key.drop { $0 == "0" })
        return try await write("record a revocation list") { db in
            if let held = try CRLRow.filter(Column("issuerKeyID") == issuerKeyID).order(Column("numberKey").desc).fetchOne(db),
                held.numberKey >= key
            {
                let heldNumber = String(held.numberKey.drop { $0 == "0" })
                throw StoreError(
                    .staleCRL,
                    "This revocation list is number \(display), not newer than number \(heldNumber.isEmpty ? "0" : heldNumber) already held from the same authority; the held list stays.",
                    field: "number")
            }
            var row = CRLRow(
                id: nil, issuerKeyID: issuerKeyID, issuer: issuer, numberKey: key, thisUpdate: Timestamp.string(thisUpdate),
                nextUpdate: nextUpdate.map(Timestamp.string), der: Data(derEncoded), sha256: digest.hex, source: source.rawValue,
                recordedAt: at)
            try row.insert(db)
            let detail = AuditEvent.CRLRecorded(
                issuer: issuer, number: display, thisUpdate: row.thisUpdate, nextUpdate: row.nextUpdate, entries: entries, sha256: digest)
            try Journal.append(db, source == .issued ? .crlIssued(detail) : .crlImported(detail), by: actor, at: at)
            return try Self.crl(row)
        }
    }

    /// The newest revocation list held (for one issuer key, or of any issuer).
    public func latestCRL(issuerKeyID: String? = nil) async throws -> StoredCRL? {
        try await read("read the latest revocation list") { db in
            var request = CRLRow.all()
            if let issuerKeyID { request = request.filter(Column("issuerKeyID") == issuerKeyID) }
            // Numbers order the lists of one issuer key only; across keys (a new authority key starts
            // again at 1, an imported list has its authority's numbering) the newest is the latest issued.
            let ordering = issuerKeyID == nil ? [Column("thisUpdate").desc, Column("id").desc] : [Column("numberKey").desc, Column("id").desc]
            guard let row = try request.order(ordering).fetchOne(db) else { return nil }
            return try Self.crl(row)
        }
    }

    /// The newest revocation list of every issuer key held.
    public func latestCRLs() async throws -> [StoredCRL] {
        try await read("read the revocation lists") { db in
            let rows = try CRLRow.fetchAll(
                db, sql: "SELECT * FROM crls c WHERE numberKey = (SELECT max(numberKey) FROM crls WHERE issuerKeyID = c.issuerKeyID) ORDER BY issuerKeyID")
            return try rows.map(Self.crl)
        }
    }

    /// The number the next CRL of this issuer key gets: one above the highest held (1 for the first).
    public func nextCRLNumber(issuerKeyID: String) async throws -> UInt64 {
        try await read("number the next revocation list") { db in
            guard let held = try String.fetchOne(db, sql: "SELECT max(numberKey) FROM crls WHERE issuerKeyID = ?", arguments: [issuerKeyID]) else {
                return 1
            }
            guard let value = UInt64(held.suffix(16), radix: 16), held.dropLast(16).allSatisfy({ $0 == "0" }), value < UInt64.max else {
                throw StoreError(.invalidField, "The CRL numbers held exceed 64 bits; paysign numbers its own lists below that.", field: "number")
            }
            return value + 1
        }
    }

    static func crl(_ row: CRLRow) throws -> StoredCRL {
        guard let sha = SHA256Hex(row.sha256), let source = StoredCRL.Source(rawValue: row.source) else {
            throw StoreError(.corrupt, "A revocation list row is damaged.")
        }
        let number = String(row.numberKey.drop { $0 == "0" })
        return StoredCRL(
            issuerKeyID: row.issuerKeyID, issuer: row.issuer, number: number.isEmpty ? "0" : number,
            thisUpdate: try date(row.thisUpdate, "crls.thisUpdate"), nextUpdate: try row.nextUpdate.map { try date($0, "crls.nextUpdate") },
            derEncoded: Array(row.der), sha256: sha, source: source, recordedAt: try date(row.recordedAt, "crls.recordedAt"))
    }
}
