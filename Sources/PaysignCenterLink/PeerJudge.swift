public import Foundation
import NIOCore
public import NIOSSL
public import PaysignDomain
public import PaysignOpenSSL
import Synchronization

/// The center's side of the handshake (D8): every client certificate is judged by
/// `SubmissionCertificateRule` from what PaysignOpenSSL finds (its chain to the center's anchors,
/// its issuer's revocation list, its validity now, its extended key usage, policies and entity
/// code). BoringSSL's own verification is replaced, not added to: one judge, the same as the
/// verifier's chains. A refused handshake is logged by the caller with the rule's sentence.
public struct PeerJudge: Sendable {
    public let trust: @Sendable () -> TrustContext
    public let clock: @Sendable () -> Date

    public init(trust: @escaping @Sendable () -> TrustContext, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.trust = trust
        self.clock = clock
    }

    /// The verdict on a presented chain (leaf first).
    public func judge(_ presented: [NIOSSLCertificate]) -> Result<SubmissionCertificateRule.Peer, RuleRefusal> {
        guard let leafDER = try? presented.first?.toDERBytes(), let leaf = try? Certificate(derEncoded: leafDER) else {
            return .failure(RuleRefusal(.notAuthorized, .d8, "the client presented no readable certificate; the link to the center needs a submission or staff certificate"))
        }
        let others = presented.dropFirst().compactMap { (try? $0.toDERBytes()).flatMap { try? Certificate(derEncoded: $0) } }
        return judge(leaf, presented: Array(others))
    }

    public func judge(_ leaf: Certificate, presented: [Certificate] = []) -> Result<SubmissionCertificateRule.Peer, RuleRefusal> {
        let verdict = trust().judge(leaf, presented: presented)
        var revoked: String?
        var noList = false
        switch verdict?.revocation {
        case .listed(let entry, _)?:
            revoked = "listed in its issuer's revocation list since \(entry.revocationDate.formatted(.iso8601))"
        case .noList?: noList = true
        case .notListed?, nil: break
        }
        let facts = SubmissionCertificateRule.Facts(
            subject: leaf.subject, serialNumber: leaf.serialNumber, certificateSHA256: Hex.string(leaf.sha256Fingerprint),
            chainProblem: verdict.map { $0.trusted ? nil : ($0.problem ?? "no path to an anchor") } ?? "unreadable",
            revoked: revoked, noRevocationList: verdict?.trusted == true && noList,
            validNow: leaf.validity(at: clock()) == .valid, extendedKeyUsages: leaf.extendedKeyUsages, policies: leaf.policies,
            organizationIdentifier: leaf.organizationIdentifier)
        return SubmissionCertificateRule.decide(facts)
    }
}

/// What one connection's handshake decided, kept for the requests that follow on it, with the
/// chain the client presented, so that a later request on a kept connection is judged again with
/// the trust and the clock of its own time (a certificate revoked or expired since the handshake
/// is refused then, not when the connection happens to close).
public final class PeerBox: Sendable {
    private let state = Mutex<(verdict: Result<SubmissionCertificateRule.Peer, RuleRefusal>?, presented: [NIOSSLCertificate])>((nil, []))
    public init() {}
    public var verdict: Result<SubmissionCertificateRule.Peer, RuleRefusal>? { state.withLock { $0.verdict } }
    public func set(_ verdict: Result<SubmissionCertificateRule.Peer, RuleRefusal>) { state.withLock { $0.verdict = verdict } }

    /// Judges the chain presented at the handshake again, now; remembers and returns the verdict.
    public func judgeAgain(_ judge: PeerJudge) -> Result<SubmissionCertificateRule.Peer, RuleRefusal> {
        let presented = state.withLock { $0.presented }
        let verdict = judge.judge(presented)
        set(verdict)
        return verdict
    }

    /// The callback for `NIOSSLServerHandler`: judges, remembers, answers BoringSSL.
    public func callback(_ judge: PeerJudge, refused: @escaping @Sendable (RuleRefusal) -> Void) -> NIOSSLCustomVerificationCallback {
        { [self] certificates, promise in
            state.withLock { $0.presented = certificates }
            let verdict = judge.judge(certificates)
            set(verdict)
            switch verdict {
            case .success: promise.succeed(.certificateVerified)
            case .failure(let refusal):
                refused(refusal)
                promise.succeed(.failed)
            }
        }
    }
}
