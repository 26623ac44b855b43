public import Foundation
import PaysignText
package import PaysignAPI
#if canImport(Glibc)
import Glibc
#endif

/// A failure to talk to the daemon at all (as opposed to the daemon refusing).
public struct ConnectionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The catalog key of the sentence (`connection.…` in `Catalog/*.yaml`) and its values, for a
    /// client that speaks another language; `message` is the English.
    public var key: String?
    public var values: [String: String] = [:]

    init(message: String, requestSent: Bool = false, refusedStatus: Int? = nil) {
        self.message = message
        self.requestSent = requestSent
        self.refusedStatus = refusedStatus
    }

    /// A failure whose sentence is in the catalogs: the English one is `message`.
    init(key: String, values: [String: String] = [:]) {
        self.init(message: Words(.en)(key, values: values))
        self.key = key
        self.values = values
    }
    /// The whole request was sent before the connection failed: the daemon may have acted on it
    /// (a certificate issued, an order signed) without the answer reaching the client.
    public var requestSent = false
    /// The daemon answered, refusing (a 4xx status on a stream, which has no `DaemonResponse`).
    public var refusedStatus: Int?
    public var description: String { message }
}

/// An answer from the daemon.
public struct DaemonResponse: Sendable {
    public var status: Int
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: Data

    /// The problem details of a refusal (RFC 9457), decoded with the type generated from the API's
    /// document (`Components.Schemas.Problem`), when the body is one.
    package var problem: Components.Schemas.Problem? {
        guard status >= 400 else { return nil }
        return try? JSONDecoder().decode(Components.Schemas.Problem.self, from: body)
    }
}

extension Components.Schemas.Problem {
    /// The problem's type, `urn:paysign:problem:…`.
    package var type: String { _type.rawValue }
}

extension Components.Schemas.Violation {
    /// `line 7, amount_piasters (D12): …`
    package var sentence: String {
        var head = [line.map { "line \($0)" }, field].compactMap { $0 }.joined(separator: ", ")
        if let rule { head += head.isEmpty ? "(\(rule))" : " (\(rule))" }
        return head.isEmpty ? message : "\(head): \(message)"
    }
}

/// HTTP/1.1 over the daemon's Unix socket: one connection per request, `Connection: close`.
/// Plain POSIX sockets: the client starts in milliseconds and needs no event loop.
public struct DaemonClient: Sendable {
    public var socketPath: String
    /// How long to wait for the daemon to answer (a token may take seconds to sign).
    public var timeout: Duration

    public init(socketPath: String, timeout: Duration = .seconds(120)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// The socket from `--socket`, else `PAYSIGN_SOCKET`, else `/run/paysign/paysign.sock`.
    public static func defaultSocketPath(_ explicit: String? = nil) -> String {
        explicit ?? ProcessInfo.processInfo.environment["PAYSIGN_SOCKET"] ?? "/run/paysign/paysign.sock"
    }

    public func get(_ path: String) throws -> DaemonResponse { try send("GET", path) }

    public func post<T: Encodable>(_ path: String, _ value: T) throws -> DaemonResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try send("POST", path, body: try encoder.encode(value), contentType: "application/json")
    }

