import Foundation
import PaysignApplication
import Logging
import PaysignDomain
import PaysignOpenSSL
import PaysignPCSC
import PaysignPKCS11
import PaysignStore
import Synchronization
import PaysignSecrets
import PaysignAPI

/// The daemon's side of the registry: opening it at start-up, resolving callers to roles,
/// journaling what the daemon sees, and the API routes over operators, entities and the journal.
struct RegistryAccess: Sendable {
    let registry: Registry
    let logger: Logger
    /// The card in each reader, as the journal names it (its ATR in hex): a removal is journaled
    /// under the name its insertion had.
    let cards = CardNames()
    /// Refusals of callers with no role, journaled at most once a minute per caller and act.
    let throttle = RefusalThrottle()

    final class CardNames: Sendable {
        private let names = Mutex<[String: String]>([:])
        func set(_ reader: String, _ name: String?) { names.withLock { $0[reader] = name } }
        func get(_ reader: String) -> String? { names.withLock { $0[reader] } }
    }

    static func open(stateDirectory: String, logger: Logger) async throws -> RegistryAccess {
        let sink = logger
        let registryLogger = RegistryLogger { level, message in
            switch level {
            case .debug: sink.debug("\(message)")
            case .info: sink.info("\(message)")
            case .notice: sink.notice("\(message)")
            case .warning: sink.warning("\(message)")
            case .error: sink.error("\(message)")
            }
        }
        do {
            let registry = try await Registry.open(at: URL(fileURLWithPath: stateDirectory, isDirectory: true), logger: registryLogger)
            return RegistryAccess(registry: registry, logger: logger)
        } catch let error as StoreError {
            throw DaemonError(error.message)
        } catch {
            throw DaemonError("cannot open the registry in \(stateDirectory): \(error)")
        }
    }

    func actor(_ peer: PeerCredentials) async -> AuditActor {
        let op = try? await peer.userName.asyncFlatMap { try await registry.operator(unixUser: $0) }
        return .user(uid: peer.uid, name: peer.userName, operatorID: op?.id)
    }

    func directory(administrators: Set<String>) -> any CallerDirectory {
        Directory(access: self, administrators: administrators)
    }

    struct Directory: CallerDirectory {
        let access: RegistryAccess
        let administrators: Set<String>

        func resolve(_ peer: PeerCredentials) async throws -> ResolvedCaller {
            var roles: Set<Role> = []
            if let name = peer.userName, administrators.contains(name) { roles.insert(.administrator) }
            let op = try await peer.userName.asyncFlatMap { try await access.registry.operator(unixUser: $0) }
            if let op { roles.formUnion(op.roles) }
            return ResolvedCaller(roles: roles, op: op)
        }

        func denied(_ peer: PeerCredentials, method: String, path: String, route: String, reason: String) async {
            // One entry per caller and route a minute, with the count of those left out.
            let admission = access.throttle.admit(uid: peer.uid, user: peer.userName, act: route)
            await access.journal(admission.ended)
            guard let skipped = admission.journal else { return }
            let event = AuditEvent.accessDenied(.init(
                uid: peer.uid, user: peer.userName, action: RefusalThrottle.journalText("\(method) \(path)", limit: 200),
                reason: RefusalThrottle.journalText(RefusalThrottle.reason(reason, skipped: skipped), limit: 500)))
            do { _ = try await access.registry.append(event, by: .user(uid: peer.uid, name: peer.userName, operatorID: nil)) } catch {
                access.logger.error("could not journal a refused caller: \(error)")
            }
        }
    }

    /// Journals the counts of refusals the throttle left out, one entry per caller and act.
    func journal(_ ended: [RefusalThrottle.Ended]) async {
        for window in ended {
            let event = AuditEvent.accessDenied(.init(
                uid: window.uid, user: window.user, action: RefusalThrottle.journalText(window.act, limit: 200),
                reason: RefusalThrottle.journalText(RefusalThrottle.summary(window), limit: 500)))
            do { _ = try await registry.append(event, by: .user(uid: window.uid, name: window.user, operatorID: nil)) } catch {
                logger.error("could not journal refusals left out: \(error)")
            }
        }
    }

