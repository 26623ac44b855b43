public import Foundation

/// The test PKI every token test in this process shares: SoftHSM2 tokens made by
/// `Certs/make-test-pki.sh` in a temporary folder, with `SOFTHSM2_CONF` pointing at it before
/// any PKCS#11 module is loaded (SoftHSM reads its configuration once, at `C_Initialize`).
public struct TestPKI: Sendable {
    public struct Token: Sendable {
        public var label: String
        public var keyType: String
        public var pin: String
        public var soPIN: String
        public var role: String
        public var certificateSerial: String
        public var uri: String
    }

    public let directory: URL
    public let tokens: [String: Token]

    public var caPEM: URL { directory.appendingPathComponent("ca/ca.pem") }
    public func certificatePEM(_ label: String) -> URL { directory.appendingPathComponent("certs/\(label).pem") }
    public func token(_ label: String) -> Token { tokens[label]! }

    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Made once per test process, for the tests that load SoftHSM in this process (this one
    /// also sets `SOFTHSM2_CONF`).
    static let shared: Result<TestPKI, any Error> = Result {
        let pki = try make()
        setenv("SOFTHSM2_CONF", pki.directory.appendingPathComponent("softhsm2.conf").path, 1)
        return pki
    }

    /// A second PKI for tests that run `paysign` as another process, so that the two never
    /// change the same token at once (SoftHSM keeps tokens in files that both would write).
    static let forSubprocesses: Result<TestPKI, any Error> = Result { try make() }

    public static func forOtherProcesses() throws -> TestPKI { try forSubprocesses.get() }

    /// A third PKI, for the payment-order flow suite alone: it changes a token's PIN (and puts it
    /// back) and spends wrong-PIN tries, which must never meet another suite signing with the
    /// same token at the same moment.
    static let forOrderFlowTests: Result<TestPKI, any Error> = Result { try make() }

    public static func forOrderFlow() throws -> TestPKI { try forOrderFlowTests.get() }

    public static func get() throws -> TestPKI { try shared.get() }

    /// A fourth PKI, for the test that makes a token's folder vanish and come back: no other
    /// suite may meet that token while it is gone.
    static let forVanishingTokenTests: Result<TestPKI, any Error> = Result { try make() }

    public static func forVanishingToken() throws -> TestPKI { try forVanishingTokenTests.get() }

    /// The folder SoftHSM keeps a token in (`tokens/<uuid>`): the one whose `token.object` holds
    /// the label, blank-padded to 32 bytes as `CK_TOKEN_INFO` carries it.
    public func tokenFolder(_ label: String) throws -> URL {
        let tokens = directory.appendingPathComponent("tokens")
        let padded = Data((label + String(repeating: " ", count: max(0, 32 - label.utf8.count))).utf8)
        for name in try FileManager.default.contentsOfDirectory(atPath: tokens.path) {
            let folder = tokens.appendingPathComponent(name)
            guard let object = FileManager.default.contents(atPath: folder.appendingPathComponent("token.object").path) else {
                continue
            }
            if object.range(of: padded) != nil { return folder }
        }
        throw Shell.Failure(message: "no SoftHSM token folder in \(tokens.path) holds the label \(label)")
    }

    /// The built `paysign` client (`PAYSIGN_BIN_DIR`, set by scripts/test.sh, or .build/debug).
    public static var paysignBinary: String {
        let dir = ProcessInfo.processInfo.environment["PAYSIGN_BIN_DIR"]
            ?? repositoryRoot.appendingPathComponent(".build/debug").path
        return dir + "/paysign"
    }

    public static let softHSMModule: String = {
        for path in ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                     "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"]
        where FileManager.default.fileExists(atPath: path) {
            return path
        }
        return "libsofthsm2.so"
    }()

    private static func make() throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("paysign-test-pki-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let result = try Shell.run(repositoryRoot.appendingPathComponent("Certs/make-test-pki.sh").path, [directory.path])
        guard result.status == 0 else {
            throw Shell.Failure(message: "make-test-pki.sh failed: \(result.stderr)")
        }
        let table = try String(contentsOf: directory.appendingPathComponent("tokens.tsv"), encoding: .utf8)
        var tokens: [String: Token] = [:]
        for line in table.split(separator: "\n").dropFirst() {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            tokens[f[0]] = Token(label: f[0], keyType: f[1], pin: f[2], soPIN: f[3], role: f[4], certificateSerial: f[5], uri: f[6])
        }
        return TestPKI(directory: directory, tokens: tokens)
    }
}

/// Runs real programs (OpenSSL, the PC/SC test bed) and collects what they print.
public enum Shell {
    public struct Failure: Error, CustomStringConvertible {
        public var message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// SIGPIPE ignored in the test process, once: a child that closes its input early is no crash.
    static let sigpipeIgnored: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
        process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
        if let environment { process.environment = environment }
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        // The input is written by a thread of its own while both outputs are read: a program that
        // answers line by line (the crash harness's client) fills its output pipe long before a
        // large input is all written, and writing first then reading would wait on each other.
        // A program that exits without reading its input (a usage error) closes the pipe: the
        // write then fails with EPIPE, which must neither kill this process (SIGPIPE ignored) nor
        // trap in FileHandle.write; plain write(2), stopping at the first error.
        _ = Self.sigpipeIgnored
        let writeHandle = input.fileHandleForWriting
        let writer = Thread {
            if let stdin {
                let fd = writeHandle.fileDescriptor
                stdin.withUnsafeBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                        if n < 0 && errno == EINTR { continue }
                        guard n > 0 else { break }
                        offset += n
                    }
                }
            }
            try? writeHandle.close()
        }
        writer.start()
        // Read both pipes to the end before waiting, so a chatty program cannot block on a full
        // pipe. Plain read(2) with EINTR retried: Foundation's readDataToEndOfFile traps on EINTR,
        // which Process's own SIGCHLD handling can cause.
        nonisolated(unsafe) var errData = Data()
        let errFD = err.fileHandleForReading.fileDescriptor
        let errReader = Thread { errData = readAll(errFD) }
        errReader.start()
        let outData = readAll(out.fileHandleForReading.fileDescriptor)
        process.waitUntilExit()
        while !errReader.isFinished || !writer.isFinished { usleep(1000) }
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self))
    }

    /// `run` on a thread of its own, so a test waiting for a slow program does not hold one of
    /// the few cooperative threads every other test needs.
    public static func exec(_ executable: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Swift.Result { try run(executable, arguments, stdin: stdin, environment: environment) })
            }
            thread.start()
        }
    }

    static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 { data.append(contentsOf: buffer[0..<n]); continue }
            if n < 0 && errno == EINTR { continue }
            return data
        }
    }

    /// Checks a signature with `openssl dgst -verify`, the independent judge.
    public static func opensslVerifies(signature: [UInt8], message: [UInt8], certificate: URL, extra: [String] = []) throws -> Bool {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let pub = try run("openssl", ["x509", "-in", certificate.path, "-pubkey", "-noout"])
        try pub.stdout.write(to: dir.appendingPathComponent("pub.pem"), atomically: true, encoding: .utf8)
        try Data(signature).write(to: dir.appendingPathComponent("sig"))
        try Data(message).write(to: dir.appendingPathComponent("msg"))
        let result = try run(
            "openssl", ["dgst", "-sha256", "-verify", dir.appendingPathComponent("pub.pem").path] + extra
                + ["-signature", dir.appendingPathComponent("sig").path, dir.appendingPathComponent("msg").path])
        return result.status == 0 && result.stdout.contains("Verified OK")
    }
}
