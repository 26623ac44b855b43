import Foundation
public import NIOCore
import NIOHTTP1
import Synchronization
public import NIOPosix
public import NIOSSL

/// Where the payment center listens and the name its TLS certificate carries.
public struct CenterEndpoint: Sendable, Hashable {
    public var host: String
    public var port: Int
    /// The name checked against the center's certificate (and sent as SNI): the certificate of a
    /// center behind a load balancer names the service, not each node's address.
    public var serverName: String

    public init(host: String, port: Int, serverName: String) {
        self.host = host
        self.port = port
        self.serverName = serverName
    }

    /// `HOST:PORT` (`[v6]:PORT` for an IPv6 address).
    public init(parsing text: String, serverName: String?) throws {
        let (host, port): (Substring, Substring)
        if text.hasPrefix("["), let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") {
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        } else {
            throw LinkError("the center's address \(text) has no port; write HOST:PORT")
        }
        guard !host.isEmpty, let number = Int(port), (0...65535).contains(number) else {
            throw LinkError("the center's address \(text) is not HOST:PORT with a port from 0 to 65535")
        }
        self.init(host: String(host), port: number, serverName: serverName ?? String(host))
    }
}

/// One answer from the center.
public struct CenterResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}

/// The link to the center failed before an answer (no connection, the handshake refused, the
/// connection cut): one sentence; the caller retries later.
public struct LinkError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An HTTPS client of the center over TLS 1.3 with a client certificate (D8): the center's
/// certificate must chain to `anchors` and carry `endpoint.serverName`; the client's key is a
/// token's (`TokenTLSKey`) or, in tests, a file.
///
/// Connections are kept open between requests (HTTP/1.1 keep-alive): up to `keepIdle` idle ones,
/// each taken again only when it has been idle less than `idleLifetime` (below the center's own
/// idle timeout, 30 s by default) and is younger than `maximumAge` (5 minutes: the center judges
/// the certificate again on every request of a kept connection, and a new handshake now and then
/// renews the keys), so that a run of submissions pays one handshake (one signature on the
/// entity's token, one key exchange on each side) instead of one each. A GET, or a submission
/// (idempotent: a replay answers with the first receipt), sent on a kept connection that the
/// center closed before any of its answer arrived (its idle timeout, a drain) is sent once more on
/// a new connection; any other request is not, since the center may have acted on it.
/// `keepIdle: 0` opens one connection per request.
public final class CenterClient: Sendable {
    public let endpoint: CenterEndpoint
    let context: NIOSSLContext
    let group: any EventLoopGroup
    /// The largest answer read (a receipt is a few kilobytes; a list is bounded by the server).
    public let maximumResponseBytes: Int
    public let timeout: TimeAmount
    public let keepIdle: Int
    public let idleLifetime: TimeAmount
    public let maximumAge: TimeAmount
    private let idle = Mutex<[Connection]>([])

    struct Connection: Sendable {
        let channel: any Channel
        let collector: ResponseCollector
        /// When it was opened (never reset) and when it last became idle.
        let opened: NIODeadline
        let since: NIODeadline
    }

    public init(endpoint: CenterEndpoint, anchors: [NIOSSLCertificate], chain: [NIOSSLCertificate], key: NIOSSLPrivateKey?,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, maximumResponseBytes: Int = 16 << 20,
                timeout: TimeAmount = .seconds(60), keepIdle: Int = 8, idleLifetime: TimeAmount = .seconds(10),
                maximumAge: TimeAmount = .minutes(5)) throws {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv13
        tls.maximumTLSVersion = .tlsv13
        tls.trustRoots = .certificates(anchors)
        tls.certificateChain = chain.map { .certificate($0) }
        tls.privateKey = key.map { .privateKey($0) }
        tls.certificateVerification = .fullVerification
        context = try NIOSSLContext(configuration: tls)
        self.endpoint = endpoint
        self.group = group
        self.maximumResponseBytes = maximumResponseBytes
        self.timeout = timeout
        self.keepIdle = max(0, keepIdle)
        self.idleLifetime = idleLifetime
        self.maximumAge = maximumAge
    }

