import Foundation
import Logging
import PaysignPCSC
import Synchronization
import Testing

/// The real PC/SC stack, driven through `Tests/testbed/pcsc.sh` (pcscd, vpcd's two virtual
/// readers, and the vicc card emulator). No mocks: every test talks to a real pcscd.
enum Testbed {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("testbed/pcsc.sh").path

    /// vpcd's readers and the TCP ports their card emulators connect to.
    static let readerPorts: [(reader: String, port: Int)] = [("Virtual PCD 00 00", 35963), ("Virtual PCD 00 01", 35964)]

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Fails the test with one clear sentence unless it runs as root (pcscd must be started and stopped).
    static func requireRoot() throws {
        try #require(
            getuid() == 0,
            "the PC/SC tests drive a real pcscd and must run as root (e.g. 'sudo swift test --filter PaysignPCSCTests')")
    }

    /// Runs `pcsc.sh` with `arguments` on a thread of its own (never blocking a cooperative
    /// thread); returns its standard output without the final newline.
    @discardableResult
    static func run(_ arguments: String...) async throws -> String {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
            let thread = Thread { continuation.resume(with: Result { try runBlocking(arguments) }) }
            thread.name = "pcsc.sh"
            thread.start()
        }
    }

    /// `run` for `defer` blocks, which cannot wait for a task.
    static func runNow(_ arguments: String...) {
        _ = try? runBlocking(arguments)
    }

    private static func runBlocking(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script] + arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // pcsc.sh sends its background children's output elsewhere, so the pipes end with the script.
        let out = readAll(output.fileHandleForReading.fileDescriptor)
        let err = readAll(errors.fileHandleForReading.fileDescriptor)
        process.waitUntilExit()
        let text = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationStatus == 0 else {
            let message = String(decoding: err, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw Failure(description: "pcsc.sh \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(message)")
        }
        return text
    }

    /// read(2) to the end, retrying on EINTR (which Process's SIGCHLD handling can cause).
    private static func readAll(_ fd: Int32) -> Data {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                data.append(contentsOf: buffer[0..<count])
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                return data
            }
        }
    }

    /// A vpcd reader with no card in it, preferring "Virtual PCD 00 00". pcscd notices a card
    /// removed by the previous test only at its next poll (every 0.4 s), so this waits up to 2 s for
    /// "00 00"; an emulator started outside the tests may also sit there (the tests never kill what
    /// they did not start), and then "00 01" serves.
    static func freeReader() async throws -> (reader: String, port: Int) {
        let deadline = ContinuousClock.now + .seconds(2)
        while true {
            let readers = try PCSC.readers()
            let free = readerPorts.filter { candidate in
                readers.contains { $0.name == candidate.reader && !$0.cardPresent }
            }
            if let first = free.first, first.port == readerPorts[0].port { return first }
            if ContinuousClock.now >= deadline {
                guard let other = free.first else {
                    throw Failure(description: "both virtual readers hold a card from an emulator the tests did not start")
                }
                print("note: \(readerPorts[0].reader) holds a card from an emulator the tests did not start; using \(other.reader)")
                return other
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Every event a monitor's stream delivers, with the instant it arrived.
final class EventLog: Sendable {
    typealias Entry = (event: ReaderEvent, at: ContinuousClock.Instant)
    private let entries = Mutex<[Entry]>([])
    private let endedAt = Mutex<ContinuousClock.Instant?>(nil)

    /// Starts consuming `stream` in a task of its own.
    static func consuming(_ stream: AsyncStream<ReaderEvent>) -> (EventLog, Task<Void, Never>) {
        let log = EventLog()
        let task = Task {
            for await event in stream {
                let now = ContinuousClock.now
                log.entries.withLock { $0.append((event, now)) }
            }
            log.endedAt.withLock { $0 = .now }
        }
        return (log, task)
    }

    var count: Int { entries.withLock { $0.count } }
    var events: [ReaderEvent] { entries.withLock { $0.map(\.event) } }
    var ended: ContinuousClock.Instant? { endedAt.withLock { $0 } }

    /// The first entry at index `from` or later that matches, waiting at most `timeout` for it.
    func first(
        from start: Int = 0, within timeout: Duration, where matches: (ReaderEvent) -> Bool
    ) async -> (index: Int, entry: Entry)? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let found = entries.withLock { entries -> (Int, Entry)? in
                guard start < entries.count else { return nil }
                for index in start..<entries.count where matches(entries[index].event) { return (index, entries[index]) }
                return nil
            }
            if let found { return found }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits at most `timeout` for the stream to end.
    func waitForEnd(within timeout: Duration) async -> ContinuousClock.Instant? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let ended { return ended }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return ended
    }
}

/// A swift-log handler that keeps what it is given, to check what the monitor logs.
struct CapturingLogHandler: LogHandler {
    final class Store: Sendable {
        let records = Mutex<[(level: Logger.Level, message: String)]>([])
    }
    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .debug

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.records.withLock { $0.append((event.level, event.message.description)) }
    }
}

extension Duration {
    var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// "0.123 s"
    var formatted: String { String(format: "%.3f s", inSeconds) }
}
