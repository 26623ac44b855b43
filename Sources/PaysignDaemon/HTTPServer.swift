import Foundation
import PaysignApplication
import Synchronization
public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import PaysignClient
import PaysignFiles
#if canImport(Glibc)
import Glibc
#endif

/// Where the server listens: a path it binds itself, or a socket inherited from systemd.
public enum Listener: Sendable, Hashable {
    /// Binds a Unix socket at this path, owned by `group` (when it exists) with `mode`.
    case path(String, mode: UInt32, group: String?)
    /// A listening socket passed by systemd (`LISTEN_FDS`); systemd set its path, owner and mode.
    case inherited(Int32)
}

/// Limits that keep one client from holding the daemon.
public struct ServerLimits: Sendable, Hashable {
    /// Largest request body accepted; larger ones get 413 and the connection closes.
    public var maxBodyBytes: Int = 1 << 20
    /// Larger limits for the routes that take files (`POST /v1/orders`), by "METHOD path".
    public var largeBodies: [String: Int] = [:]

    /// The limit for one request.
    func maxBodyBytes(_ head: HTTPRequestHead) -> Int {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        return largeBodies["\(head.method.rawValue) \(path)"] ?? maxBodyBytes
    }
    /// A connection with no traffic either way for this long is closed.
    public var idleTimeout: Duration = .seconds(30)
    /// A request whose head and body do not arrive within this time closes the connection
    /// (slow clients dribbling bytes cannot hold it).
    public var requestTimeout: Duration = .seconds(15)
    /// Connections open at once; more are closed as soon as they are accepted.
    public var maxConnections: Int = 512
    /// On shutdown, how long requests in flight may take to finish before they are cancelled.
    public var drainTimeout: Duration = .seconds(10)
    /// What one Unix user, and all together, may hold at once (`FairShares`).
    public var shares = ShareLimits()
    public init() {}

    static func amount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
    }
}

/// HTTP/1.1 with JSON over a Unix domain socket, built on SwiftNIO.
///
/// Every connection is identified once, when accepted, by the kernel's peer credentials
/// (`SO_PEERCRED`); the router checks the caller's roles per request. Malformed HTTP is answered
/// 400 and closed by NIO's error handler; the daemon keeps serving everyone else.
public final class HTTPServer: Sendable {
    let listener: Listener
    let router: Router
    let limits: ServerLimits
    let logger: Logger
    let group: any EventLoopGroup
    let shares: FairShares
    /// When each user's refused connections were last logged, and how many since (one line a
    /// minute per user: a user opening thousands must not flood the log either).
    private let refusedConnections = Mutex<[UInt32: (logged: ContinuousClock.Instant, since: Int)]>([:])

    public convenience init(listener: Listener, router: Router, limits: ServerLimits = ServerLimits(), logger: Logger) {
        self.init(listener: listener, router: router, limits: limits, logger: logger, group: MultiThreadedEventLoopGroup.singleton)
    }