    func journal(readerEvent event: ReaderEvent) async {
        let audit: AuditEvent
        switch event {
        case .cardInserted(let reader, let atr):
            let name = String(("atr:" + Hex.string(atr)).prefix(64))
            cards.set(reader, name)
            audit = .tokenInserted(.init(serial: name, reader: reader))
        case .cardRemoved(let reader):
            audit = .tokenRemoved(.init(serial: cards.get(reader) ?? "unknown card", reader: reader))
            cards.set(reader, nil)
        default:
            return
        }
        do { _ = try await registry.append(audit, by: .daemon) } catch {
            logger.error("could not journal \(event): \(error)")
        }
    }

    /// Operators whose roles need an entity but who have none (registries made before every
    /// operator had a scope, `OperatorScope.unassigned`): named in one sentence at start-up; every
    /// act of theirs on an order is refused until an administrator fixes them.
    func warnUnscopedOperators() async {
        guard let operators = try? await registry.operators() else { return }
        let unscoped = operators.filter { $0.scope == .unassigned }.map(\.unixUser)
        guard !unscoped.isEmpty else { return }
        logger.warning("""
            \(unscoped.count == 1 ? "the operator" : "the operators") \(unscoped.joined(separator: ", ")) \
            \(unscoped.count == 1 ? "has" : "have") data-entry, reviewer or first-signer roles but no entity, and \
            \(unscoped.count == 1 ? "is" : "are") refused every act on an order (rules D3, D13) until an \
            administrator takes those roles away (PUT /v1/operators/ID/roles) or adds the operator again with \
            the entity's code
            """)
    }

    func journalConfigurationLoaded(_ configuration: DaemonConfiguration) async {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let digest = SHA256.hash(Array((try? encoder.encode(configuration)) ?? Data()))
        guard let hex = SHA256Hex(bytes: digest) else { return }
        do { _ = try await registry.append(.configurationLoaded(.init(path: configuration.source ?? "(defaults and flags)", sha256: hex)), by: .daemon) } catch {
            logger.error("could not journal the configuration: \(error)")
        }
    }

    // MARK: Routes

