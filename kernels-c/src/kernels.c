/* Kernel dispatch: row granule, reference decode, matmul by layout and ISA, ISA detection. */
#include "kernels.h"
#include "simd.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef void (*bc_matmul_fn)(const bc_ternary *, const int8_t *, const int32_t *, int64_t, int32_t *,
                             int64_t, int64_t, int64_t);

static const struct {
    bc_decode_fn decode;
    bc_matmul_fn mm[3];
} TABLE[BC_LAYOUT_COUNT] = {
    [BC_LAYOUT_TQ1_0] = {bc_tq1_0_decode_row, {bc_tq1_0_matmul_scalar, bc_tq1_0_matmul_avx2, bc_tq1_0_matmul_avx512}},
    [BC_LAYOUT_TQ2_0] = {bc_tq2_0_decode_row, {bc_tq2_0_matmul_scalar, bc_tq2_0_matmul_avx2, bc_tq2_0_matmul_avx512}},
    [BC_LAYOUT_I2_S] = {bc_i2_s_decode_row, {bc_i2_s_matmul_scalar, bc_i2_s_matmul_avx2, bc_i2_s_matmul_avx512}},
    [BC_LAYOUT_TL1] = {bc_tl1_decode_row, {bc_tl1_matmul_scalar, bc_tl1_matmul_avx2, bc_tl1_matmul_avx512}},
    [BC_LAYOUT_TL2] = {bc_tl2_decode_row, {bc_tl2_matmul_scalar, bc_tl2_matmul_avx2, bc_tl2_matmul_avx512}},
};

int64_t bc_row_granule(const bc_ternary *w) {
    if (w->layout == BC_LAYOUT_TL1 || w->layout == BC_LAYOUT_TL2) return w->BM > 0 ? w->BM : 1;
    return 1;
}

void bc_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    TABLE[w->layout].decode(w, m, out);
}

