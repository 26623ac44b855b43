public import Foundation

/// The payment center's rules: facts about a signed order in, a verdict with every check named out
/// (issue 6). Pure: no C, no I/O, no clock (the trusted time is one of the facts).
///
/// An order is payable when (rule numbers from docs/rules.md):
/// - the `.p7s` is a detached CMS SignedData (cms-structure) and the document is a canonical order
///   document (order-document);
/// - exactly two SignerInfos, one claiming the role `first` and one `second`, the second bound to
///   the first so the file proves which came first (signer-count-and-order, binding: D2);
/// - each signature verifies over its signed attributes, its message digest is the SHA-256 of the
///   document, and signing-certificate-v2 names its certificate (first-signature, second-signature);
/// - each certificate chains to a trust anchor, allows signatures (digitalSignature or
///   nonRepudiation) and is no CA (certificate-chain); it is within its validity at the trusted time
///   (validity-at-trusted-time) and not revoked by then (revocation-at-trusted-time: a revocation
///   or invalidity date after the trusted time passes with a note, D6);
/// - the two signers are different people: different certificates and national IDs (D2);
/// - the first signer's certificate says first-signature for the document's entity, the second's
///   second-signature (the Ministry of Finance representative); a data-entry clerk's certificate
///   never passes (roles: D2, D3, D13);
/// - when the payroll file is given, its SHA-256 and size are the document's file number and
///   file-bytes (file-number: D9).
///
/// The signers' own signing-time attributes are reported, never trusted: the trusted time is a
/// given time, a time-stamp, or the moment of verification. Each signer is judged at its own:
/// the latest time its RFC 3161 signature time-stamp token proves (genTime plus accuracy) when the
/// token verifies (`timeStampProblems`), else the order's; a token present that does not verify
/// fails validity-at-trusted-time, naming why.
public enum OrderVerification {
    /// The role values paysign writes into signer-attributes-v2.
    public static let firstRole = CertificateRoleRule.firstRole, secondRole = CertificateRoleRule.secondRole
    /// The organizational units (OU) of paysign's PKI (Certs/make-test-pki.sh, the daemon's issuer).
    public static let firstUnit = CertificateRoleRule.firstUnit, secondUnit = CertificateRoleRule.secondUnit
    public static let clerkUnit = CertificateRoleRule.clerkUnit

    public static func judge(_ facts: OrderFacts, order name: String) -> VerificationReport {
        var checks: [Check] = []
        let time = facts.trustedTime.date

        checks.reserveCapacity(CheckName.offlineChecks.count)
        // The document (parsed here: the canonical form is a domain rule). Its check is reported
        // after cms-structure.
        let (document, grouped, documentCheck) = readDocument(facts)

        if let problem = facts.structureProblem {
            checks.append(Check(.cmsStructure, .fail, problem))
            checks.append(documentCheck)
            let unread = "not checked: the signature file could not be read"
            for name in CheckName.offlineChecks where ![.cmsStructure, .orderDocument, .fileNumber].contains(name) {
                checks.append(Check(name, .indeterminate, unread))
            }
            checks.append(fileNumber(facts, document, grouped: grouped))
            return finish(checks, facts: facts, document: document, grouped: grouped, name: name, order: nil)
        }
        checks.append(Check(.cmsStructure, .pass, "a detached CMS SignedData with \(count(facts.signers.count, "SignerInfo"))"))
        checks.append(documentCheck)

        let signers = facts.signers
        let firsts = signers.filter { $0.claimedRole == firstRole }
        let seconds = signers.filter { $0.claimedRole == secondRole }
        let documentReadable = facts.document != nil

        checks.append(signatureCheck(.firstSignature, role: firstRole, firsts, documentReadable: documentReadable))
        checks.append(signatureCheck(.secondSignature, role: secondRole, seconds, documentReadable: documentReadable))
        checks.append(chainCheck(signers))
        checks.append(validityCheck(signers, at: time))
        checks.append(revocationCheck(signers, at: time))

        let order = signingOrder(signers)
        checks.append(countAndOrderCheck(signers, firsts: firsts, seconds: seconds, order: order))
        checks.append(bindingCheck(firsts: firsts, seconds: seconds))
        checks.append(distinctCheck(signers))
        checks.append(rolesCheck(signers, document: document))
        checks.append(fileNumber(facts, document, grouped: grouped))
        return finish(checks, facts: facts, document: document, grouped: grouped, name: name, order: order)
    }

