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
        // readdir directly: FileManager builds more per name than a batch of 10,000 orders
        // should pay on one thread before the workers start.
        guard let directory = opendir(folder) else {
            throw VerificationSetupError("the batch folder \(folder) cannot be read")
        }
        defer { closedir(directory) }
        var items: [String: BatchItem] = [:]
        let prefix = folder + "/"
        while let entry = readdir(directory) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.baseAddress!.assumingMemoryBound(to: CChar.self))
            }
            let utf8 = file.utf8
            guard utf8.count > 4, let dot = utf8.lastIndex(of: UInt8(ascii: ".")), dot != utf8.startIndex else { continue }
            let suffix = utf8[utf8.index(after: dot)...]
            let kind: Int
            if suffix.elementsEqual("txt".utf8) { kind = 0 } else if suffix.elementsEqual("p7s".utf8) { kind = 1 }
            else if suffix.elementsEqual("csv".utf8) { kind = 2 } else { continue }
            let stem = String(file[..<dot])
            let path = prefix + file
            switch kind {
            case 0: items[stem, default: BatchItem(name: stem)].document = path
            case 1: items[stem, default: BatchItem(name: stem)].signature = path
            default: items[stem, default: BatchItem(name: stem)].payroll = path
            }
        }
        return items.values.filter { $0.document != nil || $0.signature != nil }.sorted { $0.name < $1.name }
    }

    /// Verifies every item on `workers` threads (default: every core), writing each report into
    /// `output` as it goes. `progress(done, total)` is called from the worker threads.
    ///
    /// The reports are written by one thread of their own (`ReportWriter`): creating thousands of
    /// files in one folder from several threads at once makes them queue on the folder's lock in
    /// the kernel, spinning there, while one writer creates them one after the other and the
    /// workers go on verifying.
    public func run(_ items: [BatchItem], folder: String, output: String, html: Bool = false,
                    workers: Int = ProcessInfo.processInfo.activeProcessorCount,
                    progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> BatchSummary {
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        } catch {
            throw VerificationSetupError("the output folder \(output) cannot be made: \(error.localizedDescription)")
        }
        // The reports are created relative to the folder's descriptor: no path walk per report.
        // The folder itself is never reached through a symbolic link (one planted where the
        // batch was to write would send the reports, and the files they replace, elsewhere).
        let directory = open(output, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else {
            if errno == ELOOP || errno == ENOTDIR {
                throw VerificationSetupError("the output folder \(output) is a symbolic link or not a folder; give the folder itself")
            }
            throw VerificationSetupError("the output folder \(output) cannot be opened: \(String(cString: strerror(errno)))")
        }
        defer { close(directory) }
        // The orders' files are opened relative to their folder's descriptor likewise, when
        // their paths are FOLDER/NAME (as `items(in:)` makes them).
        let source = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { if source >= 0 { close(source) } }
        let prefix = folder + "/"
        let start = ContinuousClock.now
        let results = UnsafeMutableBufferPointer<BatchSummary.Entry?>.allocate(capacity: items.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let verifier = self.verifier
        let count = items.count
        let writer = ReportWriter(directory: directory)
        nonisolated(unsafe) let slots = results
        DispatchQueue.concurrentPerform(iterations: max(1, min(workers, count))) { _ in
            // This worker's own: what its orders share (the same signers) is worked out once.
            let memo = VerificationMemo()
            while true {
                let index = next.add(1, ordering: .relaxed).oldValue
                guard index < count else { return }
                let item = items[index]
                let payroll = item.payroll.flatMap { try? SHA256.hashFile(atPath: $0) }
                    .map { PayrollFileFacts(sha256: $0.digest, byteCount: $0.byteCount) }
                let inFolder = source >= 0 && [item.document, item.signature].allSatisfy { path in
                    path.map { $0.utf8.starts(with: prefix.utf8) && !$0.utf8.dropFirst(prefix.utf8.count).contains(UInt8(ascii: "/")) } ?? true
                }
                let report = verifier.verify(name: item.name, documentPath: item.document, signaturePath: item.signature,
                                             payrollFile: payroll, memo: memo,
                                             folder: inFolder ? (source, prefix.utf8.count) : nil)
                writer.submit(name: item.name + ".json", bytes: ReportRendering.jsonBytes(report, memo: memo.rendering))
                if html { writer.submit(name: item.name + ".html", bytes: Array(ReportRendering.html(report).utf8)) }
                var failed: [String] = []
                var indeterminate: [String] = []
                for check in report.checks {
                    if check.status == .fail { failed.append(check.name.rawValue) }
                    if check.status == .indeterminate { indeterminate.append(check.name.rawValue) }
                }
                slots[index] = BatchSummary.Entry(
                    name: item.name, verdict: report.verdict, failedChecks: failed, indeterminateChecks: indeterminate)
                let finished = done.add(1, ordering: .relaxed).newValue
                if let progress, finished % 64 == 0 || finished == count { progress(finished, count) }
            }
        }
        if let failure = writer.finish() {
            throw VerificationSetupError("a report cannot be written into \(output): \(failure)")
        }
        let elapsed = (ContinuousClock.now - start).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
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
        try Self.write(Self.json(summary), to: "summary.json", in: directory)
        try Self.write(Array(Self.text(summary).utf8), to: "summary.txt", in: directory)
        return summary
    }

    /// `summary.json`: what `JSONEncoder` with `.prettyPrinted, .sortedKeys, .withoutEscapingSlashes`
    /// and `.iso8601` dates writes for `summary`, written directly (the encoder took a tenth of a
    /// batch of 10,000).
    static func json(_ summary: BatchSummary) -> [UInt8] {
        var out = JSONText()
        defer { out.free() }
        func counts(_ o: inout JSONText, _ table: [String: Int]) {
            o.object { o in
                for (name, count) in table.sorted(by: { $0.key < $1.key }) { o.key(dynamic: name) { $0.number(count) } }
            }
        }
        out.object { o in
            o.key("folder") { $0.string(summary.folder) }
            o.key("indeterminate") { $0.number(summary.indeterminate) }
            o.key("indeterminateByCheck") { counts(&$0, summary.indeterminateByCheck) }
            o.key("invalid") { $0.number(summary.invalid) }
            o.key("invalidByCheck") { counts(&$0, summary.invalidByCheck) }
            o.key("orders") { o in
                o.array(summary.orders) { o, entry in
                    o.object { o in
                        o.key("failedChecks") { o in o.array(entry.failedChecks) { $0.string($1) } }
                        o.key("indeterminateChecks") { o in o.array(entry.indeterminateChecks) { $0.string($1) } }
                        o.key("name") { $0.string(entry.name) }
                        o.key("verdict") { $0.string(entry.verdict.rawValue) }
                    }
                }
            }
            o.key("ordersPerSecond") { $0.double(summary.ordersPerSecond) }
            o.key("schema") { $0.string(summary.schema) }
            o.key("seconds") { $0.double(summary.seconds) }
            o.key("total") { $0.number(summary.total) }
            o.key("trustedTime") { o in
                o.object { o in
                    o.key("date") { $0.date(summary.trustedTime.date) }
                    if let note = summary.trustedTime.note { o.key("note") { $0.string(note) } }
                    o.key("source") { $0.string(summary.trustedTime.source.rawValue) }
                }
            }
            o.key("valid") { $0.number(summary.valid) }
        }
        return out.bytes
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

    /// Writes `data` into a new file `path`, relative to the folder `directory` (a descriptor).
    ///
    /// Never through a symbolic link or onto a file someone else put there: whatever has the name
    /// is removed first (a link itself, never what it points to), and the report is created with
    /// `O_CREAT|O_EXCL|O_NOFOLLOW`; a name taken again between the two fails, nothing is
    /// overwritten.
    static func write(_ data: [UInt8], to path: String, in directory: Int32) throws {
        if unlinkat(directory, path, 0) != 0 && errno != ENOENT {
            throw VerificationSetupError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
        let fd = openat(directory, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
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

/// Writes a batch's reports on a thread of its own, in the order they are handed in. `submit`
/// waits only when `limit` reports are queued (so memory stays bounded when the disk is slow);
/// `finish` waits for the queue to empty and returns the first write error, if any.
final class ReportWriter: @unchecked Sendable {
    // @unchecked Sendable: every field is read and written under `condition`.
    private let condition = NSCondition()
    private var queue: [(name: String, bytes: [UInt8])] = []
    private var closed = false
    private var stopped = false
    private var failure: String?
    private let limit: Int
    /// How many reports wait before the writer is woken (`finish` wakes it for the last ones).
    static let wakeAt = 32

    /// The output folder's descriptor, which the reports' names are relative to (the caller's;
    /// open until `finish` returns).
    private let directory: Int32

    init(directory: Int32, limit: Int = 256) {
        self.directory = directory
        self.limit = limit
        queue.reserveCapacity(limit)
        let thread = Thread { [self] in drain() }
        thread.name = "paysign-report-writer"
        thread.start()
    }

    func submit(name: String, bytes: [UInt8]) {
        condition.lock()
        while queue.count >= limit && !stopped { condition.wait() }
        if !stopped {
            queue.append((name, bytes))
            // The writer is woken once a few reports wait, not for each one (fewer wake-ups and
            // context switches on a machine whose cores the workers keep busy).
            if queue.count == Self.wakeAt { condition.broadcast() }
        }
        condition.unlock()
    }

    /// Waits until every report handed in is written; the first error, or nil.
    func finish() -> String? {
        condition.lock()
        closed = true
        condition.broadcast()
        while !stopped { condition.wait() }
        let failure = self.failure
        condition.unlock()
        return failure
    }

    private func drain() {
        var batch: [(name: String, bytes: [UInt8])] = []
        batch.reserveCapacity(limit)
        while true {
            condition.lock()
            while queue.count < Self.wakeAt && !closed { condition.wait() }
            if queue.isEmpty {
                stopped = true
                condition.broadcast()
                condition.unlock()
                return
            }
            swap(&batch, &queue)
            condition.broadcast()  // room for the workers
            let failed = failure != nil
            condition.unlock()
            if !failed {
                for report in batch {
                    do {
                        try BatchVerifier.write(report.bytes, to: report.name, in: directory)
                    } catch {
                        condition.lock()
                        failure = failure ?? "\(error)"
                        condition.unlock()
                        break
                    }
                }
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