/* What the hardware (and the OS, for the register state) supports; computed once. */
static bc_isa hw_isa_value;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;
static void hw_detect(void) {
    __builtin_cpu_init();
    bc_isa isa = BC_ISA_SCALAR;
    if (__builtin_cpu_supports("avx2")) isa = BC_ISA_AVX2;
    if (isa == BC_ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni"))
        isa = BC_ISA_AVX512;
    hw_isa_value = isa;
}
static bc_isa hw_isa(void) {
    pthread_once(&hw_once, hw_detect);
    return hw_isa_value;
}

bc_isa bc_detect_isa(void) {
    bc_isa isa = hw_isa();
    const char *e = getenv("BITCONV_ISA"); /* read every call: the CLI may set it after start-up */
    if (e && *e) {
        bc_isa want = isa;
        if (!strcmp(e, "scalar")) want = BC_ISA_SCALAR;
        else if (!strcmp(e, "avx2")) want = BC_ISA_AVX2;
        else if (!strcmp(e, "avx512")) want = BC_ISA_AVX512;
        if (want < isa) isa = want; /* can only lower what the CPU has */
    }
    return isa;
}

const char *bc_isa_name(bc_isa isa) {
    switch (isa) {
    case BC_ISA_SCALAR: return "scalar";
    case BC_ISA_AVX2: return "avx2";
    case BC_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

void bc_matmul(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y,
               int64_t ldy, int64_t m0, int64_t m1, bc_isa isa) {
    if (N <= 0 || m1 <= m0) return;
    bc_isa hw = hw_isa();
    if ((int)isa > (int)hw) isa = hw; /* never run an instruction the CPU lacks */
    if ((int)isa < 0) isa = BC_ISA_SCALAR;
    TABLE[w->layout].mm[isa](w, x, xsum, N, y, ldy, m0, m1);
}

/* ---- shared helpers (simd.h) ---- */

void bc_matmul_by_rows(const bc_ternary *w, bc_decode_fn decode, const int8_t *x, int64_t N,
                       int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    int64_t K = w->K;
    int8_t *row = bc_scratch(3, (size_t)K);
    if (!row) abort();
    for (int64_t m = m0; m < m1; m++) {
        decode(w, m, row);
        for (int64_t n = 0; n < N; n++) {
            const int8_t *xn = x + n * K;
            int32_t s = 0;
            for (int64_t k = 0; k < K; k++) s += (int32_t)row[k] * xn[k];
            y[n * ldy + m] = s;
        }
    }
}

#define BC_SCRATCH_SLOTS 6 /* 0..3 general, 4..5 bc_lut_tables */
typedef struct { void *p[BC_SCRATCH_SLOTS]; size_t n[BC_SCRATCH_SLOTS]; } scratch_set;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void scratch_free(void *v) {
    scratch_set *s = v;
    for (int i = 0; i < BC_SCRATCH_SLOTS; i++) free(s->p[i]);
    free(s);
}
static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

void *bc_scratch(int slot, size_t bytes) {
    pthread_once(&scratch_once, scratch_init);
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        pthread_setspecific(scratch_key, s);
    }
    if (s->n[slot] < bytes) {
        size_t want = (bytes + 4095) & ~(size_t)4095;
        void *p = NULL;
        if (posix_memalign(&p, 64, want)) return NULL;
        free(s->p[slot]);
        s->p[slot] = p;
        s->n[slot] = want;
    }
    return s->p[slot];
}

/* The tables in slot 4 were built for the activation row copied in slot 5, under this key. */
static __thread struct { int64_t K, key; size_t bytes; int valid; } lut_held;

uint8_t *bc_lut_tables(const int8_t *x, int64_t K, int64_t key, size_t bytes, int *fresh) {
    if (lut_held.valid && lut_held.K == K && lut_held.key == key && lut_held.bytes == bytes) {
        int8_t *xc = bc_scratch(5, (size_t)K); /* sizes unchanged: the same buffers, contents kept */
        uint8_t *t = bc_scratch(4, bytes);
        if (xc && t && memcmp(xc, x, (size_t)K) == 0) {
            *fresh = 0;
            return t;
        }
    }
    lut_held.valid = 0;
    int8_t *xc = bc_scratch(5, (size_t)K);
    uint8_t *t = bc_scratch(4, bytes);
    if (!xc || !t) return NULL;
    memcpy(xc, x, (size_t)K);
    lut_held.K = K;
    lut_held.key = key;
    lut_held.bytes = bytes;
    lut_held.valid = 1;
    *fresh = 1;
    return t;
}

/* ================= the shared GEMM engine ================= */
#include <immintrin.h>

/* Activations repacked per token tile of TT tokens: tile starting at token n0 (size T) occupies
 * bytes [n0*K, (n0+T)*K): xp[n0*K + (k/4)*4*T + 4*t + k%4] = x[(n0+t)*K + k]. One pass over x,
 * done by every thread for itself (cheap next to the GEMM). */
static void pack_x(const int8_t *x, int64_t N, int64_t K, int TT, int8_t *xp) {
    for (int64_t n0 = 0; n0 < N; n0 += TT) {
        int T = (int)(N - n0 < TT ? N - n0 : TT);
        int8_t *dst = xp + n0 * K;
        for (int t = 0; t < T; t++) {
            const int8_t *src = x + (n0 + t) * K;
            for (int64_t k4 = 0; k4 < K / 4; k4++) memcpy(dst + k4 * 4 * T + 4 * t, src + 4 * k4, 4);
        }
    }
}

/* Chunk iteration shared by all engines. */
#define FOR_CHUNKS(K, kc, ksplit, k0, klen)                                                        \
    for (int64_t k0 = 0, klen = 0; k0 < (K); k0 += klen)                                          \
        if ((klen = (k0 < (ksplit) ? ((ksplit) - k0 < (kc) ? (ksplit) - k0 : (kc)) : (K) - k0)), 0) \
            ;                                                                                      \
        else

/* ---- AVX-512 VNNI engine: 32 rows x 12 tokens per micro-kernel (24 zmm accumulators) ---- */
#define TT512 12

#define REP1(X) X(0)
#define REP2(X) REP1(X) X(1)
#define REP3(X) REP2(X) X(2)
#define REP4(X) REP3(X) X(3)
#define REP5(X) REP4(X) X(4)
#define REP6(X) REP5(X) X(5)
#define REP7(X) REP6(X) X(6)
#define REP8(X) REP7(X) X(7)
#define REP9(X) REP8(X) X(8)
#define REP10(X) REP9(X) X(9)
#define REP11(X) REP10(X) X(10)
#define REP12(X) REP11(X) X(11)

/* One micro-kernel per tile size T (named accumulators: gcc keeps them in registers). pan: the
 * panel (k4n steps of 128 bytes), xp: the tile's packed activations (4*T bytes per step). */
#define MK512_INIT(t)                                                                              \
    __m512i a##t##_0, a##t##_1;                                                                    \
    if (first) {                                                                                   \
        a##t##_0 = a##t##_1 = _mm512_set1_epi32(-xsum[t]);                                         \
    } else {                                                                                       \
        a##t##_0 = _mm512_maskz_loadu_epi32(lo, y + (t) * ldy);                                     \
        a##t##_1 = _mm512_maskz_loadu_epi32(hi, y + (t) * ldy + 16);                                \
    }
/* inline asm: gcc otherwise spills accumulators; the broadcast is folded into the instruction */
#define MK512_STEP(t)                                                                              \
    __asm__("vpdpbusd %[m]%{1to16%}, %[c0], %[a0]\n\t"                                             \
            "vpdpbusd %[m]%{1to16%}, %[c1], %[a1]"                                                 \
            : [a0] "+v"(a##t##_0), [a1] "+v"(a##t##_1)                                             \
            : [c0] "v"(c0), [c1] "v"(c1), [m] "m"(*(const int32_t *)(xk + 4 * (t))));
#define MK512_STORE(t)                                                                             \
    _mm512_mask_storeu_epi32(y + (t) * ldy, lo, a##t##_0);                                         \
    _mm512_mask_storeu_epi32(y + (t) * ldy + 16, hi, a##t##_1);
#define DEFINE_MK512(T)                                                                            \
    static BC_TARGET_AVX512 void mk512_##T(const uint8_t *pan, int64_t k4n, const int8_t *xp, int first, \
                                           const int32_t *xsum, int32_t *y, int64_t ldy, __mmask32 rmask) { \
        __mmask16 lo = (__mmask16)rmask, hi = (__mmask16)(rmask >> 16);                            \
        REP##T(MK512_INIT)                                                                         \
        for (int64_t k4 = 0; k4 < k4n; k4++) {                                                     \
            __m512i c0 = _mm512_load_si512((const void *)(pan + k4 * 128));                        \
            __m512i c1 = _mm512_load_si512((const void *)(pan + k4 * 128 + 64));                   \
            const int8_t *xk = xp + k4 * 4 * (T);                                                  \
            REP##T(MK512_STEP)                                                                     \
        }                                                                                          \
        REP##T(MK512_STORE)                                                                        \
    }
/* T = 1 (decode): 2 accumulators would make the loop latency-bound (5 cycles per step), so four
 * pairs rotate over the k4 steps */
static BC_TARGET_AVX512 void mk512_1(const uint8_t *pan, int64_t k4n, const int8_t *xp, int first,
                                     const int32_t *xsum, int32_t *y, int64_t ldy, __mmask32 rmask) {
    (void)ldy;
    __mmask16 lo = (__mmask16)rmask, hi = (__mmask16)(rmask >> 16);
    __m512i a0, a1, b0 = _mm512_setzero_si512(), b1 = b0, c0_ = b0, c1_ = b0, d0 = b0, d1 = b0;
    if (first) {
        a0 = a1 = _mm512_set1_epi32(-xsum[0]);
    } else {
        a0 = _mm512_maskz_loadu_epi32(lo, y);
        a1 = _mm512_maskz_loadu_epi32(hi, y + 16);
    }
    int64_t k4 = 0;
    for (; k4 + 4 <= k4n; k4 += 4) {
        const uint8_t *p = pan + k4 * 128;
        const int8_t *xk = xp + k4 * 4;
#define MK1_STEP(A0, A1, j)                                                                        \
    __asm__("vpdpbusd %[m]%{1to16%}, %[c0], %[a0]\n\t"                                             \
            "vpdpbusd %[m]%{1to16%}, %[c1], %[a1]"                                                 \
            : [a0] "+v"(A0), [a1] "+v"(A1)                                                         \
            : [c0] "v"(_mm512_load_si512((const void *)(p + 128 * (j)))),                          \
              [c1] "v"(_mm512_load_si512((const void *)(p + 128 * (j) + 64))),                     \
              [m] "m"(*(const int32_t *)(xk + 4 * (j))));
        MK1_STEP(a0, a1, 0) MK1_STEP(b0, b1, 1) MK1_STEP(c0_, c1_, 2) MK1_STEP(d0, d1, 3)
    }
    for (; k4 < k4n; k4++) {
        const uint8_t *p = pan + k4 * 128;
        const int8_t *xk = xp + k4 * 4;
        MK1_STEP(a0, a1, 0)
    }
#undef MK1_STEP
    a0 = _mm512_add_epi32(_mm512_add_epi32(a0, b0), _mm512_add_epi32(c0_, d0));
    a1 = _mm512_add_epi32(_mm512_add_epi32(a1, b1), _mm512_add_epi32(c1_, d1));
    _mm512_mask_storeu_epi32(y, lo, a0);
    _mm512_mask_storeu_epi32(y + 16, hi, a1);
}
DEFINE_MK512(2) DEFINE_MK512(3) DEFINE_MK512(4) DEFINE_MK512(5) DEFINE_MK512(6)
DEFINE_MK512(7) DEFINE_MK512(8) DEFINE_MK512(9) DEFINE_MK512(10) DEFINE_MK512(11) DEFINE_MK512(12)

typedef void (*mk512_fn)(const uint8_t *, int64_t, const int8_t *, int, const int32_t *, int32_t *, int64_t, __mmask32);
static const mk512_fn MK512[TT512 + 1] = {NULL, mk512_1, mk512_2, mk512_3, mk512_4, mk512_5, mk512_6,
                                          mk512_7, mk512_8, mk512_9, mk512_10, mk512_11, mk512_12};

void bc_gemm_avx512(const bc_ternary *w, bc_panel_fn panel, int64_t kc, int64_t ksplit, const int8_t *x,
                    const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    int64_t K = w->K;
    int64_t maxc = kc > K - ksplit ? kc : K - ksplit;
    uint8_t *pb = bc_scratch(0, (size_t)maxc * BC_PANEL_ROWS);
    int8_t *xp = bc_scratch(1, (size_t)(N * K));
    if (!pb || !xp) abort();
    pack_x(x, N, K, TT512, xp);
    for (int64_t m = m0; m < m1; m += BC_PANEL_ROWS) {
        int rows = (int)(m1 - m < BC_PANEL_ROWS ? m1 - m : BC_PANEL_ROWS);
        __mmask32 rmask = rows == 32 ? 0xFFFFFFFFu : ((1u << rows) - 1);
        FOR_CHUNKS(K, kc, ksplit, k0, klen) {
            panel(w, m, rows, k0, klen, pb);
            for (int64_t n0 = 0; n0 < N; n0 += TT512) {
                int T = (int)(N - n0 < TT512 ? N - n0 : TT512);
                MK512[T](pb, klen / 4, xp + n0 * K + k0 * T, k0 == 0, xsum + n0, y + n0 * ldy + m, ldy, rmask);
            }
        }
    }
}

/* ---- AVX2 engine: 16 rows x 4 tokens, int16 accumulation (maddubs) flushed to int32 ---- */
#define TT256 4
#define FLUSH256 32 /* k4 steps between int16 -> int32 flushes: 32 * 512 < 32768 */

static inline __attribute__((always_inline)) BC_TARGET_AVX2 void mk256(const uint8_t *pan, int64_t k4n,
                                                                      const int8_t *xp, const int T, int first,
                                                                      const int32_t *xsum, int32_t *y,
                                                                      int64_t ldy, int rows) {
    /* pan points at the 16-row half: row r at pan + k4*128 + 4r */
    __m256i acc[2 * TT256];
    const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) acc[2 * t] = acc[2 * t + 1] = first ? _mm256_set1_epi32(-xsum[t]) : _mm256_setzero_si256();
    for (int64_t kb = 0; kb < k4n; kb += FLUSH256) {
        int64_t ke = kb + FLUSH256 < k4n ? kb + FLUSH256 : k4n;
        __m256i a16[2 * TT256];
#pragma GCC unroll 16
        for (int i = 0; i < 2 * T; i++) a16[i] = _mm256_setzero_si256();
        for (int64_t k4 = kb; k4 < ke; k4++) {
            __m256i c0 = _mm256_load_si256((const __m256i *)(pan + k4 * 128));
            __m256i c1 = _mm256_load_si256((const __m256i *)(pan + k4 * 128 + 32));
            const int8_t *xk = xp + k4 * 4 * T;
#pragma GCC unroll 16
            for (int t = 0; t < T; t++) {
                int32_t xv;
                memcpy(&xv, xk + 4 * t, 4);
                __m256i b = _mm256_set1_epi32(xv);
                a16[2 * t] = _mm256_add_epi16(a16[2 * t], _mm256_maddubs_epi16(c0, b));
                a16[2 * t + 1] = _mm256_add_epi16(a16[2 * t + 1], _mm256_maddubs_epi16(c1, b));
            }
        }
#pragma GCC unroll 16
        for (int i = 0; i < 2 * T; i++) acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(a16[i], ones));
    }
    for (int t = 0; t < T; t++) {
        int32_t tmp[16];
        _mm256_storeu_si256((__m256i *)tmp, acc[2 * t]);
        _mm256_storeu_si256((__m256i *)(tmp + 8), acc[2 * t + 1]);
        int32_t *yt = y + t * ldy;
        if (first) {
            if (rows == 16) memcpy(yt, tmp, 64);
            else for (int r = 0; r < rows; r++) yt[r] = tmp[r];
        } else {
            for (int r = 0; r < rows; r++) yt[r] += tmp[r];
        }
    }
}

#define MK256_CASE(TV)                                                                             \
    case TV: mk256(pan, k4n, xp, TV, first, xsum, y, ldy, rows); break;

static BC_TARGET_AVX2 void mk256_any(const uint8_t *pan, int64_t k4n, const int8_t *xp, int T, int first,
                                     const int32_t *xsum, int32_t *y, int64_t ldy, int rows) {
    switch (T) {
        MK256_CASE(1) MK256_CASE(2) MK256_CASE(3) MK256_CASE(4)
    default: break;
    }
}

void bc_gemm_avx2(const bc_ternary *w, bc_panel_fn panel, int64_t kc, int64_t ksplit, const int8_t *x,
                  const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    int64_t K = w->K;
    int64_t maxc = kc > K - ksplit ? kc : K - ksplit;
    uint8_t *pb = bc_scratch(0, (size_t)maxc * BC_PANEL_ROWS);
    int8_t *xp = bc_scratch(1, (size_t)(N * K));
    if (!pb || !xp) abort();
    pack_x(x, N, K, TT256, xp);
    for (int64_t m = m0; m < m1; m += BC_PANEL_ROWS) {
        int rows = (int)(m1 - m < BC_PANEL_ROWS ? m1 - m : BC_PANEL_ROWS);
        FOR_CHUNKS(K, kc, ksplit, k0, klen) {
            panel(w, m, rows, k0, klen, pb);
            for (int h = 0; h < 2 && 16 * h < rows; h++) {
                int hr = rows - 16 * h > 16 ? 16 : rows - 16 * h;
                for (int64_t n0 = 0; n0 < N; n0 += TT256) {
                    int T = (int)(N - n0 < TT256 ? N - n0 : TT256);
                    mk256_any(pb + 64 * h, klen / 4, xp + n0 * K + k0 * T, T, k0 == 0, xsum + n0,
                              y + n0 * ldy + m + 16 * h, ldy, hr);
                }
            }
        }
    }
}

/* ---- row-major codes -> VNNI panel (dword transposes) ---- */
void BC_TARGET_AVX512 bc_rows_to_panel_avx512(const uint8_t *rc, int64_t ld, int64_t kc, uint8_t *panel) {
    for (int rb = 0; rb < 32; rb += 16)
        for (int64_t kb = 0; kb < kc; kb += 64) {
            __m512i r[16], t[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512((const void *)(rc + (rb + i) * ld + kb));
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
            }
            for (int i = 0; i < 16; i += 4) {
                r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
                r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
                r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
                r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
            }
            /* r[4q + j] now holds, in 128-bit lane L, rows 4q..4q+3 of dword column 4L + j */
            for (int j = 0; j < 4; j++) {
                __m512i a = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x88);      /* lanes 0,2 of each */
                __m512i b = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xDD);      /* lanes 1,3 */
                __m512i c = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x88);
                __m512i d = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xDD);
                t[j] = _mm512_shuffle_i32x4(a, c, 0x88);      /* column j (lane 0) */
                t[8 + j] = _mm512_shuffle_i32x4(a, c, 0xDD);  /* column 8 + j (lane 2) */
                t[4 + j] = _mm512_shuffle_i32x4(b, d, 0x88);  /* column 4 + j (lane 1) */
                t[12 + j] = _mm512_shuffle_i32x4(b, d, 0xDD); /* column 12 + j (lane 3) */
            }
            for (int i = 0; i < 16; i++)
                _mm512_store_si512((void *)(panel + (kb / 4 + i) * 128 + rb * 4), t[i]);
        }
}