    /// The order document parsed (nil when it cannot be), its file number as written, and the
    /// order-document check.
    static func readDocument(_ facts: OrderFacts) -> (document: OrderDocument?, grouped: String?, check: Check) {
        guard let bytes = facts.document else {
            return (nil, nil, Check(.orderDocument, .fail, facts.documentProblem ?? "the order document could not be read"))
        }
        do {
            let document: OrderDocument
            var grouped: String?
            if let quick = OrderDocument.quickParse(bytes) {
                (document, grouped) = (quick.document, quick.fileNumber)
            } else {
                document = try OrderDocument(parsing: bytes)
            }
            return (document, grouped,
                    Check(.orderDocument, .pass, "the order document is in canonical form (order \(document.orderID), entity \(document.metadata.entityCode))"))
        } catch {
            return (nil, nil, Check(.orderDocument, .fail, "\(error)"))
        }
    }

    // MARK: The checks

    private static func signatureCheck(_ name: CheckName, role: String, _ claimants: [SignerFacts], documentReadable: Bool) -> Check {
        guard !claimants.isEmpty else {
            return Check(name, .fail, "no signature in the file claims the \(role) role", rule: .d2)
        }
        var problems: [String] = []
        for signer in claimants {
            let who = describe(signer)
            guard signer.certificate != nil else {
                problems.append("\(who): the file does not carry the signer's certificate")
                continue
            }
            guard signer.scheme != nil else {
                problems.append("\(who): its algorithms are not SHA-256 with RSA, RSASSA-PSS or ECDSA")
                continue
            }
            if !signer.signatureVerifies {
                problems.append("\(who): the signature does not verify over its signed attributes with the certificate's key")
            }
            if !documentReadable {
                problems.append("\(who): the message digest could not be compared, the document was not read")
            } else if !signer.messageDigestMatches {
                problems.append("\(who): it was made over other content (its message digest is not the SHA-256 of this document)")
            }
            if !signer.contentTypeIsData {
                problems.append("\(who): its content-type attribute is missing or not id-data")
            }
            switch signer.signingCertificateMatches {
            case true?: break
            case false?: problems.append("\(who): its signing-certificate-v2 attribute names another certificate")
            case nil: problems.append("\(who): it has no signing-certificate-v2 attribute (required by CAdES-BES)")
            }
        }
        if problems.isEmpty {
            let who = claimants.map(describe).joined(separator: ", ")
            return Check(name, .pass, "\(who): the signature verifies and covers this document's SHA-256")
        }
        return Check(name, .fail, sentence(problems))
    }

    private static func chainCheck(_ signers: [SignerFacts]) -> Check {
        guard !signers.isEmpty else { return Check(.certificateChain, .fail, "the file holds no signer") }
        var problems: [String] = []
        var anchors: [String] = []
        for signer in signers {
            let who = describe(signer)
            guard let certificate = signer.certificate else {
                problems.append("\(who): no certificate in the file")
                continue
            }
            if let chain = signer.chain, chain.trusted {
                if let anchor = chain.path.last { anchors.append(anchor.commonName ?? anchor.subject) }
            } else {
                problems.append("\(who): the certificate does not chain to a trust anchor (\(signer.chain?.problem ?? "no chain built"); issuer \(certificate.issuer))")
            }
            if certificate.isCA {
                problems.append("\(who): the certificate is a CA certificate, which does not sign orders")
            }
            if !certificate.hasKeyUsage {
                problems.append("\(who): the certificate has no key usage extension (digitalSignature or nonRepudiation required)")
            } else if !certificate.digitalSignature && !certificate.nonRepudiation {
                problems.append("\(who): the certificate's key usage allows neither digitalSignature nor nonRepudiation")
            }
        }
        if problems.isEmpty {
            let names = Array(Set(anchors)).sorted().joined(separator: ", ")
            return Check(.certificateChain, .pass, "every signer's certificate chains to the trust anchor \(names) and allows signatures")
        }
        return Check(.certificateChain, .fail, sentence(problems))
    }

