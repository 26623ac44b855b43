public import Foundation
public import PaysignDomain
import PaysignOpenSSL

/// The audit journal's hash chain: how one entry's hash is computed, so that anyone holding the
/// database (or an export of its `audit` table) can recompute it without paysign.
///
/// Each row of `audit` holds `seq, at, actor, kind, detail, previousHash, hash`, all text except
/// `seq`. The hash of an entry is the lowercase hex SHA-256 of these bytes:
///
/// ```
/// "paysign-audit-v1" 0x00                      17 bytes: the format, so it can change one day
/// seq                                          8 bytes, unsigned big-endian
/// len(at)           at                         4-byte big-endian byte count, then UTF-8 bytes
/// len(actor)        actor                      (same)
/// len(kind)         kind                       (same)
/// len(detail)       detail                     (same)
/// len(previousHash) previousHash               (same; 64 hex digits, so always 00 00 00 40)
/// ```
///
/// Every text field is length-prefixed, so no choice of characters inside one field can be read
/// as the start of the next. The texts are hashed exactly as stored; they are canonical when
/// written: `at` is ISO 8601 UTC with milliseconds (`2025-05-01T09:30:00.123Z`), `actor` and
/// `detail` are JSON objects with sorted keys and no whitespace (RFC 8785 form for the values used:
/// strings, integers, booleans, arrays, objects; no floating-point numbers), `kind` is one of
/// `AuditKind`'s raw values. `previousHash` is the previous entry's `hash`; the first entry's is 64
/// zeros. In Python:
///
/// ```python
/// def field(s): b = s.encode(); return len(b).to_bytes(4, "big") + b
/// msg = b"paysign-audit-v1\0" + seq.to_bytes(8, "big") + b"".join(map(field, [at, actor, kind, detail, prev]))
/// hash = hashlib.sha256(msg).hexdigest()
/// ```
///
/// A chain shows edits and deletions in the middle; it cannot show that the newest entries were
/// cut off, or that the whole file was rewritten with a fresh chain. Signed heads answer that:
/// the daemon signs `JournalHead.signingInput` on a token from time to time and stores the
/// signature (`audit_head_signatures`, with a `head-signed` entry). A truncated journal no
/// longer reaches a signed head, and a rewritten one no longer matches the stored signatures (a
/// forger would need the token to sign new heads). Copies of signed heads kept elsewhere (a log
/// server, the payment center) make this hold even against someone who deletes the stored ones.
public enum AuditChain {
    /// The first entry's `previousHash`.
    public static let genesis = SHA256Hex.zero

    static let entryPrefix: [UInt8] = Array("paysign-audit-v1".utf8) + [0]
    static let headPrefix: [UInt8] = Array("paysign-audit-head-v1".utf8) + [0]

    /// The bytes an entry's hash covers (see the type's documentation).
    public static func encoding(
        seq: Int64, at: String, actor: String, kind: String, detail: String, previousHash: String
    ) -> [UInt8] {
        var buffer: [UInt8] = []
        encode(into: &buffer, seq: seq, at: at, actor: actor, kind: kind, detail: detail, previousHash: previousHash)
        return buffer
    }

    /// An entry's hash: SHA-256 of `encoding(…)`, lowercase hex.
    public static func hash(
        seq: Int64, at: String, actor: String, kind: String, detail: String, previousHash: String
    ) -> SHA256Hex {
        // SHA256Hex(bytes:) only fails on a digest that is not 32 bytes, which SHA256 never returns.
        SHA256Hex(bytes: SHA256.hash(encoding(seq: seq, at: at, actor: actor, kind: kind, detail: detail, previousHash: previousHash)))!
    }

    /// Fills `buffer` with an entry's encoding, reusing its storage (the verifier calls this once
    /// per entry, for a whole journal).
    static func encode(
        into buffer: inout [UInt8], seq: Int64, at: String, actor: String, kind: String, detail: String,
        previousHash: String
    ) {
        buffer.removeAll(keepingCapacity: true)
        buffer.append(contentsOf: entryPrefix)
        appendBigEndian(&buffer, UInt64(bitPattern: seq))
        for text in [at, actor, kind, detail, previousHash] {
            let utf8 = text.utf8
            appendBigEndian(&buffer, UInt32(truncatingIfNeeded: utf8.count))
            buffer.append(contentsOf: utf8)
        }
    }

