import Foundation
import PaysignTestSupport
import Testing

extension PCSCTests {
    /// Part of the serialized PC/SC suite: it stops the one pcscd everybody shares.
    @Test("without pcscd the client says so in one sentence and exits 2, after listing the tokens")
    func clientWithoutPcscd() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-nopcscd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("tokens"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let conf = dir.appendingPathComponent("softhsm2.conf")
        try "directories.tokendir = \(dir.path)/tokens\nobjectstore.backend = file\n".write(to: conf, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["SOFTHSM2_CONF"] = conf.path

        try await Testbed.run("stop")
        defer { Testbed.runNow("start") }
        let clock = ContinuousClock()
        let start = clock.now
        let readers = try await Shell.exec(TestPKI.paysignBinary, ["readers"], environment: environment)
        #expect(clock.now - start < .seconds(3), "no hang")
        #expect(readers.status == 2)
        #expect(readers.stderr.split(separator: "\n").count == 1, "\(readers.stderr)")
        #expect(readers.stderr.hasPrefix("paysign: ") && readers.stderr.contains("pcscd is not running"), "\(readers.stderr)")

        let tokens = try await Shell.exec(
            TestPKI.paysignBinary, ["tokens", "--local", "--module", TestPKI.softHSMModule], environment: environment)
        #expect(tokens.status == 2)
        #expect(tokens.stdout.contains("No token found"), "the tokens are still listed: \(tokens.stdout)")
        #expect(tokens.stderr.split(separator: "\n").count == 1, "\(tokens.stderr)")
        #expect(tokens.stderr.contains("pcscd is not running"), "\(tokens.stderr)")
    }
}
