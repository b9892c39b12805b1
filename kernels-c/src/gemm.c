/* The shared GEMM engine of the ternary layouts (N >= a few tokens, simd.h): activations packed per token
 * tile, weight panels from the layout's panel function, AVX-512 VNNI and AVX2 micro-kernels (which can
 * store dequantized floats), the row-major -> VNNI panel transposes and the 2-bit layouts' direct panel. */
#include "simd.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)

/* Activations repacked per token tile of TT tokens: tile starting at token n0 (size T) occupies
 * bytes [n0*K, (n0+T)*K): xp[n0*K + (k/4)*4*T + 4*t + k%4] = x[(n0+t)*K + k], i.e. each tile is the
 * transpose of a T x K/4 matrix of dwords. Each thread packs for itself, once per call, and a layer
 * makes several calls per thread (one per unit of rows), so the engines pack with vector transposes;
 * this loop does the rest (columns past the last full vector, AVX2's short tile). */
static void pack_x_tile(const int8_t *x, int64_t K, int T, int64_t k4a, int64_t k4b, int8_t *dst) {
    for (int t = 0; t < T; t++)
        for (int64_t k4 = k4a; k4 < k4b; k4++) memcpy(dst + k4 * 4 * T + 4 * t, x + t * K + 4 * k4, 4);
}

/* Chunk iteration shared by all engines. */
#define FOR_CHUNKS(K, kc, ksplit, k0, klen)                                                        \
    for (int64_t k0 = 0, klen = 0; k0 < (K); k0 += klen)                                          \
        if ((klen = (k0 < (ksplit) ? ((ksplit) - k0 < (kc) ? (ksplit) - k0 : (kc)) : (K) - k0)), 0) \
            ;                                                                                      \
        else

/* ---- AVX-512 VNNI engine: 32 rows x 12 tokens per micro-kernel (24 zmm accumulators) ---- */
#define TT512 12

/* t[j] = dword column j of the 16 x 16 dword matrix r (lane q of t[j] = dword j of r[q]); r is clobbered */
static inline __attribute__((always_inline)) BC_TARGET_AVX512 void transpose16_epi32(__m512i *r, __m512i *t) {
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
        __m512i a = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x88); /* lanes 0,2 of each */
        __m512i b = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xDD); /* lanes 1,3 */
        __m512i c = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x88);
        __m512i d = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xDD);
        t[j] = _mm512_shuffle_i32x4(a, c, 0x88);      /* column j (lane 0) */
        t[8 + j] = _mm512_shuffle_i32x4(a, c, 0xDD);  /* column 8 + j (lane 2) */
        t[4 + j] = _mm512_shuffle_i32x4(b, d, 0x88);  /* column 4 + j (lane 1) */
        t[12 + j] = _mm512_shuffle_i32x4(b, d, 0xDD); /* column 12 + j (lane 3) */
    }
}

/* pack_x for tiles of up to 16 tokens: 64 bytes of each token's row, transposed as dwords, stored as
 * 16 runs of 4T bytes */
