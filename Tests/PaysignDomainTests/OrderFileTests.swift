import Foundation
import PaysignDomain
import Testing

let header = "beneficiary_id,id_type,name,account,amount_piasters"
/// 2 900101 12 3456 7: born 1990-01-01, Dakahlia.
let mona = "29001011234567"
let card = "1234567890123456"
/// The IBAN registry's example for Egypt (mod-97 valid).
let iban = "EG380019000500000000263180002"
let today = CalendarDay(year: 2026, month: 11, day: 22)!
let context = ValidationContext(today: today)
/// 2026-07-27 is a Monday inside the salary window.
let salaryJuly = OrderMetadata(entityCode: "MOF-01", kind: .salary, valueDate: CalendarDay(year: 2026, month: 7, day: 27)!)

func metadata(_ kind: OrderKind, _ date: CalendarDay = CalendarDay(year: 2026, month: 7, day: 27)!) -> OrderMetadata {
    OrderMetadata(entityCode: "MOF-01", kind: kind, valueDate: date)
}

func validate(_ text: String, _ meta: OrderMetadata = salaryJuly, _ ctx: ValidationContext = context) -> [Violation] {
    OrderValidator.standard.validate(OrderFile(parsing: text), meta, ctx).violations
}

/// A national ID with a distinct 5-digit tail (sequence + check digit).
func nationalID(_ n: Int) -> String {
    let tail = String(n)
    return "290010112" + String(repeating: "0", count: 5 - tail.count) + tail
}

func salaryFile(lines count: Int) -> [UInt8] {
    var text = header + "\r\n"
    text.reserveCapacity(count * 64)
    for n in 0..<count {
        text += "\(nationalID(n)),national-id,Employee \(n),\(card),\(100_000 + n % 1000)\r\n"
    }
    return Array(text.utf8)
}

@Suite struct OrderFileParsing {
    @Test func validFilePasses() {
        let text = """
            \(header)
            \(mona),national-id,"Hassan, Mona",\(card),1500000
            29512310212340,national-id,Ahmed Ali,\(iban),250050

            """
        let file = OrderFile(parsing: text)
        #expect(file.lineCount == 2)
        #expect(file.total == 1_750_050)
        #expect(file.lines.map(\.lineNumber) == [2, 3])
        #expect(file.lines[0].name == "Hassan, Mona")
        #expect(file.lines[0].idType == .nationalID)
        #expect(OrderValidator.standard.validate(file, salaryJuly, context).isValid)
    }

    @Test func crlfAndQuotedFieldsWithQuotesAndBOM() {
        let text = "\u{FEFF}\(header)\r\n\(mona),national-id,\"El \"\"Sayed\"\", Omar\",\(card),100\r\n\r\n"
        let file = OrderFile(parsing: text)
        #expect(file.syntaxViolations == [])
        #expect(file.lines.count == 1)
        #expect(file.lines[0].name == "El \"Sayed\", Omar")
        #expect(file.lines[0].account == card)
        #expect(file.lines[0].amountText == "100")
        #expect(validate(text).isEmpty)
    }

    @Test func quotedLineBreakKeepsLineNumbers() {
        let text = "\(header)\n\(mona),national-id,\"Mona\nHassan\",\(card),100\n29512310212340,national-id,Ali,\(card),100\n"
        let file = OrderFile(parsing: text)
        #expect(file.lines.map(\.lineNumber) == [2, 4])
        // The name rule refuses the line break (a control character).
        #expect(validate(text).map(\.line) == [2])
    }

    @Test func emptyFileAndHeaderOnly() {
        let empty = validate("")
        #expect(empty.contains { $0.line == 1 && $0.message.contains("empty") })
        #expect(empty.contains { $0.line == nil && $0.message.contains("no payment lines") })
        let headerOnly = validate(header + "\n")
        #expect(headerOnly.count == 1)
        #expect(headerOnly[0].line == nil)
    }

    @Test(arguments: [
        ("beneficiary_id,id_type,name,account", 1),
        ("beneficiary_id,idtype,name,account,amount_piasters", 1),
        ("Beneficiary_ID,id_type,name,account,amount_piasters", 1),
    ])
    func badHeader(header bad: String, line: Int) {
        let violations = validate("\(bad)\n\(mona),national-id,Mona,\(card),100\n")
        #expect(violations.count == 1)
        #expect(violations[0].line == line)
        #expect(violations[0].message.contains("header"))
    }