void BC_TARGET_AVX2 bc_rows_to_panel_avx2(const uint8_t *rc, int64_t ld, int64_t kc, uint8_t *panel) {
    for (int rb = 0; rb < 32; rb += 8)
        for (int64_t kb = 0; kb < kc; kb += 32) {
            __m256i r[8], t[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_si256((const __m256i *)(rc + (rb + i) * ld + kb));
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
                t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                r[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
                r[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
                r[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
                r[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
            }
            /* r[4q + j], 128-bit lane L: rows 4q..4q+3 of column 4L + j */
            for (int j = 0; j < 4; j++) {
                __m256i lo = _mm256_permute2x128_si256(r[j], r[4 + j], 0x20);
                __m256i hi = _mm256_permute2x128_si256(r[j], r[4 + j], 0x31);
                _mm256_store_si256((__m256i *)(panel + (kb / 4 + j) * 128 + rb * 4), lo);
                _mm256_store_si256((__m256i *)(panel + (kb / 4 + 4 + j) * 128 + rb * 4), hi);
            }
        }
}

/* ================= GEMV for row-major 2-bit layouts ================= */
#ifndef PF_DIST
#define PF_DIST 4096
#endif
/* AVX-512: the codes are not shifted down: (byte & (3 << 2s)) = 4^s * c, and the four products
 * go to four accumulators that are scaled back (exactly) by arithmetic shifts at the end. */
static inline __attribute__((always_inline)) BC_TARGET_AVX512 __m512i fold4_512(__m512i a0, __m512i a1,
                                                                               __m512i a2, __m512i a3) {
    __m512i t = _mm512_add_epi32(_mm512_srai_epi32(a3, 2), a2);
    t = _mm512_add_epi32(_mm512_srai_epi32(t, 2), a1);
    return _mm512_add_epi32(_mm512_srai_epi32(t, 2), a0);
}


#define GEMV_ROW_DECL(r) __m512i a##r##0 = _mm512_setzero_si512(), a##r##1 = a##r##0, a##r##2 = a##r##0, a##r##3 = a##r##0;
#define GEMV_ROW_STEP(r, v)                                                                        \
    {                                                                                              \
        __m512i c0 = _mm512_and_si512(v, M0), c1 = _mm512_and_si512(v, M1);                        \
        __m512i c2 = _mm512_and_si512(v, M2), c3 = _mm512_and_si512(v, M3);                        \
        DPBUSD(a##r##0, c0, x0);                                                                   \
        DPBUSD(a##r##1, c1, x1);                                                                   \
        DPBUSD(a##r##2, c2, x2);                                                                   \
        DPBUSD(a##r##3, c3, x3);                                                                   \
    }

void BC_TARGET_AVX512 bc_gemv2b_avx512(const uint8_t *base, int64_t rowstride, int64_t chunkstride,
                                       int64_t nchunks, int half, const int8_t *xp, int32_t xsum, int32_t *y,
                                       int64_t m0, int64_t m1) {
    const __m512i M0 = _mm512_set1_epi8(0x03), M1 = _mm512_set1_epi8(0x0C), M2 = _mm512_set1_epi8(0x30),
                  M3 = _mm512_set1_epi8((char)0xC0);
    /* four rows at a time taken from the four quarters of [m0, m1): four sequential streams, which
     * the hardware prefetchers follow much better than one stream read four rows at a time */
    int64_t q = (m1 - m0) / 4;
    for (int64_t j = 0; j < q; j++) {
        const int64_t m = m0 + j;
        const uint8_t *r0 = base + m * rowstride, *r1 = r0 + q * rowstride, *r2 = r1 + q * rowstride, *r3 = r2 + q * rowstride;
        GEMV_ROW_DECL(0) GEMV_ROW_DECL(1) GEMV_ROW_DECL(2) GEMV_ROW_DECL(3)
        int64_t i = 0;
        for (; i < nchunks; i++) {
            /* software prefetch: the hardware streamers alone leave a core far below DRAM speed */
            _mm_prefetch((const char *)(r0 + i * chunkstride + PF_DIST), _MM_HINT_T0);
            _mm_prefetch((const char *)(r1 + i * chunkstride + PF_DIST), _MM_HINT_T0);
            _mm_prefetch((const char *)(r2 + i * chunkstride + PF_DIST), _MM_HINT_T0);
            _mm_prefetch((const char *)(r3 + i * chunkstride + PF_DIST), _MM_HINT_T0);
            const int8_t *xi = xp + i * 256;
            __m512i x0 = _mm512_loadu_si512((const void *)xi), x1 = _mm512_loadu_si512((const void *)(xi + 64)),
                    x2 = _mm512_loadu_si512((const void *)(xi + 128)), x3 = _mm512_loadu_si512((const void *)(xi + 192));
            __m512i v0 = _mm512_loadu_si512((const void *)(r0 + i * chunkstride));
            __m512i v1 = _mm512_loadu_si512((const void *)(r1 + i * chunkstride));
            __m512i v2 = _mm512_loadu_si512((const void *)(r2 + i * chunkstride));
            __m512i v3 = _mm512_loadu_si512((const void *)(r3 + i * chunkstride));
            GEMV_ROW_STEP(0, v0) GEMV_ROW_STEP(1, v1) GEMV_ROW_STEP(2, v2) GEMV_ROW_STEP(3, v3)
        }
        if (half) {
            const int8_t *xi = xp + i * 256;
            __m512i x0 = _mm512_loadu_si512((const void *)xi), x1 = _mm512_loadu_si512((const void *)(xi + 64)),
                    x2 = _mm512_loadu_si512((const void *)(xi + 128)), x3 = _mm512_loadu_si512((const void *)(xi + 192));
            __m512i v0 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r0 + i * chunkstride)));
            __m512i v1 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r1 + i * chunkstride)));
            __m512i v2 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r2 + i * chunkstride)));
            __m512i v3 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r3 + i * chunkstride)));
            GEMV_ROW_STEP(0, v0) GEMV_ROW_STEP(1, v1) GEMV_ROW_STEP(2, v2) GEMV_ROW_STEP(3, v3)
        }
        y[m] = _mm512_reduce_add_epi32(fold4_512(a00, a01, a02, a03)) - xsum;
        y[m + q] = _mm512_reduce_add_epi32(fold4_512(a10, a11, a12, a13)) - xsum;
        y[m + 2 * q] = _mm512_reduce_add_epi32(fold4_512(a20, a21, a22, a23)) - xsum;
        y[m + 3 * q] = _mm512_reduce_add_epi32(fold4_512(a30, a31, a32, a33)) - xsum;
    }
    for (int64_t m = m0 + 4 * q; m < m1; m++) {
        const uint8_t *r0 = base + m * rowstride;
        GEMV_ROW_DECL(0)
        for (int64_t i = 0; i <= nchunks; i++) {
            __m512i v0;
            if (i < nchunks) v0 = _mm512_loadu_si512((const void *)(r0 + i * chunkstride));
            else if (half) v0 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r0 + i * chunkstride)));
            else break;
            const int8_t *xi = xp + i * 256;
            __m512i x0 = _mm512_loadu_si512((const void *)xi), x1 = _mm512_loadu_si512((const void *)(xi + 64)),
                    x2 = _mm512_loadu_si512((const void *)(xi + 128)), x3 = _mm512_loadu_si512((const void *)(xi + 192));
            GEMV_ROW_STEP(0, v0)
        }
        y[m] = _mm512_reduce_add_epi32(fold4_512(a00, a01, a02, a03)) - xsum;
    }
}

