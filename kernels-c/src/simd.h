/* Internal helpers shared by the kernel files (tq1_0.c, tq2_0.c, i2_s.c, tl1.c, tl2.c; the GEMM engine
 * gemm.c, the 2-bit GEMV gemv_2bit.c, scratch.c, kernels.c).
 * Not part of the runtime's public interface (that is kernels.h). */
#ifndef BITCONV_SIMD_H
#define BITCONV_SIMD_H
#include "kernels.h"
#include "target.h"
#include <stdint.h>
#include <stddef.h>


/* acc += vpdpbusd(c, x) as inline asm: keeps accumulators in registers (gcc's register allocation
 * around the intrinsic copies and spills them) */
#if defined(__x86_64__)
#define DPBUSD(acc, c, xv) __asm__("vpdpbusd %[x], %[cc], %[a]" : [a] "+v"(acc) : [cc] "v"(c), [x] "v"(xv))
#endif

typedef void (*bc_decode_fn)(const bc_ternary *w, int64_t m, int8_t *out);

/* Portable reference: decode each row with `decode`, then exact int32 dots (xsum unused). */
void bc_matmul_by_rows(const bc_ternary *w, bc_decode_fn decode, const int8_t *x, int64_t N,
                       int32_t *y, int64_t ldy, int64_t m0, int64_t m1);

/* scratch.c. Scratch memory that lives as long as the thread (grown on demand, 64-byte aligned). Slot 0..3
 * are independent buffers. Never freed before thread exit; returns NULL on allocation failure. */
void *bc_scratch(int slot, size_t bytes);

/* ---- the shared GEMM engine (gemm.c; N >= a few tokens) ----
 * A "panel" holds the codes c = T + 1 of BC_PANEL_ROWS consecutive rows over kc columns in the
 * VNNI order: panel[(k/4)*128 + r*4 + k%4] = c(m + r, k0 + k). A zmm load is 16 rows x 4 columns,
 * so the micro-kernel does acc[row] += dot4(codes, broadcast(x[n][k..k+3])) with no horizontal sums.
 * Rows >= `rows` must be written as code 0 (their results are never stored). */
#define BC_PANEL_ROWS 32
typedef void (*bc_panel_fn)(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc, uint8_t *panel);

/* y[n*ldy + m] = sum_k c*x - xsum[n] for m in [m0, m1): panels of 32 rows starting at m0, columns in
 * chunks [0,kc), [kc,2kc), ... below ksplit, then [ksplit, K) as one chunk (TL2's tail). With dq the
 * last chunk writes dq's floats instead (y still holds the earlier chunks' partial sums). Returns what
 * bc_matmul returns: 1 when dq's floats were written (dq given), else 0. */
int bc_gemm_avx512(const bc_ternary *w, bc_panel_fn panel, int64_t kc, int64_t ksplit, const int8_t *x,
                    const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1,
                    const bc_dequant *dq);
int bc_gemm_avx2(const bc_ternary *w, bc_panel_fn panel, int64_t kc, int64_t ksplit, const int8_t *x,
                  const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1,
                  const bc_dequant *dq);
/* Row-major codes rc[r*ld + k] (32 rows, kc columns, kc % 64 == 0) -> VNNI panel. */
void bc_rows_to_panel_avx512(const uint8_t *rc, int64_t ld, int64_t kc, uint8_t *panel);
void bc_rows_to_panel_avx2(const uint8_t *rc, int64_t ld, int64_t kc, uint8_t *panel);
/* The panel of rows [0, rows) of a 2-bit layout whose 256-column chunks are 64 bytes (I2_S, TQ2_0; kc %
 * 256 == 0): chunk g of row r at base + r*rowstride + g*chunkstride, bit pair s of byte 32h + j holding
 * column 128h + 32*(msb_first ? 3 - s : s) + j. Decoded and transposed in registers. */
void bc_2bit_panel_avx512(const uint8_t *base, int64_t rowstride, int64_t chunkstride, int msb_first, int rows,
                          int64_t kc, uint8_t *panel);