    @Test(arguments: [
        ("\(mona),national-id,Mona,\(card)", "Expected 5 columns"),
        ("\(mona),national-id,Mona,\(card),100,extra", "Expected 5 columns"),
        ("\(mona),national-id,Mo\"na,\(card),100", "quote inside an unquoted field"),
        ("\(mona),national-id,\"Mona\"x,\(card),100", "closing quote"),
        ("\(mona),national-id,\"Mona,\(card),100", "not closed"),
    ])
    func malformedRows(row: String, message: String) {
        let violations = validate("\(header)\n\(mona),national-id,Ali,\(card),100\n\(row)\n")
        #expect(violations.count == 1)
        #expect(violations.first?.line == 3)
        #expect(violations.first?.message.contains(message) == true)
    }

    @Test func invalidUTF8AndBlankLineBetweenRecords() {
        var bytes = Array("\(header)\n\(mona),national-id,Mona".utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(",\(card),100\n\n29512310212340,national-id,Ali,\(card),100\n".utf8)
        let file = OrderFile(parsing: bytes)
        #expect(file.syntaxViolations.map(\.line) == [2, 3])
        #expect(file.syntaxViolations[0].message.contains("UTF-8"))
        #expect(file.lines.map(\.lineNumber) == [4])
    }
}

@Suite struct OrderRules {
    func one(_ row: String, _ meta: OrderMetadata = salaryJuly) -> [Violation] {
        validate("\(header)\n\(row)\n", meta)
    }

    @Test(arguments: [
        ("\(mona),national-id,Mona,\(card),0", "amount_piasters", nil as RuleNumber?),
        ("\(mona),national-id,Mona,\(card),-100", "amount_piasters", nil),
        ("\(mona),national-id,Mona,\(card),150.50", "amount_piasters", nil),
        ("\(mona),national-id,Mona,\(card),", "amount_piasters", nil),
        ("\(mona),national-id,Mona,\(card),2050001", "amount_piasters", .d12),
        ("\(mona),national-id,   ,\(card),100", "name", nil),
        ("\(mona),national-id,,\(card),100", "name", nil),
        ("\(mona),national-id,Mona,1234567,100", "account", nil),
        ("\(mona),national-id,Mona,12345678x,100", "account", nil),
        ("\(mona),national-id,Mona,EG380019000500000000263180003,100", "account", nil),
        ("\(mona),nid,Mona,\(card),100", "id_type", nil),
        ("2900101123456,national-id,Mona,\(card),100", "beneficiary_id", nil),
        ("A1234567,passport,John Smith,\(card),100", "id_type", .d12),
    ])
    func eachViolationKind(row: String, field: String, rule: RuleNumber?) {
        let violations = one(row)
        #expect(violations.count == 1, "\(violations)")
        #expect(violations.first?.line == 2)
        #expect(violations.first?.field == field)
        #expect(violations.first?.rule == rule)
    }

    @Test func perPaymentMaximumBoundary() {
        #expect(one("\(mona),national-id,Mona,\(card),2050000").isEmpty)
        for kind in [OrderKind.supplier, .arrears, .travelAbroad, .cashier] {
            let meta = metadata(kind, CalendarDay(year: 2026, month: 7, day: 9)!)
            #expect(one("\(mona),national-id,Mona,\(card),2050001", meta).map(\.rule) == [.d12], "\(kind)")
        }
    }

    @Test func foreignNonResidentPaysByPassportWithoutMaximum() {
        let meta = metadata(.foreignNonResident)
        #expect(one("A1234567,passport,John Smith,\(iban),99000000", meta).isEmpty)
        let wrong = one("\(mona),national-id,Mona,\(card),100", meta)
        #expect(wrong.map(\.rule) == [.d12])
        #expect(wrong.first?.field == "id_type")
        let badPassport = one("A12-45,passport,John Smith,\(card),100", meta)
        #expect(badPassport.map(\.field) == ["beneficiary_id"])
        #expect(one("AB12345678,passport,John Smith,\(card),100", meta).count == 1)
    }

    @Test func cashierCapOnOrderTotal() {
        let meta = metadata(.cashier)
        let ok = "\(header)\n\(nationalID(1)),national-id,A,\(card),2000000\n\(nationalID(2)),national-id,B,\(card),1000000\n"
        #expect(validate(ok, meta).isEmpty)
        let over = ok + "\(nationalID(3)),national-id,C,\(card),1\n"
        let violations = validate(over, meta)
        #expect(violations.count == 1)
        #expect(violations[0].rule == .d11)
        #expect(violations[0].line == nil)
        #expect(violations[0].message.contains("30,000.01 EGP"))
        // The same total in a supplier order is fine.
        #expect(validate(over, metadata(.supplier)).isEmpty)
    }

