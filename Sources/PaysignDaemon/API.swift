public import Foundation
public import PaysignApplication
import PaysignAPI
import PaysignDomain
import PaysignPCSC
public import PaysignTokens

/// What every handler can reach.
public struct APIContext: Sendable {
    public var tokens: TokenService
    public var bus: EventBus
    public var monitor: TokenMonitor?
    public var startedAt: Date
    public var version: String
    /// Seconds between `: keep-alive` comments on an idle event stream.
    public var keepAliveInterval: Duration
    /// The entity of the holder a registered token (by serial) is issued to, if any: an event
    /// about a token reaches an entity's operators only when the token is one of theirs.
    public var tokenEntity: @Sendable (String) async -> String? = { _ in nil }

    public init(tokens: TokenService, bus: EventBus, monitor: TokenMonitor?, startedAt: Date = Date(),
                version: String, keepAliveInterval: Duration = .seconds(15)) {
        self.tokens = tokens
        self.bus = bus
        self.monitor = monitor
        self.startedAt = startedAt
        self.version = version
        self.keepAliveInterval = keepAliveInterval
    }
}

/// The API version 1 routes that stand on the tokens alone (health, tokens, events, the OpenAPI
/// document). Routes over the registry and journal are added by `registryRoutes`.
public enum API {
    /// Every role: any operator registered with at least one role.
    static let anyRole = Set(Role.allCases)

    public static func routes(_ context: APIContext) -> [Route] {
        [
            Route("GET", "/v1/health", roles: nil) { _ in
                try .json(Components.Schemas.Health(
                    status: .ok, version: context.version,
                    uptimeSeconds: Int(Date().timeIntervalSince(context.startedAt)),
                    readers: context.monitor?.readers.count, eventListeners: context.bus.subscriberCount))
            },
            Route("GET", "/v1/openapi.json", roles: nil) { _ in
                Response(status: 200, headers: [("Content-Type", "application/json")], body: .bytes(OpenAPIDocument.bytes))
            },
            Route("GET", "/v1/tokens", roles: anyRole) { _ in
                var inventory = await context.tokens.inventory(readers: false)
                if let monitor = context.monitor { inventory.attach(readers: monitor.readers) }
                return try .json(inventory)
            },
            Route("GET", "/v1/events", roles: anyRole) { request in
                // Events about an entity's orders reach only callers whose scope covers it (D3,
                // D13): the same rule as reading the orders.
                let scope = OperatorScope.caller(request.resolvedCaller?.op, roles: request.roles)
                let tokenEntity = context.tokenEntity
                /// Whether the listener's scope covers the event: its order's entity, or the entity
                /// of the holder of the token it names; an event about neither (a reader, a card
                /// without a registered token) reaches every listener.
                @Sendable func visible(_ event: DaemonEvent) async -> Bool {
                    if case .ministry = scope { return true }
                    if let entity = event.detail["entity"] { return scope.covers(entity) }
                    if let serial = event.detail["serial"] {
                        guard let entity = await tokenEntity(serial) else { return false }
                        return scope.covers(entity)
                    }
                    return true
                }
                let stream = context.bus.subscribe()
                let interval = context.keepAliveInterval
                return Response(
                    status: 200, headers: [("Content-Type", "text/event-stream")],
                    body: .stream { write in
                        try await write(Array(": paysignd events\n\n".utf8))
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for await event in stream where await visible(event) {
                                    try await write(event.frame)
                                }
                            }
                            group.addTask {
                                while true {
                                    try await Task.sleep(for: interval)
                                    try await write(Array(": keep-alive\n\n".utf8))
                                }
                            }
                            // Ends when the client goes away (a write fails) or the bus finishes.
                            _ = try await group.next()
                            group.cancelAll()
                        }
                    })
            },
        ]
    }
}