/* ---- GEMV for the row-major 2-bit layouts (gemv_2bit.c: I2_S, TQ2_0), one token ----
 * Row m's bytes start at base + m*rowstride; chunk i (256 weights, 64 bytes) at + i*chunkstride;
 * nchunks full chunks, then if half != 0 one 32-byte chunk (128 weights). xp holds the token's
 * activations permuted so that the codes (byte >> 2s) & 3 of chunk i pair with
 * xp[i*256 + s*64 + lane] (AVX-512, lanes 0..63 = the 64 bytes; for the half chunk lanes 32..63 of
 * xp are 0) or, for AVX2 (32-byte chunks j of 128 weights, chunk j at (j/2)*bstride + (j%2)*32),
 * xp[j*128 + s*32 + lane].
 * y[m] = sum - xsum for m in [m0, m1). */
void bc_gemv_2bit_avx512(const uint8_t *base, int64_t rowstride, int64_t chunkstride, int64_t nchunks, int half,
                      const int8_t *xp, int32_t xsum, int32_t *y, int64_t m0, int64_t m1);
void bc_gemv_2bit_avx2(const uint8_t *base, int64_t rowstride, int64_t bstride, int64_t nchunks32,
                    const int8_t *xp, int32_t xsum, int32_t *y, int64_t m0, int64_t m1);

/* The per-thread buffer (`bytes` long) for one token's lookup tables (TL1/TL2 GEMV). The runtime calls
 * a matmul once per unit of rows, and q/k/v or gate/up share their input, so tables are kept: *fresh
 * is 0 when the buffer already holds the tables built for exactly these K activation bytes under
 * `key` (layout and parameters; the bytes are compared), else 1 and the caller must build them.
 * NULL when out of memory. */
uint8_t *bc_lut_tables(const int8_t *x, int64_t K, int64_t key, size_t bytes, int *fresh);

/* ---- table-lookup GEMV helpers (TL1, TL2: one token) ----
 * A table holds the 16 int16 sums a 4-bit code can stand for, as a low- and a high-byte plane
 * (64 bytes each: one 16-entry plane per 128-bit lane). bc_lut_look looks up 64 codes (one per byte
 * of nv) in both planes and unpacks them to int16: va gets bytes 0-7 of every 128-bit lane, vb bytes
 * 8-15 (negated where ka / kb are set); bc_lut_acc adds them to sa, sb. */
/* Those GEMVs read one weight stream per thread (two for TL2: magnitudes and signs), which a prefetch
 * into L1 a few KiB ahead does not keep at DRAM speed on its own; a second one into L2 this many bytes
 * ahead does (Zen 4 VM, kernel bench: TL1's AVX-512 GEMV 25 -> 35 GB/s, AVX2 24 -> 27, TL2's +3-6 %;
 * 32 and 64 KiB were no better). */
#define BC_LUT_PF_L2 16384
#if defined(__x86_64__)
#include <immintrin.h>
/* the sum of v's eight int32 lanes (the AVX2 GEMVs' row totals) */
static inline __attribute__((always_inline)) BC_TARGET_AVX2 int32_t bc_hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}
static BC_TARGET_AVX2 inline void bc_lut_planes(__m256i v, uint8_t *lo, uint8_t *hi) {
    /* per 128-bit lane: 8 low bytes then 8 high bytes; then qwords 0, 2 | 1, 3 */
    const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                           0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m256i t = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, split), 0xD8);
    _mm_storeu_si128((__m128i *)lo, _mm256_castsi256_si128(t));
    _mm_storeu_si128((__m128i *)hi, _mm256_extracti128_si256(t, 1));
}
static BC_TARGET_AVX512 inline void bc_lut_look(__m512i nv, const uint8_t *t, __mmask32 ka, __mmask32 kb, __m512i *va, __m512i *vb) {
    __m512i lo = _mm512_shuffle_epi8(_mm512_load_si512((const void *)t), nv);
    __m512i hi = _mm512_shuffle_epi8(_mm512_load_si512((const void *)(t + 64)), nv);
    __m512i a = _mm512_unpacklo_epi8(lo, hi), b = _mm512_unpackhi_epi8(lo, hi);
    *va = _mm512_mask_sub_epi16(a, ka, _mm512_setzero_si512(), a);
    *vb = _mm512_mask_sub_epi16(b, kb, _mm512_setzero_si512(), b);
}
static BC_TARGET_AVX512 inline void bc_lut_acc(__m512i nv, const uint8_t *t, __mmask32 ka, __mmask32 kb, __m512i *sa, __m512i *sb) {
    __m512i va, vb;
    bc_lut_look(nv, t, ka, kb, &va, &vb);
    *sa = _mm512_add_epi16(*sa, va);
    *sb = _mm512_add_epi16(*sb, vb);
}
/* AVX2: the same for 32 codes (planes of 32 bytes: 16 entries per 128-bit lane); ga / gb give the
 * sign of each int16 lane (psignw: negated where < 0; never pass 0, it would zero the lane) */
