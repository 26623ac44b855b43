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

    /// `listen`: an address to listen on besides loopback, its /24 trusted (namespaces on a bridge).
    public init(listen: String? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-pg-\(UUID().uuidString.prefix(8))").path
        var environment = ProcessInfo.processInfo.environment
        if let listen { environment["PAYSIGN_PG_LISTEN"] = listen }
        let started = try Shell.run(Self.script, ["start", directory], environment: environment)
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
    /// The operations port (plain HTTP: /metrics, /health/…), on the node's own address.
    public let operationsPort: Int
    public let logFile: URL
    private let process = Process()

    public static var binary: String { BuiltProducts.path("paysign-center") }

    /// `namespace`: run inside that network namespace (`ip netns exec`), listening on `host`, and
    /// reaching PostgreSQL at `databaseHost`.
    public init(pki: TestPKI, database: ThrowawayPostgres, node: String = "node-1", port: Int? = nil, arguments: [String] = [],
                namespace: String? = nil, host: String = "127.0.0.1", databaseHost: String = "127.0.0.1",
                decryptionKey: String = "pkcs11:token=center;id=%02", withoutCapabilities: Bool = false,
                revocationList: URL? = nil) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-center-\(UUID().uuidString.prefix(8))")
        let credentials = directory.appendingPathComponent("credentials")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        try Data((pki.token("center").pin + "\n").utf8).write(to: credentials.appendingPathComponent("token-pin"))
        chmod(credentials.appendingPathComponent("token-pin").path, 0o400)
        // On loopback without a port asked for, the kernel picks both (port 0) and the log says
        // which: a port probed free and bound later can be taken in between by another suite.
        let picked = port == nil && namespace == nil
        let listenPort = try port ?? (namespace == nil ? 0 : Self.freePort())
        let operationsListen = namespace == nil ? 0 : 9464
        logFile = directory.appendingPathComponent("center.log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        var environment = ProcessInfo.processInfo.environment
        environment["SOFTHSM2_CONF"] = pki.directory.appendingPathComponent("softhsm2.conf").path
        environment["CREDENTIALS_DIRECTORY"] = credentials.path
        let tls = pki.directory.appendingPathComponent("tls")
        let command = [
            "--listen", "\(host):\(listenPort)", "--node", node, "--operations-listen", "\(host):\(operationsListen)",
            "--tls-certificate", tls.appendingPathComponent("center-server.pem").path,
            "--tls-key-file", tls.appendingPathComponent("center-server.key").path,
            "--trust-anchors", pki.caPEM.path, "--revocation-list", (revocationList ?? tls.appendingPathComponent("crl.pem")).path,
            "--database-host", databaseHost, "--database-port", String(database.port),
            "--module", TestPKI.softHSMModule,
            "--decryption-key", decryptionKey, "--receipt-key", "pkcs11:token=center;id=%01",
            "--log-level", "info",
        ] + arguments
        if let namespace {
            // `ip netns exec` joins the namespace and execs the server: the same process.
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", namespace, Self.binary] + command
        } else if withoutCapabilities {
            // As paysign-center.service runs it (CapabilityBoundingSet= is empty): no capability
            // at all, even as root.
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--bounding-set=-all", "--inh-caps=-all", "--", Self.binary] + command
        } else {
            process.executableURL = URL(fileURLWithPath: Self.binary)
            process.arguments = command
        }
        process.environment = environment
        let log = try FileHandle(forWritingTo: logFile)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        let logFile = self.logFile
        let tail = { (lines: Int) in
            ((try? String(contentsOf: logFile, encoding: .utf8)) ?? "").split(separator: "\n").suffix(lines).joined(separator: "\n")
        }
        while !tail(50).contains(" ready on ") {
            guard process.isRunning else { throw Shell.Failure(message: "paysign-center exited at start-up: \(tail(8))") }
            guard Date() < deadline else { throw Shell.Failure(message: "paysign-center was not ready in 30 s: \(tail(8))") }
            usleep(20_000)
        }
        // "… ready on HOST:PORT" and "operations port (metrics, health) on HOST:PORT": the ports bound.
        func bound(_ marker: String) -> Int? {
            tail(50).split(separator: "\n").last { $0.contains(marker) }.flatMap { Int($0.split(separator: ":").last ?? "") }
        }
        if picked {
            guard let tlsPort = bound(" ready on "), let operations = bound("operations port (metrics, health) on ") else {
                throw Shell.Failure(message: "paysign-center did not say which ports it bound: \(tail(8))")
            }
            self.port = tlsPort
            operationsPort = operations
        } else {
            self.port = listenPort
            operationsPort = operationsListen
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

    /// The cluster test's own PKI: three nodes log in to its center token at once, which no other
    /// suite's node may meet (SoftHSM keeps a token in files every process rewrites).
    static let forClusterTests: Result<TestPKI, any Error> = Result {
        if ProcessInfo.processInfo.environment["PAYSIGN_BIN_DIR"] == nil, let built = BuiltProducts.directory {
            setenv("PAYSIGN_BIN_DIR", built, 1)
        }
        return try makeSeparately()
    }

    public static func forCluster() throws -> TestPKI { try forClusterTests.get() }

    /// The delivery suite's own PKI: its daemon signs with officer1 and the ministry while the
    /// order-flow suite changes PINs and spends wrong tries on its own PKI's.
    static let forDeliveryTests: Result<TestPKI, any Error> = Result {
        if ProcessInfo.processInfo.environment["PAYSIGN_BIN_DIR"] == nil, let built = BuiltProducts.directory {
            setenv("PAYSIGN_BIN_DIR", built, 1)
        }
        return try makeSeparately()
    }

    public static func forDelivery() throws -> TestPKI { try forDeliveryTests.get() }
}

/// Separate hosts on one machine (issue 18's cluster test): network namespaces joined by veth
/// pairs to a bridge of the test's own in the root namespace (`ADDR_PREFIX.1/24`); each namespace
/// gets `ADDR_PREFIX.N/24` and a route to the bridge. Made and removed by the test; only addresses
/// and names it chose.
public final class NamespaceNetwork: @unchecked Sendable {
    public let prefix: String
    public let bridge: String
    public private(set) var hosts: [(name: String, address: String)] = []

    /// `names` become namespaces `NAME`, with addresses `prefix.10`, `prefix.11`, ….
    public init(names: [String], prefix: String = "10.77.0", bridge: String = "pscbr0") throws {
        self.prefix = prefix
        self.bridge = bridge
        Self.clean(names: names, bridge: bridge)
        try Self.ip(["link", "add", bridge, "type", "bridge"])
        try Self.ip(["addr", "add", "\(prefix).1/24", "dev", bridge])
        try Self.ip(["link", "set", bridge, "up"])
        for (index, name) in names.enumerated() {
            let address = "\(prefix).\(10 + index)"
            let outside = "psv\(index)h"
            try Self.ip(["netns", "add", name])
            try Self.ip(["link", "add", outside, "type", "veth", "peer", "name", "eth0", "netns", name])
            try Self.ip(["link", "set", outside, "master", bridge])
            try Self.ip(["link", "set", outside, "up"])
            try Self.ip(["-n", name, "link", "set", "lo", "up"])
            try Self.ip(["-n", name, "addr", "add", "\(address)/24", "dev", "eth0"])
            try Self.ip(["-n", name, "link", "set", "eth0", "up"])
            try Self.ip(["-n", name, "route", "add", "default", "via", "\(prefix).1"])
            hosts.append((name, address))
        }
    }

    public func address(_ name: String) -> String { hosts.first { $0.name == name }!.address }

    static func ip(_ arguments: [String]) throws {
        let result = try Shell.run("ip", arguments)
        guard result.status == 0 else { throw Shell.Failure(message: "ip \(arguments.joined(separator: " ")): \(result.stderr)") }
    }

    /// Leftovers of an earlier run that was killed.
    static func clean(names: [String], bridge: String) {
        for name in names { _ = try? Shell.run("ip", ["netns", "delete", name]) }
        _ = try? Shell.run("ip", ["link", "delete", bridge])
    }

    public func remove() { Self.clean(names: hosts.map(\.name), bridge: bridge) }

    deinit { remove() }
}
