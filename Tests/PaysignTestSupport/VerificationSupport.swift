import Foundation

extension TestPKI {
    /// A PKI for the payment-order verification suite alone: its orders are signed by
    /// `paysign-make-orders` in processes of their own (SoftHSM reads SOFTHSM2_CONF once per
    /// process), so this suite never logs in to a token another suite is using.
    static let forVerificationTests: Result<TestPKI, any Error> = Result {
        if ProcessInfo.processInfo.environment["PAYSIGN_BIN_DIR"] == nil, let built = BuiltProducts.directory {
            setenv("PAYSIGN_BIN_DIR", built, 1)  // make-test-pki.sh issues certificates with the built paysign
        }
        return try makeSeparately()
    }

    public static func forVerification() throws -> TestPKI { try forVerificationTests.get() }
}

/// Where the built executables are: `PAYSIGN_BIN_DIR` (scripts/test.sh), else beside the test
/// bundle (`swift test --scratch-path …` puts both in the same folder), else `.build/debug`.
public enum BuiltProducts {
    public static let directory: String? = {
        var candidates: [String] = []
        if let dir = ProcessInfo.processInfo.environment["PAYSIGN_BIN_DIR"] { candidates.append(dir) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var url = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // …/debug/paysignPackageTests.xctest may be a folder on some toolchains.
            for _ in 0..<4 {
                candidates.append(url.path)
                url = url.deletingLastPathComponent()
            }
        }
        candidates.append(TestPKI.repositoryRoot.appendingPathComponent(".build/debug").path)
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0 + "/paysign") }
    }()

    /// The path of a built executable (`paysign`, `paysign-make-orders`).
    public static func path(_ name: String) -> String { (directory ?? ".build/debug") + "/" + name }
}
