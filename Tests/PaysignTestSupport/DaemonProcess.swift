public import Foundation
import PaysignClient
#if canImport(Glibc)
import Glibc
#endif

/// A real paysignd, started on a temporary socket and state directory, stopped with SIGTERM.
public final class DaemonProcess: @unchecked Sendable {
    // Immutable after init but for `process`, which only `stop` touches.
    public let directory: URL
    public let socket: String
    public let stateDirectory: String
    public let logFile: URL
    private let process = Process()
    /// Whether `deinit` removes `directory` (not when it was handed in: a restart on the same state).
    private let ownsDirectory: Bool

    public static var binary: String {
        let dir = ProcessInfo.processInfo.environment["PAYSIGN_BIN_DIR"]
            ?? TestPKI.repositoryRoot.appendingPathComponent(".build/debug").path
        return dir + "/paysignd"
    }

    /// Starts the daemon with `arguments` added to its socket, state directory and SoftHSM module,
    /// and waits (at most 10 s) until its socket accepts connections. `socketGroup` names the
    /// group given the socket (empty: none, so only root connects; `nogroup` lets the clients that
    /// `UnixUsers` runs as other users connect). `directory`: start on the socket, state and log of
    /// an earlier daemon (a restart after `killHard()`); the caller then removes it.
    public init(pki: TestPKI, arguments: [String] = [], environment extra: [String: String] = [:], socketGroup: String = "",
                directory reused: URL? = nil) throws {
        ownsDirectory = reused == nil
        directory = reused ?? FileManager.default.temporaryDirectory.appendingPathComponent("paysignd-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        socket = directory.appendingPathComponent("paysign.sock").path
        stateDirectory = directory.appendingPathComponent("state").path
        logFile = directory.appendingPathComponent("paysignd.log")
        if !FileManager.default.fileExists(atPath: logFile.path) {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["SOFTHSM2_CONF"] = pki.directory.appendingPathComponent("softhsm2.conf").path
        for (key, value) in extra { environment[key] = value }
        process.executableURL = URL(fileURLWithPath: Self.binary)
        // The test PKI's root is the trust anchor (a token's certificate must chain to one to be
        // registered, D6); a test's own --trust-anchors comes later and wins.
        process.arguments = ["--socket", socket, "--state-dir", stateDirectory, "--module", TestPKI.softHSMModule,
                             "--socket-group", socketGroup, "--log-level", "debug", "--trust-anchors", pki.caPEM.path] + arguments
        process.environment = environment
        let logHandle = try FileHandle(forWritingTo: logFile)
        logHandle.seekToEndOfFile()
        process.standardOutput = logHandle
        process.standardError = logHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(10)
        while !FileManager.default.fileExists(atPath: socket) || !Self.connects(socket) {
            guard process.isRunning else {
                throw Shell.Failure(message: "paysignd exited at start-up: \(log(tail: 5))")
            }
            guard Date() < deadline else { throw Shell.Failure(message: "paysignd did not open its socket in 10 s") }
            usleep(20_000)
        }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public func log(tail lines: Int = 20) -> String {
        let text = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// SIGTERM, then waits for the exit (SIGKILL after 10 s). Returns the exit status.
    @discardableResult
    public func stop() -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGKILL: no shutdown at all, as a power cut or the OOM killer would end it. Waits for the exit.
    public func killHard() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        stop()
        if ownsDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    static func connects(_ path: String) -> Bool { UnixSocket.answers(path) }
}
