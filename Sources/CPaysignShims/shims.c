// gettid(2) and pthread_setname_np(3) are GNU extensions.
#define _GNU_SOURCE 1
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "CPaysignShims.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <string.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

_Static_assert(sizeof(unsigned long) == sizeof(CK_ULONG), "CK_ULONG is unsigned long");

const unsigned long CPaysignShims_CK_UNAVAILABLE_INFORMATION = CK_UNAVAILABLE_INFORMATION;
const unsigned long CPaysignShims_CKR_VENDOR_DEFINED = CKR_VENDOR_DEFINED;

void CPaysignShims_OPENSSL_free(void *pointer) { OPENSSL_free(pointer); }

long CPaysignShims_BIO_get_mem_data(CPaysignShims_BIO *bio, char **data) {
    return BIO_get_mem_data((BIO *)bio, data);
}

char *CPaysignShims_X509_NAME_to_rfc2253(const CPaysignShims_X509_NAME *name) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return NULL;
    char *result = NULL;
    if (X509_NAME_print_ex(bio, (const X509_NAME *)name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *data = NULL;
        long length = BIO_get_mem_data(bio, &data);
        if (length >= 0) {
            result = OPENSSL_malloc((size_t)length + 1);
            if (result != NULL) {
                memcpy(result, data, (size_t)length);
                result[length] = '\0';
            }
        }
    }
    BIO_free(bio);
    return result;
}

int CPaysignShims_forbid_core_dumps(void) {
    struct rlimit none = {0, 0};
    if (setrlimit(RLIMIT_CORE, &none) != 0) return -1;
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int CPaysignShims_set_thread_nice(int nice) {
    return setpriority(PRIO_PROCESS, (id_t)gettid(), nice);
}

int CPaysignShims_set_thread_name(const char *name) {
    char kept[16];
    strncpy(kept, name, sizeof kept - 1);
    kept[sizeof kept - 1] = '\0';
    return pthread_setname_np(pthread_self(), kept);
}

// MARK: CMS (appended for PaysignOpenSSL's CMS.swift)

#include <openssl/cms.h>
#include <openssl/ess.h>

int CPaysignShims_CMS_SignerInfo_check_signing_certificate(CPaysignShims_CMS_SignerInfo *si, CPaysignShims_X509 *signer) {
    CMS_SignerInfo *info = (CMS_SignerInfo *)si;
    ASN1_STRING *v2 = CMS_signed_get0_data_by_OBJ(info, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3, V_ASN1_SEQUENCE);
    ASN1_STRING *v1 = CMS_signed_get0_data_by_OBJ(info, OBJ_nid2obj(NID_id_smime_aa_signingCertificate), -3, V_ASN1_SEQUENCE);
    if (v2 == NULL && v1 == NULL) return -1;
    ESS_SIGNING_CERT_V2 *ssv2 = NULL;
    ESS_SIGNING_CERT *ss = NULL;
    int result = 0;
    if (v2 != NULL) {
        const unsigned char *p = ASN1_STRING_get0_data(v2);
        ssv2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, ASN1_STRING_length(v2));
        if (ssv2 == NULL) goto done;
    }
    if (v1 != NULL) {
        const unsigned char *p = ASN1_STRING_get0_data(v1);
        ss = d2i_ESS_SIGNING_CERT(NULL, &p, ASN1_STRING_length(v1));
        if (ss == NULL) goto done;
    }
    STACK_OF(X509) *chain = sk_X509_new_null();
    if (chain == NULL) goto done;
    if (sk_X509_push(chain, (X509 *)signer) > 0)
        result = OSSL_ESS_check_signing_certs(ss, ssv2, chain, 1) > 0 ? 1 : 0;
    sk_X509_free(chain);
done:
    ESS_SIGNING_CERT_V2_free(ssv2);
    ESS_SIGNING_CERT_free(ss);
    return result;
}