/* AVX2: codes shifted down to 0..2, maddubs into int16 (a pair is in [-512, 508]; 16 chunks x 4 = 64
 * of them stay in [-32768, 32512]), flushed to int32. 32-byte chunk j sits at (j/2)*bstride + (j%2)*32. */
static inline __attribute__((always_inline)) BC_TARGET_AVX2 int32_t hsum256(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

void BC_TARGET_AVX2 bc_gemv2b_avx2(const uint8_t *base, int64_t rowstride, int64_t bstride,
                                   int64_t nchunks32, const int8_t *xp, int32_t xsum, int32_t *y, int64_t m0,
                                   int64_t m1) {
    const __m256i M = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    int64_t m = m0;
    for (; m + 2 <= m1; m += 2) {
        const uint8_t *r0 = base + m * rowstride, *r1 = r0 + rowstride;
        __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
        for (int64_t jb = 0; jb < nchunks32; jb += 16) {
            int64_t je = jb + 16 < nchunks32 ? jb + 16 : nchunks32;
            __m256i s0 = _mm256_setzero_si256(), s1 = s0;
            for (int64_t j = jb; j < je; j++) {
                const int8_t *xj = xp + j * 128;
                __m256i v0 = _mm256_loadu_si256((const __m256i *)(r0 + (j >> 1) * bstride + (j & 1) * 32));
                __m256i v1 = _mm256_loadu_si256((const __m256i *)(r1 + (j >> 1) * bstride + (j & 1) * 32));
#pragma GCC unroll 4
                for (int s = 0; s < 4; s++) {
                    __m256i xs = _mm256_loadu_si256((const __m256i *)(xj + 32 * s));
                    __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(v0, 2 * s), M);
                    __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v1, 2 * s), M);
                    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(c0, xs));
                    s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(c1, xs));
                }
            }
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(s0, ones));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(s1, ones));
        }
        y[m] = hsum256(acc0) - xsum;
        y[m + 1] = hsum256(acc1) - xsum;
    }
    for (; m < m1; m++) {
        const uint8_t *r0 = base + m * rowstride;
        __m256i acc0 = _mm256_setzero_si256();
        for (int64_t jb = 0; jb < nchunks32; jb += 16) {
            int64_t je = jb + 16 < nchunks32 ? jb + 16 : nchunks32;
            __m256i s0 = _mm256_setzero_si256();
            for (int64_t j = jb; j < je; j++) {
                __m256i v0 = _mm256_loadu_si256((const __m256i *)(r0 + (j >> 1) * bstride + (j & 1) * 32));
#pragma GCC unroll 4
                for (int s = 0; s < 4; s++) {
                    __m256i xs = _mm256_loadu_si256((const __m256i *)(xp + j * 128 + 32 * s));
                    s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v0, 2 * s), M), xs));
                }
            }
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(s0, ones));
        }
        y[m] = hsum256(acc0) - xsum;
    }
}
