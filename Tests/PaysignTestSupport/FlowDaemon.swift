public import Foundation

/// A paysignd on a test PKI of its own with the flow's entity, people and tokens set up
/// (`FlowSetup.setUpEntity`), its socket open to the flow's Unix users. `close()` stops the daemon
/// and removes the PKI.
public final class FlowDaemon: Sendable {
    public let pki: TestPKI
    public let daemon: DaemonProcess
    public var socket: String { daemon.socket }

    public init(arguments: [String] = [], environment: [String: String] = [:]) throws {
        try UnixUsers.ensure()
        pki = try TestPKI.separate()
        do {
            daemon = try DaemonProcess(pki: pki, arguments: arguments, environment: environment, socketGroup: UnixUsers.group)
        } catch {
            try? FileManager.default.removeItem(at: pki.directory)
            throw error
        }
        do {
            try FlowSetup.setUpEntity(socket: daemon.socket, pki: pki)
        } catch {
            close()
            throw error
        }
    }

    public func close() {
        daemon.stop()
        try? FileManager.default.removeItem(at: pki.directory)
    }
}

extension TestPKI {
    /// OpenSSL's verdict on a detached SignedData over `document`, the PKI's root the only anchor.
    public func openSSLVerifies(p7s: Data, document: Data) throws -> Bool {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("openssl-verify-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let p7sURL = folder.appendingPathComponent("order.p7s")
        let docURL = folder.appendingPathComponent("order.txt")
        try p7s.write(to: p7sURL)
        try document.write(to: docURL)
        let verify = try Shell.run("openssl", [
            "cms", "-verify", "-binary", "-inform", "DER", "-in", p7sURL.path, "-content", docURL.path, "-CAfile", caPEM.path,
            "-purpose", "any", "-out", "/dev/null",
        ])
        return verify.status == 0
    }
}
