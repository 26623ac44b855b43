import Foundation
import PaysignTestSupport
import Testing

/// Rule D5 in the client's own process: a PIN passes through `paysign`, so it makes no core file
/// and cannot be read by another process of the same user. The client is stopped while it waits
/// for the PIN (the PIN's pipe still empty) and its /proc entries are read: RLIMIT_CORE is 0, and
/// the process is not dumpable (its /proc/PID/mem belongs to root although it runs as an officer).
@Suite("paysign makes no core file and is not dumpable (D5)")
struct CoreDumpTests {
    @Test("while it waits for the PIN: core size limit 0, /proc/PID/mem owned by root, not by the officer running it")
    func noCoreWhileWaitingForThePIN() throws {
        try UnixUsers.ensure()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(UnixUsers.officer1)", "--regid=\(UnixUsers.group)", "--clear-groups",
                             try UnixUsers.paysignPath(), "sign", "1", "--first", "--token", "pkcs11:token=officer1",
                             "--pin-fd", "0", "--socket", "/nonexistent/paysign.sock"]
        process.environment = ["PATH": "/usr/bin:/bin"]
        let pin = Pipe()
        process.standardInput = pin
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }
        let pid = process.processIdentifier
        // The client sets its limits first thing; give it a moment to start and block on the pipe.
        var limits = ""
        var owner: Int = -1
        for _ in 0..<100 {
            usleep(50_000)
            limits = (try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)) ?? ""
            owner = ((try? FileManager.default.attributesOfItem(atPath: "/proc/\(pid)/mem"))?[.ownerAccountID] as? NSNumber)?.intValue ?? -1
            if limits.contains("Max core file size") && owner == 0 { break }
        }
        let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }.map(String.init) ?? "none"
        let fields = core.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fields.count >= 6 && fields[4] == "0" && fields[5] == "0", "core size limit: \(core)")
        #expect(owner == 0, "/proc/\(pid)/mem belongs to uid \(owner): the client is dumpable")
        #expect(process.isRunning, "the client still waits for its PIN")
    }
}
