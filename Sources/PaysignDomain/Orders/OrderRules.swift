/// What a validation depends on besides the order: the day it runs and the calendar. Injected,
/// so tests and replays are deterministic (as `fixedValidationTime` in swift-certificates).
public struct ValidationContext: Sendable, Hashable {
    /// Today, in Egypt (`CalendarDay(Date(), in: TimeZone(identifier: "Africa/Cairo")!)`).
    public var today: CalendarDay
    /// Official holidays (configuration: they move every year with the lunar calendar).
    public var holidays: Set<CalendarDay>
    /// Egypt's weekend: Friday and Saturday.
    public var weekend: Set<Weekday>

    public init(today: CalendarDay, holidays: Set<CalendarDay> = [], weekend: Set<Weekday> = [.friday, .saturday]) {
        self.today = today
        self.holidays = holidays
        self.weekend = weekend
    }

    public func isWorkingDay(_ day: CalendarDay) -> Bool {
        !weekend.contains(day.weekday) && !holidays.contains(day)
    }

    /// `day` if it is a working day, else the nearest working day before it (at most a year back).
    public func workingDay(onOrBefore day: CalendarDay) -> CalendarDay {
        var candidate = day
        for _ in 0..<366 where !isWorkingDay(candidate) { candidate = candidate.adding(days: -1) }
        return candidate
    }
}

/// One rule an order must meet. Returns its violations (none when the order meets it); never
/// throws, so the validator can report every problem at once.
public protocol OrderRule: Sendable {
    func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation]
}

/// The result of validating an order: every violation, file-level ones (no line) first, then by line.
public struct OrderValidation: Sendable, Hashable {
    public var violations: [Violation]
    public var isValid: Bool { violations.isEmpty }

    public init(violations: [Violation]) { self.violations = violations }
}

/// Runs a list of rules and collects all their violations.
public struct OrderValidator: Sendable {
    public var rules: [any OrderRule]

    public init(rules: [any OrderRule]) { self.rules = rules }

    /// Every rule of this file, in the order their violations are listed for one line.
    public static let standard = OrderValidator(rules: [
        FileSyntaxRule(),
        NonEmptyOrderRule(),
        MetadataFieldsRule(),
        BeneficiaryIDRule(),
        IDTypeForKindRule(),
        NameRule(),
        AccountRule(),
        AmountRule(),
        DuplicateBeneficiaryRule(),
        PerPaymentMaximumRule(),
        CashierCapRule(),
        PayCalendarRule(),
    ])

    public func validate(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> OrderValidation {
        var all: [Violation] = []
        for rule in rules { all.append(contentsOf: rule.check(order, metadata, context)) }
        let sorted = all.enumerated().sorted { a, b in
            let la = a.element.line ?? 0, lb = b.element.line ?? 0
            return la != lb ? la < lb : a.offset < b.offset
        }
        return OrderValidation(violations: sorted.map(\.element))
    }

    /// Parses the uploaded bytes and validates them.
    public func validate(
        bytes: [UInt8], _ metadata: OrderMetadata, _ context: ValidationContext
    ) -> (file: OrderFile, validation: OrderValidation) {
        let file = OrderFile(parsing: bytes)
        return (file, validate(file, metadata, context))
    }
}

// MARK: - The rules

/// The file's syntax (see `OrderFile`): header on line 1, RFC 4180 quoting, five columns, UTF-8.
public struct FileSyntaxRule: OrderRule {
    public init() {}
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        order.syntaxViolations
    }
}

/// An order pays someone: a file with no payment line is refused.
public struct NonEmptyOrderRule: OrderRule {
    public init() {}
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        guard order.lines.isEmpty else { return [] }
        return [Violation(line: nil, field: nil, rule: nil, message: "The order has no payment lines.")]
    }
}

/// The metadata's own fields: an entity code (`FieldRules.entityCode`) and the currency `EGP`
/// (D12: even foreign non-residents are paid in EGP).
public struct MetadataFieldsRule: OrderRule {
    public init() {}
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        var out: [Violation] = []
        if let problem = FieldRules.entityCode(metadata.entityCode, field: "entityCode") {
            out.append(Violation(line: nil, field: "entityCode", rule: nil, message: problem.sentence))
        }
        if metadata.currency != "EGP" {
            out.append(
                Violation(
                    line: nil, field: "currency", rule: .d12,
                    message: "Orders are paid in EGP, not '\(metadata.currency)'."))
        }
        return out
    }
}

