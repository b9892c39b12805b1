/* The output head: GEMVs over F16 and Q8_0 rows (one decoded token) and the many-token F16 block
 * (vec_head_block). A scalar reference, then AVX2, AVX-512 and NEON (dotprod for Q8_0) versions. */
#include "vec.h"
#include "vec_simd.h"
#include "util.h"
#include <math.h>
#include <string.h>

static void gemv_f16_scalar(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) {
    for (int r = 0; r < rows; r++) {
        const uint8_t *p = w + (size_t)r * row_bytes;
        float s[8] = {0};
        int i = 0;
        for (; i + 8 <= n; i += 8)
            for (int j = 0; j < 8; j++) s[j] += rt_f16_to_f32(rt_rd16(p + 2 * (i + j))) * x[i + j];
        float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        for (; i < n; i++) t += rt_f16_to_f32(rt_rd16(p + 2 * i)) * x[i];
        out[r] = t;
    }
}

static void head_block_scalar(const float *rows, int nr, const float *ph, int n, float *out) {
    for (int r = 0; r < nr; r++) {
        float acc[32] = {0};
        for (int k = 0; k < n; k++) {
            float w = rows[(size_t)r * n + k];
            for (int t = 0; t < 32; t++) acc[t] += w * ph[(size_t)k * 32 + t];
        }
        memcpy(out + r * 32, acc, sizeof acc);
    }
}

static float dot_q8_0_scalar(const uint8_t *row, const int8_t *q, const float *d, int n) {
    float s = 0;
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + 34 * b;
        int32_t acc = 0;
        for (int i = 0; i < 32; i++) acc += (int32_t)(int8_t)blk[2 + i] * q[32 * b + i];
        s += (float)acc * (rt_f16_to_f32(rt_rd16(blk)) * d[b]);
    }
    return s;
}

#if defined(__x86_64__)
#define F16X8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
/* four streams, one row from each quarter of the range, prefetched a row ahead: on the AVX2 VMs measured
 * this kept the head at DRAM speed (the AVX-512 kernel below went back to one stream, measured on Zen 5) */
BC_TARGET_AVX2 static void gemv_f16_avx2(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) {
    int q = rows / 4, n8 = n / 8 * 8;
    for (int r = 0; r < q; r++) {
        const uint8_t *p[4];
        for (int j = 0; j < 4; j++) p[j] = w + (size_t)(j * q + r) * row_bytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n8; i += 8) {
            if ((i & 31) == 0)
                for (int j = 0; j < 4; j++) _mm_prefetch((const char *)(p[j] + row_bytes + 2 * (size_t)i), _MM_HINT_T0);
            __m256 xv = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(F16X8(p[0] + 2 * i), xv, a0);
            a1 = _mm256_fmadd_ps(F16X8(p[1] + 2 * i), xv, a1);
            a2 = _mm256_fmadd_ps(F16X8(p[2] + 2 * i), xv, a2);
            a3 = _mm256_fmadd_ps(F16X8(p[3] + 2 * i), xv, a3);
        }
        float o[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
        for (int j = 0; j < 4; j++) {
            for (int i = n8; i < n; i++) o[j] += rt_f16_to_f32(rt_rd16(p[j] + 2 * i)) * x[i];
            out[j * q + r] = o[j];
        }
    }
    if (4 * q < rows) gemv_f16_scalar(w + (size_t)(4 * q) * row_bytes, row_bytes, rows - 4 * q, x, n, out + 4 * q);
}

/* Q8_0 x Q8, one 34-byte block into acc: |w| as unsigned times sign(w)*x as signed (maddubs needs one
 * unsigned operand), scaled by the block's d times the activations' d */
BC_TARGET_AVX2 static inline __m256 q8_0_block_avx2(__m256 acc, const uint8_t *blk, __m256i x, float xd) {
    __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 2));
    __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1));
    float scale = _cvtsh_ss(rt_rd16(blk)) * xd;
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale), acc);
}

BC_TARGET_AVX2 static float dot_q8_0_avx2(const uint8_t *row, const int8_t *q, const float *d, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 32; b++) acc = q8_0_block_avx2(acc, row + 34 * b, _mm256_loadu_si256((const __m256i *)(q + 32 * b)), d[b]);
    return hsum256(acc);
}

/* Four rows of a range at a time, one from each quarter, prefetched PF_Q8 bytes ahead: four sequential
 * streams (row after row from one stream left the head at ~70 % of DRAM speed). Per row the same
 * blocks in the same order as dot_q8_0_avx2 (q8_0_block_avx2), so each logit is bit-identical to it. */
