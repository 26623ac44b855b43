import Foundation
public import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PaysignCenterApplication
import PaysignCenterLink
public import PaysignCenterStore
import PaysignOpenSSL
import PaysignPKCS11
import PaysignSecrets
public import PaysignSystemd
import PaysignTokens
import Metrics
import PaysignVerification
import PostgresNIO
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals

/// paysign-center put together (issue 18): credentials → trust → the HSM's keys → PostgreSQL
/// (migrated) → the HTTPS server, in one service group that SIGTERM and SIGINT drain.
public struct CenterService: Sendable {
    public var configuration: CenterConfiguration
    public var logger: Logger

    public init(configuration: CenterConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until a signal stops it; start-up failures throw `CenterError` (one sentence).
    /// `onReady` receives the bound port.
    public func run(notifier: ServiceNotifier, onReady: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let configuration = self.configuration
        let logger = self.logger
        try configuration.validate()
        let listen = try CenterEndpoint(parsing: configuration.listen, serverName: nil)

        // Secrets from systemd's credentials, never from settings.
        let credentials = SystemdCredentials()
        let pin: PIN
        do {
            pin = PIN(try credentials.secret("token-pin"))
        } catch let error as SystemdCredentialError {
            throw CenterError(error.message)
        }
        let tlsKey: NIOSSLPrivateKey
        do {
            if let file = configuration.tlsKeyFile {
                tlsKey = try NIOSSLPrivateKey(file: file, format: .pem)
            } else {
                tlsKey = try NIOSSLPrivateKey(bytes: try credentials.bytes("tls-key"), format: .pem)
            }
        } catch let error as SystemdCredentialError {
            throw CenterError(error.message)
        } catch {
            throw CenterError("the TLS key (\(configuration.tlsKeyFile ?? "credential tls-key")) is not a PEM private key: \(error)")
        }
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(configuration.tlsCertificate!)
        } catch {
            throw CenterError("the TLS certificate chain \(configuration.tlsCertificate!) cannot be read as PEM: \(error)")
        }
        let roots: [NIOSSLCertificate]
        do {
            roots = try NIOSSLCertificate.fromPEMFile(configuration.trustAnchors!)
        } catch {
            throw CenterError("the trust anchors \(configuration.trustAnchors!) cannot be read as PEM certificates: \(error)")
        }

        // Trust: anchors and the revocation lists, re-read when they change.
        let trust = try TrustHolder(anchorsPath: configuration.trustAnchors!, lists: configuration.revocationLists, logger: logger)

        // The HSM: one key opens envelopes, one signs receipts; both logged in with the credential's PIN.
        let tokens: TokenService
        do {
            tokens = try TokenService(modules: configuration.module.map { .path($0) } ?? .registered, logger: logger)
        } catch {
            throw CenterError("the PKCS#11 module \(configuration.module ?? "(p11-kit's)") cannot be loaded: \(error)")
        }
        let decrypter: TokenSigner
        let receiptSigner: TokenSigner
        do {
            decrypter = try await tokens.signer(for: try PKCS11URI(configuration.decryptionKey!))
            receiptSigner = try await tokens.signer(for: try PKCS11URI(configuration.receiptKey!))
            try await decrypter.login(pin: pin)
            try await receiptSigner.login(pin: pin)
        } catch {
            throw CenterError("the center's token cannot be used: \(error)")
        }

        // PostgreSQL.
        let password: String?
        do {
            password = try credentials.optionalString("database-password")
        } catch let error as SystemdCredentialError {
            throw CenterError(error.message)
        }
        let client = PostgresClient(
            configuration: configuration.postgres(password: password, connections: configuration.databaseConnections), backgroundLogger: logger)
        let store = CenterStore(client: client, logger: logger, timeout: .milliseconds(Int64(configuration.databaseTimeoutSeconds * 1000)))

        let node = configuration.node ?? ProcessInfo.processInfo.hostName
        let desk = SubmissionDesk(
            store: store, decrypter: decrypter, receiptSigner: receiptSigner, trust: { trust.context }, node: node, logger: logger)
        let routes = CenterRoutes(desk: desk, ready: {
            do {
                _ = try await store.client.query("SELECT 1", logger: logger)
            } catch {
                return "the center's database cannot be reached"
            }
            guard decrypter.isUsable, receiptSigner.isUsable else { return "the center's token is gone" }
            return nil
        }, logger: logger)
        var limits = CenterServerLimits()
        limits.maximumBodyBytes = configuration.maxEnvelopeBytes
        limits.maximumConnections = configuration.maxConnections
        limits.maximumConnectionsPerClient = configuration.effectiveMaxConnectionsPerClient
        limits.idleTimeout = .milliseconds(Int64(configuration.idleTimeoutSeconds * 1000))
        limits.drainTimeout = .milliseconds(Int64(configuration.drainSeconds * 1000))
        let server = try CenterHTTPServer(
            certificateChain: chain, key: tlsKey, trustRoots: roots, judge: PeerJudge(trust: { trust.context }), limits: limits, logger: logger,
            group: MultiThreadedEventLoopGroup.singleton, route: { await routes.route($0) })

        // The figures: swift-metrics in the use cases and the server, exported in Prometheus's format.
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let operations = configuration.operationsListen.isEmpty ? nil : try CenterEndpoint(parsing: configuration.operationsListen, serverName: nil)
        let http = HTTPSService(
            server: server, store: store, host: listen.host, port: listen.port, node: node, notifier: notifier, logger: logger,
            operations: operations.map { (OperationsServer(registry: registry, ready: routes.ready, logger: logger), $0) },
            onReady: onReady)
        let lists = RevocationListWatch(trust: trust, interval: configuration.revocationListCheckSeconds)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: client),
                    .init(service: lists),
                    .init(service: http, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let error as CenterError {
            throw error
        } catch {
            throw CenterError("\(error)")
        }
        await decrypter.session.close()
        await receiptSigner.session.close()
        tokens.close()
    }
}

/// The HTTPS server as a service: migrates, binds, says ready, and on shutdown stops taking
/// requests and drains.
struct HTTPSService: Service {
    let server: CenterHTTPServer
    let store: CenterStore
    let host: String
    let port: Int
    let node: String
    let notifier: ServiceNotifier
    let logger: Logger
    let operations: (OperationsServer, CenterEndpoint)?
    let onReady: @Sendable (Int) -> Void

    func run() async throws {
        do {
            let applied = try await store.migrate()
            if !applied.isEmpty { logger.notice("database migrated: \(applied.joined(separator: ", "))") }
        } catch {
            throw CenterError("the center's database cannot be reached or migrated: \(String(reflecting: error).split(separator: "\n").first ?? "")")
        }
        let channel: any Channel
        do {
            channel = try await server.bind(host: host, port: port)
        } catch {
            throw CenterError("cannot listen on \(host):\(port): \(error)")
        }
        let bound = channel.localAddress?.port ?? port
        var operationsChannel: (any Channel)?
        if let (operations, endpoint) = operations {
            do {
                operationsChannel = try await operations.bind(host: endpoint.host, port: endpoint.port)
            } catch {
                try? await channel.close()
                throw CenterError("cannot listen on the operations port \(endpoint.host):\(endpoint.port): \(error)")
            }
            logger.notice("operations port (metrics, health) on \(endpoint.host):\(operationsChannel?.localAddress?.port ?? endpoint.port)")
        }
        logger.notice("paysign-center node \(node) ready on \(host):\(bound)")
        _ = notifier.ready()
        onReady(bound)
        try? await gracefulShutdown()
        _ = notifier.stopping()
        logger.notice("paysign-center node \(node) stopping: draining \(server.requestsInProgress) request(s)")
        try? await channel.close()
        await server.drain()
        try? await operationsChannel?.close()
        logger.notice("paysign-center node \(node) drained")
    }
}

/// The anchors and the newest revocation lists, rebuilt into one `TrustContext` when a list file
/// changes. A list that cannot be read keeps the previous context (and is logged): a center never
/// drops to "no list" because a file was half-written.
final class TrustHolder: Sendable {
    let anchors: [Certificate]
    let paths: [String]
    let logger: Logger
    private let state: Mutex<(context: TrustContext, stamps: [String])>

    init(anchorsPath: String, lists: [String], logger: Logger) throws {
        do {
            anchors = try TrustMaterial.anchors(at: anchorsPath)
        } catch {
            throw CenterError("the trust anchors cannot be read: \(error)")
        }
        paths = lists
        self.logger = logger
        let (context, stamps) = try Self.build(anchors: anchors, paths: lists)
        state = Mutex((context, stamps))
    }

    var context: TrustContext { state.withLock { $0.context } }

    static func stamp(_ path: String) -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let date = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return "\(date)/\((attributes?[.size] as? Int) ?? -1)"
    }

    static func build(anchors: [Certificate], paths: [String]) throws -> (TrustContext, [String]) {
        var lists: [RevocationList] = []
        for path in paths {
            do {
                lists.append(try TrustMaterial.revocationList(at: path))
            } catch {
                throw CenterError("the revocation list \(path) cannot be used: \(error)")
            }
        }
        do {
            return (try TrustContext(anchors: anchors, revocationLists: lists), paths.map(stamp))
        } catch {
            throw CenterError("\(error)")
        }
    }

    func refresh() {
        let stamps = paths.map(Self.stamp)
        guard stamps != state.withLock({ $0.stamps }) else { return }
        do {
            let (context, made) = try Self.build(anchors: anchors, paths: paths)
            state.withLock { $0 = (context, made) }
            logger.notice("revocation lists re-read (\(paths.count) file(s))")
        } catch {
            logger.error("revocation lists changed but cannot be used; the previous ones stay: \(error)")
        }
    }
}

struct RevocationListWatch: Service {
    let trust: TrustHolder
    let interval: Double

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(Int(interval * 1000)))
                    trust.refresh()
                }
            }
        } catch is CancellationError {
            return
        }
    }
}


