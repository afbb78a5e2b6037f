/* kernel_lock_pyshim: provides the one libpython symbol a Hub kernel references.
 *
 * Hub kernels define PyInit_<ns>(), which calls PyModule_Create2, and are linked
 * with -z now without libpython: dlopen() resolves every undefined symbol at
 * load time and fails unless the process defines PyModule_Create2. The loader
 * dlopens this library with RTLD_GLOBAL before such a kernel, and only when the
 * process has no PyModule_Create2 of its own (no libpython loaded).
 *
 * Contract: never called. Nothing in a C++ process calls PyInit_<ns>; op
 * registration happens in the kernel's static initialisers. If something does
 * call it, it returns NULL, which Python's import protocol treats as failure. */
#include <stddef.h>

__attribute__((visibility("default"))) void* PyModule_Create2(void* definition, int api_version) {
  (void)definition;
  (void)api_version;
  return NULL;
}
