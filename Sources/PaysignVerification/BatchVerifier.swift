public import Foundation
public import PaysignDomain
import PaysignOpenSSL
import Synchronization

/// One order of a batch folder: `NAME.txt` (the order document), `NAME.p7s` (its signatures) and,
/// optionally, `NAME.csv` (the payroll file, whose SHA-256 must be the document's file number).
public struct BatchItem: Sendable, Hashable {
    public var name: String
    public var document: String?
    public var signature: String?
    public var payroll: String?
}

/// What `summary.json` holds (schema `paysign-batch-verification/1`, in the README).
public struct BatchSummary: Sendable, Codable {
    public static let schemaVersion = "paysign-batch-verification/1"

    public struct Entry: Sendable, Codable {
        public var name: String
        public var verdict: VerificationReport.Verdict
        public var failedChecks: [String]
        public var indeterminateChecks: [String]
    }

    public var schema = Self.schemaVersion
    public var folder: String
    public var trustedTime: TrustedTime
    public var total: Int
    public var valid: Int
    public var invalid: Int
    public var indeterminate: Int
    /// For each check name, how many orders failed it (an order may fail several).
    public var invalidByCheck: [String: Int]
    /// For each check name, how many orders could not have it checked.
    public var indeterminateByCheck: [String: Int]
    public var seconds: Double
    public var ordersPerSecond: Double
    public var orders: [Entry]
}

/// Verifies a folder of orders on every core: the trust context (anchors, CRLs, the certificates
/// and chains met) is built once and shared, each order costs its own parse, digest and two
/// signature verifications. Writes `NAME.json` (and `NAME.html` when asked) per order and
/// `summary.json` / `summary.txt` into the output folder.
public final class BatchVerifier: Sendable {
    public let verifier: OrderVerifier

    public init(verifier: OrderVerifier) { self.verifier = verifier }

    /// The orders of `folder`: every `NAME.txt` and `NAME.p7s`, paired by name, with `NAME.csv`
    /// when present; sorted by name. A lone `.txt` or `.p7s` is an order too (it will fail).
    public static func items(in folder: String) throws -> [BatchItem] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw VerificationSetupError("the batch folder \(folder) cannot be read")
        }
        var items: [String: BatchItem] = [:]
        for file in names {
            guard let dot = file.lastIndex(of: "."), dot != file.startIndex else { continue }
            let stem = String(file[..<dot])
            let path = folder + "/" + file
            switch file[file.index(after: dot)...] {
            case "txt": items[stem, default: BatchItem(name: stem)].document = path
            case "p7s": items[stem, default: BatchItem(name: stem)].signature = path
            case "csv": items[stem, default: BatchItem(name: stem)].payroll = path
            default: continue
            }
        }
        return items.values.filter { $0.document != nil || $0.signature != nil }.sorted { $0.name < $1.name }
    }

    /// Verifies every item on `workers` threads (default: every core), writing each report into
    /// `output` as it goes. `progress(done, total)` is called from the worker threads.
    public func run(_ items: [BatchItem], folder: String, output: String, html: Bool = false,
                    workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                    progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> BatchSummary {
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        } catch {
            throw VerificationSetupError("the output folder \(output) cannot be made: \(error.localizedDescription)")
        }
        let start = ContinuousClock.now
        let results = UnsafeMutableBufferPointer<BatchSummary.Entry?>.allocate(capacity: items.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let writeFailure = Mutex<String?>(nil)
        let verifier = self.verifier
        let count = items.count
        nonisolated(unsafe) let slots = results
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                let item = items[index]
                let payroll = item.payroll.flatMap { try? SHA256.hashFile(atPath: $0) }
                    .map { PayrollFileFacts(sha256: $0.digest, byteCount: $0.byteCount) }
                let report = verifier.verify(name: item.name, documentPath: item.document, signaturePath: item.signature,
                                             payrollFile: payroll)
                do {
                    try Self.write(try ReportRendering.json(report), to: output + "/" + item.name + ".json")
                    if html { try Self.write(Data(ReportRendering.html(report).utf8), to: output + "/" + item.name + ".html") }
                } catch {
                    writeFailure.withLock { $0 = $0 ?? "a report cannot be written into \(output): \(error)" }
                }
                slots[index] = BatchSummary.Entry(
                    name: item.name, verdict: report.verdict, failedChecks: report.failedChecks.map(\.rawValue),
                    indeterminateChecks: report.checks.filter { $0.status == .indeterminate }.map(\.name.rawValue))
                let finished = done.add(1, ordering: .relaxed).newValue
                if let progress, finished % 64 == 0 || finished == count { progress(finished, count) }
            }
        }
        if let failure = writeFailure.withLock({ $0 }) { throw VerificationSetupError(failure) }
        let seconds = Double((ContinuousClock.now - start).components.attoseconds) / 1e18
            + Double((ContinuousClock.now - start).components.seconds)
        let entries = results.compactMap { $0 }
        var invalidBy: [String: Int] = [:]
        var indeterminateBy: [String: Int] = [:]
        for entry in entries {
            for name in entry.failedChecks { invalidBy[name, default: 0] += 1 }
            for name in entry.indeterminateChecks { indeterminateBy[name, default: 0] += 1 }
        }
        let summary = BatchSummary(
            folder: folder, trustedTime: verifier.trustedTime, total: entries.count,
            valid: entries.count { $0.verdict == .valid }, invalid: entries.count { $0.verdict == .invalid },
            indeterminate: entries.count { $0.verdict == .indeterminate }, invalidByCheck: invalidBy,
            indeterminateByCheck: indeterminateBy, seconds: seconds,
            ordersPerSecond: seconds > 0 ? Double(entries.count) / seconds : 0, orders: entries)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try Self.write(try encoder.encode(summary), to: output + "/summary.json")
        try Self.write(Data(Self.text(summary).utf8), to: output + "/summary.txt")
        return summary
    }

    public static func text(_ summary: BatchSummary) -> String {
        var out = "batch \(summary.folder): \(summary.total) orders, \(summary.valid) valid, \(summary.invalid) invalid, \(summary.indeterminate) indeterminate\n"
        out += "trusted time \(OrderVerification.iso(summary.trustedTime.date)) (\(summary.trustedTime.source.rawValue))\n"
        out += String(format: "%.3f s, %.0f orders/s\n", summary.seconds, summary.ordersPerSecond)
        if !summary.invalidByCheck.isEmpty {
            out += "invalid, by failed check:\n"
            for (name, count) in summary.invalidByCheck.sorted(by: { $0.key < $1.key }) { out += "  \(name): \(count)\n" }
        }
        if !summary.indeterminateByCheck.isEmpty {
            out += "not checked, by check:\n"
            for (name, count) in summary.indeterminateByCheck.sorted(by: { $0.key < $1.key }) { out += "  \(name): \(count)\n" }
        }
        for entry in summary.orders where entry.verdict != .valid {
            let why = entry.verdict == .invalid ? entry.failedChecks : entry.indeterminateChecks
            out += "\(entry.verdict.rawValue) \(entry.name): \(why.joined(separator: ", "))\n"
        }
        return out
    }

    static func write(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw VerificationSetupError("cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = Foundation.write(fd, buffer.baseAddress! + done, buffer.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw VerificationSetupError("cannot write \(path): \(String(cString: strerror(errno)))") }
                done += n
            }
        }
    }
}
