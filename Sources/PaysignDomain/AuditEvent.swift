/// The kinds of entries in the audit journal, as the journal's `kind` column spells them.
public enum AuditKind: String, Sendable, Hashable, Codable, CaseIterable {
    case loginSucceeded = "login-succeeded"
    case loginFailed = "login-failed"
    case signature
    case refusal
    case roleChanged = "role-changed"
    case operatorAdded = "operator-added"
    case operatorRemoved = "operator-removed"
    case entityAdded = "entity-added"
    case tokenRegistered = "token-registered"
    case tokenHolderChanged = "token-holder-changed"
    case tokenInserted = "token-inserted"
    case tokenRemoved = "token-removed"
    case revocation
    case configurationLoaded = "configuration-loaded"
    case headSigned = "head-signed"
    case accessDenied = "access-denied"
    case orderCreated = "order-created"
    case orderReviewed = "order-reviewed"
    case orderRejected = "order-rejected"
    case pinChanged = "pin-changed"
    case onSiteChanged = "on-site-changed"
    case tokenStateChanged = "token-state-changed"
    case crlIssued = "crl-issued"
    case crlImported = "crl-imported"
    case holderCleared = "holder-cleared"
    case deathNotified = "death-notified"
    case retirementDateSet = "retirement-date-set"
    case certificateIssued = "certificate-issued"
    case signatureRegistered = "signature-registered"
    case orderPresented = "order-presented"
    case orderDelivered = "order-delivered"
    case centerStateChanged = "center-state-changed"

    /// Kinds the registry writes itself, in the same transaction as the change they describe.
    /// Nobody appends them from outside: an `operator-added` entry without the operator would be
    /// a lie in the journal.
    public var isRegistryChange: Bool {
        switch self {
        case .roleChanged, .operatorAdded, .operatorRemoved, .entityAdded, .tokenRegistered, .tokenHolderChanged,
            .headSigned, .orderCreated, .orderReviewed, .orderRejected, .pinChanged, .onSiteChanged, .tokenStateChanged,
            .crlIssued, .crlImported, .holderCleared, .deathNotified, .retirementDateSet, .signatureRegistered, .orderPresented,
            .orderDelivered, .centerStateChanged:
            return true
        case .certificateIssued:
            // Appended by the daemon once the token has signed the certificate.
            return false
        case .loginSucceeded, .loginFailed, .signature, .refusal, .tokenInserted, .tokenRemoved, .revocation,
            .configurationLoaded, .accessDenied:
            return false
        }
    }
}

/// A rule of `docs/rules.md`, cited by number in refusals (`D3`).
public enum RuleNumber: String, Sendable, Hashable, Codable, CaseIterable {
    case d1 = "D1", d2 = "D2", d3 = "D3", d4 = "D4", d5 = "D5", d6 = "D6", d7 = "D7", d8 = "D8"
    case d9 = "D9", d10 = "D10", d11 = "D11", d12 = "D12", d13 = "D13", d14 = "D14", d15 = "D15"
    case p1 = "P1", p2 = "P2", p3 = "P3", p4 = "P4", p5 = "P5", p6 = "P6", p7 = "P7"
}

/// What the token said about its user PIN after a failed login. The PIN itself never reaches the
/// journal (D5): this closed set, and a count, are all a login failure records.
public enum PINState: String, Sendable, Hashable, Codable, CaseIterable {
    /// `CKR_PIN_INCORRECT`, more tries left.
    case incorrect
    /// `CKF_USER_PIN_COUNT_LOW`: at least one wrong PIN since the last good one.
    case countLow = "count-low"
    /// `CKF_USER_PIN_FINAL_TRY`: one more wrong PIN locks it.
    case finalTry = "final-try"
    /// `CKR_PIN_LOCKED`: the security officer has to unblock it.
    case locked
}

/// Which of the two signatures a payment order receives (D2).
public enum SignatureStep: String, Sendable, Hashable, Codable, CaseIterable {
    /// The entity's finance officer.
    case first
    /// The Ministry of Finance representative, after the first, by a different person.
    case second
}

/// RFC 5280 5.3.1:
/// ```
/// CRLReason ::= ENUMERATED {
///      unspecified             (0),
///      keyCompromise           (1),
///      cACompromise            (2),
///      affiliationChanged      (3),
///      superseded              (4),
///      cessationOfOperation    (5),
///      certificateHold         (6),
///           -- value 7 is not used
///      removeFromCRL           (8),
///      privilegeWithdrawn      (9),
///      aACompromise           (10) }
/// ```
public enum RevocationReason: String, Sendable, Hashable, Codable, CaseIterable {
    case unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation
    case certificateHold, removeFromCRL, privilegeWithdrawn, aACompromise

