import Foundation
public import Logging
import Metrics
public import NIOCore
import NIOHTTP1
import NIOTLS
public import NIOPosix
public import NIOSSL
public import PaysignCenterLink
public import PaysignDomain
import Synchronization

/// One request as a route sees it: who is on the other end (the handshake's verdict), the head and
/// the whole body (bounded before it is read).
public struct CenterRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var peer: SubmissionCertificateRule.Peer

    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}

/// One answer.
public struct CenterAnswer: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var headers: [(String, String)] = []

    public init(status: Int, contentType: String, body: [UInt8], headers: [(String, String)] = []) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public static func json<T: Encodable>(_ value: T, status: Int = 200) -> CenterAnswer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let body = (try? encoder.encode(value)).map(Array.init) ?? Array("{}".utf8)
        return CenterAnswer(status: status, contentType: "application/json", body: body)
    }
}

/// An error as the center answers it: RFC 9457 problem details (`urn:paysign:problem:KIND`, as the
/// daemon's), one sentence in `detail`, the Ministry's rule when a rule refused.
public struct CenterProblem: Error, Sendable, Codable {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var rule: String?

    public init(_ kind: String, _ title: String, status: Int, _ detail: String, rule: RuleNumber? = nil) {
        type = "urn:paysign:problem:" + kind
        self.title = title
        self.status = status
        self.detail = detail
        self.rule = rule?.rawValue
    }

    public var answer: CenterAnswer {
        var answer = CenterAnswer.json(self, status: status)
        answer.contentType = "application/problem+json"
        return answer
    }

    public static func notFound(_ path: String) -> CenterProblem {
        CenterProblem("not-found", "Not found", status: 404, "there is no route \(path) on the payment center")
    }
}

/// Limits of the server, per connection and in all.
public struct CenterServerLimits: Sendable {
    /// The largest body of any request (an envelope: the largest payroll file and its order).
    public var maximumBodyBytes = 80 << 20
    /// Connections open at once; more are closed at accept.
    public var maximumConnections = 512
    /// Connections one client may hold at once: an entity (all its submission certificates
    /// together) or one member of the center's staff. A client at its share is answered 429 on
    /// the connection beyond it, so that one entity cannot take every connection of a node.
    public var maximumConnectionsPerClient = 32
    /// A connection with no request in progress for this long is closed.
    public var idleTimeout: TimeAmount = .seconds(30)
    /// How long a drain waits for requests in progress at SIGTERM.
    public var drainTimeout: TimeAmount = .seconds(30)
    /// A connection whose TLS handshake has not completed this long after accept is closed (the
    /// idle timeout starts only once requests can be read).
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// A connection beyond its client's share is answered 429 on its first request, or closed
    /// this long after its handshake if it sends none.
    public var overShareGrace: TimeAmount = .seconds(5)

    public init() {}
}

/// HTTPS/1.1 over TLS 1.3 with client certificates (issue 18, D8). Each connection's certificate
/// is judged once, in the handshake (`PeerJudge`); a refused one never reaches HTTP. Requests run
/// as tasks; `run` returns after `shutdown` once the requests in progress have answered (drain).
public final class CenterHTTPServer: Sendable {
    let tls: NIOSSLContext
    let judge: PeerJudge
    let limits: CenterServerLimits
    let logger: Logger
    let route: @Sendable (CenterRequest) async -> CenterAnswer
    let group: MultiThreadedEventLoopGroup
    let state = Mutex(State())

    struct State {
        var connections = 0
        var inFlight = 0
        var draining = false
        var drained: [CheckedContinuation<Void, Never>] = []
        var channels: [ObjectIdentifier: any Channel] = [:]
        var perClient: [String: Int] = [:]
        /// When each client's over-share refusal was last logged (one line per client per minute).
        var shareWarnings: [String: NIODeadline] = [:]
    }

