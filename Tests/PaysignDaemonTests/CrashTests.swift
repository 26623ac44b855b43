import Foundation
import PaysignClient
import PaysignTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Crash consistency (issue 8): orders are signed through the real paysignd, over its socket, by
/// the officers as their own Unix users, while the daemon is killed with SIGKILL at random moments
/// and restarted on the same state. Each client retries every request it did not see answered with
/// the same Idempotency-Key, as a real client would. Afterwards:
///
/// - every signature a client saw acknowledged (201) is in the registry and in the order's
///   SignedData, which OpenSSL verifies;
/// - no order is in a state its signatures do not support (payable ⇔ exactly one first and one
///   second signature in the SignedData);
/// - each request completed exactly once: the journal holds one `signature` entry per signature;
/// - the audit chain verifies.
///
/// The short run is part of `make test`; `make soak` sets `PAYSIGN_CRASH_ORDERS` (and the kill
/// target `PAYSIGN_CRASH_KILLS`) for the long one. The tokens are a PKI of this suite's own: a kill
/// may land in the middle of SoftHSM rewriting a token file at login. Needs root.
@Suite("Crash consistency: SIGKILL at random points while orders are signed; nothing acknowledged is lost, nothing signed twice", .serialized)
struct CrashTests {
    @Test("SIGKILL during first and second signatures, restart, retry with the same Idempotency-Key: every acknowledged signature kept, every order payable with exactly two signatures, journal chain intact")
    func killsWhileSigning() throws {
        try UnixUsers.ensure()
        let environment = ProcessInfo.processInfo.environment
        let orders = Int(environment["PAYSIGN_CRASH_ORDERS"] ?? "") ?? 16
        let targetKills = Int(environment["PAYSIGN_CRASH_KILLS"] ?? "") ?? 8
        let pki = try TestPKI.separate()
        defer { try? FileManager.default.removeItem(at: pki.directory) }
        let harness = try Harness(pki: pki)
        defer { harness.finish() }
        try harness.setUpEntity()

        // The orders, uploaded by the clerk and reviewed (D9) before any kill.
        let refs = try harness.makeOrders(orders)
        harness.snapshotSoftHSMFiles()

        // First signatures by both first signers at once, then the second by the ministry, the
        // killer at work throughout.
        let killer = Killer(harness: harness)
        killer.start()
        let half = refs.count / 2
        let firstSigners: [@Sendable () throws -> [Harness.Answer]] = [
            { try harness.run(as: UnixUsers.officer1, requests: refs[..<half].map { harness.signature($0, step: "first", token: "officer1") }) },
            { try harness.run(as: UnixUsers.officer2, requests: refs[half...].map { harness.signature($0, step: "first", token: "officer2") }) },
        ]
        let firstAnswers = try Concurrently.run(firstSigners).flatMap { $0 }
        let secondAnswers = try harness.run(
            as: UnixUsers.ministry, requests: refs.map { harness.signature($0, step: "second", token: "ministry") })
        // Keep killing until the target is met (the long run), signing nothing more meanwhile.
        while killer.kills < targetKills && killer.kills < 10_000 { usleep(50_000) }
        let kills = killer.stop()
        try harness.ensureRunning()

        // Every request answered 201 (after retries), with its attempts.
        let answers = firstAnswers + secondAnswers
        #expect(answers.count == 2 * refs.count)
        for answer in answers {
            #expect(answer.status == 201, "request \(answer.id): \(answer.status) after \(answer.attempts) attempts: \(answer.body.prefix(300))")
        }
        let retried = answers.filter { $0.attempts > 1 }.count
        let replayed = answers.filter(\.replayed).count
        #expect(kills >= targetKills, "killed \(kills) times")
        print("crash: \(kills) kills, \(answers.count) signature requests, \(retried) retried, \(replayed) answered from the idempotency record, \(harness.softHSMRepairs) SoftHSM token files put back")

        // The registry, the SignedData, OpenSSL's verdict.
        for ref in refs {
            let order = try harness.object("/v1/orders/\(ref.id)")
            #expect(order["state"] as? String == "payable", "order \(ref.id): \(order)")
            let signatures = order["signatures"] as? [[String: Any]] ?? []
            #expect(signatures.compactMap { $0["step"] as? String }.sorted() == ["first", "second"], "order \(ref.id): \(signatures)")
            let p7s = try harness.bytes("/v1/orders/\(ref.id)/signature")
            let document = try harness.bytes("/v1/orders/\(ref.id)/document")
            let (verified, signers) = try harness.openssl(p7s: p7s, document: document)
            #expect(verified, "OpenSSL verifies order \(ref.id)'s SignedData")
            #expect(signers == 2, "order \(ref.id)'s SignedData holds \(signers) SignerInfos")
        }

        // Exactly once: one journal entry per signature, and the chain verifies.
        let journal = try harness.journal()
        let signatureEntries = journal.filter { $0["kind"] as? String == "signature" }
        #expect(signatureEntries.count == 2 * refs.count, "journal: \(signatureEntries.count) signature entries for \(2 * refs.count) signatures")
        let chain = try harness.answer("GET", "/v1/audit/verify")
        #expect(chain.status == 200, "audit verify: \(chain.text)")
        #expect(chain.object?["intact"] as? Bool == true, "audit verify: \(chain.text)")
    }
}

