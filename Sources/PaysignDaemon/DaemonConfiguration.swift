import Foundation
import PaysignText
import PaysignApplication
import PaysignDomain
import Yams

/// paysignd's configuration: one YAML file (`/etc/paysign/paysignd.yaml`), every key optional
/// with a safe default, every key overridable by a flag of the same name. Unknown keys are
/// refused, so a typo never passes silently.
///
/// ```yaml
/// socket: /run/paysign/paysign.sock      # the API socket (ignored when systemd passes one)
/// socket-group: paysign                  # group of the socket; its members may connect
/// socket-mode: "0660"
/// state-directory: /var/lib/paysign      # the registry and journal (paysign.sqlite)
/// pkcs11-module: null                    # one module path; null: every module p11-kit registers
/// administrators: [root]                 # Unix users that are administrators without a registry entry
/// reader-bindings:                       # tokens whose module does not name their reader
///   - reader: "Virtual PCD 00 00"
///     token: "pkcs11:token=officer1"
/// max-body-bytes: 1048576
/// idle-timeout-seconds: 30
/// request-timeout-seconds: 15
/// log-level: info                        # trace, debug, info, notice, warning, error, critical
/// journal-signing-token: "pkcs11:token=audit"   # the only token that signs the journal head
/// journal-signing-certificates: [ "3f2a…" ]     # SHA-256 of the certificates audit verify trusts
/// head-signing-interval-minutes: 60      # re-sign the head while that token is logged in
/// max-order-bytes: 33554432              # largest order file POST /v1/orders accepts
/// time-zone: Africa/Cairo                # the zone "today" is taken in for the D10 calendar
/// document-language: ar                  # the review sheet's language unless a request names one
/// holidays: [2026-10-06, 2027-01-07]     # official holidays (D10: pay the working day before)
/// maximum-pin-age-days: 180              # refuse to sign with an older PIN (D5); null: no limit
/// pin-age-warning-days: 14               # warn this many days before
/// pin-cache-seconds: 0                   # keep a holder's token logged in this long after a signature; 0: off
/// token-thread-nice: -10                 # nice value of the threads that talk to tokens (-20…0; 0: leave them)
/// authority-token: "pkcs11:token=authority"   # the certification authority's token (CRLs, certificates); unset: not the authority
/// trust-anchors: /etc/paysign/trust-anchors   # PEM file or folder of root certificates
/// crl-watch: /var/lib/paysign/incoming-crl    # a CRL file or folder imported whenever it changes; unset: import by API only
/// crl-next-update-days: 7                # nextUpdate of the CRLs this daemon issues
/// dormant-days: 90                       # D4: a holder with no signature this long is dormant
/// retirement-warning-days: 180           # D6: a second signer retiring within this is due to surrender
/// center: "center.example.gov.eg:8443"   # the payment center (D8); unset: payable orders wait in the outbox
/// center-name: center.example.gov.eg     # the name on the center's TLS certificate (default: center's host)
/// center-encryption-certificate: /etc/paysign/center-encryption.pem  # orders are sealed to it
/// center-receipt-certificate: /etc/paysign/center-receipt.pem        # receipts must be signed by it
/// center-oaep-hash: sha256               # RSAES-OAEP hash the center's HSM decrypts with (sha1, sha256)
/// submission-key: "pkcs11:token=submission"  # the entity's key for the link (its PIN: credential submission-pin)
/// delivery-interval-seconds: 5           # how often the outbox is looked at
/// ```
public struct DaemonConfiguration: Sendable, Hashable, Codable {
    public var socket: String = "/run/paysign/paysign.sock"
    public var socketGroup: String? = "paysign"
    public var socketMode: String = "0660"
    public var stateDirectory: String = "/var/lib/paysign"
    public var pkcs11Module: String?
    public var administrators: [String] = ["root"]
    public var readerBindings: [ReaderBinding] = []
    public var maxBodyBytes: Int = 1 << 20
    public var idleTimeoutSeconds: Double = 30
    public var requestTimeoutSeconds: Double = 15
    public var logLevel: String = "info"
    /// Re-sign the journal's head this often (minutes) once the journal token is logged in.
    public var headSigningIntervalMinutes: Double?
    /// The one token that may sign the journal's head (PKCS#11 URI); unset: head signing is off.
    public var journalSigningToken: String?
    /// SHA-256 fingerprints (hex) of the certificates whose head signatures `audit verify` trusts.
    /// Kept in this root-owned file, outside the database a forger could rewrite.
    public var journalSigningCertificates: [String] = []
    /// Largest order file `POST /v1/orders` accepts (the other routes keep `max-body-bytes`).
    public var maxOrderBytes: Int = 32 << 20
    /// Fair shares (issue 16): connections one Unix user may hold open, requests of one user
    /// worked on at once, bytes of request bodies one user and all users together may have in the
    /// daemon's memory at once. Root is not counted.
    public var maxConnectionsPerUser: Int = 32
    public var maxRequestsPerUser: Int = 16
    public var bodyMemoryBytesPerUser: Int = 96 << 20
    public var bodyMemoryBytes: Int = 128 << 20
    /// The time zone whose calendar day is "today" for the D10 checks.
    public var timeZone: String = "Africa/Cairo"
    /// The language of the documents the daemon makes (the review sheet, `ar` or `en`) when a
    /// request does not name one with `?lang=`.
    public var documentLanguage: String = "en"
    /// Official holidays, `YYYY-MM-DD` (D10: a pay date on one moves to the working day before).
    public var holidays: [String] = []
    /// Refuse to sign with a PIN not changed for this many days (D5); nil: no limit.
    public var maximumPINAgeDays: Int?
    /// Warn this many days before `maximum-pin-age-days`.
    public var pinAgeWarningDays: Int = 14
    /// After a signature, keep the holder's token logged in for this many seconds so the same
    /// holder can sign again without the PIN; 0 (the default): every signature takes the PIN.
    public var pinCacheSeconds: Double = 0
    /// The nice value the threads that talk to tokens ask for (`TokenThreadPriority`); 0: leave it.
    public var tokenThreadNice: Int = -10
    /// The certification authority's own token (PKCS#11 URI): it signs CRLs and certificates.
    public var authorityToken: String?
    /// Root certificates (a PEM file, or a folder of them) that CRLs and certificates chain to.
    public var trustAnchors: String?
    /// A CRL file, or a folder of them, imported whenever one newer than the held list appears.
    public var crlWatch: String?
    /// How far ahead the CRLs this daemon issues announce the next one (nextUpdate), in days.
    public var crlNextUpdateDays: Int = 7
    /// D4: a holder with no signature for this many days is reported dormant.
    public var dormantDays: Int = 90
    /// D6: a second-signature holder retiring within this many days is reported due to surrender.
    public var retirementWarningDays: Int = 180
    /// The payment center (`HOST:PORT`) payable orders are delivered to (D8); nil: they wait in the outbox.
    public var center: String?
    /// The name the center's TLS certificate carries (default: the host of `center`).
    public var centerName: String?
    /// The center's encryption certificate (PEM): every order is sealed to it.
    public var centerEncryptionCertificate: String?
    /// The center's receipt certificate (PEM): a receipt signed by any other is not accepted.
    public var centerReceiptCertificate: String?
    /// The RSAES-OAEP hash the center's HSM decrypts with (`sha1` or `sha256`).
    public var centerOAEPHash: String = "sha256"
    /// The entity's submission key (PKCS#11 URI) that authenticates the link; its PIN is the
    /// credential `submission-pin`.
    public var submissionKey: String?
    /// How often the outbox is looked at for deliveries due.
    public var deliveryIntervalSeconds: Double = 5
    /// The file this was read from (not a key).
    public var source: String?

