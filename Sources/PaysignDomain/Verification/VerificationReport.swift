public import Foundation

/// The payment center's verdict on one signed order: every check by name, the signers, the
/// document. Encoded as JSON with the schema documented in the README ("Verifying payment orders");
/// `schema` names its version, and fields are only ever added.
public struct VerificationReport: Sendable, Hashable, Codable {
    public static let schemaVersion = "paysign-order-verification/1"

    public enum Verdict: String, Sendable, Hashable, Codable {
        /// Every check passed (a skipped one says so): the order may be paid.
        case valid
        /// At least one check failed: refuse the order.
        case invalid
        /// Nothing failed, but something could not be checked (no revocation list for an issuer,
        /// a list that had expired by the trusted time): neither pay nor refuse on this report.
        case indeterminate
    }

    public var schema: String = Self.schemaVersion
    /// The order's name: the document's path, or `NAME` in a batch.
    public var order: String
    public var verdict: Verdict
    public var trustedTime: TrustedTime
    public var document: DocumentSummary?
    public var checks: [Check]
    /// The signers in signing order when the bindings prove it, else in the file's order.
    public var signers: [SignerReport]

    public init(order: String, verdict: Verdict, trustedTime: TrustedTime, document: DocumentSummary?, checks: [Check],
                signers: [SignerReport]) {
        self.order = order
        self.verdict = verdict
        self.trustedTime = trustedTime
        self.document = document
        self.checks = checks
        self.signers = signers
    }

    /// The names of the checks that failed, in report order.
    public var failedChecks: [CheckName] { checks.filter { $0.status == .fail }.map(\.name) }

    public func check(_ name: CheckName) -> Check? { checks.first { $0.name == name } }
}

/// The checks, in the order they are reported. The raw values are the names the CLI, the JSON
/// and the tests use.
public enum CheckName: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case cmsStructure = "cms-structure"
    case orderDocument = "order-document"
    case firstSignature = "first-signature"
    case secondSignature = "second-signature"
    case certificateChain = "certificate-chain"
    case validityAtTrustedTime = "validity-at-trusted-time"
    case revocationAtTrustedTime = "revocation-at-trusted-time"
    case signerCountAndOrder = "signer-count-and-order"
    case binding = "binding"
    case distinctSigners = "distinct-signers"
    case roles = "roles"
    case fileNumber = "file-number"
    /// Only in the daemon's reports (`POST /v1/verifications`): the order (its document, its file
    /// number, or its entity and order id) was not presented for payment before (issue 6).
    case notPresentedBefore = "not-presented-before"

    /// The twelve checks every report holds, offline or through the daemon, in report order.
    /// `notPresentedBefore` is left out: only the daemon's reports carry it, after these twelve.
    public static let offlineChecks: [CheckName] = [
        .cmsStructure, .orderDocument, .firstSignature, .secondSignature, .certificateChain, .validityAtTrustedTime,
        .revocationAtTrustedTime, .signerCountAndOrder, .binding, .distinctSigners, .roles, .fileNumber,
    ]

    /// Every check in report order: the twelve, then the daemon's own (`allCases`, the same list).
    public static let reportOrder: [CheckName] = offlineChecks + [.notPresentedBefore]

    public static func < (a: CheckName, b: CheckName) -> Bool {
        reportOrder.firstIndex(of: a)! < reportOrder.firstIndex(of: b)!
    }
}

public struct Check: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        case pass
        case fail
        /// Could not be checked (missing evidence); makes the verdict indeterminate unless something failed.
        case indeterminate
        /// Not asked for (the file number without `--file`); does not change the verdict.
        case skipped
    }

    public var name: CheckName
    public var status: Status
    /// One sentence: why it passed or failed.
    public var reason: String
    /// The domain rule behind the check (`D2`), if any.
    public var rule: RuleNumber?
    /// Further remarks that do not change the status (a revocation after the trusted time).
    public var notes: [String]

    public init(_ name: CheckName, _ status: Status, _ reason: String, rule: RuleNumber? = nil, notes: [String] = []) {
        self.name = name
        self.status = status
        self.reason = reason
        self.rule = rule
        self.notes = notes
    }
}

