import Foundation
import PaysignApplication
public import Logging
import PaysignDomain
import PaysignPCSC
import PaysignStore
import PaysignPKCS11
public import PaysignSystemd
import PaysignTokens
import ServiceLifecycle
import UnixSignals

/// The socket server as a service of the group: it stops accepting on graceful shutdown.
struct APIServerService: Service {
    let server: HTTPServer
    let notifier: ServiceNotifier
    let logger: Logger
    let onReady: @Sendable () -> Void
    /// Runs when shutdown begins, before open requests drain (ends the event streams).
    var onShutdown: @Sendable () -> Void = {}

    func run() async throws {
        try await server.run(onReady: {
            onReady()
            _ = notifier.ready()
            logger.notice("paysignd ready")
        }, shutdown: {
            try? await gracefulShutdown()
            _ = notifier.stopping()
            logger.notice("paysignd stopping")
            onShutdown()
        })
    }
}

/// paysignd put together: registry → token monitor → socket server, in one service group that
/// SIGTERM and SIGINT shut down gracefully.
public struct Daemon: Sendable {
    public var configuration: DaemonConfiguration
    public var version: String
    public var logger: Logger

    public init(configuration: DaemonConfiguration, version: String, logger: Logger) {
        self.configuration = configuration
        self.version = version
        self.logger = logger
    }

