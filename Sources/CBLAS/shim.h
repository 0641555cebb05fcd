// CBLAS shim: the cblas interface plus OpenBLAS's own threading and core-name calls.
#include <cblas.h>
