/* Which instruction sets this CPU (and OS) can run, detected once; ISA names for --isa / BITCONV_ISA.
 * x86: cpuid (<cpuid.h>) and xgetbv, not __builtin_cpu_supports (clang 14 has no "f16c" there).
 * aarch64: getauxval(AT_HWCAP / AT_HWCAP2) on Linux, sysctlbyname on macOS. */
#include "kernels.h"
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) /* 32-bit x86 builds run the scalar path: its kernels are 64-bit only */
#include <cpuid.h>
#define BIT(r, b) (((r) >> (b)) & 1u)
static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
static bc_isa cpu_detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return BC_ISA_SCALAR;
    int fma = BIT(c, 12), osxsave = BIT(c, 27), f16c = BIT(c, 29);
    if (!osxsave) return BC_ISA_SCALAR;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return BC_ISA_SCALAR; /* the OS saves xmm and ymm state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return BC_ISA_SCALAR;
    int avx2 = BIT(b, 5), bmi = BIT(b, 3), bmi2 = BIT(b, 8);
    if (!(avx2 && fma && f16c && bmi && bmi2)) return BC_ISA_SCALAR;
    int avx512 = BIT(b, 16) && BIT(b, 17) && BIT(b, 30) && BIT(b, 31) && BIT(c, 11); /* f dq bw vl vnni */
    if (avx512 && (xcr0 & 0xE6) == 0xE6) return BC_ISA_AVX512; /* and opmask + zmm state */
    return BC_ISA_AVX2;
}
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
static int sysctl_flag(const char *name) {
    int v = 0;
    size_t n = sizeof v;
    return sysctlbyname(name, &v, &n, NULL, 0) == 0 && v;
}
static bc_isa cpu_detect(void) {
    if (sysctl_flag("hw.optional.arm.FEAT_I8MM") && sysctl_flag("hw.optional.arm.FEAT_DotProd")) return BC_ISA_I8MM;
    if (sysctl_flag("hw.optional.arm.FEAT_DotProd")) return BC_ISA_DOTPROD;
    return BC_ISA_NEON; /* Advanced SIMD is part of every arm64 Apple CPU */
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1UL << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1UL << 13)
#endif
static bc_isa cpu_detect(void) {
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    if (!(hw & HWCAP_ASIMD)) return BC_ISA_SCALAR;
    if (!(hw & HWCAP_ASIMDDP)) return BC_ISA_NEON;
    return (hw2 & HWCAP2_I8MM) ? BC_ISA_I8MM : BC_ISA_DOTPROD;
}
#else
static bc_isa cpu_detect(void) { return BC_ISA_SCALAR; }
#endif

static bc_isa cpu_isa_value;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;
static void cpu_init(void) { cpu_isa_value = cpu_detect(); }

bc_isa bc_detect_isa(void) {
    pthread_once(&cpu_once, cpu_init);
    return cpu_isa_value;
}

/* each family's paths in increasing order; a CPU that runs one runs those before it */
static const bc_isa X86[] __attribute__((unused)) = {BC_ISA_SCALAR, BC_ISA_AVX2, BC_ISA_AVX512};
static const bc_isa ARM[] __attribute__((unused)) = {BC_ISA_SCALAR, BC_ISA_NEON, BC_ISA_DOTPROD, BC_ISA_I8MM};
static int rank(bc_isa isa, const bc_isa *fam, int n) {
    for (int i = 0; i < n; i++)
        if (fam[i] == isa) return i;
    return -1;
}
#if defined(__aarch64__)
#define FAMILY ARM
#else
#define FAMILY X86
#endif
#define FAMILY_N ((int)(sizeof FAMILY / sizeof FAMILY[0]))

int bc_cpu_isas(bc_isa out[BC_ISA_COUNT]) {
    int top = rank(bc_detect_isa(), FAMILY, FAMILY_N), n = 0;
    for (int i = 0; i <= top; i++) out[n++] = FAMILY[i];
    return n;
}

bc_isa bc_usable_isa(bc_isa want) {
    int r = rank(want, FAMILY, FAMILY_N), top = rank(bc_detect_isa(), FAMILY, FAMILY_N);
    if (r < 0) return (bc_isa)-1;
    return FAMILY[r < top ? r : top];
}

static const char *const NAMES[BC_ISA_COUNT] = {
    [BC_ISA_SCALAR] = "scalar", [BC_ISA_AVX2] = "avx2", [BC_ISA_AVX512] = "avx512",
    [BC_ISA_NEON] = "neon", [BC_ISA_DOTPROD] = "dotprod", [BC_ISA_I8MM] = "i8mm",
};
const char *bc_isa_name(bc_isa isa) { return (int)isa >= 0 && isa < BC_ISA_COUNT ? NAMES[isa] : "unknown"; }
int bc_parse_isa(const char *name, bc_isa *out) {
    for (int i = 0; i < BC_ISA_COUNT; i++)
        if (!strcmp(name, NAMES[i])) return *out = (bc_isa)i, 1;
    return 0;
}