#define PF_Q8 2048
BC_TARGET_AVX2 static void gemv_q8_0_avx2(const uint8_t *w, size_t row_bytes, int rows, const int8_t *q, const float *d, int n, float *out) {
    int qr = rows / 4;
    for (int r = 0; r < qr; r++) {
        const uint8_t *p[4];
        for (int j = 0; j < 4; j++) p[j] = w + (size_t)(j * qr + r) * row_bytes;
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int b = 0; b < n / 32; b++) {
            if ((b & 1) == 0)
                for (int j = 0; j < 4; j++) _mm_prefetch((const char *)(p[j] + 34 * b + PF_Q8), _MM_HINT_T0);
            __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
            for (int j = 0; j < 4; j++) acc[j] = q8_0_block_avx2(acc[j], p[j] + 34 * b, x, d[b]);
        }
        for (int j = 0; j < 4; j++) out[j * qr + r] = hsum256(acc[j]);
    }
    for (int r = 4 * qr; r < rows; r++) out[r] = dot_q8_0_avx2(w + (size_t)r * row_bytes, q, d, n);
}

/* 3 rows x 32 tokens per pass: 12 accumulators, per k 4 loads + 3 broadcasts for 12 FMAs */
BC_TARGET_AVX2 static void head_block_avx2(const float *rows, int nr, const float *ph, int n, float *out) {
    for (int r0 = 0; r0 < nr; r0 += 3) {
        const float *w0 = rows + (size_t)r0 * n;
        const float *w1 = r0 + 1 < nr ? w0 + n : w0, *w2 = r0 + 2 < nr ? w0 + 2 * (size_t)n : w0;
        __m256 a[3][4];
        _Pragma("GCC unroll 3") for (int r = 0; r < 3; r++)
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) a[r][v] = _mm256_setzero_ps();
        for (int k = 0; k < n; k++) {
            const float *p = ph + (size_t)k * 32;
            __m256 h0 = _mm256_loadu_ps(p), h1 = _mm256_loadu_ps(p + 8), h2 = _mm256_loadu_ps(p + 16), h3 = _mm256_loadu_ps(p + 24);
            __m256 b0 = _mm256_set1_ps(w0[k]), b1 = _mm256_set1_ps(w1[k]), b2 = _mm256_set1_ps(w2[k]);
            a[0][0] = _mm256_fmadd_ps(b0, h0, a[0][0]); a[0][1] = _mm256_fmadd_ps(b0, h1, a[0][1]);
            a[0][2] = _mm256_fmadd_ps(b0, h2, a[0][2]); a[0][3] = _mm256_fmadd_ps(b0, h3, a[0][3]);
            a[1][0] = _mm256_fmadd_ps(b1, h0, a[1][0]); a[1][1] = _mm256_fmadd_ps(b1, h1, a[1][1]);
            a[1][2] = _mm256_fmadd_ps(b1, h2, a[1][2]); a[1][3] = _mm256_fmadd_ps(b1, h3, a[1][3]);
            a[2][0] = _mm256_fmadd_ps(b2, h0, a[2][0]); a[2][1] = _mm256_fmadd_ps(b2, h1, a[2][1]);
            a[2][2] = _mm256_fmadd_ps(b2, h2, a[2][2]); a[2][3] = _mm256_fmadd_ps(b2, h3, a[2][3]);
        }
        for (int r = 0; r < 3 && r0 + r < nr; r++)
            for (int v = 0; v < 4; v++) _mm256_storeu_ps(out + (r0 + r) * 32 + 8 * v, a[r][v]);
    }
}

#define F16X16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
/* One row at a time, prefetched PF_F16 bytes ahead: one sequential stream per thread. On an AMD Zen 5
 * VM four streams (a row from each quarter of the range, as the AVX2 kernel) left the head at 0.65-0.9
 * of the ternary GEMVs' rate in the same run; one stream runs it at 1.04-1.18 of it (docs/benchmarks.md).
 * On an Intel VM four quarter streams had beaten four adjacent rows without software prefetch; this
 * kernel has not been measured on Intel since. */
