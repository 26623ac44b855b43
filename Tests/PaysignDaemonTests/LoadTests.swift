import Foundation
import PaysignClient
import PaysignTestSupport
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Load (issue 8): 64 clients at once against one paysignd for a sustained run, mixing reads (the
/// administrator's: health, order lists, orders, the journal), first signatures by two officers
/// and second signatures by the ministry, each signer as its own Unix user. Every answer must be a
/// success (no refusal is expected: each order is signed once, by the right person); the p50 and
/// p99 latency of each kind are printed; the daemon's resident memory is sampled every second and
/// must stay flat (the last sample within 1.5× the first after warm-up, plus 20 MB).
///
/// `PAYSIGN_LOAD_SECONDS` sets the run (10 s in `make test`; `make soak` runs it for longer).
@Suite("Load: 64 clients mixing reads and signatures; no unexpected error, p99 reported, memory flat", .serialized)
struct LoadTests {
    @Test("64 concurrent clients (40 readers, 3 × 8 signers) for a sustained run: every answer a success, RSS flat")
    func sixtyFourClients() throws {
        try UnixUsers.ensure()
        let seconds = Double(ProcessInfo.processInfo.environment["PAYSIGN_LOAD_SECONDS"] ?? "") ?? 10
        let pki = try TestPKI.separate()
        defer { try? FileManager.default.removeItem(at: pki.directory) }
        let daemon = try DaemonProcess(pki: pki, socketGroup: UnixUsers.group)
        defer { daemon.stop() }
        let bench = LoadBench(pki: pki, daemon: daemon)
        try bench.setUpEntity()

        // Pools: orders for each first signer, and orders already first-signed for the ministry.
        let perSigner = max(60, Int(seconds * 8))
        let poolA = try bench.reviewedOrders(perSigner, tag: "a")
        let poolB = try bench.reviewedOrders(perSigner, tag: "b")
        let poolC = try bench.reviewedOrders(perSigner, tag: "c")
        let preSigned = try bench.sign(as: UnixUsers.officer1, token: "officer1", step: "first", orders: poolC, threads: 4, seconds: 600)
        try #require(preSigned.failures.isEmpty, "pre-signing: \(preSigned.failures.prefix(3))")

        // The run.
        let sampler = RSSSampler(pid: daemon.pid)
        sampler.start()
        let readers = Readers(socket: daemon.socket, orderIDs: (poolA + poolB + poolC).map(\.id))
        readers.start(threads: 40)
        let signers: [@Sendable () throws -> LoadResult] = [
            { try bench.sign(as: UnixUsers.officer1, token: "officer1", step: "first", orders: poolA, threads: 8, seconds: seconds) },
            { try bench.sign(as: UnixUsers.officer2, token: "officer2", step: "first", orders: poolB, threads: 8, seconds: seconds) },
            { try bench.sign(as: UnixUsers.ministry, token: "ministry", step: "second", orders: poolC, threads: 8, seconds: seconds) },
        ]
        let results = try Concurrently.run(signers)
        // The readers go on until the run's time is up, whether or not the pools ran dry.
        let reads = readers.stop(after: seconds)
        let samples = sampler.stop()

        for (name, result) in zip(["officer1 first", "officer2 first", "ministry second"], results) {
            #expect(result.failures.isEmpty, "\(name): \(result.failures.count) failed, e.g. \(result.failures.prefix(3))")
            #expect(result.count > 0, "\(name) signed nothing")
            print("load: \(name): \(result.count) signatures, p50 \(Self.ms(result.p50)) ms, p99 \(Self.ms(result.p99)) ms")
        }
        #expect(reads.failures.isEmpty, "reads: \(reads.failures.count) failed, e.g. \(reads.failures.prefix(3))")
        #expect(reads.count > 0)
        print("load: reads: \(reads.count) requests by 40 clients, p50 \(Self.ms(reads.p50)) ms, p99 \(Self.ms(reads.p99)) ms")
        #expect(daemon.isRunning)
        #expect(try DaemonClient(socketPath: daemon.socket).get("/v1/health").status == 200)

        // Memory: flat after warm-up (the first quarter of the run is warm-up).
        try #require(samples.count >= 3, "RSS samples: \(samples)")
        let warm = samples[max(1, samples.count / 4)]
        let last = samples.last!
        print("load: RSS \(samples.first!) MB at start, \(warm) MB after warm-up, \(last) MB at the end, peak \(samples.max()!) MB")
        #expect(last <= warm * 1.5 + 20, "RSS grew from \(warm) MB to \(last) MB: \(samples)")
    }

    static func ms(_ value: Double) -> String { String(format: "%.1f", value) }
}

/// Latencies and failures of one kind of request.
struct LoadResult: Sendable {
    var count = 0
    var p50 = 0.0
    var p99 = 0.0
    var failures: [String] = []

    init(latencies: [Double], failures: [String]) {
        let sorted = latencies.sorted()
        count = sorted.count
        if !sorted.isEmpty {
            p50 = sorted[sorted.count / 2]
            p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
        }
        self.failures = failures
    }
}

/// The daemon and the flow's people, and the clients that sign as them.
final class LoadBench: Sendable {
    static let entity = FlowSetup.entity
    let pki: TestPKI
    let daemon: DaemonProcess

    init(pki: TestPKI, daemon: DaemonProcess) {
        self.pki = pki
        self.daemon = daemon
    }

    func setUpEntity() throws { try FlowSetup.setUpEntity(socket: daemon.socket, pki: pki) }

    struct OrderRef: Sendable {
        var id: Int64
        var fileNumber: String
    }

    /// `count` supplier orders of one line each, uploaded by the clerk and reviewed (4 threads each).
    func reviewedOrders(_ count: Int, tag: String) throws -> [OrderRef] {
        let valueDate = FlowSetup.valueDate()
        // One payroll of `count` lines, cut into `count` one-line files: every file differs.
        let script = TestPKI.repositoryRoot.appendingPathComponent("scripts/make-payroll.py").path
        let seed = 500_000 + Int(getpid() % 1000) * 10 + Int(tag.unicodeScalars.first!.value % 10)
        let payroll = try Shell.run("python3", [script, String(count), String(seed)])
        try #require(payroll.status == 0, "make-payroll.py: \(payroll.stderr)")
        let lines = payroll.stdout.split(separator: "\n", omittingEmptySubsequences: true)
        try #require(lines.count == count + 1, "make-payroll.py wrote \(lines.count) lines")
        var uploads: [[String: Any]] = []
        for (index, line) in lines.dropFirst().enumerated() {
            let path = try UnixUsers.shareFile("load-\(getpid())-\(tag)-\(index).csv", Data("\(lines[0])\n\(line)\n".utf8))
            uploads.append(["id": "\(tag)\(index)", "method": "POST", "bodyFile": path, "ctype": "text/csv",
                            "path": "/v1/orders?entity=\(Self.entity)&kind=supplier&valueDate=\(valueDate)"])
        }
        let created = try run(as: UnixUsers.clerk, uploads, threads: 4, seconds: 600)
        try #require(created.failures.isEmpty, "uploads: \(created.failures.prefix(3))")
        let refs = try created.bodies.map { body -> OrderRef in
            let object = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
            return OrderRef(id: try #require((object["id"] as? NSNumber)?.int64Value), fileNumber: try #require(object["fileNumber"] as? String))
        }
        let reviews: [[String: Any]] = refs.map {
            ["id": "r\($0.id)", "method": "POST", "path": "/v1/orders/\($0.id)/review", "body": ["fileNumber": $0.fileNumber], "ctype": "application/json"]
        }
        let reviewed = try run(as: UnixUsers.reviewer, reviews, threads: 4, seconds: 600)
        try #require(reviewed.failures.isEmpty, "reviews: \(reviewed.failures.prefix(3))")
        return refs
    }

    func sign(as user: String, token label: String, step: String, orders: [OrderRef], threads: Int, seconds: Double) throws -> LoadResult {
        let requests: [[String: Any]] = orders.map { ref in
            var fields: [String: Any] = ["step": step, "token": pki.token(label).uri, "pin": pki.token(label).pin]
            if step == "second" { fields["fileNumber"] = ref.fileNumber }
            return ["id": "\(step)\(ref.id)", "method": "POST", "path": "/v1/orders/\(ref.id)/signatures", "body": fields, "ctype": "application/json"]
        }
        return try run(as: user, requests, threads: threads, seconds: seconds).result
    }

    struct Run {
        var result: LoadResult
        var bodies: [String]
        var failures: [String] { result.failures }
    }

    /// One client process as `user` with `threads` threads taking `requests` in order until they
    /// run out or `seconds` pass; each request once. Success is a 2xx answer.
    func run(as user: String, _ requests: [[String: Any]], threads: Int, seconds: Double) throws -> Run {
        let input = try requests.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }.joined(separator: "\n") + "\n"
        let result = try UnixUsers.run(as: user, UnixUsers.python, ["-c", Self.client, daemon.socket, String(threads), String(seconds)],
                                       stdin: Data(input.utf8))
        try #require(result.status == 0, "client as \(user): \(result.stderr.suffix(500))")
        var latencies: [Double] = []
        var failures: [String] = []
        var bodies: [String] = []
        for line in result.stdout.split(separator: "\n") {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { continue }
            let status = object["status"] as? Int ?? 0
            if (200..<300).contains(status) {
                latencies.append(object["ms"] as? Double ?? 0)
                bodies.append(object["body"] as? String ?? "")
            } else {
                failures.append("\(object["id"] ?? "?"): \(status) \((object["body"] as? String ?? object["error"] as? String ?? "").prefix(200))")
            }
        }
        return Run(result: LoadResult(latencies: latencies, failures: failures), bodies: bodies)
    }

    /// argv: socket, threads, seconds; JSON lines in (id, method, path, ctype, body | bodyFile);
    /// JSON lines out (id, status, ms, body), in the order of the input.
    static let client = #"""
        import http.client, json, socket, sys, threading, time
        path_, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
        class Unix(http.client.HTTPConnection):
            def connect(self):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(120)
                s.connect(path_)
                self.sock = s
        requests = [json.loads(l) for l in sys.stdin if l.strip()]
        results = [None] * len(requests)
        lock = threading.Lock()
        state = {"next": 0}
        deadline = time.monotonic() + seconds
        def work():
            while time.monotonic() < deadline:
                with lock:
                    i = state["next"]
                    state["next"] += 1
                if i >= len(requests):
                    return
                req = requests[i]
                if "body" in req:
                    data = json.dumps(req["body"]).encode()
                else:
                    with open(req["bodyFile"], "rb") as f:
                        data = f.read()
                t0 = time.monotonic()
                try:
                    conn = Unix("localhost", timeout=120)
                    try:
                        conn.request(req["method"], req["path"], body=data, headers={"Content-Type": req["ctype"]})
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # answered from the head and closed before the body was all sent: read the answer
                    r = conn.getresponse()
                    payload = r.read()
                    conn.close()
                    results[i] = {"id": req["id"], "status": r.status, "ms": (time.monotonic() - t0) * 1000,
                                  "body": payload.decode("utf-8", "replace")}
                except Exception as error:
                    results[i] = {"id": req["id"], "status": 0, "error": str(error)}
        pool = [threading.Thread(target=work) for _ in range(threads)]
        for t in pool: t.start()
        for t in pool: t.join()
        for r in results:
            if r is not None:
                sys.stdout.write(json.dumps(r) + "\n")
        """#
}

/// Readers as root (an administrator), in process: health, the order list, single orders, the
/// journal's last page, round and round until stopped.
private final class Readers: Sendable {
    let socket: String
    let orderIDs: [Int64]
    private let state = Mutex<(running: Bool, latencies: [Double], failures: [String])>((false, [], []))
    private let group = DispatchGroup()
    private let started = Mutex<ContinuousClock.Instant?>(nil)

    init(socket: String, orderIDs: [Int64]) {
        self.socket = socket
        self.orderIDs = orderIDs
    }

    func start(threads: Int) {
        state.withLock { $0.running = true }
        started.withLock { $0 = .now }
        for thread in 0..<threads {
            group.enter()
            Thread { [self] in
                var mine: [Double] = []
                var failed: [String] = []
                var turn = thread
                while state.withLock({ $0.running }) {
                    turn += 1
                    let path: String
                    switch turn % 4 {
                    case 0: path = "/v1/health"
                    case 1: path = "/v1/orders?limit=50"
                    case 2: path = "/v1/orders/\(orderIDs[turn % orderIDs.count])"
                    default: path = "/v1/audit?limit=20"
                    }
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    do {
                        let response = try DaemonClient(socketPath: socket).get(path)
                        if response.status == 200 {
                            mine.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                        } else {
                            failed.append("GET \(path): \(response.status)")
                        }
                    } catch {
                        failed.append("GET \(path): \(error)")
                    }
                }
                state.withLock {
                    $0.latencies += mine
                    $0.failures += failed
                }
                group.leave()
            }.start()
        }
    }

    /// Stops once `seconds` have passed since `start`, and returns the figures.
    func stop(after seconds: Double) -> LoadResult {
        if let begun = started.withLock({ $0 }) {
            let remaining = Duration.seconds(seconds) - (ContinuousClock.now - begun)
            if remaining > .zero { Thread.sleep(forTimeInterval: Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18) }
        }
        state.withLock { $0.running = false }
        group.wait()
        return state.withLock { LoadResult(latencies: $0.latencies, failures: $0.failures) }
    }
}

/// The daemon's VmRSS in MB, once a second.
private final class RSSSampler: Sendable {
    let pid: Int32
    private let state = Mutex<(running: Bool, samples: [Double])>((false, []))
    private let done = DispatchSemaphore(value: 0)

    init(pid: Int32) { self.pid = pid }

    func start() {
        state.withLock { $0.running = true }
        Thread { [self] in
            while state.withLock({ $0.running }) {
                if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                    let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                    let kb = Double(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
                {
                    state.withLock { $0.samples.append((kb / 1024 * 10).rounded() / 10) }
                }
                Thread.sleep(forTimeInterval: 1)
            }
            done.signal()
        }.start()
    }

    func stop() -> [Double] {
        state.withLock { $0.running = false }
        done.wait()
        return state.withLock { $0.samples }
    }
}