    init(listener: Listener, router: Router, limits: ServerLimits, logger: Logger, group: any EventLoopGroup) {
        self.listener = listener
        self.router = router
        self.limits = limits
        self.logger = logger
        self.group = group
        self.shares = FairShares(limits.shares)
    }

    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Binds (or adopts) the socket, calls `onReady`, and serves until the task is cancelled or
    /// `shutdown` fires. Open connections get `drain` to finish.
    public func run(onReady: @Sendable () -> Void = {}, shutdown: @escaping @Sendable () async -> Void) async throws {
        let limits = self.limits
        let logger = self.logger
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            // A client that shuts its side down after sending (a half-close) still gets its answer:
            // the end of its input is an event, not the end of the connection.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
        let initializer: @Sendable (any Channel) -> EventLoopFuture<(PeerCredentials, Connection)> = { channel in
            Self.peerCredentials(of: channel).flatMapThrowing { peer in
                let sync = channel.pipeline.syncOperations
                // Malformed HTTP gets problem details too (ProtocolErrorAnswer), not NIO's bare 400.
                try sync.configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: false)
                try sync.addHandler(ProtocolErrorAnswer())
                try sync.addHandler(IdleStateHandler(allTimeout: ServerLimits.amount(limits.idleTimeout)))
                try sync.addHandler(TimeoutCloser(requestTimeout: ServerLimits.amount(limits.requestTimeout)))
                let connection = try Connection(wrappingChannelSynchronously: channel)
                return (peer, connection)
            }
        }
        let server: NIOAsyncChannel<(PeerCredentials, Connection), Never>
        switch listener {
        case .path(let path, let mode, let groupName):
            // The group is looked up before anything is bound: a daemon that would leave its
            // socket to root alone does not start.
            _ = try Self.socketGroupID(groupName)
            try Self.prepare(socketPath: path)
            server = try await bootstrap.bind(unixDomainSocketPath: path, cleanupExistingSocketFile: false, childChannelInitializer: initializer)
            try Self.setPermissions(path: path, mode: mode, group: groupName)
        case .inherited(let fd):
            server = try await bootstrap.bind(fd, cleanupExistingSocketFile: false, childChannelInitializer: initializer)
        }
        onReady()
        let serverChannel = server.channel
        let open = ConnectionCounter()
        let drainTimeout = limits.drainTimeout
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask {
                await shutdown()
                try? await serverChannel.close()
            }
            try await server.executeThenClose { inbound in
                for try await (peer, connection) in inbound {
                    guard open.value.add(1, ordering: .relaxed).newValue <= limits.maxConnections else {
                        open.value.subtract(1, ordering: .relaxed)
                        logger.warning("too many connections (\(limits.maxConnections)); closing one from \(peer)")
                        try? await connection.channel.close()
                        continue
                    }
                    // One user's share of the connections (a user holding its share cannot take
                    // the slots everybody else needs).
                    guard shares.openConnection(peer.uid) else {
                        open.value.subtract(1, ordering: .relaxed)
                        refusedConnection(from: peer)
                        try? await connection.channel.close()
                        continue
                    }
                    tasks.addTask {
                        await self.serve(connection, peer: peer)
                        self.shares.closeConnection(peer.uid)
                        open.value.subtract(1, ordering: .relaxed)
                    }
                }
            }
            logger.info("socket closed; waiting up to \(drainTimeout) for \(open.value.load(ordering: .relaxed)) open connections")
            // Requests in flight finish (a signature is journaled, not cut off); stragglers are
            // cancelled after the drain time-out.
            let deadline = ContinuousClock.now + drainTimeout
            while open.value.load(ordering: .relaxed) > 0 && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            tasks.cancelAll()
        }
    }

    /// Logs a connection closed for its user's share, at most once a minute per user.
    private func refusedConnection(from peer: PeerCredentials) {
        let now = ContinuousClock.now
        let report: Int? = refusedConnections.withLock { seen in
            if let last = seen[peer.uid], now - last.logged < .seconds(60) {
                seen[peer.uid] = (last.logged, last.since + 1)
                return nil
            }
            if seen.count >= 4096 { seen.removeAll() }
            let since = seen[peer.uid]?.since ?? 0
            seen[peer.uid] = (now, 0)
            return since
        }
        if let since = report {
            logger.warning("\(peer) holds \(limits.shares.connectionsPerUser) connections, one user's share; closing its new ones\(since > 0 ? " (\(since) more closed in the last minute)" : "")")
        }
    }

    /// The answer to a request past its user's share (or past the daemon's memory for bodies).
    static func unavailable(_ refusal: FairShares.Refusal) -> Response {
        var response = Response.problem(Problem(.unavailable, refusal.sentence))
        response.headers.append(("Retry-After", "1"))
        return response
    }

    // MARK: One connection

    private func serve(_ connection: Connection, peer: PeerCredentials) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body = ByteBuffer()
                var tooLarge = false
                var limit = limits.maxBodyBytes
                // After a last answer, read on until the client closes: closing first would drop
                // whatever of a large answer the socket has not sent yet (NIO fails pending writes
                // on close). The idle timeout ends a client that never closes.
                var answeredLast = false
                // The request as read from its head (the body comes at its end), with the caller
                // as the router resolved it there (routes with roles).
                var pending: Request?
                // A body may hold a PIN (D5): it is zeroed once answered, never just let go.
                defer { Self.wipe(&body) }
                // Body bytes of this request counted against the user's share and the daemon's.
                var reserved = 0
                defer { shares.releaseBody(peer.uid, reserved) }
                for try await part in inbound {
                    if answeredLast { continue }
                    switch part {
                    case .head(let requestHead):
                        head = requestHead
                        Self.wipe(&body)
                        shares.releaseBody(peer.uid, reserved)
                        reserved = 0
                        tooLarge = false
                        // Authorization before the body is read (and before any side effect): a
                        // caller without the route's role is answered from the head and the
                        // connection closed, its body never buffered.
                        var request = Self.request(from: requestHead, peer: peer)
                        switch await router.admit(request) {
                        case .refused(let response):
                            try await write(response, keepAlive: false, head: requestHead, to: outbound)
                            return
                        case .admitted(let caller):
                            if let caller {
                                request.roles = caller.roles
                                request.resolvedCaller = caller
                            }
                        }
                        pending = request
                        limit = limits.maxBodyBytes(requestHead)
                        if let length = requestHead.headers.first(name: "content-length").flatMap(Int.init), length > limit {
                            tooLarge = true
                            // Answer at once and close: do not read a body that will be refused.
                            try await write(.problem(Problem(.bodyTooLarge, "the body has \(length) bytes; the limit is \(limit)")), keepAlive: false, head: requestHead, to: outbound)
                            return
                        }
                    case .body(var chunk):
                        guard !tooLarge else { continue }
                        if body.readableBytes + chunk.readableBytes > limit {
                            tooLarge = true
                        } else if let refusal = shares.reserveBody(peer.uid, chunk.readableBytes) {
                            // Past the user's share of body memory, or the daemon's: answered now,
                            // the rest of the body never read.
                            chunk.withUnsafeMutableReadableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
                            if let requestHead = head {
                                try await write(Self.unavailable(refusal), keepAlive: false, head: requestHead, to: outbound)
                            }
                            return
                        } else {
                            reserved += chunk.readableBytes
                            body.writeBuffer(&chunk)
                        }
                        chunk.withUnsafeMutableReadableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
                    case .end:
                        guard let requestHead = head else { continue }
                        head = nil
                        if tooLarge {
                            try await write(.problem(Problem(.bodyTooLarge, "the body is larger than \(limit) bytes")), keepAlive: false, head: requestHead, to: outbound)
                            return
                        }
                        guard var request = pending else { continue }
                        pending = nil
                        // One user's share of the work in progress.
                        if let refusal = shares.beginRequest(peer.uid) {
                            try await write(Self.unavailable(refusal), keepAlive: false, head: requestHead, to: outbound)
                            return
                        }
                        defer { shares.endRequest(peer.uid) }
                        request.body = Array(body.readableBytesView)
                        Self.wipe(&body)
                        let response = await router.respond(to: request)
                        // The handler is done with its copies; this one is the last.
                        request.body.withUnsafeMutableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
                        request.body = []
                        shares.releaseBody(peer.uid, reserved)
                        reserved = 0
                        let keepAlive = requestHead.isKeepAlive
                        if case .bytes = response.body {
                            try await write(response, keepAlive: keepAlive, head: requestHead, to: outbound)
                            if !keepAlive { answeredLast = true }
                        } else {
                            try await write(response, keepAlive: false, head: requestHead, to: outbound)
                            answeredLast = true
                        }
                    }
                }
            }
        } catch {
            logger.debug("connection from \(peer) ended: \(error)")
        }
    }

    private func write(_ response: Response, keepAlive: Bool, head requestHead: HTTPRequestHead,
                       to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws {
        var headers = HTTPHeaders(response.headers)
        headers.replaceOrAdd(name: "Cache-Control", value: "no-store")
        switch response.body {
        case .bytes(let bytes):
            headers.replaceOrAdd(name: "Content-Length", value: String(bytes.count))
            headers.replaceOrAdd(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            let head = HTTPResponseHead(version: requestHead.version, status: .init(statusCode: response.status), headers: headers)
            try await outbound.write(.head(head))
            if requestHead.method != .HEAD && !bytes.isEmpty { try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: bytes)))) }
            try await outbound.write(.end(nil))
        case .stream(let produce):
            headers.replaceOrAdd(name: "Connection", value: "close")
            let head = HTTPResponseHead(version: requestHead.version, status: .init(statusCode: response.status), headers: headers)
            try await outbound.write(.head(head))
            try await produce { chunk in try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: chunk)))) }
            try await outbound.write(.end(nil))
        }
    }

    /// Zeroes the bytes a buffer holds, then empties it.
    static func wipe(_ buffer: inout ByteBuffer) {
        buffer.moveReaderIndex(to: 0)
        buffer.withUnsafeMutableReadableBytes { _ = $0.initializeMemory(as: UInt8.self, repeating: 0) }
        buffer.clear()
    }

    /// The request of a head: method, path, query and headers; its body is set once read.
    static func request(from head: HTTPRequestHead, peer: PeerCredentials) -> Request {
        let (path, queryText) = head.uri.firstIndex(of: "?").map { (String(head.uri[..<$0]), String(head.uri[head.uri.index(after: $0)...])) } ?? (head.uri, "")
        var query: [String: String] = [:]
        for pair in queryText.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let rawKey = kv.first, !rawKey.isEmpty else { continue }
            let key = String(rawKey).removingPercentEncoding ?? String(rawKey)
            query[key] = kv.count > 1 ? (String(kv[1]).removingPercentEncoding ?? String(kv[1])) : ""
        }
        var headers: [String: String] = [:]
        for (name, value) in head.headers { headers[name.lowercased()] = value }
        return Request(method: head.method.rawValue, path: path, query: query, headers: headers, body: [], peer: peer)
    }

    // MARK: The socket

    static func peerCredentials(of channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(Problem(.internalError, "the connection gives no peer credentials"))
        }
        let future: EventLoopFuture<KernelPeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(KernelPeerCredentials.option))
        return future.map { cred in
            PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid, userName: PeerCredentials.userName(of: cred.uid))
        }
    }

    /// Refuses to start over a live daemon or a file that is not a socket; removes a stale socket.
    static func prepare(socketPath path: String) throws {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return }
        guard attributes[.type] as? FileAttributeType == .typeSocket else {
            throw DaemonError("\(path) exists and is not a socket; remove it or choose another --socket")
        }
        if UnixSocket.answers(path) {
            throw DaemonError("another paysignd is already listening on \(path)")
        }
        guard unlink(path) == 0 else {
            throw DaemonError("cannot remove the stale socket \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// The configured socket group's id (nil: none configured); one that does not exist is an
    /// error, never silently ignored.
    static func socketGroupID(_ group: String?) throws -> gid_t? {
        guard let group, !group.isEmpty else { return nil }
        guard let gid = PeerCredentials.groupID(of: group) else {
            throw DaemonError("the socket group '\(group)' does not exist; create it (groupadd \(group)) or set socket-group to \"\" to leave the socket to its owner")
        }
        return gid
    }

    /// Gives the socket its group and mode through a descriptor of the socket file itself
    /// (`SocketFile.setOwnership`); a group that does not exist stops the daemon (one sentence).
    static func setPermissions(path: String, mode: UInt32, group: String?) throws {
        let gid = try socketGroupID(group)
        do {
            try SocketFile.setGroupAndMode(path: path, group: gid, mode: mode)
        } catch let error as SocketFile.Failure {
            throw DaemonError(error.message)
        }
    }
}

/// A start-up failure: one sentence, then a non-zero exit.
public struct DaemonError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Closes a connection that stays idle (`IdleStateHandler`) or whose request does not arrive in
/// time: a half-open or slow client cannot hold the daemon. The deadline runs from the moment
/// the connection opens or the previous response ends, until the request's last byte.
/// What NIO's `HTTPServerProtocolErrorHandler` does, with RFC 9457 problem details: a request the
/// HTTP parser cannot read (a bad request line or header, oversized headers, broken chunking, bytes
/// after a short Content-Length) is answered `400 malformed-request` with `Connection: close`
/// unless an answer is already under way, and the connection is closed once it is written.
final class ProtocolErrorAnswer: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// An answer's head was written and its end not yet.
    private var answering = false
    /// A parser error was answered (or the connection is being closed for one): whatever the
    /// application writes after it is dropped, so a request never gets two answers.
    private var closing = false
    /// A request's head went up to the application and its end has not come yet.
    private var inRequest = false
    /// An answer with `Connection: close` was written (an early 413, a refusal from the head): the
    /// request it answered may never be read to its end, and nothing else is answered on this
    /// connection. A parser error that follows (the client half-closes mid-body) only closes it:
    /// a second answer would break HTTP/1.1 (and NIO's pipelining handler asserts on it).
    private var answeredForGood = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        switch unwrapInboundIn(data) {
        case .head: inRequest = true
        case .end: inRequest = false
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !closing else { return }
        if case .invalidEOFState = parserError {
            // The client shut its side down inside a request (a half-close mid-body). The
            // application may still answer from the head (413, a refusal); its input simply
            // ends. Between requests there is nothing to answer.
            if !inRequest { context.close(promise: nil) }
            return
        }
        closing = true
        guard !answering, !answeredForGood else {
            context.close(promise: nil)
            return
        }
        let problem = Problem(.malformedRequest, "the request is not HTTP/1.1 that paysignd can read (\(Self.describe(parserError)))")
        let body = problem.json
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/problem+json")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closing else {
            // The parser error's answer is the connection's last: the application's is dropped.
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(let head):
            answering = true
            if head.headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "close" }) { answeredForGood = true }
        case .end: answering = false
        case .body: break
        }
        context.write(data, promise: promise)
    }

    private static func describe(_ error: HTTPParserError) -> String {
        switch error {
        case .headerOverflow: return "headers too large"
        case .invalidURL: return "the request target is not a URL"
        case .invalidVersion: return "not HTTP/1.x"
        case .invalidMethod: return "no such method"
        case .invalidChunkSize, .invalidConstant: return "broken chunked encoding"
        case .unexpectedContentLength: return "a Content-Length that does not fit"
        default: return "\(error)"
        }
    }
}

final class TimeoutCloser: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let requestTimeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(requestTimeout: TimeAmount) { self.requestTimeout = requestTimeout }

    func handlerAdded(context: ChannelHandlerContext) { arm(context) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context) }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) { deadline?.cancel() }

    private func arm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.assumeIsolated().scheduleTask(in: requestTimeout) {
            bound.value.close(promise: nil)
        }
    }
}

/// Linux's `struct ucred` (`<sys/socket.h>`, only visible with `_GNU_SOURCE`, so not imported):
/// `pid_t pid; uid_t uid; gid_t gid;`, three 32-bit fields, as `getsockopt(SO_PEERCRED)` fills it.
struct KernelPeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
    /// `SO_PEERCRED` from `<asm-generic/socket.h>`.
    static let option: Int32 = 17
}

/// The number of open connections, shared by the accept loop and the connection tasks.
final class ConnectionCounter: Sendable {
    let value = Atomic<Int>(0)
}