    @Test func duplicateNamesBothLines() {
        let text = """
            \(header)
            \(mona),national-id,Mona,\(card),100
            \(nationalID(7)),national-id,Ali,\(card),100
            \(mona),national-id,Mona again,\(card),100
            \(mona),national-id,Mona thrice,\(card),100
            """
        let violations = validate(text)
        #expect(violations.map(\.line) == [4, 5])
        #expect(violations.allSatisfy { $0.message.contains("line 2") && $0.field == "beneficiary_id" })
    }

    @Test func passportDuplicatesIgnoreCase() {
        let text = "\(header)\nA1234567,passport,J,\(card),1\na1234567,passport,J,\(card),1\n"
        let violations = validate(text, metadata(.foreignNonResident))
        #expect(violations.map(\.line) == [3])
        #expect(violations.first?.message.contains("line 2") == true)
    }

    @Test func severalViolationsAllReported() {
        let text = """
            beneficiary_id,id_type,name,account,amount
            \(mona),national-id,,\(card),0
            29002301234567,national-id,Bad Date,\(card),100
            A1234567,passport,Foreigner,\(card),3000000
            \(mona),national-id,Dup,123,100
            short,row
            """
        let violations = validate(text, metadata(.salary, CalendarDay(year: 2026, month: 7, day: 20)!))
        let summary = violations.map { "\($0.line.map(String.init) ?? "-") \($0.field ?? "-") \($0.rule?.rawValue ?? "-")" }
        #expect(
            summary == [
                "- valueDate D10",
                "1 - -",
                "2 name -",
                "2 amount_piasters -",
                "3 beneficiary_id -",
                "4 id_type D12",
                "4 amount_piasters D12",
                "5 account -",
                "5 beneficiary_id -",
                "6 - -",
            ], "\(violations)")
    }

    @Test func metadataFields() {
        var meta = salaryJuly
        meta.currency = "USD"
        meta.entityCode = ""
        let violations = one("\(mona),national-id,Mona,\(card),100", meta)
        #expect(Set(violations.map(\.field)) == ["currency", "entityCode"])
    }
}

@Suite struct PayCalendar {
    // July 2026 by hand: 2026-07-01 is a Wednesday, so 22 Wed, 23 Thu, 24 Fri, 25 Sat, 26 Sun,
    // 27 Mon, 28 Tue; and 8 Wed, 9 Thu, 10 Fri.
    // Salary window 24–28 without holidays: 24 Fri → 23, 25 Sat → 23, 26, 27, 28 → {23, 26, 27, 28}.
    // With 23 July (Revolution Day) a holiday: 24 Fri → 23 holiday → 22 Wed → {22, 26, 27, 28}.
    // Arrears window 8–10: 8, 9, 10 Fri → 9 → {8, 9}.
    static let revolutionDay = CalendarDay(year: 2026, month: 7, day: 23)!
    static let withHoliday = ValidationContext(today: today, holidays: [revolutionDay])

    @Test func weekdays() {
        #expect(CalendarDay(year: 2026, month: 7, day: 1)!.weekday == .wednesday)
        #expect(CalendarDay(year: 1970, month: 1, day: 1)!.weekday == .thursday)
        #expect(today.weekday == .sunday)
        #expect(CalendarDay(year: 2024, month: 2, day: 29)!.adding(days: 1) == CalendarDay(year: 2024, month: 3, day: 1))
        #expect(CalendarDay(year: 2026, month: 2, day: 29) == nil)
    }

    @Test func windowsWithWeekendAndHoliday() {
        func days(_ kind: OrderKind, _ ctx: ValidationContext) -> [Int] {
            PayCalendarRule.allowedValueDates(for: kind, year: 2026, month: 7, context: ctx).map(\.day)
        }
        #expect(days(.salary, context) == [23, 26, 27, 28])
        #expect(days(.salary, Self.withHoliday) == [22, 26, 27, 28])
        #expect(days(.arrears, context) == [8, 9])
        #expect(days(.supplier, context) == [])
    }

    @Test(arguments: [
        (OrderKind.salary, 22, false), (.salary, 23, true), (.salary, 24, false), (.salary, 25, false),
        (.salary, 26, true), (.salary, 28, true), (.salary, 29, false),
        (.arrears, 7, false), (.arrears, 8, true), (.arrears, 9, true), (.arrears, 10, false),
        (.supplier, 25, true), (.cashier, 4, true),
    ])
    func valueDateWithoutHolidays(kind: OrderKind, day: Int, ok: Bool) {
        let meta = metadata(kind, CalendarDay(year: 2026, month: 7, day: day)!)
        let violations = validate("\(header)\n\(mona),national-id,Mona,\(card),100\n", meta)
        #expect(violations.isEmpty == ok, "\(violations)")
        if !ok {
            #expect(violations.map(\.rule) == [.d10])
            #expect(violations.first?.field == "valueDate")
        }
    }

