public import Foundation

/// What the payment center signs back for every submission it records (issue 18, D8): proof of
/// what it received and when, and what it found. The center signs the canonical JSON of this value
/// (`canonicalJSON`: keys sorted, no spaces, times in UTC to the millisecond) inside a CMS
/// SignedData on its token; the entity's daemon verifies and stores it.
public struct CenterReceipt: Sendable, Hashable, Codable {
    public static let format = "paysign-center-receipt/1"

    /// One check the center's verification failed (`VerificationReport`'s names).
    public struct FailedCheck: Sendable, Hashable, Codable {
        public var check: String
        public var rule: String?
        public var reason: String

        public init(check: String, rule: String?, reason: String) {
            self.check = check
            self.rule = rule
            self.reason = reason
        }
    }

    public var format: String = Self.format
    /// The center's number for this submission.
    public var submission: Int64
    /// SHA-256 (hex) of the envelope exactly as received: the same envelope again is a replay.
    public var envelopeSHA256: String
    /// SHA-256 (hex) of the order document both signatures cover.
    public var documentSHA256: String
    public var entity: String
    public var order: Int64
    /// The document's file number (D9), as it reads.
    public var fileNumber: String
    /// `valid`, `invalid` or `indeterminate`: the verification's verdict.
    public var verdict: String
    /// Whether the order is accepted for payment (valid, and the first of its kind: D2, D9).
    public var accepted: Bool
    public var failedChecks: [FailedCheck]
    /// When the center received the envelope (UTC).
    public var receivedAt: Date

    public init(submission: Int64, envelopeSHA256: String, documentSHA256: String, entity: String, order: Int64,
                fileNumber: String, verdict: String, accepted: Bool, failedChecks: [FailedCheck], receivedAt: Date) {
        self.submission = submission
        self.envelopeSHA256 = envelopeSHA256
        self.documentSHA256 = documentSHA256
        self.entity = entity
        self.order = order
        self.fileNumber = fileNumber
        self.verdict = verdict
        self.accepted = accepted
        self.failedChecks = failedChecks
        self.receivedAt = receivedAt
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return encoder
    }

    /// The bytes the center signs.
    public var canonicalJSON: [UInt8] {
        // A struct of strings, numbers and booleans always encodes.
        Array((try? Self.encoder().encode(self)) ?? Data())
    }

    /// Reads a receipt's content; nil when it is not this format.
    public init(canonicalJSON bytes: [UInt8]) throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 time"))
            }
            return date
        }
        self = try decoder.decode(Self.self, from: Data(bytes))
        guard format == Self.format else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "a receipt of format \(format), not \(Self.format)"))
        }
    }
}