#define PF_F16 4096
BC_TARGET_AVX512 static void gemv_f16_avx512(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) {
    int n32 = n / 32 * 32;
    for (int r = 0; r < rows; r++) {
        const uint8_t *p = w + (size_t)r * row_bytes;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0; /* two chains: one FMA's latency per 32 values */
        for (int i = 0; i < n32; i += 32) {
            _mm_prefetch((const char *)(p + PF_F16 + 2 * (size_t)i), _MM_HINT_T0);
            a0 = _mm512_fmadd_ps(F16X16(p + 2 * i), _mm512_loadu_ps(x + i), a0);
            a1 = _mm512_fmadd_ps(F16X16(p + 2 * i + 32), _mm512_loadu_ps(x + i + 16), a1);
        }
        float o = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        for (int i = n32; i < n; i++) o += rt_f16_to_f32(rt_rd16(p + 2 * i)) * x[i];
        out[r] = o;
    }
}

/* 12 rows x 32 tokens: 24 accumulators; per k 2 loads + 12 broadcasts feed 24 FMAs */
BC_TARGET_AVX512 static void head_block_avx512(const float *rows, int nr, const float *ph, int n, float *out) {
    const float *w[VEC_HB_ROWS];
    for (int r = 0; r < VEC_HB_ROWS; r++) w[r] = rows + (size_t)(r < nr ? r : 0) * n;
    __m512 a[VEC_HB_ROWS][2];
    _Pragma("GCC unroll 12") for (int r = 0; r < VEC_HB_ROWS; r++) a[r][0] = a[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < n; k++) {
        __m512 h0 = _mm512_loadu_ps(ph + (size_t)k * 32), h1 = _mm512_loadu_ps(ph + (size_t)k * 32 + 16);
        _Pragma("GCC unroll 12") for (int r = 0; r < VEC_HB_ROWS; r++) {
            __m512 b = _mm512_set1_ps(w[r][k]);
            a[r][0] = _mm512_fmadd_ps(b, h0, a[r][0]);
            a[r][1] = _mm512_fmadd_ps(b, h1, a[r][1]);
        }
    }
    for (int r = 0; r < nr; r++) {
        _mm512_storeu_ps(out + r * 32, a[r][0]);
        _mm512_storeu_ps(out + r * 32 + 16, a[r][1]);
    }
}

/* VNNI: one dpbusd per 32-value block does the 32 multiply-adds into 8 int32 lanes. */
BC_TARGET_AVX512 static float dot_q8_0_avx512(const uint8_t *row, const int8_t *q, const float *d, int n) {
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + 34 * b;
        __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 2));
        __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
        __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
        float scale = _cvtsh_ss(rt_rd16(blk)) * d[b];
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale), acc);
    }
    return hsum256(acc);
}

/* Two rows x two 32-blocks per step: each 512-bit dpbusd covers 64 values of one row; the weights'
 * signs move onto the activations (dpbusd multiplies unsigned by signed). Four independent chains. */
BC_TARGET_AVX512 static void gemv_q8_0_avx512(const uint8_t *w, size_t row_bytes, int rows, const int8_t *q, const float *d, int n, float *out) {
    int nb = n / 32, r = 0;
    const __m512i zero = _mm512_setzero_si512();
    for (; r + 2 <= rows; r += 2) {
        const uint8_t *w0 = w + (size_t)r * row_bytes, *w1 = w0 + row_bytes;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        int b = 0;
        for (; b + 2 <= nb; b += 2) {
            __m512i x = _mm512_loadu_si512((const void *)(q + 32 * b));
            __m512 dx = _mm512_insertf32x8(_mm512_set1_ps(d[b]), _mm256_set1_ps(d[b + 1]), 1);
            const uint8_t *p0 = w0 + 34 * b, *p1 = w1 + 34 * b;
            __m512i v0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p0 + 2))), _mm256_loadu_si256((const __m256i *)(p0 + 36)), 1);
            __m512i v1 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p1 + 2))), _mm256_loadu_si256((const __m256i *)(p1 + 36)), 1);
            __m512i s0 = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(v0), zero, x);
            __m512i s1 = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(v1), zero, x);
            __m512i i0 = _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(v0), s0);
            __m512i i1 = _mm512_dpbusd_epi32(zero, _mm512_abs_epi8(v1), s1);
            __m512 d0 = _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(rt_rd16(p0))), _mm256_set1_ps(_cvtsh_ss(rt_rd16(p0 + 34))), 1);
            __m512 d1 = _mm512_insertf32x8(_mm512_set1_ps(_cvtsh_ss(rt_rd16(p1))), _mm256_set1_ps(_cvtsh_ss(rt_rd16(p1 + 34))), 1);
            a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), _mm512_mul_ps(d0, dx), a0);
            a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1), _mm512_mul_ps(d1, dx), a1);
        }
        float o0 = _mm512_reduce_add_ps(a0), o1 = _mm512_reduce_add_ps(a1);
        if (b < nb) {
            o0 += dot_q8_0_avx512(w0 + 34 * b, q + 32 * b, d + b, 32);
            o1 += dot_q8_0_avx512(w1 + 34 * b, q + 32 * b, d + b, 32);
        }
        out[r] = o0;
        out[r + 1] = o1;
    }
    for (; r < rows; r++) out[r] = dot_q8_0_avx512(w + (size_t)r * row_bytes, q, d, n);
}