/// `id_type` is known, and `beneficiary_id` has its shape: a valid `NationalID` (as of
/// `context.today`) or a `PassportNumber`.
public struct BeneficiaryIDRule: OrderRule {
    public init() {}
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        var out: [Violation] = []
        for line in order.lines {
            switch line.idType {
            case nil:
                out.append(
                    Violation(
                        line: line.lineNumber, field: "id_type", rule: nil,
                        message: "The id_type must be national-id or passport, not '\(line.idTypeText)'."))
            case .nationalID:
                if case .failure(let problem) = NationalID.parse(line.beneficiaryID, today: context.today) {
                    out.append(
                        Violation(
                            line: line.lineNumber, field: "beneficiary_id", rule: nil,
                            message: "'\(line.beneficiaryID)' is not a valid national ID: \(problem)."))
                }
            case .passport:
                if !PassportNumber.isValid(line.beneficiaryID) {
                    out.append(
                        Violation(
                            line: line.lineNumber, field: "beneficiary_id", rule: nil,
                            message: "'\(line.beneficiaryID)' is not a passport number (6 to 9 letters and digits)."))
                }
            }
        }
        return out
    }
}

/// D12: foreign non-residents are paid by passport number. A `foreignNonResident` order has only
/// passport lines; every other kind has only national-id lines.
public struct IDTypeForKindRule: OrderRule {
    public init() {}
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        let expected: BeneficiaryIDType = metadata.kind == .foreignNonResident ? .passport : .nationalID
        var out: [Violation] = []
        for line in order.lines {
            guard let type = line.idType, type != expected else { continue }
            let message =
                expected == .passport
                ? "A foreign-non-resident order pays by passport number; this line has a national ID."
                : "Only foreign-non-resident orders pay by passport number; this is a \(metadata.kind.rawValue) order."
            out.append(Violation(line: line.lineNumber, field: "id_type", rule: .d12, message: message))
        }
        return out
    }
}

/// The name is not blank, at most 200 characters, without control characters.
public struct NameRule: OrderRule {
    public init() {}
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        order.lines.compactMap { line in
            FieldRules.text(line.name, field: "name", maximumLength: 200).map {
                Violation(line: line.lineNumber, field: "name", rule: nil, message: $0.sentence)
            }
        }
    }
}

/// The account is 8 to 34 digits (card or domestic account number), or an Egyptian IBAN: `EG`,
/// 27 digits, valid ISO 13616 mod-97 check digits.
public struct AccountRule: OrderRule {
    public init() {}

    public static func isValid(_ account: String) -> Bool {
        let bytes = Array(account.utf8)
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "E"), bytes[1] == UInt8(ascii: "G") {
            guard bytes.count == 29, bytes[2...].allSatisfy(isASCIIDigit) else { return false }
            // ISO 13616: move the first four characters to the end, letters as 10…35, mod 97 == 1.
            var remainder = 0
            func feed(_ digit: Int) { remainder = (remainder * 10 + digit) % 97 }
            for b in bytes[4...] { feed(Int(b - 0x30)) }
            for value in [14, 16] {  // E = 14, G = 16
                feed(value / 10)
                feed(value % 10)
            }
            feed(Int(bytes[2] - 0x30))
            feed(Int(bytes[3] - 0x30))
            return remainder == 1
        }
        return (8...34).contains(bytes.count) && bytes.allSatisfy(isASCIIDigit)
    }

    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        order.lines.compactMap { line in
            AccountRule.isValid(line.account)
                ? nil
                : Violation(
                    line: line.lineNumber, field: "account", rule: nil,
                    message: "'\(line.account)' is not an account: 8 to 34 digits, or EG and 27 digits with valid IBAN check digits.")
        }
    }
}

/// The amount is a positive whole number of piasters.
public struct AmountRule: OrderRule {
    public init() {}
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        order.lines.compactMap { line in
            if let amount = line.amountPiasters {
                return amount > 0
                    ? nil
                    : Violation(
                        line: line.lineNumber, field: "amount_piasters", rule: nil,
                        message: "The amount must be positive (got \(line.amountText)).")
            }
            return Violation(
                line: line.lineNumber, field: "amount_piasters", rule: nil,
                message: "The amount '\(line.amountText)' is not a whole number of piasters (digits only; 1 EGP = 100 piasters).")
        }
    }
}

/// A beneficiary is paid once per order: the second and later lines with the same id (same
/// `id_type`, passport letters compared case-insensitively) are reported, naming the first.
public struct DuplicateBeneficiaryRule: OrderRule {
    public init() {}
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        struct Key: Hashable {
            var idType: String
            var id: String
        }
        var first: [Key: Int] = [:]
        first.reserveCapacity(order.lines.count)
        var out: [Violation] = []
        for line in order.lines where !line.beneficiaryID.isEmpty {
            // Passports compare without case; national IDs are digits and need no upper-casing.
            let id = line.beneficiaryID.utf8.contains(where: { $0 >= 0x61 && $0 <= 0x7A }) ? line.beneficiaryID.uppercased() : line.beneficiaryID
            let key = Key(idType: line.idTypeText, id: id)
            if let earlier = first[key] {
                out.append(
                    Violation(
                        line: line.lineNumber, field: "beneficiary_id", rule: nil,
                        message: "Beneficiary \(line.beneficiaryID) is already paid on line \(earlier)."))
            } else {
                first[key] = line.lineNumber
            }
        }
        return out
    }
}

