/* Row-wise float operations of the forward pass: dot products, F16 / BF16 rows, RMSNorm (sum of squares,
 * apply), the residual add, relu2 / SiLU gates, BitNet activation quantization and the dequantization
 * of the integer sums. A scalar reference, then AVX2, AVX-512 and NEON versions. */
#include "vec.h"
#include "vec_simd.h"
#include "util.h"
#include <math.h>
#include <string.h>

static float dot_scalar(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

static void f16_row_scalar(const uint8_t *src, float *dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = rt_f16_to_f32(rt_rd16(src + 2 * i));
}

static void bf16_row_scalar(const uint8_t *src, float *dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = rt_bf16_to_f32(rt_rd16(src + 2 * i));
}

/* q = clamp(round_half_even(x * s)) for n values, their sum in *sum (also the SIMD versions' tails) */
static void quantize_tail(const float *x, int n, float s, int8_t *q, int32_t *sum) {
    int32_t acc = 0;
    for (int i = 0; i < n; i++) {
        float r = rintf(x[i] * s); /* half to even in the default rounding mode, like torch.round */
        r = r > 127.0f ? 127.0f : r < -128.0f ? -128.0f : r;
        q[i] = (int8_t)r;
        acc += q[i];
    }
    *sum = acc;
}

static float quantize_act_scalar(const float *x, int n, int8_t *q, int32_t *sum) {
    float amax = 0;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    quantize_tail(x, n, s, q, sum);
    return s;
}

static double sumsq_scalar(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

static void dot4xn_scalar(const float *rows, size_t rs, const float *xs, size_t xst, int nt, int n, float *out, size_t ors, size_t ots) {
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < nt; t++) out[(size_t)r * ors + (size_t)t * ots] = dot_scalar(rows + r * rs, xs + t * xst, n);
}

static void glu_scalar(float *g, const float *u, int n, int relu2) {
    if (relu2)
        for (int i = 0; i < n; i++) { float r = g[i] > 0 ? g[i] : 0; g[i] = r * r * u[i]; }
    else
        for (int i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static void dequant_scalar(const int32_t *acc, int n, float xs, float ws, float *y) {
    for (int i = 0; i < n; i++) y[i] = (float)acc[i] / xs * ws;
}

static void norm_apply_scalar(float *y, const float *x, const float *w, float r, int n) {
    for (int i = 0; i < n; i++) y[i] = w[i] * (x[i] * r);
}

static void add_scalar(float *y, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += x[i];
}

#if defined(__x86_64__)
BC_TARGET_AVX2 static float dot_avx2(const float *a, const float *b, int n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float t = hsum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

BC_TARGET_AVX2 static void f16_row_avx2(const uint8_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    for (; i < n; i++) dst[i] = rt_f16_to_f32(rt_rd16(src + 2 * i));
}

BC_TARGET_AVX2 static void bf16_row_avx2(const uint8_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + 2 * i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++) dst[i] = rt_bf16_to_f32(rt_rd16(src + 2 * i));
}

BC_TARGET_AVX2 static void dot4_avx2(const float *r0, const float *r1, const float *r2, const float *r3, const float *x, int n, float out[4]) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 xv = _mm256_loadu_ps(x + i);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(r0 + i), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(r1 + i), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(r2 + i), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(r3 + i), xv, a3);
    }
    out[0] = hsum256(a0); out[1] = hsum256(a1); out[2] = hsum256(a2); out[3] = hsum256(a3);
    for (; i < n; i++) { out[0] += r0[i] * x[i]; out[1] += r1[i] * x[i]; out[2] += r2[i] * x[i]; out[3] += r3[i] * x[i]; }
}

BC_TARGET_AVX2 static float quantize_act_avx2(const float *x, int n, int8_t *q, int32_t *sum) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 mx = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    float amax;
    {
        __m128 m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        m = _mm_max_ss(m, _mm_movehdup_ps(m));
        amax = _mm_cvtss_f32(m);
    }
    for (; i < n; i++) { float a = fabsf(x[i]); amax = a > amax ? a : amax; }
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    const __m256 sv = _mm256_set1_ps(s), lo = _mm256_set1_ps(-128.0f), hi = _mm256_set1_ps(127.0f);
    __m256i acc = _mm256_setzero_si256();
    i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 r = _mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), sv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256i v = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, lo), hi));
        acc = _mm256_add_epi32(acc, v);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(w, w));
    }
    __m128i a4 = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    a4 = _mm_add_epi32(a4, _mm_shuffle_epi32(a4, 0x4e));
    a4 = _mm_add_epi32(a4, _mm_shuffle_epi32(a4, 0xb1));
    int32_t total = _mm_cvtsi128_si32(a4);
    for (; i < n; i++) {
        float r = rintf(x[i] * s);
        r = r > 127.0f ? 127.0f : r < -128.0f ? -128.0f : r;
        q[i] = (int8_t)r;
        total += q[i];
    }
    *sum = total;
    return s;
}