    /// The ENUMERATED value.
    public var code: Int {
        switch self {
        case .unspecified: return 0
        case .keyCompromise: return 1
        case .cACompromise: return 2
        case .affiliationChanged: return 3
        case .superseded: return 4
        case .cessationOfOperation: return 5
        case .certificateHold: return 6
        case .removeFromCRL: return 8
        case .privilegeWithdrawn: return 9
        case .aACompromise: return 10
        }
    }
}

/// The typed detail of one kind of audit entry. Every field has a type chosen for what it holds
/// (ids, enums, digests, names); there is no free-form dictionary, and no field is meant for, or
/// named after, a PIN or key material (D5). The journal stores the detail as a JSON object with
/// sorted keys.
public protocol AuditDetail: Codable, Sendable, Hashable {
    static var kind: AuditKind { get }
    var event: AuditEvent { get }
}

/// Something the audit journal records. One case per kind, each with its typed detail.
public enum AuditEvent: Sendable, Hashable {
    case loginSucceeded(LoginSucceeded)
    case loginFailed(LoginFailed)
    case signature(Signature)
    case refusal(Refusal)
    case roleChanged(RoleChanged)
    case operatorAdded(OperatorAdded)
    case operatorRemoved(OperatorRemoved)
    case entityAdded(EntityAdded)
    case tokenRegistered(TokenRegistered)
    case tokenHolderChanged(TokenHolderChanged)
    case tokenInserted(TokenPresence)
    case tokenRemoved(TokenPresence)
    case revocation(Revocation)
    case configurationLoaded(ConfigurationLoaded)
    case headSigned(HeadSigned)
    case accessDenied(AccessDenied)
    case orderCreated(OrderCreated)
    case orderReviewed(OrderReviewed)
    case orderRejected(OrderRejected)
    case pinChanged(PINChanged)
    case onSiteChanged(OnSiteChanged)
    case tokenStateChanged(TokenStateChanged)
    case crlIssued(CRLRecorded)
    case crlImported(CRLRecorded)
    case holderCleared(HolderCleared)
    case deathNotified(DeathNotified)
    case retirementDateSet(RetirementDateSet)
    case certificateIssued(CertificateIssued)
    case signatureRegistered(SignatureRegistered)
    case orderPresented(OrderPresented)
    case orderDelivered(OrderDelivered)
    case centerStateChanged(CenterStateChanged)

    public var kind: AuditKind {
        switch self {
        case .loginSucceeded: return .loginSucceeded
        case .loginFailed: return .loginFailed
        case .signature: return .signature
        case .refusal: return .refusal
        case .roleChanged: return .roleChanged
        case .operatorAdded: return .operatorAdded
        case .operatorRemoved: return .operatorRemoved
        case .entityAdded: return .entityAdded
        case .tokenRegistered: return .tokenRegistered
        case .tokenHolderChanged: return .tokenHolderChanged
        case .tokenInserted: return .tokenInserted
        case .tokenRemoved: return .tokenRemoved
        case .revocation: return .revocation
        case .configurationLoaded: return .configurationLoaded
        case .headSigned: return .headSigned
        case .accessDenied: return .accessDenied
        case .orderCreated: return .orderCreated
        case .orderReviewed: return .orderReviewed
        case .orderRejected: return .orderRejected
        case .pinChanged: return .pinChanged
        case .onSiteChanged: return .onSiteChanged
        case .tokenStateChanged: return .tokenStateChanged
        case .crlIssued: return .crlIssued
        case .crlImported: return .crlImported
        case .holderCleared: return .holderCleared
        case .deathNotified: return .deathNotified
        case .retirementDateSet: return .retirementDateSet
        case .certificateIssued: return .certificateIssued
        case .signatureRegistered: return .signatureRegistered
        case .orderPresented: return .orderPresented
        case .orderDelivered: return .orderDelivered
        case .centerStateChanged: return .centerStateChanged
        }
    }

    /// The detail value, as stored in the journal's `detail` column.
    public var detail: any AuditDetail {
        switch self {
        case .loginSucceeded(let d): return d
        case .loginFailed(let d): return d
        case .signature(let d): return d
        case .refusal(let d): return d
        case .roleChanged(let d): return d
        case .operatorAdded(let d): return d
        case .operatorRemoved(let d): return d
        case .entityAdded(let d): return d
        case .tokenRegistered(let d): return d
        case .tokenHolderChanged(let d): return d
        case .tokenInserted(let d): return d
        case .tokenRemoved(let d): return d
        case .revocation(let d): return d
        case .configurationLoaded(let d): return d
        case .headSigned(let d): return d
        case .accessDenied(let d): return d
        case .orderCreated(let d): return d
        case .orderReviewed(let d): return d
        case .orderRejected(let d): return d
        case .pinChanged(let d): return d
        case .onSiteChanged(let d): return d
        case .tokenStateChanged(let d): return d
        case .crlIssued(let d), .crlImported(let d): return d
        case .holderCleared(let d): return d
        case .deathNotified(let d): return d
        case .retirementDateSet(let d): return d
        case .certificateIssued(let d): return d
        case .signatureRegistered(let d): return d
        case .orderPresented(let d): return d
        case .orderDelivered(let d): return d
        case .centerStateChanged(let d): return d
        }
    }