    /// Whether to log a refusal for `key` now: once a minute per client, so that a client that
    /// keeps opening connections beyond its share cannot flood the journal.
    func shouldLogOverShare(_ key: String) -> Bool {
        let now = NIODeadline.now()
        return state.withLock { state in
            if let last = state.shareWarnings[key], now - last < .minutes(1) { return false }
            if state.shareWarnings.count > 10_000 { state.shareWarnings.removeAll() }
            state.shareWarnings[key] = now
            return true
        }
    }

    /// Whose share a connection counts against: an entity, whatever certificate of its own it
    /// presents, or one member of staff.
    static func shareKey(_ peer: SubmissionCertificateRule.Peer) -> (key: String, name: String) {
        switch peer {
        case .entity(let code): ("entity:" + code, "entity \(code)")
        case .staff(let subject, let sha256): ("staff:" + sha256, "staff member \(subject)")
        }
    }

    /// Counts a connection against its client's share; false (and nothing counted) when the
    /// client already holds its share.
    func claim(_ key: String) -> Bool {
        state.withLock { state in
            let held = state.perClient[key, default: 0]
            guard held < limits.maximumConnectionsPerClient else { return false }
            state.perClient[key] = held + 1
            return true
        }
    }

    func release(_ key: String) {
        state.withLock { state in
            let held = state.perClient[key, default: 0] - 1
            state.perClient[key] = held > 0 ? held : nil
        }
    }

    /// `trustRoots`: the certification authority's roots. PeerJudge decides every client, but
    /// BoringSSL still loads a store when the context is made, and without one it reads the
    /// system's CA bundle, which a center's minimal root need not have (NIOSSL then fails with
    /// an empty error stack): the center never trusts the web's CAs for anything.
    public init(certificateChain: [NIOSSLCertificate], key: NIOSSLPrivateKey, trustRoots: [NIOSSLCertificate], judge: PeerJudge, limits: CenterServerLimits,
                logger: Logger, group: MultiThreadedEventLoopGroup, route: @escaping @Sendable (CenterRequest) async -> CenterAnswer) throws {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        // Ask every client for its certificate; PeerJudge decides (BoringSSL's own check is replaced).
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = .certificates(trustRoots)
        tls = try NIOSSLContext(configuration: configuration)
        self.judge = judge
        self.limits = limits
        self.logger = logger
        self.group = group
        self.route = route
    }

    /// Binds `host:port`; returns the bound channel (its local address names the port when 0 was asked).
    public func bind(host: String, port: Int) async throws -> any Channel {
        let server = self
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP_NODELAY at IPPROTO_TCP: `.socketOption(.tcp_nodelay)` would set level SOL_SOCKET,
            // option 1, which is SO_DEBUG; that needs CAP_NET_ADMIN, and without it (the unit has
            // no capability) every accepted connection was closed before its handshake.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .childChannelInitializer { channel in server.initialize(channel) }
            .bind(host: host, port: port).get()
    }

