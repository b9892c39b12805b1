/* For `make check-macos` only (no macOS SDK on Linux): sysctlbyname as macOS's <sys/sysctl.h> declares
 * it, so isa.c's Apple branch is compiled against the real prototype. */
#include <stddef.h>
int sysctlbyname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