/// The order document's fields, as signed.
public struct DocumentSummary: Sendable, Hashable, Codable {
    public var orderID: Int64
    public var entity: String
    public var kind: String
    public var currency: String
    public var valueDate: String
    public var fileNumber: String
    public var fileBytes: Int
    public var lines: Int
    public var totalPiasters: Int64

    /// - Parameter fileNumber: the file number already grouped, when the caller has it.
    public init(_ document: OrderDocument, fileNumber grouped: String? = nil) {
        orderID = Int64(document.orderID)
        entity = document.metadata.entityCode
        kind = document.metadata.kind.rawValue
        currency = document.metadata.currency
        valueDate = document.metadata.valueDate.description
        fileNumber = grouped ?? document.fileNumber.grouped
        fileBytes = document.fileBytes
        lines = document.lineCount
        totalPiasters = document.totalPiasters
    }
}

/// One signer as the report shows it.
public struct SignerReport: Sendable, Hashable, Codable {
    /// 1 for the first to sign, 2 for the next, when the bindings prove the order; nil otherwise.
    public var position: Int?
    /// The SignerInfo's place in the file, from 1.
    public var signerInfo: Int
    public var claimedRole: String?
    /// The signing-time attribute: what the signer's machine said, never trusted.
    public var claimedSigningTime: Date?
    public var scheme: String?
    public var certificate: CertificateFacts?
    /// The anchor the certificate chains to (its subject), nil when it does not.
    public var trustAnchor: String?
    /// `not-listed`, `revoked …`, `no list` in one phrase.
    public var revocation: String?
    /// The RFC 3161 signature time-stamp token; nil (JSON null) when the signature has none.
    public var timeStamp: TimeStampReport?
    /// The time this signer's validity and revocation were judged at, and why, when it is not
    /// simply the report's `trustedTime`: set only for a signature with a time-stamp token (source
    /// `time-stamp` when it verifies; the order's time, with the reason, when it does not). nil
    /// (JSON null): the report's `trustedTime`.
    public var trustedTime: TrustedTime?

    public init(position: Int?, signerInfo: Int, claimedRole: String?, claimedSigningTime: Date?, scheme: String?,
                certificate: CertificateFacts?, trustAnchor: String?, revocation: String?,
                timeStamp: TimeStampReport? = nil, trustedTime: TrustedTime? = nil) {
        self.position = position
        self.signerInfo = signerInfo
        self.claimedRole = claimedRole
        self.claimedSigningTime = claimedSigningTime
        self.scheme = scheme
        self.certificate = certificate
        self.trustAnchor = trustAnchor
        self.revocation = revocation
        self.timeStamp = timeStamp
        self.trustedTime = trustedTime
    }
}

/// A signature's RFC 3161 time-stamp token as the report shows it.
public struct TimeStampReport: Sendable, Hashable, Codable {
    /// The token verifies, and its time is the signer's trusted time.
    public var verified: Bool
    /// Why it does not, in one sentence (nil when it does).
    public var problem: String?
    /// TSTInfo.genTime and its accuracy in seconds (nil: none stated).
    public var genTime: Date?
    public var accuracySeconds: Double?
    /// The TSA certificate's subject (RFC 2253).
    public var tsa: String?
    /// The messageImprint's hash algorithm (`sha256`).
    public var hashAlgorithm: String?

    public init(verified: Bool, problem: String?, genTime: Date?, accuracySeconds: Double?, tsa: String?, hashAlgorithm: String?) {
        self.verified = verified
        self.problem = problem
        self.genTime = genTime
        self.accuracySeconds = accuracySeconds
        self.tsa = tsa
        self.hashAlgorithm = hashAlgorithm
    }
}