    /// Runs until a signal stops it. Start-up failures throw `DaemonError` (one sentence).
    ///
    /// `inherited` are the listening sockets systemd passed, and `notifier` its notification
    /// socket: both read by `main` before any thread or module exists (`unsetenv` is not
    /// thread-safe, and fd 3 must be close-on-exec before a PKCS#11 module can fork a helper).
    public func run(inherited: [Int32], notifier: ServiceNotifier, onReady: @escaping @Sendable () -> Void = {}) async throws {
        let configuration = self.configuration
        let logger = self.logger
        let startedAt = Date()
        // The socket first: a second daemon or a stray file is refused before anything is opened.
        // So is a socket group that does not exist (the socket would stay root's alone).
        if inherited.isEmpty {
            try HTTPServer.prepare(socketPath: configuration.socket)
            _ = try HTTPServer.socketGroupID(configuration.socketGroup)
        }
        let registry = try await RegistryAccess.open(stateDirectory: configuration.stateDirectory, logger: logger)
        // The threads that talk to tokens get a core first (`TokenThreadPriority`): the token is
        // the slow part, and the bookkeeping around its signatures waits for it, not the reverse.
        TokenThreadPriority.nice = configuration.tokenThreadNice == 0 ? nil : Int32(configuration.tokenThreadNice)
        let tokens: TokenService
        do {
            tokens = try TokenService(modules: configuration.pkcs11Module.map { .path($0) } ?? .registered, logger: logger)
        } catch {
            throw DaemonError("cannot load the PKCS#11 modules: \(error)")
        }
        defer { tokens.close() }
        let bindings = try configuration.readerBindings.map { binding in
            do { return PresenceBinding(token: try PKCS11URI(binding.token), reader: binding.reader) } catch {
                throw DaemonError("reader-bindings: \(error)")
            }
        }
        let bus = EventBus()
        let watcher = PresenceWatcher(library: tokens.library, bindings: bindings, logger: logger)
        let monitor = TokenMonitor(watcher: watcher, bus: bus, logger: logger) { event in
            await registry.journal(readerEvent: event)
        }
        var context = APIContext(tokens: tokens, bus: bus, monitor: monitor, startedAt: startedAt, version: version)
        let store = registry.registry
        context.tokenEntity = { serial in
            guard let token = try? await store.token(serial: serial), let holder = token.holder,
                let op = try? await store.operator(id: holder)
            else { return nil }
            return op.entityCode
        }
        let directory = registry.directory(administrators: Set(configuration.administrators))
        let journalSigner = JournalSigner(
            registry: registry.registry, tokens: tokens,
            interval: configuration.headSigningIntervalMinutes.map { .seconds($0 * 60) }, logger: logger, bus: bus,
            designated: try configuration.journalSigningToken.map { text in
                do { return try PKCS11URI(text) } catch { throw DaemonError("journal-signing-token: \(error)") }
            },
            pinned: configuration.pinnedJournalCertificates)
        // The use cases (PaysignApplication), on one clock and in the configured zone; the order
        // desk and the holder desk share the per-token locks.
        let timeZone = TimeZone(identifier: configuration.timeZone) ?? .gmt
        let tokenLocks = KeyedLock()
        let desk = OrderDesk(
            registry: registry.registry, tokens: tokens, bus: bus, logger: logger,
            policy: SigningPolicy(maximumPINAgeDays: configuration.maximumPINAgeDays, pinAgeWarningDays: configuration.pinAgeWarningDays),
            holidays: configuration.holidayDays, timeZone: timeZone,
            pinCache: configuration.pinCacheSeconds > 0 ? .milliseconds(Int(configuration.pinCacheSeconds * 1000)) : nil,
            tokenLocks: tokenLocks)
        let anchors = try TrustAnchors.load(configuration.trustAnchors)
        let holders = HolderDesk(registry: registry.registry, tokens: tokens, logger: logger, tokenLocks: tokenLocks, anchors: anchors)
        await registry.warnUnscopedOperators()
        let authority = AuthorityDesk(
            registry: registry.registry, tokens: tokens, bus: bus, logger: logger,
            authorityToken: try configuration.authorityToken.map { text in
                do { return try PKCS11URI(text) } catch { throw DaemonError("authority-token: \(error)") }
            },
            anchors: anchors, nextUpdateDays: configuration.crlNextUpdateDays,
            timeZone: timeZone, dormantDays: configuration.dormantDays, retirementWarningDays: configuration.retirementWarningDays,
            onRevoked: { serial in desk.forgetLogin(serial) })
        await authority.loadHeld()
        desk.authority = authority
        let verifications = VerificationDesk(registry: registry.registry, anchors: authority.anchors, logger: logger)
        let idempotency = IdempotencyGuard(registry: registry.registry)
        var routes: [Route] = API.routes(context) + registry.routes(journalSigner: journalSigner) + desk.routes(idempotency: idempotency, documentLanguage: configuration.documentLanguageValue)
            + HolderRoutes.routes(holders, registry: registry.registry) + authority.routes()
        routes += verifications.routes(idempotency: idempotency)
        let router = Router(routes: routes, directory: directory)

        let listener: Listener
        if let fd = inherited.first {
            listener = .inherited(fd)
            logger.info("using the socket systemd passed (\(SocketActivation.boundPath(of: fd) ?? "fd \(fd)"))")
        } else {
            listener = .path(configuration.socket, mode: configuration.socketModeValue ?? 0o660, group: configuration.socketGroup)
        }
        var limits = ServerLimits()
        limits.maxBodyBytes = configuration.maxBodyBytes
        limits.largeBodies = [
            "POST /v1/orders": max(configuration.maxOrderBytes, configuration.maxBodyBytes),
            "POST /v1/verifications": max(VerificationDesk.bodyLimit(maxOrderBytes: configuration.maxOrderBytes), configuration.maxBodyBytes),
        ]
        limits.idleTimeout = .milliseconds(Int(configuration.idleTimeoutSeconds * 1000))
        limits.requestTimeout = .milliseconds(Int(configuration.requestTimeoutSeconds * 1000))
        limits.shares.connectionsPerUser = configuration.maxConnectionsPerUser
        limits.shares.requestsPerUser = configuration.maxRequestsPerUser
        limits.shares.bodyBytesPerUser = configuration.bodyMemoryBytesPerUser
        limits.shares.bodyBytesTotal = configuration.bodyMemoryBytes
        let server = HTTPServer(listener: listener, router: router, limits: limits, logger: logger)
        await registry.journalConfigurationLoaded(configuration)

        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: monitor),
                    .init(service: journalSigner),
                    .init(service: CRLWatcher(path: configuration.crlWatch, authority: authority, logger: logger)),
                    .init(service: IdempotencyPruner(registry: registry.registry, logger: logger)),
                    .init(service: DeliveryService(configuration: configuration, registry: registry.registry, tokens: tokens, logger: logger)),
                    .init(service: APIServerService(server: server, notifier: notifier, logger: logger, onReady: onReady, onShutdown: { bus.finishAll() }),
                          successTerminationBehavior: .gracefullyShutdownGroup,
                          failureTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let error as DaemonError {
            throw error
        } catch {
            throw DaemonError("\(error)")
        }
        bus.finishAll()
    }
}

/// Runs a periodic service's loop until the daemon shuts down: the shutdown cancels the loop
/// (its sleep throws `CancellationError`), which is the service's normal end, not a failure that
/// would make paysignd exit non-zero on every `systemctl stop`.
func untilShutdown(_ loop: @escaping @Sendable () async throws -> Void) async throws {
    do {
        try await cancelWhenGracefulShutdown(loop)
    } catch is CancellationError {
        return
    }
}
