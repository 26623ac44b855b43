import Foundation
import PaysignApplication
import PaysignDomain
import PaysignOpenSSL
import PaysignStore
import PaysignVerification
import PaysignAPI

/// `POST /v1/verifications`: the payment center's verification through the daemon
/// (`VerificationDesk`). The route decodes the body and the Idempotency-Key and renders the report.
extension VerificationDesk {
    // MARK: The route

    func routes(idempotency: IdempotencyGuard) -> [Route] {
        let desk = self
        let registry = self.registry
        return [
            Route("POST", "/v1/verifications", roles: [.paymentCenter, .auditor, .administrator]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(Wire.VerificationRequest.self)
                let document = try Self.base64(body.document, field: "document")
                let signature = try Self.base64(body.signature, field: "signature")
                let file = try body.file.map { try Self.base64($0, field: "file") }
                guard document.count <= OrderVerifier.maximumDocumentBytes else {
                    throw Problem(.invalidField, "the document is \(document.count) bytes, more than the \(OrderVerifier.maximumDocumentBytes) an order document can be")
                }
                guard signature.count <= OrderEvidence.maximumSignatureBytes else {
                    throw Problem(.invalidField, "the signature is \(signature.count) bytes, more than the \(OrderEvidence.maximumSignatureBytes) a signed order's .p7s can be")
                }
                if let name = body.name, let problem = FieldRules.text(name, field: "name", maximumLength: 500) {
                    throw Problem(.invalidField, problem.sentence)
                }
                let order = VerificationInput(
                    name: body.name ?? "order", document: document, signature: signature, file: file, present: body.present ?? false)
                guard order.present else { return try Self.response(try await desk.verify(order, caller: caller, idempotency: nil)) }
                // A presentation retried with the same Idempotency-Key gets its first answer back,
                // not a replay of itself.
                let what = [order.name, Hex.string(SHA256.hash(document)), Hex.string(SHA256.hash(signature)),
                            file.map { Hex.string(SHA256.hash($0)) } ?? "-", "present"]
                return try await idempotency.once(request, what: what) { key in
                    try Self.response(try await desk.verify(order, caller: caller, idempotency: key))
                }
            },
        ]
    }

    static func response(_ report: VerificationReport) throws -> Response {
        Response(status: 200, headers: [("Content-Type", "application/json")], body: .bytes(Array(try ReportRendering.json(report))))
    }

    /// Strict base64 (RFC 4648, padding required, no line breaks): 422 naming the field otherwise.
    static func base64(_ text: String, field: String) throws -> [UInt8] {
        guard let data = Data(base64Encoded: text) else {
            throw Problem(.invalidField, "the field '\(field)' is not base64 (RFC 4648, with padding, on one line)")
        }
        return [UInt8](data)
    }

}