/// D12: a single payment is at most 20,500 EGP (2,050,000 piasters), in every kind of order
/// except `foreignNonResident`, which D12 exempts.
public struct PerPaymentMaximumRule: OrderRule {
    public static let maximumPiasters: Int64 = 2_050_000
    public init() {}
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        guard metadata.kind != .foreignNonResident else { return [] }
        return order.lines.compactMap { line in
            guard let amount = line.amountPiasters, amount > Self.maximumPiasters else { return nil }
            return Violation(
                line: line.lineNumber, field: "amount_piasters", rule: .d12,
                message: "\(formatEGP(amount)) is above the 20,500.00 EGP maximum for one payment.")
        }
    }
}

/// D11: payments through the cashier are capped at 30,000 EGP (3,000,000 piasters) a month. This
/// rule checks one cashier order's total against the cap (`check`), and the month's total across
/// the entity's cashier orders (`monthly`): the registry sums them inside the transaction that
/// inserts the new order, so two uploads at once cannot both pass.
public struct CashierCapRule: OrderRule {
    public static let capPiasters: Int64 = 3_000_000
    public init() {}

    /// The violation of the monthly cap, if any: `total` is the new order's, `othersTotal` the sum
    /// of the entity's other cashier orders of the same month that are not rejected (`others` of
    /// them). An order above the cap on its own is `check`'s to report.
    public static func monthly(
        total: Int64, othersTotal: Int64, others: Int, year: Int, month: Int
    ) -> Violation? {
        let sum = othersTotal + total
        guard sum > capPiasters, total <= capPiasters else { return nil }
        return Violation(
            line: nil, field: "amount_piasters", rule: .d11,
            message: "With the entity's \(others) other cashier order(s) of \(year)-\(month < 10 ? "0" : "")\(month), cashier payments would total \(Piasters.egp(sum, grouped: true)) EGP, above the 30,000.00 EGP monthly cap.")
    }
    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        guard metadata.kind == .cashier, order.total > Self.capPiasters else { return [] }
        return [
            Violation(
                line: nil, field: "amount_piasters", rule: .d11,
                message: "A cashier order totals \(formatEGP(order.total)), above the 30,000.00 EGP monthly cashier cap.")
        ]
    }
}

/// D10: salaries are paid on the 24th–28th of the month, arrears on the 8th–10th; a day of the
/// window that falls on the weekend (Friday, Saturday) or a holiday moves to the working day
/// before it. The value date must be one of the resulting days (`allowedValueDates`). Other
/// kinds have no window. A value date that is a weekend day or holiday inside the window is
/// refused: the payment center does not pay on it.
public struct PayCalendarRule: OrderRule {
    public init() {}

    /// The window of days of the month for a kind, or nil when the kind has none.
    public static func window(for kind: OrderKind) -> ClosedRange<Int>? {
        switch kind {
        case .salary: return 24...28
        case .arrears: return 8...10
        case .supplier, .foreignNonResident, .travelAbroad, .cashier: return nil
        }
    }

    /// The allowed value dates of `kind` in a month, ascending, holidays and weekend applied.
    public static func allowedValueDates(
        for kind: OrderKind, year: Int, month: Int, context: ValidationContext
    ) -> [CalendarDay] {
        guard let window = window(for: kind) else { return [] }
        let days = window.compactMap { CalendarDay(year: year, month: month, day: $0) }
        return Array(Set(days.map { context.workingDay(onOrBefore: $0) })).sorted()
    }

    public func check(_ order: OrderFile, _ metadata: OrderMetadata, _ context: ValidationContext) -> [Violation] {
        guard let window = Self.window(for: metadata.kind) else { return [] }
        let date = metadata.valueDate
        let allowed = Self.allowedValueDates(
            for: metadata.kind, year: date.year, month: date.month, context: context)
        guard !allowed.contains(date) else { return [] }
        let list = allowed.map(\.description).joined(separator: ", ")
        let month = String(date.description.prefix(7))
        return [
            Violation(
                line: nil, field: "valueDate", rule: .d10,
                message: "A \(metadata.kind.rawValue) order's value date must be one of \(list) (the "
                    + "\(window.lowerBound)th–\(window.upperBound)th of \(month), a weekend day or holiday moved "
                    + "to the working day before); \(date) is not.")
        ]
    }
}

/// `1234567` piasters → `12,345.67 EGP`.
func formatEGP(_ piasters: Int64) -> String {
    let negative = piasters < 0
    let magnitude = piasters.magnitude
    let pounds = String(magnitude / 100)
    let cents = magnitude % 100
    var grouped = ""
    for (index, character) in pounds.enumerated() {
        if index > 0, (pounds.count - index) % 3 == 0 { grouped.append(",") }
        grouped.append(character)
    }
    return (negative ? "-" : "") + grouped + "." + (cents < 10 ? "0" : "") + String(cents) + " EGP"
}

/// An order refused for what its file and metadata break, every violation at once (thrown where
/// a rule needs the registry, such as D11's monthly cap, inside the insert's transaction).
public struct OrderViolations: Error, Sendable, Hashable {
    public var violations: [Violation]
    public init(_ violations: [Violation]) { self.violations = violations }
}
