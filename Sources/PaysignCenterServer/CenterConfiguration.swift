import Foundation
import Yams

/// The payment center's settings (`/etc/paysign-center/center.yaml`; every key is also a flag of
/// `paysign-center`, which wins). Secrets are never settings: the token's PIN, the TLS key and the
/// database password reach the process as systemd credentials (`LoadCredential=`, read from
/// `$CREDENTIALS_DIRECTORY`: `token-pin`, `tls-key`, `database-password`).
public struct CenterConfiguration: Sendable, Codable, Hashable {
    /// `HOST:PORT` the center listens on (HTTPS, TLS 1.3, client certificates).
    public var listen = "127.0.0.1:8443"
    /// `HOST:PORT` of the operations port (plain HTTP: `/metrics`, `/health/live`,
    /// `/health/ready`, nothing else); empty: off.
    public var operationsListen = "127.0.0.1:9464"
    /// The center's TLS certificate chain (PEM, leaf first).
    public var tlsCertificate: String?
    /// The TLS key as a PEM file, when it is not the credential `tls-key` (tests, the demo).
    public var tlsKeyFile: String?
    /// The government certification authority's root certificates (PEM): clients' certificates and
    /// orders' signers must chain to them.
    public var trustAnchors: String?
    /// Revocation lists (PEM or DER files) of the anchors' and intermediates' issuers; re-read when
    /// they change. A client whose issuer has no list here is refused (its revocation is unknown).
    public var revocationLists: [String] = []
    /// PostgreSQL: a host name or address, or the folder of its Unix socket (starts with `/`).
    public var databaseHost = "/var/run/postgresql"
    public var databasePort = 5432
    public var databaseUser = "paysign"
    public var databaseName = "center"
    /// Connections this node keeps to PostgreSQL.
    public var databaseConnections = 16
    /// How long one database operation may wait before the request is answered 503 (the entity
    /// sends again, to any node): a connection that never answers must not hold a submission.
    public var databaseTimeoutSeconds = 30.0
    /// The PKCS#11 module of the center's HSM (a path, or a name p11-kit resolves); unset: every
    /// module registered with p11-kit.
    public var module: String?
    /// The key that opens envelopes (`pkcs11:token=…;id=…`), beside its encryption certificate.
    public var decryptionKey: String?
    /// The key that signs receipts, beside its certificate.
    public var receiptKey: String?
    /// This node's name in the journal (default: the host name).
    public var node: String?
    /// The largest envelope read (bytes).
    public var maxEnvelopeBytes = 80 << 20
    public var maxConnections = 512
    /// Connections one client (an entity, or one member of staff) may hold at once; unset: 32,
    /// or max-connections when that is lower (a configuration of before this key still starts).
    public var maxConnectionsPerClient: Int?
    public var effectiveMaxConnectionsPerClient: Int { maxConnectionsPerClient ?? min(32, maxConnections) }
    public var idleTimeoutSeconds = 30.0
    /// How long SIGTERM waits for submissions in progress before the connections close.
    public var drainSeconds = 30.0
    /// How often the revocation lists are looked at for changes.
    public var revocationListCheckSeconds = 60.0
    public var logLevel = "notice"

    public init() {}