    /// The detail type of a kind, to decode a stored detail. `token-inserted` and `token-removed`
    /// share `TokenPresence`; use `event(kind:)` on it to get the right case.
    public static func detailType(of kind: AuditKind) -> any AuditDetail.Type {
        switch kind {
        case .loginSucceeded: return LoginSucceeded.self
        case .loginFailed: return LoginFailed.self
        case .signature: return Signature.self
        case .refusal: return Refusal.self
        case .roleChanged: return RoleChanged.self
        case .operatorAdded: return OperatorAdded.self
        case .operatorRemoved: return OperatorRemoved.self
        case .entityAdded: return EntityAdded.self
        case .tokenRegistered: return TokenRegistered.self
        case .tokenHolderChanged: return TokenHolderChanged.self
        case .tokenInserted, .tokenRemoved: return TokenPresence.self
        case .revocation: return Revocation.self
        case .configurationLoaded: return ConfigurationLoaded.self
        case .headSigned: return HeadSigned.self
        case .accessDenied: return AccessDenied.self
        case .orderCreated: return OrderCreated.self
        case .orderReviewed: return OrderReviewed.self
        case .orderRejected: return OrderRejected.self
        case .pinChanged: return PINChanged.self
        case .onSiteChanged: return OnSiteChanged.self
        case .tokenStateChanged: return TokenStateChanged.self
        case .crlIssued, .crlImported: return CRLRecorded.self
        case .holderCleared: return HolderCleared.self
        case .deathNotified: return DeathNotified.self
        case .retirementDateSet: return RetirementDateSet.self
        case .certificateIssued: return CertificateIssued.self
        case .signatureRegistered: return SignatureRegistered.self
        case .orderPresented: return OrderPresented.self
        case .orderDelivered: return OrderDelivered.self
        case .centerStateChanged: return CenterStateChanged.self
        }
    }

    /// The event a decoded detail stands for under `kind`, or nil when the detail does not belong
    /// to that kind.
    public static func event(kind: AuditKind, detail: any AuditDetail) -> AuditEvent? {
        if let presence = detail as? TokenPresence {
            switch kind {
            case .tokenInserted: return .tokenInserted(presence)
            case .tokenRemoved: return .tokenRemoved(presence)
            default: return nil
            }
        }
        if let crl = detail as? CRLRecorded {
            switch kind {
            case .crlIssued: return .crlIssued(crl)
            case .crlImported: return .crlImported(crl)
            default: return nil
            }
        }
        return type(of: detail).kind == kind ? detail.event : nil
    }

