import PaysignSecrets
import Foundation
import PaysignPCSC
import PaysignPKCS11
import PaysignTestSupport
import Testing

@testable import PaysignTokens

extension TokenTests {
    static var pcscScript: String { TestPKI.repositoryRoot.appendingPathComponent("Tests/testbed/pcsc.sh").path }

    @Test("pulling the card out of its reader invalidates the token's session within a second")
    func cardRemovalInvalidatesSession() async throws {
        defer { service.close() }
        let reader = "Virtual PCD 00 00"
        let start = try await Shell.exec(Self.pcscScript, ["start"])
        try #require(start.status == 0, "pcscd: \(start.stderr)")
        // SoftHSM stands in for the card's key store; the virtual card gives presence and removal.
        let watcher = PresenceWatcher(
            library: service.library,
            bindings: [PresenceBinding(token: try PKCS11URI("pkcs11:token=officer1"), reader: reader)])
        let monitor = ReaderMonitor()
        let events = monitor.events()
        let watching = Task { await watcher.run(events) }
        defer {
            monitor.stop()
            watching.cancel()
        }
        let inserted = try await Shell.exec(Self.pcscScript, ["insert", "35963"])
        try #require(inserted.status == 0, "vicc: \(inserted.stderr)")
        let pid = inserted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        var removed = false
        defer { if !removed { _ = try? Shell.run(Self.pcscScript, ["remove", pid]) } }

        // Wait until the monitor has seen the card (pcscd polls for cards every 0.4 s), and the
        // watcher knows officer1 sits in that reader.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(3)
        func ready() -> Bool {
            monitor.currentReaders.contains { $0.name == reader && $0.cardPresent } && !watcher.slots(in: reader).isEmpty
        }
        while !ready() && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        try #require(ready(), "the card was not seen within 3 s")

        let signer = try await service.signer(for: PKCS11URI("pkcs11:token=officer1"))
        try await signer.login(pin: PIN(pki.token("officer1").pin))
        _ = try await signer.sign(Array("before removal".utf8))

        let pulled = clock.now
        _ = try await Shell.exec(Self.pcscScript, ["remove", pid])
        removed = true
        while signer.session.invalidated == nil && clock.now - pulled < .seconds(2) {
            try await Task.sleep(for: .milliseconds(10))
        }
        let latency = clock.now - pulled
        #expect(signer.session.invalidated?.contains("card removed from reader '\(reader)'") == true)
        #expect(latency < .seconds(1), "session invalidated \(latency) after the card was pulled")
        do {
            _ = try await signer.sign(Array("after removal".utf8))
            Issue.record("signed after the card was removed")
        } catch let error as PKCS11Error {
            #expect(error.code == .tokenRemoved)
        }
    }
}
