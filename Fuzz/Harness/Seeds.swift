public import Foundation
import PaysignDomain

/// Valid inputs for every fuzz target, made at run time in a temporary folder: certificates, a
/// certification request, a CRL and CMS signatures by the OpenSSL command line, a payroll by
/// `scripts/make-payroll.py`, order documents, PKCS#11 URIs, configurations and request bodies
/// written here. Nothing comes from outside the repository.
public struct FuzzSeeds: Sendable {
    public var inputs: [FuzzTarget: [[UInt8]]]
    /// The test CA's certificate (DER): the trust anchor of the `order-evidence` target.
    public var anchor: [UInt8]
    /// The CRL that CA issued (DER).
    public var revocationList: [UInt8]
    /// The document the CMS seeds sign.
    public var document: [UInt8]

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The repository, found from this file's path (Fuzz/Harness/Seeds.swift).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static func generate() throws -> FuzzSeeds {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("paysign-fuzz-seeds-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try run("/bin/sh", ["-c", opensslScript], in: directory)
        func read(_ name: String) throws -> [UInt8] {
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else {
                throw Failure(description: "the seed script made no \(name)")
            }
            return Array(data)
        }
        var inputs: [FuzzTarget: [[UInt8]]] = [:]
        let document = Array(orderDocument(id: 1).bytes)
        inputs[.certificate] = [try read("ca.der"), try read("leaf.der"), try read("leaf2.der"), try read("leaf.pem")]
        inputs[.certificateRequest] = [try read("leaf.csr.der"), try read("leaf2.csr.der"), try read("leaf.csr")]
        inputs[.crl] = [try read("crl.der"), try read("crl.pem"), try read("empty-crl.der")]
        inputs[.cms] = [try read("sig1.p7s"), try read("sig2.p7s"), try read("sig-nocerts.p7s")]
        inputs[.orderEvidence] = inputs[.cms]
        inputs[.orderFile] = try payrolls()
        inputs[.orderDocument] = [document, orderDocument(id: 912_345).bytes]
        inputs[.pkcs11URI] = pkcs11URIs.map { Array($0.utf8) }
        inputs[.configuration] = configurations.map { Array($0.utf8) }
        inputs[.secretFields] = secretBodies.map { Array($0.utf8) }
        inputs[.requestBody] = requestBodies.map { Array($0.utf8) }
        return FuzzSeeds(inputs: inputs, anchor: try read("ca.der"), revocationList: try read("crl.der"), document: document)
    }

    static func orderDocument(id: Int64) -> OrderDocument {
        let number = FileNumber(digest: [UInt8](repeating: 0xA5, count: 32))!
        let metadata = OrderMetadata(entityCode: "MOF-EG-001", kind: .salary, valueDate: CalendarDay(year: 2026, month: 11, day: 24)!)
        return OrderDocument(orderID: id, metadata: metadata, fileNumber: number, fileBytes: 84_211, lineCount: 1000, totalPiasters: 912_345_600)
    }

    /// Two payrolls from the repository's generator, and one written here with every column form
    /// (passport, IBAN, quotes, CRLF, a BOM).
    static func payrolls() throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        let script = repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        for (lines, seed) in [(8, 7), (40, 11)] {
            if let bytes = try? run("/usr/bin/env", ["python3", script, String(lines), String(seed)], in: nil), !bytes.isEmpty {
                out.append(bytes)
            }
        }
        out.append(Array(handWrittenPayroll.utf8))
        out.append([0xEF, 0xBB, 0xBF] + Array(handWrittenPayroll.replacingOccurrences(of: "\n", with: "\r\n").utf8))
        return out
    }

    static let handWrittenPayroll = """
        beneficiary_id,id_type,name,account,amount_piasters
        29001011234567,national-id,"Hassan, Mona",1234567890123456,1500000
        A1234567,passport,John Smith,EG380019000500000000263180002,250000
        28512310101234,national-id,"Said ""the elder"" Ali",12345678,99
        30002280212345,national-id,منى السيد,EG380019000500000000263180002,2050000

        """

    static let pkcs11URIs = [
        "pkcs11:token=officer1",
        "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=1a2b3c4d5e6f;token=officer1;id=%01;object=sign;type=private",
        "pkcs11:token=My%20token;object=my%3Bkey;type=cert?module-name=softhsm2&pin-source=file:/etc/pin",
        "pkcs11:library-manufacturer=OpenSC;library-description=OpenSC%20smartcard;library-version=0.23;slot-id=7",
        "pkcs11:slot-description=Virtual%20PCD%2000%2000;slot-manufacturer=Virtual;x-vendor=v?x-q=1&module-path=/usr/lib/softhsm/libsofthsm2.so",
        "pkcs11:token=audit?pin-value=123456",
        "pkcs11:",
        "PKCS11:id=%DE%AD%BE%EF;object=%E2%82%AC",
    ]

    static let configurations = [
        """
        socket: /run/paysign/paysign.sock
        socket-group: paysign
        socket-mode: "0660"
        state-directory: /var/lib/paysign
        pkcs11-module: null
        administrators: [root, admin]
        reader-bindings:
          - reader: "Virtual PCD 00 00"
            token: "pkcs11:token=officer1"
        max-body-bytes: 1048576
        idle-timeout-seconds: 30
        request-timeout-seconds: 15
        log-level: info
        journal-signing-token: "pkcs11:token=audit"
        journal-signing-certificates: ["3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a3f2a"]
        head-signing-interval-minutes: 60
        max-order-bytes: 33554432
        time-zone: Africa/Cairo
        holidays: [2026-10-06, 2027-01-07]
        maximum-pin-age-days: 180
        pin-age-warning-days: 14
        pin-cache-seconds: 0
        authority-token: "pkcs11:token=authority"
        trust-anchors: /etc/paysign/trust-anchors
        crl-watch: /var/lib/paysign/incoming-crl
        crl-next-update-days: 7
        dormant-days: 90
        retirement-warning-days: 180

        """,
        "socket: /tmp/p.sock\nholidays:\n  - 2026-10-06\n  - &h 2027-01-07\n  - *h\nadministrators: [root]\n",
        "{socket: /tmp/x.sock, socket-mode: '0600', log-level: debug, idle-timeout-seconds: .5}\n",
        "# only a comment\n",
    ]

    static let secretBodies = [
        #"{"token":"pkcs11:token=officer1","step":"first","pin":"123456"}"#,
        #"{"pin":"0000","confirmFinalTry":true}"#,
        #"{ "oldPin" : "1234" , "newPin":"98765432", "token":"pkcs11:token=a" }"#,
        #"{"a":{"pin":"nested"},"b":["x","}",{"c":"\""}],"pin":null}"#,
        #"{"note":"a \\ \"quoted\" note","pin":"p@ss w0rd!"}"#,
        "{}",
    ]

    static let requestBodies = [
        #"{"token":"pkcs11:token=x","step":"first","confirmFinalTry":false,"validityDays":730,"roles":["reviewer","signer"],"note":"n"}"#,
        #"{"token":"t","step":"second"}"#,
        #"{"token":"t","step":"s","roles":[],"note":null,"validityDays":-1}"#,
        #"{"token":"\u0074","step":"\ud83d\ude00"}"#,
    ]

    /// Makes a CA (P-256), an RSA and an EC holder certificate, their requests, a CRL with one
    /// entry (reason and invalidity date), an empty CRL, and detached CAdES signatures with one and
    /// two signers (and one without certificates).
    static let opensslScript = #"""
        set -e
        exec >/dev/null 2>&1
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
          -subj "/C=EG/O=Fuzz/CN=Fuzz CA" -days 3650 -addext "keyUsage=critical,keyCertSign,cRLSign"
        openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr \
          -subj "/C=EG/O=Ministry of Finance/OU=MOF-EG-001/serialNumber=29001011234567/CN=Officer One"
        printf 'keyUsage=critical,nonRepudiation,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > leaf.ext
        openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -set_serial 0x1234 -days 3650 -out leaf.pem -extfile leaf.ext
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf2.key -out leaf2.csr -subj "/C=EG/CN=Second"
        openssl x509 -req -in leaf2.csr -CA ca.pem -CAkey ca.key -set_serial 0x99 -days 3650 -out leaf2.pem -extfile leaf.ext
        for c in ca leaf leaf2; do openssl x509 -in $c.pem -outform DER -out $c.der; done
        for r in leaf leaf2; do openssl req -in $r.csr -outform DER -out $r.csr.der; done
        printf '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_crl_days=7\ncrl_extensions=e\n[e]\nauthorityKeyIdentifier=keyid:always\n' > ca.cnf
        : > index.txt
        echo 01 > crlnumber
        openssl ca -config ca.cnf -keyfile ca.key -cert ca.pem -gencrl -out empty-crl.pem
        openssl crl -in empty-crl.pem -outform DER -out empty-crl.der
        openssl ca -config ca.cnf -keyfile ca.key -cert ca.pem -revoke leaf.pem -crl_compromise 20260101000000Z
        openssl ca -config ca.cnf -keyfile ca.key -cert ca.pem -gencrl -out crl.pem
        openssl crl -in crl.pem -outform DER -out crl.der
        printf 'paysign-payment-order: 1\norder: 1\n' > doc.txt
        openssl cms -sign -binary -in doc.txt -signer leaf.pem -inkey leaf.key -outform DER -out sig1.p7s -cades
        openssl cms -resign -binary -inform DER -in sig1.p7s -signer leaf2.pem -inkey leaf2.key -outform DER -out sig2.p7s -cades
        openssl cms -sign -binary -in doc.txt -signer leaf2.pem -inkey leaf2.key -outform DER -out sig-nocerts.p7s -nocerts
        """#

    /// Runs a program; its standard output, or throws with its exit status.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], in directory: URL?) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-fuzz-out-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(executable) \(arguments.prefix(2).joined(separator: " ")) exited \(process.terminationStatus)")
        }
        return Array(FileManager.default.contents(atPath: output.path) ?? Data())
    }
}
