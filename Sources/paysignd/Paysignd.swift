import ArgumentParser
import Foundation
import Logging
import PaysignDaemon
import PaysignDomain
import PaysignSystemd
import CPaysignShims

/// The daemon's command line: the configuration file, and a flag for every key in it.
@main
struct Paysignd: AsyncParsableCommand {
    static let version = PaysignVersion.current

    static let configuration = CommandConfiguration(
        commandName: "paysignd",
        abstract: "The paysign daemon: owns the tokens, the registry and the audit journal; serves the API on a Unix socket.",
        discussion: """
            Configuration comes from --config (default /etc/paysign/paysignd.yaml when it exists); every \
            key can be overridden by the flag of the same name. Under systemd the daemon takes the \
            listening socket systemd passes (LISTEN_FDS) and reports READY=1 / STOPPING=1.
            """,
        version: version)

    @Option(help: ArgumentHelp("The configuration file (YAML).", valueName: "path")) var config: String?
    @Option(help: ArgumentHelp("The API socket.", valueName: "path")) var socket: String?
    @Option(name: .customLong("socket-group"), help: ArgumentHelp("Group that may connect to the socket.", valueName: "group")) var socketGroup: String?
    @Option(name: .customLong("socket-mode"), help: ArgumentHelp("Mode of the socket, in octal.", valueName: "mode")) var socketMode: String?
    @Option(name: [.customLong("state-dir"), .customLong("state-directory")], help: ArgumentHelp("Where the registry and journal live.", valueName: "dir")) var stateDirectory: String?
    @Option(name: [.customLong("module"), .customLong("pkcs11-module")], help: ArgumentHelp("Load only this PKCS#11 module.", valueName: "path")) var module: String?
    @Option(name: .customLong("administrator"), help: ArgumentHelp("A Unix user that is an administrator without a registry entry (repeatable; replaces the file's list).", valueName: "user")) var administrators: [String] = []
    @Option(name: .customLong("bind"), help: ArgumentHelp("Tie a token to a reader, READER=TOKEN-URI (repeatable; replaces the file's list).", valueName: "reader=uri")) var bindings: [String] = []
    @Option(name: .customLong("max-body-bytes"), help: "Largest request body.") var maxBodyBytes: Int?
    @Option(name: .customLong("idle-timeout-seconds"), help: "Close connections idle this long.") var idleTimeout: Double?
    @Option(name: .customLong("request-timeout-seconds"), help: "Close connections whose request takes longer.") var requestTimeout: Double?
    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error, critical.") var logLevel: String?
    @Option(name: .customLong("head-signing-interval-minutes"), help: "Re-sign the journal head this often while the journal token is logged in.") var headSigningInterval: Double?
    @Option(name: .customLong("journal-signing-token"), help: ArgumentHelp("The token that signs the journal's head.", valueName: "pkcs11-uri")) var journalSigningToken: String?
    @Option(name: .customLong("journal-signing-certificate"), help: ArgumentHelp("SHA-256 of a certificate audit verify trusts for head signatures (repeatable; replaces the file's list).", valueName: "hex")) var journalSigningCertificates: [String] = []

    @Option(name: .customLong("max-order-bytes"), help: "Largest order file POST /v1/orders accepts.") var maxOrderBytes: Int?
    @Option(name: .customLong("document-language"), help: ArgumentHelp("The language of the review sheets the daemon makes unless a request names one: ar or en (default en).", valueName: "ar|en")) var documentLanguage: String?
    @Option(name: .customLong("time-zone"), help: ArgumentHelp("The zone 'today' is taken in for the D10 calendar.", valueName: "zone")) var timeZone: String?
    @Option(name: .customLong("holiday"), help: ArgumentHelp("An official holiday (repeatable; replaces the file's list).", valueName: "YYYY-MM-DD")) var holidays: [String] = []
    @Option(name: .customLong("maximum-pin-age-days"), help: "Refuse to sign with a PIN older than this (D5).") var maximumPINAgeDays: Int?
    @Option(name: .customLong("pin-age-warning-days"), help: "Warn this many days before the maximum PIN age.") var pinAgeWarningDays: Int?
    @Option(name: .customLong("pin-cache-seconds"), help: "Keep a holder's token logged in this long after a signature (0: off).") var pinCacheSeconds: Double?
    @Option(name: .customLong("token-thread-nice"), parsing: .unconditional, help: ArgumentHelp("The nice value each token's thread asks for (-20 to 0; 0: leave it).", valueName: "nice")) var tokenThreadNice: Int?

