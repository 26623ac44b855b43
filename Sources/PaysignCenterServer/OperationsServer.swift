import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// The operations port (plain HTTP, its own address, default loopback): `GET /metrics` in
/// Prometheus's text format, `GET /health/live` and `GET /health/ready` for a load balancer that
/// checks a node without a client certificate. It serves nothing of the center's data; anything
/// else is 404. One request per connection, bodies refused.
final class OperationsServer: Sendable {
    let registry: PrometheusCollectorRegistry
    let ready: @Sendable () async -> String?
    let logger: Logger

    init(registry: PrometheusCollectorRegistry, ready: @escaping @Sendable () async -> String?, logger: Logger) {
        self.registry = registry
        self.ready = ready
        self.logger = logger
    }

    func bind(host: String, port: Int) async throws -> any Channel {
        let server = self
        return try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: .seconds(10)))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(OperationsHandler(server: server))
                }
            }
            .bind(host: host, port: port).get()
    }

    func answer(_ method: HTTPMethod, _ path: String) async -> (HTTPResponseStatus, String, [UInt8]) {
        guard method == .GET else { return (.methodNotAllowed, "text/plain", Array("GET only\n".utf8)) }
        switch path {
        case "/metrics":
            return (.ok, "text/plain; version=0.0.4", registry.emitToBuffer())
        case "/health/live":
            return (.ok, "application/json", Array(#"{"status":"live"}"#.utf8))
        case "/health/ready":
            if let problem = await ready() {
                return (.serviceUnavailable, "application/json", Array((try? JSONEncoder().encode(["status": "unavailable", "detail": problem])) ?? Data()))
            }
            return (.ok, "application/json", Array(#"{"status":"ready"}"#.utf8))
        default:
            return (.notFound, "text/plain", Array("not found: the operations port serves /metrics, /health/live and /health/ready\n".utf8))
        }
    }
}

final class OperationsHandler: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked: touched on the channel's event loop only.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let server: OperationsServer
    var head: HTTPRequestHead?

    init(server: OperationsServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let received): head = received
        case .body: head = nil  // no route takes a body
        case .end:
            let request = head
            head = nil
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            let server = self.server
            Task {
                let (status, type, body) = request.map { _ in (HTTPResponseStatus.ok, "", [UInt8]()) } == nil
                    ? (.badRequest, "text/plain", Array("no body is taken here\n".utf8))
                    : await server.answer(request!.method, String(request!.uri.prefix { $0 != "?" }))
                loop.execute {
                    let (handler, context) = bound.value
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: type)
                    headers.add(name: "Content-Length", value: String(body.count))
                    headers.add(name: "Connection", value: "close")
                    context.write(handler.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
                    context.write(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
                    let channel = context.channel
                    context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
                }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { context.close(promise: nil) } else { context.fireUserInboundEventTriggered(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}