    private static func validityCheck(_ signers: [SignerFacts], at time: Date) -> Check {
        var problems: [String] = []
        var notes: [String] = []
        var checked = 0
        var stamped: [String] = []
        for signer in signers {
            let who = describe(signer)
            // A signer's own trusted time: its verified time-stamp's (D6); a token that does not
            // verify fails here, never falls back to the order's time in silence.
            var time = time, moment = "the trusted time"
            if let stamp = signer.timeStamp {
                if let own = stampedTime(stamp) {
                    // The earlier of two proofs that the signature existed: a later token never
                    // makes a signature the order's trusted time already covers worse.
                    if own < time { (time, moment) = (own, "the time of its time-stamp") }
                    stamped.append("\(who) at the time of its RFC 3161 time-stamp \(iso(own))")
                } else {
                    problems.append("\(who): its RFC 3161 time-stamp token does not verify (\(timeStampProblems(stamp).joined(separator: ", and "))), so it proves no time of signing")
                }
            }
            guard let certificate = signer.certificate else { continue }
            checked += 1
            let path = signer.chain.map { $0.path.isEmpty ? [certificate] : $0.path } ?? [certificate]
            for (position, link) in path.enumerated() {
                let whose = position == 0 ? "the certificate" : "the CA certificate \(link.commonName ?? link.subject)"
                if time < link.notBefore {
                    problems.append("\(who): \(whose) is not valid before \(iso(link.notBefore)), after \(moment) \(iso(time))")
                } else if time > link.notAfter {
                    problems.append("\(who): \(whose) expired on \(iso(link.notAfter)), before \(moment) \(iso(time))")
                    if position == 0, let claimed = signer.signingTime, claimed >= link.notBefore, claimed <= link.notAfter {
                        notes.append("\(who) claims to have signed at \(iso(claimed)), within the validity, but a signing-time attribute is not proof of time")
                    }
                }
            }
        }
        guard checked > 0 else { return Check(.validityAtTrustedTime, .fail, "no signer's certificate is in the file") }
        if problems.isEmpty {
            let own = stamped.isEmpty ? "" : " (\(stamped.joined(separator: ", ")))"
            return Check(.validityAtTrustedTime, .pass, "every certificate on the signers' paths is valid at the trusted time \(iso(time))\(own)", rule: .d6)
        }
        return Check(.validityAtTrustedTime, .fail, sentence(problems), rule: .d6, notes: notes)
    }

