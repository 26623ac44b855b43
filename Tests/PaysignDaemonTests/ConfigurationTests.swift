import Foundation
import PaysignDaemon
import PaysignDomain
import Testing

@Suite("paysignd's configuration file")
struct ConfigurationTests {
    func load(_ yaml: String) throws -> DaemonConfiguration {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("paysignd-\(UUID().uuidString).yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        return try DaemonConfiguration.load(from: url.path)
    }

    @Test("an empty file gives the safe defaults")
    func defaults() throws {
        let configuration = try load("")
        #expect(configuration.socket == "/run/paysign/paysign.sock")
        #expect(configuration.socketModeValue == 0o660)
        #expect(configuration.socketGroup == "paysign")
        #expect(configuration.administrators == ["root"])
        #expect(configuration.maxBodyBytes == 1 << 20)
        #expect(configuration.tokenThreadNice == -10)
    }

    @Test("a file of comments only gives the defaults too (the packaged example with every key commented out)")
    func commentsOnly() throws {
        let configuration = try load("# paysignd.yaml\n---\n#   socket-group: paysign\n\n   # max-body-bytes: 4096\n")
        #expect(configuration == DaemonConfiguration())
    }

    @Test("the fair shares are read, and a user's share must hold the largest body")
    func shares() throws {
        let configuration = try load("""
            max-order-bytes: 1048576
            max-connections-per-user: 4
            max-requests-per-user: 2
            body-memory-bytes-per-user: 4194304
            body-memory-bytes: 8388608
            """)
        #expect(configuration.maxConnectionsPerUser == 4)
        #expect(configuration.maxRequestsPerUser == 2)
        #expect(configuration.bodyMemoryBytesPerUser == 4 << 20)
        #expect(configuration.bodyMemoryBytes == 8 << 20)
        #expect(throws: DaemonError.self) { try load("body-memory-bytes-per-user: 1048576") }
        #expect(throws: DaemonError.self) { try load("body-memory-bytes: 100663295") }
    }

    @Test("every documented key is read")
    func keys() throws {
        let configuration = try load("""
            socket: /tmp/p.sock
            socket-group: signers
            socket-mode: "0600"
            state-directory: /tmp/state
            pkcs11-module: /usr/lib/softhsm/libsofthsm2.so
            administrators: [alice, bob]
            reader-bindings:
              - reader: "Virtual PCD 00 00"
                token: "pkcs11:token=officer1"
            max-body-bytes: 4096
            idle-timeout-seconds: 5
            request-timeout-seconds: 2.5
            log-level: debug
            head-signing-interval-minutes: 30
            token-thread-nice: 0
            """)
        #expect(configuration.socket == "/tmp/p.sock")
        #expect(configuration.socketGroup == "signers")
        #expect(configuration.socketModeValue == 0o600)
        #expect(configuration.administrators == ["alice", "bob"])
        #expect(configuration.readerBindings == [.init(reader: "Virtual PCD 00 00", token: "pkcs11:token=officer1")])
        #expect(configuration.requestTimeoutSeconds == 2.5)
        #expect(configuration.headSigningIntervalMinutes == 30)
        #expect(configuration.tokenThreadNice == 0)
    }

    @Test("mistakes are refused with one sentence naming them", arguments: [
        ("sockett: /x", "unknown configuration key 'sockett'"),
        ("socket-mode: \"0666\"", "lets every local user connect"),
        ("socket-mode: \"rw\"", "octal mode"),
        ("socket: relative.sock", "absolute path"),
        ("max-body-bytes: 10", "max-body-bytes"),
        ("log-level: loud", "log-level must be one of"),
        ("administrators: root", "wrong type"),
        ("head-signing-interval-minutes: 0", "between 1 and 10080"),
        ("idle-timeout-seconds: .inf", "between 0.1 and 86400"),
        ("journal-signing-certificates: [abc]", "not a SHA-256 fingerprint"),
        (": : :", "not valid YAML"),
        ("token-thread-nice: 5", "token-thread-nice must be between -20 and 0"),
        ("token-thread-nice: -21", "token-thread-nice must be between -20 and 0"),
    ])
    func mistakes(yaml: String, phrase: String) {
        do {
            _ = try load(yaml)
            Issue.record("'\(yaml)' was accepted")
        } catch let error as DaemonError {
            #expect(error.message.contains(phrase), "\(error.message)")
            #expect(!error.message.contains("\n"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }
}