    /// The first field whose text breaks the shape rules (blank, too long, control characters),
    /// or nil. Enums, ids and digests are valid by construction.
    public var problem: FieldProblem? {
        func text(_ value: String?, _ field: String, max: Int = 200) -> FieldProblem? {
            guard let value else { return nil }
            return FieldRules.text(value, field: field, maximumLength: max)
        }
        switch self {
        case .loginSucceeded(let d): return text(d.tokenSerial, "tokenSerial", max: 64)
        case .loginFailed(let d):
            if let tries = d.remainingTries, tries < 0 {
                return FieldProblem(field: "remainingTries", sentence: "The remainingTries must not be negative.")
            }
            return text(d.tokenSerial, "tokenSerial", max: 64)
        case .signature(let d): return text(d.tokenSerial, "tokenSerial", max: 64) ?? text(d.fileNumber, "fileNumber", max: 100)
        case .refusal(let d): return text(d.reason, "reason", max: 500)
        case .roleChanged(let d): return text(d.unixUser, "unixUser", max: 32)
        case .operatorAdded(let d): return text(d.unixUser, "unixUser", max: 32) ?? text(d.name, "name")
        case .operatorRemoved(let d): return text(d.unixUser, "unixUser", max: 32)
        case .entityAdded(let d): return text(d.code, "code", max: 64) ?? text(d.name, "name")
        case .tokenRegistered(let d): return text(d.serial, "serial", max: 64) ?? text(d.label, "label", max: 64)
        case .tokenHolderChanged(let d): return text(d.serial, "serial", max: 64)
        case .tokenInserted(let d), .tokenRemoved(let d):
            return text(d.serial, "serial", max: 64) ?? text(d.label, "label", max: 64) ?? text(d.reader, "reader")
        case .revocation(let d):
            return text(d.certificateSerial, "certificateSerial", max: 128) ?? text(d.tokenSerial, "tokenSerial", max: 64)
        case .configurationLoaded(let d): return text(d.path, "path", max: 4096)
        case .headSigned(let d): return text(d.algorithm, "algorithm", max: 64)
        case .accessDenied(let d):
            return text(d.user, "user", max: 256) ?? text(d.action, "action") ?? text(d.reason, "reason", max: 500)
        case .orderCreated(let d): return text(d.entityCode, "entityCode", max: 64)
        case .orderReviewed: return nil
        case .orderRejected(let d): return text(d.reason, "reason", max: 500)
        case .pinChanged(let d): return text(d.tokenSerial, "tokenSerial", max: 64)
        case .onSiteChanged(let d): return text(d.unixUser, "unixUser", max: 32)
        case .tokenStateChanged(let d): return text(d.serial, "serial", max: 64) ?? text(d.note, "note", max: 500)
        case .crlIssued(let d), .crlImported(let d): return text(d.issuer, "issuer", max: 500) ?? text(d.number, "number", max: 64)
        case .holderCleared(let d): return text(d.unixUser, "unixUser", max: 32)
        case .deathNotified(let d): return text(d.unixUser, "unixUser", max: 32) ?? text(d.reference, "reference", max: 200)
        case .retirementDateSet(let d): return text(d.unixUser, "unixUser", max: 32)
        case .certificateIssued(let d): return text(d.unixUser, "unixUser", max: 32) ?? text(d.subject, "subject", max: 500)
        case .signatureRegistered: return nil
        case .orderPresented(let d): return text(d.entityCode, "entityCode", max: 64)
        case .orderDelivered(let d): return text(d.entityCode, "entityCode", max: 64) ?? text(d.detail, "detail", max: 1000)
        case .centerStateChanged(let d): return text(d.state, "state", max: 16) ?? text(d.reason ?? "", "reason", max: 500)
        }
    }
}

// MARK: - Details

extension AuditEvent {
    /// `login-succeeded`: an operator logged in to a token.
    public struct LoginSucceeded: AuditDetail {
        public static let kind = AuditKind.loginSucceeded
        public var event: AuditEvent { .loginSucceeded(self) }
        public var tokenSerial: String

        public init(tokenSerial: String) { self.tokenSerial = tokenSerial }
    }

    /// `login-failed`: the token refused the PIN. Records the token's PIN state and, when the
    /// token tells it, how many tries remain; never the PIN (D5).
    public struct LoginFailed: AuditDetail {
        public static let kind = AuditKind.loginFailed
        public var event: AuditEvent { .loginFailed(self) }
        public var tokenSerial: String
        public var pinState: PINState
        public var remainingTries: Int?

        public init(tokenSerial: String, pinState: PINState, remainingTries: Int? = nil) {
            self.tokenSerial = tokenSerial
            self.pinState = pinState
            self.remainingTries = remainingTries
        }
    }

    /// `signature`: a payment order was signed (D2): which token and certificate, which document
    /// digest, first or second signature, and the file number checked (D9).
    public struct Signature: AuditDetail {
        public static let kind = AuditKind.signature
        public var event: AuditEvent { .signature(self) }
        public var tokenSerial: String
        public var certificateSHA256: SHA256Hex
        public var documentSHA256: SHA256Hex
        public var step: SignatureStep
        public var fileNumber: String?
        /// The order signed, when the signature is on an order of the registry.
        public var orderID: Order.ID?

        public init(
            tokenSerial: String, certificateSHA256: SHA256Hex, documentSHA256: SHA256Hex, step: SignatureStep,
            fileNumber: String? = nil, orderID: Order.ID? = nil
        ) {
            self.orderID = orderID
            self.tokenSerial = tokenSerial
            self.certificateSHA256 = certificateSHA256
            self.documentSHA256 = documentSHA256
            self.step = step
            self.fileNumber = fileNumber
        }
    }

    /// `refusal`: the daemon refused a request; the rule it applied (`D3`) and one sentence why.
    public struct Refusal: AuditDetail {
        public static let kind = AuditKind.refusal
        public var event: AuditEvent { .refusal(self) }
        public var rule: RuleNumber?
        public var reason: String
        /// The document the refusal is about, when there is one.
        public var documentSHA256: SHA256Hex?

        public init(rule: RuleNumber?, reason: String, documentSHA256: SHA256Hex? = nil) {
            self.rule = rule
            self.reason = reason
            self.documentSHA256 = documentSHA256
        }
    }