    private static func revocationCheck(_ signers: [SignerFacts], at time: Date) -> Check {
        var failures: [String] = []
        var unknown: [String] = []
        var notes: [String] = []
        var lists: Set<String> = []
        var stamped: [String] = []
        /// One certificate's revocation at `time`: `whose` names it ("the certificate", "the CA
        /// certificate X on its path"), `moment` the time ("the trusted time", "the time of its
        /// time-stamp").
        func judge(_ revocation: RevocationFacts, who: String, whose: String, authority: Bool = false, at time: Date, moment: String) {
            let list: RevocationListFacts
            switch revocation {
            case .noList(let issuer):
                unknown.append("\(who): no revocation list signed by the issuer of \(whose) (\(issuer)) was given")
                return
            case .notListed(let held):
                list = held
            case .listed(let entry, let held):
                list = held
                let reason = entry.reason.map { " (\($0))" } ?? ""
                let when = entry.invalidityDate.map { "invalid from \(iso($0)), revoked \(iso(entry.revocationDate))" }
                    ?? "revoked \(iso(entry.revocationDate))"
                // A CA whose key was compromised could have issued, and backdated, anything.
                if authority && isCompromise(entry.reason) {
                    failures.append("\(who): \(whose) was \(when)\(entry.reason == nil ? " (no reason given)" : reason): a compromised CA key makes every certificate under it suspect, whatever the trusted time")
                    return
                }
                if entry.effectiveDate <= time {
                    failures.append("\(who): \(whose) was \(when)\(reason), before \(moment) \(iso(time))")
                    return
                }
                notes.append("\(who): \(whose) was \(when)\(reason), after \(moment) \(iso(time)); the signature was made while it was in force")
            }
            // A list issued before the trusted time proves nothing about it once it has expired.
            if list.thisUpdate < time, let next = list.nextUpdate, next < time {
                unknown.append("\(who): the newest revocation list of \(list.issuer) expired on \(iso(next)), before \(moment) \(iso(time))")
                return
            }
            if list.thisUpdate < time, list.nextUpdate == nil {
                notes.append("the revocation list of \(list.issuer) has no next update; it is taken as current")
            }
            lists.insert("CRL \(list.number ?? "without number") of \(iso(list.thisUpdate))")
        }
        for signer in signers {
            let who = describe(signer)
            // The signer's own trusted time when a verified time-stamp gives it one (D6).
            var time = time, moment = "the trusted time"
            if let stamp = signer.timeStamp, let own = stampedTime(stamp), own < time {
                (time, moment) = (own, "the time of its time-stamp")
                stamped.append("\(who) at the time of its RFC 3161 time-stamp \(iso(own))")
            }
            guard signer.certificate != nil, let revocation = signer.revocation else {
                unknown.append("\(who): no certificate to look up")
                continue
            }
            judge(revocation, who: who, whose: "the certificate", at: time, moment: moment)
            // Every intermediate CA on the path too: a revoked CA revokes what it issued (RFC 5280 6.3).
            for authority in signer.chain?.authorityRevocations ?? [] {
                judge(authority.revocation, who: who, whose: "the CA certificate \(authority.certificate.displayName) on its path",
                      authority: true, at: time, moment: moment)
            }
        }
        if !failures.isEmpty {
            return Check(.revocationAtTrustedTime, .fail, sentence(failures), rule: .d6, notes: notes)
        }
        if !unknown.isEmpty {
            return Check(.revocationAtTrustedTime, .indeterminate, sentence(unknown), rule: .d6, notes: notes)
        }
        let authorities = signers.contains { !($0.chain?.authorityRevocations.isEmpty ?? true) }
        let own = stamped.isEmpty ? "" : "; \(stamped.joined(separator: ", "))"
        return Check(.revocationAtTrustedTime, .pass,
                     "no signer's certificate\(authorities ? " nor intermediate CA on their paths" : "") was revoked by the trusted time (\(lists.sorted().joined(separator: ", "))\(own))",
                     rule: .d6, notes: notes)
    }

    // MARK: Time-stamps

    /// The time a verified signature time-stamp gives its signer: genTime plus the token's
    /// accuracy, the latest moment it proves the signature existed by; nil when it does not verify.
    public static func stampedTime(_ stamp: TimeStampFacts) -> Date? {
        guard let latest = stamp.latestTime, timeStampProblems(stamp).isEmpty else { return nil }
        return latest
    }