BC_TARGET_AVX2 static double sumsq_avx2(const float *x, int n) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256d d0 = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), d1 = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
        a0 = _mm256_fmadd_pd(d0, d0, a0);
        a1 = _mm256_fmadd_pd(d1, d1, a1);
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(a0, a1));
    double s = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

BC_TARGET_AVX2 static void dot4xn_avx2(const float *rows, size_t rs, const float *xs, size_t xst, int nt, int n, float *out, size_t ors, size_t ots) {
    for (int t = 0; t < nt; t++) {
        float o[4];
        dot4_avx2(rows, rows + rs, rows + 2 * rs, rows + 3 * rs, xs + t * xst, n, o);
        for (int r = 0; r < 4; r++) out[(size_t)r * ors + (size_t)t * ots] = o[r];
    }
}

BC_TARGET_AVX2 static void glu_avx2(float *g, const float *u, int n, int relu2) {
    int i = 0;
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i), y;
        if (relu2) {
            __m256 r = _mm256_max_ps(x, zero);
            y = _mm256_mul_ps(_mm256_mul_ps(r, r), _mm256_loadu_ps(u + i));
        } else {
            /* silu(x) = x / (1 + e^-x); e^-x by the polynomial for arguments <= 0, else 1 / e^x */
            __m256 nx = _mm256_xor_ps(x, sign);
            __m256 e = exp_neg_avx2(_mm256_min_ps(nx, zero));
            __m256 big = _mm256_div_ps(one, exp_neg_avx2(_mm256_min_ps(x, zero)));
            e = _mm256_blendv_ps(e, big, _mm256_cmp_ps(nx, zero, _CMP_GT_OQ));
            y = _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i));
        }
        _mm256_storeu_ps(g + i, y);
    }
    glu_scalar(g + i, u + i, n - i, relu2);
}

BC_TARGET_AVX2 static void dequant_avx2(const int32_t *acc, int n, float xs, float ws, float *y) {
    const __m256 a = _mm256_set1_ps(xs), b = _mm256_set1_ps(ws);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_div_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + i))), a), b));
    dequant_scalar(acc + i, n - i, xs, ws, y + i);
}

BC_TARGET_AVX2 static void norm_apply_avx2(float *y, const float *x, const float *w, float r, int n) {
    const __m256 rv = _mm256_set1_ps(r);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(_mm256_loadu_ps(x + i), rv)));
    norm_apply_scalar(y + i, x + i, w + i, r, n - i);
}

BC_TARGET_AVX2 static void add_avx2(float *y, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    add_scalar(y + i, x + i, n - i);
}

BC_TARGET_AVX512 static float dot_avx512(const float *a, const float *b, int n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

BC_TARGET_AVX512 static void f16_row_avx512(const uint8_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + 2 * i))));
    for (; i < n; i++) dst[i] = rt_f16_to_f32(rt_rd16(src + 2 * i));
}

BC_TARGET_AVX512 static void dot4_avx512(const float *r0, const float *r1, const float *r2, const float *r3, const float *x, int n, float out[4]) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 xv = _mm512_loadu_ps(x + i);
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + i), xv, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(r1 + i), xv, a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(r2 + i), xv, a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(r3 + i), xv, a3);
    }
    out[0] = _mm512_reduce_add_ps(a0); out[1] = _mm512_reduce_add_ps(a1);
    out[2] = _mm512_reduce_add_ps(a2); out[3] = _mm512_reduce_add_ps(a3);
    for (; i < n; i++) { out[0] += r0[i] * x[i]; out[1] += r1[i] * x[i]; out[2] += r2[i] * x[i]; out[3] += r3[i] * x[i]; }
}