#endif

#if defined(__aarch64__)
#include "target.h"
/* NEON (ARMv8.0): F16 rows widened by vcvt_f32_f16 (4 halves per instruction), four FMLA chains */
static void gemv_f16_neon(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) {
    for (int r = 0; r < rows; r++) {
        const uint8_t *p = w + (size_t)r * row_bytes;
        float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 16 <= n; i += 16) {
            uint16x8_t h0, h1;
            memcpy(&h0, p + 2 * i, 16);
            memcpy(&h1, p + 2 * i + 16, 16);
            a0 = vfmaq_f32(a0, vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h0))), vld1q_f32(x + i));
            a1 = vfmaq_f32(a1, vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h0))), vld1q_f32(x + i + 4));
            a2 = vfmaq_f32(a2, vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h1))), vld1q_f32(x + i + 8));
            a3 = vfmaq_f32(a3, vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h1))), vld1q_f32(x + i + 12));
        }
        float t = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
        for (; i < n; i++) t += rt_f16_to_f32(rt_rd16(p + 2 * i)) * x[i];
        out[r] = t;
    }
}

/* Head block: 4 rows x 16 tokens per pass (16 accumulators); four columns of the 4 rows loaded as
 * vectors and used lane by lane (FMLA by element), so per 4 columns 4 + 16 loads feed 64 FMLA */
static void head_block_neon(const float *rows, int nr, const float *ph, int n, float *out) {
    for (int r0 = 0; r0 < nr; r0 += 4) {
        const float *w[4];
        for (int r = 0; r < 4; r++) w[r] = rows + (size_t)(r0 + r < nr ? r0 + r : r0) * n;
        for (int t0 = 0; t0 < 32; t0 += 16) {
            float32x4_t a[4][4];
            for (int r = 0; r < 4; r++)
                for (int v = 0; v < 4; v++) a[r][v] = vdupq_n_f32(0);
            int k = 0;
#define HB_STEP(LANE, wk)                                                                          \
    {                                                                                              \
        const float *p = ph + (size_t)(k + (LANE)) * 32 + t0;                                      \
        float32x4_t h0 = vld1q_f32(p), h1 = vld1q_f32(p + 4), h2 = vld1q_f32(p + 8), h3 = vld1q_f32(p + 12); \
        for (int r = 0; r < 4; r++) {                                                              \
            a[r][0] = vfmaq_laneq_f32(a[r][0], h0, wk[r], LANE);                                   \
            a[r][1] = vfmaq_laneq_f32(a[r][1], h1, wk[r], LANE);                                   \
            a[r][2] = vfmaq_laneq_f32(a[r][2], h2, wk[r], LANE);                                   \
            a[r][3] = vfmaq_laneq_f32(a[r][3], h3, wk[r], LANE);                                   \
        }                                                                                          \
    }
            for (; k + 4 <= n; k += 4) {
                float32x4_t wk[4] = {vld1q_f32(w[0] + k), vld1q_f32(w[1] + k), vld1q_f32(w[2] + k), vld1q_f32(w[3] + k)};
                HB_STEP(0, wk) HB_STEP(1, wk) HB_STEP(2, wk) HB_STEP(3, wk)
            }
            for (; k < n; k++) {
                float32x4_t wk[4] = {vdupq_n_f32(w[0][k]), vdupq_n_f32(w[1][k]), vdupq_n_f32(w[2][k]), vdupq_n_f32(w[3][k])};
                HB_STEP(0, wk)
            }
#undef HB_STEP
            for (int r = 0; r < 4 && r0 + r < nr; r++)
                for (int v = 0; v < 4; v++) vst1q_f32(out + (r0 + r) * 32 + t0 + 4 * v, a[r][v]);
        }
    }
}