    @Option(name: .customLong("authority-token"), help: ArgumentHelp("The certification authority's token (signs CRLs and certificates).", valueName: "pkcs11-uri")) var authorityToken: String?
    @Option(name: .customLong("trust-anchors"), help: ArgumentHelp("Root certificates: a PEM file or a folder of them.", valueName: "path")) var trustAnchors: String?
    @Option(name: .customLong("center"), help: ArgumentHelp("The payment center HOST:PORT payable orders are delivered to (D8).", valueName: "host:port")) var center: String?
    @Option(name: .customLong("center-name"), help: ArgumentHelp("The name on the center's TLS certificate (default: its host).", valueName: "name")) var centerName: String?
    @Option(name: .customLong("center-encryption-certificate"), help: ArgumentHelp("The center's encryption certificate (PEM); orders are sealed to it.", valueName: "path")) var centerEncryptionCertificate: String?
    @Option(name: .customLong("center-receipt-certificate"), help: ArgumentHelp("The center's receipt certificate (PEM); receipts must be signed by it.", valueName: "path")) var centerReceiptCertificate: String?
    @Option(name: .customLong("center-oaep-hash"), help: ArgumentHelp("The RSAES-OAEP hash the center's HSM decrypts with: sha1 or sha256.", valueName: "hash")) var centerOAEPHash: String?
    @Option(name: .customLong("submission-key"), help: ArgumentHelp("The entity's submission key for the link (PKCS#11 URI); its PIN is the credential submission-pin.", valueName: "uri")) var submissionKey: String?
    @Option(name: .customLong("delivery-interval-seconds"), help: ArgumentHelp("How often the outbox is looked at (default 5).", valueName: "seconds")) var deliveryIntervalSeconds: Double?
    @Option(name: .customLong("crl-watch"), help: ArgumentHelp("A CRL file or folder imported whenever a newer list appears.", valueName: "path")) var crlWatch: String?
    @Option(name: .customLong("crl-next-update-days"), help: "nextUpdate of the CRLs this daemon issues, in days.") var crlNextUpdateDays: Int?
    @Option(name: .customLong("dormant-days"), help: "D4: days without a signature after which a holder is dormant.") var dormantDays: Int?
    @Option(name: .customLong("retirement-warning-days"), help: "D6: a second signer retiring within this many days is due to surrender.") var retirementWarningDays: Int?
    @Option(name: .customLong("max-connections-per-user"), help: "Connections one Unix user may hold open.") var maxConnectionsPerUser: Int?
    @Option(name: .customLong("max-requests-per-user"), help: "Requests of one Unix user worked on at once.") var maxRequestsPerUser: Int?
    @Option(name: .customLong("body-memory-bytes-per-user"), help: "Bytes of request bodies one Unix user may have in memory at once.") var bodyMemoryBytesPerUser: Int?
    @Option(name: .customLong("body-memory-bytes"), help: "Bytes of request bodies all users together may have in memory at once.") var bodyMemoryBytes: Int?