    public func send(_ method: String, _ path: String, body: Data? = nil, contentType: String? = nil,
                     headers extra: [(String, String)] = []) throws -> DaemonResponse {
        let fd = try connect(receiveTimeout: timeout)
        defer { close(fd) }
        // The daemon may answer from the head and close before the body is all sent (a refusal,
        // a body over the limit): the write then fails, and the answer is still there to read.
        var unsent: ConnectionError?
        do {
            try writeRequest(fd, method: method, path: path, body: body, contentType: contentType, extra: extra)
        } catch let error as ConnectionError {
            unsent = error
        }
        do {
            var reader = Reader(fd: fd)
            let (status, headers) = try reader.readHead()
            let bodyData: Data
            if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
                var all = Data()
                while let chunk = try reader.readChunk() { all.append(chunk) }
                bodyData = all
            } else if let length = headers["content-length"].flatMap(Int.init) {
                bodyData = try reader.read(exactly: length)
            } else {
                bodyData = try reader.readToEnd()
            }
            return DaemonResponse(status: status, headers: headers, body: bodyData)
        } catch var error as ConnectionError {
            // No answer after a failed write: the write's failure is the one to report.
            if let unsent { throw unsent }
            error.requestSent = true
            throw error
        }
    }

    /// Reads server-sent events from `path`, calling `onEvent(name, data)` for each until it
    /// returns false or the daemon closes the stream.
    public func events(_ path: String, onEvent: (String, String) throws -> Bool) throws -> Int {
        let fd = try connect(receiveTimeout: nil)
        defer { close(fd) }
        try writeRequest(fd, method: "GET", path: path, body: nil, contentType: nil, extra: [("Accept", "text/event-stream")])
        var reader = Reader(fd: fd)
        let (status, headers) = try reader.readHead()
        guard status == 200 else {
            let body = headers["transfer-encoding"]?.contains("chunked") == true ? (try reader.readChunk() ?? Data()) : try reader.readToEnd()
            let problem = try? JSONDecoder().decode(Components.Schemas.Problem.self, from: body)
            throw ConnectionError(
                message: problem.map { $0.detail + ($0.rule.map { " (rule \($0))" } ?? "") } ?? "the daemon answered \(status)",
                refusedStatus: problem == nil ? nil : status)
        }
        var pending = ""
        var name = "message"
        var data: [String] = []
        while let chunk = try reader.readChunk() {
            pending += String(decoding: chunk, as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                let line = String(pending[..<newline])
                pending = String(pending[pending.index(after: newline)...])
                if line.isEmpty {
                    if !data.isEmpty {
                        if try !onEvent(name, data.joined(separator: "\n")) { return status }
                    }
                    name = "message"
                    data = []
                } else if line.hasPrefix("event:") {
                    name = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
                } else if line.hasPrefix("data:") {
                    data.append(String(line.dropFirst(5)).trimmingCharacters(in: .whitespaces))
                }
            }
        }
        return status
    }

    // MARK: Socket

    private func connect(receiveTimeout: Duration?) throws -> Int32 {
        let fd: Int32
        switch UnixSocket.connect(socketPath) {
        case .success(let connected): fd = connected
        case .failure(let error):
            switch error.code {
            case ENOENT:
                throw ConnectionError(key: "connection.no-socket", values: ["socket": socketPath])
            case ECONNREFUSED:
                throw ConnectionError(key: "connection.refused", values: ["socket": socketPath])
            case EACCES, EPERM:
                throw ConnectionError(key: "connection.denied", values: ["socket": socketPath])
            case ENAMETOOLONG:
                throw ConnectionError(message: "the socket path \(socketPath) is too long")
            default:
                throw ConnectionError(message: "cannot connect to \(socketPath): \(error.text)")
            }
        }
        if let wait = receiveTimeout {
            var tv = timeval(tv_sec: Int(wait.components.seconds), tv_usec: Int(wait.components.attoseconds / 1_000_000_000_000))
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        return fd
    }

    private func writeRequest(_ fd: Int32, method: String, path: String, body: Data?, contentType: String?, extra: [(String, String)]) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: paysignd\r\nConnection: close\r\nUser-Agent: paysign\r\n"
        if let contentType { head += "Content-Type: \(contentType)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        for (name, value) in extra { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        // The head and the body go out from their own storage, one after the other: a body that
        // carries a PIN (`PINBody`, wiped by its owner) is never copied into a buffer of ours.
        try Self.sendAll(fd, Array(head.utf8))
        if let body { try Self.sendAll(fd, body) }
    }

    /// Writes every byte of `bytes`, retrying on EINTR.
    private static func sendAll(_ fd: Int32, _ bytes: some ContiguousBytes) throws {
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ConnectionError(message: "the daemon closed the connection while the request was sent")
                }
                offset += n
            }
        }
    }

    /// Buffered reads from the socket, with EINTR retried and a clear sentence on a time-out.
    struct Reader {
        let fd: Int32
        var buffer: [UInt8] = []
        var start = 0
        var eof = false

        init(fd: Int32) { self.fd = fd }

        mutating func fill() throws {
            if start > 0 && start == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                start = 0
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = recv(fd, &chunk, chunk.count, 0)
                if n > 0 {
                    buffer += chunk[0..<n]
                    return
                }
                if n == 0 {
                    eof = true
                    return
                }
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw ConnectionError(key: "connection.timeout")
                }
                throw ConnectionError(message: "reading from paysignd failed: \(String(cString: strerror(errno)))")
            }
        }

        mutating func readLine() throws -> String? {
            while true {
                if let index = buffer[start...].firstIndex(of: UInt8(ascii: "\n")) {
                    var line = buffer[start..<index]
                    if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
                    start = index + 1
                    return String(decoding: line, as: UTF8.self)
                }
                if eof { return nil }
                try fill()
            }
        }

        mutating func readHead() throws -> (Int, [String: String]) {
            guard let statusLine = try readLine() else {
                throw ConnectionError(key: "connection.closed")
            }
            let parts = statusLine.split(separator: " ", maxSplits: 2)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
                throw ConnectionError(message: "paysignd answered something that is not HTTP")
            }
            var headers: [String: String] = [:]
            while let line = try readLine(), !line.isEmpty {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            return (status, headers)
        }

        mutating func read(exactly count: Int) throws -> Data {
            while buffer.count - start < count {
                if eof { throw ConnectionError(message: "paysignd closed the connection in the middle of an answer") }
                try fill()
            }
            defer { start += count }
            return Data(buffer[start..<start + count])
        }

        mutating func readToEnd() throws -> Data {
            while !eof { try fill() }
            defer { start = buffer.count }
            return Data(buffer[start...])
        }

        /// One chunk of a chunked body, or nil after the last.
        mutating func readChunk() throws -> Data? {
            guard let sizeLine = try readLine() else { return nil }
            guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else {
                throw ConnectionError(message: "paysignd sent a malformed chunk")
            }
            if size == 0 {
                _ = try readLine()
                return nil
            }
            let data = try read(exactly: size)
            _ = try readLine()
            return data
        }
    }
}