    func initialize(_ channel: any Channel) -> EventLoopFuture<Void> {
        let admitted = state.withLock { state -> Bool in
            guard !state.draining, state.connections < limits.maximumConnections else { return false }
            state.connections += 1
            Self.connections.record(state.connections)
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
        guard admitted else {
            logger.warning("connection from \(channel.remoteAddress?.description ?? "?") closed at accept: \(limits.maximumConnections) connections are open, or the node is draining")
            return channel.close()
        }
        channel.closeFuture.whenComplete { [self] _ in
            state.withLock { state in
                state.connections -= 1
                Self.connections.record(state.connections)
                state.channels[ObjectIdentifier(channel)] = nil
            }
        }
        let box = PeerBox()
        let remote = channel.remoteAddress?.description ?? "?"
        let logger = self.logger
        return channel.eventLoop.makeCompletedFuture { [self] in
            let ssl = NIOSSLServerHandler(context: tls, customVerificationCallback: box.callback(judge) { refusal in
                logger.warning("TLS handshake from \(remote) refused: \(refusal.message)")
            })
            try channel.pipeline.syncOperations.addHandler(ssl)
            try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: limits.idleTimeout))
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(RequestHandler(server: self, box: box))
        }
    }

    // MARK: Requests in progress and the drain

    static let inProgress = Gauge(label: "paysign_center_requests_in_progress")
    static let connections = Gauge(label: "paysign_center_connections")

    func begin() -> Bool {
        let count = state.withLock { state -> Int? in
            guard !state.draining else { return nil }
            state.inFlight += 1
            return state.inFlight
        }
        guard let count else { return false }
        Self.inProgress.record(count)
        return true
    }

    func end() {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.inFlight -= 1
            Self.inProgress.record(state.inFlight)
            guard state.draining, state.inFlight == 0 else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Stops taking requests, waits (at most `drainTimeout`) for those in progress to answer, then
    /// closes every connection. No submission in flight is cut: it records and answers, or (past
    /// the timeout) its transaction is rolled back by PostgreSQL when the process ends.
    public func drain() async {
        let idle = state.withLock { state -> Bool in
            state.draining = true
            return state.inFlight == 0
        }
        if !idle {
            let timeout = limits.drainTimeout
            await withTaskGroup(of: Void.self) { group in
                group.addTask { [self] in
                    await withCheckedContinuation { continuation in
                        let done = state.withLock { state -> Bool in
                            if state.inFlight == 0 { return true }
                            state.drained.append(continuation)
                            return false
                        }
                        if done { continuation.resume() }
                    }
                }
                group.addTask { try? await Task.sleep(for: .nanoseconds(timeout.nanoseconds)) }
                await group.next()
                group.cancelAll()
            }
        }
        let channels = state.withLock { Array($0.channels.values) }
        for channel in channels { channel.close(promise: nil) }
    }

    public var openConnections: Int { state.withLock { $0.connections } }
    public var requestsInProgress: Int { state.withLock { $0.inFlight } }
}

