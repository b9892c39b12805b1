#include "util.h"
#include <sys/mman.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void rt_die(int code, const char *file, const char *fmt, ...) {
    fflush(stdout);
    fputs("bitconv-rt: ", stderr);
    if (file) fprintf(stderr, "%s: ", file);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(code);
}

void *rt_alloc(size_t n) {
    if (n == 0) n = 1;
    size_t rounded = (n + 63) & ~(size_t)63;
    if (rounded < n) rt_die(RT_EXIT_FAIL, NULL, "out of memory (%zu bytes)", n);
    void *p = aligned_alloc(64, rounded);
    if (!p) rt_die(RT_EXIT_FAIL, NULL, "out of memory (%zu bytes)", n);
    memset(p, 0, rounded);
    return p;
}

void rt_free(void *p) { free(p); }

void *rt_alloc_large(size_t n) {
    const size_t huge = (size_t)2 << 20;
    size_t rounded = (n + huge - 1) / huge * huge;
    if (rounded < n || rounded == 0) rt_die(RT_EXIT_FAIL, NULL, "out of memory (%zu bytes)", n);
    void *p = aligned_alloc(huge, rounded);
    if (!p) rt_die(RT_EXIT_FAIL, NULL, "out of memory (%zu bytes)", n);
#ifdef MADV_HUGEPAGE
    /* streamed once per token: 2 MiB pages spare the TLB (a hint; failure is harmless) */
    madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}

float rt_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: man * 2^-24, exact in float */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return rt_f32_from_bits(sign | 0x7f800000u | (man << 13));
    return rt_f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t rt_f32_to_f16(float f) {
    uint32_t x = rt_bits_from_f32(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffff;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: infinity */
    if (ax < 0x38800000u) {
        /* subnormal half: value / 2^-24 rounded to nearest even */
        float v = rt_f32_from_bits(ax) * 16777216.0f;
        uint32_t m = (uint32_t)v;
        float r = v - (float)m;
        if (r > 0.5f || (r == 0.5f && (m & 1))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t e = ((ax >> 23) - 112) << 10, m = (ax >> 13) & 0x3ff;
    uint32_t h = e | m, rest = ax & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

double rt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void rt_rng_seed(rt_rng *r, uint64_t seed) {
    /* splitmix64 once so that small seeds still give a well-mixed non-zero state */
    uint64_t z = seed + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    r->s = z ? z : 1;
}

uint64_t rt_rng_next(rt_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

float rt_rng_float(rt_rng *r) { return (float)(rt_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

int32_t *rt_read_tokens(const char *path, int64_t *n_out) {
    FILE *f = fopen(path, "rb");
    if (!f) rt_die(RT_EXIT_BADINPUT, path, "cannot open: %s", strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) rt_die(RT_EXIT_BADINPUT, path, "cannot seek");
    long size = ftell(f);
    if (size < 0) rt_die(RT_EXIT_BADINPUT, path, "cannot tell size");
    if (size % 4 != 0) rt_die(RT_EXIT_BADINPUT, path, "size %ld is not a multiple of 4 (raw int32 tokens expected)", size);
    if (size == 0) rt_die(RT_EXIT_BADINPUT, path, "no tokens");
    rewind(f);
    int32_t *t = rt_alloc((size_t)size);
    if (fread(t, 1, (size_t)size, f) != (size_t)size) rt_die(RT_EXIT_BADINPUT, path, "short read");
    fclose(f);
    *n_out = size / 4;
    return t;
}