    /// Why a signature time-stamp token proves nothing, one phrase each; empty when it verifies:
    /// readable, the TSA's signature good, the imprint the hash of this signature, the TSA's
    /// certificate named by the token, for time-stamping alone (critical EKU, RFC 3161 2.3),
    /// chaining to a trust anchor, valid at genTime and not revoked by then.
    public static func timeStampProblems(_ stamp: TimeStampFacts) -> [String] {
        if let problem = stamp.problem { return [problem] }
        var problems: [String] = []
        if !stamp.signatureVerifies { problems.append("the TSA's signature over the token does not verify") }
        if !stamp.imprintMatches {
            if let algorithm = stamp.hashAlgorithm, !["sha256", "sha384", "sha512"].contains(algorithm) {
                problems.append("its message imprint uses \(algorithm), not SHA-256, SHA-384 or SHA-512")
            } else {
                problems.append("its message imprint is not the hash of this signature: it time-stamps something else")
            }
        }
        guard let certificate = stamp.certificate else {
            problems.append("it does not carry the TSA's certificate")
            return problems
        }
        let tsa = certificate.commonName ?? certificate.subject
        if !stamp.timeStampingUsage {
            problems.append("the TSA certificate (\(tsa)) lacks the critical extended key usage timeStamping, alone, that RFC 3161 2.3 requires")
        }
        if !stamp.signingCertificateMatches {
            problems.append("its signing-certificate attribute does not name the TSA certificate (\(tsa)) (RFC 3161 2.4.1)")
        }
        if stamp.chain?.trusted != true {
            problems.append("the TSA certificate (\(tsa)) does not chain to a trust anchor (\(stamp.chain?.problem ?? "no chain built"); issuer \(certificate.issuer))")
        }
        guard let genTime = stamp.genTime else {
            problems.append("its genTime cannot be read")
            return problems
        }
        let path = stamp.chain.map { $0.path.isEmpty ? [certificate] : $0.path } ?? [certificate]
        for link in path where genTime < link.notBefore || genTime > link.notAfter {
            let whose = link == certificate ? "the TSA certificate (\(tsa))" : "the CA certificate \(link.commonName ?? link.subject)"
            problems.append("\(whose) was not valid at the token's genTime \(iso(genTime)) (valid \(iso(link.notBefore)) to \(iso(link.notAfter)))")
        }
        // The TSA's certificate and every CA on its path, in their issuers' lists: a token whose
        // signer cannot be looked up proves nothing, and a key compromise makes every token under
        // it suspect whatever its genTime (a stolen key can write any genTime; RFC 3161 4).
        func revocation(_ revocation: RevocationFacts?, whose: String) {
            switch revocation {
            case nil, .noList?:
                problems.append("no revocation list of the issuer of \(whose) was given, so the token cannot be relied on")
            case .notListed?:
                break
            case .listed(let entry, _)?:
                let reason = entry.reason ?? "no reason given"
                if isCompromise(entry.reason) {
                    problems.append("\(whose) was revoked \(iso(entry.effectiveDate)) for \(reason): a compromised key can write any genTime")
                } else if entry.effectiveDate <= genTime {
                    problems.append("\(whose) was revoked \(iso(entry.effectiveDate)) (\(reason)), before the token's genTime \(iso(genTime))")
                }
            }
        }
        revocation(stamp.revocation, whose: "the TSA certificate (\(tsa))")
        for authority in stamp.chain?.authorityRevocations ?? [] {
            revocation(authority.revocation, whose: "the CA certificate \(authority.certificate.displayName) on the TSA's path")
        }
        return problems
    }

    /// A revocation that says the key may have been in other hands (RFC 5280 5.3.1): no reason
    /// code (unspecified), unspecified, keyCompromise, cACompromise, aACompromise.
    static func isCompromise(_ reason: String?) -> Bool {
        guard let reason else { return true }
        return ["unspecified", "keyCompromise", "cACompromise", "aACompromise"].contains(reason)
    }

    /// The signers from first to last as the bindings prove it: one without a preceding-signature
    /// attribute, each next one bound to the one before; nil when they form no such chain.
    static func signingOrder(_ signers: [SignerFacts]) -> [SignerFacts]? {
        let unbound = signers.filter { !$0.hasPrecedingSignature }
        guard unbound.count == 1 else { return nil }
        var order = unbound
        while order.count < signers.count {
            let next = signers.filter { $0.precededBy == order[order.count - 1].index }
            guard next.count == 1, !order.contains(where: { $0.index == next[0].index }) else { return nil }
            order.append(next[0])
        }
        return order
    }