    public struct ReaderBinding: Sendable, Hashable, Codable {
        public var reader: String
        public var token: String
        public init(reader: String, token: String) {
            self.reader = reader
            self.token = token
        }
    }

    public init() {}

    /// The largest body any route reads: an order file, or a verification's base64 JSON of one.
    public var largestBodyBytes: Int {
        max(maxBodyBytes, maxOrderBytes, VerificationDesk.bodyLimit(maxOrderBytes: maxOrderBytes))
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case socket
        case socketGroup = "socket-group"
        case socketMode = "socket-mode"
        case stateDirectory = "state-directory"
        case pkcs11Module = "pkcs11-module"
        case administrators
        case readerBindings = "reader-bindings"
        case maxBodyBytes = "max-body-bytes"
        case idleTimeoutSeconds = "idle-timeout-seconds"
        case requestTimeoutSeconds = "request-timeout-seconds"
        case logLevel = "log-level"
        case headSigningIntervalMinutes = "head-signing-interval-minutes"
        case journalSigningToken = "journal-signing-token"
        case journalSigningCertificates = "journal-signing-certificates"
        case maxOrderBytes = "max-order-bytes"
        case maxConnectionsPerUser = "max-connections-per-user"
        case maxRequestsPerUser = "max-requests-per-user"
        case bodyMemoryBytesPerUser = "body-memory-bytes-per-user"
        case bodyMemoryBytes = "body-memory-bytes"
        case timeZone = "time-zone"
        case documentLanguage = "document-language"
        case holidays
        case maximumPINAgeDays = "maximum-pin-age-days"
        case pinAgeWarningDays = "pin-age-warning-days"
        case pinCacheSeconds = "pin-cache-seconds"
        case tokenThreadNice = "token-thread-nice"
        case authorityToken = "authority-token"
        case trustAnchors = "trust-anchors"
        case crlWatch = "crl-watch"
        case crlNextUpdateDays = "crl-next-update-days"
        case dormantDays = "dormant-days"
        case retirementWarningDays = "retirement-warning-days"
        case center
        case centerName = "center-name"
        case centerEncryptionCertificate = "center-encryption-certificate"
        case centerReceiptCertificate = "center-receipt-certificate"
        case centerOAEPHash = "center-oaep-hash"
        case submissionKey = "submission-key"
        case deliveryIntervalSeconds = "delivery-interval-seconds"
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let all = try decoder.container(keyedBy: AnyKey.self)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = all.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw DaemonError("unknown configuration key '\(unknown)'; known keys: \(known.sorted().joined(separator: ", "))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = DaemonConfiguration()
        socket = try c.decodeIfPresent(String.self, forKey: .socket) ?? defaults.socket
        socketGroup = try c.decodeIfPresent(String.self, forKey: .socketGroup) ?? defaults.socketGroup
        socketMode = try c.decodeIfPresent(String.self, forKey: .socketMode) ?? defaults.socketMode
        stateDirectory = try c.decodeIfPresent(String.self, forKey: .stateDirectory) ?? defaults.stateDirectory
        pkcs11Module = try c.decodeIfPresent(String.self, forKey: .pkcs11Module)
        administrators = try c.decodeIfPresent([String].self, forKey: .administrators) ?? defaults.administrators
        readerBindings = try c.decodeIfPresent([ReaderBinding].self, forKey: .readerBindings) ?? []
        maxBodyBytes = try c.decodeIfPresent(Int.self, forKey: .maxBodyBytes) ?? defaults.maxBodyBytes
        idleTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? defaults.idleTimeoutSeconds
        requestTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .requestTimeoutSeconds) ?? defaults.requestTimeoutSeconds
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? defaults.logLevel
        headSigningIntervalMinutes = try c.decodeIfPresent(Double.self, forKey: .headSigningIntervalMinutes)
        journalSigningToken = try c.decodeIfPresent(String.self, forKey: .journalSigningToken)
        journalSigningCertificates = try c.decodeIfPresent([String].self, forKey: .journalSigningCertificates) ?? []
        maxOrderBytes = try c.decodeIfPresent(Int.self, forKey: .maxOrderBytes) ?? defaults.maxOrderBytes
        maxConnectionsPerUser = try c.decodeIfPresent(Int.self, forKey: .maxConnectionsPerUser) ?? defaults.maxConnectionsPerUser
        maxRequestsPerUser = try c.decodeIfPresent(Int.self, forKey: .maxRequestsPerUser) ?? defaults.maxRequestsPerUser
        bodyMemoryBytesPerUser = try c.decodeIfPresent(Int.self, forKey: .bodyMemoryBytesPerUser) ?? defaults.bodyMemoryBytesPerUser
        bodyMemoryBytes = try c.decodeIfPresent(Int.self, forKey: .bodyMemoryBytes) ?? defaults.bodyMemoryBytes
        timeZone = try c.decodeIfPresent(String.self, forKey: .timeZone) ?? defaults.timeZone
        documentLanguage = try c.decodeIfPresent(String.self, forKey: .documentLanguage) ?? defaults.documentLanguage
        holidays = try c.decodeIfPresent([String].self, forKey: .holidays) ?? []
        maximumPINAgeDays = try c.decodeIfPresent(Int.self, forKey: .maximumPINAgeDays)
        pinAgeWarningDays = try c.decodeIfPresent(Int.self, forKey: .pinAgeWarningDays) ?? defaults.pinAgeWarningDays
        pinCacheSeconds = try c.decodeIfPresent(Double.self, forKey: .pinCacheSeconds) ?? defaults.pinCacheSeconds
        tokenThreadNice = try c.decodeIfPresent(Int.self, forKey: .tokenThreadNice) ?? defaults.tokenThreadNice
        authorityToken = try c.decodeIfPresent(String.self, forKey: .authorityToken)
        trustAnchors = try c.decodeIfPresent(String.self, forKey: .trustAnchors)
        crlWatch = try c.decodeIfPresent(String.self, forKey: .crlWatch)
        crlNextUpdateDays = try c.decodeIfPresent(Int.self, forKey: .crlNextUpdateDays) ?? defaults.crlNextUpdateDays
        center = try c.decodeIfPresent(String.self, forKey: .center)
        centerName = try c.decodeIfPresent(String.self, forKey: .centerName)
        centerEncryptionCertificate = try c.decodeIfPresent(String.self, forKey: .centerEncryptionCertificate)
        centerReceiptCertificate = try c.decodeIfPresent(String.self, forKey: .centerReceiptCertificate)
        centerOAEPHash = try c.decodeIfPresent(String.self, forKey: .centerOAEPHash) ?? defaults.centerOAEPHash
        submissionKey = try c.decodeIfPresent(String.self, forKey: .submissionKey)
        deliveryIntervalSeconds = try c.decodeIfPresent(Double.self, forKey: .deliveryIntervalSeconds) ?? defaults.deliveryIntervalSeconds
        dormantDays = try c.decodeIfPresent(Int.self, forKey: .dormantDays) ?? defaults.dormantDays
        retirementWarningDays = try c.decodeIfPresent(Int.self, forKey: .retirementWarningDays) ?? defaults.retirementWarningDays
    }

