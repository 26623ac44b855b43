import Foundation
import PaysignApplication
import PaysignDomain
import PaysignOpenSSL
import PaysignStore
import PaysignSecrets
import PaysignAPI

/// `/v1/registered-tokens/{serial}/transitions` and `…/certificate`, `/v1/certificates`,
/// `/v1/holders/{user}/…` (clearance, death notice, retirement date), `/v1/crl` and
/// `/v1/reports/holders`: the certification authority (D3, D4, D6).
extension AuthorityDesk {
    func routes() -> [Route] {
        let desk = self
        let registry = self.registry
        let authority: Set<Role> = [.certificationAuthority]
        let overseers: Set<Role> = [.certificationAuthority, .administrator, .auditor]
        return [
            Route("POST", "/v1/registered-tokens/{serial}/transitions", roles: authority, rule: .d6) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(Wire.TokenTransition.self)
                // The document's actions and causes are the domain's (`ContractTests`).
                let action = try Contract.domain(body.action, as: TokenAction.self)
                let cause = try body.cause.map { try Contract.domain($0, as: RevocationCause.self) }
                let invalidity = try body.invalidityDate.map { text -> Date in
                    guard let date = Self.time(text) else {
                        throw Problem(.invalidField, "invalidityDate must be an ISO 8601 time (2026-11-20T10:00:00Z) or a day (2026-11-20), not '\(text)'")
                    }
                    return date
                }
                let token = try await desk.transition(
                    serial: request.parameters["serial"] ?? "", action: action, cause: cause, invalidityDate: invalidity,
                    note: body.note, caller: caller)
                return try .json(try Wire.RegisteredToken(token))
            },
            Route("POST", "/v1/holders/{user}/clearance", roles: [.certificationAuthority, .administrator], rule: .d6) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                return try .json(try await desk.clear(holder: request.parameters["user"] ?? "", caller: caller))
            },
            Route("POST", "/v1/holders/{user}/death-notice", roles: authority, rule: .d6) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(Wire.DeathNotice.self)
                guard let died = CalendarDay(iso: body.dateOfDeath) else {
                    throw Problem(.invalidField, "dateOfDeath must be YYYY-MM-DD, not '\(body.dateOfDeath)'")
                }
                guard let notified = CalendarDay(iso: body.notifiedOn) else {
                    throw Problem(.invalidField, "notifiedOn must be YYYY-MM-DD, not '\(body.notifiedOn)'")
                }
                let notice = DeathNotice(dateOfDeath: died, notifiedOn: notified, reference: body.reference)
                return try .json(try await desk.recordDeathNotice(holder: request.parameters["user"] ?? "", notice, caller: caller))
            },
            Route("PUT", "/v1/holders/{user}/retirement-date", roles: [.certificationAuthority, .administrator]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let body = try request.decode(Wire.RetirementDate.self)
                let day = try body.retirementDate.map { text -> CalendarDay in
                    guard let day = CalendarDay(iso: text) else { throw Problem(.invalidField, "retirementDate must be YYYY-MM-DD or null, not '\(text)'") }
                    return day
                }
                return try .json(try await desk.setRetirementDate(holder: request.parameters["user"] ?? "", day, caller: caller))
            },
            Route("POST", "/v1/crl", roles: authority) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (body, pins) = try request.decode(Wire.IssueCRL.self, withPINs: ["pin"])
                let pin = try pins.required("pin", "give the PIN of the authority's token (pin)")
                return try .json(try await desk.issueCRL(pin: pin, confirmFinalTry: body.confirmFinalTry ?? false, caller: caller), status: 201)
            },
            Route("POST", "/v1/certificates", roles: authority, rule: .d3) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let (body, pins) = try request.decode(Wire.IssueCertificate.self, withPINs: ["pin"])
                let pin = try pins.required("pin", "give the PIN of the authority's token (pin)")
                let days = body.validityDays ?? 730
                guard (1...3650).contains(days) else { throw Problem(.invalidField, "validityDays must be 1 to 3650") }
                return try .json(
                    try await desk.issueCertificate(request: body.csr, holder: body.holder, holderToken: try TokenURI.parse(body.token), validityDays: days, pin: pin, confirmFinalTry: body.confirmFinalTry ?? false, caller: caller),
                    status: 201)
            },
            // The issued certificate again, from the registry (issue 15: a lost --out file never
            // strands a token); an administrator reads it too, as they read /v1/registered-tokens.
            Route("GET", "/v1/registered-tokens/{serial}/certificate", roles: [.certificationAuthority, .administrator], query: [.sha256("sha256"), .oneOf("format", ["json", "pem", "der"])]) { request in
                let copy = try await desk.registeredCertificate(tokenSerial: request.parameters["serial"] ?? "", sha256: request.query["sha256"])
                switch request.query["format"] ?? "json" {
                case "json":
                    return try .json(copy)
                case "pem":
                    return Response(status: 200, headers: [("Content-Type", "application/x-pem-file")], body: .bytes(Array(copy.pem.utf8)))
                case "der":
                    return Response(status: 200, headers: [("Content-Type", "application/pkix-cert"), OrderDesk.attachment("\(copy.serial).cer")], body: .bytes(copy.derEncoded))
                case let other:
                    throw Problem(.invalidField, "format must be json, pem or der, not '\(other)'")
                }
            },
            Route("GET", "/v1/crl", roles: nil, query: [.oneOf("format", ["der", "pem"])]) { request in
                let stored = try await desk.latestCRL()
                switch request.query["format"] ?? "der" {
                case "der":
                    return Response(status: 200, headers: [("Content-Type", "application/pkix-crl"), OrderDesk.attachment("crl-\(stored.number).crl")], body: .bytes(stored.derEncoded))
                case "pem":
                    return Response(status: 200, headers: [("Content-Type", "application/x-pem-file")], body: .bytes(Array(OrderDesk.pem(stored.derEncoded, label: "X509 CRL").utf8)))
                case let other:
                    throw Problem(.invalidField, "format must be der or pem, not '\(other)'")
                }
            },
            Route("POST", "/v1/crl/imports", roles: [.certificationAuthority, .administrator, .paymentCenter], rule: .d6) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                return try .json(try await desk.importCRL(request.body, caller: caller), status: 201)
            },
            Route("GET", "/v1/reports/holders", roles: overseers, rule: .d4, query: [.text("entity", maxLength: 64), .oneOf("format", ["json", "csv", "text"])]) { request in
                let caller = try await Caller.resolve(request, registry: registry)
                let report = try await desk.holdersReport(entity: request.query["entity"], caller: caller)
                switch request.query["format"] ?? "json" {
                case "json": return try .json(report)
                case "csv": return Response(status: 200, headers: [("Content-Type", "text/csv; charset=utf-8")], body: .bytes(Array(report.csv.utf8)))
                case "text": return Response(status: 200, headers: [("Content-Type", "text/plain; charset=utf-8")], body: .bytes(Array(report.text.utf8)))
                case let other: throw Problem(.invalidField, "format must be json, csv or text, not '\(other)'")
                }
            },
        ]
    }

    static func time(_ text: String) -> Date? {
        if let day = CalendarDay(iso: text) { return Date(timeIntervalSince1970: TimeInterval(day.daysSince1970) * 86_400) }
        return try? Date(text, strategy: .iso8601)
    }
}
