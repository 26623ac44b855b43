import ArgumentParser
import CPaysignShims
import Foundation
import Logging
import PaysignCenterServer
import PaysignCenterStore
import PaysignDomain
import PaysignOpenSSL
import PaysignSystemd

/// The payment center's server (issue 18): stateless, any number of nodes on one PostgreSQL.
@main
struct PaysignCenter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paysign-center",
        abstract: "The payment center: its server, and the administration of its people.",
        version: PaysignVersion.current,
        subcommands: [Serve.self, StaffCommand.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "The payment center's server: receives entities' signed orders over mutual TLS 1.3, opens them on its HSM, verifies them, accepts each order once across all nodes, and answers with a receipt signed on its token.",
        discussion: """
            Secrets are systemd credentials, read from $CREDENTIALS_DIRECTORY: token-pin (the HSM's user PIN, required), \
            tls-key (the TLS key, PEM, unless --tls-key-file is given) and database-password (when PostgreSQL asks for one). \
            Every setting of the configuration file (default /etc/paysign-center/center.yaml, when it exists) is also a flag, which wins.
            """)

    @Option(name: .customLong("config"), help: "The configuration file (YAML).") var config: String?
    @Option(name: .customLong("listen"), help: "HOST:PORT to listen on (default 127.0.0.1:8443).") var listen: String?
    @Option(name: .customLong("operations-listen"), help: "HOST:PORT of the plain-HTTP operations port (/metrics, /health/live, /health/ready; default 127.0.0.1:9464; empty: off).") var operationsListen: String?
    @Option(name: .customLong("tls-certificate"), help: "The center's TLS certificate chain (PEM).") var tlsCertificate: String?
    @Option(name: .customLong("tls-key-file"), help: "The TLS key (PEM file) when it is not the credential tls-key.") var tlsKeyFile: String?
    @Option(name: .customLong("trust-anchors"), help: "The certification authority's root certificates (PEM).") var trustAnchors: String?
    @Option(name: .customLong("revocation-list"), help: "A revocation list file (PEM or DER); repeat for each issuer.") var revocationLists: [String] = []
    @Option(name: .customLong("database-host"), help: "PostgreSQL's host, or the folder of its socket (default /var/run/postgresql).") var databaseHost: String?
    @Option(name: .customLong("database-port"), help: "PostgreSQL's port (default 5432).") var databasePort: Int?
    @Option(name: .customLong("database-user"), help: "PostgreSQL's user (default paysign).") var databaseUser: String?
    @Option(name: .customLong("database-name"), help: "PostgreSQL's database (default center).") var databaseName: String?
    @Option(name: .customLong("database-timeout-seconds"), help: "How long one database operation may wait before the request is answered 503 (default 30).") var databaseTimeoutSeconds: Double?
    @Option(name: .customLong("module"), help: "The HSM's PKCS#11 module (default: p11-kit's modules).") var module: String?
    @Option(name: .customLong("decryption-key"), help: "PKCS#11 URI of the key that opens envelopes.") var decryptionKey: String?
    @Option(name: .customLong("receipt-key"), help: "PKCS#11 URI of the key that signs receipts.") var receiptKey: String?
    @Option(name: .customLong("node"), help: "This node's name in the journal (default: the host name).") var node: String?
    @Option(name: .customLong("max-envelope-bytes"), help: "The largest envelope read (default 83886080).") var maxEnvelopeBytes: Int?
    @Option(name: .customLong("max-connections"), help: "Connections open at once (default 512).") var maxConnections: Int?
    @Option(name: .customLong("max-connections-per-client"), help: "Connections one client (an entity, or one member of staff) may hold at once; more are answered 429 (default 32).") var maxConnectionsPerClient: Int?
    @Option(name: .customLong("drain-seconds"), help: "How long SIGTERM waits for submissions in progress (default 30).") var drainSeconds: Double?
    @Option(name: .customLong("database-connections"), help: "Connections this node keeps to PostgreSQL (default 16).") var databaseConnections: Int?
    @Option(name: .customLong("idle-timeout-seconds"), help: "A connection with no request in progress this long is closed (default 30).") var idleTimeoutSeconds: Double?
    @Option(name: .customLong("revocation-list-check-seconds"), help: "How often the revocation lists' files are looked at for changes (default 60).") var revocationListCheckSeconds: Double?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel: String?

    func resolved() throws -> CenterConfiguration {
        var configuration = try CenterConfiguration.load(orDefault: config)
        if let listen { configuration.listen = listen }
        if let operationsListen { configuration.operationsListen = operationsListen }
        if let tlsCertificate { configuration.tlsCertificate = tlsCertificate }
        if let tlsKeyFile { configuration.tlsKeyFile = tlsKeyFile }
        if let trustAnchors { configuration.trustAnchors = trustAnchors }
        if !revocationLists.isEmpty { configuration.revocationLists = revocationLists }
        if let databaseHost { configuration.databaseHost = databaseHost }
        if let databasePort { configuration.databasePort = databasePort }
        if let databaseUser { configuration.databaseUser = databaseUser }
        if let databaseName { configuration.databaseName = databaseName }
        if let databaseTimeoutSeconds { configuration.databaseTimeoutSeconds = databaseTimeoutSeconds }
        if let module { configuration.module = module }
        if let decryptionKey { configuration.decryptionKey = decryptionKey }
        if let receiptKey { configuration.receiptKey = receiptKey }
        if let node { configuration.node = node }
        if let maxEnvelopeBytes { configuration.maxEnvelopeBytes = maxEnvelopeBytes }
        if let maxConnections { configuration.maxConnections = maxConnections }
        if let maxConnectionsPerClient { configuration.maxConnectionsPerClient = maxConnectionsPerClient }
        if let drainSeconds { configuration.drainSeconds = drainSeconds }
        if let databaseConnections { configuration.databaseConnections = databaseConnections }
        if let idleTimeoutSeconds { configuration.idleTimeoutSeconds = idleTimeoutSeconds }
        if let revocationListCheckSeconds { configuration.revocationListCheckSeconds = revocationListCheckSeconds }
        if let logLevel { configuration.logLevel = logLevel }
        try configuration.validate()
        return configuration
    }

    func run() async throws {
        let notifier = ServiceNotifier(unsetEnvironment: true)
        // The HSM's PIN passes through this process: no core dumps, no ptrace by the same user.
        _ = CPaysignShims_forbid_core_dumps()
        umask(0o077)
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        let configuration: CenterConfiguration
        do { configuration = try resolved() } catch let error as CenterError {
            Self.fail(error.message)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "paysign-center")
        do {
            try await CenterService(configuration: configuration, logger: logger).run(notifier: notifier)
        } catch let error as CenterError {
            Self.fail(error.message)
        } catch {
            // Whatever a library threw at start-up (a TLS context, a socket): still one sentence.
            Self.fail("cannot start: \(error)")
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("paysign-center: \(message)\n".utf8))
        Foundation.exit(1)
    }
}

