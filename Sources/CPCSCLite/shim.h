// pcsclite's PC/SC API (winscard.h) and its constants (pcsclite.h).
#ifndef CPCSCLITE_SHIM_H
#define CPCSCLITE_SHIM_H
#include <winscard.h>
#include <pcsclite.h>
#endif