/* Q8_0 block dots: exact int32 per 32-value block (vmull_s8 / vpadalq_s16, or SDOT), scaled in float */
static float dot_q8_0_neon(const uint8_t *row, const int8_t *q, const float *d, int n) {
    float s = 0;
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + 34 * b;
        int8x16_t w0, w1;
        memcpy(&w0, blk + 2, 16);
        memcpy(&w1, blk + 18, 16);
        int8x16_t q0 = vld1q_s8(q + 32 * b), q1 = vld1q_s8(q + 32 * b + 16);
        int32x4_t a = vpaddlq_s16(vmlal_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(q0)), vget_high_s8(w0), vget_high_s8(q0)));
        a = vpadalq_s16(a, vmlal_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(q1)), vget_high_s8(w1), vget_high_s8(q1)));
        s += (float)vaddvq_s32(a) * (rt_f16_to_f32(rt_rd16(blk)) * d[b]);
    }
    return s;
}

BC_TARGET_DOTPROD static float dot_q8_0_dotprod(const uint8_t *row, const int8_t *q, const float *d, int n) {
    float s = 0;
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + 34 * b;
        int8x16_t w0, w1;
        memcpy(&w0, blk + 2, 16);
        memcpy(&w1, blk + 18, 16);
        int32x4_t a = vdupq_n_s32(0);
        BC_SDOT(a, w0, vld1q_s8(q + 32 * b));
        BC_SDOT(a, w1, vld1q_s8(q + 32 * b + 16));
        s += (float)vaddvq_s32(a) * (rt_f16_to_f32(rt_rd16(blk)) * d[b]);
    }
    return s;
}
#endif

/* ---- selection (vec_init) ---- */

static void (*p_gemv_f16)(const uint8_t *, size_t, int, const float *, int, float *) = gemv_f16_scalar;
static void (*p_head_block)(const float *, int, const float *, int, float *) = head_block_scalar;
static float (*p_dot_q8_0)(const uint8_t *, const int8_t *, const float *, int) = dot_q8_0_scalar;

/* the row-major Q8_0 GEMV where no ISA has a dedicated one: one dot per row */
static void gemv_q8_0_rows(const uint8_t *w, size_t row_bytes, int rows, const int8_t *q, const float *d, int n, float *out) {
    for (int r = 0; r < rows; r++) out[r] = p_dot_q8_0(w + (size_t)r * row_bytes, q, d, n);
}
static void (*p_gemv_q8_0)(const uint8_t *, size_t, int, const int8_t *, const float *, int, float *) = gemv_q8_0_rows;

void vec_head_select(bc_isa isa) {
    p_gemv_f16 = gemv_f16_scalar; p_head_block = head_block_scalar; p_dot_q8_0 = dot_q8_0_scalar; p_gemv_q8_0 = gemv_q8_0_rows;
#if defined(__x86_64__)
    if (isa >= BC_ISA_AVX2 && isa <= BC_ISA_AVX512) {
        p_gemv_f16 = gemv_f16_avx2; p_head_block = head_block_avx2; p_dot_q8_0 = dot_q8_0_avx2; p_gemv_q8_0 = gemv_q8_0_avx2;
    }
    if (isa == BC_ISA_AVX512) {
        p_gemv_f16 = gemv_f16_avx512; p_head_block = head_block_avx512; p_dot_q8_0 = dot_q8_0_avx512; p_gemv_q8_0 = gemv_q8_0_avx512;
    }
#endif
#if defined(__aarch64__)
    if (isa >= BC_ISA_NEON && isa <= BC_ISA_I8MM) {
        p_gemv_f16 = gemv_f16_neon; p_head_block = head_block_neon; p_dot_q8_0 = dot_q8_0_neon;
    }
    if (isa >= BC_ISA_DOTPROD && isa <= BC_ISA_I8MM) p_dot_q8_0 = dot_q8_0_dotprod;
#endif
    (void)isa;
}

void vec_gemv_f16(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) { p_gemv_f16(w, row_bytes, rows, x, n, out); }
void vec_head_block(const float *rows, int nr, const float *ph, int n, float *out) { p_head_block(rows, nr, ph, n, out); }
float vec_dot_q8_0(const uint8_t *row, const int8_t *q, const float *d, int n) { return p_dot_q8_0(row, q, d, n); }
void vec_gemv_q8_0(const uint8_t *w, size_t row_bytes, int rows, const int8_t *q, const float *d, int n, float *out) { p_gemv_q8_0(w, row_bytes, rows, q, d, n, out); }