/// The daemon under test, restarted on the same state after every kill, and the clients.
private final class Harness: @unchecked Sendable {
    let pki: TestPKI
    private let lock = NSLock()
    private var daemon: DaemonProcess
    let directory: URL
    private var seed = 0

    init(pki: TestPKI) throws {
        self.pki = pki
        // The harness owns the folder (socket, state, log): every daemon started on it leaves it be.
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysignd-crash-\(UUID().uuidString.prefix(8))")
        daemon = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group, directory: directory)
    }

    var socket: String { lock.withLock { daemon.socket } }

    /// Kills the daemon with SIGKILL and starts it again on the same state; returns once it serves.
    func killAndRestart() throws {
        try lock.withLock {
            daemon.killHard()
            repairSoftHSMFiles()
            daemon = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group, directory: directory)
        }
    }

    // MARK: The test bed's software tokens

    /// SoftHSM runs inside paysignd and rewrites a token's `token.object` in place at every
    /// `C_Login` (the PIN-count flags and a generation counter), truncating it first: a SIGKILL in
    /// that window leaves a damaged file, and SoftHSM drops the token at the next start. A smart
    /// card keeps its state on the card, so this is the test bed's fault, not the daemon's; after a
    /// kill, a file whose size no longer matches is put back from the copy taken at the start (same
    /// keys, same PIN), and counted.
    private lazy var softHSMSnapshot: [String: Data] = {
        var files: [String: Data] = [:]
        let tokens = pki.directory.appendingPathComponent("tokens")
        for path in (FileManager.default.enumerator(atPath: tokens.path)?.allObjects as? [String]) ?? [] where path.hasSuffix(".object") {
            files[tokens.appendingPathComponent(path).path] = FileManager.default.contents(atPath: tokens.appendingPathComponent(path).path)
        }
        return files
    }()
    private(set) var softHSMRepairs = 0

    func snapshotSoftHSMFiles() { _ = softHSMSnapshot }

    private func repairSoftHSMFiles() {
        for (path, copy) in softHSMSnapshot {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
            if size != copy.count {
                _ = FileManager.default.createFile(atPath: path, contents: copy, attributes: [.posixPermissions: 0o600])
                softHSMRepairs += 1
            }
        }
    }

    func ensureRunning() throws {
        try lock.withLock {
            if !daemon.isRunning { daemon = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group, directory: directory) }
        }
    }

    func finish() {
        lock.withLock { _ = daemon.stop() }
        try? FileManager.default.removeItem(at: directory)
    }

    // MARK: Requests as root (the administrator), in process

    func answer(_ method: String, _ path: String, json fields: [String: Any]? = nil) throws -> HTTPAnswer {
        try FlowSetup.call(socket, method, path, json: fields)
    }

    func object(_ path: String) throws -> [String: Any] {
        let answer = try answer("GET", path)
        try #require(answer.status == 200, "GET \(path): \(answer.text)")
        return try #require(answer.object)
    }

    func bytes(_ path: String) throws -> Data {
        let answer = try answer("GET", path)
        try #require(answer.status == 200, "GET \(path): \(answer.text)")
        return answer.body
    }

    /// The whole journal, page by page.
    func journal() throws -> [[String: Any]] {
        var entries: [[String: Any]] = []
        var after: Int64 = 0
        while true {
            let answer = try answer("GET", "/v1/audit?after=\(after)&limit=1000")
            try #require(answer.status == 200, "GET /v1/audit: \(answer.text)")
            let page = answer.object?["entries"] as? [[String: Any]] ?? []
            entries += page
            guard let next = (answer.object?["next"] as? NSNumber)?.int64Value, !page.isEmpty else { return entries }
            after = next
        }
    }

    func setUpEntity() throws { try FlowSetup.setUpEntity(socket: socket, pki: pki) }

    struct OrderRef: Sendable {
        var id: Int64
        var fileNumber: String
    }

    /// `count` supplier orders, uploaded by the clerk and reviewed by the reviewer (their own Unix
    /// users, one client process each), before the killer starts.
    func makeOrders(_ count: Int) throws -> [OrderRef] {
        let valueDate = FlowSetup.valueDate()
        var uploads: [Request] = []
        for index in 0..<count {
            seed += 1
            let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
            let csv = try Shell.run("python3", [script, "3", String(90_000 + seed + Int(getpid()) % 1000 * 100)])
            try #require(csv.status == 0, "make-payroll.py: \(csv.stderr)")
            let path = try UnixUsers.shareFile("crash-\(getpid())-\(index).csv", Data(csv.stdout.utf8))
            uploads.append(Request(
                id: "upload-\(index)", method: "POST", path: "/v1/orders?entity=\(FlowSetup.entity)&kind=supplier&valueDate=\(valueDate)",
                key: "crash-upload-\(index)", bodyFile: path, contentType: "text/csv"))
        }
        let created = try run(as: UnixUsers.clerk, requests: uploads)
        var refs: [OrderRef] = []
        for answer in created {
            try #require(answer.status == 201, "upload: \(answer.body.prefix(300))")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
            let id = try #require((object["id"] as? NSNumber)?.int64Value)
            refs.append(OrderRef(id: id, fileNumber: try #require(object["fileNumber"] as? String)))
        }
        let reviews = refs.map {
            Request(id: "review-\($0.id)", method: "POST", path: "/v1/orders/\($0.id)/review", key: "crash-review-\($0.id)",
                    json: ["fileNumber": $0.fileNumber])
        }
        for answer in try run(as: UnixUsers.reviewer, requests: reviews) {
            try #require(answer.status == 200, "review: \(answer.body.prefix(300))")
        }
        return refs
    }

    func signature(_ ref: OrderRef, step: String, token label: String) -> Request {
        var fields: [String: Any] = ["step": step, "token": pki.token(label).uri, "pin": pki.token(label).pin]
        if step == "second" { fields["fileNumber"] = ref.fileNumber }
        return Request(id: "\(step)-\(ref.id)", method: "POST", path: "/v1/orders/\(ref.id)/signatures", key: "crash-\(step)-\(ref.id)", json: fields)
    }

    // MARK: Clients as other Unix users

    struct Request {
        var id: String
        var method: String
        var path: String
        var key: String
        var json: [String: Any]? = nil
        var bodyFile: String? = nil
        var contentType: String = "application/json"

        var line: [String: Any] {
            var object: [String: Any] = ["id": id, "method": method, "path": path, "key": key, "ctype": contentType]
            if let json { object["body"] = json }
            if let bodyFile { object["bodyFile"] = bodyFile }
            return object
        }
    }

    struct Answer: Sendable {
        var id: String
        var status: Int
        var attempts: Int
        var replayed: Bool
        var body: String
    }

    /// One client process as `user` that sends `requests` in order, each until it is answered: a
    /// refused connection, a connection closed before the answer, or a 5xx (a daemon going down)
    /// is sent again, with the same Idempotency-Key, after 50 ms.
    func run(as user: String, requests: [Request]) throws -> [Answer] {
        let input = try requests.map { String(decoding: try JSONSerialization.data(withJSONObject: $0.line), as: UTF8.self) }
            .joined(separator: "\n") + "\n"
        // The socket path stays the same across restarts.
        let result = try UnixUsers.run(as: user, UnixUsers.python, ["-c", Self.client, socket], stdin: Data(input.utf8))
        try #require(result.status == 0, "client as \(user): \(result.stderr.suffix(500))")
        return try result.stdout.split(separator: "\n").map { line in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return Answer(
                id: object["id"] as? String ?? "", status: object["status"] as? Int ?? 0, attempts: object["attempts"] as? Int ?? 0,
                replayed: object["replayed"] as? Bool ?? false, body: object["body"] as? String ?? (object["error"] as? String ?? ""))
        }
    }

    /// OpenSSL's verdict on a detached SignedData over `document` (the PKI's root as the only
    /// anchor), and the number of SignerInfos it holds.
    func openssl(p7s: Data, document: Data) throws -> (Bool, Int) {
        let verified = try pki.openSSLVerifies(p7s: p7s, document: document)
        let p7sURL = FileManager.default.temporaryDirectory.appendingPathComponent("crash-openssl-\(UUID().uuidString.prefix(8)).p7s")
        try p7s.write(to: p7sURL)
        defer { try? FileManager.default.removeItem(at: p7sURL) }
        let print = try Shell.run("openssl", ["cms", "-cmsout", "-print", "-inform", "DER", "-in", p7sURL.path, "-noout"])
        let signers = print.stdout.components(separatedBy: "signatureAlgorithm:").count - 1
        return (verified, signers)
    }

    /// The client: JSON lines in (id, method, path, key, ctype, body | bodyFile), JSON lines out
    /// (id, status, attempts, replayed, body).
    static let client = #"""
        import http.client, json, socket, sys, time
        path_ = sys.argv[1]
        class Unix(http.client.HTTPConnection):
            def connect(self):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(60)
                s.connect(path_)
                self.sock = s
        for line in sys.stdin:
            if not line.strip():
                continue
            req = json.loads(line)
            if "body" in req:
                data = json.dumps(req["body"]).encode()
            else:
                with open(req["bodyFile"], "rb") as f:
                    data = f.read()
            headers = {"Content-Type": req["ctype"], "Idempotency-Key": req["key"]}
            attempts = 0
            while True:
                attempts += 1
                try:
                    conn = Unix("localhost", timeout=60)
                    conn.request(req["method"], req["path"], body=data, headers=headers)
                    r = conn.getresponse()
                    payload = r.read()
                    conn.close()
                    if r.status >= 500:
                        raise OSError("status %d" % r.status)
                    print(json.dumps({"id": req["id"], "status": r.status, "attempts": attempts,
                                      "replayed": r.getheader("Idempotency-Replayed") == "true",
                                      "body": payload.decode("utf-8", "replace")}), flush=True)
                    break
                except (OSError, http.client.HTTPException) as error:
                    if attempts >= 3000:
                        print(json.dumps({"id": req["id"], "status": 0, "attempts": attempts, "error": str(error)}), flush=True)
                        break
                    time.sleep(0.05)
        """#
}

/// Kills the daemon with SIGKILL after a random 0-400 ms of service, restarts it, again and again.
private final class Killer: @unchecked Sendable {
    let harness: Harness
    private let state = Mutex<(running: Bool, kills: Int)>((false, 0))
    private let done = DispatchSemaphore(value: 0)

    init(harness: Harness) { self.harness = harness }

    var kills: Int { state.withLock { $0.kills } }

    func start() {
        state.withLock { $0.running = true }
        Thread { [self] in
            var generator = SystemRandomNumberGenerator()
            while state.withLock({ $0.running }) {
                usleep(UInt32.random(in: 0...400_000, using: &generator))
                guard state.withLock({ $0.running }) else { break }
                do {
                    try harness.killAndRestart()
                    state.withLock { $0.kills += 1 }
                } catch {
                    // A restart that failed is retried at the next turn.
                }
            }
            done.signal()
        }.start()
    }

    /// Stops killing; returns the number of kills.
    func stop() -> Int {
        state.withLock { $0.running = false }
        done.wait()
        return kills
    }
}