/// The center's administration on its database, from a node (`paysign-center staff …`): the same
/// settings and credentials as the server, one short-lived connection pool.
public enum CenterAdministration {
    public static func withStore<T: Sendable>(
        _ configuration: CenterConfiguration, logger: Logger, _ body: @escaping @Sendable (CenterStore) async throws -> T
    ) async throws -> T {
        let password: String?
        do {
            password = try SystemdCredentials().optionalString("database-password")
        } catch let error as SystemdCredentialError {
            throw CenterError(error.message)
        }
        let client = PostgresClient(configuration: configuration.postgres(password: password, connections: 2), backgroundLogger: logger)
        let store = CenterStore(client: client, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            group.addTask {
                do {
                    try await store.migrate()
                } catch {
                    throw CenterError("the center's database cannot be reached or migrated: \(String(reflecting: error).split(separator: "\n").first ?? "")")
                }
                return try await body(store)
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CenterError("the database connection ended")
        }
    }
}

extension CenterConfiguration {
    /// PostgreSQL's client settings: a host, or the folder of its Unix socket (a path).
    func postgres(password: String?, connections: Int) -> PostgresClient.Configuration {
        var database: PostgresClient.Configuration
        if databaseHost.hasPrefix("/") {
            database = .init(
                unixSocketPath: databaseHost + "/.s.PGSQL.\(databasePort)", username: databaseUser, password: password,
                database: databaseName)
        } else {
            database = .init(
                host: databaseHost, port: databasePort, username: databaseUser, password: password, database: databaseName,
                tls: .disable)
        }
        database.options.maximumConnections = connections
        return database
    }
}
