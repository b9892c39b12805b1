/* TQ1_0 (formats/tq1_0.md): 54-byte blocks of 256 weights: qs[48] | qh[4] | f16 d (ignored).
 * Base-3 digits: digit k of byte q is ((q * 3^k mod 256) * 3) >> 8; qs[j<32] digit k -> element
 * 32k + j; qs[32+m] -> 160 + 16k + m; qh[j] digits 0..3 -> 240 + 4k + j. */
#include "simd.h"
#include <stdlib.h>
#include <string.h>

#define TQ1_BLOCK 54

static const uint8_t POW3[5] = {1, 3, 9, 27, 81};

/* digit k of byte q, with p3 = 3^k */
#define TQ1_DIGIT(q, p3) (((((q) * (p3)) & 255) * 3) >> 8)
static inline int tq1_digit(uint8_t q, int k) { return TQ1_DIGIT(q, POW3[k]); }

void bc_tq1_0_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    int64_t nb = w->K / 256;
    const uint8_t *row = w->data + (size_t)(m * nb * TQ1_BLOCK);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *qs = row + b * TQ1_BLOCK, *qh = qs + 48;
        int8_t *o = out + b * 256;
        for (int k = 0; k < 5; k++) {
            for (int j = 0; j < 32; j++) o[32 * k + j] = (int8_t)(tq1_digit(qs[j], k) - 1);
            for (int j = 0; j < 16; j++) o[160 + 16 * k + j] = (int8_t)(tq1_digit(qs[32 + j], k) - 1);
        }
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 4; j++) o[240 + 4 * k + j] = (int8_t)(tq1_digit(qh[j], k) - 1);
    }
}

#if defined(__x86_64__)
/* ---------------- SIMD ----------------
 * Digit k of byte q: p = q*3^k mod 256 (p <- 3p with byte adds), c = (3p) >> 8, which for a byte is
 * [p >= 86] + [p >= 171] (3*85 = 255 < 256 <= 258 = 3*86; 3*170 = 510 < 512 <= 513 = 3*171).
 * A block's 52 code bytes (qs and qh) are processed as one vector: lanes 0..31 give elements
 * 32k + j, lanes 32..47 give 160 + 16k + j, lanes 48..51 give 240 + 4k + j (k < 4; qh's digit 4 is
 * 0 by construction and its activation lane is 0 anyway). */
#define GEMM_MIN_N 4
#define KC 1024

static BC_TARGET_AVX512 inline __m512i codes512(__m512i p) {
    __mmask64 k1 = _mm512_cmpge_epu8_mask(p, _mm512_set1_epi8(86));
    __mmask64 k2 = _mm512_cmpge_epu8_mask(p, _mm512_set1_epi8((char)171));
    return _mm512_mask_blend_epi8(k2, _mm512_maskz_mov_epi8(k1, _mm512_set1_epi8(1)), _mm512_set1_epi8(2));
}
static BC_TARGET_AVX512 inline __m512i times3_512(__m512i p) { return _mm512_add_epi8(_mm512_add_epi8(p, p), p); }
#define TQ1_MASK52 0x000FFFFFFFFFFFFFull

static BC_TARGET_AVX512 void row_codes_avx512(const uint8_t *row, int64_t nblocks, uint8_t *out) {
    for (int64_t b = 0; b < nblocks; b++) {
        __m512i p = _mm512_maskz_loadu_epi8(TQ1_MASK52, row + b * TQ1_BLOCK);
        uint8_t *o = out + b * 256;
        for (int k = 0; k < 5; k++) {
            __m512i c = codes512(p);
            _mm256_storeu_si256((__m256i *)(o + 32 * k), _mm512_castsi512_si256(c));
            _mm_storeu_si128((__m128i *)(o + 160 + 16 * k), _mm512_extracti32x4_epi32(c, 2));
            if (k < 4) {
                int32_t v = _mm_cvtsi128_si32(_mm512_extracti32x4_epi32(c, 3));
                memcpy(o + 240 + 4 * k, &v, 4);
            }
            p = times3_512(p);
        }
    }
}

static BC_TARGET_AVX512 void panel_avx512(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                          uint8_t *panel) {
    uint8_t *rc = bc_scratch(2, (size_t)(32 * kc));
    if (!rc) abort();
    int64_t rowstride = w->K / 256 * TQ1_BLOCK;
    for (int r = 0; r < 32; r++) {
        if (r < rows) row_codes_avx512(w->data + (m + r) * rowstride + k0 / 256 * TQ1_BLOCK, kc / 256, rc + r * kc);
        else memset(rc + r * kc, 0, (size_t)kc);
    }
    bc_rows_to_panel_avx512(rc, kc, kc, panel);
}

