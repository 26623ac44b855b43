public import ArgumentParser
import Foundation
public import PaysignDomain
import PaysignOpenSSL

extension OrderKind: ExpressibleByArgument {}

struct OrderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "order", abstract: "Payment orders: check, upload, review, reject, read and export them.",
        discussion: """
            The flow (D9, D2): a data-entry clerk uploads the file ('order create'); a reviewer \
            confirms its file number ('order review'); the entity's finance officer signs first and \
            the Ministry of Finance representative second ('paysign sign ORDER --first|--second').
            """,
        subcommands: [Validate.self, Create.self, List.self, Show.self, Review.self, Reject.self, Export.self])

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a payment-order file before it is uploaded, and print its file number (D9).",
            discussion: """
                Runs in process, on the file alone: every problem is listed with its line, field and \
                rule (D10 calendar, D11 cashier cap, D12 maximum and passports). The file number is the \
                SHA-256 of the file's exact bytes, in the groups reviewers read. Exit status 0 when \
                the file is valid, 1 when it is not, 2 when it cannot be read.
                """)

        @Argument(help: "The CSV file (beneficiary_id,id_type,name,account,amount_piasters).") var file: String
        @Option(help: "The entity's code.") var entity: String
        @Option(help: "salary, arrears, supplier, foreign-non-resident, travel-abroad or cashier.") var kind: OrderKind
        @Option(name: .customLong("value-date"), help: "The value date, YYYY-MM-DD.") var valueDate: String
        @Option(name: .customLong("holiday"), help: "An official holiday, YYYY-MM-DD (repeatable).") var holidays: [String] = []
        @Option(help: "Validate as of this day (YYYY-MM-DD; default: today, UTC).") var today: String?
        @Flag(help: "Print JSON.") var json = false

        struct Report: Encodable {
            var file: String
            var fileNumber: String
            var lines: Int
            var totalPiasters: Int64
            var valid: Bool
            var violations: [Entry]
            struct Entry: Encodable {
                var line: Int?
                var field: String?
                var rule: String?
                var message: String
            }
        }

        func run() async throws {
            guard let date = CalendarDay(iso: valueDate) else { throw Failure.usage("--value-date must be YYYY-MM-DD, not '\(valueDate)'") }
            let days = try holidays.map { text -> CalendarDay in
                guard let day = CalendarDay(iso: text) else { throw Failure.usage("--holiday must be YYYY-MM-DD, not '\(text)'") }
                return day
            }
            let now: CalendarDay
            if let today {
                guard let day = CalendarDay(iso: today) else { throw Failure.usage("--today must be YYYY-MM-DD, not '\(today)'") }
                now = day
            } else {
                now = CalendarDay(Date(), in: TimeZone(identifier: "UTC")!)
            }
            guard let data = FileManager.default.contents(atPath: file) else { throw Failure.usage("cannot read \(file)") }
            let bytes = [UInt8](data)
            let metadata = OrderMetadata(entityCode: entity, kind: kind, valueDate: date)
            let (parsed, validation) = OrderValidator.standard.validate(
                bytes: bytes, metadata, ValidationContext(today: now, holidays: Set(days)))
            let number = FileNumber(digest: SHA256.hash(bytes))?.grouped ?? ""
            let report = Report(
                file: file, fileNumber: number, lines: parsed.lineCount, totalPiasters: parsed.total,
                valid: validation.isValid,
                violations: validation.violations.map { .init(line: $0.line, field: $0.field, rule: $0.rule?.rawValue, message: $0.message) })
            if json {
                try printJSON(report)
            } else {
                print("file number  \(number)")
                print("lines        \(parsed.lineCount), total \(Self.pounds(parsed.total)) EGP")
                if validation.isValid {
                    print("valid")
                } else {
                    print("\(validation.violations.count) problem(s):")
                    for violation in validation.violations { print("  \(violation)") }
                }
            }
            if !validation.isValid { throw ExitCode(1) }
        }

        static func pounds(_ piasters: Int64) -> String {
            let whole = piasters / 100
            let rest = piasters % 100
            return whole.formatted(.number.grouping(.automatic)) + "." + (rest < 10 ? "0" : "") + String(rest)
        }
    }
}
