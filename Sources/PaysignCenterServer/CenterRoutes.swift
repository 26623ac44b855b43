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
        case ("POST", "/v1/submissions"):
            return await submit(request)
        case (_, "/v1/submissions"), (_, "/health/live"), (_, "/health/ready"):
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
        } catch let error as PSQLError {
            logger.error("the center's database failed: \(String(reflecting: error))")
            return unavailable("the center's database cannot be reached now; the envelope was not recorded: send it again")
        } catch {
            logger.error("a submission failed: \(String(reflecting: error))")
            return unavailable("the submission could not be completed (\(Swift.type(of: error))); nothing was recorded: send it again")
        }
    }

    func unavailable(_ detail: String) -> CenterAnswer {
        var answer = CenterProblem("unavailable", "Unavailable", status: 503, detail).answer
        answer.headers.append(("Retry-After", "5"))
        return answer
    }
}