/* AVX-512 decode GEMV, no digit ever formed. With t_k = q * 3^k mod 256 (t_{k+1} = 3 t_k, two byte
 * adds), digit k of q is (3 t_k - t_{k+1}) / 256, since 3t = 256 * digit(t) + (3t mod 256) for any
 * byte t. So a digit times an activation a is (3 a t_k - a t_{k+1}) / 256, linear in bytes dpbusd
 * takes as they are: s1 sums <t_k, x_k>, s2 <t_{k+1}, x_k>, and in every dword lane 3 s1 - s2 is
 * exactly 256 times that lane's dot product with the digits (int32 wrap-around cancels: the result
 * fits). 10 dpbusd and 10 byte adds per 64 bytes, no compares or lookups: on Zen 4 1.4-1.8x the
 * compare chain's rate, and up to 10 % above a VBMI byte-lookup version that was dropped for it. The
 * scales are uniform, so a row is read as plain 64-byte chunks, the d bytes meeting zero activations:
 * 9 loads per 540-byte row, not 10 block loads. xl: the activations of digit k, laid out as the row's
 * bytes, at xl + k*S (permute_x_lin). */
static void permute_x_lin(const int8_t *x, int64_t nb, int64_t S, int8_t *xl) {
    memset(xl, 0, (size_t)(5 * S));
    for (int64_t b = 0; b < nb; b++)
        for (int k = 0; k < 5; k++) {
            int8_t *o = xl + k * S + b * TQ1_BLOCK;
            memcpy(o, x + b * 256 + 32 * k, 32);
            memcpy(o + 32, x + b * 256 + 160 + 16 * k, 16);
            if (k < 4) memcpy(o + 48, x + b * 256 + 240 + 4 * k, 4);
        }
}
static int64_t lin_stream_bytes(int64_t nb) { return (nb * TQ1_BLOCK + 63) / 64 * 64; }

/* one 64-byte chunk p of a row against the chunk's five activation vectors (xc + k*S) */
#define TQ1_LIN_CHUNK(s1, s2, p, xc, S)                                          \
    do {                                                                          \
        __m512i t_ = (p);                                                         \
        _Pragma("GCC unroll 5") for (int k_ = 0; k_ < 5; k_++) {                  \
            __m512i u_ = times3_512(t_), x_ = _mm512_loadu_si512((const void *)((xc) + k_ * (S))); \
            DPBUSD(s1, t_, x_);                                                   \
            DPBUSD(s2, u_, x_);                                                   \
            t_ = u_;                                                              \
        }                                                                         \
    } while (0)
#define TQ1_LIN_SUM(s1, s2) \
    _mm512_reduce_add_epi32(_mm512_srai_epi32(_mm512_sub_epi32(_mm512_add_epi32(_mm512_add_epi32(s1, s1), s1), s2), 8))

static BC_TARGET_AVX512 int32_t lin_row(const uint8_t *r, int64_t rs, const int8_t *xl, int64_t S) {
    __m512i s1 = _mm512_setzero_si512(), s2 = s1;
    int64_t c = 0;
    for (; c + 64 <= rs; c += 64) TQ1_LIN_CHUNK(s1, s2, _mm512_loadu_si512((const void *)(r + c)), xl + c, S);
    if (c < rs) TQ1_LIN_CHUNK(s1, s2, _mm512_maskz_loadu_epi8(((__mmask64)1 << (rs - c)) - 1, r + c), xl + c, S);
    return TQ1_LIN_SUM(s1, s2);
}