/// Reads one request at a time on a connection (bounded body), runs its route, writes the answer.
final class RequestHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: touched on the channel's event loop only.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let server: CenterHTTPServer
    let box: PeerBox
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var refused: CenterProblem?
    var busy = false
    /// The client's share this connection holds (released when it closes), or the refusal that
    /// answers every request on it when the client already held its share at the handshake.
    var claimed: String?
    var overShare: CenterProblem?
    /// Requests answered on this connection: the first is judged by the handshake, later ones again.
    var answered = 0
    var handshakeDeadline: Scheduled<Void>?

    init(server: CenterHTTPServer, box: PeerBox) {
        self.server = server
        self.box = box
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received):
            if let overShare {
                // Beyond the client's share: answered at once, the body never read.
                var answer = overShare.answer
                answer.headers.append(("Retry-After", "5"))
                write(context: context, answer, keepAlive: false)
                self.overShare = nil
                return
            }
            head = received
            body = []
            refused = nil
            if let length = received.headers.first(name: "Content-Length").flatMap(Int.init), length > server.limits.maximumBodyBytes {
                refused = CenterProblem("body-too-large", "Body too large", status: 413, "the body is \(length) bytes, over the \(server.limits.maximumBodyBytes) bytes this center reads")
            }
        case .body(var buffer):
            guard refused == nil else { return }
            guard body.count + buffer.readableBytes <= server.limits.maximumBodyBytes else {
                refused = CenterProblem("body-too-large", "Body too large", status: 413, "the body is over the \(server.limits.maximumBodyBytes) bytes this center reads")
                body = []
                return
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            self.head = nil
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let keepAlive = head.isKeepAlive
        if let refused {
            write(context: context, refused.answer, keepAlive: false)
            return
        }
        // The first request rides on the handshake's verdict; a later one on a kept connection is
        // judged again now (revoked or expired since, a new revocation list).
        let verdict = answered == 0 ? box.verdict : box.judgeAgain(server.judge)
        answered += 1
        guard case .success(let peer)? = verdict else {
            let sentence = if case .failure(let refusal)? = verdict { refusal.message } else { "the client certificate was not accepted" }
            if case .failure? = verdict {
                server.logger.warning("connection from \(context.remoteAddress?.description ?? "?") closed: its certificate is no longer accepted: \(sentence)")
            }
            write(context: context, CenterProblem("not-authorized", "Not authorized", status: 403, sentence, rule: .d8).answer, keepAlive: false)
            return
        }
        guard server.begin() else {
            write(context: context, CenterAnswer(
                status: 503, contentType: "application/problem+json",
                body: CenterProblem("unavailable", "Unavailable", status: 503, "this node of the center is shutting down; send the request again (another node will take it)").answer.body,
                headers: [("Retry-After", "1")]), keepAlive: false)
            return
        }
        let (path, query) = Self.split(head.uri)
        let request = CenterRequest(
            method: head.method.rawValue, path: path, query: query, headers: head.headers.map { ($0.name, $0.value) }, body: body,
            peer: peer)
        body = []
        let route = server.route
        let loop = context.eventLoop
        let bound = NIOLoopBound((self, context), eventLoop: loop)
        let server = self.server
        busy = true
        Task {
            let answer = await route(request)
            loop.execute {
                let (handler, context) = bound.value
                handler.busy = false
                handler.write(context: context, answer, keepAlive: keepAlive)
                server.end()
            }
        }
    }

    func write(context: ChannelHandlerContext, _ answer: CenterAnswer, keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: answer.contentType)
        headers.add(name: "Content-Length", value: String(answer.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in answer.headers { headers.add(name: name, value: value) }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: answer.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: answer.body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let timeout = server.limits.handshakeTimeout
        let logger = server.logger
        let remote = context.remoteAddress?.description ?? "?"
        handshakeDeadline = context.eventLoop.scheduleTask(in: timeout) {
            logger.info("connection from \(remote) closed: no TLS handshake within \(timeout.nanoseconds / 1_000_000_000) s")
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent {
            handshakeDeadline?.cancel()
            handshakeDeadline = nil
        }
        if case .handshakeCompleted? = event as? TLSUserEvent, case .success(let peer)? = box.verdict {
            let (key, name) = CenterHTTPServer.shareKey(peer)
            if server.claim(key) {
                claimed = key
            } else {
                let share = server.limits.maximumConnectionsPerClient
                if server.shouldLogOverShare(key) {
                    server.logger.warning("connection from \(context.remoteAddress?.description ?? "?") refused: \(name) already holds \(share) connections, the most one client may hold (logged once a minute per client)")
                }
                overShare = CenterProblem(
                    "too-many-connections", "Too many connections", status: 429,
                    "\(name) already holds \(share) connections to this node, the most one client may hold; send on one of them, or again once one closes")
                // It does not hold a place among the node's connections for long either.
                let channel = context.channel
                context.eventLoop.scheduleTask(in: server.limits.overShareGrace) { channel.close(promise: nil) }
            }
        }
        if event is IdleStateHandler.IdleStateEvent, !busy {
            server.logger.info("connection from \(context.remoteAddress?.description ?? "?") closed: no whole request within \(server.limits.idleTimeout.nanoseconds / 1_000_000_000) s")
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeDeadline?.cancel()
        handshakeDeadline = nil
        if let claimed {
            server.release(claimed)
            self.claimed = nil
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A handshake BoringSSL ended before the judge ran (no certificate at all, no common
        // protocol): logged here; one the judge refused was logged with its sentence.
        if box.verdict == nil, error is NIOSSLError {
            server.logger.warning("TLS handshake from \(context.remoteAddress?.description ?? "?") refused: the client presented no readable certificate, or no TLS 1.3 (\(error))")
        } else {
            server.logger.info("connection from \(context.remoteAddress?.description ?? "?") closed on an error: \(error)")
        }
        context.close(promise: nil)
    }

    static func split(_ uri: String) -> (String, [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            // Not omitting empty subsequences: a pair with no name ("=", "=x") is the parameter ""
            // (a route refuses it as unknown); the default split gave no parts at all, and parts[0]
            // ended the process (one request "GET /v1/submissions?=" stopped the node).
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            query[name] = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
        }
        return (String(uri[..<mark]), query)
    }
}
