public import Foundation
import Synchronization
public import PaysignPKCS11
public import PaysignOpenSSL
public import PaysignSecrets

/// A signature made on a token, in the encoding X.509 and CMS use.
public struct TokenSignature: Sendable, Hashable {
    public var algorithm: SignatureAlgorithm
    /// PKCS #1 v1.5 or PSS bytes for RSA; DER `Ecdsa-Sig-Value` for ECDSA.
    public var bytes: [UInt8]
}

/// One private key on one token, with the certificate beside it, ready to sign.
///
/// This is where a PIN goes: `login(pin:)` hands it to the token's `C_Login` once and lets it go
/// (rule D5). The signer never retries a wrong PIN, and it refuses to sign when the certificate
/// beside the key has expired or is not valid yet.
public final class TokenSigner: Sendable {
    public let session: PKCS11Session
    public let keyURI: PKCS11URI
    /// The key's certificate (same `CKA_ID`), checked before every signature.
    public let certificate: Certificate
    public let keyType: KeyType
    private let publicKey: ObjectInfo
    private let clock: @Sendable () -> Date
    /// The private key's handle, found once per login (a logout may end the handles of private
    /// objects: SoftHSM drops them).
    private let cachedKey = Mutex<ObjectInfo?>(nil)
    /// Set by `TokenService.discard(_:)`: a kept signer that is no longer handed out.
    private let retired = Mutex(false)
    /// The mechanisms the token offers (`PKCS11Slot.mechanisms()`), read once.
    private let offered = Mutex<[UInt: MechanismInfo]?>(nil)

    init(session: PKCS11Session, keyURI: PKCS11URI, certificate: Certificate, keyType: KeyType, publicKey: ObjectInfo, clock: @escaping @Sendable () -> Date) {
        self.session = session
        self.keyURI = keyURI
        self.certificate = certificate
        self.keyType = keyType
        self.publicKey = publicKey
        self.clock = clock
    }

    /// Logs in with the user PIN (or the PIN pad when `pin` is nil and the reader has one).
    @discardableResult
    public func login(pin: PIN?, confirmFinalTry: Bool = false) async throws -> LoginReport {
        cachedKey.withLock { $0 = nil }
        return try await session.login(pin: pin, confirmFinalTry: confirmFinalTry)
    }

    /// False once the session is gone (the token was removed, `PKCS11Session.invalidated`) or the
    /// signer was discarded from `TokenService`'s kept signers: get another one to sign.
    public var isUsable: Bool {
        !retired.withLock { $0 } && session.invalidated == nil
    }

    func retire() { retired.withLock { $0 = true } }

    /// Checks the certificate's validity now (rule D6: a surrendered or expired token cannot sign).
    public func checkCertificate(at date: Date? = nil) throws {
        let now = date ?? clock()
        switch certificate.validity(at: now) {
        case .valid: break
        case .expired:
            throw TokenError(.certificateExpired, "the certificate on token '\(session.token.label)' (\(certificate.commonName ?? certificate.subject), serial \(certificate.serialNumber)) expired on \(Self.day(certificate.notAfter)); it cannot sign")
        case .notYetValid:
            throw TokenError(.certificateNotYetValid, "the certificate on token '\(session.token.label)' (serial \(certificate.serialNumber)) is not valid before \(Self.day(certificate.notBefore)); it cannot sign yet")
        }
        if !certificate.keyUsage.isEmpty && certificate.keyUsage.isDisjoint(with: [.digitalSignature, .nonRepudiation]) {
            throw TokenError(.certificateUnusable, "the certificate on token '\(session.token.label)' does not allow digital signatures (key usage)")
        }
    }

