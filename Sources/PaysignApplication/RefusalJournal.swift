import Logging
import PaysignDomain
import PaysignStore

extension Registry {
    /// Journals a refusal of a use case (the attempt is evidence too): its rule, its sentence made
    /// fit for the journal (control characters replaced, at most 500 characters), the order
    /// document it was about. The refusal is answered even when it cannot be journaled; that
    /// failure is logged.
    func journalRefusal(
        rule: RuleNumber?, _ reason: String, by actor: AuditActor, document: SHA256Hex? = nil, logger: Logger
    ) async {
        do {
            _ = try await append(
                .refusal(.init(rule: rule, reason: RefusalThrottle.journalText(reason, limit: 500), documentSHA256: document)), by: actor)
        } catch {
            logger.error("could not journal a refusal: \(error)")
        }
    }

    /// The same for a use case's failure, which is returned to be thrown.
    func journalRefusal(_ failure: UseCaseError, by actor: AuditActor, document: SHA256Hex? = nil, logger: Logger) async -> UseCaseError {
        await journalRefusal(rule: failure.rule, failure.message, by: actor, document: document, logger: logger)
        return failure
    }
}
