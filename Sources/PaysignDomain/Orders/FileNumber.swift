/// The file number of D9: the SHA-256 digest of the exact uploaded bytes, which the entitlements
/// department writes on the disbursement form and the second signer compares with the file
/// offered for signature. This module has no crypto: the caller computes the digest.
///
/// Written for people as 64 lowercase hex digits in 16 groups of 4 joined by dashes:
/// ```
/// 9f86-d081-884c-7d65-9a2f-eaa0-c55a-d015-a3bf-4f1b-2b0b-822c-d15d-6c15-b0f0-0a08
/// ```
/// Dashes, not spaces, so the number stays one word when it is copied, double-clicked, or typed
/// on a command line. Parsing is tolerant: dashes and spaces (anywhere) are ignored, and hex
/// digits may be in either case.
public struct FileNumber: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The digest, 64 lowercase hex digits (as the audit journal's `documentSHA256`).
    public let digest: SHA256Hex

    /// From the 32 bytes of a SHA-256 digest; nil for any other length.
    public init?(digest bytes: [UInt8]) {
        guard let hex = SHA256Hex(bytes: bytes) else { return nil }
        digest = hex
    }

    public init(digest: SHA256Hex) { self.digest = digest }

    /// Parses a file number as a reviewer may type it: grouped or not, dashes or spaces, any case.
    public init?(_ text: String) {
        let compact = String(text.unicodeScalars.filter { $0 != "-" && $0 != " " })
        guard let hex = SHA256Hex(compact) else { return nil }
        digest = hex
    }

    /// `9f86-d081-…-0a08`.
    public var grouped: String {
        var out = ""
        out.reserveCapacity(79)
        for (index, character) in digest.hex.enumerated() {
            if index > 0, index % 4 == 0 { out.append("-") }
            out.append(character)
        }
        return out
    }

    public var description: String { grouped }

    /// Encoded as the grouped string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = FileNumber(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a file number (SHA-256 hex)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(grouped)
    }
}