    func resolvedConfiguration() throws -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        let path = config ?? (FileManager.default.fileExists(atPath: "/etc/paysign/paysignd.yaml") ? "/etc/paysign/paysignd.yaml" : nil)
        if let path { configuration = try DaemonConfiguration.load(from: path) }
        if let socket { configuration.socket = socket }
        if let socketGroup { configuration.socketGroup = socketGroup.isEmpty ? nil : socketGroup }
        if let socketMode { configuration.socketMode = socketMode }
        if let stateDirectory { configuration.stateDirectory = stateDirectory }
        if let module { configuration.pkcs11Module = module }
        if !administrators.isEmpty { configuration.administrators = administrators }
        if !bindings.isEmpty {
            configuration.readerBindings = try bindings.map { text in
                guard let cut = text.range(of: "=pkcs11:") else {
                    throw DaemonError("--bind takes READER=TOKEN-URI, e.g. 'Virtual PCD 00 00=pkcs11:token=officer1'")
                }
                return .init(reader: String(text[..<cut.lowerBound]), token: String(text[text.index(after: cut.lowerBound)...]))
            }
        }
        if let maxBodyBytes { configuration.maxBodyBytes = maxBodyBytes }
        if let idleTimeout { configuration.idleTimeoutSeconds = idleTimeout }
        if let requestTimeout { configuration.requestTimeoutSeconds = requestTimeout }
        if let logLevel { configuration.logLevel = logLevel }
        if let headSigningInterval { configuration.headSigningIntervalMinutes = headSigningInterval }
        if let journalSigningToken { configuration.journalSigningToken = journalSigningToken }
        if !journalSigningCertificates.isEmpty { configuration.journalSigningCertificates = journalSigningCertificates }
        if let maxOrderBytes { configuration.maxOrderBytes = maxOrderBytes }
        if let timeZone { configuration.timeZone = timeZone }
        if let documentLanguage { configuration.documentLanguage = documentLanguage }
        if !holidays.isEmpty { configuration.holidays = holidays }
        if let maximumPINAgeDays { configuration.maximumPINAgeDays = maximumPINAgeDays }
        if let pinAgeWarningDays { configuration.pinAgeWarningDays = pinAgeWarningDays }
        if let pinCacheSeconds { configuration.pinCacheSeconds = pinCacheSeconds }
        if let tokenThreadNice { configuration.tokenThreadNice = tokenThreadNice }
        if let authorityToken { configuration.authorityToken = authorityToken }
        if let trustAnchors { configuration.trustAnchors = trustAnchors }
        if let crlWatch { configuration.crlWatch = crlWatch }
        if let center { configuration.center = center }
        if let centerName { configuration.centerName = centerName }
        if let centerEncryptionCertificate { configuration.centerEncryptionCertificate = centerEncryptionCertificate }
        if let centerReceiptCertificate { configuration.centerReceiptCertificate = centerReceiptCertificate }
        if let centerOAEPHash { configuration.centerOAEPHash = centerOAEPHash }
        if let submissionKey { configuration.submissionKey = submissionKey }
        if let deliveryIntervalSeconds { configuration.deliveryIntervalSeconds = deliveryIntervalSeconds }
        if let crlNextUpdateDays { configuration.crlNextUpdateDays = crlNextUpdateDays }
        if let dormantDays { configuration.dormantDays = dormantDays }
        if let retirementWarningDays { configuration.retirementWarningDays = retirementWarningDays }
        if let maxConnectionsPerUser { configuration.maxConnectionsPerUser = maxConnectionsPerUser }
        if let maxRequestsPerUser { configuration.maxRequestsPerUser = maxRequestsPerUser }
        if let bodyMemoryBytesPerUser { configuration.bodyMemoryBytesPerUser = bodyMemoryBytesPerUser }
        if let bodyMemoryBytes { configuration.bodyMemoryBytes = bodyMemoryBytes }
        try configuration.validate()
        return configuration
    }

    func run() async throws {
        // Before any thread or module: take what systemd passed and clear its variables.
        let inherited: [Int32]
        do { inherited = try SocketActivation.listeningSockets(unsetEnvironment: true) } catch {
            Self.fail("\(error)")
        }
        let notifier = ServiceNotifier(unsetEnvironment: true)
        // No core dumps and no ptrace by other processes of the same user: PINs pass through this
        // process (rule D5). The unit also sets LimitCORE=0.
        _ = CPaysignShims_forbid_core_dumps()
        umask(0o077)
        // A parent (a test runner, a shell) may have left these blocked; the daemon must see them.
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        let configuration: DaemonConfiguration
        do { configuration = try resolvedConfiguration() } catch let error as DaemonError {
            Self.fail(error.message)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "paysignd")
        do {
            try await Daemon(configuration: configuration, version: Self.version, logger: logger).run(inherited: inherited, notifier: notifier)
        } catch let error as DaemonError {
            Self.fail(error.message)
        }
    }

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("paysignd: \(message)\n".utf8))
        Foundation.exit(1)
    }
}
