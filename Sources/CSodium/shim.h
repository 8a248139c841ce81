#ifndef TIERGATE_CSODIUM_SHIM_H
#define TIERGATE_CSODIUM_SHIM_H
#include <sodium.h>
#endif
