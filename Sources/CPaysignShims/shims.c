#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "CPaysignShims.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

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
