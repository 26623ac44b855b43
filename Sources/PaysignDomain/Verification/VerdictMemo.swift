import Foundation

/// What `OrderVerification.judge` decided for one shape of order, kept so that the next order of
/// the same shape does not build the same sentences again (issue 7: a batch of 10,000 orders is
/// signed by the same few people, and building the verdict's text per order was a fifth of the
/// batch's time).
///
/// The shape is every fact the reused checks read: each `SignerFacts` whole except its
/// signing-time (the signature, digest and binding results of this order included, and the
/// certificate, chain and revocation facts), whether the document was read, its entity (the roles
/// check compares it) and the trusted time. Worked out per order: the order-document and
/// file-number checks, the signers' claimed signing times, the verdict. An order whose validity
/// check fails is never kept (the check's note reads the claimed signing time), and a report with
/// a structure problem neither. So a report from the memo is the report `judge(_:order:)` gives
/// for the same facts (tests compare them).
///
/// A field added to `SignerFacts` takes part in the shape by itself (the comparison is the
/// type's `==`); a check that comes to read something outside the shape (an `OrderFacts` field,
/// the signing time) must be worked out per order in `OrderVerification.judge(_:order:memo:)`.
///
/// Not thread-safe: one per thread (a batch gives each worker its own, which also keeps the
/// reference counts of its strings on that thread).
public final class VerdictMemo {
    struct Entry {
        /// The signers of the first order of this shape; their signing times are not part of the
        /// shape (`find` sets them to those of the order compared).
        var signers: [SignerFacts]
        var documentRead: Bool
        var entity: String?
        var trustedTime: TrustedTime
        /// That order's report: its checks, signers and trusted time (with its remark).
        var checks: [Check]
        var reports: [SignerReport]
        var reportedTime: TrustedTime
        /// For each signer report, the place in `OrderFacts.signers` of the signer it shows.
        var reportedSigner: [Int]
        /// Where the per-order checks are in `checks`.
        var orderDocument: Int
        var fileNumber: Int
    }

    /// Different shapes kept; the oldest goes first.
    static let capacity = 8
    var entries: [Entry] = []
    private var replace = 0
    /// How many orders were judged from the memo, and how many afresh (for tests).
    public private(set) var hits = 0
    public private(set) var misses = 0

    public init() {}

    func find(_ signers: [SignerFacts], documentRead: Bool, entity: String?, trustedTime: TrustedTime) -> Int? {
        for position in entries.indices {
            if entries[position].documentRead != documentRead || entries[position].signers.count != signers.count
                || entries[position].entity != entity || entries[position].trustedTime != trustedTime {
                continue
            }
            var same = true
            for index in signers.indices {
                // The kept signer takes this one's signing time, so that the rest is compared
                // whole without a copy of either.
                entries[position].signers[index].signingTime = signers[index].signingTime
                if entries[position].signers[index] != signers[index] {
                    same = false
                    break
                }
            }
            if same {
                hits += 1
                return position
            }
        }
        misses += 1
        return nil
    }

    func add(_ entry: Entry) {
        if entries.count < Self.capacity {
            entries.append(entry)
        } else {
            entries[replace] = entry
            replace = (replace + 1) % Self.capacity
        }
    }
}

extension OrderVerification {
    /// `judge(_:order:)`, reusing what `memo` holds for an order of the same shape (see
    /// `VerdictMemo`): the same report, built with less work when a batch's orders are signed by
    /// the same people.
    public static func judge(_ facts: OrderFacts, order name: String, memo: VerdictMemo) -> VerificationReport {
        // Only the common path is kept: a readable SignedData whose signers have distinct indices.
        guard facts.structureProblem == nil, !facts.signers.isEmpty, distinctIndices(facts.signers) else {
            return judge(facts, order: name)
        }
        let (document, grouped, documentCheck) = readDocument(facts)
        let entity = document?.metadata.entityCode
        let documentRead = facts.document != nil
        guard let position = memo.find(facts.signers, documentRead: documentRead, entity: entity, trustedTime: facts.trustedTime) else {
            let report = judge(facts, order: name)
            remember(report, facts: facts, documentRead: documentRead, entity: entity, in: memo)
            return report
        }
        let entry = memo.entries[position]
        var checks = entry.checks
        checks[entry.orderDocument] = documentCheck
        checks[entry.fileNumber] = fileNumber(facts, document, grouped: grouped)
        var reports = entry.reports
        for index in reports.indices { reports[index].claimedSigningTime = facts.signers[entry.reportedSigner[index]].signingTime }
        return VerificationReport(
            order: name, verdict: verdict(of: checks), trustedTime: entry.reportedTime,
            document: document.map { DocumentSummary($0, fileNumber: grouped) }, checks: checks, signers: reports)
    }

    private static func remember(_ report: VerificationReport, facts: OrderFacts, documentRead: Bool, entity: String?,
                                 in memo: VerdictMemo) {
        let checks = report.checks
        // A validity check that did not pass may have read the claimed signing times (its note):
        // such orders are judged afresh each time.
        guard let orderDocument = checks.firstIndex(where: { $0.name == .orderDocument }),
            let fileNumber = checks.firstIndex(where: { $0.name == .fileNumber }),
            checks.contains(where: { $0.name == .validityAtTrustedTime && $0.status == .pass })
        else { return }
        var reportedSigner: [Int] = []
        for signer in report.signers {
            guard let place = facts.signers.firstIndex(where: { $0.index + 1 == signer.signerInfo }) else { return }
            reportedSigner.append(place)
        }
        memo.add(VerdictMemo.Entry(
            signers: facts.signers, documentRead: documentRead, entity: entity, trustedTime: facts.trustedTime, checks: checks,
            reports: report.signers, reportedTime: report.trustedTime, reportedSigner: reportedSigner,
            orderDocument: orderDocument, fileNumber: fileNumber))
    }

    /// No two signers share an index (the signer reports are matched to the facts by it).
    private static func distinctIndices(_ signers: [SignerFacts]) -> Bool {
        guard signers.count <= 16 else { return false }
        for (position, signer) in signers.enumerated() {
            for other in signers[(position + 1)...] where other.index == signer.index { return false }
        }
        return true
    }
}