BC_TARGET_AVX512 static float quantize_act_avx512(const float *x, int n, int8_t *q, int32_t *sum) {
    __m512 mx = _mm512_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    if (i < n) mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1), x + i)));
    float amax = _mm512_reduce_max_ps(mx);
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    const __m512 sv = _mm512_set1_ps(s), lo = _mm512_set1_ps(-128.0f), hi = _mm512_set1_ps(127.0f);
    __m512i acc = _mm512_setzero_si512();
    for (i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 r = _mm512_roundscale_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512i v = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(r, lo), hi));
        acc = _mm512_add_epi32(acc, v);
        _mm_mask_storeu_epi8(q + i, m, _mm512_cvtsepi32_epi8(v));
    }
    *sum = _mm512_reduce_add_epi32(acc);
    return s;
}

BC_TARGET_AVX512 static double sumsq_avx512(const float *x, int n) {
    __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512d d0 = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        __m512d d1 = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
        a0 = _mm512_fmadd_pd(d0, d0, a0);
        a1 = _mm512_fmadd_pd(d1, d1, a1);
    }
    double s = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
    for (; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

/* 4 rows x up to 4 vectors: 16 accumulators, 8 loads per 16 FMAs */
BC_TARGET_AVX512 static void dot4xn_avx512(const float *rows, size_t rs, const float *xs, size_t xst, int nt, int n, float *out, size_t ors, size_t ots) {
    if (nt != 4 || n % 16) {
        for (int t = 0; t < nt; t++) {
            float o[4];
            dot4_avx512(rows, rows + rs, rows + 2 * rs, rows + 3 * rs, xs + t * xst, n, o);
            for (int r = 0; r < 4; r++) out[(size_t)r * ors + (size_t)t * ots] = o[r];
        }
        return;
    }
    __m512 a[4][4];
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 4; t++) a[r][t] = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __m512 x0 = _mm512_loadu_ps(xs + i), x1 = _mm512_loadu_ps(xs + xst + i);
        __m512 x2 = _mm512_loadu_ps(xs + 2 * xst + i), x3 = _mm512_loadu_ps(xs + 3 * xst + i);
        for (int r = 0; r < 4; r++) {
            __m512 w = _mm512_loadu_ps(rows + r * rs + i);
            a[r][0] = _mm512_fmadd_ps(w, x0, a[r][0]);
            a[r][1] = _mm512_fmadd_ps(w, x1, a[r][1]);
            a[r][2] = _mm512_fmadd_ps(w, x2, a[r][2]);
            a[r][3] = _mm512_fmadd_ps(w, x3, a[r][3]);
        }
    }
    for (int r = 0; r < 4; r++)
        for (int t = 0; t < 4; t++) out[(size_t)r * ors + (size_t)t * ots] = _mm512_reduce_add_ps(a[r][t]);
}

BC_TARGET_AVX512 static void glu_avx512(float *g, const float *u, int n, int relu2) {
    if (!relu2) { glu_avx2(g, u, n, relu2); return; }
    const __m512 zero = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 r = _mm512_max_ps(_mm512_maskz_loadu_ps(k, g + i), zero);
        _mm512_mask_storeu_ps(g + i, k, _mm512_mul_ps(_mm512_mul_ps(r, r), _mm512_maskz_loadu_ps(k, u + i)));
    }
}

BC_TARGET_AVX512 static void dequant_avx512(const int32_t *acc, int n, float xs, float ws, float *y) {
    const __m512 a = _mm512_set1_ps(xs), b = _mm512_set1_ps(ws);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, acc + i));
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_div_ps(v, a), b));
    }
}
#endif

#if defined(__aarch64__)
/* ---- NEON (ARMv8.0 Advanced SIMD, every aarch64 CPU): the AVX2 versions 4 lanes at a time ---- */
static float dot_neon(const float *a, const float *b, int n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float t = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

static void f16_row_neon(const uint8_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t h;
        memcpy(&h, src + 2 * i, 16);
        vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))));
        vst1q_f32(dst + i + 4, vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h))));
    }
    f16_row_scalar(src + 2 * i, dst + i, n - i);
}

static void bf16_row_neon(const uint8_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x8_t h;
        memcpy(&h, src + 2 * i, 16);
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
        vst1q_f32(dst + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(h, 16)));
    }
    bf16_row_scalar(src + 2 * i, dst + i, n - i);
}