static BC_TARGET_AVX512 void gemv_avx512(const uint8_t *data, int64_t nb, const int8_t *xl, int32_t xsum,
                                         int32_t *y, int64_t m0, int64_t m1) {
    /* two rows at a time from the two halves of [m0, m1) (two sequential streams), prefetched 4 KiB ahead */
    int64_t rs = nb * TQ1_BLOCK, S = lin_stream_bytes(nb), h = (m1 - m0) / 2;
    for (int64_t j = 0; j < h; j++) {
        const uint8_t *r0 = data + (m0 + j) * rs, *r1 = r0 + h * rs;
        __m512i a0 = _mm512_setzero_si512(), b0 = a0, a1 = a0, b1 = a0;
        int64_t c = 0;
        for (; c + 64 <= rs; c += 64) {
            _mm_prefetch((const char *)(r0 + c + 4096), _MM_HINT_T0);
            _mm_prefetch((const char *)(r1 + c + 4096), _MM_HINT_T0);
            TQ1_LIN_CHUNK(a0, b0, _mm512_loadu_si512((const void *)(r0 + c)), xl + c, S);
            TQ1_LIN_CHUNK(a1, b1, _mm512_loadu_si512((const void *)(r1 + c)), xl + c, S);
        }
        if (c < rs) {
            __mmask64 tm = ((__mmask64)1 << (rs - c)) - 1;
            TQ1_LIN_CHUNK(a0, b0, _mm512_maskz_loadu_epi8(tm, r0 + c), xl + c, S);
            TQ1_LIN_CHUNK(a1, b1, _mm512_maskz_loadu_epi8(tm, r1 + c), xl + c, S);
        }
        y[m0 + j] = TQ1_LIN_SUM(a0, b0) - xsum;
        y[m0 + j + h] = TQ1_LIN_SUM(a1, b1) - xsum;
    }
    for (int64_t m = m0 + 2 * h; m < m1; m++) y[m] = lin_row(data + m * rs, rs, xl, S) - xsum;
}

int bc_tq1_0_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                           int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    int64_t K = w->K, nb = K / 256;
    if (N >= GEMM_MIN_N) {
        return bc_gemm_avx512(w, panel_avx512, KC, K, x, xsum, N, y, ldy, m0, m1, dq);
    }
    int64_t S = lin_stream_bytes(nb);
    int8_t *xl = bc_scratch(1, (size_t)(5 * S));
    if (!xl) abort();
    for (int64_t n = 0; n < N; n++) {
        permute_x_lin(x + n * K, nb, S, xl);
        gemv_avx512(w->data, nb, xl, xsum[n], y + n * ldy, m0, m1);
    }
    return 0;
}

/* AVX2: two vectors per block, A = qs[0..31] (elements 32k + j) and B = qs[32..47] | qh[0..3] | 0
 * (elements 160 + 16k + j, then 240 + 4k + j). Codes via signed compares on p ^ 0x80. */
/* codes of s = p ^ 0x80 */
static BC_TARGET_AVX2 inline __m256i codes256_x(__m256i s) {
    __m256i m1 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8((char)(85 ^ 0x80)));
    __m256i m2 = _mm256_cmpgt_epi8(s, _mm256_set1_epi8((char)(170 ^ 0x80)));
    return _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), m1), m2);
}
static BC_TARGET_AVX2 inline __m256i codes256(__m256i p) { return codes256_x(_mm256_xor_si256(p, _mm256_set1_epi8((char)0x80))); }
static BC_TARGET_AVX2 inline __m256i times3_256(__m256i p) { return _mm256_add_epi8(_mm256_add_epi8(p, p), p); }
static BC_TARGET_AVX2 inline __m256i load_b256(const uint8_t *blk) {
    int32_t qh;
    memcpy(&qh, blk + 48, 4);
    __m128i lo = _mm_loadu_si128((const __m128i *)(blk + 32));
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), _mm_cvtsi32_si128(qh), 1);
}

static BC_TARGET_AVX2 void row_codes_avx2(const uint8_t *row, int64_t nblocks, uint8_t *out) {
    for (int64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = row + b * TQ1_BLOCK;
        __m256i pa = _mm256_loadu_si256((const __m256i *)blk), pb = load_b256(blk);
        uint8_t *o = out + b * 256;
        for (int k = 0; k < 5; k++) {
            __m256i ca = codes256(pa), cb = codes256(pb);
            _mm256_storeu_si256((__m256i *)(o + 32 * k), ca);
            _mm_storeu_si128((__m128i *)(o + 160 + 16 * k), _mm256_castsi256_si128(cb));
            if (k < 4) {
                int32_t v = _mm_cvtsi128_si32(_mm256_extracti128_si256(cb, 1));
                memcpy(o + 240 + 4 * k, &v, 4);
            }
            pa = times3_256(pa);
            pb = times3_256(pb);
        }
    }
}