    deinit {
        for connection in idle.withLock({ $0 }) { connection.channel.close(promise: nil) }
    }

    /// Closes the connections kept open.
    public func closeIdle() {
        let connections = idle.withLock { idle -> [Connection] in
            defer { idle = [] }
            return idle
        }
        for connection in connections { connection.channel.close(promise: nil) }
    }

    /// Connections open now and idle (tests).
    public var idleConnections: Int { idle.withLock { $0.count } }

    /// Sends one request and reads the whole answer.
    public func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws -> CenterResponse {
        if let kept = checkOut() {
            do {
                return try await exchange(on: kept, method, path, headers: headers, body: body)
            } catch is ClosedBeforeAnswer where method == "GET" || (method == "POST" && path == "/v1/submissions") {
                // The center closed the kept connection before any answer: the same request on a
                // new one (a GET changes nothing; a submission sent twice is answered as a replay).
            } catch is ClosedBeforeAnswer {
                throw LinkError("the link to the center at \(endpoint.host):\(endpoint.port) failed: the center closed the connection before answering; the request may or may not have been acted on")
            }
        }
        // A new connection: the request is written on the event loop as soon as it connects, not
        // after this task resumes (a busy cooperative pool must not leave a connected, silent
        // client for the center's idle timeout to close).
        let started = connect().map { connection in
            (connection, self.start(on: connection, method, path, headers: headers, body: body))
        }
        let connection: Connection
        let exchange: (EventLoopFuture<CenterResponse>, Scheduled<Void>)
        do {
            (connection, exchange) = try await started.get()
        } catch {
            throw LinkError("the center at \(endpoint.host):\(endpoint.port) cannot be reached: \(Self.describe(error))")
        }
        do {
            return try await finish(connection, exchange)
        } catch is ClosedBeforeAnswer {
            throw LinkError("the link to the center at \(endpoint.host):\(endpoint.port) failed: the center closed the connection before answering")
        }
    }

    /// An idle connection still open and young enough, or nil; stale ones are closed.
    private func checkOut() -> Connection? {
        let now = NIODeadline.now()
        let (usable, stale) = idle.withLock { idle -> (Connection?, [Connection]) in
            var stale: [Connection] = []
            while let last = idle.popLast() {
                if last.channel.isActive, now - last.since < idleLifetime, now - last.opened < maximumAge { return (last, stale) }
                stale.append(last)
            }
            return (nil, stale)
        }
        for connection in stale { connection.channel.close(promise: nil) }
        return usable
    }

    private func checkIn(_ connection: Connection) {
        let kept = idle.withLock { idle -> Bool in
            guard idle.count < keepIdle, connection.channel.isActive else { return false }
            idle.append(Connection(channel: connection.channel, collector: connection.collector, opened: connection.opened, since: .now()))
            return true
        }
        if !kept { connection.channel.close(promise: nil) }
    }

