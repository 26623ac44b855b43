import Foundation
import Logging
import PaysignCenterApplication
import PaysignCenterStore
import PaysignDomain
import PaysignOpenSSL
import PaysignPKCS11
import PaysignTokens
import PostgresNIO

/// The center's routes (issue 18). Who may call what is decided by the handshake's verdict:
/// entities submit and read their own submissions; center staff read (their roles come with the
/// center's registry).
struct CenterRoutes: Sendable {
    let desk: SubmissionDesk
    let ready: @Sendable () async -> String?
    let logger: Logger

    func route(_ request: CenterRequest) async -> CenterAnswer {
        switch (request.method, request.path) {
        case ("GET", "/health/live"):
            return .json(["status": "live"])
        case ("GET", "/health/ready"):
            if let problem = await ready() {
                return CenterProblem("unavailable", "Unavailable", status: 503, problem).answer
            }
            return .json(["status": "ready"])
        case ("GET", "/v1/openapi.json"):
            return CenterAnswer(status: 200, contentType: "application/json", body: PackageResources.center_openapi_json)
        case ("POST", "/v1/submissions"):
            return await submit(request)
        case ("GET", "/v1/submissions"):
            return await answer { try await list(request) }
        case ("GET", "/v1/totals"):
            return await answer { try await totals(request) }
        case ("GET", _) where Self.submissionID(request.path, suffix: "") != nil:
            return await answer { try await show(request, id: Self.submissionID(request.path, suffix: "")!) }
        case ("POST", _) where Self.submissionID(request.path, suffix: "/payment") != nil:
            return await answer { try await payment(request, id: Self.submissionID(request.path, suffix: "/payment")!) }
        case (_, "/v1/submissions"), (_, "/health/live"), (_, "/health/ready"), (_, "/v1/totals"), (_, "/v1/openapi.json"):
            return CenterProblem("method-not-allowed", "Method not allowed", status: 405, "\(request.method) is not allowed on \(request.path)").answer
        case (_, _) where Self.submissionID(request.path, suffix: "") != nil || Self.submissionID(request.path, suffix: "/payment") != nil:
            return CenterProblem("method-not-allowed", "Method not allowed", status: 405, "\(request.method) is not allowed on \(request.path)").answer
        default:
            return CenterProblem.notFound(request.path).answer
        }
    }

    /// `POST /v1/submissions`: an envelope (`application/cms`) in, a signed receipt
    /// (`application/cms`) out: 201 when recorded now, 200 for an envelope recorded before.
    func submit(_ request: CenterRequest) async -> CenterAnswer {
        guard case .entity(let entity) = request.peer else {
            return CenterProblem("not-authorized", "Not authorized", status: 403, "only an entity's submission certificate submits orders; center staff read them", rule: .d8).answer
        }
        let type = request.header("Content-Type")?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard type == "application/cms" || type == "application/pkcs7-mime" else {
            return CenterProblem("unsupported-media-type", "Unsupported media type", status: 415, "a submission is a CMS AuthEnvelopedData sent as application/cms, not \(type ?? "a body without a type")").answer
        }
        do {
            let outcome = try await desk.submit(envelope: request.body, from: entity)
            return CenterAnswer(
                status: outcome.replay ? 200 : 201, contentType: "application/cms", body: outcome.signedReceipt,
                headers: [
                    ("Location", "/v1/submissions/\(outcome.receipt.submission)"),
                    ("Paysign-Verdict", outcome.receipt.verdict),
                    ("Paysign-Accepted", outcome.receipt.accepted ? "true" : "false"),
                ])
        } catch let refusal as SubmissionDesk.Refusal {
            switch refusal.kind {
            case .envelope: return CenterProblem("invalid-envelope", "Invalid envelope", status: 422, refusal.message, rule: refusal.rule).answer
            case .unreadableOrder: return CenterProblem("invalid-order", "Invalid order", status: 422, refusal.message, rule: refusal.rule).answer
            case .notAllowed: return CenterProblem("not-authorized", "Not authorized", status: 403, refusal.message, rule: refusal.rule).answer
            case .acceptedBefore: return CenterProblem("accepted-before", "Accepted before", status: 409, refusal.message, rule: refusal.rule).answer
            }
        } catch let error as PKCS11Error {
            logger.error("the center's token failed: \(error)")
            return unavailable("the center's token cannot serve now (\(error.message)); the envelope was not recorded: send it again")
        } catch let error as TokenError {
            logger.error("the center's token failed: \(error)")
            return unavailable("the center's token cannot serve now (\(error)); the envelope was not recorded: send it again")
        } catch let error where Self.dataException(error) != nil {
            return invalidValue(error)
        } catch let error as PSQLError {
            logger.error("the center's database failed: \(String(reflecting: error))")
            return unavailable("the center's database cannot be reached now; the envelope was not recorded: send it again")
        } catch {
            logger.error("a submission failed: \(String(reflecting: error))")
            return unavailable("the submission could not be completed (\(Swift.type(of: error))); nothing was recorded: send it again")
        }
    }

