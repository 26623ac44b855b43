import Foundation
public import NIOCore
import NIOHTTP1
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
/// token's (`TokenTLSKey`) or, in tests, a file. One request per connection.
public final class CenterClient: Sendable {
    public let endpoint: CenterEndpoint
    let context: NIOSSLContext
    let group: any EventLoopGroup
    /// The largest answer read (a receipt is a few kilobytes; a list is bounded by the server).
    public let maximumResponseBytes: Int
    public let timeout: TimeAmount

    public init(endpoint: CenterEndpoint, anchors: [NIOSSLCertificate], chain: [NIOSSLCertificate], key: NIOSSLPrivateKey?,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, maximumResponseBytes: Int = 16 << 20,
                timeout: TimeAmount = .seconds(60)) throws {
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
    }

    /// Sends one request and reads the whole answer.
    public func send(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws -> CenterResponse {
        let promise = group.next().makePromise(of: CenterResponse.self)
        let (context, serverName, limit) = (self.context, endpoint.serverName, maximumResponseBytes)
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let ssl = try NIOSSLClientHandler(context: context, serverHostname: serverName)
                    try channel.pipeline.syncOperations.addHandler(ssl)
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise, limit: limit))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            promise.fail(error)
            throw LinkError("the center at \(endpoint.host):\(endpoint.port) cannot be reached: \(Self.describe(error))")
        }
        var head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path)
        head.headers.add(name: "Host", value: serverName)
        head.headers.add(name: "Content-Length", value: String(body.count))
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if !body.isEmpty { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(LinkError("the center did not answer within \(self.timeout.nanoseconds / 1_000_000_000) s"))
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            let response = try await promise.futureResult.get()
            channel.close(promise: nil)
            return response
        } catch let error as LinkError {
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

/// Collects one response, bounded.
final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    let promise: EventLoopPromise<CenterResponse>
    let limit: Int
    var head: HTTPResponseHead?
    var body: [UInt8] = []
    var done = false

    init(promise: EventLoopPromise<CenterResponse>, limit: Int) {
        self.promise = promise
        self.limit = limit
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
            finish(.success(CenterResponse(
                status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) }, body: body)))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(LinkError("the center closed the connection before answering")))
    }

    private func finish(_ result: Result<CenterResponse, any Error>) {
        guard !done else { return }
        done = true
        promise.completeWith(result)
    }
}
