// What Swift cannot import from the C libraries: function-like macros and constants
// built from casts. Every symbol carries the CPaysignShims_ prefix and says why it exists.
#ifndef CPAYSIGNSHIMS_H
#define CPAYSIGNSHIMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Opaque OpenSSL types, so this header needs no OpenSSL include of its own.
typedef struct bio_st CPaysignShims_BIO;
typedef struct X509_name_st CPaysignShims_X509_NAME;

/// OPENSSL_free is a macro (it passes __FILE__/__LINE__ to CRYPTO_free).
void CPaysignShims_OPENSSL_free(void *pointer);

/// BIO_get_mem_data is a macro over BIO_ctrl; returns the length and sets *data.
long CPaysignShims_BIO_get_mem_data(CPaysignShims_BIO *bio, char **data);

/// XN_FLAG_RFC2253 is a macro built from casts; this prints a name as RFC 2253 into a
/// new string that the caller frees with CPaysignShims_OPENSSL_free. NULL on failure.
char *CPaysignShims_X509_NAME_to_rfc2253(const CPaysignShims_X509_NAME *name);

/// CK_UNAVAILABLE_INFORMATION is (~0UL) and CKR_VENDOR_DEFINED a cast: not importable.
extern const unsigned long CPaysignShims_CK_UNAVAILABLE_INFORMATION;
extern const unsigned long CPaysignShims_CKR_VENDOR_DEFINED;

/// prctl(2) is in <sys/prctl.h>, which Glibc's Swift module does not import. Makes the process
/// not dumpable (no core file, no ptrace by the same user) and sets RLIMIT_CORE to 0, because
/// PINs pass through it (rule D5). Returns 0, or -1 with errno set.
int CPaysignShims_forbid_core_dumps(void);

/// setpriority(2) for the calling thread alone: Linux applies PRIO_PROCESS to the one thread whose
/// id (gettid(2), which Glibc's Swift module does not import) it is given. Lowering the nice value
/// below the thread's current one needs CAP_SYS_NICE or an RLIMIT_NICE that allows it (systemd's
/// LimitNICE=). Returns 0, or -1 with errno set.
int CPaysignShims_set_thread_nice(int nice);

/// pthread_setname_np(3) for the calling thread (at most 15 bytes are kept), so that ps, top and
/// perf name it. Returns 0 or an error number.
int CPaysignShims_set_thread_name(const char *name);

// Opaque OpenSSL CMS types for the CMS shims below (no OpenSSL include here either).
typedef struct CMS_SignerInfo_st CPaysignShims_CMS_SignerInfo;
typedef struct x509_st CPaysignShims_X509;

/// The ESS check (RFC 5035 signing-certificate-v2, or RFC 2634 signing-certificate) of one CMS
/// SignerInfo against its signer's certificate: OSSL_ESS_check_signing_certs is declared in
/// <openssl/ess.h>, which CLibCrypto's header does not include, and needs a STACK_OF(X509) built
/// with the sk_X509_* macros Swift cannot import. Returns 1 when the attribute names `signer`,
/// 0 when it names another certificate or cannot be decoded, -1 when the SignerInfo has neither
/// attribute. Leaves OpenSSL's reason in the error queue.
int CPaysignShims_CMS_SignerInfo_check_signing_certificate(CPaysignShims_CMS_SignerInfo *si, CPaysignShims_X509 *signer);

#ifdef __cplusplus
}
#endif
#endif