    // MARK: The center's people (issue 18, item 6)

    /// `/v1/submissions/{id}` + `suffix`: the id, when the path is one.
    static func submissionID(_ path: String, suffix: String) -> Int64? {
        let prefix = "/v1/submissions/"
        guard path.hasPrefix(prefix), path.hasSuffix(suffix) else { return nil }
        let middle = path.dropFirst(prefix.count).dropLast(suffix.count)
        guard !middle.isEmpty, middle.count <= 18, middle.allSatisfy(\.isASCII), let id = Int64(middle), id >= 1 else { return nil }
        return id
    }

    /// Runs a route; a problem it throws is its answer, anything else a 503 (nothing changed).
    func answer(_ body: () async throws -> CenterAnswer) async -> CenterAnswer {
        do {
            return try await body()
        } catch let problem as CenterProblem {
            return problem.answer
        } catch let error where Self.dataException(error) != nil {
            return invalidValue(error)
        } catch {
            logger.error("a request failed: \(String(reflecting: error))")
            return unavailable("the center cannot answer now (its database or token); nothing was changed: ask again")
        }
    }

    /// A data exception (class 22: a NUL in text, a value out of range): the request's value,
    /// which a route's checks should have refused first; 422, never "ask again"; nothing recorded.
    func invalidValue(_ error: any Error) -> CenterAnswer {
        let message = Self.dataException(error)?.serverInfo?[.message] ?? "a data exception"
        logger.warning("a request's value was refused by the database: \(message)")
        return CenterProblem("invalid-field", "Invalid field", status: 422, "a value of the request cannot be stored (\(message)); nothing was recorded").answer
    }

    /// The database's data exception (SQLSTATE class 22) behind `error`, bare or inside a
    /// transaction's error.
    static func dataException(_ error: any Error) -> PSQLError? {
        guard let psql = CenterStore.serverError(error), psql.serverInfo?[.sqlState]?.hasPrefix("22") == true else { return nil }
        return psql
    }

    /// Who is asking: an entity (its code), or a person of the center with their role.
    enum Asker {
        case entity(String)
        case staff(CenterStore.Staff)
    }

    func asker(_ request: CenterRequest) async throws -> Asker {
        switch request.peer {
        case .entity(let code): return .entity(code)
        case .staff(let subject, let sha256):
            guard let staff = try await desk.store.staff(certificateSHA256: sha256) else {
                throw CenterProblem("not-authorized", "Not authorized", status: 403, "\(subject) is not one of the center's people (an administrator adds them with paysign-center staff add)", rule: .p1)
            }
            return .staff(staff)
        }
    }

    static func badQuery(_ detail: String) -> CenterProblem {
        CenterProblem("invalid-field", "Invalid field", status: 422, detail)
    }

    /// `GET /v1/submissions?entity=&state=&limit=`: newest first. An entity sees its own.
    func list(_ request: CenterRequest) async throws -> CenterAnswer {
        if let unknown = request.query.keys.first(where: { !["entity", "state", "limit"].contains($0) }) {
            throw Self.badQuery("unknown query parameter \(unknown); this route takes entity, state and limit")
        }
        if let state = request.query["state"], !["accepted", "paid", "returned", "refused"].contains(state) {
            throw Self.badQuery("state must be accepted, paid, returned or refused")
        }
        let limit = request.query["limit"].map { Int($0) ?? -1 } ?? 100
        guard (1...1000).contains(limit) else { throw Self.badQuery("limit must be from 1 to 1000") }
        // An entity code as the registry writes it (a NUL reached PostgreSQL and was answered 503).
        if let entity = request.query["entity"], let problem = FieldRules.entityCode(entity, field: "entity") {
            throw Self.badQuery(problem.sentence)
        }
        var entity = request.query["entity"]
        if case .entity(let own) = try await asker(request) {
            guard entity == nil || entity == own else {
                throw CenterProblem("not-authorized", "Not authorized", status: 403, "an entity reads its own submissions only", rule: .d3)
            }
            entity = own
        }
        return .json(try await desk.store.submissions(entity: entity, state: request.query["state"], limit: limit))
    }