    private static func countAndOrderCheck(_ signers: [SignerFacts], firsts: [SignerFacts], seconds: [SignerFacts],
                                           order: [SignerFacts]?) -> Check {
        let roles = signers.map { $0.claimedRole ?? "none" }.joined(separator: ", ")
        guard signers.count == 2 else {
            return Check(.signerCountAndOrder, .fail, "the file holds \(count(signers.count, "signature")) (roles \(roles)); a payment order has exactly two, first then second", rule: .d2)
        }
        guard firsts.count == 1, seconds.count == 1 else {
            return Check(.signerCountAndOrder, .fail, "the signatures claim the roles \(roles); exactly one first and one second are needed", rule: .d2)
        }
        guard let order else {
            return Check(.signerCountAndOrder, .fail, "the file does not prove which signature came first: they are not bound one to the other", rule: .d2)
        }
        guard order.map(\.claimedRole) == [firstRole, secondRole] else {
            return Check(.signerCountAndOrder, .fail, "the signature claiming the first role was made after the one claiming the second (it is bound to it)", rule: .d2)
        }
        return Check(.signerCountAndOrder, .pass, "two signatures: \(describe(order[0])) first, then \(describe(order[1]))", rule: .d2)
    }

    private static func bindingCheck(firsts: [SignerFacts], seconds: [SignerFacts]) -> Check {
        guard firsts.count == 1, seconds.count == 1 else {
            return Check(.binding, .fail, "there is no single first and second signature to bind one to the other", rule: .d2)
        }
        let first = firsts[0], second = seconds[0]
        guard second.hasPrecedingSignature else {
            return Check(.binding, .fail, "the second signature carries no preceding-signature attribute, so nothing proves it was made after the first", rule: .d2)
        }
        guard second.precededBy == first.index else {
            return Check(.binding, .fail, "the second signature's preceding-signature attribute does not name the first signature in this file", rule: .d2)
        }
        return Check(.binding, .pass, "the second signature signs the SHA-256 of the first signature (preceding-signature)", rule: .d2)
    }

    private static func distinctCheck(_ signers: [SignerFacts]) -> Check {
        guard signers.count >= 2 else {
            return Check(.distinctSigners, .fail, "the file holds \(count(signers.count, "signature")); two different people must sign", rule: .d2)
        }
        var problems: [String] = []
        for signer in signers where !(signer.certificate.map(DistinctSignersRule.namesPerson) ?? false) {
            problems.append("\(describe(signer)): the certificate names no national ID (subject serialNumber), so the signers cannot be told apart")
        }
        for (position, a) in signers.enumerated() {
            for b in signers[(position + 1)...] {
                guard let x = a.certificate, let y = b.certificate else { continue }
                if x.sha256 == y.sha256 {
                    problems.append("\(describe(a)) and \(describe(b)) signed with the same certificate")
                } else if let idA = x.nationalID, !idA.isEmpty, idA == y.nationalID {
                    problems.append("\(describe(a)) and \(describe(b)) are the same person (national ID \(idA))")
                }
            }
        }
        if problems.isEmpty {
            let ids = signers.compactMap { $0.certificate?.nationalID }.joined(separator: ", ")
            return Check(.distinctSigners, .pass, "the signers are different people (national IDs \(ids))", rule: .d2)
        }
        return Check(.distinctSigners, .fail, sentence(problems), rule: .d2)
    }

    /// The `roles` check: each signer's certificate against the role it claims, by
    /// `CertificateRoleRule` (D2, D3, D13), the rule the daemon applies before it signs.
    private static func rolesCheck(_ signers: [SignerFacts], document: OrderDocument?) -> Check {
        var problems: [String] = []
        var notes: [String] = []
        var rule = RuleNumber.d2
        let entity = document?.metadata.entityCode
        if entity == nil { notes.append("the entity was not compared: the order document could not be read") }
        for signer in signers {
            let who = describe(signer)
            guard let certificate = signer.certificate else {
                problems.append("\(who): no certificate to read the role from")
                continue
            }
            for finding in CertificateRoleRule.findings(
                who: who, act: "signed", claimedRole: signer.claimedRole, certificate: certificate, entity: entity)
            {
                problems.append(finding.problem)
                if finding.rule != .d2 { rule = finding.rule }
            }
        }
        if signers.isEmpty { problems.append("the file holds no signer") }
        if problems.isEmpty {
            return Check(.roles, .pass, "the first signer's certificate is a first-signature holder's\(entity.map { " of \($0)" } ?? ""), the second's a second-signature holder's", rule: .d2, notes: notes)
        }
        return Check(.roles, .fail, sentence(problems), rule: rule, notes: notes)
    }

