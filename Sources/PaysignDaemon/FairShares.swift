import Synchronization

/// What one Unix user may hold of the daemon at once, and what all of them may hold together
/// (issue 16): connections, bytes of request bodies being read, requests being worked on. A user
/// past a share is answered `503 unavailable` (or, for a connection, closed at once) and everybody
/// else keeps theirs: no caller, with a role or without, can starve the others.
///
/// Root (uid 0) is not counted: it owns the machine and can stop the daemon anyway.
public struct ShareLimits: Sendable, Hashable {
    /// Connections one user may hold open (the rest are closed as they are accepted).
    public var connectionsPerUser: Int = 32
    /// Requests of one user being worked on at once (from the request's last byte to its answer).
    public var requestsPerUser: Int = 16
    /// Bytes of request bodies one user may have in the daemon's memory at once.
    public var bodyBytesPerUser: Int = 96 << 20
    /// Bytes of request bodies all users together may have in memory at once.
    public var bodyBytesTotal: Int = 128 << 20

    public init() {}
}

/// The shares held now, per user and in all (`ShareLimits`).
final class FairShares: Sendable {
    let limits: ShareLimits

    private struct Held {
        var connections: [UInt32: Int] = [:]
        var requests: [UInt32: Int] = [:]
        var bodyBytes: [UInt32: Int] = [:]
        var bodyBytesTotal = 0
    }

    private let held = Mutex(Held())

    init(_ limits: ShareLimits) { self.limits = limits }

    /// Why a share was refused: one sentence for the caller.
    enum Refusal: Sendable, Equatable {
        case connections
        case requests
        case userBodies
        case allBodies

        var sentence: String {
            switch self {
            case .connections: return "this user holds as many connections as one user may; close one and retry"
            case .requests: return "this user has as many requests being worked on as one user may; retry when one is answered"
            case .userBodies: return "this user is sending as many request bytes as one user may at once; retry when a request is answered"
            case .allBodies: return "paysignd is reading as many request bytes as it holds at once; retry in a moment"
            }
        }
    }

    private static func counted(_ uid: UInt32) -> Bool { uid != 0 }

    func openConnection(_ uid: UInt32) -> Bool {
        guard Self.counted(uid) else { return true }
        return held.withLock { held in
            let now = held.connections[uid, default: 0]
            guard now < limits.connectionsPerUser else { return false }
            held.connections[uid] = now + 1
            return true
        }
    }

    func closeConnection(_ uid: UInt32) {
        guard Self.counted(uid) else { return }
        held.withLock { held in
            let left = held.connections[uid, default: 1] - 1
            held.connections[uid] = left > 0 ? left : nil
        }
    }

    func beginRequest(_ uid: UInt32) -> Refusal? {
        guard Self.counted(uid) else { return nil }
        return held.withLock { held in
            let now = held.requests[uid, default: 0]
            guard now < limits.requestsPerUser else { return .requests }
            held.requests[uid] = now + 1
            return nil
        }
    }

    func endRequest(_ uid: UInt32) {
        guard Self.counted(uid) else { return }
        held.withLock { held in
            let left = held.requests[uid, default: 1] - 1
            held.requests[uid] = left > 0 ? left : nil
        }
    }

    /// Reserves `bytes` more of body memory for `uid` (root counts in the total only).
    func reserveBody(_ uid: UInt32, _ bytes: Int) -> Refusal? {
        held.withLock { held in
            guard held.bodyBytesTotal + bytes <= limits.bodyBytesTotal else { return .allBodies }
            if Self.counted(uid) {
                let now = held.bodyBytes[uid, default: 0]
                guard now + bytes <= limits.bodyBytesPerUser else { return .userBodies }
                held.bodyBytes[uid] = now + bytes
            }
            held.bodyBytesTotal += bytes
            return nil
        }
    }

    func releaseBody(_ uid: UInt32, _ bytes: Int) {
        guard bytes > 0 else { return }
        held.withLock { held in
            held.bodyBytesTotal = max(0, held.bodyBytesTotal - bytes)
            if Self.counted(uid) {
                let left = held.bodyBytes[uid, default: bytes] - bytes
                held.bodyBytes[uid] = left > 0 ? left : nil
            }
        }
    }

    /// What is held now (for tests and the health answer).
    var snapshot: (connections: Int, requests: Int, bodyBytes: Int) {
        held.withLock { ($0.connections.values.reduce(0, +), $0.requests.values.reduce(0, +), $0.bodyBytesTotal) }
    }
}
