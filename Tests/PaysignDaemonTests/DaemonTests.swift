import PaysignAPI
import Foundation
import PaysignClient
import PaysignTestSupport
import Testing

/// The real daemon over its socket: health, tokens from SoftHSM, events from the virtual card,
/// who may call, the journal, and bad input. Serialized: the card tests share one reader.
@Suite("paysignd over its Unix socket", .serialized)
struct DaemonTests {
    let pki: TestPKI

    init() throws { pki = try TestPKI.forOtherProcesses() }

    static let pcsc = TestPKI.repositoryRoot.appendingPathComponent("Tests/testbed/pcsc.sh").path

    func json(_ response: DaemonResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
    }

    @Test("health answers over the socket; the socket is 0660 and the daemon stops cleanly on SIGTERM")
    func health() throws {
        let daemon = try DaemonProcess(pki: pki)
        let client = DaemonClient(socketPath: daemon.socket)
        let response = try client.get("/v1/health")
        #expect(response.status == 200)
        #expect(try json(response)["status"] as? String == "ok")
        let mode = try FileManager.default.attributesOfItem(atPath: daemon.socket)[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o777 } == 0o660)
        let openapi = try client.get("/v1/openapi.json")
        #expect(openapi.status == 200)
        #expect(try json(openapi)["openapi"] as? String == "3.1.0")
        #expect(daemon.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: daemon.socket), "the socket is removed on shutdown")
        #expect(daemon.log().contains("paysignd stopping"))
    }

    @Test("GET /v1/tokens lists the SoftHSM tokens, with URIs and PIN state")
    func tokens() throws {
        let daemon = try DaemonProcess(pki: pki)
        let response = try DaemonClient(socketPath: daemon.socket).get("/v1/tokens")
        #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        let tokens = try #require(try json(response)["tokens"] as? [[String: Any]])
        #expect(Set(tokens.compactMap { $0["label"] as? String }).isSuperset(of: ["officer1", "officer2", "ministry"]))
        #expect(tokens.allSatisfy { ($0["uri"] as? String)?.hasPrefix("pkcs11:") == true })
        // And through the client.
        let cli = try Shell.run(TestPKI.paysignBinary, ["tokens", "--socket", daemon.socket])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout.contains("Token 'officer1'"))
    }

    @Test("GET /v1/events announces a virtual card inserted and removed")
    func events() async throws {
        let daemon = try DaemonProcess(pki: pki)
        let client = DaemonClient(socketPath: daemon.socket)
        _ = try await Shell.exec(Self.pcsc, ["start"])
        let received = EventLog()
        let listener = Thread {
            _ = try? client.events("/v1/events") { name, data in
                // Only this test's reader: other suites use reader 00 00 of the same pcscd.
                if data.contains("Virtual PCD 00 01") { received.append(name) }
                return !received.contains("token-removed")
            }
        }
        listener.start()
        try await Task.sleep(for: .milliseconds(300))
        // Reader 00 01 (port 35964): the token tests use reader 00 00 at the same time.
        let inserted = try await Shell.exec(Self.pcsc, ["insert", "35964"])
        try #require(inserted.status == 0, "\(inserted.stderr)")
        defer { _ = try? Shell.run(Self.pcsc, ["remove", inserted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)]) }
        let pid = inserted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await received.wait(for: "token-inserted", within: .seconds(3))
        _ = try await Shell.exec(Self.pcsc, ["remove", pid])
        try await received.wait(for: "token-removed", within: .seconds(3))
        // The journal has both.
        let audit = try client.get("/v1/audit?limit=1000")
        let kinds = (try json(audit)["entries"] as? [[String: Any]])?.compactMap { $0["kind"] as? String } ?? []
        #expect(kinds.contains("token-inserted") && kinds.contains("token-removed"))
    }

    @Test("a caller without a role gets 403 and is journaled; a user outside the socket's group cannot connect")
    func notAuthorized() throws {
        let daemon = try DaemonProcess(pki: pki, arguments: ["--socket-group", "nogroup"])
        // nobody (uid 65534) in group nogroup can connect, but has no role.
        let nobody = try Shell.run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", TestPKI.paysignBinary, "tokens", "--socket", daemon.socket])
        #expect(nobody.status == 1, "\(nobody.stderr)")
        #expect(nobody.stderr.contains("has no role"), "\(nobody.stderr)")
        #expect(nobody.stderr.split(separator: "\n").count == 1)
        // Health needs no role.
        let health = try Shell.run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", TestPKI.paysignBinary, "health", "--socket", daemon.socket])
        #expect(health.status == 0, "\(health.stderr)")
        // Outside the group: the kernel refuses the connection.
        let outsider = try Shell.run("setpriv", ["--reuid=65534", "--regid=1", "--clear-groups", TestPKI.paysignBinary, "health", "--socket", daemon.socket])
        #expect(outsider.status == 2)
        #expect(outsider.stderr.contains("permission denied"), "\(outsider.stderr)")
        // root is an administrator by configuration; the refusal is in the journal.
        let audit = try DaemonClient(socketPath: daemon.socket).get("/v1/audit?limit=1000")
        let entries = try #require(try json(audit)["entries"] as? [[String: Any]])
        let denied = try #require(entries.first { $0["kind"] as? String == "access-denied" })
        #expect((denied["detail"] as? String)?.contains("GET /v1/tokens") == true)
    }

    @Test("the journal's chain verifies, and an edited row is named as the first broken entry")
    func journalTampering() throws {
        let daemon = try DaemonProcess(pki: pki)
        let client = DaemonClient(socketPath: daemon.socket)
        for i in 0..<5 {
            let r = try client.post("/v1/entities", ["code": "EG-\(1000 + i)", "name": "Entity \(i)"])
            #expect(r.status == 201, "\(String(decoding: r.body, as: UTF8.self))")
        }
        var check = try json(try client.get("/v1/audit/verify"))
        #expect(check["intact"] as? Bool == true)
        #expect((check["entries"] as? Int ?? 0) >= 6)
        // Someone with access to the file edits the entry of "Entity 1" behind the daemon's back
        // (dropping the append-only trigger first, as such a person can). Other suites' card
        // events may be journaled too, so the entry is found by its content.
        let database = daemon.stateDirectory + "/paysign.sqlite"
        let edit = try Shell.run("python3", ["-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            (seq,) = db.execute("SELECT seq FROM audit WHERE detail LIKE '%Entity 1%'").fetchone()
            db.execute("DROP TRIGGER audit_no_update")
            db.execute("UPDATE audit SET detail = replace(detail, 'Entity 1', 'Entity X') WHERE seq = ?", (seq,))
            db.commit()
            print(seq)
            """, database])
        #expect(edit.status == 0, "\(edit.stderr)")
        let seq = try #require(Int(edit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        check = try json(try client.get("/v1/audit/verify"))
        #expect(check["intact"] as? Bool == false)
        #expect(check["brokenAt"] as? Int == seq)
        let cli = try Shell.run(TestPKI.paysignBinary, ["audit", "verify", "--socket", daemon.socket])
        #expect(cli.status == 1)
        #expect(cli.stdout.contains("BROKEN at entry \(seq)"))
    }

    @Test("bad input gets problem details or a closed connection, and the daemon keeps serving")
    func badInput() throws {
        let daemon = try DaemonProcess(pki: pki, arguments: ["--idle-timeout-seconds", "1", "--request-timeout-seconds", "1", "--max-body-bytes", "4096"])
        let client = DaemonClient(socketPath: daemon.socket)
        func problem(_ response: DaemonResponse) -> String? { response.problem?.type }
        #expect(problem(try client.get("/v1/nowhere")) == "urn:paysign:problem:not-found")
        // Empty query parts name nothing and are passed over; a named parameter the route does
        // not take is refused, naming it (issue 17).
        for query in ["?=", "?&&", "?=="] {
            #expect(try client.get("/v1/health" + query).status == 200, "query \(query)")
        }
        for query in ["?a=1&=", "?%ZZ=%"] {
            #expect(problem(try client.get("/v1/health" + query)) == "urn:paysign:problem:invalid-field", "query \(query)")
        }
        #expect(problem(try client.send("DELETE", "/v1/health")) == "urn:paysign:problem:method-not-allowed")
        #expect(problem(try client.send("POST", "/v1/entities", body: Data("{".utf8), contentType: "application/json")) == "urn:paysign:problem:invalid-json")
        #expect(problem(try client.send("POST", "/v1/entities", body: Data("{\"code\":\"X\"}".utf8), contentType: "text/plain")) == "urn:paysign:problem:unsupported-media-type")
        #expect(problem(try client.send("POST", "/v1/entities", body: Data("{\"code\":\"X\",\"name\":\"Y\",\"pin\":\"1\"}".utf8), contentType: "application/json")) == "urn:paysign:problem:invalid-field")
        #expect(problem(try client.send("POST", "/v1/entities", body: Data(repeating: 0x20, count: 10_000), contentType: "application/json")) == "urn:paysign:problem:body-too-large")
        // Malformed HTTP: NIO answers 400 and closes.
        let garbage = try RawConnection(daemon.socket)
        garbage.send("HELLO THERE\r\n\r\n")
        #expect(garbage.readAll().hasPrefix("HTTP/1.1 400"))
        // A peer that connects and sends nothing, and one that sends half a request, are closed.
        let silent = try RawConnection(daemon.socket)
        let half = try RawConnection(daemon.socket)
        half.send("POST /v1/entities HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        let start = Date()
        #expect(silent.readAll().isEmpty)
        #expect(half.readAll().isEmpty)
        #expect(Date().timeIntervalSince(start) < 5)
        // Nothing partial was written, and everybody else is still served.
        let entities = try JSONSerialization.jsonObject(with: try client.get("/v1/entities").body) as? [Any]
        #expect(entities?.isEmpty == true)
        #expect(try client.get("/v1/health").status == 200)
    }

    @Test("query and path parameters are validated: a bad value or an unknown parameter is a problem naming it (issue 17)", arguments: [
        ("/v1/audit?limit=abc", "'limit'"), ("/v1/audit?after=null", "'after'"), ("/v1/audit?limit=0", "'limit'"),
        ("/v1/audit?limit=1001", "'limit'"), ("/v1/orders?state=paid", "'state'"), ("/v1/orders?from=2026-13-01", "'from'"),
        ("/v1/orders?limt=5", "'limt'"), ("/v1/health?x=1", "'x'"), ("/v1/crl?format=xml", "'format'"),
        ("/v1/orders/-2467", "path parameter 'id'"), ("/v1/orders/0/file", "path parameter 'id'"),
        ("/v1/orders/99999999999999999999", "path parameter 'id'"),
        ("/v1/registered-tokens/\(String(repeating: "A", count: 65))/certificate", "path parameter 'serial'"),
    ])
    func queryParameters(path: String, names: String) throws {
        let daemon = try DaemonProcess(pki: pki)
        let response = try DaemonClient(socketPath: daemon.socket).get(path)
        #expect(response.status == 422, "\(path): \(response.status)")
        let problem = try json(response)
        #expect(problem["type"] as? String == "urn:paysign:problem:invalid-field")
        #expect((problem["detail"] as? String)?.contains(names) == true, "\(problem)")
        #expect(try DaemonClient(socketPath: daemon.socket).get("/v1/audit?after=0&limit=1000").status == 200)
    }

    @Test("start-up refuses, in one sentence, a live daemon's socket, a non-socket file, an unwritable state directory, a corrupt database, a socket group that does not exist")
    func startupFailures() throws {
        let daemon = try DaemonProcess(pki: pki)
        func start(_ arguments: [String]) throws -> Shell.Result {
            var environment = ProcessInfo.processInfo.environment
            environment["SOFTHSM2_CONF"] = pki.directory.appendingPathComponent("softhsm2.conf").path
            return try Shell.run(DaemonProcess.binary, ["--module", TestPKI.softHSMModule, "--socket-group", ""] + arguments, environment: environment)
        }
        let dir = daemon.directory.path
        let live = try start(["--socket", daemon.socket, "--state-dir", dir + "/other"])
        #expect(live.status != 0 && live.stderr.contains("already listening"), "\(live.stderr)")
        _ = FileManager.default.createFile(atPath: dir + "/plain", contents: Data("x".utf8))
        let plain = try start(["--socket", dir + "/plain", "--state-dir", dir + "/other"])
        #expect(plain.status != 0 && plain.stderr.contains("is not a socket"), "\(plain.stderr)")
        let unwritable = try start(["--socket", dir + "/s2.sock", "--state-dir", "/etc/hostname/state"])
        #expect(unwritable.status != 0 && unwritable.stderr.hasPrefix("paysignd: "), "\(unwritable.stderr)")
        try FileManager.default.createDirectory(atPath: dir + "/corrupt", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/corrupt/paysign.sqlite", contents: Data(repeating: 0x42, count: 8192))
        let corrupt = try start(["--socket", dir + "/s3.sock", "--state-dir", dir + "/corrupt"])
        #expect(corrupt.status != 0 && corrupt.stderr.hasPrefix("paysignd: "), "\(corrupt.stderr)")
        // A socket group that does not exist (issue 16: it was ignored, the socket left root's).
        var noGroup = try start(["--socket", dir + "/s4.sock", "--state-dir", dir + "/s4", "--socket-group", "paysign-no-such-group"])
        #expect(noGroup.status != 0 && noGroup.stderr.contains("the socket group 'paysign-no-such-group' does not exist"), "\(noGroup.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/s4.sock") || !UnixSocket.answers(dir + "/s4.sock"), "nothing serves on it")
        noGroup.stderr = noGroup.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
        for result in [live, plain, unwritable, corrupt, noGroup] {
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
        #expect(try DaemonClient(socketPath: daemon.socket).get("/v1/health").status == 200, "the live daemon is untouched")
    }
}

/// Events seen by a listener thread.
final class EventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var names: [String] = []  // guarded by lock

    func append(_ name: String) { lock.withLock { names.append(name) } }
    func contains(_ name: String) -> Bool { lock.withLock { names.contains(name) } }

    func wait(for name: String, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        while !contains(name) {
            guard ContinuousClock.now < deadline else {
                throw Shell.Failure(message: "no \(name) event within \(limit); saw \(lock.withLock { names })")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// A raw connection to send malformed or partial requests.
final class RawConnection {
    let fd: Int32

    init(_ path: String) throws {
        guard case .success(let connected) = UnixSocket.connect(path) else {
            throw Shell.Failure(message: "cannot connect to \(path)")
        }
        fd = connected
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) { _ = text.withCString { Glibc.send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }

    /// Reads until the daemon closes the connection (or 10 s pass).
    func readAll() -> String {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { data += buffer[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        return String(decoding: data, as: UTF8.self)
    }

    deinit { close(fd) }
}

extension DaemonTests {
    @Test("the journal head is signed on the designated token only; a rewritten journal with a fresh chain no longer matches it")
    func headSigning() throws {
        let fingerprint = try Shell.run("openssl", ["x509", "-in", pki.certificatePEM("officer2").path, "-noout", "-fingerprint", "-sha256"])
            .stdout.split(separator: "=").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
        let daemon = try DaemonProcess(pki: pki, arguments: [
            "--journal-signing-token", "pkcs11:token=officer2", "--journal-signing-certificate", fingerprint,
        ])
        let client = DaemonClient(socketPath: daemon.socket)
        _ = try client.post("/v1/entities", ["code": "EG-2000", "name": "Before"])
        // Another token's PIN tries cannot be spent through this route.
        let other = try client.post("/v1/audit/head-signatures", ["token": "pkcs11:token=officer1", "pin": "000000"])
        #expect(other.problem?.type == "urn:paysign:problem:not-authorized", "\(String(decoding: other.body, as: UTF8.self))")
        // A wrong PIN is refused and journaled, never retried.
        let wrong = try client.post("/v1/audit/head-signatures", ["token": "pkcs11:token=officer2", "pin": "000000"])
        #expect(wrong.problem?.type == "urn:paysign:problem:wrong-pin", "\(String(decoding: wrong.body, as: UTF8.self))")
        let cli = try Shell.run(TestPKI.paysignBinary, ["audit", "sign-head", "--socket", daemon.socket, "--token", "pkcs11:token=officer2", "--pin-fd", "0"],
                                stdin: Data((pki.token("officer2").pin + "\n").utf8))
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout.contains("signed with ecdsa-sha256"))
        var check = try json(try client.get("/v1/audit/verify"))
        #expect(check["intact"] as? Bool == true, "\(check)")
        #expect(check["signedHeads"] as? Int == 1)
        #expect(check["certificatesPinned"] as? Bool == true)
        #expect(check["newestSignedHead"] as? Int != nil)
        let kinds = (try json(try client.get("/v1/audit?limit=100"))["entries"] as? [[String: Any]])?.compactMap { $0["kind"] as? String } ?? []
        #expect(kinds.contains("login-failed") && kinds.contains("login-succeeded") && kinds.contains("head-signed"))
        // A forger rewrites entry 2 and recomputes every hash after it: the chain is consistent
        // again, but the signed head is no longer in it.
        let rewrite = try Shell.run("python3", ["-c", """
            import sqlite3, sys, hashlib
            db = sqlite3.connect(sys.argv[1])
            db.execute("DROP TRIGGER audit_no_update")
            def field(s): b = s.encode(); return len(b).to_bytes(4, "big") + b
            prev = "0" * 64
            rows = db.execute("SELECT seq, at, actor, kind, detail FROM audit ORDER BY seq").fetchall()
            for seq, at, actor, kind, detail in rows:
                if seq == 2: detail = detail.replace("Before", "Forged")
                msg = b"paysign-audit-v1\\0" + seq.to_bytes(8, "big") + b"".join(map(field, [at, actor, kind, detail, prev]))
                h = hashlib.sha256(msg).hexdigest()
                db.execute("UPDATE audit SET detail = ?, previousHash = ?, hash = ? WHERE seq = ?", (detail, prev, h, seq))
                prev = h
            db.commit()
            """, daemon.stateDirectory + "/paysign.sqlite"])
        #expect(rewrite.status == 0, "\(rewrite.stderr)")
        check = try json(try client.get("/v1/audit/verify"))
        #expect(check["intact"] as? Bool == false, "\(check)")
    }
}

@Suite("The OpenAPI document")
struct OpenAPITests {
    @Test("it is valid JSON, OpenAPI 3.1, and names every route the daemon serves")
    func everyRouteDocumented() throws {
        let url = TestPKI.repositoryRoot.appendingPathComponent("Sources/PaysignAPI/openapi.json")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        // Every Route("METHOD", "/v1/…") in the daemon's sources.
        let sources = TestPKI.repositoryRoot.appendingPathComponent("Sources/PaysignDaemon")
        var routes: [(String, String)] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: sources.path) where file.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            let regex = try NSRegularExpression(pattern: #"Route\("([A-Z]+)", "(/v1/[^"]*)""#)
            for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                routes.append((String(text[Range(match.range(at: 1), in: text)!]), String(text[Range(match.range(at: 2), in: text)!])))
            }
        }
        #expect(routes.count >= 10)
        for (method, path) in routes {
            #expect(paths[path]?[method.lowercased()] != nil, "\(method) \(path) is not in openapi.json")
        }
    }
}

extension DaemonTests {
    @Test("an administrator maps a user, changes their roles and removes them; each change is journaled")
    func operatorLifecycle() throws {
        let daemon = try DaemonProcess(pki: pki)
        let client = DaemonClient(socketPath: daemon.socket)
        // A reviewer acts for one entity (D9): one without an entity would be scoped to nothing.
        let entityLess = try client.send("POST", "/v1/operators", body: Data(#"{"unixUser":"nobody","nationalID":"29001010100017","name":"Reviewer Nobody","roles":["reviewer"]}"#.utf8), contentType: "application/json")
        #expect(entityLess.problem?.type == "urn:paysign:problem:rule-violated", "\(String(decoding: entityLess.body, as: UTF8.self))")
        #expect(entityLess.problem?.rule == "D9")
        let added = try client.send("POST", "/v1/operators", body: Data(#"{"unixUser":"nobody","nationalID":"29001010100017","name":"Auditor Nobody","roles":["auditor"]}"#.utf8), contentType: "application/json")
        #expect(added.status == 201, "\(String(decoding: added.body, as: UTF8.self))")
        let id = try #require(try json(added)["id"] as? Int)
        let toReviewer = try client.send("PUT", "/v1/operators/\(id)/roles", body: Data("{\"roles\":[\"reviewer\"]}".utf8), contentType: "application/json")
        #expect(toReviewer.problem?.rule == "D9")
        let changed = try client.send("PUT", "/v1/operators/\(id)/roles", body: Data("{\"roles\":[\"payment-center\"]}".utf8), contentType: "application/json")
        #expect(changed.status == 200)
        #expect(try json(changed)["roles"] as? [String] == ["payment-center"])
        let badRole = try client.send("PUT", "/v1/operators/\(id)/roles", body: Data("{\"roles\":[\"king\"]}".utf8), contentType: "application/json")
        #expect(badRole.problem?.type == "urn:paysign:problem:invalid-field")
        let removed = try client.send("DELETE", "/v1/operators/\(id)")
        #expect(removed.status == 200)
        #expect(try client.send("DELETE", "/v1/operators/\(id)").problem?.type == "urn:paysign:problem:not-found")
        let kinds = (try json(try client.get("/v1/audit?limit=100"))["entries"] as? [[String: Any]])?.compactMap { $0["kind"] as? String } ?? []
        #expect(kinds.contains("operator-added") && kinds.contains("role-changed") && kinds.contains("operator-removed"))
    }
}

extension DaemonTests {
    @Test("SIGTERM with an event stream open: the stream ends and the daemon exits 0 promptly")
    func shutdownWithListener() throws {
        let daemon = try DaemonProcess(pki: pki)
        let client = DaemonClient(socketPath: daemon.socket)
        let ended = EventLog()
        let listener = Thread {
            _ = try? client.events("/v1/events") { _, _ in true }
            ended.append("ended")
        }
        listener.start()
        usleep(300_000)
        let start = Date()
        #expect(daemon.stop() == 0)
        #expect(Date().timeIntervalSince(start) < 5, "stopped in \(Date().timeIntervalSince(start)) s")
        usleep(200_000)
        #expect(ended.contains("ended"))
    }
}