    /// `GET /v1/submissions/{id}`: the center's people, or the entity that submitted it.
    func show(_ request: CenterRequest, id: Int64) async throws -> CenterAnswer {
        let who = try await asker(request)
        guard let listing = try await desk.store.listing(id: id) else {
            throw CenterProblem("not-found", "Not found", status: 404, "there is no submission \(id)")
        }
        if case .entity(let own) = who, listing.entity != own {
            throw CenterProblem("not-found", "Not found", status: 404, "there is no submission \(id)")
        }
        return .json(listing)
    }

    struct PaymentBody: Decodable {
        var state: String
        var reason: String?
    }

    /// `POST /v1/submissions/{id}/payment` `{"state": "paid"|"returned", "reason": …}`: operators,
    /// once per accepted order (P3: the center's transactions are recorded for the Ministry).
    func payment(_ request: CenterRequest, id: Int64) async throws -> CenterAnswer {
        guard case .staff(let staff) = try await asker(request), staff.role == "operator" else {
            throw CenterProblem("not-authorized", "Not authorized", status: 403, "only the center's operators mark orders paid or returned", rule: .p1)
        }
        guard request.header("Content-Type")?.lowercased().hasPrefix("application/json") == true else {
            throw CenterProblem("unsupported-media-type", "Unsupported media type", status: 415, "the body is JSON: {\"state\": \"paid\"} or {\"state\": \"returned\", \"reason\": \"…\"}")
        }
        guard let body = try? JSONDecoder().decode(PaymentBody.self, from: Data(request.body)) else {
            throw Self.badQuery("the body is not {\"state\": \"paid\"|\"returned\", \"reason\": …}")
        }
        guard ["paid", "returned"].contains(body.state) else { throw Self.badQuery("state must be paid or returned") }
        let reason = body.reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        // One line of text (a control character, a NUL, reached PostgreSQL and was answered 503).
        if let reason, !reason.isEmpty, let problem = FieldRules.text(reason, field: "reason", maximumLength: 500) {
            throw Self.badQuery(problem.sentence)
        }
        if body.state == "returned" {
            guard let reason, !reason.isEmpty else {
                throw Self.badQuery("a returned order needs its reason, in at most 500 characters")
            }
        }
        do {
            let listing = try await desk.store.markPayment(
                submissionID: id, state: body.state, reason: reason?.isEmpty == true ? nil : reason, operator: staff.certificateSHA256,
                by: "\(staff.name) (\(staff.certificateSHA256.prefix(16)))", at: Date())
            logger.notice("submission \(id) marked \(body.state) by \(staff.name)")
            return .json(listing)
        } catch let refusal as CenterStore.PaymentRefusal {
            switch refusal {
            case .unknown: throw CenterProblem("not-found", "Not found", status: 404, "there is no submission \(id)")
            case .notAccepted:
                throw CenterProblem("wrong-state", "Wrong state", status: 409, "submission \(id) was not accepted for payment; it cannot be paid or returned", rule: .d2)
            case .already(let state):
                throw CenterProblem("wrong-state", "Wrong state", status: 409, "submission \(id) is \(state) already; an order is paid once", rule: .d2)
            case .notOperator:
                throw CenterProblem("not-authorized", "Not authorized", status: 403, "\(staff.name) is no longer one of the center's operators; nothing was recorded", rule: .p1)
            }
        }
    }

    /// `GET /v1/totals?month=YYYY-MM`: each entity's orders accepted, paid and returned in the
    /// month, with totals (P6); the center's people only.
    func totals(_ request: CenterRequest) async throws -> CenterAnswer {
        guard case .staff = try await asker(request) else {
            throw CenterProblem("not-authorized", "Not authorized", status: 403, "the monthly totals are for the center's people and the Ministry", rule: .p6)
        }
        guard let month = request.query["month"], month.count == 7, month.utf8.enumerated().allSatisfy({ $0.offset == 4 ? $0.element == 0x2D : (0x30...0x39).contains($0.element) }),
              let number = Int(month.suffix(2)), (1...12).contains(number), request.query.count == 1
        else {
            throw Self.badQuery("month is required, as YYYY-MM, and is the only parameter")
        }
        return .json(try await desk.store.monthlyTotals(month: month))
    }

    func unavailable(_ detail: String) -> CenterAnswer {
        var answer = CenterProblem("unavailable", "Unavailable", status: 503, detail).answer
        answer.headers.append(("Retry-After", "5"))
        return answer
    }
}