static BC_TARGET_AVX2 inline void bc_lut_acc256(__m256i nv, const uint8_t *tlo, const uint8_t *thi, __m256i *sa, __m256i *sb) {
    __m256i lo = _mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)tlo), nv);
    __m256i hi = _mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)thi), nv);
    *sa = _mm256_add_epi16(*sa, _mm256_unpacklo_epi8(lo, hi));
    *sb = _mm256_add_epi16(*sb, _mm256_unpackhi_epi8(lo, hi));
}
static BC_TARGET_AVX2 inline void bc_lut_acc256_signed(__m256i nv, const uint8_t *tlo, const uint8_t *thi, __m256i ga, __m256i gb,
                                                       __m256i *sa, __m256i *sb) {
    __m256i lo = _mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)tlo), nv);
    __m256i hi = _mm256_shuffle_epi8(_mm256_load_si256((const __m256i *)thi), nv);
    *sa = _mm256_add_epi16(*sa, _mm256_sign_epi16(_mm256_unpacklo_epi8(lo, hi), ga));
    *sb = _mm256_add_epi16(*sb, _mm256_sign_epi16(_mm256_unpackhi_epi8(lo, hi), gb));
}
/* int16 sums of the pair code i (the nibble 3*(T0+1) + (T1+1)): (i/3 - 1) * x0 + (i%3 - 1) * x1, also
 * for codes valid data never holds (the scalar decode's arithmetic) */
static BC_TARGET_AVX2 inline __m256i bc_lut_pair(int8_t x0, int8_t x1) {
    const __m256i f0 = _mm256_setr_epi16(-1, -1, -1, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4);
    const __m256i f1 = _mm256_setr_epi16(-1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1);
    return _mm256_add_epi16(_mm256_mullo_epi16(f0, _mm256_set1_epi16(x0)), _mm256_mullo_epi16(f1, _mm256_set1_epi16(x1)));
}
#endif

#if defined(__aarch64__)
/* NEON table lookup (TL1, TL2). A table holds the 16 int16 sums v[i] a 4-bit code i can stand for, as
 * a low-byte plane (unsigned) and a high-byte plane (signed: v = 256*hi + lo). vqtbl1q_u8 looks up 16
 * codes in each plane; the low bytes are widened into uint16 sums, the high bytes summed as int8 (they
 * are small: |v| <= 640, so |hi| <= 3), and bc_lut_flush_neon rebuilds the exact int32 sums. This costs
 * 2 tbl + 2 uaddw + 1 add per 16 codes per token, one fewer than zipping the planes to int16. */
typedef struct { uint16x8_t lo0, lo1; int8x16_t hi; } bc_lut_acc_neon;

static inline void bc_lut_zero_neon(bc_lut_acc_neon *a) {
    a->lo0 = a->lo1 = vdupq_n_u16(0);
    a->hi = vdupq_n_s8(0);
}
/* adds the values at codes c of the table t (low plane, then high plane, 16 bytes each): lane i to
 * row i of the accumulator. The masked form adds ~v = -v - 1 where m is 0xFF (TL2's negative
 * triples; the caller adds the -1s back through bc_lut_flush_neon's corr). */