    func routes(journalSigner: JournalSigner) -> [Route] {
        let registry = self.registry
        let access = self
        let auditors: Set<Role> = [.auditor, .administrator]
        let administrators: Set<Role> = [.administrator]
        return [
            Route("GET", "/v1/audit", roles: auditors, query: [.integer("after", 0...Int64.max), .integer("limit", 1...1000)]) { request in
                // The journal holds every entity's acts: read by the Ministry's side (D3, D13).
                let scope = OperatorScope.caller(request.resolvedCaller?.op, roles: request.roles)
                guard scope == .ministry else {
                    throw Problem(.notAuthorized, "\(request.peer.userName ?? "uid \(request.peer.uid)") is an auditor of \(scope); the journal holds every entity's acts and is read by the Ministry's side", rule: .d3)
                }
                // Validated from the head (`QueryParameter`): numbers in their ranges.
                let after = request.query["after"].flatMap { Int64($0) } ?? 0
                let limit = request.query["limit"].flatMap { Int($0) } ?? 100
                let entries = try await registry.auditEntries(after: after, limit: limit)
                return try .json(Wire.AuditPage(entries: entries.map(Wire.AuditEntry.init), next: entries.last.map { Int($0.seq) }))
            },
            Route("GET", "/v1/audit/verify", roles: auditors) { _ in
                let result = try await registry.verifyJournal()
                let (signedHeads, bad, newest) = try await journalSigner.badHeadSignatures()
                let pinned = !journalSigner.pinned.isEmpty
                switch result {
                case .intact(let entries, let head) where bad.isEmpty:
                    return try .json(Wire.JournalCheck(intact: true, entries: Int(entries), head: head.hex, brokenAt: nil, reason: nil,
                                                  signedHeads: signedHeads, badHeadSignatures: [], newestSignedHead: newest.map(Int.init),
                                                  certificatesPinned: pinned))
                case .intact:
                    return try .json(Wire.JournalCheck(intact: false, entries: nil, head: nil, brokenAt: bad.first.map(Int.init),
                                                  reason: "the signature over journal head \(bad[0]) does not verify, or its certificate is not pinned",
                                                  signedHeads: signedHeads, badHeadSignatures: bad.map(Int.init), newestSignedHead: newest.map(Int.init),
                                                  certificatesPinned: pinned))
                case .broken(let seq, let reason):
                    return try .json(Wire.JournalCheck(intact: false, entries: nil, head: nil, brokenAt: Int(seq), reason: reason,
                                                  signedHeads: signedHeads, badHeadSignatures: bad.map(Int.init), newestSignedHead: newest.map(Int.init),
                                                  certificatesPinned: pinned))
                }
            },
            Route("GET", "/v1/audit/head-signatures", roles: auditors) { _ in
                try .json(try await registry.headSignatures().map(Wire.HeadSignature.init))
            },
            Route("POST", "/v1/audit/head-signatures", roles: auditors) { request in
                // The PIN leaves the body before the JSON decoder sees it (rule D5).
                let (body, pins) = try request.decode(Wire.SignHead.self, withPINs: ["pin"])
                let pin = try pins.required("pin", "the field 'pin' is missing")
                var uri: PKCS11URI?
                if let token = body.token {
                    uri = try TokenURI.parse(token)
                }
                do {
                    let signature = try await journalSigner.signNow(
                        uri: uri, pin: pin, confirmFinalTry: body.confirmFinalTry ?? false, by: await access.actor(request.peer))
                    return try .json(Wire.HeadSignature(signature), status: 201)
                } catch {
                    if let failure = TokenFailures.error(for: error) { throw failure }
                    throw error
                }
            },
            Route("GET", "/v1/operators", roles: administrators) { _ in try .json(try await registry.operators()) },
            Route("POST", "/v1/operators", roles: administrators) { request in
                let body = try request.decode(Wire.NewOperator.self)
                let roles = try Self.roles(body.roles)
                // A StoreError is turned into problem details by the router (`Problem(answering:)`).
                let op = try await registry.addOperator(
                    unixUser: body.unixUser, nationalID: body.nationalID, name: body.name, entityCode: body.entity,
                    roles: Set(roles), by: await access.actor(request.peer))
                return try .json(op, status: 201)
            },
            Route("PUT", "/v1/operators/{id}/roles", roles: administrators) { request in
                let id = try Self.operatorID(request)
                let body = try request.decode(Wire.RoleChange.self)
                let roles = try Self.roles(body.roles)
                let op = try await registry.setRoles(operator: id, roles: Set(roles), by: await access.actor(request.peer))
                return try .json(op)
            },
            Route("DELETE", "/v1/operators/{id}", roles: administrators) { request in
                let id = try Self.operatorID(request)
                let op = try await registry.removeOperator(id, by: await access.actor(request.peer))
                return try .json(op)
            },
            Route("GET", "/v1/entities", roles: administrators) { _ in try .json(try await registry.entities()) },
            // Payable orders waiting for delivery to the payment center (D8), by scope: an
            // operator of one entity sees that entity's, the Ministry's side every entity's.
            Route("GET", "/v1/outbox", roles: auditors, query: [.text("entity", maxLength: 64)]) { request in
                try .json(try await Self.scopedOutbox(request, registry: registry).map(Self.wire))
            },
            // The road to the center as Prometheus reads it (issue 18): the outbox's depth, the age
            // of its oldest waiting order, the attempts spent on those, and where delivered orders
            // stand, by the same scope as GET /v1/outbox; figures taken from the registry when
            // asked, so they hold across restarts and match the outbox exactly.
            Route("GET", "/v1/metrics", roles: auditors) { request in
                let text = OutboxFigures(try await Self.scopedOutbox(request, registry: registry), now: Date()).prometheusText
                return Response(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")], body: .bytes(text))
            },
            Route("POST", "/v1/entities", roles: administrators) { request in
                let body = try request.decode(Wire.NewEntity.self)
                let entity = try await registry.addEntity(code: body.code, name: body.name, by: await access.actor(request.peer))
                return try .json(entity, status: 201)
            },
        ]
    }

    /// The outbox as the caller's scope sees it (GET /v1/outbox, GET /v1/metrics, D3): an operator
    /// of one entity that entity's, the Ministry's side every entity's or the one asked for, an
    /// operator of no entity nothing.
    static func scopedOutbox(_ request: Request, registry: Registry) async throws -> [Registry.OutboxEntry] {
        let scope = OperatorScope.caller(request.resolvedCaller?.op, roles: request.roles)
        switch scope {
        case .ministry: return try await registry.outbox(entity: request.query["entity"])
        case .entity(let code):
            guard request.query["entity"].map({ $0 == code }) ?? true else {
                throw Problem(.notAuthorized, "the outbox of \(request.query["entity"] ?? "") is not in your scope (\(scope))", rule: .d3)
            }
            return try await registry.outbox(entity: code)
        case .unassigned: return []
        }
    }

    /// The document's roles are the domain's (`RoleContractTests`).
    static func roles(_ roles: [Wire.Role]) throws -> [Role] {
        try roles.map { try Contract.domain($0, as: Role.self) }
    }

    static func operatorID(_ request: Request) throws -> Operator.ID {
        guard let text = request.parameters["id"], let id = Operator.ID(text), id > 0 else {
            throw Problem(.invalidField, "the operator id must be a positive number")
        }
        return id
    }
}

extension Optional {
    func asyncFlatMap<U>(_ transform: (Wrapped) async throws -> U?) async rethrows -> U? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

extension Wire.AuditEntry {
    init(_ entry: AuditEntry) {
        self.init(
            seq: Int(entry.seq), at: entry.at, actor: entry.actorJSON, kind: entry.kind.rawValue, detail: entry.detailJSON,
            previousHash: entry.previousHash.hex, hash: entry.hash.hex)
    }
}

extension Wire.HeadSignature {
    init(_ signature: HeadSignature) {
        self.init(
            seq: Int(signature.seq), hash: signature.hash.hex, algorithm: signature.algorithm,
            certificateSHA256: signature.certificateSHA256.hex, recordedAt: signature.recordedAt)
    }
}

extension RegistryAccess {
    /// An outbox entry as the contract writes it (`GET /v1/outbox`, an order's `delivery`).
    static func wire(_ entry: Registry.OutboxEntry) -> Wire.OutboxEntry {
        Wire.OutboxEntry(
            orderID: entry.orderID, entityCode: entry.entityCode, queuedAt: entry.queuedAt,
            state: Wire.OutboxEntry.StatePayload(rawValue: entry.state) ?? .pending, attempts: entry.attempts, lastError: entry.lastError,
            nextAttemptAt: entry.nextAttemptAt, outcome: entry.outcome.flatMap(Wire.OutboxEntry.OutcomePayload.init(rawValue:)),
            submissionID: entry.submissionID, answeredAt: entry.answeredAt,
            centerState: entry.centerState.flatMap(Wire.OutboxEntry.CenterStatePayload.init(rawValue:)), detail: entry.detail)
    }
}

/// An order with where it stands on the road to the payment center (`GET /v1/orders/{id}`): the
/// order's own fields, and `delivery` beside them once it is payable (D8).
struct OrderWithDelivery: Encodable {
    var order: Order
    var delivery: Wire.OutboxEntry?

    enum Key: String, CodingKey { case delivery }

    func encode(to encoder: any Encoder) throws {
        try order.encode(to: encoder)
        if let delivery {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(delivery, forKey: .delivery)
        }
    }
}