    /// The certificate is for `entity` (D3): `CertificateRoleRule.matches`.
    public static func matches(_ certificate: CertificateFacts, entity: String) -> Bool {
        CertificateRoleRule.matches(certificate, entity: entity)
    }

    static func fileNumber(_ facts: OrderFacts, _ document: OrderDocument?, grouped: String?) -> Check {
        guard let document else {
            return Check(.fileNumber, .indeterminate, "not checked: the order document could not be read", rule: .d9)
        }
        guard let file = facts.payrollFile else {
            return Check(.fileNumber, .skipped, "no payroll file was given (--file), so the file number \(grouped ?? document.fileNumber.grouped) was not compared with one", rule: .d9)
        }
        guard let number = FileNumber(digest: file.sha256) else {
            return Check(.fileNumber, .fail, "the payroll file's digest is not a SHA-256", rule: .d9)
        }
        guard number == document.fileNumber else {
            return Check(.fileNumber, .fail, "the payroll file's number is \(number.grouped), not the signed \(document.fileNumber.grouped)", rule: .d9)
        }
        guard file.byteCount == document.fileBytes else {
            return Check(.fileNumber, .fail, "the payroll file has \(count(file.byteCount, "byte")), not the signed \(document.fileBytes)", rule: .d9)
        }
        return Check(.fileNumber, .pass, "the payroll file's SHA-256 is the signed file number \(number.grouped)", rule: .d9)
    }

    // MARK: The report

    private static func finish(_ unordered: [Check], facts: OrderFacts, document: OrderDocument?, grouped: String?,
                               name: String, order: [SignerFacts]?) -> VerificationReport {
        // The checks are made in report order; sorted only if they were not (a copy per check).
        let inOrder = zip(unordered, unordered.dropFirst()).allSatisfy { !($1.name < $0.name) }
        let checks = inOrder ? unordered : unordered.sorted { $0.name < $1.name }
        let verdict = verdict(of: checks)
        let listed = order ?? facts.signers
        let signers = listed.enumerated().map { position, signer in
            SignerReport(
                position: order == nil ? nil : position + 1, signerInfo: signer.index + 1, claimedRole: signer.claimedRole,
                claimedSigningTime: signer.signingTime, scheme: signer.scheme, certificate: signer.certificate,
                trustAnchor: signer.chain.flatMap { $0.trusted ? $0.path.last?.subject : nil },
                revocation: signer.revocation.map(describe),
                timeStamp: signer.timeStamp.map(timeStampReport),
                trustedTime: signer.timeStamp.map { ownTime($0, order: facts.trustedTime) })
        }
        var trusted = facts.trustedTime
        if facts.signers.contains(where: { $0.timeStamp != nil }) {
            let verified = facts.signers.contains { $0.timeStamp.flatMap(stampedTime) != nil }
            let remark = verified
                ? "a signature with a verified RFC 3161 time-stamp token earlier than this time is judged at the token's time instead (its signer's trustedTime)"
                : "a signature's RFC 3161 time-stamp token does not verify (validity-at-trusted-time)"
            trusted.note = trusted.note.map { $0 + "; " + remark } ?? remark
        }
        return VerificationReport(
            order: name, verdict: verdict, trustedTime: trusted, document: document.map { DocumentSummary($0, fileNumber: grouped) }, checks: checks,
            signers: signers)
    }

    static func timeStampReport(_ stamp: TimeStampFacts) -> TimeStampReport {
        let problems = timeStampProblems(stamp)
        return TimeStampReport(
            verified: problems.isEmpty, problem: problems.isEmpty ? nil : sentence(problems), genTime: stamp.genTime,
            accuracySeconds: stamp.accuracy, tsa: stamp.certificate?.subject, hashAlgorithm: stamp.hashAlgorithm)
    }

