/// Where the registry says what it did (opened, migrated, refused to start). A closure rather
/// than swift-log's `Logger`, so this module needs no logging dependency; the daemon adapts its
/// logger in one line:
///
/// ```swift
/// RegistryLogger { level, message in logger.log(level: Logger.Level(rawValue: level.rawValue) ?? .info, "\(message)") }
/// ```
/// (the levels' raw values are swift-log's names).
///
/// Messages never carry a PIN, key material or an audit detail.
public struct RegistryLogger: Sendable {
    public enum Level: String, Sendable, Hashable, Comparable, CaseIterable {
        case debug, info, notice, warning, error

        private var rank: Int {
            switch self {
            case .debug: return 0
            case .info: return 1
            case .notice: return 2
            case .warning: return 3
            case .error: return 4
            }
        }

        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
    }

    private let sink: @Sendable (Level, String) -> Void

    public init(_ sink: @escaping @Sendable (Level, String) -> Void) {
        self.sink = sink
    }

    /// Says nothing.
    public static let disabled = RegistryLogger { _, _ in }

    func log(_ level: Level, _ message: String) {
        sink(level, message)
    }
}
