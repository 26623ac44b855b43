import Foundation
import PaysignAPI
@testable import PaysignDaemon
import PaysignApplication
import PaysignDomain
import Testing

/// The API's document (`Sources/PaysignAPI/openapi.json`) is the one description of the wire: the
/// daemon and the client use the types swift-openapi-generator makes from it. What the generated
/// types cannot say by themselves is checked here: every problem the daemon can send decodes with
/// the generated `Problem`, and the document's enums are the domain's.
@Suite struct ContractTests {
    @Test("every problem the daemon can send decodes with the type generated from the document")
    func everyProblemDecodes() throws {
        #expect(Problem.Kind.all.count == Set(Problem.Kind.all.map(\.name)).count)
        for kind in Problem.Kind.all {
            var problem = Problem(kind, "a sentence", rule: .d9, instance: "/v1/orders/1")
            if kind == .invalidOrder {
                problem.violations = [.init(PaysignDomain.Violation(line: 7, field: "amount_piasters", rule: .d12, message: "not a number"))]
            }
            let decoded = try JSONDecoder().decode(Components.Schemas.Problem.self, from: problem.json)
            #expect(decoded._type.rawValue == "urn:paysign:problem:\(kind.name)", "\(kind.name) is not a type in the document")
            #expect(decoded.status == kind.status)
            #expect(decoded.title == kind.title)
            #expect(decoded.rule == "D9")
            #expect(decoded.detail == "a sentence")
            if kind == .invalidOrder { #expect(decoded.violations?.first?.rule == "D12") }
        }
        // And the document lists no type the daemon never sends.
        let sent = Set(Problem.Kind.all.map { "urn:paysign:problem:\($0.name)" })
        #expect(Set(Components.Schemas.Problem._TypePayload.allCases.map(\.rawValue)) == sent)
    }

    @Test("every use-case failure maps to a problem type of the document")
    func useCaseFailuresAreDocumented() {
        let documented = Set(Components.Schemas.Problem._TypePayload.allCases.map(\.rawValue))
        for kind in UseCaseError.Kind.allCases {
            #expect(documented.contains("urn:paysign:problem:\(Problem.kind(of: kind).name)"))
        }
    }

    @Test("the document's enums are the domain's")
    func enumsMatchTheDomain() {
        func same<W: CaseIterable & RawRepresentable, D: CaseIterable & RawRepresentable>(_ wire: W.Type, _ domain: D.Type)
            -> Bool where W.RawValue == String, D.RawValue == String
        {
            Set(W.allCases.map(\.rawValue)) == Set(D.allCases.map(\.rawValue))
        }
        #expect(same(Components.Schemas.Role.self, Role.self))
        #expect(same(Components.Schemas.TokenState.self, TokenState.self))
        #expect(same(Components.Schemas.OrderState.self, OrderState.self))
        #expect(same(Components.Schemas.OrderKind.self, OrderKind.self))
        #expect(same(Components.Schemas.TokenTransition.ActionPayload.self, TokenAction.self))
        #expect(same(Components.Schemas.TokenTransition.CausePayload.self, RevocationCause.self))
        #expect(same(Components.Schemas.SignatureRequest.StepPayload.self, SignatureStep.self))
    }

    @Test("an unknown field is refused naming the fields the document allows")
    func unknownFieldNamesTheSchema() throws {
        let peer = PeerCredentials(pid: 1, uid: 0, gid: 0, userName: "root")
        let request = Request(
            method: "POST", path: "/v1/entities", query: [:], headers: ["content-type": "application/json"],
            body: Array(#"{"code":"EG-1","name":"x","colour":"red"}"#.utf8), peer: peer)
        let problem = #expect(throws: Problem.self) { try request.decode(Components.Schemas.NewEntity.self) }
        #expect(problem?.status == 422)
        #expect(problem?.detail == "unknown field 'colour'; allowed: code, name")
    }
}