/// The database settings of a node, for its administration commands.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "The configuration file (YAML; default /etc/paysign-center/center.yaml when it exists).") var config: String?
    @Option(name: .customLong("database-host"), help: "PostgreSQL's host, or the folder of its socket.") var databaseHost: String?
    @Option(name: .customLong("database-port"), help: "PostgreSQL's port.") var databasePort: Int?
    @Option(name: .customLong("database-user"), help: "PostgreSQL's user.") var databaseUser: String?
    @Option(name: .customLong("database-name"), help: "PostgreSQL's database.") var databaseName: String?

    func resolved() throws -> CenterConfiguration {
        var configuration = try CenterConfiguration.load(orDefault: config)
        if let databaseHost { configuration.databaseHost = databaseHost }
        if let databasePort { configuration.databasePort = databasePort }
        if let databaseUser { configuration.databaseUser = databaseUser }
        if let databaseName { configuration.databaseName = databaseName }
        return configuration
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (CenterStore) async throws -> T) async throws -> T {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        do {
            return try await CenterAdministration.withStore(try resolved(), logger: Logger(label: "paysign-center"), body)
        } catch let error as CenterError {
            Serve.fail(error.message)
        }
    }
}

struct StaffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "staff",
        abstract: "The center's people: operators mark orders paid or returned, auditors read (P1, P3, P6).",
        discussion: "A person is known by the SHA-256 of their staff certificate (the center staff profile), which they present at the TLS handshake. Each change is journaled in the center's journal.",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a person with their staff certificate, or give them another role.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Their staff certificate (PEM).") var certificate: String
        @Option(help: "Their name.") var name: String
        @Option(help: "operator or auditor.") var role: String

        func validate() throws {
            guard ["operator", "auditor"].contains(role) else { throw ValidationError("--role must be operator or auditor") }
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 200 else { throw ValidationError("--name must be 1 to 200 characters") }
        }

        func run() async throws {
            guard let text = try? String(contentsOfFile: certificate, encoding: .utf8), let parsed = try? Certificate(pemEncoded: text) else {
                Serve.fail("\(certificate) is not a PEM certificate")
            }
            guard parsed.policies.contains(CertificateProfileOID.centerStaff) else {
                Serve.fail("\(certificate) is not a center staff certificate (policy \(CertificateProfileOID.centerStaff)); the handshake would refuse it")
            }
            let staff = CenterStore.Staff(certificateSHA256: Hex.string(parsed.sha256Fingerprint), subject: parsed.subject, name: name, role: role)
            let actor = ProcessInfo.processInfo.environment["SUDO_USER"] ?? NSUserName()
            try await database.run { store in try await store.addStaff(staff, by: actor, at: Date()) }
            print("\(name) is a center \(role) (certificate \(staff.certificateSHA256.prefix(16))…)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the center's people.")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "JSON instead of text.") var json = false

        func run() async throws {
            let staff = try await database.run { store in try await store.allStaff() }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                print(String(decoding: try encoder.encode(staff), as: UTF8.self))
            } else if staff.isEmpty {
                print("no center staff yet: paysign-center staff add --certificate PEM --name NAME --role operator|auditor")
            } else {
                for person in staff { print("\(person.role.padding(toLength: 9, withPad: " ", startingAt: 0)) \(person.name)  \(person.certificateSHA256.prefix(16))…  \(person.subject)") }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a person (their certificate no longer gives them a role).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Their staff certificate (PEM).") var certificate: String

        func run() async throws {
            guard let text = try? String(contentsOfFile: certificate, encoding: .utf8), let parsed = try? Certificate(pemEncoded: text) else {
                Serve.fail("\(certificate) is not a PEM certificate")
            }
            let sha = Hex.string(parsed.sha256Fingerprint)
            let actor = ProcessInfo.processInfo.environment["SUDO_USER"] ?? NSUserName()
            let removed = try await database.run { store in try await store.removeStaff(certificateSHA256: sha, by: actor, at: Date()) }
            guard removed else { Serve.fail("no center staff holds the certificate \(sha.prefix(16))…") }
            print("removed the center staff with certificate \(sha.prefix(16))…")
        }
    }
}