    enum CodingKeys: String, CodingKey {
        case listen, module, node
        case operationsListen = "operations-listen"
        case tlsCertificate = "tls-certificate"
        case tlsKeyFile = "tls-key-file"
        case trustAnchors = "trust-anchors"
        case revocationLists = "revocation-lists"
        case databaseHost = "database-host"
        case databasePort = "database-port"
        case databaseUser = "database-user"
        case databaseName = "database-name"
        case databaseConnections = "database-connections"
        case databaseTimeoutSeconds = "database-timeout-seconds"
        case decryptionKey = "decryption-key"
        case receiptKey = "receipt-key"
        case maxEnvelopeBytes = "max-envelope-bytes"
        case maxConnections = "max-connections"
        case maxConnectionsPerClient = "max-connections-per-client"
        case idleTimeoutSeconds = "idle-timeout-seconds"
        case drainSeconds = "drain-seconds"
        case revocationListCheckSeconds = "revocation-list-check-seconds"
        case logLevel = "log-level"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = CenterConfiguration()
        listen = try c.decodeIfPresent(String.self, forKey: .listen) ?? d.listen
        operationsListen = try c.decodeIfPresent(String.self, forKey: .operationsListen) ?? d.operationsListen
        tlsCertificate = try c.decodeIfPresent(String.self, forKey: .tlsCertificate)
        tlsKeyFile = try c.decodeIfPresent(String.self, forKey: .tlsKeyFile)
        trustAnchors = try c.decodeIfPresent(String.self, forKey: .trustAnchors)
        revocationLists = try c.decodeIfPresent([String].self, forKey: .revocationLists) ?? []
        databaseHost = try c.decodeIfPresent(String.self, forKey: .databaseHost) ?? d.databaseHost
        databasePort = try c.decodeIfPresent(Int.self, forKey: .databasePort) ?? d.databasePort
        databaseUser = try c.decodeIfPresent(String.self, forKey: .databaseUser) ?? d.databaseUser
        databaseName = try c.decodeIfPresent(String.self, forKey: .databaseName) ?? d.databaseName
        databaseConnections = try c.decodeIfPresent(Int.self, forKey: .databaseConnections) ?? d.databaseConnections
        databaseTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .databaseTimeoutSeconds) ?? d.databaseTimeoutSeconds
        module = try c.decodeIfPresent(String.self, forKey: .module)
        decryptionKey = try c.decodeIfPresent(String.self, forKey: .decryptionKey)
        receiptKey = try c.decodeIfPresent(String.self, forKey: .receiptKey)
        node = try c.decodeIfPresent(String.self, forKey: .node)
        maxEnvelopeBytes = try c.decodeIfPresent(Int.self, forKey: .maxEnvelopeBytes) ?? d.maxEnvelopeBytes
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? d.maxConnections
        maxConnectionsPerClient = try c.decodeIfPresent(Int.self, forKey: .maxConnectionsPerClient)
        idleTimeoutSeconds = try c.decodeIfPresent(Double.self, forKey: .idleTimeoutSeconds) ?? d.idleTimeoutSeconds
        drainSeconds = try c.decodeIfPresent(Double.self, forKey: .drainSeconds) ?? d.drainSeconds
        revocationListCheckSeconds = try c.decodeIfPresent(Double.self, forKey: .revocationListCheckSeconds) ?? d.revocationListCheckSeconds
        logLevel = try c.decodeIfPresent(String.self, forKey: .logLevel) ?? d.logLevel
        // An unknown key is a typo that would silently keep a default.
        let known = Set(CodingKeys.allKeys.map(\.stringValue))
        let present = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        if let unknown = present.first(where: { !known.contains($0) }) {
            throw CenterError("unknown setting '\(unknown)'; the settings are \(known.sorted().joined(separator: ", "))")
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// Reads a configuration file; one sentence for anything wrong.
    public static func load(from path: String) throws -> CenterConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CenterError("cannot read the configuration file \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let meaningful = text.split(whereSeparator: \.isNewline).contains { line in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return !trimmed.isEmpty && !trimmed.hasPrefix("#") && trimmed != "---"
        }
        guard meaningful else { return CenterConfiguration() }
        do {
            return try YAMLDecoder().decode(CenterConfiguration.self, from: text)
        } catch let error as CenterError {
            throw CenterError("\(path): \(error.message)")
        } catch let DecodingError.typeMismatch(_, context) {
            throw CenterError("\(path): '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch {
            throw CenterError("\(path) is not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
    }

    /// Where the packaged unit and the staff commands look without `--config`: a folder of the
    /// center's own (world-readable: nothing secret is there; credentials are not settings), apart
    /// from the entity daemon's `/etc/paysign`, which only its group reads.
    public static let defaultPath = "/etc/paysign-center/center.yaml"

    /// The file named, else `defaultPath` when it exists, else the defaults.
    public static func load(orDefault path: String?) throws -> CenterConfiguration {
        if let path { return try load(from: path) }
        if FileManager.default.fileExists(atPath: defaultPath) { return try load(from: defaultPath) }
        return CenterConfiguration()
    }

    /// Checks what can be checked before anything is opened.
    public func validate() throws {
        guard tlsCertificate != nil else { throw CenterError("tls-certificate is not set: the center's TLS certificate chain (PEM)") }
        guard trustAnchors != nil else { throw CenterError("trust-anchors is not set: the certification authority's root certificates (PEM)") }
        guard decryptionKey != nil else { throw CenterError("decryption-key is not set: the PKCS#11 URI of the key that opens envelopes") }
        guard receiptKey != nil else { throw CenterError("receipt-key is not set: the PKCS#11 URI of the key that signs receipts") }
        guard (1...(1 << 30)).contains(maxEnvelopeBytes) else { throw CenterError("max-envelope-bytes must be from 1 to 1073741824") }
        guard (1...100_000).contains(maxConnections) else { throw CenterError("max-connections must be from 1 to 100000") }
        guard (1...maxConnections).contains(effectiveMaxConnectionsPerClient) else {
            throw CenterError("max-connections-per-client must be from 1 to max-connections (\(maxConnections))")
        }
        guard (1...1024).contains(databaseConnections) else { throw CenterError("database-connections must be from 1 to 1024") }
        guard drainSeconds >= 0, idleTimeoutSeconds > 0, revocationListCheckSeconds > 0, databaseTimeoutSeconds > 0 else {
            throw CenterError("drain-seconds, idle-timeout-seconds, revocation-list-check-seconds and database-timeout-seconds must be positive")
        }
    }
}

/// A start-up failure of the center, in one sentence.
public struct CenterError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension CenterConfiguration.CodingKeys: CaseIterable {}
extension CenterConfiguration.CodingKeys {
    static var allKeys: [Self] { allCases }
}