    /// How the token makes a signature of `algorithm` (issue 21): from what it offers
    /// (`C_GetMechanismList`, `C_GetMechanismInfo`: the sign flag and key sizes), hashing on the
    /// token where it can, else the digest made here and `CKM_RSA_PKCS` over a DER DigestInfo; PSS
    /// and ECDSA only with their own mechanism. A token that offers none is refused here, before
    /// any login, naming what it lacks. A module that lists no mechanisms gets the usual one.
    public func mechanism(for algorithm: SignatureAlgorithm? = nil) async throws -> SigningMechanism {
        let algorithm = try resolve(algorithm)
        var mechanisms = offered.withLock { $0 }
        if mechanisms == nil {
            mechanisms = try? await session.slot.mechanisms()
            offered.withLock { $0 = mechanisms }
        }
        let choice = MechanismChoice.choose(algorithm, keyBits: keyBits, offered: mechanisms)
        guard let mechanism = choice.mechanism else {
            throw TokenError(
                .mechanismMissing,
                "token '\(session.token.label)' cannot make the \(algorithm.rawValue) signature asked for: \(choice.reason); nothing was sent to it and no PIN was used")
        }
        return mechanism
    }

    /// The key's size in bits: the RSA modulus, or the EC curve's.
    var keyBits: Int? { PaysignTokens.keyBits(publicKey) }

    /// Whether the key asks for its PIN at every signature (`CKA_ALWAYS_AUTHENTICATE`), as read
    /// since the last login (false before the key was found): such a login is never kept.
    public var asksPINPerSignature: Bool { cachedKey.withLock { $0?.alwaysAuthenticate ?? false } }

    /// Signs `message` (hashing first where the mechanism wants a digest). Needs a login first.
    /// `again`: the PIN presented once more for this signature when the key has
    /// `CKA_ALWAYS_AUTHENTICATE` (ignored for other keys; without it such a key is refused).
    public func sign(_ message: [UInt8], algorithm: SignatureAlgorithm? = nil, again: ContextLogin? = nil) async throws -> TokenSignature {
        let algorithm = try resolve(algorithm)
        try checkCertificate()
        let mechanism = try await mechanism(for: algorithm)
        let key = try await privateKey()
        let input = mechanism.input(message: message, digest: SHA256.hash(message))
        let raw = try await session.sign(input, mechanism: mechanism, key: key, again: again)
        return TokenSignature(algorithm: algorithm, bytes: try encode(raw, algorithm))
    }

    /// `sign` on the calling thread, for benchmarks that drive a token from a thread of their own.
    public func signBlocking(_ message: [UInt8], key: ObjectInfo, algorithm: SignatureAlgorithm) throws -> TokenSignature {
        let input = algorithm.mechanism.takesDigest ? SHA256.hash(message) : message
        let raw = try session.signBlocking(input, mechanism: algorithm.mechanism, key: key)
        return TokenSignature(algorithm: algorithm, bytes: try encode(raw, algorithm))
    }

    /// The DER SubjectPublicKeyInfo of the signer's public key object, read from the token
    /// (`PKCS11Session.subjectPublicKeyInfo(of:)`): what a certification request for this key carries.
    public func subjectPublicKeyInfo() async throws -> [UInt8] {
        try await session.subjectPublicKeyInfo(of: publicKey)
    }

    /// The private key object (visible only after login), found by the public key's `CKA_ID`.
    public func privateKey() async throws -> ObjectInfo {
        if let key = cachedKey.withLock({ $0 }) { return key }
        var uri = PKCS11URI()
        uri.id = publicKey.id
        uri.type = .privateKey
        let keys = try await session.objects(.privateKey, matching: uri)
        guard let key = keys.first else {
            throw TokenError(.keyNotFound, "token '\(session.token.label)' shows no private key with id \(Hex.string(publicKey.id)); log in first, or check the key's CKA_ID")
        }
        cachedKey.withLock { $0 = key }
        return key
    }

    private func resolve(_ algorithm: SignatureAlgorithm?) throws -> SignatureAlgorithm {
        guard let algorithm = algorithm ?? SignatureAlgorithm.default(for: keyType) else {
            throw TokenError(.algorithmMismatch, "the key \(keyURI) is neither RSA nor EC; paysign cannot sign with it")
        }
        guard algorithm.fits(keyType) else {
            throw TokenError(.algorithmMismatch, "\(algorithm.rawValue) does not fit the \(keyType.rawValue.uppercased()) key \(keyURI)")
        }
        return algorithm
    }

    private func encode(_ raw: [UInt8], _ algorithm: SignatureAlgorithm) throws -> [UInt8] {
        guard algorithm == .ecdsaSHA256 else { return raw }
        return try ECDSASignature(rawRepresentation: raw).derEncoded
    }

    static func day(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle().year().month().day())
    }
}
