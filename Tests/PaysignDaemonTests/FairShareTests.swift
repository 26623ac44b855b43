import Foundation
import PaysignTestSupport
import Synchronization
import Testing

/// No caller can hurt another (issue 16): one answer per request whatever the client does after
/// an early refusal, and each Unix user's share of connections, body memory and work bounded, so
/// that a signer signs while a stranger holds every connection it can and a user with a role
/// sends bodies as fast as it can.
@Suite("Fair shares: one answer per request, bounded per user", .serialized)
struct FairShareTests {
    @Test("a head over the body limit, or refused from the head, then a half-close: exactly one answer, and the daemon serves on")
    func oneAnswer() async throws {
        let flow = try FlowDaemon()
        defer { flow.close() }
        // The administrator (root) announcing 2 MiB to a 1 MiB route: 413 before the body. A
        // stranger announcing a body to a route it has no role for: 403 from the head. Each then
        // half-closes, so the HTTP parser meets the end of the stream inside the body.
        let cases: [(user: String?, path: String, status: String)] = [
            (nil, "/v1/entities", "413"),
            (UnixUsers.officer3, "/v1/entities", "403"),
            (UnixUsers.clerk, "/v1/verifications", "403"),
        ]
        for (user, path, status) in cases {
            for _ in 0..<5 {
                let arguments = ["-c", Self.halfClose, flow.socket, path, "2097152"]
                let result = try await Self.offThePool {
                    try user.map { try UnixUsers.run(as: $0, UnixUsers.python, arguments) } ?? Shell.run(UnixUsers.python, arguments)
                }
                #expect(result.status == 0, "\(result.stderr)")
                let answers = result.stdout.components(separatedBy: "HTTP/1.1 ").count - 1
                #expect(answers == 1, "\(user ?? "root") \(path): \(answers) answers: \(result.stdout.prefix(600))")
                #expect(result.stdout.hasPrefix("HTTP/1.1 \(status)"), "\(result.stdout.prefix(200))")
            }
        }
        #expect(flow.daemon.isRunning, "paysignd died: \(flow.daemon.log(tail: 10))")
        let health = try FlowSetup.call(flow.socket, "GET", "/v1/health")
        #expect(health.status == 200)
        #expect(!flow.daemon.log(tail: 400).contains("second response"), "NIO saw a second answer: \(flow.daemon.log(tail: 20))")
    }

