public import PaysignDomain
public import PaysignPKCS11
public import PaysignStore
public import PaysignTokens
public import PaysignSecrets

/// One `C_Login` with a caller's PIN, journaled: `login-succeeded`, `login-failed` with the PIN
/// state the token reports (never the PIN, rule D5), or a refusal when no PIN was tried (final try
/// not confirmed, token gone). A wrong PIN is never retried; the session is closed after a failure.
public enum TokenLogin {
    /// - Parameter journalSuccess: false when the caller writes the returned `login-succeeded`
    ///   entry itself, in the transaction of what the login was for (a signature: no journal write
    ///   then holds the token's lock). Failures are always journaled here, at once.
    /// - Returns: the `login-succeeded` entry.
    @discardableResult
    public static func login(
        _ signer: TokenSigner, pin: PIN?, confirmFinalTry: Bool, by actor: AuditActor, registry: Registry,
        bus: EventBus?, journalSuccess: Bool = true
    ) async throws -> AuditEvent {
        let serial = signer.session.token.serialNumber
        let label = signer.session.token.label
        do {
            let report = try await signer.login(pin: pin, confirmFinalTry: confirmFinalTry)
            let succeeded = AuditEvent.loginSucceeded(.init(tokenSerial: serial))
            if journalSuccess { _ = try await registry.append(succeeded, by: actor) }
            if report.before != report.after { announce(bus, label: label, serial: serial, state: report.after) }
            return succeeded
        } catch let error as PKCS11Error {
            await signer.session.close()
            await journal(error, serial: serial, label: label, by: actor, registry: registry, bus: bus)
            throw error
        }
    }

    /// Journals a login that failed: `login-failed` with the PIN state the token reports when the
    /// token judged a PIN, else a refusal (no PIN was tried: final try not confirmed, a PIN outside
    /// the token's limits, token gone). Also for the context-specific login a key with
    /// `CKA_ALWAYS_AUTHENTICATE` asks for at every signature.
    public static func journal(
        _ error: PKCS11Error, serial: String, label: String, by actor: AuditActor, registry: Registry, bus: EventBus?
    ) async {
        if error.function == "C_Login" && [.pinIncorrect, .pinLocked, .pinExpired].contains(error.code) {
            // The token judged a PIN: that is a failed login, with the state it reports.
            let state: PaysignDomain.PINState = error.pinState.map(journalState) ?? .incorrect
            _ = try? await registry.append(.loginFailed(.init(tokenSerial: serial, pinState: state)), by: actor)
            if let after = error.pinState { announce(bus, label: label, serial: serial, state: after) }
        } else {
            _ = try? await registry.append(
                .refusal(.init(rule: error.code == .pinFinalTry ? .d5 : nil, reason: error.message)), by: actor)
        }
    }

    static func announce(_ bus: EventBus?, label: String, serial: String, state: PaysignPKCS11.PINState) {
        bus?.publish(DaemonEvent(type: "pin-state-changed", detail: ["token": label, "serial": serial, "pinState": state.summary]))
    }

    static func journalState(_ state: PaysignPKCS11.PINState) -> PaysignDomain.PINState {
        if state.contains(.locked) { return .locked }
        if state.contains(.finalTry) { return .finalTry }
        if state.contains(.countLow) { return .countLow }
        return .incorrect
    }
}
