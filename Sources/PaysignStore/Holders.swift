public import PaysignDomain
import GRDB

// MARK: - Holders: on-site first signers (D3), PIN changes (D5)

extension Registry {
    /// Marks whether an operator is permanently present at the workplace (D3: at least one of an
    /// entity's first-signature holders is). Appends `on-site-changed` even when the value is the
    /// same, so every successful call leaves a trace.
    ///
    /// Fails with `.unknownOperator`, or `.ruleViolated` (D3, field `onSite`) when the operator is
    /// a first signer and the change would leave their entity with first signers but none of
    /// them on-site.
    @discardableResult
    public func setOnSite(operator id: Operator.ID, onSite: Bool, by actor: AuditActor) async throws -> Operator {
        let at = now
        let logger = self.logger
        return try await write("change whether an operator is on-site") { db in
            guard var row = try OperatorRow.fetchOne(db, key: id),
                var op = try Self.operators(db, rows: [row], logger: logger).first
            else {
                throw StoreError(.unknownOperator, "The operator \(id) is not in the registry.", field: "operator")
            }
            row.onSite = onSite
            try row.update(db)
            if op.roles.contains(.firstSigner) {
                try Self.checkOnSiteFirstSigner(db, entityCode: op.entityCode)
            }
            op.onSite = onSite
            try Journal.append(
                db, .onSiteChanged(.init(operatorID: id, unixUser: op.unixUser, onSite: onSite)), by: actor, at: at)
            return op
        }
    }

    /// Records that the holder changed the user PIN of a token (D5: the PIN that goes with the
    /// signing key is changed periodically): sets the token's `pinChangedAt` to now and appends
    /// `pin-changed`. The PINs themselves never reach the registry.
    ///
    /// Fails with `.unknownToken` (field `tokenSerial`).
    @discardableResult
    public func recordPINChange(tokenSerial: String, by actor: AuditActor) async throws -> TokenRecord {
        let at = now
        return try await write("record a PIN change") { db in
            guard var row = try TokenRow.filter(Column("serial") == tokenSerial).fetchOne(db), let id = row.id else {
                throw StoreError(
                    .unknownToken, "No token with serial '\(tokenSerial)' is registered.", field: "tokenSerial")
            }
            row.pinChangedAt = at
            try row.update(db)
            try Journal.append(db, .pinChanged(.init(tokenSerial: row.serial)), by: actor, at: at)
            let certificates = try TokenCertificateRow.filter(Column("tokenID") == id)
                .order(Column("notBefore"), Column("sha256")).fetchAll(db)
            return try Self.token(row, certificates: certificates)
        }
    }
}
