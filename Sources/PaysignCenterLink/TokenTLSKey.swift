public import NIOCore
public import NIOSSL
public import PaysignTokens
import PaysignPKCS11

/// A TLS private key that stays on its token (issue 18, D8): swift-nio-ssl hands the handshake's
/// to-be-signed bytes to `sign`, the token signs them (`C_Sign`), and the signature goes back to
/// BoringSSL. TLS 1.3 signs with ECDSA P-256/SHA-256 (an EC key) or RSASSA-PSS/SHA-256 with a
/// 32-byte salt (an RSA key, rsa_pss_rsae_sha256); nothing else is offered.
///
/// The signer must be logged in; it signs for as long as its session lasts. The PIN that logged it
/// in came from the machine's credential (`LoadCredential=`), never from a file of the
/// configuration, the command line or the environment.
public final class TokenTLSKey: NIOSSLCustomPrivateKey, Hashable, @unchecked Sendable {
    // @unchecked: immutable; TokenSigner is Sendable.
    let signer: TokenSigner
    let algorithm: PaysignTokens.SignatureAlgorithm
    public let signatureAlgorithms: [NIOSSL.SignatureAlgorithm]

    public init(signer: TokenSigner) throws {
        self.signer = signer
        switch signer.keyType {
        case .ec:
            algorithm = .ecdsaSHA256
            signatureAlgorithms = [.ecdsaSecp256R1Sha256]
        case .rsa:
            algorithm = .rsaPSSSHA256
            signatureAlgorithms = [.rsaPssRsaeSha256]
        default:
            throw TokenError(.algorithmMismatch, "the key \(signer.keyURI) is neither RSA nor EC; it cannot sign a TLS handshake")
        }
    }

    public func sign(channel: any Channel, algorithm: NIOSSL.SignatureAlgorithm, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        let promise = channel.eventLoop.makePromise(of: ByteBuffer.self)
        guard signatureAlgorithms.contains(algorithm) else {
            promise.fail(TokenError(.algorithmMismatch, "the handshake asked the token for signature scheme \(algorithm.rawValue), which paysign does not offer"))
            return promise.futureResult
        }
        let message = Array(buffer: data)
        let (signer, chosen) = (signer, self.algorithm)
        promise.completeWithTask {
            let signature = try await signer.sign(message, algorithm: chosen)
            return ByteBuffer(bytes: signature.bytes)
        }
        return promise.futureResult
    }

    public func decrypt(channel: any Channel, data: ByteBuffer) -> EventLoopFuture<ByteBuffer> {
        channel.eventLoop.makeFailedFuture(TokenError(.algorithmMismatch, "TLS 1.3 never asks a key to decrypt"))
    }

    public static func == (a: TokenTLSKey, b: TokenTLSKey) -> Bool { a === b }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
