#include "util.h"
#include <sys/mman.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Messages carry names from files: the whole line goes through rt_printable, so it stays one line
 * with no raw control bytes whatever %s held. */
void rt_die(int code, const char *file, const char *fmt, ...) {
    char msg[2048], shown[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    fputs("bitconv-rt: ", stderr);
    if (file) fprintf(stderr, "%s: ", rt_printable(file, strlen(file), shown, sizeof shown));
    fprintf(stderr, "%s\n", rt_printable(msg, strlen(msg), shown, sizeof shown));
    exit(code);
}

/* Length of the valid UTF-8 sequence at s[i] (1..4), 0 when none starts there. C1 controls
 * (U+0080..U+009F, 0xc2 0x80..0x9f) count as invalid: some terminals act on them. */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t i) {
    unsigned c = s[i];
    if (c < 0x80) return 1;
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n == 0 || i + n > len) return 0;
    for (size_t k = 1; k < n; k++)
        if ((s[i + k] & 0xc0) != 0x80) return 0;
    unsigned c1 = s[i + 1];
    if ((c == 0xc2 && c1 < 0xa0) || (c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
        (c == 0xf4 && c1 > 0x8f))
        return 0;
    return n;
}

const char *rt_printable(const char *s, size_t len, char *buf, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t j = 0, i = 0;
    while (i < len) {
        size_t q = utf8_seq(u, len, i);
        int escape = q == 0 || (q == 1 && (u[i] < 0x20 || u[i] == 0x7f));
        size_t need = escape ? 4 : q;
        if (j + need + 4 > n) break; /* keep room for "..." and the NUL */
        if (escape) {
            snprintf(buf + j, 5, "\\x%02x", u[i]);
            j += 4;
            i += 1;
        } else {
            memcpy(buf + j, s + i, q);
            j += q;
            i += q;
        }
    }
    if (i < len) { memcpy(buf + j, "...", 3); j += 3; }
    buf[j] = 0;
    return buf;
}

int rt_open_input(const char *path, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP) snprintf(err, errlen, "a symbolic link loop (too many levels of links)");
        else snprintf(err, errlen, "cannot open: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) { snprintf(err, errlen, "cannot stat: %s", strerror(errno)); close(fd); return -1; }
    if (!S_ISREG(st.st_mode)) {
        const char *kind = S_ISDIR(st.st_mode) ? "a directory" : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                         : S_ISCHR(st.st_mode) ? "a character device" : S_ISBLK(st.st_mode) ? "a block device"
                         : S_ISSOCK(st.st_mode) ? "a socket" : "not a regular file";
        snprintf(err, errlen, "is %s, not a regular file", kind);
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK); /* regular file: back to ordinary reads */
    return fd;
}

FILE *rt_fopen_input(const char *path) {
    char err[256];
    int fd = rt_open_input(path, err, sizeof err);
    if (fd < 0) rt_die(RT_EXIT_BADINPUT, path, "%s", err);
    FILE *f = fdopen(fd, "rb");
    if (!f) rt_die(RT_EXIT_BADINPUT, path, "cannot open: %s", strerror(errno));
    return f;
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
    FILE *f = rt_fopen_input(path);
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