/* the scalar's arithmetic lane by lane: one product, round half to even (FRINTN), clamp, saturating narrow */
static float quantize_act_neon(const float *x, int n, int8_t *q, int32_t *sum) {
    float32x4_t mx = vdupq_n_f32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) mx = vmaxq_f32(mx, vabsq_f32(vld1q_f32(x + i)));
    float amax = vmaxvq_f32(mx);
    for (; i < n; i++) { float a = fabsf(x[i]); amax = a > amax ? a : amax; }
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    const float32x4_t lo = vdupq_n_f32(-128.0f), hi = vdupq_n_f32(127.0f);
    int32x4_t acc = vdupq_n_s32(0);
    for (i = 0; i + 8 <= n; i += 8) {
        float32x4_t r0 = vrndnq_f32(vmulq_n_f32(vld1q_f32(x + i), s)), r1 = vrndnq_f32(vmulq_n_f32(vld1q_f32(x + i + 4), s));
        int32x4_t v0 = vcvtq_s32_f32(vminq_f32(vmaxq_f32(r0, lo), hi)), v1 = vcvtq_s32_f32(vminq_f32(vmaxq_f32(r1, lo), hi));
        acc = vaddq_s32(acc, vaddq_s32(v0, v1));
        vst1_s8(q + i, vqmovn_s16(vcombine_s16(vqmovn_s32(v0), vqmovn_s32(v1))));
    }
    int32_t total = vaddvq_s32(acc), rest;
    quantize_tail(x + i, n - i, s, q + i, &rest);
    *sum = total + rest;
    return s;
}

static double sumsq_neon(const float *x, int n) {
    float64x2_t a0 = vdupq_n_f64(0), a1 = a0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        float64x2_t d0 = vcvt_f64_f32(vget_low_f32(v)), d1 = vcvt_high_f64_f32(v);
        a0 = vfmaq_f64(a0, d0, d0);
        a1 = vfmaq_f64(a1, d1, d1);
    }
    double s = vaddvq_f64(vaddq_f64(a0, a1));
    for (; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

static void dot4_neon(const float *r0, const float *r1, const float *r2, const float *r3, const float *x, int n, float out[4]) {
    float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t xv = vld1q_f32(x + i);
        a0 = vfmaq_f32(a0, vld1q_f32(r0 + i), xv);
        a1 = vfmaq_f32(a1, vld1q_f32(r1 + i), xv);
        a2 = vfmaq_f32(a2, vld1q_f32(r2 + i), xv);
        a3 = vfmaq_f32(a3, vld1q_f32(r3 + i), xv);
    }
    out[0] = vaddvq_f32(a0); out[1] = vaddvq_f32(a1); out[2] = vaddvq_f32(a2); out[3] = vaddvq_f32(a3);
    for (; i < n; i++) { out[0] += r0[i] * x[i]; out[1] += r1[i] * x[i]; out[2] += r2[i] * x[i]; out[3] += r3[i] * x[i]; }
}

static void dot4xn_neon(const float *rows, size_t rs, const float *xs, size_t xst, int nt, int n, float *out, size_t ors, size_t ots) {
    for (int t = 0; t < nt; t++) {
        float o[4];
        dot4_neon(rows, rows + rs, rows + 2 * rs, rows + 3 * rs, xs + t * xst, n, o);
        for (int r = 0; r < 4; r++) out[(size_t)r * ors + (size_t)t * ots] = o[r];
    }
}

static void glu_neon(float *g, const float *u, int n, int relu2) {
    int i = 0;
    const float32x4_t zero = vdupq_n_f32(0), one = vdupq_n_f32(1.0f);
    for (; i + 4 <= n; i += 4) {
        float32x4_t x = vld1q_f32(g + i), y;
        if (relu2) {
            float32x4_t r = vmaxq_f32(x, zero);
            y = vmulq_f32(vmulq_f32(r, r), vld1q_f32(u + i));
        } else { /* as glu_avx2: e^-x by the polynomial where -x <= 0, else 1 / e^x */
            float32x4_t nx = vnegq_f32(x);
            float32x4_t e = exp_neg_neon(vminq_f32(nx, zero));
            float32x4_t big = vdivq_f32(one, exp_neg_neon(vminq_f32(x, zero)));
            e = vbslq_f32(vcgtq_f32(nx, zero), big, e);
            y = vmulq_f32(vdivq_f32(x, vaddq_f32(one, e)), vld1q_f32(u + i));
        }
        vst1q_f32(g + i, y);
    }
    glu_scalar(g + i, u + i, n - i, relu2);
}

static void dequant_neon(const int32_t *acc, int n, float xs, float ws, float *y) {
    const float32x4_t a = vdupq_n_f32(xs), b = vdupq_n_f32(ws);
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vdivq_f32(vcvtq_f32_s32(vld1q_s32(acc + i)), a), b));
    dequant_scalar(acc + i, n - i, xs, ws, y + i);
}