    /// `role-changed`: an operator's roles before and after (sorted).
    public struct RoleChanged: AuditDetail {
        public static let kind = AuditKind.roleChanged
        public var event: AuditEvent { .roleChanged(self) }
        public var operatorID: Operator.ID
        public var unixUser: String
        public var before: [Role]
        public var after: [Role]

        public init(operatorID: Operator.ID, unixUser: String, before: Set<Role>, after: Set<Role>) {
            self.operatorID = operatorID
            self.unixUser = unixUser
            self.before = before.sorted()
            self.after = after.sorted()
        }
    }

    /// `operator-added`: who was mapped, with the identity that makes the journal readable on its
    /// own after the operator is removed (D7: signed records are evidence).
    public struct OperatorAdded: AuditDetail {
        public static let kind = AuditKind.operatorAdded
        public var event: AuditEvent { .operatorAdded(self) }
        public var operatorID: Operator.ID
        public var unixUser: String
        public var nationalID: String
        public var name: String
        public var entityCode: String?
        public var roles: [Role]
        /// Present (true) only for an on-site first signer (D3).
        public var onSite: Bool?

        public init(_ op: Operator) {
            onSite = op.onSite ? true : nil
            operatorID = op.id
            unixUser = op.unixUser
            nationalID = op.nationalID
            name = op.name
            entityCode = op.entityCode
            roles = op.roles.sorted()
        }
    }

    /// `operator-removed` (D14: those whose service ended are removed).
    public struct OperatorRemoved: AuditDetail {
        public static let kind = AuditKind.operatorRemoved
        public var event: AuditEvent { .operatorRemoved(self) }
        public var operatorID: Operator.ID
        public var unixUser: String

        public init(operatorID: Operator.ID, unixUser: String) {
            self.operatorID = operatorID
            self.unixUser = unixUser
        }
    }

    /// `entity-added`.
    public struct EntityAdded: AuditDetail {
        public static let kind = AuditKind.entityAdded
        public var event: AuditEvent { .entityAdded(self) }
        public var code: String
        public var name: String

        public init(code: String, name: String) {
            self.code = code
            self.name = name
        }
    }

    /// `token-registered`: the token, its holder and the fingerprints of its certificates.
    public struct TokenRegistered: AuditDetail {
        public static let kind = AuditKind.tokenRegistered
        public var event: AuditEvent { .tokenRegistered(self) }
        public var tokenID: TokenRecord.ID
        public var serial: String
        public var label: String
        public var holder: Operator.ID?
        public var certificates: [SHA256Hex]

        public init(_ token: TokenRecord) {
            tokenID = token.id
            serial = token.serial
            label = token.label
            holder = token.holder
            certificates = token.certificates.map(\.sha256)
        }
    }

    /// `token-holder-changed`: a token issued to someone else, or surrendered (D6: `after` nil).
    public struct TokenHolderChanged: AuditDetail {
        public static let kind = AuditKind.tokenHolderChanged
        public var event: AuditEvent { .tokenHolderChanged(self) }
        public var tokenID: TokenRecord.ID
        public var serial: String
        public var before: Operator.ID?
        public var after: Operator.ID?

        public init(tokenID: TokenRecord.ID, serial: String, before: Operator.ID?, after: Operator.ID?) {
            self.tokenID = tokenID
            self.serial = serial
            self.before = before
            self.after = after
        }
    }

    /// `token-inserted` and `token-removed`: a token appeared in, or left, a reader.
    public struct TokenPresence: AuditDetail {
        /// `token-inserted`; the same detail under `token-removed` is told apart by the entry's kind.
        public static let kind = AuditKind.tokenInserted
        public var event: AuditEvent { .tokenInserted(self) }
        public var serial: String
        public var label: String?
        public var reader: String?

        public init(serial: String, label: String? = nil, reader: String? = nil) {
            self.serial = serial
            self.label = label
            self.reader = reader
        }
    }

    /// `revocation`: a certificate was revoked (D6), with its RFC 5280 reason.
    public struct Revocation: AuditDetail {
        public static let kind = AuditKind.revocation
        public var event: AuditEvent { .revocation(self) }
        /// Upper-case hex, as `openssl x509 -serial` prints it.
        public var certificateSerial: String
        public var certificateSHA256: SHA256Hex?
        public var reason: RevocationReason
        public var tokenSerial: String?

        public init(
            certificateSerial: String, certificateSHA256: SHA256Hex? = nil, reason: RevocationReason,
            tokenSerial: String? = nil
        ) {
            self.certificateSerial = certificateSerial
            self.certificateSHA256 = certificateSHA256
            self.reason = reason
            self.tokenSerial = tokenSerial
        }
    }

