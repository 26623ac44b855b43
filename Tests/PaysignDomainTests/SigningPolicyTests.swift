import Foundation
import PaysignDomain
import Testing

/// Who may sign (D2, D3, D5, D6, D9, D13), decided before any PIN reaches a token.
@Suite("SigningPolicy")
struct SigningPolicyTests {
    static let day: TimeInterval = 86_400
    static let now = Date(timeIntervalSince1970: 1_790_000_000)
    static let number = FileNumber(digest: SHA256Hex(String(repeating: "ab", count: 32))!)
    static let other = FileNumber(digest: SHA256Hex(String(repeating: "cd", count: 32))!)
    static let certA = SHA256Hex(String(repeating: "11", count: 32))!
    static let certB = SHA256Hex(String(repeating: "22", count: 32))!

    static func op(_ id: Operator.ID, _ user: String, _ roles: Set<Role>, entity: String? = "EG-0101", nid: String = "28001010100011") -> Operator {
        Operator(id: id, unixUser: user, nationalID: nid, name: user, entityCode: entity, roles: roles, onSite: true, addedAt: now)
    }

    static func order(_ state: OrderState, first: OrderSignature? = nil) -> Order {
        Order(
            id: 7, metadata: OrderMetadata(entityCode: "EG-0101", kind: .salary, valueDate: CalendarDay(year: 2026, month: 11, day: 24)!),
            fileNumber: number, fileBytes: 10, lineCount: 1, totalPiasters: 100, documentSHA256: certB, state: state,
            createdBy: OrderActor(operatorID: 1, unixUser: "clerk"), createdAt: now, signatures: first.map { [$0] } ?? [])
    }

    static func token(holder: Operator.ID, cert: SHA256Hex = certA, pinChanged: Date? = nil) -> TokenRecord {
        TokenRecord(
            id: 1, serial: "S\(holder)", label: "t", holder: holder,
            certificates: [RegisteredCertificate(tokenID: 1, derEncoded: [0x30], serialHex: "01", subject: "CN=x", notBefore: now - 10 * day, notAfter: now + 10 * day, sha256: cert)],
            registeredAt: now - 5 * day, pinChangedAt: pinChanged)
    }

    /// A certificate as paysign's authority issues it: the step's role in OU, the entity's code in
    /// organizationIdentifier.
    static func certificate(
        _ sha256: SHA256Hex = certA, unit: String = "first-signature", entity: String? = "EG-0101",
        organization: String? = "Test Entity EG-0101", notAfter: Date = now + 10 * day
    ) -> CertificateFacts {
        CertificateFacts(
            subject: "CN=x", issuer: "CN=ca", serialNumber: "01", sha256: sha256.hex, nationalID: "28001010100011",
            commonName: "x", organization: organization, organizationalUnit: unit, organizationIdentifier: entity,
            notBefore: now - 10 * day, notAfter: notAfter, hasKeyUsage: true, digitalSignature: true,
            nonRepudiation: true, isCA: false, keyAlgorithm: "rsa", keyBits: 2048)
    }

    static func request(
        _ step: SignatureStep, order: Order, caller: Operator?, token: TokenRecord?, cert: SHA256Hex = certA,
        fileNumber: FileNumber? = nil, notAfter: Date = now + 10 * day, firstNID: String? = nil, unit: String? = nil,
        certificateEntity: String? = "EG-0101"
    ) -> SigningPolicy.Request {
        let unit = unit ?? (step == .first ? "first-signature" : "second-signature")
        return SigningPolicy.Request(
            step: step, order: order, caller: caller, callerName: caller?.unixUser ?? "uid 1000", token: token,
            tokenSerial: token?.serial ?? "S?",
            certificate: certificate(cert, unit: unit, entity: certificateEntity, notAfter: notAfter),
            fileNumber: fileNumber, firstSignerNationalID: firstNID, now: now)
    }

    func refusal(_ request: SigningPolicy.Request) -> SigningPolicy.Refusal? {
        refusal(SigningPolicy(), request)
    }

    func refusal(_ policy: SigningPolicy, _ request: SigningPolicy.Request) -> SigningPolicy.Refusal? {
        do {
            _ = try policy.check(request)
            return nil
        } catch {
            return error
        }
    }

    @Test("the first signer of the entity signs a reviewed order with their own token")
    func firstSignerSigns() throws {
        let officer = Self.op(2, "officer1", [.firstSigner])
        #expect(refusal(Self.request(.first, order: Self.order(.reviewed), caller: officer, token: Self.token(holder: 2))) == nil)
    }

    @Test("D13: someone not in the registry, or a clerk, cannot sign")
    func strangersAndClerks() {
        #expect(refusal(Self.request(.first, order: Self.order(.reviewed), caller: nil, token: Self.token(holder: 2)))?.rule == .d13)
        let clerk = Self.op(3, "clerk", [.dataEntry])
        let refused = refusal(Self.request(.first, order: Self.order(.reviewed), caller: clerk, token: Self.token(holder: 2)))
        #expect(refused?.kind == .notAuthorized)
        #expect(refused?.rule == .d13)
    }

