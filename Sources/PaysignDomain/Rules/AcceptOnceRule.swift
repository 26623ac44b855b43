/// The payment center accepts an order for payment once (D9, D2): across every node of the
/// center, the same document (its SHA-256), the same file number (D9: the number the reviewer
/// confirmed and the Ministry's representative compared), or the same entity and order id is
/// accepted at most once. The center's store decides it with constraints inside the acceptance's
/// transaction (never a read before the write); this type names what an acceptance is keyed by and
/// says, in one sentence, why a second one is refused.
public enum AcceptOnceRule {
    /// What makes two acceptances the same payment.
    public enum Key: String, Sendable, Hashable, CaseIterable {
        /// The order document both signatures cover (its SHA-256).
        case document
        /// The file number (D9).
        case fileNumber = "file-number"
        /// The entity and its order id.
        case entityOrder = "entity-order"
    }

    /// The earlier acceptance a second one collides with.
    public struct Earlier: Sendable, Hashable {
        public var submissionID: Int64
        public var entityCode: String
        public var orderID: Int64
        public var acceptedAt: String

        public init(submissionID: Int64, entityCode: String, orderID: Int64, acceptedAt: String) {
            self.submissionID = submissionID
            self.entityCode = entityCode
            self.orderID = orderID
            self.acceptedAt = acceptedAt
        }
    }

    /// The refusal of a second acceptance on `key`, naming the first.
    public static func refusal(_ key: Key, earlier: Earlier) -> RuleRefusal {
        let what: String = switch key {
        case .document: "the same order document"
        case .fileNumber: "the same file number"
        case .entityOrder: "order \(earlier.orderID) of entity \(earlier.entityCode)"
        }
        return RuleRefusal(
            .ruleViolated, key == .fileNumber ? .d9 : .d2,
            "\(what) was accepted for payment already (submission \(earlier.submissionID), order \(earlier.orderID) of \(earlier.entityCode), at \(earlier.acceptedAt)); an order is paid once")
    }
}