    /// `configuration-loaded`: which file, and the digest of its bytes (never its content: a
    /// configuration may name where a PIN comes from).
    public struct ConfigurationLoaded: AuditDetail {
        public static let kind = AuditKind.configurationLoaded
        public var event: AuditEvent { .configurationLoaded(self) }
        public var path: String
        public var sha256: SHA256Hex

        public init(path: String, sha256: SHA256Hex) {
            self.path = path
            self.sha256 = sha256
        }
    }

    /// `head-signed`: the journal's head at `seq` (whose entry hash is `hash`) was signed on a
    /// token; the signature itself is in `audit_head_signatures`.
    public struct HeadSigned: AuditDetail {
        public static let kind = AuditKind.headSigned
        public var event: AuditEvent { .headSigned(self) }
        public var seq: Int64
        public var hash: SHA256Hex
        public var certificateSHA256: SHA256Hex
        public var algorithm: String

        public init(seq: Int64, hash: SHA256Hex, certificateSHA256: SHA256Hex, algorithm: String) {
            self.seq = seq
            self.hash = hash
            self.certificateSHA256 = certificateSHA256
            self.algorithm = algorithm
        }
    }

    /// `access-denied`: a caller the registry gives no role for what it asked.
    public struct AccessDenied: AuditDetail {
        public static let kind = AuditKind.accessDenied
        public var event: AuditEvent { .accessDenied(self) }
        public var uid: UInt32
        public var user: String?
        /// What was asked, as the API names it (`POST /v1/operators`).
        public var action: String
        /// One sentence why (`alice has no role in paysign's registry`).
        public var reason: String?

        public init(uid: UInt32, user: String?, action: String, reason: String? = nil) {
            self.uid = uid
            self.user = user
            self.action = action
            self.reason = reason
        }
    }
}

// MARK: - Orders

extension AuditEvent {
    /// `order-created`: a clerk uploaded a valid order file; its file number (D9) and the digest of
    /// the canonical document the signatures will cover.
    public struct OrderCreated: AuditDetail {
        public static let kind = AuditKind.orderCreated
        public var event: AuditEvent { .orderCreated(self) }
        public var orderID: Order.ID
        public var entityCode: String
        public var orderKind: OrderKind
        public var fileNumber: SHA256Hex
        public var lineCount: Int
        public var totalPiasters: Int64
        public var documentSHA256: SHA256Hex

        public init(_ order: Order) {
            orderID = order.id
            entityCode = order.metadata.entityCode
            orderKind = order.metadata.kind
            fileNumber = order.fileNumber.digest
            lineCount = order.lineCount
            totalPiasters = order.totalPiasters
            documentSHA256 = order.documentSHA256
        }
    }

    /// `order-reviewed`: a reviewer confirmed the file number (D9).
    public struct OrderReviewed: AuditDetail {
        public static let kind = AuditKind.orderReviewed
        public var event: AuditEvent { .orderReviewed(self) }
        public var orderID: Order.ID
        public var fileNumber: SHA256Hex

        public init(orderID: Order.ID, fileNumber: SHA256Hex) {
            self.orderID = orderID
            self.fileNumber = fileNumber
        }
    }

    /// `order-rejected`: an order was refused from the state it was in, with the reason given.
    public struct OrderRejected: AuditDetail {
        public static let kind = AuditKind.orderRejected
        public var event: AuditEvent { .orderRejected(self) }
        public var orderID: Order.ID
        public var from: OrderState
        public var reason: String

        public init(orderID: Order.ID, from: OrderState, reason: String) {
            self.orderID = orderID
            self.from = from
            self.reason = reason
        }
    }

    /// `pin-changed`: the holder changed the user PIN of a token through the daemon (D5: the PIN
    /// is changed periodically). The date is the entry's; the PINs are never recorded.
    public struct PINChanged: AuditDetail {
        public static let kind = AuditKind.pinChanged
        public var event: AuditEvent { .pinChanged(self) }
        public var tokenSerial: String

        public init(tokenSerial: String) { self.tokenSerial = tokenSerial }
    }

    /// `on-site-changed`: whether a first-signature holder is permanently present at the
    /// workplace (D3: at least one of an entity's first signers is).
    public struct OnSiteChanged: AuditDetail {
        public static let kind = AuditKind.onSiteChanged
        public var event: AuditEvent { .onSiteChanged(self) }
        public var operatorID: Operator.ID
        public var unixUser: String
        public var onSite: Bool

        public init(operatorID: Operator.ID, unixUser: String, onSite: Bool) {
            self.operatorID = operatorID
            self.unixUser = unixUser
            self.onSite = onSite
        }
    }
}

// MARK: - The certification authority

