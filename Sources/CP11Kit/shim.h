// p11-kit's module registry and the PKCS#11 v2.40 header it ships.
#ifndef CP11KIT_SHIM_H
#define CP11KIT_SHIM_H
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#endif