    private func connect() -> EventLoopFuture<Connection> {
        let (context, serverName, limit) = (self.context, endpoint.serverName, maximumResponseBytes)
        let collector = ResponseCollector(limit: limit)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ssl = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                    try channel.pipeline.syncOperations.addHandler(ssl)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(collector)
                }
            }
        return bootstrap.connect(host: endpoint.host, port: endpoint.port).map { channel in
            Connection(channel: channel, collector: collector, opened: .now(), since: .now())
        }
    }

    private func exchange(on connection: Connection, _ method: String, _ path: String, headers: [(String, String)], body: [UInt8]) async throws -> CenterResponse {
        try await finish(connection, start(on: connection, method, path, headers: headers, body: body))
    }

    /// Writes the request on the connection's event loop; the answer, and the deadline that fails it.
    private func start(on connection: Connection, _ method: String, _ path: String, headers: [(String, String)], body: [UInt8])
        -> (EventLoopFuture<CenterResponse>, Scheduled<Void>) {
        let channel = connection.channel
        let promise = channel.eventLoop.makePromise(of: CenterResponse.self)
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
        head.headers.add(name: "Host", value: endpoint.serverName)
        head.headers.add(name: "Content-Length", value: String(body.count))
        if keepIdle == 0 { head.headers.add(name: "Connection", value: "close") }
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        let collector = connection.collector
        let request = head
        channel.eventLoop.execute {
            collector.expect(promise)
            channel.write(HTTPClientRequestPart.head(request), promise: nil)
            if !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        let seconds = timeout.nanoseconds / 1_000_000_000
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(LinkError("the center did not answer within \(seconds) s"))
            channel.close(promise: nil)
        }
        return (promise.futureResult, deadline)
    }

    /// Waits for the answer; keeps the connection for the next request, or closes it.
    private func finish(_ connection: Connection, _ exchange: (EventLoopFuture<CenterResponse>, Scheduled<Void>)) async throws -> CenterResponse {
        let (answer, deadline) = exchange
        let channel = connection.channel
        defer { deadline.cancel() }
        do {
            let response = try await answer.get()
            // Before the connection can be taken by another request: a late deadline must not
            // close it under that one.
            deadline.cancel()
            let closing = response.header("Connection")?.lowercased() == "close"
            if keepIdle > 0, !closing { checkIn(connection) } else { channel.close(promise: nil) }
            return response
        } catch let error as LinkError {
            channel.close(promise: nil)
            throw error
        } catch let error as ClosedBeforeAnswer {
            channel.close(promise: nil)
            throw error
        } catch {
            channel.close(promise: nil)
            throw LinkError("the link to the center at \(endpoint.host):\(endpoint.port) failed: \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case NIOSSLError.handshakeFailed(let inner):
            return "the TLS handshake was refused (\(inner))"
        case let error as BoringSSLError where "\(error)".contains("ALERT_CERTIFICATE"):
            // TLS 1.3: the server judges the client's certificate after the client finished; its
            // refusal arrives as an alert on the first read.
            return "the center refused this client's certificate in the TLS handshake (\(error))"
        case let error as NIOSSLExtraError:
            return "the center's certificate was not accepted (\(error))"
        default:
            return "\(error)"
        }
    }
}

/// The center closed a connection before any of the answer arrived.
struct ClosedBeforeAnswer: Error {}

/// Collects the responses of one connection, one at a time, bounded.
final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: touched on the channel's event loop only.
    typealias InboundIn = HTTPClientResponsePart
    let limit: Int
    var promise: EventLoopPromise<CenterResponse>?
    var head: HTTPResponseHead?
    var body: [UInt8] = []
    /// The connection closed (a request expected after that fails at once, not at the deadline).
    var closed = false

    init(limit: Int) {
        self.limit = limit
    }

    /// The next response answers `promise`.
    func expect(_ promise: EventLoopPromise<CenterResponse>) {
        guard !closed else {
            promise.fail(ClosedBeforeAnswer())
            return
        }
        self.promise = promise
        head = nil
        body = []
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received): head = received
        case .body(var buffer):
            guard body.count + buffer.readableBytes <= limit else {
                finish(.failure(LinkError("the center's answer is over \(limit) bytes")))
                context.close(promise: nil)
                return
            }
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head else { return }
            let response = CenterResponse(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) }, body: body)
            self.head = nil
            body = []
            finish(.success(response))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(head == nil && isClosure(error) ? ClosedBeforeAnswer() : error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        finish(.failure(head == nil ? ClosedBeforeAnswer() : LinkError("the center closed the connection in the middle of its answer")))
        context.fireChannelInactive()
    }

    /// A connection the other side closed (an idle timeout): not an answer, not a TLS refusal.
    private func isClosure(_ error: any Error) -> Bool {
        if let error = error as? NIOSSLError, case .uncleanShutdown = error { return true }
        if let error = error as? IOError, [EPIPE, ECONNRESET].contains(error.errnoCode) { return true }
        return error is ChannelError
    }

    private func finish(_ result: Result<CenterResponse, any Error>) {
        guard let promise else { return }
        self.promise = nil
        promise.completeWith(result)
    }
}
