public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The people of a payment order as distinct Unix users (`Tests/testbed/users.sh`): the daemon
/// tells them apart by the socket's peer credentials (SO_PEERCRED), so a test speaks as the clerk,
/// the reviewer or an officer by running a client process as that user, with
/// `setpriv --reuid=USER --regid=nogroup --clear-groups` (group `nogroup` owns the socket of a
/// `DaemonProcess(socketGroup: "nogroup")`). Needs root, as `make test` runs.
public enum UnixUsers {
    public static let clerk = "paysign-clerk"
    public static let reviewer = "paysign-reviewer"
    public static let officer1 = "paysign-officer1"
    public static let officer2 = "paysign-officer2"
    public static let officer3 = "paysign-officer3"
    public static let ministry = "paysign-ministry"
    /// The certification authority's operator (D6): only it activates a token.
    public static let authority = "paysign-authority"
    /// The group the clients run with, and the daemon's socket group.
    public static let group = "nogroup"

    static let ensured: Result<Void, any Error> = Result {
        guard getuid() == 0 else {
            throw Shell.Failure(message: "the payment-order flow tests run clients as other Unix users: run them as root (make test)")
        }
        let script = TestPKI.repositoryRoot.appendingPathComponent("Tests/testbed/users.sh").path
        let result = try Shell.run(script, ["ensure"])
        guard result.status == 0 else { throw Shell.Failure(message: "users.sh ensure failed: \(result.stderr)") }
    }

    /// Creates the accounts when missing (once per test process), so a fresh machine works.
    public static func ensure() throws { try ensured.get() }

    static let shared: Result<URL, any Error> = Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paysign-users-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        chmod(directory.path, 0o755)
        return directory
    }

    /// A folder every user can enter (0755), for files the users read (an order file to upload).
    public static func sharedDirectory() throws -> URL { try shared.get() }

    static let client: Result<String, any Error> = Result {
        let binary = URL(fileURLWithPath: TestPKI.paysignBinary).resolvingSymlinksInPath().path
        if reachableByAll(binary) { return binary }
        // The build folder is closed to other users: a copy in the shared folder.
        let copy = try sharedDirectory().appendingPathComponent("paysign")
        try? FileManager.default.removeItem(at: copy)
        try FileManager.default.copyItem(atPath: binary, toPath: copy.path)
        chmod(copy.path, 0o755)
        return copy.path
    }

    /// The `paysign` client as every user can run it: the built one when its folders let
    /// everyone through, else a copy in the shared folder.
    public static func paysignPath() throws -> String { try client.get() }

    /// Every folder on the way searchable by others, and the file executable by them.
    static func reachableByAll(_ path: String) -> Bool {
        func othersMay(_ path: String) -> Bool {
            let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int ?? 0
            return mode & 0o001 != 0
        }
        guard othersMay(path) else { return false }
        var folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        while true {
            guard othersMay(folder.path) else { return false }
            if folder.path == "/" { return true }
            folder = folder.deletingLastPathComponent()
        }
    }

    /// Writes `data` into the shared folder, readable by every user (an order file to upload).
    public static func shareFile(_ name: String, _ data: Data) throws -> String {
        let url = try sharedDirectory().appendingPathComponent(name)
        try data.write(to: url)
        chmod(url.path, 0o644)
        return url.path
    }

    /// Runs a program as `user` (group nogroup, no supplementary groups), with a minimal
    /// environment (root's may point into /root).
    public static func run(as user: String, _ executable: String, _ arguments: [String], stdin: Data? = nil,
                           environment extra: [String: String] = [:]) throws -> Shell.Result {
        try ensure()
        return try Shell.run(
            "/usr/bin/setpriv", ["--reuid=\(user)", "--regid=\(group)", "--clear-groups", executable] + arguments,
            stdin: stdin, environment: ["PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"].merging(extra) { $1 })
    }

    /// The `paysign` client as `user`.
    public static func paysign(as user: String, _ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) throws -> Shell.Result {
        try run(as: user, try paysignPath(), arguments, stdin: stdin, environment: environment)
    }

    /// One raw HTTP request over the daemon's socket as `user` (Python's http.client, which
    /// decodes chunked answers): the status, every header and the exact body bytes come back.
    public static func request(
        as user: String, socket: String, _ method: String, _ path: String, body: Data? = nil, contentType: String? = nil,
        headers: [(String, String)] = []
    ) throws -> HTTPAnswer {
        let pairs = try JSONSerialization.data(withJSONObject: headers.map { [$0.0, $0.1] })
        let result = try run(
            as: user, python, ["-c", httpScript, socket, method, path, contentType ?? "", String(decoding: pairs, as: UTF8.self)],
            stdin: body ?? Data())
        guard result.status == 0 else {
            throw Shell.Failure(message: "\(method) \(path) as \(user) failed: \(result.stderr)")
        }
        return try HTTPAnswer(scriptOutput: result.stdout)
    }

    public static let python = FileManager.default.fileExists(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "/usr/bin/env"

    /// argv: socket, method, path, content type ("" for none), headers as JSON pairs; the body on
    /// stdin. Prints the status, the headers one a line, a blank line, the body in base64.
    static let httpScript = #"""
        import base64, http.client, json, socket, sys
        path_, method, target, ctype, pairs = sys.argv[1:6]
        body = sys.stdin.buffer.read()
        class Unix(http.client.HTTPConnection):
            def connect(self):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(120)
                s.connect(path_)
                self.sock = s
        conn = Unix("localhost", timeout=120)
        headers = {k: v for k, v in json.loads(pairs)}
        if ctype:
            headers["Content-Type"] = ctype
        try:
            conn.request(method, target, body=body if (body or method in ("POST", "PUT")) else None, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            # The daemon answered from the head (a refusal) and closed before the body was all
            # sent: its answer is there to read.
            pass
        r = conn.getresponse()
        data = r.read()
        out = [str(r.status)] + ["%s: %s" % (k, v) for k, v in r.getheaders()] + ["", base64.b64encode(data).decode()]
        sys.stdout.write("\n".join(out) + "\n")
        """#
}

/// An answer from the daemon: status, headers (names in lower case), the body's exact bytes.
public struct HTTPAnswer: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: Data

    public init(status: Int, headers: [String: String], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    init(scriptOutput text: String) throws {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.first, let status = Int(first), let blank = lines.firstIndex(of: "") else {
            throw Shell.Failure(message: "unreadable answer: \(text.prefix(200))")
        }
        var headers: [String: String] = [:]
        for line in lines[1..<blank] {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        lines = Array(lines[(blank + 1)...])
        guard let body = Data(base64Encoded: lines.first ?? "") else {
            throw Shell.Failure(message: "unreadable body: \(text.prefix(200))")
        }
        self.init(status: status, headers: headers, body: body)
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as a JSON object (nil when it is not one).
    public var object: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
    public var array: [[String: Any]]? { (try? JSONSerialization.jsonObject(with: body)) as? [[String: Any]] }

    /// The problem-details fields of a refusal.
    public var problemType: String? { status >= 400 ? object?["type"] as? String : nil }
    public var rule: String? { object?["rule"] as? String }
    public var detail: String? { object?["detail"] as? String }
}
