import PaysignDomain
import PaysignOpenSSL
import PaysignPKCS11
import PaysignTokens

/// Maps what the token and paysign's token checks say to problem details on the API.
enum TokenProblems {
    static func problem(for error: any Error) -> Problem? {
        switch error {
        case let error as PKCS11Error:
            switch error.code {
            case .pinIncorrect: return Problem(.wrongPIN, error.message, rule: .d5)
            case .pinLocked, .pinFinalTry, .pinExpired: return Problem(.pinLocked, error.message, rule: .d5)
            case .tokenNotFound, .ambiguousToken, .tokenRemoved, .sessionInvalid: return Problem(.tokenAbsent, error.message)
            case .invalidURI: return Problem(.invalidField, error.message)
            case .pinRequired, .pinInvalid: return Problem(.invalidField, error.message)
            default: return Problem(.tokenFailed, error.description)
            }
        case let error as TokenError:
            switch error.code {
            case .pinInURI: return Problem(.invalidField, error.message, rule: .d5)
            case .certificateExpired, .certificateNotYetValid: return Problem(.ruleViolated, error.message, rule: .d6)
            default: return Problem(.tokenFailed, error.message)
            }
        case let error as CMSError:
            // The earlier signatures of an order say who may sign after them (D2): the wrapper
            // names no rule, this edge does.
            switch error.code {
            case .sameSigner, .contentMismatch, .orderUnproven, .previousSignatureInvalid:
                return Problem(.ruleViolated, error.message, rule: .d2)
            default: return Problem(.tokenFailed, error.message)
            }
        default:
            return nil
        }
    }
}
