import Foundation
import PaysignDomain
import PaysignOpenSSL

/// What an upload costs the daemon besides HTTP and SQLite: the order file's validation
/// (`OrderValidator.standard`, parsing included) and its file number (SHA-256 of the bytes, D9),
/// in MB/s (10^6 bytes) over a file already in memory (reading it is not timed).
///
///   validate FILE [REPEATS]   best of REPEATS runs of each (default 1 validation, 3 hashes)
enum ValidationBench {
    static func run(path: String, repeats: Int) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DaemonSignBench.Failure(description: "cannot read \(path)")
        }
        let bytes = [UInt8](data)
        let megabytes = Double(bytes.count) / 1e6
        // Kind supplier: no D10 calendar window, so any value date is valid.
        let metadata = OrderMetadata(entityCode: "EG-0101", kind: .supplier, valueDate: CalendarDay(year: 2026, month: 7, day: 26)!)
        let context = ValidationContext(today: CalendarDay(Date(), in: TimeZone(identifier: "Africa/Cairo") ?? .current))

        var bestValidation = Double.infinity
        var lines = 0
        var violations = 0
        for _ in 0..<max(1, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            let (file, validation) = OrderValidator.standard.validate(bytes: bytes, metadata, context)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            bestValidation = min(bestValidation, elapsed)
            lines = file.lineCount
            violations = validation.violations.count
        }
        if violations > 0 {
            FileHandle.standardError.write(Data("bench: the file has \(violations) violation(s); the validation figure is not a valid file's\n".utf8))
        }
        print("bench order_validation_lines \(lines) count")
        print("bench order_validation \(Bench.format(megabytes / bestValidation)) MB/s")

        if ProcessInfo.processInfo.environment["BENCH_BREAKDOWN"] == "1" {
            breakdown(bytes, metadata, context)
        }

        var bestHash = Double.infinity
        var digest: [UInt8] = []
        for _ in 0..<max(3, repeats) {
            let start = DispatchTime.now().uptimeNanoseconds
            digest = SHA256.hash(bytes)
            bestHash = min(bestHash, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        FileHandle.standardError.write(Data("bench: file number \(SHA256.hex(digest)) (\(bytes.count) bytes)\n".utf8))
        print("bench file_number_hash \(Bench.format(megabytes / bestHash)) MB/s")
    }

    /// BENCH_BREAKDOWN=1: where a validation's time goes, on stderr (parsing, then rule by rule).
    static func breakdown(_ bytes: [UInt8], _ metadata: OrderMetadata, _ context: ValidationContext) {
        func seconds(_ body: () -> Void) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        var file = OrderFile(lines: [])
        var rows: [(String, Double)] = [("OrderFile(parsing:)", seconds { file = OrderFile(parsing: bytes) })]
        for rule in OrderValidator.standard.rules {
            var count = 0
            let t = seconds { count = rule.check(file, metadata, context).count }
            rows.append(("\(type(of: rule)).check\(count > 0 ? " (\(count) violations)" : "")", t))
        }
        let total = rows.reduce(0) { $0 + $1.1 }
        var text = "bench: validation breakdown (\(bytes.count) bytes, \(file.lineCount) lines, \(Bench.format(total, digits: 3)) s):\n"
        for (name, t) in rows {
            text += "  \(name): \(Bench.format(t * 1000, digits: 1)) ms (\(Bench.format(100 * t / total))%)\n"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }
}