static BC_TARGET_AVX2 void panel_avx2(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                      uint8_t *panel) {
    uint8_t *rc = bc_scratch(2, (size_t)(32 * kc));
    if (!rc) abort();
    int64_t rowstride = w->K / 256 * TQ1_BLOCK;
    for (int r = 0; r < 32; r++) {
        if (r < rows) row_codes_avx2(w->data + (m + r) * rowstride + k0 / 256 * TQ1_BLOCK, kc / 256, rc + r * kc);
        else memset(rc + r * kc, 0, (size_t)kc);
    }
    bc_rows_to_panel_avx2(rc, kc, kc, panel);
}

/* xp[b*320 + k*32 + j] for A, xp[b*320 + 160 + k*32 + lane] for B */
static void permute_x_256(const int8_t *x, int64_t nb, int8_t *xp) {
    for (int64_t b = 0; b < nb; b++) {
        const int8_t *xb = x + b * 256;
        int8_t *o = xp + b * 320;
        memset(o, 0, 320);
        for (int k = 0; k < 5; k++) {
            memcpy(o + 32 * k, xb + 32 * k, 32);
            memcpy(o + 160 + 32 * k, xb + 160 + 16 * k, 16);
            if (k < 4) memcpy(o + 160 + 32 * k + 16, xb + 240 + 4 * k, 4);
        }
    }
}

/* The GEMV keeps p ^ 0x80 across digits: if q = p + 128 (mod 256) then 3q = 3p + 384 = (3p mod 256)
 * + 128 (mod 256), so the times-3 step is the same and the xor is paid once per block, not per digit
 * (the kernel is compute-bound on AVX2: 10 digit vectors per 54 bytes; two rows at a time ran slower,
 * spilling). */
static BC_TARGET_AVX2 void gemv_avx2(const uint8_t *data, int64_t nb, const int8_t *xp, int32_t xsum, int32_t *y,
                                     int64_t m0, int64_t m1) {
    int64_t rs = nb * TQ1_BLOCK;
    const __m256i ones = _mm256_set1_epi16(1), bias = _mm256_set1_epi8((char)0x80);
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *r0 = data + m * rs;
        __m256i acc = _mm256_setzero_si256();
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk = r0 + b * TQ1_BLOCK;
            __m256i pa = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)blk), bias), pb = _mm256_xor_si256(load_b256(blk), bias);
            const int8_t *xb = xp + b * 320;
            __m256i s16 = _mm256_setzero_si256(); /* 10 pairs of |.| <= 512 */
#pragma GCC unroll 5
            for (int k = 0; k < 5; k++) {
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(codes256_x(pa), _mm256_loadu_si256((const __m256i *)(xb + 32 * k))));
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(codes256_x(pb), _mm256_loadu_si256((const __m256i *)(xb + 160 + 32 * k))));
                pa = times3_256(pa);
                pb = times3_256(pb);
            }
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s16, ones));
        }
        y[m] = bc_hsum256_epi32(acc) - xsum;
    }
}

int bc_tq1_0_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                         int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    int64_t K = w->K, nb = K / 256;
    if (N >= GEMM_MIN_N) {
        return bc_gemm_avx2(w, panel_avx2, KC, K, x, xsum, N, y, ldy, m0, m1, dq);
    }
    int8_t *xp = bc_scratch(1, (size_t)(nb * 320));
    if (!xp) abort();
    for (int64_t n = 0; n < N; n++) {
        permute_x_256(x + n * K, nb, xp);
        gemv_avx2(w->data, nb, xp, xsum[n], y + n * ldy, m0, m1);
    }
    return 0;
}
#endif /* __x86_64__ */

#if defined(__aarch64__)
/* ---------------- aarch64 (dot_arm.h) ----------------
 * Digit k of byte q: p = q * 3^k (vmulq_u8, mod 256), digit = (3p) >> 8 (vmull_u8 by 3, high byte).
 * qs[0..31] give elements 32k + j, qs[32..47] 160 + 16k + j; qh[0..3] repeated four times times
 * (1,1,1,1,3,3,3,3,9,...,27) gives elements 240..255 in order in one vector. */
