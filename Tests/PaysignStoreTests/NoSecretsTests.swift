import Foundation
import PaysignDomain
import Testing

@testable import PaysignStore

/// Rule D5: a PIN never leaves the holder's control, so the journal must have no place for one.
/// The API's shape is the guarantee (typed details, no free-form dictionary); these tests pin it.
@Suite("No PIN or key material in the journal")
struct NoSecretsTests {
    @Test("the samples cover every kind")
    func samplesCoverEveryKind() {
        #expect(Set(Fixture.everyKind.map(\.kind)) == Set(AuditKind.allCases))
    }

    /// Every value reachable from a detail, by property path.
    static func walk(_ value: Any, path: String, into out: inout [(path: String, value: Any, style: Mirror.DisplayStyle?)]) {
        let mirror = Mirror(reflecting: value)
        out.append((path, value, mirror.displayStyle))
        for (index, child) in mirror.children.enumerated() {
            walk(child.value, path: path + "." + (child.label ?? "[\(index)]"), into: &out)
        }
    }

    @Test("no detail holds a dictionary or an untyped value", arguments: Fixture.everyKind)
    func noFreeFormContainers(_ event: AuditEvent) {
        var values: [(path: String, value: Any, style: Mirror.DisplayStyle?)] = []
        Self.walk(event.detail, path: event.kind.rawValue, into: &values)
        for (path, value, style) in values {
            #expect(style != .dictionary, "\(path) is a dictionary")
            #expect(!(value is [String: Any]), "\(path) is a dictionary")
            #expect(!(value is Data), "\(path) holds raw bytes")
            #expect(!(value is [UInt8]), "\(path) holds raw bytes")
        }
    }

    /// All JSON object keys in a detail, recursively.
    static func keys(_ json: Any) -> [String] {
        if let object = json as? [String: Any] {
            return object.keys.sorted() + object.values.flatMap(keys)
        }
        if let array = json as? [Any] { return array.flatMap(keys) }
        return []
    }

    @Test("no field of any detail is named for a PIN, password, secret or key", arguments: Fixture.everyKind)
    func noSecretFieldNames(_ event: AuditEvent) throws {
        let json = try Journal.canonicalJSON(event.detail, Journal.makeEncoder())
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8))
        for key in Self.keys(object) {
            let lower = key.lowercased()
            let suspicious = ["pin", "password", "passphrase", "secret", "privatekey", "key"].contains { lower.contains($0) }
            #expect(!suspicious || key == "pinState", "\(event.kind.rawValue).\(key)")
        }
    }

    @Test("every kind round-trips through AuditEvent's JSON form", arguments: Fixture.everyKind)
    func codableRoundTrip(_ event: AuditEvent) throws {
        let data = try Journal.makeEncoder().encode(event)
        #expect(try JSONDecoder().decode(AuditEvent.self, from: data) == event)
        #expect(String(decoding: data, as: UTF8.self).hasSuffix(#","kind":"\#(event.kind.rawValue)"}"#))
    }

    @Test("a login failure records the PIN's state from a closed set, and a count")
    func loginFailureShape() throws {
        let event = AuditEvent.loginFailed(.init(tokenSerial: "A1", pinState: .locked, remainingTries: 0))
        let json = try Journal.canonicalJSON(event.detail, Journal.makeEncoder())
        #expect(json == #"{"pinState":"locked","remainingTries":0,"tokenSerial":"A1"}"#)
        #expect(PINState.allCases.map(\.rawValue) == ["incorrect", "count-low", "final-try", "locked"])
    }

    @Test("a PIN smuggled into stored detail JSON has nowhere to go: decoding drops it")
    func smuggledPINIsDropped() throws {
        let smuggled = #"{"pin":"123456","pinState":"incorrect","tokenSerial":"A1","userPIN":"654321"}"#
        let detail = try JSONDecoder().decode(AuditEvent.detailType(of: .loginFailed), from: Data(smuggled.utf8))
        let json = try Journal.canonicalJSON(detail, Journal.makeEncoder())
        #expect(json == #"{"pinState":"incorrect","tokenSerial":"A1"}"#)
        #expect(!json.contains("123456") && !json.contains("654321"))
    }

    @Test("the journal refuses registry-owned kinds from outside", arguments: Fixture.everyKind.filter(\.kind.isRegistryChange))
    func registryKindsAreNotAppendable(_ event: AuditEvent) async throws {
        try await withRegistry { registry, _ async throws in
            let error = await expectStoreError { try await registry.append(event, by: .daemon) }
            #expect(error?.code == .notAppendable)
            #expect(try await registry.journalHead().seq == 0)
        }
    }

    @Test("every kind the outside may append round-trips through the journal")
    func appendableKindsRoundTrip() async throws {
        try await withRegistry { registry, _ in
            let events = Fixture.everyKind.filter { !$0.kind.isRegistryChange }
            for event in events {
                try await registry.append(event, by: .daemon)
            }
            #expect(try await registry.auditEntries().map(\.event) == events)
        }
    }

    @Test("free text in a detail is bounded: control characters and blank reasons are refused")
    func freeTextIsBounded() async throws {
        try await withRegistry { registry, _ async throws in
            let control = await expectStoreError {
                try await registry.append(.refusal(.init(rule: .d2, reason: "line one\nline two")), by: .daemon)
            }
            #expect(control?.code == .notAppendable)
            #expect(control?.field == "reason")
            let blank = await expectStoreError {
                try await registry.append(.refusal(.init(rule: .d2, reason: " ")), by: .daemon)
            }
            #expect(blank?.field == "reason")
            let long = await expectStoreError {
                try await registry.append(.refusal(.init(rule: .d2, reason: String(repeating: "x", count: 501))), by: .daemon)
            }
            #expect(long?.field == "reason")
            #expect(try await registry.journalHead().seq == 0)
        }
    }
}