extension AuditEvent {
    /// `token-state-changed`: the authority moved a token (issued, active, suspended, surrendered,
    /// revoked), with the cause and RFC 5280 reason for a revocation or surrender (D6).
    public struct TokenStateChanged: AuditDetail {
        public static let kind = AuditKind.tokenStateChanged
        public var event: AuditEvent { .tokenStateChanged(self) }
        public var tokenID: TokenRecord.ID
        public var serial: String
        public var action: TokenAction
        public var from: TokenState
        public var to: TokenState
        public var holder: Operator.ID?
        public var cause: RevocationCause?
        public var reason: RevocationReason?
        public var invalidityDate: String?
        public var note: String?

        public init(
            tokenID: TokenRecord.ID, serial: String, action: TokenAction, from: TokenState, to: TokenState,
            holder: Operator.ID?, cause: RevocationCause? = nil, reason: RevocationReason? = nil,
            invalidityDate: String? = nil, note: String? = nil
        ) {
            self.tokenID = tokenID
            self.serial = serial
            self.action = action
            self.from = from
            self.to = to
            self.holder = holder
            self.cause = cause
            self.reason = reason
            self.invalidityDate = invalidityDate
            self.note = note
        }
    }

    /// `crl-issued` and `crl-imported`: a revocation list signed by this daemon's authority token,
    /// or received from the authority and verified. `number` is the CRL number in hex.
    public struct CRLRecorded: AuditDetail {
        /// `crl-issued`; the same detail under `crl-imported` is told apart by the entry's kind.
        public static let kind = AuditKind.crlIssued
        public var event: AuditEvent { .crlIssued(self) }
        public var issuer: String
        public var number: String
        public var thisUpdate: String
        public var nextUpdate: String?
        public var entries: Int
        public var sha256: SHA256Hex

        public init(issuer: String, number: String, thisUpdate: String, nextUpdate: String?, entries: Int, sha256: SHA256Hex) {
            self.issuer = issuer
            self.number = number
            self.thisUpdate = thisUpdate
            self.nextUpdate = nextUpdate
            self.entries = entries
            self.sha256 = sha256
        }
    }

    /// `holder-cleared`: a holder may leave (D6: every token surrendered or revoked first); their
    /// roles are removed.
    public struct HolderCleared: AuditDetail {
        public static let kind = AuditKind.holderCleared
        public var event: AuditEvent { .holderCleared(self) }
        public var operatorID: Operator.ID
        public var unixUser: String
        public var rolesRemoved: [Role]

        public init(operatorID: Operator.ID, unixUser: String, rolesRemoved: [Role]) {
            self.operatorID = operatorID
            self.unixUser = unixUser
            self.rolesRemoved = rolesRemoved.sorted()
        }
    }

    /// `death-notified`: the entity notified a holder's death (D6: within a week; `late` when not).
    public struct DeathNotified: AuditDetail {
        public static let kind = AuditKind.deathNotified
        public var event: AuditEvent { .deathNotified(self) }
        public var operatorID: Operator.ID
        public var unixUser: String
        public var dateOfDeath: CalendarDay
        public var notifiedOn: CalendarDay
        public var reference: String
        public var delayDays: Int
        public var late: Bool

        public init(operatorID: Operator.ID, unixUser: String, notice: DeathNotice) {
            self.operatorID = operatorID
            self.unixUser = unixUser
            dateOfDeath = notice.dateOfDeath
            notifiedOn = notice.notifiedOn
            reference = notice.reference
            delayDays = notice.delayDays
            late = notice.isLate
        }
    }

    /// `retirement-date-set`: a holder's retirement date (D6: a second-signature holder surrenders
    /// the token before reaching it).
    public struct RetirementDateSet: AuditDetail {
        public static let kind = AuditKind.retirementDateSet
        public var event: AuditEvent { .retirementDateSet(self) }
        public var operatorID: Operator.ID
        public var unixUser: String
        public var retirementDate: CalendarDay?

        public init(operatorID: Operator.ID, unixUser: String, retirementDate: CalendarDay?) {
            self.operatorID = operatorID
            self.unixUser = unixUser
            self.retirementDate = retirementDate
        }
    }
}

extension AuditEvent {
    /// `certificate-issued`: the authority issued a signing certificate, on its token, for a key
    /// made on the holder's token (the request proves the key; the key never left the token).
    public struct CertificateIssued: AuditDetail {
        public static let kind = AuditKind.certificateIssued
        public var event: AuditEvent { .certificateIssued(self) }
        public var operatorID: Operator.ID
        public var unixUser: String
        public var subject: String
        public var serialHex: String
        public var certificateSHA256: SHA256Hex
        public var role: Role

