import Foundation
public import PaysignApplication
import PaysignOpenSSL
public import Logging
public import PaysignPCSC
public import PaysignTokens
public import ServiceLifecycle

/// The token monitor service: watches PC/SC readers and cards, cuts off the sessions of a token
/// whose card leaves (PresenceWatcher), announces every change on the event bus, and keeps the
/// PC/SC state the health answer reports.
public final class TokenMonitor: Service, Sendable {
    let watcher: PresenceWatcher
    let bus: EventBus
    let logger: Logger
    let monitor: ReaderMonitor
    let onEvent: @Sendable (ReaderEvent) async -> Void

    public init(watcher: PresenceWatcher, bus: EventBus, logger: Logger, onEvent: @escaping @Sendable (ReaderEvent) async -> Void = { _ in }) {
        self.watcher = watcher
        self.bus = bus
        self.logger = logger
        self.monitor = ReaderMonitor(logger: logger)
        self.onEvent = onEvent
    }

    /// The readers as last seen (for `/v1/health` and `/v1/tokens`).
    public var readers: [ReaderState] { monitor.currentReaders }

    public func run() async {
        let events = monitor.events()
        let (relay, relayed) = AsyncStream.makeStream(of: ReaderEvent.self)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.watcher.run(relay) }
                for await event in events {
                    relayed.yield(event)
                    // Journaled first, announced second: what a listener hears is already recorded.
                    await onEvent(event)
                    bus.publish(Self.daemonEvent(event))
                }
                relayed.finish()
            }
        } onGracefulShutdown: {
            self.monitor.stop()
        }
    }

    static func daemonEvent(_ event: ReaderEvent) -> DaemonEvent {
        switch event {
        case .readerAdded(let reader): return DaemonEvent(type: "reader-added", detail: ["reader": reader])
        case .readerRemoved(let reader): return DaemonEvent(type: "reader-removed", detail: ["reader": reader])
        case .cardInserted(let reader, let atr):
            return DaemonEvent(type: "token-inserted", detail: ["reader": reader, "atr": Hex.string(atr)])
        case .cardRemoved(let reader): return DaemonEvent(type: "token-removed", detail: ["reader": reader])
        case .serviceUnavailable(let why): return DaemonEvent(type: "pcsc-unavailable", detail: ["reason": why])
        case .serviceAvailable: return DaemonEvent(type: "pcsc-available")
        }
    }
}