    @Test("D3: a first signer of another entity cannot sign")
    func otherEntity() {
        let officer = Self.op(2, "officer1", [.firstSigner], entity: "EG-0202")
        let refused = refusal(Self.request(.first, order: Self.order(.reviewed), caller: officer, token: Self.token(holder: 2)))
        #expect(refused?.rule == .d3)
        #expect(refused?.message.contains("EG-0202") == true)
    }

    @Test("D9 and D2: the order's state decides which step may sign", arguments: [
        (OrderState.draft, SignatureStep.first, RuleNumber?.some(.d9)),
        (.reviewed, .second, .d2),
        (.firstSigned, .first, .d2),
        (.payable, .second, .d2),
        (.rejected, .first, nil),
    ])
    func wrongState(state: OrderState, step: SignatureStep, rule: RuleNumber?) {
        let officer = Self.op(2, "x", [.firstSigner, .secondSigner])
        let refused = refusal(Self.request(step, order: Self.order(state), caller: officer, token: Self.token(holder: 2), fileNumber: Self.number))
        #expect(refused?.kind == .wrongState)
        #expect(refused?.rule == rule)
    }

    @Test("D9: the second signer states the file number, and it must be the order's")
    func fileNumber() {
        let first = OrderSignature(step: .first, signer: OrderActor(operatorID: 2, unixUser: "officer1"), tokenSerial: "S2", certificateSHA256: Self.certB, signatureSHA256: Self.certB, signedAt: Self.now)
        let ministry = Self.op(5, "ministry", [.secondSigner], nid: "27503030100033")
        let order = Self.order(.firstSigned, first: first)
        #expect(refusal(Self.request(.second, order: order, caller: ministry, token: Self.token(holder: 5)))?.rule == .d9)
        #expect(refusal(Self.request(.second, order: order, caller: ministry, token: Self.token(holder: 5), fileNumber: Self.other))?.kind == .ruleViolated)
        #expect(refusal(Self.request(.second, order: order, caller: ministry, token: Self.token(holder: 5), fileNumber: Self.number)) == nil)
    }

    @Test("D2: the second signature is by another person, with another key")
    func differentPerson() {
        let first = OrderSignature(step: .first, signer: OrderActor(operatorID: 2, unixUser: "both"), tokenSerial: "S2", certificateSHA256: Self.certA, signatureSHA256: Self.certB, signedAt: Self.now)
        let order = Self.order(.firstSigned, first: first)
        let both = Self.op(2, "both", [.firstSigner, .secondSigner])
        #expect(refusal(Self.request(.second, order: order, caller: both, token: Self.token(holder: 2), fileNumber: Self.number))?.rule == .d2)
        // Another account of the same person (same national ID).
        let twin = Self.op(9, "both-again", [.secondSigner], nid: "28001010100011")
        #expect(refusal(Self.request(.second, order: order, caller: twin, token: Self.token(holder: 9, cert: Self.certB), cert: Self.certB, fileNumber: Self.number, firstNID: "28001010100011"))?.rule == .d2)
    }

    @Test("D5: only the holder's own registered token and certificate sign")
    func ownToken() {
        let officer2 = Self.op(4, "officer2", [.firstSigner], nid: "28502020100022")
        let order = Self.order(.reviewed)
        let refused = refusal(Self.request(.first, order: order, caller: officer2, token: Self.token(holder: 2)))
        #expect(refused?.rule == .d5)
        #expect(refused?.message.contains("knowing its PIN does not make it theirs") == true)
        #expect(refusal(Self.request(.first, order: order, caller: officer2, token: nil))?.rule == .d5)
        #expect(refusal(Self.request(.first, order: order, caller: officer2, token: Self.token(holder: 4), cert: Self.certB))?.rule == .d5)
    }

    @Test("D6: an expired certificate cannot sign")
    func expired() {
        let officer = Self.op(2, "officer1", [.firstSigner])
        let refused = refusal(Self.request(.first, order: Self.order(.reviewed), caller: officer, token: Self.token(holder: 2), notAfter: Self.now - Self.day))
        #expect(refused?.rule == .d6)
    }

    @Test("D5: a PIN older than the maximum refuses, one near it warns")
    func pinAge() throws {
        let officer = Self.op(2, "officer1", [.firstSigner])
        let policy = SigningPolicy(maximumPINAgeDays: 30, pinAgeWarningDays: 7)
        let old = Self.token(holder: 2, pinChanged: Self.now - 31 * Self.day)
        #expect(refusal(policy, Self.request(.first, order: Self.order(.reviewed), caller: officer, token: old))?.rule == .d5)
        let ageing = Self.token(holder: 2, pinChanged: Self.now - 25 * Self.day)
        let approval = try policy.check(Self.request(.first, order: Self.order(.reviewed), caller: officer, token: ageing))
        #expect(approval.warnings.count == 1)
        let fresh = Self.token(holder: 2, pinChanged: Self.now - Self.day)
        #expect(try policy.check(Self.request(.first, order: Self.order(.reviewed), caller: officer, token: fresh)).warnings.isEmpty)
    }
}