        public init(operatorID: Operator.ID, unixUser: String, subject: String, serialHex: String, certificateSHA256: SHA256Hex, role: Role) {
            self.operatorID = operatorID
            self.unixUser = unixUser
            self.subject = subject
            self.serialHex = serialHex
            self.certificateSHA256 = certificateSHA256
            self.role = role
        }
    }
}

// MARK: - The payment center

extension AuditEvent {
    /// `signature-registered`: the payment center's daemon saw these signatures (SHA-256 of each
    /// SignerInfo's signature value) for the first time, over the document with this digest. The
    /// entry's time is their trusted time of signing from then on (issue 6): the hash chain is
    /// what makes it hard to back-date.
    public struct SignatureRegistered: AuditDetail {
        public static let kind = AuditKind.signatureRegistered
        public var event: AuditEvent { .signatureRegistered(self) }
        public var documentSHA256: SHA256Hex
        public var signatures: [SHA256Hex]

        public init(documentSHA256: SHA256Hex, signatures: [SHA256Hex]) {
            self.documentSHA256 = documentSHA256
            self.signatures = signatures.sorted()
        }
    }

    /// `order-presented`: a valid signed order was presented to the payment center for payment and
    /// recorded; the same document, file number or order is refused as a replay from then on.
    /// The presenter is the entry's actor.
    public struct OrderPresented: AuditDetail {
        public static let kind = AuditKind.orderPresented
        public var event: AuditEvent { .orderPresented(self) }
        public var presentationID: Int64
        public var orderID: Int64
        public var entityCode: String
        public var documentSHA256: SHA256Hex
        public var fileNumber: SHA256Hex
        /// The time validity and revocation were judged at (ISO 8601).
        public var trustedTime: String

        public init(presentationID: Int64, orderID: Int64, entityCode: String, documentSHA256: SHA256Hex, fileNumber: SHA256Hex, trustedTime: String) {
            self.presentationID = presentationID
            self.orderID = orderID
            self.entityCode = entityCode
            self.documentSHA256 = documentSHA256
            self.fileNumber = fileNumber
            self.trustedTime = trustedTime
        }
    }
}

extension AuditEvent {
    /// The payment center answered an order's delivery for good (D8): a receipt (`accepted` or
    /// `invalid`, verified against the trust anchors and kept), or a refusal (`refused`, the
    /// center's sentence). Written with the outbox's change, in one transaction.
    public struct OrderDelivered: AuditDetail {
        public static let kind = AuditKind.orderDelivered
        public var event: AuditEvent { .orderDelivered(self) }
        public var orderID: Int64
        public var entityCode: String
        /// `accepted`, `invalid` or `refused`.
        public var outcome: String
        /// The center's number for the submission (with a receipt).
        public var submissionID: Int64?
        public var envelopeSHA256: String
        /// SHA-256 of the signed receipt kept (with a receipt).
        public var receiptSHA256: String?
        public var detail: String

        public init(orderID: Int64, entityCode: String, outcome: String, submissionID: Int64?, envelopeSHA256: String,
                    receiptSHA256: String?, detail: String) {
            self.orderID = orderID
            self.entityCode = entityCode
            self.outcome = outcome
            self.submissionID = submissionID
            self.envelopeSHA256 = envelopeSHA256
            self.receiptSHA256 = receiptSHA256
            self.detail = detail
        }
    }
}

extension AuditEvent {
    /// The payment center changed a delivered order's state (paid, or returned by the bank), as
    /// the entity's daemon learned it from the center.
    public struct CenterStateChanged: AuditDetail {
        public static let kind = AuditKind.centerStateChanged
        public var event: AuditEvent { .centerStateChanged(self) }
        public var orderID: Int64
        public var submissionID: Int64
        /// `paid` or `returned`.
        public var state: String
        public var reason: String?
        /// When the center recorded the change (ISO 8601).
        public var changedAt: String?

        public init(orderID: Int64, submissionID: Int64, state: String, reason: String?, changedAt: String?) {
            self.orderID = orderID
            self.submissionID = submissionID
            self.state = state
            self.reason = reason
            self.changedAt = changedAt
        }
    }
}

// MARK: - Codable

/// An event as JSON: `{"detail":{…},"kind":"login-failed"}`, the detail as the journal stores it.
extension AuditEvent: Codable {
    private enum CodingKeys: String, CodingKey {
        case kind, detail
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(AuditKind.self, forKey: .kind)
        let detail = try container.decode(AuditEvent.detailType(of: kind), forKey: .detail)
        guard let event = AuditEvent.event(kind: kind, detail: detail) else {
            throw DecodingError.dataCorruptedError(
                forKey: .detail, in: container, debugDescription: "the detail does not belong to '\(kind.rawValue)'")
        }
        self = event
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(detail, forKey: .detail)
    }
}