    @Test func holidayMovesTheWindow() {
        let row = "\(header)\n\(mona),national-id,Mona,\(card),100\n"
        let on22 = metadata(.salary, CalendarDay(year: 2026, month: 7, day: 22)!)
        let on23 = metadata(.salary, Self.revolutionDay)
        #expect(validate(row, on22, Self.withHoliday).isEmpty)
        let refused = validate(row, on23, Self.withHoliday)
        #expect(refused.map(\.rule) == [.d10])
        #expect(refused.first?.message.contains("2026-07-22, 2026-07-26, 2026-07-27, 2026-07-28") == true)
    }
}

@Suite struct NationalIDs {
    @Test func valid() throws {
        let id = try NationalID.parse(mona, today: today).get()
        #expect(id.birthDate == CalendarDay(year: 1990, month: 1, day: 1))
        #expect(id.governorate == .dakahlia)
        let abroad = try NationalID.parse("30402298812345", today: today).get()
        #expect(abroad.birthDate == CalendarDay(year: 2004, month: 2, day: 29))
        #expect(abroad.governorate == .bornAbroad)
        #expect(Governorate.allCases.count == 28)
    }

    @Test(arguments: [
        ("2900101123456", NationalID.Problem.wrongLength(13)),
        ("290010112345678", .wrongLength(15)),
        ("2900101123456a", .notDigits),
        ("19001011234567", .unknownCentury("1")),
        ("29002301234567", .invalidBirthDate("900230")),
        ("30502291234567", .invalidBirthDate("050229")),
        ("29013011234567", .invalidBirthDate("901301")),
        ("32611231234567", .futureBirthDate(CalendarDay(year: 2026, month: 11, day: 23)!)),
        ("29001010534567", .unknownGovernorate("05")),
        ("29001012034567", .unknownGovernorate("20")),
        ("29001019934567", .unknownGovernorate("99")),
    ])
    func invalid(text: String, problem: NationalID.Problem) {
        #expect(throws: problem) { try NationalID.parse(text, today: today).get() }
    }

    @Test func bornToday() {
        #expect((try? NationalID.parse("32611221234567", today: today).get()) != nil)
    }
}

@Suite struct FileNumbers {
    static let digest: [UInt8] = (0..<32).map { UInt8(($0 * 37 + 5) & 0xFF) }

    @Test func groupingRoundTrip() throws {
        let number = try #require(FileNumber(digest: Self.digest))
        #expect(number.grouped.count == 79)
        #expect(number.grouped.split(separator: "-").count == 16)
        #expect(number.grouped.split(separator: "-").allSatisfy { $0.count == 4 })
        #expect(number.grouped.hasPrefix("052a-4f74-"))
        #expect(FileNumber(number.grouped) == number)
        #expect(FileNumber(number.grouped.uppercased()) == number)
        #expect(FileNumber(number.grouped.replacingOccurrences(of: "-", with: " ")) == number)
        #expect(FileNumber(number.digest.hex) == number)
        #expect(FileNumber(" " + number.grouped.replacingOccurrences(of: "-", with: "  - ")) == number)
        let encoded = try JSONEncoder().encode(number)
        #expect(try JSONDecoder().decode(FileNumber.self, from: encoded) == number)
    }

    @Test(arguments: ["", "052a", String(repeating: "g", count: 64), String(repeating: "a", count: 65)])
    func refused(text: String) {
        #expect(FileNumber(text) == nil)
    }

    @Test func wrongDigestLength() {
        #expect(FileNumber(digest: [1, 2, 3]) == nil)
    }
}

@Suite struct Performance {
    @Test func thousandLineSalaryFile() {
        let bytes = salaryFile(lines: 1000)
        let (file, validation) = OrderValidator.standard.validate(bytes: bytes, salaryJuly, context)
        #expect(validation.violations == [])
        #expect(file.lineCount == 1000)
        #expect(file.total == Int64(1000 * 100_000 + (0..<1000).reduce(0, +)))
    }

    @Test func hundredThousandLinesTimed() {
        let bytes = salaryFile(lines: 100_000)
        let clock = ContinuousClock()
        var result: (file: OrderFile, validation: OrderValidation)?
        let elapsed = clock.measure {
            result = OrderValidator.standard.validate(bytes: bytes, salaryJuly, context)
        }
        print("100,000-line salary file (\(bytes.count) bytes): parsed and validated in \(elapsed)")
        #expect(result?.file.lineCount == 100_000)
        #expect(result?.validation.isValid == true)
    }
}