    @Test("a stranger holding every connection it can and uploading as fast as it can, and a clerk sending bodies as fast as it can: the signer still signs, the daemon's memory stays bounded")
    func signerSignsUnderLoad() async throws {
        // Small shares, so that the test reaches them in seconds: 8 connections a user, 4 MiB of
        // bodies a user, 6 MiB in all (order files up to 1 MiB).
        let flow = try FlowDaemon(arguments: [
            "--max-order-bytes", "1048576", "--max-connections-per-user", "8", "--max-requests-per-user", "4",
            "--body-memory-bytes-per-user", "4194304", "--body-memory-bytes", "6291456",
        ])
        defer { flow.close() }
        let order = try FlowSetup.reviewedOrder(socket: flow.socket, seed: 11)
        let token = flow.pki.token("officer1")
        let seconds = 8.0

        let stranger = Mutex<Shell.Result?>(nil)
        let strangerUploads = Mutex<Shell.Result?>(nil)
        let hog = Mutex<Shell.Result?>(nil)
        let holder = Thread {
            stranger.withLock { $0 = try? UnixUsers.run(as: UnixUsers.officer3, UnixUsers.python, ["-c", Self.holdConnections, flow.socket, "40", String(seconds)]) }
        }
        // The same stranger also uploads as fast as it can: refused from the head, never read.
        let uploader = Thread {
            strangerUploads.withLock { $0 = try? UnixUsers.run(as: UnixUsers.officer3, UnixUsers.python, ["-c", Self.flood, flow.socket, "4", String(seconds), "1000000"]) }
        }
        let flooder = Thread {
            hog.withLock { $0 = try? UnixUsers.run(as: UnixUsers.clerk, UnixUsers.python, ["-c", Self.flood, flow.socket, "6", String(seconds), "1000000"]) }
        }
        holder.start()
        uploader.start()
        flooder.start()
        // Async waits throughout: a test that blocks one of the test process's few cooperative
        // threads for seconds starves the other suites' clocks (their time-outs run out unfairly).
        try await Task.sleep(for: .milliseconds(1500))

        // The signer, meanwhile.
        let started = Date()
        let body = try JSONSerialization.data(withJSONObject: ["step": "first", "token": token.uri, "pin": token.pin])
        let socket = flow.socket
        let answer = try await Self.offThePool {
            try UnixUsers.request(as: UnixUsers.officer1, socket: socket, "POST", "/v1/orders/\(order.id)/signatures", body: body, contentType: "application/json")
        }
        let took = Date().timeIntervalSince(started)
        #expect(answer.status == 201, "the signer: \(answer.status) \(answer.text.prefix(300))")

        let deadline = Date().addingTimeInterval(seconds + 60)
        while (stranger.withLock { $0 == nil } || hog.withLock { $0 == nil } || strangerUploads.withLock { $0 == nil }) && Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        let held = try #require(stranger.withLock { $0 }, "the stranger's script did not finish")
        let flooded = try #require(hog.withLock { $0 }, "the clerk's script did not finish")
        #expect(held.status == 0 && flooded.status == 0, "\(held.stderr) \(flooded.stderr)")
        // The stranger: at most its share held; the rest closed as soon as accepted.
        let holding = try JSONSerialization.jsonObject(with: Data(held.stdout.utf8)) as? [String: Any] ?? [:]
        let open = holding["open"] as? Int ?? -1
        #expect((1...8).contains(open), "the stranger kept \(open) connections open: \(held.stdout)")
        // The stranger's uploads: refused from the head (403), or not even accepted while it holds
        // its share of connections; never read, never judged.
        let uploads = try #require(strangerUploads.withLock { $0 }, "the stranger's uploads did not finish")
        let uploaded = (try JSONSerialization.jsonObject(with: Data(uploads.stdout.utf8)) as? [String: Any])?["statuses"] as? [String: Int] ?? [:]
        #expect(Set(uploaded.keys).isSubset(of: ["403", "none", "reset"]) && uploaded.values.reduce(0, +) > 0, "the stranger's uploads: \(uploaded)")
        // The clerk: some bodies refused for its share (503), the others read and judged; never a
        // connection left hanging.
        let flood = try JSONSerialization.jsonObject(with: Data(flooded.stdout.utf8)) as? [String: Any] ?? [:]
        let statuses = flood["statuses"] as? [String: Int] ?? [:]
        #expect((statuses["503"] ?? 0) > 0, "no body was refused for the clerk's share: \(flood)")
        #expect((statuses["422"] ?? 0) + (statuses["201"] ?? 0) > 0, "no body of the clerk's was read: \(flood)")
        #expect((statuses["none"] ?? 0) == 0, "requests left without an answer: \(flood)")

        // Memory: the peak resident size stays under the README's bound for these shares.
        let peak = Self.peakResidentMiB(flow.daemon.pid)
        print("fair shares: signature in \(String(format: "%.2f", took)) s under load; clerk \(statuses); stranger held \(open), its uploads \(uploaded); peak RSS \(peak) MiB")
        #expect(peak < 256, "paysignd's peak resident size: \(peak) MiB")
        #expect(flow.daemon.isRunning)
        #expect(flow.daemon.log(tail: 2000).components(separatedBy: "one user's share").count - 1 <= 2,
                "the refused connections are logged once a minute, not each: \(flow.daemon.log(tail: 5))")
    }

    /// Runs a blocking call (a client process) on a thread of its own, not a cooperative one.
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    static func peakResidentMiB(_ pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kb = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return -1 }
        return kb / 1024
    }

    /// argv: socket, path, length. Sends a POST head announcing `length` bytes and no body, shuts
    /// its side down (a half-close), and prints everything answered until the daemon closes.
    static let halfClose = #"""
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(sys.argv[1])
        s.sendall(("POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n" % (sys.argv[2], sys.argv[3])).encode())
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        sys.stdout.write(data.decode("utf-8", "replace"))
        """#

    /// argv: socket, count, seconds. Opens `count` connections and keeps them (reopening those the
    /// daemon closes, as an attacker would); prints how many were open at the end.
    static let holdConnections = #"""
        import json, socket, sys, time
        path, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
        def connect():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            s.setblocking(False)
            return s
        conns = [connect() for _ in range(count)]
        end = time.time() + seconds
        reopened = 0
        while time.time() < end:
            time.sleep(0.2)
            for i, s in enumerate(conns):
                try:
                    if s.recv(1) == b"":
                        s.close(); conns[i] = connect(); reopened += 1
                except BlockingIOError:
                    pass
                except OSError:
                    conns[i] = connect(); reopened += 1
        time.sleep(0.3)
        open_ = 0
        for s in conns:
            try:
                if s.recv(1) != b"":
                    open_ += 1
            except BlockingIOError:
                open_ += 1
            except OSError:
                pass
        print(json.dumps({"open": open_, "reopened": reopened}))
        """#

    /// argv: socket, threads, seconds, size. Each thread uploads `size` random bytes as an order
    /// file (in 64 KiB pieces), again and again; prints the count of each status.
    static let flood = #"""
        import json, os, socket, sys, threading, time
        path, threads, seconds, size = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
        body = os.urandom(size)
        counts = {}
        lock = threading.Lock()
        end = time.time() + seconds
        def one():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            status = "none"
            try:
                s.connect(path)
                s.sendall(("POST /v1/orders?entity=EG-0101&kind=supplier&valueDate=2099-01-25 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/csv\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size).encode())
                try:
                    # In pieces, as a slow link would: every body stays in the daemon's memory
                    # while it arrives, so the user's share fills up.
                    for offset in range(0, size, 65536):
                        s.sendall(body[offset:offset + 65536])
                        time.sleep(0.02)
                except OSError:
                    pass
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"HTTP/1.1 "):
                    status = data[9:12].decode()
            except OSError:
                status = "reset"
            finally:
                s.close()
            with lock:
                counts[status] = counts.get(status, 0) + 1
        def loop():
            while time.time() < end:
                one()
        ts = [threading.Thread(target=loop) for _ in range(threads)]
        for t in ts: t.start()
        for t in ts: t.join()
        print(json.dumps({"statuses": counts}))
        """#
}
