/* Small helpers shared by the runtime: errors, allocation, half-precision conversions, timing, RNG. */
#ifndef BITCONV_RT_UTIL_H
#define BITCONV_RT_UTIL_H
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Exit codes of the command line (docs/architecture.md): 2 = bad input, 1 = anything else. */
enum { RT_EXIT_FAIL = 1, RT_EXIT_BADINPUT = 2 };

/* Prints "bitconv-rt: <file>: <problem>" (or "bitconv-rt: <problem>" when file is NULL) and exits. */
_Noreturn void rt_die(int code, const char *file, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Allocation that never returns NULL (out of memory is fatal, exit 1). Memory is 64-byte aligned and
 * zeroed; free with rt_free. */
void *rt_alloc(size_t n);
void rt_free(void *p);
/* n bytes, 2 MiB aligned, transparent huge pages asked for, NOT zeroed (for big buffers filled at once) */
void *rt_alloc_large(size_t n);

/* Overflow-checked size arithmetic: return 0 on success, -1 when the result does not fit. */
static inline int rt_mul_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_mul_overflow(a, b, out) ? -1 : 0; }
static inline int rt_add_u64(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_add_overflow(a, b, out) ? -1 : 0; }

/* IEEE half and bfloat16 to float (exact). */
static inline float rt_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t rt_bits_from_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
float rt_f16_to_f32(uint16_t h);
uint16_t rt_f32_to_f16(float f); /* round to nearest even */
static inline float rt_bf16_to_f32(uint16_t h) { return rt_f32_from_bits((uint32_t)h << 16); }

/* Unaligned little-endian loads (the mmap'd file gives no alignment guarantee for small types). */
static inline uint16_t rt_rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static inline uint32_t rt_rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t rt_rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline float rt_rdf32(const uint8_t *p) { float v; memcpy(&v, p, 4); return v; }

double rt_now(void); /* monotonic seconds */

/* xorshift64* generator: deterministic for a given seed. */
typedef struct { uint64_t s; } rt_rng;
void rt_rng_seed(rt_rng *r, uint64_t seed);
uint64_t rt_rng_next(rt_rng *r);
float rt_rng_float(rt_rng *r); /* uniform in [0, 1) */

/* Values from files (keys, tensor names, strings) made safe for a terminal: printable ASCII and valid
 * UTF-8 kept, control bytes (C0, DEL, C1) and bytes that are not valid UTF-8 as \xNN, cut with "..."
 * when longer than fits in buf (n >= 8). Returns buf, always NUL-terminated. */
const char *rt_printable(const char *s, size_t len, char *buf, size_t n);

/* Opens an input file read-only without ever blocking (O_NONBLOCK: a FIFO would wait for a writer
 * forever) and refuses anything that is not a regular file. Returns the fd, or -1 with the problem
 * ("is a FIFO (named pipe), not a regular file", "a symbolic link loop") in err. */
int rt_open_input(const char *path, char *err, size_t errlen);
/* rt_open_input as a stdio stream; exits 2 naming the file on failure. */
FILE *rt_fopen_input(const char *path);

/* Reads a whole raw little-endian int32 token file; exits 2 on a bad file. */
int32_t *rt_read_tokens(const char *path, int64_t *n_out);

#endif
