internal import CLibCrypto
#if canImport(Glibc)
import Glibc
#endif

/// OpenSSL 3 objects that are expensive to make and cheap to reuse, kept per thread.
///
/// OpenSSL 3 looks every algorithm up by name in its provider store when a context is made with a
/// legacy `EVP_MD` such as `EVP_sha256()` (`EVP_MD_fetch`, under the store's lock), and
/// `EVP_DigestVerifyInit` builds a new `EVP_PKEY_CTX` from the key on each call (key management
/// and signature fetches, the key's export to its provider). A batch of orders verifies thousands
/// of signatures by the same few certificates, so each thread keeps:
/// - one `EVP_MD_CTX` for SHA-256 (with SHA-256 fetched once per process), and
/// - one verify-initialised `EVP_PKEY_CTX` per certificate and scheme (at most `keyLimit`).
///
/// An `EVP_PKEY` may be shared between threads read-only; an `EVP_PKEY_CTX` may not, hence one per
/// thread. The contexts are freed when the thread ends.
final class ThreadCrypto {
    /// SHA-256 from the default provider, fetched once (an `EVP_MD` is reference-counted and
    /// shareable between threads). nil only if the provider has none; then `EVP_sha256()`.
    nonisolated(unsafe) static let fetchedSHA256: OpaquePointer? = EVP_MD_fetch(nil, "SHA2-256", nil)
    static var sha256: OpaquePointer { fetchedSHA256 ?? EVP_sha256() }

    /// How many certificate/scheme contexts a thread keeps before it starts again.
    static let keyLimit = 64

    private let digestContext: OpaquePointer?
    private var verifiers: [VerifierKey: KeyVerifier] = [:]

    private init() { digestContext = EVP_MD_CTX_new() }

    deinit { EVP_MD_CTX_free(digestContext) }

    /// The calling thread's instance, made on first use.
    static var current: ThreadCrypto {
        if let stored = pthread_getspecific(threadKey) {
            return Unmanaged<ThreadCrypto>.fromOpaque(stored).takeUnretainedValue()
        }
        let made = ThreadCrypto()
        pthread_setspecific(threadKey, Unmanaged.passRetained(made).toOpaque())
        return made
    }

    /// SHA-256 of `bytes` into `digest` (32 bytes) with the thread's context; false if OpenSSL fails.
    func sha256(_ bytes: UnsafeRawBufferPointer, into digest: UnsafeMutablePointer<UInt8>) -> Bool {
        guard let context = digestContext else { return false }
        var length: UInt32 = 0
        return EVP_DigestInit_ex(context, Self.sha256, nil) == 1
            && EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) == 1
            && EVP_DigestFinal_ex(context, digest, &length) == 1 && length == 32
    }

    /// The thread's verify context for `certificate`'s key in `scheme`, made on first use; nil
    /// when OpenSSL cannot make one (the caller then takes the one-shot path).
    func verifier(for certificate: Certificate, scheme: SignatureScheme) -> OpaquePointer? {
        let key = VerifierKey(certificate: ObjectIdentifier(certificate), scheme: scheme)
        // The entry holds the certificate, so its identifier cannot be reused while it is here.
        if let known = verifiers[key] { return known.context }
        guard let made = KeyVerifier(certificate: certificate, scheme: scheme) else { return nil }
        if verifiers.count >= Self.keyLimit { verifiers.removeAll(keepingCapacity: true) }
        verifiers[key] = made
        return made.context
    }

    private struct VerifierKey: Hashable {
        var certificate: ObjectIdentifier
        var scheme: SignatureScheme
    }
}

/// One certificate's public key, verify-initialised for one scheme (padding and digest set):
/// `EVP_PKEY_verify` may then be called on it again and again.
private final class KeyVerifier {
    let certificate: Certificate
    let context: OpaquePointer

    init?(certificate: Certificate, scheme: SignatureScheme) {
        guard let key = X509_get0_pubkey(certificate.x509), let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else {
            ERR_clear_error()
            return nil
        }
        var ok = EVP_PKEY_verify_init(context) == 1
        if ok, scheme == .rsaPSSSHA256 {
            ok = EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PSS_PADDING) == 1
                && EVP_PKEY_CTX_set_rsa_pss_saltlen(context, 32) == 1
                && EVP_PKEY_CTX_set_rsa_mgf1_md(context, ThreadCrypto.sha256) == 1
        } else if ok, scheme == .rsaPKCS1SHA256 {
            ok = EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PADDING) == 1
        }
        ok = ok && EVP_PKEY_CTX_set_signature_md(context, ThreadCrypto.sha256) == 1
        guard ok else {
            EVP_PKEY_CTX_free(context)
            ERR_clear_error()
            return nil
        }
        self.certificate = certificate
        self.context = context
    }

    deinit { EVP_PKEY_CTX_free(context) }
}

/// The key under which each thread's `ThreadCrypto` is stored; released when the thread ends.
private let threadKey: pthread_key_t = {
    var key = pthread_key_t()
    let status = pthread_key_create(&key) { stored in
        guard let stored else { return }
        Unmanaged<ThreadCrypto>.fromOpaque(stored).release()
    }
    precondition(status == 0, "pthread_key_create failed")
    return key
}()