static inline void bc_lut_add_neon(bc_lut_acc_neon *a, const uint8_t *t, uint8x16_t c) {
    uint8x16_t lo = vqtbl1q_u8(vld1q_u8(t), c), hi = vqtbl1q_u8(vld1q_u8(t + 16), c);
    a->lo0 = vaddw_u8(a->lo0, vget_low_u8(lo));
    a->lo1 = vaddw_high_u8(a->lo1, lo);
    a->hi = vaddq_s8(a->hi, vreinterpretq_s8_u8(hi));
}
static inline void bc_lut_add_masked_neon(bc_lut_acc_neon *a, const uint8_t *t, uint8x16_t c, uint8x16_t m) {
    uint8x16_t lo = veorq_u8(vqtbl1q_u8(vld1q_u8(t), c), m), hi = veorq_u8(vqtbl1q_u8(vld1q_u8(t + 16), c), m);
    a->lo0 = vaddw_u8(a->lo0, vget_low_u8(lo));
    a->lo1 = vaddw_high_u8(a->lo1, lo);
    a->hi = vaddq_s8(a->hi, vreinterpretq_s8_u8(hi));
}
/* ra[0..7] += lanes 0..7, rb[0..7] += lanes 8..15 (plus corr per lane), then zero the accumulator */
static inline void bc_lut_flush_neon(bc_lut_acc_neon *a, int8x16_t corr, int32_t *ra, int32_t *rb) {
    int16x8_t h0 = vmovl_s8(vget_low_s8(a->hi)), h1 = vmovl_high_s8(a->hi);
    int16x8_t c0 = vmovl_s8(vget_low_s8(corr)), c1 = vmovl_high_s8(corr);
    int32x4_t s;
    s = vaddq_s32(vshll_n_s16(vget_low_s16(h0), 8), vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(a->lo0))));
    vst1q_s32(ra, vaddq_s32(vld1q_s32(ra), vaddw_s16(s, vget_low_s16(c0))));
    s = vaddq_s32(vshll_high_n_s16(h0, 8), vreinterpretq_s32_u32(vmovl_high_u16(a->lo0)));
    vst1q_s32(ra + 4, vaddq_s32(vld1q_s32(ra + 4), vaddw_high_s16(s, c0)));
    s = vaddq_s32(vshll_n_s16(vget_low_s16(h1), 8), vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(a->lo1))));
    vst1q_s32(rb, vaddq_s32(vld1q_s32(rb), vaddw_s16(s, vget_low_s16(c1))));
    s = vaddq_s32(vshll_high_n_s16(h1, 8), vreinterpretq_s32_u32(vmovl_high_u16(a->lo1)));
    vst1q_s32(rb + 4, vaddq_s32(vld1q_s32(rb + 4), vaddw_high_s16(s, c1)));
    bc_lut_zero_neon(a);
}
/* the two planes (32 bytes at o) of the int16 values v[0..7] (a), v[8..15] (b) */
static inline void bc_lut_planes_neon(int16x8_t a, int16x8_t b, uint8_t *o) {
    vst1q_u8(o, vuzp1q_u8(vreinterpretq_u8_s16(a), vreinterpretq_u8_s16(b)));
    vst1q_u8(o + 16, vuzp2q_u8(vreinterpretq_u8_s16(a), vreinterpretq_u8_s16(b)));
}
/* planes of the pair code i = 3*(T0+1) + (T1+1): (i/3 - 1) * x0 + (i%3 - 1) * x1, also for the codes
 * 9..15 valid data never holds (the scalar decode's arithmetic) */
static inline void bc_lut_pair_neon(int8_t x0, int8_t x1, uint8_t *o) {
    static const int16_t F0[16] = {-1, -1, -1, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4};
    static const int16_t F1[16] = {-1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1};
    int16x8_t a = vmlaq_n_s16(vmulq_n_s16(vld1q_s16(F0), x0), vld1q_s16(F1), x1);
    int16x8_t b = vmlaq_n_s16(vmulq_n_s16(vld1q_s16(F0 + 8), x0), vld1q_s16(F1 + 8), x1);
    bc_lut_planes_neon(a, b, o);
}
#endif

/* TL2 byte-stream geometry (formats/tl2.md). */
typedef struct { int64_t K3, K2, mag_off, sign_off, tail_off, end; } bc_tl2_geom;
bc_tl2_geom bc_tl2_geometry(const bc_ternary *w);

#endif