    /// A time-stamped signer's trusted time and why: the token's when it verifies, else the
    /// order's, saying the token was refused.
    static func ownTime(_ stamp: TimeStampFacts, order: TrustedTime) -> TrustedTime {
        guard let own = stampedTime(stamp), let genTime = stamp.genTime else {
            return TrustedTime(
                date: order.date, source: order.source,
                note: "its RFC 3161 time-stamp token does not verify, so it gives this signature no time of its own and the order fails validity-at-trusted-time")
        }
        let tsa = stamp.certificate.map { $0.commonName ?? $0.subject } ?? "the TSA"
        let accuracy = stamp.accuracy.map { " ± \(seconds($0)) s" } ?? " (no accuracy stated)"
        guard own < order.date else {
            return TrustedTime(
                date: order.date, source: order.source,
                note: "its RFC 3161 time-stamp of \(tsa) (genTime \(iso(genTime))\(accuracy)) verifies but is not earlier than the order's trusted time, which is kept: the earlier proof that the signature existed")
        }
        return TrustedTime(
            date: own, source: .timeStamp,
            note: "the RFC 3161 time-stamp of \(tsa): genTime \(iso(genTime))\(accuracy); validity and revocation are judged at its latest time \(iso(own)), not the order's trusted time")
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() && value.magnitude < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Invalid when a check failed, else indeterminate when one could not be made, else valid.
    static func verdict(of checks: [Check]) -> VerificationReport.Verdict {
        if checks.contains(where: { $0.status == .fail }) { return .invalid }
        if checks.contains(where: { $0.status == .indeterminate }) { return .indeterminate }
        return .valid
    }

    static func describe(_ revocation: RevocationFacts) -> String {
        switch revocation {
        case .noList(let issuer): return "no revocation list of \(issuer)"
        case .notListed(let list): return "not listed (CRL \(list.number ?? "without number"), \(iso(list.thisUpdate)))"
        case .listed(let entry, let list):
            return "revoked \(iso(entry.revocationDate))" + (entry.invalidityDate.map { ", invalid from \(iso($0))" } ?? "")
                + (entry.reason.map { " (\($0))" } ?? "") + " in CRL \(list.number ?? "without number")"
        }
    }

    static func describe(_ signer: SignerFacts) -> String {
        let name = signer.certificate?.commonName ?? signer.certificate?.subject
        return "SignerInfo \(signer.index + 1)" + (name.map { " (\($0))" } ?? "")
    }

    static func sentence(_ problems: [String]) -> String { problems.joined(separator: "; ") }

    static func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// `2026-11-24T10:00:00Z`: ISO 8601 in UTC, whole seconds (what Foundation's `.iso8601`
    /// writes), computed directly because a batch formats a few dates per order.
    public static func iso(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        var days = seconds / 86_400
        var rest = seconds % 86_400
        if rest < 0 { rest += 86_400; days -= 1 }
        // Civil date from days since 1970 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        guard (0...9999).contains(year) else {
            func two(_ n: Int) -> String { n < 10 ? "0" + String(n) : String(n) }
            let yearText = String(year)
            return String(repeating: "0", count: max(0, 4 - yearText.count)) + yearText + "-" + two(month) + "-" + two(day) + "T"
                + two(rest / 3600) + ":" + two(rest % 3600 / 60) + ":" + two(rest % 60) + "Z"
        }
        // Twenty ASCII bytes written in place: a batch formats several dates per order.
        return String(unsafeUninitializedCapacity: 20) { out in
            func put(_ value: Int, _ digits: Int, at offset: Int) {
                var value = value
                for position in stride(from: offset + digits - 1, through: offset, by: -1) {
                    out[position] = UInt8(truncatingIfNeeded: 0x30 + value % 10)
                    value /= 10
                }
            }
            put(year, 4, at: 0)
            out[4] = UInt8(ascii: "-")
            put(month, 2, at: 5)
            out[7] = UInt8(ascii: "-")
            put(day, 2, at: 8)
            out[10] = UInt8(ascii: "T")
            put(rest / 3600, 2, at: 11)
            out[13] = UInt8(ascii: ":")
            put(rest % 3600 / 60, 2, at: 14)
            out[16] = UInt8(ascii: ":")
            put(rest % 60, 2, at: 17)
            out[19] = UInt8(ascii: "Z")
            return 20
        }
    }
}
