public import PaysignDomain

/// Why the registry or the journal refused or failed: a stable code, one sentence naming what is
/// wrong (and the field, for a validation error), the underlying cause as SQLite or GRDB said it,
/// and where in paysign the error was made.
///
/// Nothing is partially written when one of these is thrown from a change: every change is one
/// transaction, rolled back as a whole.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case databaseTooNew = "database-too-new"
            case corrupt
            case notWritable = "not-writable"
            case database
            case invalidField = "invalid-field"
            case duplicate
            case unknownEntity = "unknown-entity"
            case unknownOperator = "unknown-operator"
            case unknownToken = "unknown-token"
            case unknownOrder = "unknown-order"
            case wrongState = "wrong-state"
            case ruleViolated = "rule-violated"
            case notAppendable = "not-appendable"
            case headMismatch = "head-mismatch"
            case staleCRL = "stale-crl"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        public var description: String { base.rawValue }

        /// The database has migrations this paysignd does not know: a newer paysignd wrote it.
        public static let databaseTooNew = Code(.databaseTooNew)
        /// The file is not a SQLite database, fails SQLite's integrity check, or belongs to
        /// another application.
        public static let corrupt = Code(.corrupt)
        /// The state directory or the database cannot be created, opened or written.
        public static let notWritable = Code(.notWritable)
        /// Any other SQLite failure (disk full, I/O error); `cause` says which.
        public static let database = Code(.database)
        /// A field's value has the wrong shape (national ID not 14 digits, empty name, …).
        public static let invalidField = Code(.invalidField)
        /// A value that must be unique is taken (Unix user, entity code, token serial, certificate,
        /// idempotency key).
        public static let duplicate = Code(.duplicate)
        /// The entity code names no entity in the registry.
        public static let unknownEntity = Code(.unknownEntity)
        /// The operator id names no operator in the registry.
        public static let unknownOperator = Code(.unknownOperator)
        /// The token id names no token in the registry.
        public static let unknownToken = Code(.unknownToken)
        /// The order id names no payment order in the registry.
        public static let unknownOrder = Code(.unknownOrder)
        /// The order is not in the state the change needs (reviewing an order that is not a
        /// draft, signing second before first, rejecting a payable order); the message names the
        /// state it is in, and `rule` the rule that orders the steps (D2, D9) where one does.
        public static let wrongState = Code(.wrongState)
        /// The change would break a rule of `docs/rules.md` (`rule` says which: D2, D3, D5, D6, D9,
        /// D13).
        public static let ruleViolated = Code(.ruleViolated)
        /// `append` was given an event only the registry writes (`operator-added`, …), or a
        /// detail whose text breaks the shape rules.
        public static let notAppendable = Code(.notAppendable)
        /// A head signature names a journal entry that does not exist or has another hash.
        public static let headMismatch = Code(.headMismatch)
        /// A revocation list is not newer (by CRL number) than the one held from the same issuer.
        public static let staleCRL = Code(.staleCRL)
    }

    public var code: Code
    /// One sentence, for the operator reading the log or the problem detail.
    public var message: String
    /// The request field at fault, for validation errors (`nationalID`, `unixUser`).
    public var field: String?
    /// The rule of `docs/rules.md` the change would break, for `.ruleViolated`.
    public var rule: RuleNumber?
    /// What SQLite or GRDB said, when the error came from them.
    public var cause: String?
    public var file: String
    public var line: Int

    public init(
        _ code: Code, _ message: String, field: String? = nil, rule: RuleNumber? = nil, cause: String? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.field = field
        self.rule = rule
        self.cause = cause
        self.file = file
        self.line = line
    }

    init(_ problem: FieldProblem, file: String = #fileID, line: Int = #line) {
        self.init(.invalidField, problem.sentence, field: problem.field, file: file, line: line)
    }

    public var description: String {
        cause.map { "\(message) (\($0))" } ?? message
    }
}