static BC_TARGET_AVX512 void pack_x_avx512(const int8_t *x, int64_t N, int64_t K, int TT, int8_t *xp) {
    for (int64_t n0 = 0; n0 < N; n0 += TT) {
        int T = (int)(N - n0 < TT ? N - n0 : TT);
        const int8_t *src = x + n0 * K;
        int8_t *dst = xp + n0 * K;
        __mmask16 keep = (__mmask16)((1u << T) - 1);
        int64_t kb = 0;
        for (; kb + 64 <= K; kb += 64) {
            __m512i r[16], t[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < T ? _mm512_loadu_si512((const void *)(src + i * K + kb)) : _mm512_setzero_si512();
            transpose16_epi32(r, t);
            for (int j = 0; j < 16; j++) _mm512_mask_storeu_epi32(dst + (kb / 4 + j) * 4 * T, keep, t[j]);
        }
        pack_x_tile(src, K, T, kb / 4, K / 4, dst);
    }
}

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
 * panel (k4n steps of 128 bytes), xp: the tile's packed activations (4*T bytes per step). On the
 * last chunk of a dequantized call, fin (else NULL) says where the tile's floats go: the sums are
 * final in the registers, so they are never stored as int32 and read back. */
#define DEQUANT512(a, xs, ws) _mm512_mul_ps(_mm512_div_ps(_mm512_cvtepi32_ps(a), xs), ws)
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
    if (fin) {                                                                                     \
        __m512 xs = _mm512_set1_ps(fin->xs[t]), ws = _mm512_set1_ps(fin->ws);                     \
        _mm512_mask_storeu_ps(fin->out + (t) * fin->ldo, lo, DEQUANT512(a##t##_0, xs, ws));         \
        _mm512_mask_storeu_ps(fin->out + (t) * fin->ldo + 16, hi, DEQUANT512(a##t##_1, xs, ws));    \
    } else {                                                                                       \
        _mm512_mask_storeu_epi32(y + (t) * ldy, lo, a##t##_0);                                     \
        _mm512_mask_storeu_epi32(y + (t) * ldy + 16, hi, a##t##_1);                                \
    }
#define DEFINE_MK512(T)                                                                            \
    static BC_TARGET_AVX512 void mk512_##T(const uint8_t *pan, int64_t k4n, const int8_t *xp, int first, \
                                           const int32_t *xsum, int32_t *y, int64_t ldy, __mmask32 rmask,     \
                                           const bc_dequant *fin) {                                 \
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
                                     const int32_t *xsum, int32_t *y, int64_t ldy, __mmask32 rmask,
                                     const bc_dequant *fin) {
    __mmask16 lo = (__mmask16)rmask, hi = (__mmask16)(rmask >> 16);
    __m512i a0, a1, b0 = _mm512_setzero_si512(), b1 = b0, c0_ = b0, c1_ = b0, d0 = b0, d1 = b0, a0_0, a0_1;
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
    a0_0 = _mm512_add_epi32(_mm512_add_epi32(a0, b0), _mm512_add_epi32(c0_, d0)); /* MK512_STORE's names */
    a0_1 = _mm512_add_epi32(_mm512_add_epi32(a1, b1), _mm512_add_epi32(c1_, d1));
    MK512_STORE(0)
}
DEFINE_MK512(2) DEFINE_MK512(3) DEFINE_MK512(4) DEFINE_MK512(5) DEFINE_MK512(6)
DEFINE_MK512(7) DEFINE_MK512(8) DEFINE_MK512(9) DEFINE_MK512(10) DEFINE_MK512(11) DEFINE_MK512(12)

typedef void (*mk512_fn)(const uint8_t *, int64_t, const int8_t *, int, const int32_t *, int32_t *, int64_t, __mmask32,
                         const bc_dequant *);
static const mk512_fn MK512[TT512 + 1] = {NULL, mk512_1, mk512_2, mk512_3, mk512_4, mk512_5, mk512_6,
                                          mk512_7, mk512_8, mk512_9, mk512_10, mk512_11, mk512_12};

int bc_gemm_avx512(const bc_ternary *w, bc_panel_fn panel, int64_t kc, int64_t ksplit, const int8_t *x,
                    const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1,
                    const bc_dequant *dq) {
    int64_t K = w->K;
    int64_t maxc = kc > K - ksplit ? kc : K - ksplit;
    uint8_t *pb = bc_scratch(0, (size_t)maxc * BC_PANEL_ROWS);
    int8_t *xp = bc_scratch(1, (size_t)(N * K));
    if (!pb || !xp) abort();
    pack_x_avx512(x, N, K, TT512, xp);
    for (int64_t m = m0; m < m1; m += BC_PANEL_ROWS) {
        int rows = (int)(m1 - m < BC_PANEL_ROWS ? m1 - m : BC_PANEL_ROWS);
        __mmask32 rmask = rows == 32 ? 0xFFFFFFFFu : ((1u << rows) - 1);
        FOR_CHUNKS(K, kc, ksplit, k0, klen) {
            panel(w, m, rows, k0, klen, pb);
            for (int64_t n0 = 0; n0 < N; n0 += TT512) {
                int T = (int)(N - n0 < TT512 ? N - n0 : TT512);
                bc_dequant tile = dq ? (bc_dequant){dq->out + n0 * dq->ldo + m, dq->ldo, dq->xs + n0, dq->ws} : (bc_dequant){0};
                MK512[T](pb, klen / 4, xp + n0 * K + k0 * T, k0 == 0, xsum + n0, y + n0 * ldy + m, ldy, rmask,
                         dq && k0 + klen == K ? &tile : NULL);
            }
        }
    }
    return dq != NULL;
}

/* ---- AVX2 engine: 16 rows x 4 tokens, int16 accumulation (maddubs) flushed to int32 ---- */
#define TT256 4
#define FLUSH256 32 /* k4 steps between int16 -> int32 flushes: 32 * 512 < 32768 */

/* r[0..3]: 4 rows of 8 dwords -> r[j] holds dword column j of the 4 rows in its low 128-bit lane and
 * column 4 + j in its high lane (the panel transpose and the activation packing share it) */
static inline __attribute__((always_inline)) BC_TARGET_AVX2 void transpose4x8_epi32(__m256i *r) {
    __m256i a0 = _mm256_unpacklo_epi32(r[0], r[1]), a1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i a2 = _mm256_unpacklo_epi32(r[2], r[3]), a3 = _mm256_unpackhi_epi32(r[2], r[3]);
    r[0] = _mm256_unpacklo_epi64(a0, a2);
    r[1] = _mm256_unpackhi_epi64(a0, a2);
    r[2] = _mm256_unpacklo_epi64(a1, a3);
    r[3] = _mm256_unpackhi_epi64(a1, a3);
}

/* pack_x for full tiles of 4 tokens: 32 bytes of each token's row, 4 x 8 dwords transposed (the last,
 * shorter tile goes through pack_x_tile) */
static BC_TARGET_AVX2 void pack_x_avx2(const int8_t *x, int64_t N, int64_t K, int8_t *xp) {
    for (int64_t n0 = 0; n0 < N; n0 += TT256) {
        int T = (int)(N - n0 < TT256 ? N - n0 : TT256);
        const int8_t *src = x + n0 * K;
        int8_t *dst = xp + n0 * K;
        int64_t kb = 0;
        for (; T == TT256 && kb + 32 <= K; kb += 32) {
            __m256i b[4];
            for (int t = 0; t < 4; t++) b[t] = _mm256_loadu_si256((const __m256i *)(src + t * K + kb));
            transpose4x8_epi32(b);
            int8_t *o = dst + kb * T; /* columns 0..7, 16 bytes each */
            _mm256_storeu_si256((__m256i *)o, _mm256_permute2x128_si256(b[0], b[1], 0x20));
            _mm256_storeu_si256((__m256i *)(o + 32), _mm256_permute2x128_si256(b[2], b[3], 0x20));
            _mm256_storeu_si256((__m256i *)(o + 64), _mm256_permute2x128_si256(b[0], b[1], 0x31));
            _mm256_storeu_si256((__m256i *)(o + 96), _mm256_permute2x128_si256(b[2], b[3], 0x31));
        }
        pack_x_tile(src, K, T, kb / 4, K / 4, dst);
    }
}

/* a tile's int32 accumulators (two per token: rows 0..7, 8..15): start at -xsum on a call's first chunk */
static inline __attribute__((always_inline)) BC_TARGET_AVX2 void mk256_init(__m256i *acc, int T, int first, const int32_t *xsum) {
#pragma GCC unroll 16
    for (int t = 0; t < T; t++) acc[2 * t] = acc[2 * t + 1] = first ? _mm256_set1_epi32(-xsum[t]) : _mm256_setzero_si256();
}

/* rows [0, rows) of each token's sums into y (stored on the first chunk, added after); on the last
 * chunk of a dequantized call (fin, else NULL) the final sums go out as floats instead */
static inline __attribute__((always_inline)) BC_TARGET_AVX2 void mk256_store(const __m256i *acc, int T, int first, int32_t *y,
                                                                            int64_t ldy, int rows, const bc_dequant *fin) {
    for (int t = 0; t < T; t++) {
        int32_t tmp[16];
        _mm256_storeu_si256((__m256i *)tmp, acc[2 * t]);
        _mm256_storeu_si256((__m256i *)(tmp + 8), acc[2 * t + 1]);
        int32_t *yt = y + t * ldy;
        if (!first)
            for (int r = 0; r < rows; r++) tmp[r] += yt[r];
        if (!fin) {
            memcpy(yt, tmp, sizeof(int32_t) * (size_t)rows);
            continue;
        }
        float *o = fin->out + t * fin->ldo, xs = fin->xs[t], ws = fin->ws;
        if (rows == 16) {
            __m256 vx = _mm256_set1_ps(xs), vw = _mm256_set1_ps(ws);
            for (int h = 0; h < 2; h++) {
                __m256 v = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(tmp + 8 * h)));
                _mm256_storeu_ps(o + 8 * h, _mm256_mul_ps(_mm256_div_ps(v, vx), vw));
            }
        } else {
            for (int r = 0; r < rows; r++) o[r] = (float)tmp[r] / xs * ws;
        }
    }
}

static inline __attribute__((always_inline)) BC_TARGET_AVX2 void mk256(const uint8_t *pan, int64_t k4n,
                                                                      const int8_t *xp, const int T, int first,
                                                                      const int32_t *xsum, int32_t *y,
                                                                      int64_t ldy, int rows, const bc_dequant *fin) {
    /* pan points at the 16-row half: row r at pan + k4*128 + 4r */
    __m256i acc[2 * TT256];
    const __m256i ones = _mm256_set1_epi16(1);
    mk256_init(acc, T, first, xsum);
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
    mk256_store(acc, T, first, y, ldy, rows, fin);
}

/* T = 4, every tile of a prefill: the same sums with the int16 accumulators named in inline asm. The
 * array version above, for T = 4, kept more values live than the 16 ymm registers hold, so gcc
 * spilled one accumulator and every k4 step waited on a store-to-load round trip through the stack. */
#define MK256_TOKEN(t)                                                                             \
    "vpbroadcastd %[m" #t "], %[b]\n\t"                                                             \
    "vpmaddubsw %[b], %[c0], %[p]\n\t"                                                            \
    "vpaddw %[p], %[s" #t "0], %[s" #t "0]\n\t"                                                     \
    "vpmaddubsw %[b], %[c1], %[p]\n\t"                                                            \
    "vpaddw %[p], %[s" #t "1], %[s" #t "1]\n\t"

static BC_TARGET_AVX2 void mk256_4(const uint8_t *pan, int64_t k4n, const int8_t *xp, int first, const int32_t *xsum,
                                   int32_t *y, int64_t ldy, int rows, const bc_dequant *fin) {
    __m256i acc[8];
    const __m256i ones = _mm256_set1_epi16(1);
    mk256_init(acc, 4, first, xsum);
    for (int64_t kb = 0; kb < k4n; kb += FLUSH256) {
        int64_t ke = kb + FLUSH256 < k4n ? kb + FLUSH256 : k4n;
        __m256i s00 = _mm256_setzero_si256(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00, b, p;
        for (int64_t k4 = kb; k4 < ke; k4++) {
            __m256i c0 = _mm256_load_si256((const __m256i *)(pan + k4 * 128));
            __m256i c1 = _mm256_load_si256((const __m256i *)(pan + k4 * 128 + 32));
            const int32_t *xk = (const int32_t *)(xp + k4 * 16);
            __asm__(MK256_TOKEN(0) MK256_TOKEN(1) MK256_TOKEN(2) MK256_TOKEN(3)
                    : [s00] "+x"(s00), [s01] "+x"(s01), [s10] "+x"(s10), [s11] "+x"(s11), [s20] "+x"(s20),
                      [s21] "+x"(s21), [s30] "+x"(s30), [s31] "+x"(s31), [b] "=&x"(b), [p] "=&x"(p)
                    : [c0] "x"(c0), [c1] "x"(c1), [m0] "m"(xk[0]), [m1] "m"(xk[1]), [m2] "m"(xk[2]), [m3] "m"(xk[3]));
        }
        __m256i s[8] = {s00, s01, s10, s11, s20, s21, s30, s31};
        for (int i = 0; i < 8; i++) acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(s[i], ones));
    }
    mk256_store(acc, 4, first, y, ldy, rows, fin);
}

#define MK256_CASE(TV)                                                                             \
    case TV: mk256(pan, k4n, xp, TV, first, xsum, y, ldy, rows, fin); break;

static BC_TARGET_AVX2 void mk256_any(const uint8_t *pan, int64_t k4n, const int8_t *xp, int T, int first,
                                     const int32_t *xsum, int32_t *y, int64_t ldy, int rows, const bc_dequant *fin) {
    switch (T) {
        MK256_CASE(1) MK256_CASE(2) MK256_CASE(3)
    case 4: mk256_4(pan, k4n, xp, first, xsum, y, ldy, rows, fin); break;
    default: break;
    }
}

int bc_gemm_avx2(const bc_ternary *w, bc_panel_fn panel, int64_t kc, int64_t ksplit, const int8_t *x,
                  const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1,
                  const bc_dequant *dq) {
    int64_t K = w->K;
    int64_t maxc = kc > K - ksplit ? kc : K - ksplit;
    uint8_t *pb = bc_scratch(0, (size_t)maxc * BC_PANEL_ROWS);
    int8_t *xp = bc_scratch(1, (size_t)(N * K));
    if (!pb || !xp) abort();
    pack_x_avx2(x, N, K, xp);
    for (int64_t m = m0; m < m1; m += BC_PANEL_ROWS) {
        int rows = (int)(m1 - m < BC_PANEL_ROWS ? m1 - m : BC_PANEL_ROWS);
        FOR_CHUNKS(K, kc, ksplit, k0, klen) {
            panel(w, m, rows, k0, klen, pb);
            for (int h = 0; h < 2 && 16 * h < rows; h++) {
                int hr = rows - 16 * h > 16 ? 16 : rows - 16 * h;
                for (int64_t n0 = 0; n0 < N; n0 += TT256) {
                    int T = (int)(N - n0 < TT256 ? N - n0 : TT256);
                    bc_dequant tile = dq ? (bc_dequant){dq->out + n0 * dq->ldo + m + 16 * h, dq->ldo, dq->xs + n0, dq->ws}
                                         : (bc_dequant){0};
                    mk256_any(pb + 64 * h, klen / 4, xp + n0 * K + k0 * T, T, k0 == 0, xsum + n0,
                              y + n0 * ldy + m + 16 * h, ldy, hr, dq && k0 + klen == K ? &tile : NULL);
                }
            }
        }
    }
    return dq != NULL;
}

/* ---- row-major codes -> VNNI panel (dword transposes) ---- */
void BC_TARGET_AVX512 bc_rows_to_panel_avx512(const uint8_t *rc, int64_t ld, int64_t kc, uint8_t *panel) {
    for (int rb = 0; rb < 32; rb += 16)
        for (int64_t kb = 0; kb < kc; kb += 64) {
            __m512i r[16], t[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_si512((const void *)(rc + (rb + i) * ld + kb));
            transpose16_epi32(r, t);
            for (int i = 0; i < 16; i++)
                _mm512_store_si512((void *)(panel + (kb / 4 + i) * 128 + rb * 4), t[i]);
        }
}

/* The panel of a 2-bit layout (I2_S, TQ2_0) straight from its bytes: row r's 256-column chunk g is the
 * 64 bytes at base + r*rowstride + g*chunkstride; bit pair s of byte j < 32 holds column 32*run(s) + j,
 * of byte 32 + j column 128 + 32*run(s) + j, with run(s) = 3 - s (msb_first) or s. So each shift gives
 * 16 rows x (two runs of 32 columns), transposed as dwords and stored where those columns go. */
void BC_TARGET_AVX512 bc_2bit_panel_avx512(const uint8_t *base, int64_t rowstride, int64_t chunkstride, int msb_first,
                                          int rows, int64_t kc, uint8_t *panel) {
    const __m512i M3 = _mm512_set1_epi8(3);
    for (int rb = 0; rb < 32; rb += 16)
        for (int64_t g = 0; g < kc / 256; g++)
            for (int s = 0; s < 4; s++) {
                int run = msb_first ? 3 - s : s;
                __m512i r[16], t[16];
                for (int i = 0; i < 16; i++) {
                    if (rb + i >= rows) { r[i] = _mm512_setzero_si512(); continue; }
                    const uint8_t *src = base + (rb + i) * rowstride + g * chunkstride;
                    __m512i v = _mm512_loadu_si512((const void *)src);
                    r[i] = _mm512_and_si512(_mm512_srli_epi16(v, 2 * s), M3);
                }
                transpose16_epi32(r, t);
                uint8_t *p0 = panel + (g * 64 + 8 * run) * 128 + rb * 4, *p1 = p0 + 32 * 128;
                for (int j = 0; j < 8; j++) {
                    _mm512_store_si512((void *)(p0 + j * 128), t[j]);
                    _mm512_store_si512((void *)(p1 + j * 128), t[8 + j]);
                }
            }
}

void BC_TARGET_AVX2 bc_rows_to_panel_avx2(const uint8_t *rc, int64_t ld, int64_t kc, uint8_t *panel) {
    for (int rb = 0; rb < 32; rb += 8)
        for (int64_t kb = 0; kb < kc; kb += 32) {
            __m256i r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_si256((const __m256i *)(rc + (rb + i) * ld + kb));
            transpose4x8_epi32(r);
            transpose4x8_epi32(r + 4);
            /* r[4q + j], 128-bit lane L: rows 4q..4q+3 of column 4L + j */
            for (int j = 0; j < 4; j++) {
                __m256i lo = _mm256_permute2x128_si256(r[j], r[4 + j], 0x20);
                __m256i hi = _mm256_permute2x128_si256(r[j], r[4 + j], 0x31);
                _mm256_store_si256((__m256i *)(panel + (kb / 4 + j) * 128 + rb * 4), lo);
                _mm256_store_si256((__m256i *)(panel + (kb / 4 + 4 + j) * 128 + rb * 4), hi);
            }
        }
}

#endif
