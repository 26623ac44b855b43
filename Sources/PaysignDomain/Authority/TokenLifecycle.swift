import Foundation

/// Where a registered token stands with the certification authority. Only the transitions of
/// `TokenState.allows` exist:
///
/// ```
///            activate            suspend (lost)
///   issued ───────────▶ active ◀────────────▶ suspended
///     │                  │       resume (found)   │
///     └──────────────────┴───────────┬────────────┘
///                                    ├── surrender ──▶ surrendered   (D6: before clearance)
///                                    └── revoke ─────▶ revoked       (RFC 5280 reason)
/// ```
/// `surrendered` and `revoked` are final. Only an `active` token signs.
public enum TokenState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Registered to its holder by the authority, not yet handed over and acknowledged.
    case issued
    /// In its holder's hands; the only state that signs.
    case active
    /// Reported lost (or otherwise held back); signs again only once resumed.
    case suspended
    /// Handed back to the authority (D6); its certificate is revoked too.
    case surrendered
    /// Revoked by the authority, with an RFC 5280 reason; listed on the next CRL.
    case revoked

    public var isFinal: Bool { self == .surrendered || self == .revoked }

    /// The state an action leads to.
    public static func after(_ action: TokenAction) -> TokenState {
        switch action {
        case .activate, .resume: return .active
        case .suspend: return .suspended
        case .surrender: return .surrendered
        case .revoke: return .revoked
        }
    }

    /// True when `action` may be taken from this state.
    public func allows(_ action: TokenAction) -> Bool {
        switch (self, action) {
        case (.issued, .activate), (.active, .suspend), (.suspended, .resume): return true
        case (.issued, .surrender), (.active, .surrender), (.suspended, .surrender): return true
        case (.issued, .revoke), (.active, .revoke), (.suspended, .revoke): return true
        default: return false
        }
    }

    /// The actions this state allows, for messages ("allowed: suspend, surrender, revoke").
    public var allowedActions: [TokenAction] { TokenAction.allCases.filter(allows) }
}

/// What the certification authority does to a token.
public enum TokenAction: String, Sendable, Hashable, Codable, CaseIterable {
    case activate, suspend, resume, surrender, revoke
}

/// Why a token is revoked, in the authority's words, and the RFC 5280 reason each maps to.
public enum RevocationCause: String, Sendable, Hashable, Codable, CaseIterable {
    /// The holder retired (D6).
    case retirement
    /// The holder moved to another entity or post (D6, D13).
    case transfer
    /// The holder was seconded (D14).
    case secondment
    /// The token was lost or stolen.
    case loss
    /// The PIN became known to someone else (D5).
    case pinDisclosed = "pin-disclosed"
    /// The holder died (D6: the entity notifies within a week).
    case death
    /// The holder's signing right was withdrawn (dismissal, resignation, a decision).
    case withdrawal
    /// A new token replaces this one.
    case replaced
    /// Anything else; the note says what.
    case other

    /// The CRL entry's reason code (RFC 5280 5.3.1).
    public var reason: RevocationReason {
        switch self {
        case .retirement: return .cessationOfOperation
        case .transfer, .secondment: return .affiliationChanged
        case .loss, .pinDisclosed: return .keyCompromise
        case .death: return .cessationOfOperation
        case .withdrawal: return .privilegeWithdrawn
        case .replaced: return .superseded
        case .other: return .unspecified
        }
    }
}

/// D6: the entity notifies the authority of a holder's death within one week.
public struct DeathNotice: Sendable, Hashable, Codable {
    public static let allowedDays = 7

    public var dateOfDeath: CalendarDay
    public var notifiedOn: CalendarDay
    /// The notice's reference (letter number), as written on it.
    public var reference: String

    public init(dateOfDeath: CalendarDay, notifiedOn: CalendarDay, reference: String) {
        self.dateOfDeath = dateOfDeath
        self.notifiedOn = notifiedOn
        self.reference = reference
    }

    /// Days between the death and the notice.
    public var delayDays: Int { notifiedOn.daysSince1970 - dateOfDeath.daysSince1970 }

    /// Later than the week D6 allows: accepted, but flagged in the journal and the report.
    public var isLate: Bool { delayDays > Self.allowedDays }
}