    /// Reads and checks a configuration file; one sentence for anything wrong.
    public static func load(from path: String) throws -> DaemonConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DaemonError("cannot read the configuration file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        // A file of comments only (an example with every key commented out) is an empty
        // document, which YAML reads as null: the defaults, as for an empty file.
        let meaningful = text.split(whereSeparator: \.isNewline).contains { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return !trimmed.isEmpty && !trimmed.hasPrefix("#") && trimmed != "---" && trimmed != "..."
        }
        if !meaningful { return DaemonConfiguration() }
        let configuration: DaemonConfiguration
        do {
            configuration = try YAMLDecoder().decode(DaemonConfiguration.self, from: text)
        } catch let error as DaemonError {
            throw DaemonError("\(path): \(error.message)")
        } catch let DecodingError.typeMismatch(_, context) {
            throw DaemonError("\(path): '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch let DecodingError.dataCorrupted(context) {
            let cause = context.underlyingError.map { "\($0)" } ?? context.debugDescription
            throw DaemonError("\(path) is not valid YAML: \(cause.split(separator: "\n").first ?? "")")
        } catch {
            throw DaemonError("\(path) is not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        var loaded = configuration
        loaded.source = path
        try loaded.validate()
        return loaded
    }

    /// The mode as a number (`"0660"` → 0o660).
    public var socketModeValue: UInt32? { UInt32(socketMode, radix: 8) }

    /// `document-language` as a language (checked when the file was read; English otherwise).
    var documentLanguageValue: Language { Language(rawValue: documentLanguage) ?? .en }

    public func validate() throws {
        guard let mode = socketModeValue, mode <= 0o777 else {
            throw DaemonError("socket-mode must be an octal mode such as \"0660\", not '\(socketMode)'")
        }
        if mode & 0o007 != 0 {
            throw DaemonError("socket-mode \(socketMode) lets every local user connect; use 0660 and the socket-group")
        }
        guard socket.hasPrefix("/") else { throw DaemonError("socket must be an absolute path, not '\(socket)'") }
        guard stateDirectory.hasPrefix("/") else {
            throw DaemonError("state-directory must be an absolute path, not '\(stateDirectory)'")
        }
        guard (1024...(64 << 20)).contains(maxBodyBytes) else {
            throw DaemonError("max-body-bytes must be between 1024 and 67108864")
        }
        guard (0.1...86_400).contains(idleTimeoutSeconds), (0.1...86_400).contains(requestTimeoutSeconds) else {
            throw DaemonError("idle-timeout-seconds and request-timeout-seconds must be between 0.1 and 86400")
        }
        if let minutes = headSigningIntervalMinutes, !(1...10_080).contains(minutes) {
            throw DaemonError("head-signing-interval-minutes must be between 1 and 10080 (a week)")
        }
        for fingerprint in journalSigningCertificates {
            let hex = fingerprint.replacingOccurrences(of: ":", with: "").lowercased()
            guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
                throw DaemonError("journal-signing-certificates holds '\(fingerprint)', which is not a SHA-256 fingerprint")
            }
        }
        guard (1024...(1 << 30)).contains(maxOrderBytes) else {
            throw DaemonError("max-order-bytes must be between 1024 and 1073741824")
        }
        guard (1...4096).contains(maxConnectionsPerUser), (1...4096).contains(maxRequestsPerUser) else {
            throw DaemonError("max-connections-per-user and max-requests-per-user must be between 1 and 4096")
        }
        // One user's share must hold the largest body a route takes, and the whole budget one
        // user's share: otherwise an upload allowed by its limit could never be read.
        guard bodyMemoryBytesPerUser >= largestBodyBytes else {
            throw DaemonError("body-memory-bytes-per-user (\(bodyMemoryBytesPerUser)) must be at least the largest request body a route takes (\(largestBodyBytes) bytes, from max-order-bytes)")
        }
        guard bodyMemoryBytes >= bodyMemoryBytesPerUser else {
            throw DaemonError("body-memory-bytes (\(bodyMemoryBytes)) must be at least body-memory-bytes-per-user (\(bodyMemoryBytesPerUser))")
        }
        guard Language(rawValue: documentLanguage) != nil else {
            throw DaemonError("document-language '\(documentLanguage)' is not one of: \(Language.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard TimeZone(identifier: timeZone) != nil else {
            throw DaemonError("time-zone '\(timeZone)' is not a time zone name such as Africa/Cairo")
        }
        for day in holidays where CalendarDay(iso: day) == nil {
            throw DaemonError("holidays holds '\(day)', which is not a date YYYY-MM-DD")
        }
        if let days = maximumPINAgeDays, !(1...3650).contains(days) {
            throw DaemonError("maximum-pin-age-days must be between 1 and 3650")
        }
        guard (0...365).contains(pinAgeWarningDays) else {
            throw DaemonError("pin-age-warning-days must be between 0 and 365")
        }
        guard (0...3600).contains(pinCacheSeconds) else {
            throw DaemonError("pin-cache-seconds must be between 0 (off) and 3600")
        }
        guard (-20...0).contains(tokenThreadNice) else {
            throw DaemonError("token-thread-nice must be between -20 and 0 (0: the default priority)")
        }
        guard (1...366).contains(crlNextUpdateDays) else { throw DaemonError("crl-next-update-days must be between 1 and 366") }
        guard (1...3650).contains(dormantDays) else { throw DaemonError("dormant-days must be between 1 and 3650") }
        guard (0...3650).contains(retirementWarningDays) else { throw DaemonError("retirement-warning-days must be between 0 and 3650") }
        for (key, path) in [("trust-anchors", trustAnchors), ("crl-watch", crlWatch)] {
            if let path, !path.hasPrefix("/") { throw DaemonError("\(key) must be an absolute path, not '\(path)'") }
        }
        let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
        guard levels.contains(logLevel) else {
            throw DaemonError("log-level must be one of \(levels.joined(separator: ", ")), not '\(logLevel)'")
        }
        guard ["sha1", "sha256"].contains(centerOAEPHash) else {
            throw DaemonError("center-oaep-hash must be sha1 or sha256, not '\(centerOAEPHash)'")
        }
        guard deliveryIntervalSeconds > 0 else { throw DaemonError("delivery-interval-seconds must be positive") }
        if center != nil {
            let missing = [
                ("center-encryption-certificate", centerEncryptionCertificate), ("center-receipt-certificate", centerReceiptCertificate),
                ("submission-key", submissionKey), ("trust-anchors", trustAnchors),
            ].filter { $0.1 == nil }.map(\.0)
            guard missing.isEmpty else {
                throw DaemonError("center is set, so \(missing.joined(separator: ", ")) must be set too (the delivery seals to the center's certificate, checks its receipts and opens the link with the entity's submission key)")
            }
        }
    }
}

extension DaemonConfiguration {
    /// The configured holidays as days (validated by `validate`).
    var holidayDays: Set<CalendarDay> { Set(holidays.compactMap(CalendarDay.init(iso:))) }

    /// The pinned fingerprints as lowercase hex without colons.
    var pinnedJournalCertificates: Set<String> {
        Set(journalSigningCertificates.map { $0.replacingOccurrences(of: ":", with: "").lowercased() })
    }
}
