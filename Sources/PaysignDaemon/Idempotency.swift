import Foundation
import Logging
import ServiceLifecycle
import PaysignApplication
import PaysignDomain
import PaysignOpenSSL
import PaysignStore

/// `Idempotency-Key` on the API's POST routes: a retried request with the same key (from the same
/// Unix user) gets the first answer back, byte for byte, and never changes anything twice (never
/// signs twice). The answer is saved in the same transaction as the change it reports, so a crash
/// leaves either both or neither. Refusals are not saved: a retry is judged again.
final class IdempotencyGuard: Sendable {
    /// Turns the value a change answers with into the record saved beside the change.
    typealias ResultMaker<T> = RecordMaker<T>
    typealias Maker = ResultMaker<Order>

    let registry: Registry
    private let busy = BusySet()

    init(registry: Registry) { self.registry = registry }

    /// Runs `body` at most once per key. `what` names the request without its secrets (a PIN is
    /// never part of it); the same key with another `what` is refused.
    func respond<T: Encodable & Sendable>(
        _ request: Request, what: [String], status: Int = 200, _ body: (ResultMaker<T>?) async throws -> T
    ) async throws -> Response {
        try await once(request, what: what) { key in
            guard let key else { return try .json(try await body(nil), status: status) }
            let maker: ResultMaker<T> = { value in
                IdempotencyRecord(
                    uid: key.uid, key: key.key, requestDigest: key.digest, status: status, contentType: "application/json",
                    body: Array(try Response.encoder.encode(value)))
            }
            return try .json(try await body(maker), status: status)
        }
    }

    typealias Key = IdempotencyKey

    /// The one path of every request that may carry an Idempotency-Key: no key, `body(nil)`; a
    /// key answered before, that answer again (or a refusal when it came with another request);
    /// a key being answered now, a conflict; else `body(key)`, which saves its answer with its
    /// change.
    func once(_ request: Request, what: [String], _ body: (Key?) async throws -> Response) async throws -> Response {
        guard let key = request.headers["idempotency-key"] else { return try await body(nil) }
        guard (1...200).contains(key.utf8.count), key.utf8.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw Problem(.invalidField, "the Idempotency-Key must be 1 to 200 printable ASCII characters without spaces")
        }
        let uid = request.peer.uid
        guard let digest = SHA256Hex(bytes: SHA256.hash(Array(([request.method, request.path] + what).joined(separator: "\n").utf8))) else {
            throw Problem(.internalError, "cannot digest the request")
        }
        if let stored = try await registry.idempotencyRecord(uid: uid, key: key) {
            return try Self.replay(stored, digest: digest, key: key)
        }
        let busyKey = "\(uid)/\(key)"
        guard busy.claim(busyKey) else {
            throw Problem(.conflict, "a request with the Idempotency-Key '\(key)' is still being answered; retry when it is")
        }
        defer { busy.release(busyKey) }
        // It may have been answered between the lookup and the claim.
        if let stored = try await registry.idempotencyRecord(uid: uid, key: key) {
            return try Self.replay(stored, digest: digest, key: key)
        }
        return try await body(Key(uid: uid, key: key, digest: digest))
    }

    static func replay(_ stored: IdempotencyRecord, digest: SHA256Hex, key: String) throws -> Response {
        guard stored.requestDigest == digest else {
            throw Problem(.idempotencyMismatch, "the Idempotency-Key '\(key)' was used for a different request; use a new key for a new request")
        }
        return Response(
            status: stored.status, headers: [("Content-Type", stored.contentType), ("Idempotency-Replayed", "true")],
            body: .bytes(stored.body))
    }
}

/// Idempotency records expire: each is kept for `retention` (24 hours: a client retries within
/// minutes, at worst the next morning), then deleted, checked every hour. A retry with an expired
/// key is judged again like a new request.
struct IdempotencyPruner: Service {
    static let retention: Duration = .seconds(24 * 3600)
    let registry: Registry
    let logger: Logger
    var interval: Duration = .seconds(3600)

    func run() async throws {
        try await untilShutdown {
            while true {
                let cutoff = Date().addingTimeInterval(-Double(Self.retention.components.seconds))
                do {
                    let removed = try await registry.pruneIdempotency(savedBefore: cutoff)
                    if removed > 0 { logger.info("\(removed) idempotency records older than 24 hours removed") }
                } catch {
                    logger.warning("could not remove expired idempotency records: \(error)")
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}