    /// What the daemon signs to vouch for the journal up to entry `seq`:
    /// `"paysign-audit-head-v1" 0x00`, `seq` as 8 bytes big-endian, then the 64 hex digits of the
    /// entry's hash as ASCII.
    public static func headSigningInput(seq: Int64, hash: SHA256Hex) -> [UInt8] {
        var buffer = headPrefix
        appendBigEndian(&buffer, UInt64(bitPattern: seq))
        buffer.append(contentsOf: hash.hex.utf8)
        return buffer
    }

    private static func appendBigEndian<T: FixedWidthInteger>(_ buffer: inout [UInt8], _ value: T) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}

/// The journal's newest entry: the value the daemon signs to anchor everything before it. An
/// empty journal's head is seq 0 with the genesis hash (64 zeros).
public struct JournalHead: Sendable, Hashable, Codable, CustomStringConvertible {
    public var seq: Int64
    public var hash: SHA256Hex

    public init(seq: Int64, hash: SHA256Hex) {
        self.seq = seq
        self.hash = hash
    }

    /// The bytes to sign (`AuditChain.headSigningInput`).
    public var signingInput: [UInt8] { AuditChain.headSigningInput(seq: seq, hash: hash) }

    public var description: String { "\(seq):\(hash.hex)" }
}

/// What walking the chain found. A broken journal is an answer, not a failure: the daemon reports
/// it (and can keep serving reads), so this is returned rather than thrown.
public enum JournalVerification: Sendable, Hashable, CustomStringConvertible {
    /// Every entry from 1 to `entries` is present, links to the one before it, and hashes to its
    /// stored hash; every stored head signature names an entry with that hash. `head` is the last
    /// entry's hash (the genesis hash for an empty journal).
    case intact(entries: Int64, head: SHA256Hex)
    /// The first entry that fails, and one sentence why.
    case broken(at: Int64, reason: String)

    public var isIntact: Bool {
        if case .intact = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .intact(let entries, let head): return "intact: \(entries) entries, head \(head.hex)"
        case .broken(let seq, let reason): return "broken at entry \(seq): \(reason)"
        }
    }
}

/// One entry of the journal, decoded. The stored texts are kept beside the decoded values, since
/// the hash covers those exact bytes.
public struct AuditEntry: Sendable, Hashable, Codable {
    public var seq: Int64
    /// ISO 8601 UTC with milliseconds, as stored and hashed.
    public var at: String
    public var date: Date
    public var actor: AuditActor
    public var event: AuditEvent
    /// The `actor` column as stored and hashed (canonical JSON).
    public var actorJSON: String
    /// The `detail` column as stored and hashed (canonical JSON).
    public var detailJSON: String
    public var previousHash: SHA256Hex
    public var hash: SHA256Hex

    public var kind: AuditKind { event.kind }
}

/// A signature made over a journal head on a token, as stored in `audit_head_signatures`.
public struct HeadSignature: Sendable, Hashable {
    /// The head that was signed.
    public var seq: Int64
    public var hash: SHA256Hex
    public var signature: [UInt8]
    public var certificateDER: [UInt8]
    public var certificateSHA256: SHA256Hex
    /// How `signature` was made (`ecdsa-with-SHA256`, `sha256WithRSAEncryption`, `rsassa-pss-sha256`).
    public var algorithm: String
    public var recordedAt: Date
    /// The `head-signed` entry that recorded it.
    public var auditSeq: Int64

    /// The bytes the signature covers.
    public var signingInput: [UInt8] { AuditChain.headSigningInput(seq: seq, hash: hash) }
}

/// ISO 8601 in UTC with milliseconds, the one text form of time in the database.
///
/// Written to the nearest millisecond, so that a time read back and written again gives the same
/// text: Foundation's format style truncates the binary fraction, and half of all parsed
/// millisecond values (`….678` is 0.67799…) would come out one millisecond early.
enum Timestamp {
    static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
    private static let wholeSeconds = Date.ISO8601FormatStyle(timeZone: .gmt)

    static func string(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        var (seconds, millisecond) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        if millisecond < 0 {
            seconds -= 1
            millisecond += 1000
        }
        // Whole seconds are exact in a Double: this part formats without loss. It ends with "Z".
        let head = Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(wholeSeconds).dropLast()
        let digits = String(millisecond)
        return head + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
    }

    static func date(_ text: String) -> Date? { try? style.parse(text) }
}
