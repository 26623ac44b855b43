import Foundation
import PaysignTestSupport
import Testing

/// `make test` enforces the hardening of `systemd/paysignd.service`: `Tests/testbed/unit-security.sh`
/// runs `systemd-analyze security --offline=true` and fails above an exposure of 1.5.
struct UnitSecurityTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testbed/unit-security.sh").path

    @Test func serviceExposureIsAtMostOnePointFive() async throws {
        let result = try await Shell.exec("/bin/bash", [Self.script])
        #expect(result.status == 0, "unit-security.sh exit \(result.status):\n\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("Overall exposure level for paysignd.service"), "\(result.stdout)")
    }
}
