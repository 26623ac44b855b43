/// What a payment order pays, which decides the rules it is checked against.
public enum OrderKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Monthly salaries: value date in the 24th–28th window (D10).
    case salary
    /// Arrears: value date in the 8th–10th window of the month after they fell due (D10).
    case arrears
    /// Payments to suppliers.
    case supplier
    /// Foreign non-residents, paid in EGP by passport number, exempt from the per-payment
    /// maximum (D12).
    case foreignNonResident = "foreign-non-resident"
    /// Travel allowances abroad (the one exemption from electronic payment in D1; still an order).
    case travelAbroad = "travel-abroad"
    /// Payments through the entity's cashier, capped at 30,000 EGP a month (D11).
    case cashier
}

/// What the uploader states about an order file, beside its bytes.
public struct OrderMetadata: Sendable, Hashable, Codable {
    /// The paying entity's code (the registry's `Entity.code`).
    public var entityCode: String
    public var kind: OrderKind
    /// Always `EGP` (D12: even foreign non-residents are paid in EGP).
    public var currency: String
    /// The day the payment center pays.
    public var valueDate: CalendarDay

    public init(entityCode: String, kind: OrderKind, currency: String = "EGP", valueDate: CalendarDay) {
        self.entityCode = entityCode
        self.kind = kind
        self.currency = currency
        self.valueDate = valueDate
    }
}

/// One problem found in an order, its file or its metadata. Validation returns all of them at
/// once, ordered by line (file-level and metadata problems, with no line, first).
public struct Violation: Hashable, Sendable, CustomStringConvertible {
    /// The 1-based line of the file the problem is on (the line a record starts on), or nil for
    /// the file as a whole or the metadata.
    public var line: Int?
    /// The CSV column (`amount_piasters`) or metadata field (`valueDate`) concerned, if one is.
    public var field: String?
    /// The rule of `docs/rules.md` broken, when the problem is a rule and not a format error.
    public var rule: RuleNumber?
    /// One sentence for the clerk who has to fix the file.
    public var message: String

    public init(line: Int?, field: String?, rule: RuleNumber?, message: String) {
        self.line = line
        self.field = field
        self.rule = rule
        self.message = message
    }

    /// `line 7, amount_piasters (D12): …`
    public var description: String {
        var parts: [String] = []
        if let line { parts.append("line \(line)") }
        if let field { parts.append(field) }
        var head = parts.joined(separator: ", ")
        if let rule { head += head.isEmpty ? "(\(rule.rawValue))" : " (\(rule.rawValue))" }
        return head.isEmpty ? message : "\(head): \(message)"
    }
}
