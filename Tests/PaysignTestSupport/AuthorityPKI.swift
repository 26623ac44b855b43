public import Foundation

extension TestPKI {
    /// A PKI for the certification-authority flow suite alone (`AuthorityFlowTests`): it logs in
    /// to the `authority` token with a wrong PIN and signs revocation lists on it (also with
    /// `pkcs11-tool`, outside any daemon), which no other suite must meet mid-signature.
    static let forAuthorityFlowTests: Result<TestPKI, any Error> = Result { try makeSeparately() }

    public static func forAuthorityFlow() throws -> TestPKI { try forAuthorityFlowTests.get() }

    /// A PKI of the caller's own, made now (a suite that kills the daemon mid-signature, and may
    /// leave a token mid-login, shares its tokens with nobody).
    public static func separate() throws -> TestPKI { try makeSeparately() }

    /// `Certs/make-test-pki.sh` in a new temporary folder, read back from its `tokens.tsv`.
    static func makeSeparately() throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("paysign-authority-pki-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let result = try Shell.run(repositoryRoot.appendingPathComponent("Certs/make-test-pki.sh").path, [directory.path])
        guard result.status == 0 else {
            throw Shell.Failure(message: "make-test-pki.sh failed: \(result.stderr)")
        }
        let table = try String(contentsOf: directory.appendingPathComponent("tokens.tsv"), encoding: .utf8)
        var tokens: [String: Token] = [:]
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 7 else { continue }
            tokens[f[0]] = Token(label: f[0], keyType: f[1], pin: f[2], soPIN: f[3], role: f[4], certificateSerial: f[5], uri: f[6])
        }
        return TestPKI(directory: directory, tokens: tokens)
    }

    /// The SoftHSM configuration file of this PKI's tokens.
    public var softHSMConfiguration: URL { directory.appendingPathComponent("softhsm2.conf") }

    /// The environment that points `pkcs11-tool` and `softhsm2-util` at this PKI's tokens.
    public var softHSMEnvironment: [String: String] {
        ProcessInfo.processInfo.environment.merging(["SOFTHSM2_CONF": softHSMConfiguration.path]) { $1 }
    }
}
