import Foundation
import PaysignDomain
import PaysignTestSupport
import Synchronization
import Testing

@testable import PaysignStore

/// A fresh temporary directory per test, removed afterwards.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("paysign-store-test-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    return try await body(directory)
}

/// A registry in a fresh temporary directory (created by `open`), closed and removed afterwards.
func withRegistry<T>(
    clock: @escaping @Sendable () -> Date = { Date() }, _ body: (Registry, URL) async throws -> T
) async throws -> T {
    try await withTemporaryDirectory { directory in
        let state = directory.appendingPathComponent("state")
        let registry = try await Registry.open(at: state, clock: clock)
        defer { try? registry.close() }
        return try await body(registry, state)
    }
}

/// Runs `body`, expecting a `StoreError`, and returns it.
func expectStoreError(
    _ body: () async throws -> some Any, sourceLocation: SourceLocation = #_sourceLocation
) async -> StoreError? {
    do {
        _ = try await body()
        Issue.record("expected a StoreError, got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as StoreError {
        return error
    } catch {
        Issue.record("expected a StoreError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A clock that returns the given instants in turn (then the last one forever).
func sequenceClock(_ instants: [String]) -> @Sendable () -> Date {
    let dates = instants.map { try! Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse($0) }
    let next = Mutex(0)
    return {
        next.withLock { index in
            defer { index += 1 }
            return dates[min(index, dates.count - 1)]
        }
    }
}

/// Self-signed certificates made by `openssl` for the tests, with the holder's national ID in the
/// subject's `serialNumber` as paysign's PKI does it.
enum TestCertificates {
    static func make(commonName: String, nationalID: String?) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-store-cert-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let der = directory.appendingPathComponent("cert.der")
        var subject = "/C=EG/O=Ministry of Finance (TEST)/CN=\(commonName)"
        if let nationalID { subject += "/serialNumber=\(nationalID)" }
        let result = try Shell.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", directory.appendingPathComponent("key.pem").path, "-subj", subject, "-days", "30",
                "-outform", "DER", "-out", der.path,
            ])
        guard result.status == 0 else { throw Shell.Failure(message: "openssl req failed: \(result.stderr)") }
        return Array(try Data(contentsOf: der))
    }

    /// Made once per test process.
    static let alice = Result { try make(commonName: "Alice", nationalID: "29001011234567") }
    static let aliceSecond = Result { try make(commonName: "Alice (2)", nationalID: "29001011234567") }
    static let bob = Result { try make(commonName: "Bob", nationalID: "28512250101234") }
    static let daemon = Result { try make(commonName: "paysignd journal", nationalID: nil) }
}

/// The ids tests use for people and things.
enum Fixture {
    static let entity = "MOF-0101"
    static let aliceID = "29001011234567"
    static let bobID = "28512250101234"
    static let carolID = "27703150105678"
    static let admin = AuditActor.user(uid: 0, name: "root", operatorID: nil)
    static let digest = SHA256Hex(String(repeating: "ab", count: 32))!
    static let otherDigest = SHA256Hex(String(repeating: "cd", count: 32))!

    /// One event of every kind, with every optional field set.
    static var everyKind: [AuditEvent] {
        let op = Operator(
            id: 3, unixUser: "alice", nationalID: aliceID, name: "Alice A.", entityCode: entity,
            roles: [.firstSigner, .reviewer], onSite: true, addedAt: Date(timeIntervalSince1970: 0))
        let token = TokenRecord(
            id: 7, serial: "0123456789abcdef", label: "Alice token", holder: 3,
            certificates: [
                RegisteredCertificate(
                    tokenID: 7, derEncoded: [0x30], serialHex: "01", subject: "CN=Alice",
                    notBefore: Date(timeIntervalSince1970: 0), notAfter: Date(timeIntervalSince1970: 1), sha256: digest)
            ], registeredAt: Date(timeIntervalSince1970: 0), pinChangedAt: Date(timeIntervalSince1970: 2))
        let order = Order(
            id: 17,
            metadata: OrderMetadata(
                entityCode: entity, kind: .salary, currency: "EGP", valueDate: CalendarDay(year: 2026, month: 11, day: 24)!),
            fileNumber: FileNumber(digest: digest), fileBytes: 84211, lineCount: 1000, totalPiasters: 912_345_600,
            documentSHA256: otherDigest, state: .draft, createdBy: OrderActor(operatorID: 4, unixUser: "dina"),
            createdAt: Date(timeIntervalSince1970: 0))
        return [
            .loginSucceeded(.init(tokenSerial: "0123456789abcdef")),
            .loginFailed(.init(tokenSerial: "0123456789abcdef", pinState: .finalTry, remainingTries: 1)),
            .signature(
                .init(
                    tokenSerial: "0123456789abcdef", certificateSHA256: digest, documentSHA256: otherDigest, step: .first,
                    fileNumber: "2025/0042", orderID: 17)),
            .refusal(.init(rule: .d3, reason: "The entity already has two first signers.", documentSHA256: otherDigest)),
            .roleChanged(.init(operatorID: 3, unixUser: "alice", before: [.reviewer], after: [.reviewer, .firstSigner])),
            .operatorAdded(.init(op)),
            .operatorRemoved(.init(operatorID: 3, unixUser: "alice")),
            .entityAdded(.init(code: entity, name: "Ministry of Finance, Cairo")),
            .tokenRegistered(.init(token)),
            .tokenHolderChanged(.init(tokenID: 7, serial: "0123456789abcdef", before: 3, after: nil)),
            .tokenInserted(.init(serial: "0123456789abcdef", label: "Alice token", reader: "Alcor Micro AU9560 00 00")),
            .tokenRemoved(.init(serial: "0123456789abcdef", label: "Alice token", reader: "Alcor Micro AU9560 00 00")),
            .revocation(
                .init(certificateSerial: "1A2B", certificateSHA256: digest, reason: .affiliationChanged,
                    tokenSerial: "0123456789abcdef")),
            .configurationLoaded(.init(path: "/etc/paysign/paysignd.yaml", sha256: digest)),
            .headSigned(.init(seq: 41, hash: otherDigest, certificateSHA256: digest, algorithm: "ecdsa-with-SHA256")),
            .accessDenied(.init(uid: 1001, user: "mallory", action: "POST /v1/sign", reason: "mallory has no role")),
            .orderCreated(.init(order)),
            .orderReviewed(.init(orderID: 17, fileNumber: digest)),
            .orderRejected(.init(orderID: 17, from: .reviewed, reason: "The total does not match the disbursement form.")),
            .pinChanged(.init(tokenSerial: "0123456789abcdef")),
            .onSiteChanged(.init(operatorID: 3, unixUser: "alice", onSite: true)),
            .tokenStateChanged(
                .init(tokenID: 7, serial: "0123456789abcdef", action: .revoke, from: .active, to: .revoked, holder: 3,
                    cause: .loss, reason: .keyCompromise, invalidityDate: "2026-11-20T10:00:00.000Z", note: "reported lost")),
            .crlIssued(
                .init(issuer: "CN=paysign Test Root CA", number: "0A", thisUpdate: "2026-11-22T10:00:00.000Z",
                    nextUpdate: "2026-11-29T10:00:00.000Z", entries: 2, sha256: digest)),
            .crlImported(
                .init(issuer: "CN=paysign Test Root CA", number: "0B", thisUpdate: "2026-11-23T10:00:00.000Z",
                    nextUpdate: nil, entries: 3, sha256: otherDigest)),
            .holderCleared(.init(operatorID: 3, unixUser: "alice", rolesRemoved: [.firstSigner, .reviewer])),
            .deathNotified(
                .init(operatorID: 3, unixUser: "alice",
                    notice: DeathNotice(dateOfDeath: CalendarDay(year: 2026, month: 11, day: 1)!,
                        notifiedOn: CalendarDay(year: 2026, month: 11, day: 12)!, reference: "EG-0101/2026/77"))),
            .retirementDateSet(.init(operatorID: 3, unixUser: "alice", retirementDate: CalendarDay(year: 2031, month: 6, day: 30)!)),
            .certificateIssued(
                .init(operatorID: 3, unixUser: "alice", subject: "CN=Alice A.,serialNumber=28001010100011", serialHex: "1A2B",
                    certificateSHA256: digest, role: .firstSigner)),
            .signatureRegistered(.init(documentSHA256: digest, signatures: [otherDigest, digest])),
            .orderPresented(
                .init(presentationID: 1, orderID: 17, entityCode: entity, documentSHA256: digest, fileNumber: otherDigest,
                    trustedTime: "2026-11-24T10:00:00.000Z")),
            .orderDelivered(
                .init(orderID: 17, entityCode: entity, outcome: "accepted", submissionID: 4, envelopeSHA256: digest.hex,
                    receiptSHA256: otherDigest.hex, detail: "accepted for payment by the center (submission 4)")),
            .centerStateChanged(.init(orderID: 17, submissionID: 4, state: "returned", reason: "account closed", changedAt: "2026-11-25T09:00:00.000Z")),
        ]
    }

    /// Events the outside may append, cycling through their kinds.
    static func appendable(_ count: Int) -> [AuditEvent] {
        let kinds = everyKind.filter { !$0.kind.isRegistryChange }
        return (0..<count).map { index in
            switch kinds[index % kinds.count] {
            case .signature(var detail):
                detail.fileNumber = "2025/\(index)"
                return .signature(detail)
            case let event:
                return event
            }
        }
    }
}

/// People, files and signatures for the order tests.
enum Orders {
    static let otherEntity = "MOF-0202"
    /// An order file as uploaded: CRLF line ends, Arabic names, a trailing byte that is not
    /// UTF-8 on its own. The store keeps it byte for byte.
    static let file: [UInt8] =
        Array("id_type,id,name,account,amount_piasters\r\nnational,29001011234567,أحمد علي,EG1234,150000\r\n".utf8)
        + [0xFF]
    static let otherFile: [UInt8] = Array("id_type,id,name,account,amount_piasters\nnational,1,x,y,2\n".utf8)

    static func metadata(
        _ entity: String = Fixture.entity, kind: OrderKind = .salary, valueDate: String = "2026-11-24"
    ) -> OrderMetadata {
        OrderMetadata(entityCode: entity, kind: kind, valueDate: CalendarDay(iso: valueDate)!)
    }

    /// dina (data-entry), rami (reviewer), alice (first signer, on-site), bob (second signer),
    /// beth (second signer with alice's national ID: alice under another Unix user).
    struct People {
        var dina: Operator
        var rami: Operator
        var alice: Operator
        var bob: Operator
        var beth: Operator

        func actor(_ op: Operator) -> OrderActor { OrderActor(operatorID: op.id, unixUser: op.unixUser) }
        func auditActor(_ op: Operator) -> AuditActor { .operator(op, uid: UInt32(1000 + op.id)) }
    }

    static func populate(_ registry: Registry) async throws -> People {
        try await registry.addEntity(code: Fixture.entity, name: "Ministry of Finance, Cairo", by: Fixture.admin)
        try await registry.addEntity(code: otherEntity, name: "Ministry of Finance, Giza", by: Fixture.admin)
        func add(_ user: String, _ id: String, _ entity: String?, _ roles: Set<Role>, onSite: Bool = false) async throws
            -> Operator
        {
            try await registry.addOperator(
                unixUser: user, nationalID: id, name: user.capitalized, entityCode: entity, roles: roles, onSite: onSite,
                by: Fixture.admin)
        }
        return People(
            dina: try await add("dina", "29912310101010", Fixture.entity, [.dataEntry]),
            rami: try await add("rami", "29505050101010", Fixture.entity, [.reviewer]),
            alice: try await add("alice", Fixture.aliceID, Fixture.entity, [.firstSigner], onSite: true),
            bob: try await add("bob", Fixture.bobID, nil, [.secondSigner]),
            beth: try await add("beth", Fixture.aliceID, nil, [.secondSigner]))
    }

    static func signature(
        _ step: SignatureStep, by signer: OrderActor, token: String, certificate: SHA256Hex,
        at instant: String = "2026-11-20T10:00:00.000Z"
    ) -> OrderSignature {
        OrderSignature(
            step: step, signer: signer, tokenSerial: token, certificateSHA256: certificate,
            signatureSHA256: SHA256Hex(bytes: Array(repeating: step == .first ? 0x11 : 0x22, count: 32))!,
            signedAt: try! Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(instant))
    }

    static let aliceCertificate = SHA256Hex(String(repeating: "a1", count: 32))!
    static let bobCertificate = SHA256Hex(String(repeating: "b0", count: 32))!
    static let bethCertificate = SHA256Hex(String(repeating: "be", count: 32))!

    /// An idempotency record maker for `uid` and `key`, answering with the order's id and state.
    static func idempotency(uid: UInt32 = 1000, key: String, status: Int = 200) -> @Sendable (Order) throws -> IdempotencyRecord {
        { order in
            IdempotencyRecord(
                uid: uid, key: key, requestDigest: Fixture.digest, status: status, contentType: "application/json",
                body: Array(#"{"id":\#(order.id),"state":"\#(order.state.rawValue)"}"#.utf8))
        }
    }
}
