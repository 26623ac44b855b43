import Foundation
import PaysignApplication
import PaysignDomain
import PaysignOpenSSL
import PaysignPKCS11
import PaysignStore
import PaysignAPI
import PaysignSecrets
import PaysignDocuments
import PaysignText

/// `/v1/orders`: upload, list, read, export, review, reject and sign payment orders: decoding
/// and answers; the acts are `OrderDesk`'s.
extension OrderDesk {
    func routes(idempotency: IdempotencyGuard, documentLanguage: Language) -> [Route] {
        let desk = self
        let registry = self.registry
        let readers = API.anyRole
        return [
            Route("POST", "/v1/orders", roles: [.dataEntry], rule: .d13, query: [.text("entity", maxLength: 64), .oneOf("kind", OrderKind.allCases.map(\.rawValue)), .day("valueDate"), .text("currency", maxLength: 8)], admitHead: { head, resolved in
                // Role and scope from the query, before the file is read (D13).
                guard let entity = head.query["entity"], !entity.isEmpty else { return nil }
                let caller = Caller(peer: head.peer, op: resolved.op, roles: resolved.roles)
                do {
                    try OrderActRule.check(resolved.op, callerName: caller.name, act: .upload, entityCode: entity)
                    return nil
                } catch let refusal as RuleRefusal {
                    return .problem(Problem(await desk.refuse(caller, refusal)))
                } catch {
                    return .problem(Problem(.internalError, "the daemon failed: \(error)"))
                }
            }) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let metadata = try Self.metadata(request.query)
                let contentType = request.headers["content-type"]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                guard contentType == "text/csv" || contentType == "application/octet-stream" else {
                    throw Problem(.unsupportedMediaType, "send the order file as text/csv, exactly as it was exported (got \(request.headers["content-type"] ?? "no content type"))")
                }
                let file = request.body
                let what = [metadata.entityCode, metadata.kind.rawValue, metadata.currency, metadata.valueDate.description, Hex.string(SHA256.hash(file))]
                return try await idempotency.respond(request, what: what, status: 201) { record in
                    try await desk.create(metadata: metadata, file: file, caller: caller, idempotency: record)
                }
            },
            Route("GET", "/v1/orders", roles: readers, query: [.text("entity", maxLength: 64), .oneOf("state", OrderState.allCases.map(\.rawValue)), .day("from"), .day("to"), .integer("limit", 1...1000)]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                return try .json(try await desk.orders(try Self.filter(request.query), caller: caller))
            },
            Route("GET", "/v1/orders/{id}", roles: readers) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let order = try await desk.visibleOrder(try Self.orderID(request), to: caller)
                let delivery = try await registry.outbox(orderID: order.id).first.map(RegistryAccess.wire)
                return try .json(OrderWithDelivery(order: order, delivery: delivery))
            },
            Route("GET", "/v1/orders/{id}/file", roles: readers) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (order, bytes) = try await desk.file(of: try Self.orderID(request), caller: caller)
                return Response(status: 200, headers: [("Content-Type", "text/csv"), Self.attachment("order-\(order.id).csv")], body: .bytes(bytes))
            },
            Route("GET", "/v1/orders/{id}/document", roles: readers) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (order, bytes) = try await desk.document(of: try Self.orderID(request), caller: caller)
                return Response(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8"), Self.attachment("order-\(order.id).txt")], body: .bytes(bytes))
            },
            Route("GET", "/v1/orders/{id}/receipt", roles: readers) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let order = try await desk.visibleOrder(try Self.orderID(request), to: caller)
                guard let receipt = try await registry.deliveryReceipt(orderID: order.id) else {
                    throw Problem(.notFound, "order \(order.id) has no receipt from the payment center (yet): see its delivery in paysign order show")
                }
                return Response(status: 200, headers: [("Content-Type", "application/cms"), Self.attachment("order-\(order.id)-receipt.p7m")], body: .bytes(receipt))
            },
            Route("GET", "/v1/orders/{id}/signature", roles: readers, query: [.oneOf("format", ["der", "pem"])]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (order, der) = try await desk.signedData(of: try Self.orderID(request), caller: caller)
                switch request.query["format"] ?? "der" {
                case "der":
                    return Response(status: 200, headers: [("Content-Type", "application/pkcs7-signature"), Self.attachment("order-\(order.id).p7s")], body: .bytes(der))
                case "pem":
                    return Response(status: 200, headers: [("Content-Type", "application/x-pem-file")], body: .bytes(Array(Self.pem(der, label: "CMS").utf8)))
                case let other:
                    throw Problem(.invalidField, "format must be der or pem, not '\(other)'")
                }
            },
            Route("GET", "/v1/orders/{id}/export", roles: readers, query: [
                .oneOf("format", ["csv", "html"]), .oneOf("lang", Language.allCases.map(\.rawValue)),
                .integer("offset", 0...Int64(Int32.max)), .integer("limit", 1...Int64(Int32.max)),
            ]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let sheet = try await desk.reviewSheet(of: try Self.orderID(request), caller: caller)
                let (order, file, entityName) = (sheet.order, sheet.file, sheet.entityName)
                let words = Words(request.query["lang"].flatMap(Language.init(rawValue:)) ?? documentLanguage)
                // offset and limit: one part of a long sheet, for the PDF printer (its lines by
                // position among the file's readable lines; the first part has the heading, the last
                // the total and the sign-off).
                var part = ReviewSheet.Part.whole
                if request.query["offset"] != nil || request.query["limit"] != nil {
                    let offset = Int(request.query["offset"] ?? "0") ?? 0
                    let limit = Int(request.query["limit"] ?? "") ?? file.lines.count
                    part = .lines(offset..<(offset + min(limit, max(0, file.lines.count - offset))))
                }
                switch request.query["format"] ?? "html" {
                case "csv":
                    guard part == .whole else { throw Problem(.invalidField, "offset and limit are for format=html (a part of the sheet to print); the CSV is always whole") }
                    return Response(status: 200, headers: [("Content-Type", "text/csv; charset=utf-8"), Self.attachment("order-\(order.id)-review.csv")],
                                    body: .bytes(ReviewSheet.csv(order: order, file: file, entityName: entityName, words: words)))
                case "html":
                    let html = ReviewSheet.html(order: order, file: file, entityName: entityName, generatedAt: sheet.generatedAt, words: words, part: part)
                    return Response(status: 200, headers: [("Content-Type", "text/html; charset=utf-8")], body: .bytes(Array(html.utf8)))
                case let other:
                    throw Problem(.invalidField, "format must be csv or html, not '\(other)'")
                }
            },
            Route("POST", "/v1/orders/{id}/review", roles: [.reviewer], rule: .d9) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let id = try Self.orderID(request)
                let body = try request.decode(Wire.Review.self)
                guard let number = FileNumber(body.fileNumber) else {
                    throw Problem(.invalidField, "fileNumber must be the 64 hex digits of the file number (dashes and spaces allowed)", rule: .d9)
                }
                return try await idempotency.respond(request, what: [number.digest.hex]) { record in
                    try await desk.review(id, fileNumber: number, caller: caller, idempotency: record)
                }
            },
            Route("POST", "/v1/orders/{id}/reject", roles: [.reviewer, .firstSigner, .secondSigner]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let id = try Self.orderID(request)
                let body = try request.decode(Wire.Rejection.self)
                return try await idempotency.respond(request, what: [body.reason]) { record in
                    try await desk.reject(id, reason: body.reason, caller: caller, idempotency: record)
                }
            },
            // Any caller reaches the handler: SigningPolicy refuses with the rule that applies (a
            // holder whose token was revoked hears D6, a clerk D13), before any PIN is used.
            Route("POST", "/v1/orders/{id}/signatures", roles: nil, admitHead: { head, resolved in
                // Someone who is no operator, or data entry, never signs (D13): refused from the
                // head, the body (and its PIN) never read. Everyone else reaches the policy.
                guard resolved.op == nil || resolved.op?.roles.contains(.dataEntry) == true else { return nil }
                let caller = Caller(peer: head.peer, op: resolved.op, roles: resolved.roles)
                do throws(RuleRefusal) {
                    _ = try SignerRoleRule.check(resolved.op, callerName: caller.name, step: .first)
                    return nil
                } catch {
                    return .problem(Problem(await desk.refuse(caller, error)))
                }
            }) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let id = try Self.orderID(request)
                // The PIN leaves the body before the JSON decoder sees it (rule D5).
                let (fields, pins) = try request.decode(Wire.SignatureRequest.self, withPINs: ["pin"])
                let pin = pins["pin"]
                let step: SignatureStep = switch fields.step {
                case .first: .first
                case .second: .second
                }
                let uri = try TokenURI.parse(fields.token)
                var number: FileNumber?
                if let text = fields.fileNumber {
                    guard let parsed = FileNumber(text) else {
                        throw Problem(.invalidField, "fileNumber must be the 64 hex digits of the file number (dashes and spaces allowed)", rule: .d9)
                    }
                    number = parsed
                }
                let sign = SignRequest(orderID: id, step: step, token: uri, fileNumber: number, confirmFinalTry: fields.confirmFinalTry ?? false)
                let what = [step.rawValue, uri.description, number?.digest.hex ?? "", String(sign.confirmFinalTry)]
                return try await idempotency.respond(request, what: what, status: 201) { record in
                    try await desk.sign(sign, pin: pin, caller: caller, idempotency: record)
                }
            },
        ]
    }

    static func orderID(_ request: Request) throws -> Order.ID {
        guard let text = request.parameters["id"], let id = Order.ID(text), id > 0 else {
            throw Problem(.invalidField, "the order id must be a positive number")
        }
        return id
    }

    /// The order's metadata from the query of `POST /v1/orders`.
    static func metadata(_ query: [String: String]) throws -> OrderMetadata {
        let allowed: Set<String> = ["entity", "kind", "currency", "valueDate"]
        if let unknown = Set(query.keys).subtracting(allowed).sorted().first {
            throw Problem(.invalidField, "unknown parameter '\(unknown)'; allowed: entity, kind, currency, valueDate")
        }
        guard let entity = query["entity"], !entity.isEmpty else { throw Problem(.invalidField, "the parameter 'entity' (the entity's code) is missing") }
        guard let kindText = query["kind"] else { throw Problem(.invalidField, "the parameter 'kind' is missing") }
        guard let kind = OrderKind(rawValue: kindText) else {
            throw Problem(.invalidField, "kind must be one of \(OrderKind.allCases.map(\.rawValue).joined(separator: ", ")), not '\(kindText)'")
        }
        guard let dateText = query["valueDate"] else { throw Problem(.invalidField, "the parameter 'valueDate' (YYYY-MM-DD) is missing") }
        guard let day = CalendarDay(iso: dateText) else { throw Problem(.invalidField, "valueDate must be YYYY-MM-DD, not '\(dateText)'") }
        return OrderMetadata(entityCode: entity, kind: kind, currency: query["currency"] ?? "EGP", valueDate: day)
    }

    static func filter(_ query: [String: String]) throws -> OrderFilter {
        var filter = OrderFilter()
        filter.entityCode = query["entity"]
        if let text = query["state"] {
            guard let state = OrderState(rawValue: text) else {
                throw Problem(.invalidField, "state must be one of \(OrderState.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
            }
            filter.state = state
        }
        for (name, keyPath) in [("from", \OrderFilter.from), ("to", \OrderFilter.to)] {
            if let text = query[name] {
                guard let day = CalendarDay(iso: text) else { throw Problem(.invalidField, "\(name) must be YYYY-MM-DD, not '\(text)'") }
                filter[keyPath: keyPath] = day
            }
        }
        if let text = query["limit"] {
            guard let limit = Int(text), (1...1000).contains(limit) else { throw Problem(.invalidField, "limit must be 1 to 1000") }
            filter.limit = limit
        }
        return filter
    }

    static func attachment(_ name: String) -> (String, String) {
        ("Content-Disposition", "attachment; filename=\"\(name)\"")
    }

    static func pem(_ der: [UInt8], label: String) -> String {
        let base64 = Data(der).base64EncodedString()
        var lines = ["-----BEGIN \(label)-----"]
        var index = base64.startIndex
        while index < base64.endIndex {
            let end = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(String(base64[index..<end]))
            index = end
        }
        lines.append("-----END \(label)-----")
        return lines.joined(separator: "\n") + "\n"
    }
}
