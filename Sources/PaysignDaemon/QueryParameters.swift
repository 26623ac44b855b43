import Foundation
import PaysignDomain

/// A query parameter a route takes, and what values it accepts (issue 17: every parameter is
/// validated with a problem naming it, before the handler runs and before any body is read). A
/// parameter a route does not declare is refused too: a misspelt one never passes silently.
public struct QueryParameter: Sendable {
    public enum Kind: Sendable {
        /// Text of 1 to `maxLength` characters, no control characters.
        case text(maxLength: Int)
        /// A whole number in the range.
        case integer(ClosedRange<Int64>)
        /// One of these words.
        case oneOf([String])
        /// A calendar day, YYYY-MM-DD.
        case day
        /// 64 hex digits (a SHA-256).
        case sha256
    }

    public var name: String
    public var kind: Kind

    public init(_ name: String, _ kind: Kind) {
        self.name = name
        self.kind = kind
    }

    public static func text(_ name: String, maxLength: Int = 200) -> QueryParameter { .init(name, .text(maxLength: maxLength)) }
    public static func integer(_ name: String, _ range: ClosedRange<Int64>) -> QueryParameter { .init(name, .integer(range)) }
    public static func oneOf(_ name: String, _ values: [String]) -> QueryParameter { .init(name, .oneOf(values)) }
    public static func day(_ name: String) -> QueryParameter { .init(name, .day) }
    public static func sha256(_ name: String) -> QueryParameter { .init(name, .sha256) }

    /// The one sentence refusing `value`, or nil when it is acceptable.
    func refusal(_ value: String) -> String? {
        switch kind {
        case .text(let maxLength):
            guard !value.isEmpty else { return "the parameter '\(name)' is empty" }
            guard value.count <= maxLength else { return "the parameter '\(name)' is longer than \(maxLength) characters" }
            guard !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                return "the parameter '\(name)' holds a control character"
            }
            return nil
        case .integer(let range):
            guard let number = Int64(value), range.contains(number) else {
                return "the parameter '\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(value.prefix(40))'"
            }
            return nil
        case .oneOf(let values):
            guard values.contains(value) else {
                return "the parameter '\(name)' must be \(values.count == 1 ? values[0] : values.dropLast().joined(separator: ", ") + " or " + values.last!), not '\(value.prefix(40))'"
            }
            return nil
        case .day:
            guard CalendarDay(iso: value) != nil else { return "the parameter '\(name)' must be a day, YYYY-MM-DD, not '\(value.prefix(40))'" }
            return nil
        case .sha256:
            guard value.count == 64, value.allSatisfy(\.isHexDigit) else {
                return "the parameter '\(name)' must be 64 hex digits (a SHA-256), not '\(value.prefix(80))'"
            }
            return nil
        }
    }

    /// Checks a request's query against a route's parameters: an unknown name or a bad value is
    /// one problem naming the parameter.
    static func check(_ query: [String: String], against parameters: [QueryParameter]) -> Problem? {
        for name in query.keys.sorted() {
            guard let parameter = parameters.first(where: { $0.name == name }) else {
                let known = parameters.map(\.name).sorted()
                return Problem(
                    .invalidField,
                    "unknown query parameter '\(name.prefix(40))'; " + (known.isEmpty ? "this route takes none" : "this route takes \(known.joined(separator: ", "))"))
            }
            if let sentence = parameter.refusal(query[name] ?? "") { return Problem(.invalidField, sentence) }
        }
        return nil
    }

    /// The path parameters of every route, by name (`/v1/orders/{id}`): the same kinds, checked
    /// from the head; the document gives each the same bounds.
    static let path: [String: QueryParameter] = [
        "id": .integer("id", 1...Int64.max),
        "user": .text("user", maxLength: 32),
        "serial": .text("serial", maxLength: 64),
    ]

    /// Checks a matched route's path parameters: a bad value is one problem naming it.
    static func check(path parameters: [String: String]) -> Problem? {
        for name in parameters.keys.sorted() {
            guard let parameter = path[name] else { continue }
            if let sentence = parameter.refusal(parameters[name] ?? "") {
                return Problem(.invalidField, sentence.replacingOccurrences(of: "the parameter", with: "the path parameter"))
            }
        }
        return nil
    }
}