@Suite("OrderDocument")
struct OrderDocumentTests {
    @Test("the canonical bytes read back to the same document, and nothing else does")
    func roundTrip() throws {
        let document = OrderDocument(
            orderID: 17, metadata: OrderMetadata(entityCode: "EG-0101", kind: .salary, valueDate: CalendarDay(year: 2026, month: 11, day: 24)!),
            fileNumber: FileNumber(digest: SHA256Hex(String(repeating: "9f", count: 32))!), fileBytes: 84_211, lineCount: 1000,
            totalPiasters: 912_345_600)
        let bytes = document.bytes
        #expect(try OrderDocument(parsing: bytes) == document)
        #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("paysign-payment-order: 1\norder: 17\nentity: EG-0101\n"))
        var trailingSpace = bytes
        trailingSpace.insert(0x20, at: trailingSpace.count - 1)
        #expect(throws: OrderDocument.ParseError.self) { try OrderDocument(parsing: trailingSpace) }
        var upper = String(decoding: bytes, as: UTF8.self)
        upper = upper.replacingOccurrences(of: "9f9f", with: "9F9F")
        #expect(throws: OrderDocument.ParseError.self) { try OrderDocument(parsing: Array(upper.utf8)) }
        #expect(throws: OrderDocument.ParseError.self) { try OrderDocument(parsing: Array(bytes.dropLast())) }
    }

    @Test("states move only along the drawn transitions")
    func transitions() {
        #expect(OrderState.draft.allows(.reviewed))
        #expect(!OrderState.draft.allows(.firstSigned))
        #expect(!OrderState.reviewed.allows(.payable))
        #expect(!OrderState.payable.allows(.rejected))
        #expect(!OrderState.rejected.allows(.draft))
        #expect(OrderState.firstSigned.allows(.rejected))
    }
}

extension SigningPolicyTests {
    @Test("D2: a first signer also registered as a second signer cannot sign second with their first-signature certificate")
    func crossedCertificateRole() {
        let both = Self.op(3, "officer3", [.firstSigner, .secondSigner])
        let first = OrderSignature(
            step: .first, signer: OrderActor(operatorID: 2, unixUser: "officer1"), tokenSerial: "S2", certificateSHA256: Self.certB,
            signatureSHA256: Self.certB, signedAt: Self.now)
        let order = Self.order(.firstSigned, first: first)
        let refused = refusal(Self.request(
            .second, order: order, caller: both, token: Self.token(holder: 3), fileNumber: Self.number, unit: "first-signature"))
        #expect(refused?.rule == .d2)
        #expect(refused?.kind == .ruleViolated)
        #expect(refused?.message.contains("the certificate's role is first-signature, not second-signature") == true, "\(refused?.message ?? "")")
        // With a second-signature certificate on their token, the same person signs second.
        #expect(refusal(Self.request(.second, order: order, caller: both, token: Self.token(holder: 3), fileNumber: Self.number)) == nil)
    }

    @Test("D3: an entity-less first signer is scoped to nothing and cannot sign")
    func entityLessSigner() {
        let officer = Self.op(2, "officer1", [.firstSigner], entity: nil)
        let refused = refusal(Self.request(.first, order: Self.order(.reviewed), caller: officer, token: Self.token(holder: 2)))
        #expect(refused?.rule == .d3)
        #expect(refused?.message.contains("belongs to no entity") == true)
    }
}

extension SigningPolicyTests {
    @Test("D2: a certificate that names no national ID does not sign: the payment center could not tell the signers apart")
    func certificateWithoutNationalID() {
        let officer = Self.op(2, "officer1", [.firstSigner])
        var request = Self.request(.first, order: Self.order(.reviewed), caller: officer, token: Self.token(holder: 2))
        request.certificate.nationalID = nil
        let refused = refusal(request)
        #expect(refused?.rule == .d2)
        #expect(refused?.message.contains("names no national ID") == true)
        #expect(!DistinctSignersRule.namesPerson(request.certificate))
    }
}

extension SigningPolicyTests {
    @Test("D6, D5: what depends on the time alone is judged again at commit: a certificate expired or a PIN too old since the approval")
    func timeAtCommit() {
        let policy = SigningPolicy(maximumPINAgeDays: 90)
        let certificate = Self.certificate(notAfter: Self.now + 60)
        #expect(throws: Never.self) { try policy.checkTime(certificate: certificate, pinSince: Self.now - 10 * Self.day, tokenSerial: "S2", now: Self.now) }
        #expect { try policy.checkTime(certificate: certificate, pinSince: nil, tokenSerial: "S2", now: Self.now + 61) } throws: { error in
            (error as? RuleRefusal)?.rule == .d6
        }
        #expect { try policy.checkTime(certificate: certificate, pinSince: Self.now - 91 * Self.day, tokenSerial: "S2", now: Self.now) } throws: { error in
            (error as? RuleRefusal)?.rule == .d5
        }
    }
}
