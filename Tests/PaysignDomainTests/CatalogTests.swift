import Foundation
import PaysignDocuments
import PaysignDomain
import PaysignText
import Testing

/// The translations (`Sources/PaysignText/Catalog/*.yaml`): both languages have every key, with
/// the same `{names}`, and every key the code asks for is there.
@Suite struct CatalogTests {
    @Test func bothCatalogsHaveTheSameKeysAndPlaceholders() {
        #expect(Words.catalogProblems() == [])
        #expect(Words.catalog(.en).count > 50)
        #expect(Words.catalog(.ar).count == Words.catalog(.en).count)
    }

    /// Every literal key in `words("…")` across the sources, and every key made from a value the
    /// API names (kinds, states, ID types, check names), is in both catalogs.
    @Test func everyKeyTheCodeUsesIsInBothCatalogs() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        var used: Set<String> = []
        // words("key"), messageWords("key"), and the keys errors carry (key: "connection.…").
        let pattern = try Regex(#"(?:[wW]ords\(|key: )"([a-z0-9\-]+\.[a-z0-9.\-]+)""#)
        let enumerator = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
        while let url = enumerator?.nextObject() as? URL {
            guard url.pathExtension == "swift", let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            for match in text.matches(of: pattern) {
                if let key = match.output[1].substring { used.insert(String(key)) }
            }
        }
        #expect(used.count > 40, "the scan found too few keys: is the sources folder where it was?")
        for kind in OrderKind.allCases { used.insert("kind.\(kind.rawValue)") }
        for state in OrderState.allCases { used.insert("state.\(state.rawValue)") }
        for type in BeneficiaryIDType.allCases { used.insert("id-type.\(type.rawValue)") }
        for column in ReviewSheet.lineColumns { used.insert(column.key) }
        used.formUnion(["sheet.total-one-line", "sheet.total-lines"])
        for name in ["line", "beneficiary-id", "id-type", "name", "account", "amount-piasters", "amount-egp"] {
            used.insert("sheet.csv.\(name)")
        }
        for language in Language.allCases {
            let missing = used.filter { !Words(language).has($0) }.sorted()
            #expect(missing == [], "Catalog/\(language.rawValue).yaml lacks keys the code uses")
        }
    }

    @Test func placeholdersAreFilledAndRuleNumbersStay() {
        let ar = Words(.ar), en = Words(.en)
        #expect(en("sheet.title", ["order": "12"]) == "Payment order 12 — review sheet")
        #expect(ar("sheet.title", ["order": "12"]) == "أمر الدفع 12 — كشف المراجعة")
        for key in Words.catalog(.en).keys {
            for rule in ["D2", "D9", "D10"] where Words.catalog(.en)[key]!.contains(rule) {
                #expect(Words.catalog(.ar)[key]!.contains(rule), "\(key) names \(rule) in English but not in Arabic")
            }
        }
        // An unknown key shows itself rather than nothing.
        #expect(ar("no.such.key") == "no.such.key")
    }

    @Test(arguments: [
        ([:], Language.en),
        (["LANG": "ar_EG.UTF-8"], .ar),
        (["LANG": "en_US.UTF-8", "LC_MESSAGES": "ar_EG.UTF-8"], .ar),
        (["LANG": "ar_EG.UTF-8", "LC_ALL": "C"], .en),
        (["LC_ALL": "ar"], .ar),
        (["LANG": "fr_FR.UTF-8"], .en),
        (["LANG": "fr_FR.UTF-8", "LANGUAGE": "fr:ar:en"], .ar),
        (["LANGUAGE": "ar"], .en),  // LANGUAGE is read only with a locale set, as gettext does
    ] as [([String: String], Language)])
    func languageOfMessages(environment: [String: String], expected: Language) {
        #expect(Language.ofMessages(environment: environment) == expected)
    }
}
