/// The languages paysign writes its documents and messages in.
///
/// Arabic is the language of the people who review, sign and pay orders (the circular's review
/// chain, D9); English is the default where nothing says otherwise (a `C` locale, an unknown one).
public enum Language: String, Sendable, Hashable, CaseIterable, Codable {
    case ar
    case en

    /// Right-to-left (Arabic) or left-to-right.
    public var isRightToLeft: Bool { self == .ar }

    /// `dir` for HTML: `rtl` or `ltr`.
    public var direction: String { isRightToLeft ? "rtl" : "ltr" }

    /// From a locale name: `ar`, `ar_EG.UTF-8`, `ar-EG`, `en_US.UTF-8`, `en`; nil for `C`, `POSIX`
    /// and languages paysign has no catalog for.
    public init?(localeName: String) {
        let name = localeName.prefix { $0 != "_" && $0 != "-" && $0 != "." && $0 != "@" }.lowercased()
        guard let language = Language(rawValue: name) else { return nil }
        self = language
    }

    /// The language of messages by the usual means, as gettext reads them: `LANGUAGE` (a
    /// colon-separated list of preferences, the first known one wins) unless the locale is `C`,
    /// then the first of `LC_ALL`, `LC_MESSAGES` and `LANG` that is set and not empty. English when
    /// none names a language paysign has.
    public static func ofMessages(environment: [String: String]) -> Language {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty }
        if let locale, locale == "C" || locale == "POSIX" { return .en }
        if let list = environment["LANGUAGE"], locale != nil {
            for name in list.split(separator: ":") {
                if let language = Language(localeName: String(name)) { return language }
            }
        }
        return locale.flatMap(Language.init(localeName:)) ?? .en
    }
}