static void norm_apply_neon(float *y, const float *x, const float *w, float r, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vmulq_f32(vld1q_f32(w + i), vmulq_n_f32(vld1q_f32(x + i), r)));
    norm_apply_scalar(y + i, x + i, w + i, r, n - i);
}

static void add_neon(float *y, const float *x, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    add_scalar(y + i, x + i, n - i);
}
#endif

/* ---- selection (vec_init) ---- */

static float (*p_dot)(const float *, const float *, int) = dot_scalar;
static void (*p_f16_row)(const uint8_t *, float *, int) = f16_row_scalar;
static void (*p_bf16_row)(const uint8_t *, float *, int) = bf16_row_scalar;
static float (*p_quantize_act)(const float *, int, int8_t *, int32_t *) = quantize_act_scalar;
static double (*p_sumsq)(const float *, int) = sumsq_scalar;
static void (*p_glu)(float *, const float *, int, int) = glu_scalar;
static void (*p_dequant)(const int32_t *, int, float, float, float *) = dequant_scalar;
static void (*p_norm_apply)(float *, const float *, const float *, float, int) = norm_apply_scalar;
static void (*p_add)(float *, const float *, int) = add_scalar;
static void (*p_dot4xn)(const float *, size_t, const float *, size_t, int, int, float *, size_t, size_t) = dot4xn_scalar;

void vec_norm_select(bc_isa isa) {
    p_dot = dot_scalar; p_f16_row = f16_row_scalar; p_bf16_row = bf16_row_scalar; p_quantize_act = quantize_act_scalar; p_sumsq = sumsq_scalar; p_glu = glu_scalar; p_dequant = dequant_scalar; p_norm_apply = norm_apply_scalar; p_add = add_scalar; p_dot4xn = dot4xn_scalar;
#if defined(__x86_64__)
    if (isa >= BC_ISA_AVX2 && isa <= BC_ISA_AVX512) {
        p_dot = dot_avx2; p_f16_row = f16_row_avx2; p_bf16_row = bf16_row_avx2; p_quantize_act = quantize_act_avx2; p_sumsq = sumsq_avx2; p_glu = glu_avx2; p_dequant = dequant_avx2; p_norm_apply = norm_apply_avx2; p_add = add_avx2; p_dot4xn = dot4xn_avx2;
    }
    if (isa == BC_ISA_AVX512) {
        p_dot = dot_avx512; p_f16_row = f16_row_avx512; p_quantize_act = quantize_act_avx512; p_sumsq = sumsq_avx512; p_glu = glu_avx512; p_dequant = dequant_avx512; p_dot4xn = dot4xn_avx512;
    }
#endif
#if defined(__aarch64__)
    if (isa >= BC_ISA_NEON && isa <= BC_ISA_I8MM) {
        p_dot = dot_neon; p_f16_row = f16_row_neon; p_bf16_row = bf16_row_neon; p_quantize_act = quantize_act_neon; p_sumsq = sumsq_neon; p_glu = glu_neon; p_dequant = dequant_neon; p_norm_apply = norm_apply_neon; p_add = add_neon; p_dot4xn = dot4xn_neon;
    }
#endif
    (void)isa;
}

float vec_dot(const float *a, const float *b, int n) { return p_dot(a, b, n); }
void vec_f16_row(const uint8_t *src, float *dst, int n) { p_f16_row(src, dst, n); }
void vec_bf16_row(const uint8_t *src, float *dst, int n) { p_bf16_row(src, dst, n); }
float vec_quantize_act(const float *x, int n, int8_t *q, int32_t *sum) { return p_quantize_act(x, n, q, sum); }
double vec_sumsq(const float *x, int n) { return p_sumsq(x, n); }
void vec_glu(float *g, const float *u, int n, int relu2) { p_glu(g, u, n, relu2); }
void vec_dequant(const int32_t *acc, int n, float xs, float ws, float *y) { p_dequant(acc, n, xs, ws, y); }
void vec_norm_apply(float *y, const float *x, const float *w, float r, int n) { p_norm_apply(y, x, w, r, n); }
void vec_add(float *y, const float *x, int n) { p_add(y, x, n); }
void vec_dot4xn(const float *rows, size_t row_stride, const float *xs, size_t x_stride, int nt, int n, float *out, size_t ors, size_t ots) { p_dot4xn(rows, row_stride, xs, x_stride, nt, n, out, ors, ots); }
