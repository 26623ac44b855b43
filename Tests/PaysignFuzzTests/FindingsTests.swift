import PaysignSecrets
import Foundation
import PaysignDomain
import PaysignFuzzHarness
import PaysignPKCS11
import PaysignOpenSSL
import Testing
@testable import PaysignDaemon

/// What the fuzz runs found, one test each: fixed ones keep their fix, open ones are known issues
/// (they fail the day the bug is fixed, so the marker gets removed).
@Suite("Fuzz findings")
struct FindingsTests {
    // MARK: SecretFields (fixed): the decoder must never see a PIN that takePIN missed (D5).

    /// What the JSON decoder would read under `field` after `takePIN`, if it reads the body at all.
    static func decoderSees(_ field: String, in body: String) -> (pinTaken: Bool, refused: Bool, decoderValue: String?) {
        var bytes = Array(body.utf8)
        let pin: PIN?
        do { pin = try PINFields.takePIN(field, from: &bytes) } catch { return (false, true, nil) }
        let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        return (pin != nil, false, object?[field] as? String)
    }

    @Test("a PIN given twice is refused, not half taken (the decoder keeps the last one)")
    func duplicatePIN() {
        let seen = Self.decoderSees("pin", in: #"{"pin":"1111","token":"t","pin":"2222"}"#)
        #expect(seen.refused, "the second PIN reached the decoder as \(seen.decoderValue ?? "nothing")")
    }

    @Test("a PIN field name written with escapes is refused, not passed to the decoder")
    func escapedFieldName() {
        let seen = Self.decoderSees("pin", in: #"{"token":"t","p\u0069n":"123456"}"#)
        #expect(seen.refused, "the decoder saw pin=\(seen.decoderValue ?? "nothing") while takePIN found none")
    }

    @Test("a PIN field name behind an invisible character (U+FEFF before pin) is refused: field names are ASCII")
    func invisibleCharacterInFieldName() {
        // Found by the short fuzz run of a clean clone: JSONSerialization reads "\u{FEFF}pin" as "pin".
        let seen = Self.decoderSees("pin", in: "{\"token\":\"t\",\"\u{FEFF}pin\":\"123456\"}")
        #expect(seen.refused, "the decoder saw pin=\(seen.decoderValue ?? "nothing") while takePIN found none")
    }

    @Test("a body with a byte-order mark or in UTF-16 is refused, not passed to the decoder with its PIN")
    func otherEncodings() throws {
        var bom: [UInt8] = [0xEF, 0xBB, 0xBF] + Array(#"{"pin":"123456"}"#.utf8)
        #expect(throws: PINFieldError.self) { _ = try PINFields.takePIN("pin", from: &bom) }
        var utf16 = Array(#"{"pin":"123456"}"#.utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        #expect(throws: PINFieldError.self) { _ = try PINFields.takePIN("pin", from: &utf16) }
    }

    @Test("plain bodies still give their PIN, and the decoder sees stars")
    func plainBodies() throws {
        for body in [#"{"pin":"123456","token":"t"}"#, #" { "token" : "a,b}" , "nested":{"pin":"x"}, "pin" : "123456" } "#] {
            let seen = Self.decoderSees("pin", in: body)
            #expect(seen.pinTaken && !seen.refused && seen.decoderValue == "******", "\(body)")
        }
        #expect(!Self.decoderSees("pin", in: #"{"pin":null}"#).pinTaken)
        #expect(!Self.decoderSees("pin", in: "{}").refused)
        #expect(!Self.decoderSees("pin", in: #"{"token":"t"}"#).refused)
    }

    // MARK: OrderFile (fixed): a lone CR ended the record *and* counted as a line, so every
    // later violation named a line one further down per CR.

    @Test("line numbers count LFs only: a lone CR does not push later lines down")
    func loneCarriageReturn() {
        let header = OrderFile.columns.joined(separator: ",")
        let good = "29001011234567,national-id,Mona,1234567890123456,100"
        let file = OrderFile(parsing: "\(header)\n\(good)\r\r\n28512310101234,national-id,Ali,12345678,99\nbad\n")
        // Line 2: the lone CR, then the empty record between it and the LF; line 4: "bad".
        #expect(file.syntaxViolations.map(\.line) == [2, 2, 4], "\(file.syntaxViolations)")
        #expect(file.lines.map(\.lineNumber) == [3])
    }

    // MARK: Certificate: trailing bytes were accepted (kept in derEncoded and the fingerprint).

    @Test("a certificate followed by other bytes is refused, like a CRL, a request or a CMS file")
    func certificateTrailingBytes() throws {
        let seeds = try FuzzTestsSupport.seeds()
        let der = try #require(seeds.inputs[.certificate]?.first)
        let withGarbage = der + [0x00, 0x01, 0x02]
        #expect(throws: OpenSSLError.self) { _ = try Certificate(derEncoded: withGarbage) }
        #expect(try Certificate(derEncoded: der).derEncoded == der)
        let crl = try #require(seeds.inputs[.crl]?.first)
        #expect(throws: OpenSSLError.self) { _ = try RevocationList(derEncoded: crl + [0x00]) }
    }
}
