import Foundation
import Yams

/// The words of one language: what documents and messages say, looked up by key in catalogs a
/// translator edits without reading Swift (`Catalog/en.yaml`, `Catalog/ar.yaml`: one
/// `key: text` per line, `{name}` where a value goes).
///
/// Every key used in the code (`words("…")`) is in both catalogs, with the same `{names}`: a test
/// (`CatalogTests`) reads the sources and the two files and fails otherwise. A key missing at run
/// time (it cannot be, past that test) falls back to English, then to the key itself.
public struct Words: Sendable {
    public let language: Language
    private let table: [String: String]
    private let english: [String: String]

    public init(_ language: Language) {
        self.language = language
        self.table = Catalogs.shared.table(language)
        self.english = Catalogs.shared.table(.en)
    }

    /// The text of `key`, each `{name}` replaced by `values[name]`.
    public func callAsFunction(_ key: String, _ values: KeyValuePairs<String, String> = [:]) -> String {
        fill(key, values.lazy.map { ($0.key, $0.value) })
    }

    /// The text of `key` with values from a dictionary (a message's values carried in an error).
    public func callAsFunction(_ key: String, values: [String: String]) -> String {
        fill(key, values.lazy.map { ($0.key, $0.value) })
    }

    private func fill(_ key: String, _ values: some Sequence<(String, String)>) -> String {
        var out = table[key] ?? english[key] ?? key
        guard out.contains("{") else { return out }
        for (name, value) in values { out = out.replacingOccurrences(of: "{\(name)}", with: value) }
        return out
    }

    /// Whether the catalog of this language has `key` (for tests and fallbacks).
    public func has(_ key: String) -> Bool { table[key] != nil }

    /// Every key of a language's catalog with its text (for the catalog test).
    public static func catalog(_ language: Language) -> [String: String] { Catalogs.shared.table(language) }
}

/// The two catalogs, read once from the bytes built into the program, with what is wrong in
/// each file (for `Words.catalogProblems`).
final class Catalogs: Sendable {
    static let shared = Catalogs()
    let tables: [Language: [String: String]]
    let problems: [String]

    private init() {
        var tables: [Language: [String: String]] = [:]
        var problems: [String] = []
        for language in Language.allCases {
            let bytes: [UInt8]
            switch language {
            case .ar: bytes = PackageResources.ar_yaml
            case .en: bytes = PackageResources.en_yaml
            }
            let (table, wrong) = Self.parse(String(decoding: bytes, as: UTF8.self), name: "Catalog/\(language.rawValue).yaml")
            tables[language] = table
            problems += wrong
        }
        self.tables = tables
        self.problems = problems
    }

    func table(_ language: Language) -> [String: String] { tables[language] ?? [:] }

    /// A flat mapping of keys to texts, and a sentence for each thing in the file that is not one
    /// (a build mistake the catalog test reports; at run time such a key falls back to English).
    static func parse(_ text: String, name: String) -> ([String: String], [String]) {
        guard let node = try? Yams.load(yaml: text) as? [String: Any] else {
            return ([:], ["\(name) is not a YAML mapping of keys to texts"])
        }
        var out: [String: String] = [:]
        var problems: [String] = []
        for (key, value) in node {
            if let string = value as? String { out[key] = string } else { problems.append("\(name): \(key) is not a text (put it in double quotes)") }
        }
        return (out, problems.sorted())
    }
}

extension Words {
    /// What is wrong with the catalogs as built into the program: a line that is not
    /// `key: "text"`, a key one language has and the other lacks, a key whose `{names}` differ
    /// between the languages. Empty when a translator's edit is sound.
    public static func catalogProblems() -> [String] {
        var problems = Catalogs.shared.problems
        let tables = Catalogs.shared.tables
        let en = tables[.en] ?? [:]
        for language in Language.allCases where language != .en {
            let other = tables[language] ?? [:]
            for key in en.keys.sorted() where other[key] == nil {
                problems.append("Catalog/\(language.rawValue).yaml lacks \(key)")
            }
            for key in other.keys.sorted() where en[key] == nil {
                problems.append("Catalog/\(language.rawValue).yaml has \(key), which en.yaml lacks")
            }
            for (key, text) in other.sorted(by: { $0.key < $1.key }) {
                guard let english = en[key] else { continue }
                if placeholders(text) != placeholders(english) {
                    problems.append("Catalog/\(language.rawValue).yaml: \(key) has {\(placeholders(text).sorted().joined(separator: "}, {"))}, en.yaml {\(placeholders(english).sorted().joined(separator: "}, {"))}")
                }
            }
        }
        return problems
    }

    /// The `{names}` of a text.
    static func placeholders(_ text: String) -> Set<String> {
        var names: Set<String> = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            let after = rest[rest.index(after: open)...]
            guard let close = after.firstIndex(of: "}") else { break }
            names.insert(String(after[..<close]))
            rest = after[after.index(after: close)...]
        }
        return names
    }
}
