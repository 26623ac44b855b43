public import Foundation
import Synchronization

/// Something that happened, as `GET /v1/events` announces it (server-sent events).
public struct DaemonEvent: Sendable, Codable, Hashable {
    /// `token-inserted`, `token-removed`, `reader-added`, `reader-removed`, `pin-state-changed`,
    /// `order-state-changed`, `pcsc-unavailable`, `pcsc-available`.
    public var type: String
    public var at: Date
    public var detail: [String: String]

    public init(type: String, at: Date = Date(), detail: [String: String] = [:]) {
        self.type = type
        self.at = at
        self.detail = detail
    }

    /// The event as an SSE frame: `event:` line, one `data:` line of JSON, blank line.
    public var frame: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let json = (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return Array("event: \(type)\ndata: \(json)\n\n".utf8)
    }
}

/// Fans events out to every `GET /v1/events` listener. Each listener has a bounded buffer: one that
/// does not read loses its oldest events rather than growing the daemon's memory.
public final class EventBus: Sendable {
    private let subscribers = Mutex<[UInt64: AsyncStream<DaemonEvent>.Continuation]>([:])
    private let nextID = Atomic<UInt64>(0)

    public init() {}

    public func publish(_ event: DaemonEvent) {
        let targets = subscribers.withLock { Array($0.values) }
        for continuation in targets { continuation.yield(event) }
    }

    public func subscribe() -> AsyncStream<DaemonEvent> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(of: DaemonEvent.self, bufferingPolicy: .bufferingNewest(256))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    public var subscriberCount: Int { subscribers.withLock { $0.count } }

    /// Ends every stream (shutdown).
    public func finishAll() {
        let all = subscribers.withLock { dict -> [AsyncStream<DaemonEvent>.Continuation] in
            defer { dict.removeAll() }
            return Array(dict.values)
        }
        for continuation in all { continuation.finish() }
    }
}