#include "dot_arm.h"
static inline uint8x16_t tq1_digits(uint8x16_t p) {
    const uint8x8_t three = vdup_n_u8(3);
    return vcombine_u8(vshrn_n_u16(vmull_u8(vget_low_u8(p), three), 8),
                       vshrn_n_u16(vmull_u8(vget_high_u8(p), three), 8));
}
static void row_codes_neon(const uint8_t *row, int64_t K, int8_t *out) {
    static const uint8_t QH_POW[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    const uint8x16_t qpow = vld1q_u8(QH_POW), three = vdupq_n_u8(3);
    for (int64_t b = 0; b < K / 256; b++) {
        const uint8_t *blk = row + b * TQ1_BLOCK;
        int8_t *o = out + 256 * b;
        uint8x16_t a0 = vld1q_u8(blk), a1 = vld1q_u8(blk + 16), bb = vld1q_u8(blk + 32);
        uint32_t qh;
        memcpy(&qh, blk + 48, 4);
        uint8x16_t h = vmulq_u8(vreinterpretq_u8_u32(vdupq_n_u32(qh)), qpow);
        for (int k = 0; k < 5; k++) {
            vst1q_s8(o + 32 * k, vreinterpretq_s8_u8(tq1_digits(a0)));
            vst1q_s8(o + 32 * k + 16, vreinterpretq_s8_u8(tq1_digits(a1)));
            vst1q_s8(o + 160 + 16 * k, vreinterpretq_s8_u8(tq1_digits(bb)));
            a0 = vmulq_u8(a0, three);
            a1 = vmulq_u8(a1, three);
            bb = vmulq_u8(bb, three);
        }
        vst1q_s8(o + 240, vreinterpretq_s8_u8(tq1_digits(h)));
    }
}

static inline __attribute__((always_inline)) int32_t row_dot(const uint8_t *row, const int8_t *x, int64_t K, bc_arm_mac_fn mac) {
    static const uint8_t QH_POW[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    const uint8x16_t qpow = vld1q_u8(QH_POW), three = vdupq_n_u8(3);
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0;
    for (int64_t b = 0; b < K / 256; b++) {
        const uint8_t *blk = row + b * TQ1_BLOCK;
        const int8_t *xb = x + 256 * b;
        uint8x16_t p0 = vld1q_u8(blk), p1 = vld1q_u8(blk + 16), pb = vld1q_u8(blk + 32);
        uint32_t qh;
        memcpy(&qh, blk + 48, 4);
        for (int k = 0; k < 5; k++) {
            a0 = mac(a0, vreinterpretq_s8_u8(tq1_digits(p0)), vld1q_s8(xb + 32 * k));
            a1 = mac(a1, vreinterpretq_s8_u8(tq1_digits(p1)), vld1q_s8(xb + 32 * k + 16));
            a2 = mac(a2, vreinterpretq_s8_u8(tq1_digits(pb)), vld1q_s8(xb + 160 + 16 * k));
            p0 = vmulq_u8(p0, three);
            p1 = vmulq_u8(p1, three);
            pb = vmulq_u8(pb, three);
        }
        uint8x16_t h = vmulq_u8(vreinterpretq_u8_u32(vdupq_n_u32(qh)), qpow);
        a0 = mac(a0, vreinterpretq_s8_u8(tq1_digits(h)), vld1q_s8(xb + 240));
    }
    return vaddvq_s32(vaddq_s32(vaddq_s32(a0, a1), a2));
}
BC_ARM_ROW_MAJOR_KERNELS(tq1_0, w->K / 256 * TQ1_BLOCK, TQ1_BLOCK)
#endif /* __aarch64__ */

/* Codes c = T + 1 of row m in element order and each block's f16 d as its two file bytes (repack.c's
 * input), through the SIMD decoder the GEMM's panels use where isa (one this CPU runs) has one. */
void bc_tq1_0_row_codes(const bc_ternary *w, int64_t m, bc_isa isa, uint8_t *codes, uint8_t *d) {
    int64_t nb = w->K / 256;
    const uint8_t *row = w->data + (size_t)(m * nb * TQ1_BLOCK);
    for (int64_t b = 0; b < nb; b++) memcpy(d + 2 * b, row + b * TQ1_BLOCK + 52, 2);
#if defined(__x86_64__)
    if (isa == BC_ISA_AVX512) { row_codes_avx512(row, nb, codes); return; }
    if (isa == BC_ISA_AVX2) { row_codes_avx2(row, nb, codes); return; }
#endif
    (void)isa;
    bc_tq1_0_decode_row(w, m, (int8_t *)codes);
    for (int64_t k = 0; k < nb * 256; k++) codes[k] = (uint8_t)(codes[k] + 1);
}
