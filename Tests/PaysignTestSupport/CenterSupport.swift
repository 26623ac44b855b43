public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away PostgreSQL server (`Tests/testbed/postgres.sh`): Debian's package, a cluster made
/// with initdb in a temporary folder, stopped and removed at the end. Database `center`, user
/// `paysign` (trust authentication on loopback and its socket).
public final class ThrowawayPostgres: Sendable {
    public let directory: String
    public let port: Int
    public let socketDirectory: String

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-pg-\(UUID().uuidString.prefix(8))").path
        let started = try Shell.run(Self.script, ["start", directory])
        guard started.status == 0 else { throw Shell.Failure(message: "postgres.sh start: \(started.stderr)") }
        let words = started.stdout.split(separator: " ")
        guard words.count == 2, let port = Int(words[0]) else { throw Shell.Failure(message: "postgres.sh said: \(started.stdout)") }
        self.port = port
        socketDirectory = String(words[1]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static var script: String { TestPKI.repositoryRoot.appendingPathComponent("Tests/testbed/postgres.sh").path }

    public func restart() throws {
        let result = try Shell.run(Self.script, ["restart", directory])
        guard result.status == 0 else { throw Shell.Failure(message: "postgres.sh restart: \(result.stderr)") }
    }

    public func stop() { _ = try? Shell.run(Self.script, ["stop", directory]) }

    /// `psql -At -c SQL` on the center database, as the paysign user; the output lines.
    public func query(_ sql: String) throws -> [String] {
        let result = try Shell.run("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "paysign", "-d", "center", "-At", "-c", sql])
        guard result.status == 0 else { throw Shell.Failure(message: "psql: \(result.stderr)") }
        return result.stdout.split(separator: "\n").map(String.init)
    }
}

/// A real paysign-center node on loopback: the test PKI's center token (SoftHSM), its TLS
/// certificate, root and revocation list, a PostgreSQL; the token's PIN as a systemd credential
/// (`$CREDENTIALS_DIRECTORY/token-pin`), as the unit gives it.
public final class CenterProcess: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public let logFile: URL
    private let process = Process()

    public static var binary: String { BuiltProducts.path("paysign-center") }

    public init(pki: TestPKI, database: ThrowawayPostgres, node: String = "node-1", port: Int? = nil, arguments: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-center-\(UUID().uuidString.prefix(8))")
        let credentials = directory.appendingPathComponent("credentials")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        try Data((pki.token("center").pin + "\n").utf8).write(to: credentials.appendingPathComponent("token-pin"))
        chmod(credentials.appendingPathComponent("token-pin").path, 0o400)
        self.port = try port ?? Self.freePort()
        logFile = directory.appendingPathComponent("center.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        environment["SOFTHSM2_CONF"] = pki.directory.appendingPathComponent("softhsm2.conf").path
        environment["CREDENTIALS_DIRECTORY"] = credentials.path
        let tls = pki.directory.appendingPathComponent("tls")
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = [
            "--listen", "127.0.0.1:\(self.port)", "--node", node,
            "--tls-certificate", tls.appendingPathComponent("center-server.pem").path,
            "--tls-key-file", tls.appendingPathComponent("center-server.key").path,
            "--trust-anchors", pki.caPEM.path, "--revocation-list", tls.appendingPathComponent("crl.pem").path,
            "--database-host", "127.0.0.1", "--database-port", String(database.port),
            "--module", TestPKI.softHSMModule,
            "--decryption-key", "pkcs11:token=center;id=%02", "--receipt-key", "pkcs11:token=center;id=%01",
            "--log-level", "info",
        ] + arguments
        process.environment = environment
        let log = try FileHandle(forWritingTo: logFile)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while !self.log(tail: 50).contains(" ready on ") {
            guard process.isRunning else { throw Shell.Failure(message: "paysign-center exited at start-up: \(self.log(tail: 5))") }
            guard Date() < deadline else { throw Shell.Failure(message: "paysign-center was not ready in 30 s: \(self.log(tail: 5))") }
            usleep(20_000)
        }
    }

    /// A port nothing listens on now (bound to 0, read, closed).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Shell.Failure(message: "no socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw Shell.Failure(message: "cannot bind a free port") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public func log(tail lines: Int = 20) -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// SIGTERM, then waits (SIGKILL after 40 s). Returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(40)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    public func killHard() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: directory)
    }
}

extension TestPKI {
    /// A PKI for the payment center's suite alone: the center's token is used by paysign-center
    /// processes, the orders are signed by paysign-make-orders processes.
    static let forCenterTests: Result<TestPKI, any Error> = Result {
        if ProcessInfo.processInfo.environment["PAYSIGN_BIN_DIR"] == nil, let built = BuiltProducts.directory {
            setenv("PAYSIGN_BIN_DIR", built, 1)
        }
        return try makeSeparately()
    }

    public static func forCenter() throws -> TestPKI { try forCenterTests.get() }
}
