/* Attention of the decode and prefill paths: scores against transposed keys, the weighted sum of
 * values, softmax and log-sum-exp (perplexity). A scalar reference, then AVX2, AVX-512 and NEON versions. */
#include "vec.h"
#include "vec_simd.h"
#include "util.h"
#include <math.h>
#include <string.h>

static void axpy_scalar(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void scores_t_scalar(const float *q, int G, int hd, const float *kt, size_t ks, int T, float scale, float *sc, size_t ss) {
    for (int g = 0; g < G; g++) {
        float *o = sc + (size_t)g * ss;
        for (int t = 0; t < T; t++) o[t] = 0;
        for (int d = 0; d < hd; d++) {
            float qd = q[g * hd + d];
            const float *row = kt + (size_t)d * ks;
            for (int t = 0; t < T; t++) o[t] += qd * row[t];
        }
        for (int t = 0; t < T; t++) o[t] *= scale;
    }
}

static void wsum_g_scalar(const float *p, size_t ps, int G, const float *v, size_t vs, int hd, int T, float *out) {
    for (int g = 0; g < G; g++) {
        float *o = out + (size_t)g * hd;
        memset(o, 0, sizeof(float) * (size_t)hd);
        for (int t = 0; t < T; t++) axpy_scalar(o, p[(size_t)g * ps + t], v + (size_t)t * vs, hd);
    }
}

static void softmax_scalar(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0;
    for (int i = 0; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    for (int i = 0; i < n; i++) x[i] /= sum;
}

static double lse_scalar(const float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += expf(x[i] - mx);
    return log(sum) + mx;
}

#if defined(__x86_64__)
BC_TARGET_AVX2 static void axpy_avx2(float *y, float a, const float *x, int n) {
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

BC_TARGET_AVX2 static void softmax_avx2(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    __m256 m = _mm256_set1_ps(mx), sv = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_neg_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        sv = _mm256_add_ps(sv, e);
    }
    float sum = hsum256(sv);
    for (; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    __m256 inv = _mm256_set1_ps(sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_div_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] /= sum;
}

BC_TARGET_AVX2 static double lse_avx2(const float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    __m256 m = _mm256_set1_ps(mx);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp_neg_avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double t[4];
    _mm256_storeu_pd(t, _mm256_add_pd(s0, s1));
    double sum = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < n; i++) sum += expf(x[i] - mx);
    return log(sum) + mx;
}

BC_TARGET_AVX2 static void scores_t_avx2(const float *q, int G, int hd, const float *kt, size_t ks, int T, float scale, float *sc, size_t ss) {
    int t = 0;
    for (; t + 16 <= T; t += 16) {
        for (int g = 0; g < G; g++) {
            __m256 a0 = _mm256_setzero_ps(), a1 = a0;
            const float *qg = q + g * hd;
            for (int d = 0; d < hd; d++) {
                __m256 qd = _mm256_set1_ps(qg[d]);
                a0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kt + (size_t)d * ks + t), a0);
                a1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kt + (size_t)d * ks + t + 8), a1);
            }
            _mm256_storeu_ps(sc + (size_t)g * ss + t, _mm256_mul_ps(a0, _mm256_set1_ps(scale)));
            _mm256_storeu_ps(sc + (size_t)g * ss + t + 8, _mm256_mul_ps(a1, _mm256_set1_ps(scale)));
        }
    }
    if (t < T) {
        for (int g = 0; g < G; g++) {
            float *o = sc + (size_t)g * ss;
            for (int u = t; u < T; u++) {
                float acc = 0;
                for (int d = 0; d < hd; d++) acc += q[g * hd + d] * kt[(size_t)d * ks + u];
                o[u] = acc * scale;
            }
        }
    }
}

BC_TARGET_AVX2 static void wsum_g_avx2(const float *p, size_t ps, int G, const float *v, size_t vs, int hd, int T, float *out) {
    for (int g = 0; g < G; g++) {
        float *o = out + (size_t)g * hd;
        memset(o, 0, sizeof(float) * (size_t)hd);
        for (int t = 0; t < T; t++) axpy_avx2(o, p[(size_t)g * ps + t], v + (size_t)t * vs, hd);
    }
}

BC_TARGET_AVX512 static void axpy_avx512(float *y, float a, const float *x, int n) {
    __m512 av = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

BC_TARGET_AVX512 static void softmax_avx512(float *x, int n) {
    __m512 mv = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(x + i));
    float mx = _mm512_reduce_max_ps(mv);
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    __m512 m = _mm512_set1_ps(mx), sv = _mm512_setzero_ps();
    for (i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 e = exp_neg_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), m));
        e = _mm512_maskz_mov_ps(k, e);
        _mm512_mask_storeu_ps(x + i, k, e);
        sv = _mm512_add_ps(sv, e);
    }
    __m512 sum = _mm512_set1_ps(_mm512_reduce_add_ps(sv));
    for (i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(x + i, k, _mm512_div_ps(_mm512_maskz_loadu_ps(k, x + i), sum));
    }
}

BC_TARGET_AVX512 static double lse_avx512(const float *x, int n) {
    __m512 mv = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(x + i));
    float mx = _mm512_reduce_max_ps(mv);
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    __m512 m = _mm512_set1_ps(mx);
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp_neg_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    for (; i < n; i++) sum += expf(x[i] - mx);
    return log(sum) + mx;
}

/* Scores of heads g0..g0+NG-1 over 64 positions from t: NG x 4 accumulators kept in registers; per key
 * dimension 4 loads and NG broadcasts feed 4 NG FMAs. */
#define SCORES_BLOCK(NG)                                                                                  \
    do {                                                                                                  \
        __m512 acc[NG][4];                                                                                \
        _Pragma("GCC unroll 4") for (int g = 0; g < NG; g++)                                                                      \
            _Pragma("GCC unroll 4") for (int b = 0; b < 4; b++) acc[g][b] = _mm512_setzero_ps();                                  \
        for (int d = 0; d < hd; d++) {                                                                    \
            const float *row = kt + (size_t)d * ks + t;                                                   \
            __m512 k0 = _mm512_maskz_loadu_ps(m0, row), k1 = _mm512_maskz_loadu_ps(m1, row + 16);         \
            __m512 k2 = _mm512_maskz_loadu_ps(m2, row + 32), k3 = _mm512_maskz_loadu_ps(m3, row + 48);    \
            _Pragma("GCC unroll 4") for (int g = 0; g < NG; g++) {                                                                \
                __m512 qd = _mm512_set1_ps(q[(g0 + g) * hd + d]);                                         \
                acc[g][0] = _mm512_fmadd_ps(qd, k0, acc[g][0]);                                           \
                acc[g][1] = _mm512_fmadd_ps(qd, k1, acc[g][1]);                                           \
                acc[g][2] = _mm512_fmadd_ps(qd, k2, acc[g][2]);                                           \
                acc[g][3] = _mm512_fmadd_ps(qd, k3, acc[g][3]);                                           \
            }                                                                                             \
        }                                                                                                 \
        _Pragma("GCC unroll 4") for (int g = 0; g < NG; g++) {                                                                    \
            float *o = sc + (size_t)(g0 + g) * ss + t;                                                    \
            _mm512_mask_storeu_ps(o, m0, _mm512_mul_ps(acc[g][0], sv));                                   \
            _mm512_mask_storeu_ps(o + 16, m1, _mm512_mul_ps(acc[g][1], sv));                              \
            _mm512_mask_storeu_ps(o + 32, m2, _mm512_mul_ps(acc[g][2], sv));                              \
            _mm512_mask_storeu_ps(o + 48, m3, _mm512_mul_ps(acc[g][3], sv));                              \
        }                                                                                                 \
    } while (0)

static inline __mmask16 tail_mask(int left) { return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1); }

BC_TARGET_AVX512 static void scores_t_avx512(const float *q, int G, int hd, const float *kt, size_t ks, int T, float scale, float *sc, size_t ss) {
    const __m512 sv = _mm512_set1_ps(scale);
    for (int t = 0; t < T; t += 64) {
        __mmask16 m0 = tail_mask(T - t), m1 = tail_mask(T - t - 16), m2 = tail_mask(T - t - 32), m3 = tail_mask(T - t - 48);
        int g0 = 0;
        for (; g0 + 4 <= G; g0 += 4) SCORES_BLOCK(4);
        for (; g0 + 2 <= G; g0 += 2) SCORES_BLOCK(2);
        for (; g0 < G; g0++) SCORES_BLOCK(1);
    }
}

/* Two heads at a time with NV vectors of the value row in registers: per position NV loads feed 2 NV FMAs. */
#define WSUM_PAIR(NV)                                                                                      \
    do {                                                                                                   \
        __m512 a[NV], b[NV];                                                                               \
        _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++) a[j] = b[j] = _mm512_setzero_ps();                                    \
        for (int t = 0; t < T; t++) {                                                                      \
            const float *vt = v + (size_t)t * vs;                                                          \
            __m512 w0 = _mm512_set1_ps(p0[t]), w1 = _mm512_set1_ps(p1[t]);                                 \
            _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++) {                                                                 \
                __m512 x = _mm512_loadu_ps(vt + 16 * j);                                                   \
                a[j] = _mm512_fmadd_ps(w0, x, a[j]);                                                       \
                b[j] = _mm512_fmadd_ps(w1, x, b[j]);                                                       \
            }                                                                                              \
        }                                                                                                  \
        _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++) {                                                                     \
            _mm512_storeu_ps(out + (size_t)g * hd + 16 * j, a[j]);                                         \
            if (two) _mm512_storeu_ps(out + (size_t)(g + 1) * hd + 16 * j, b[j]);                          \
        }                                                                                                  \
    } while (0)

BC_TARGET_AVX512 static void wsum_g_avx512(const float *p, size_t ps, int G, const float *v, size_t vs, int hd, int T, float *out) {
    if (hd != 128 && hd != 64 && hd != 32) {
        for (int g = 0; g < G; g++) {
            float *o = out + (size_t)g * hd;
            memset(o, 0, sizeof(float) * (size_t)hd);
            for (int t = 0; t < T; t++) axpy_avx512(o, p[(size_t)g * ps + t], v + (size_t)t * vs, hd);
        }
        return;
    }
    for (int g = 0; g < G; g += 2) {
        int two = g + 1 < G;
        const float *p0 = p + (size_t)g * ps, *p1 = p0 + (two ? ps : 0);
        if (hd == 128) WSUM_PAIR(8);
        else if (hd == 64) WSUM_PAIR(4);
        else WSUM_PAIR(2);
    }
}

#endif

#if defined(__aarch64__)
/* ---- NEON (ARMv8.0): the AVX2 versions with 4-lane vectors ---- */
static void axpy_neon(float *y, float a, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
        vst1q_f32(y + i + 4, vfmaq_n_f32(vld1q_f32(y + i + 4), vld1q_f32(x + i + 4), a));
    }
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vfmaq_n_f32(vld1q_f32(y + i), vld1q_f32(x + i), a));
    for (; i < n; i++) y[i] += a * x[i];
}

static float max_neon(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(x[0]);
    int i = 0;
    for (; i + 4 <= n; i += 4) m = vmaxq_f32(m, vld1q_f32(x + i));
    float mx = vmaxvq_f32(m);
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    return mx;
}

static void softmax_neon(float *x, int n) {
    float mx = max_neon(x, n);
    float32x4_t m = vdupq_n_f32(mx), sv = vdupq_n_f32(0);
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp_neg_neon(vsubq_f32(vld1q_f32(x + i), m));
        vst1q_f32(x + i, e);
        sv = vaddq_f32(sv, e);
    }
    float sum = vaddvq_f32(sv);
    for (; i < n; i++) { x[i] = expf(x[i] - mx); sum += x[i]; }
    float32x4_t inv = vdupq_n_f32(sum);
    for (i = 0; i + 4 <= n; i += 4) vst1q_f32(x + i, vdivq_f32(vld1q_f32(x + i), inv));
    for (; i < n; i++) x[i] /= sum;
}

static double lse_neon(const float *x, int n) {
    float mx = max_neon(x, n);
    float32x4_t m = vdupq_n_f32(mx);
    float64x2_t s0 = vdupq_n_f64(0), s1 = s0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t e = exp_neg_neon(vsubq_f32(vld1q_f32(x + i), m));
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
    }
    double sum = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++) sum += expf(x[i] - mx);
    return log(sum) + mx;
}

/* 16 positions per pass, one query dimension broadcast against 16 keys: four FMLA chains, no horizontal sums */
static void scores_t_neon(const float *q, int G, int hd, const float *kt, size_t ks, int T, float scale, float *sc, size_t ss) {
    int t = 0;
    for (; t + 16 <= T; t += 16)
        for (int g = 0; g < G; g++) {
            float32x4_t a0 = vdupq_n_f32(0), a1 = a0, a2 = a0, a3 = a0;
            const float *qg = q + g * hd;
            for (int d = 0; d < hd; d++) {
                const float *k = kt + (size_t)d * ks + t;
                a0 = vfmaq_n_f32(a0, vld1q_f32(k), qg[d]);
                a1 = vfmaq_n_f32(a1, vld1q_f32(k + 4), qg[d]);
                a2 = vfmaq_n_f32(a2, vld1q_f32(k + 8), qg[d]);
                a3 = vfmaq_n_f32(a3, vld1q_f32(k + 12), qg[d]);
            }
            float *o = sc + (size_t)g * ss + t;
            vst1q_f32(o, vmulq_n_f32(a0, scale));
            vst1q_f32(o + 4, vmulq_n_f32(a1, scale));
            vst1q_f32(o + 8, vmulq_n_f32(a2, scale));
            vst1q_f32(o + 12, vmulq_n_f32(a3, scale));
        }
    for (int g = 0; g < G && t < T; g++)
        for (int u = t; u < T; u++) {
            float acc = 0;
            for (int d = 0; d < hd; d++) acc += q[g * hd + d] * kt[(size_t)d * ks + u];
            sc[(size_t)g * ss + u] = acc * scale;
        }
}

static void wsum_g_neon(const float *p, size_t ps, int G, const float *v, size_t vs, int hd, int T, float *out) {
    for (int g = 0; g < G; g++) {
        float *o = out + (size_t)g * hd;
        memset(o, 0, sizeof(float) * (size_t)hd);
        for (int t = 0; t < T; t++) axpy_neon(o, p[(size_t)g * ps + t], v + (size_t)t * vs, hd);
    }
}
#endif

/* ---- selection (vec_init) ---- */

static void (*p_scores_t)(const float *, int, int, const float *, size_t, int, float, float *, size_t) = scores_t_scalar;
static void (*p_wsum_g)(const float *, size_t, int, const float *, size_t, int, int, float *) = wsum_g_scalar;
static void (*p_softmax)(float *, int) = softmax_scalar;
static double (*p_lse)(const float *, int) = lse_scalar;

void vec_attention_select(bc_isa isa) {
    p_scores_t = scores_t_scalar; p_wsum_g = wsum_g_scalar; p_softmax = softmax_scalar; p_lse = lse_scalar;
#if defined(__x86_64__)
    if (isa >= BC_ISA_AVX2 && isa <= BC_ISA_AVX512) {
        p_scores_t = scores_t_avx2; p_wsum_g = wsum_g_avx2; p_softmax = softmax_avx2; p_lse = lse_avx2;
    }
    if (isa == BC_ISA_AVX512) {
        p_scores_t = scores_t_avx512; p_wsum_g = wsum_g_avx512; p_softmax = softmax_avx512; p_lse = lse_avx512;
    }
#endif
#if defined(__aarch64__)
    if (isa >= BC_ISA_NEON && isa <= BC_ISA_I8MM) {
        p_scores_t = scores_t_neon; p_wsum_g = wsum_g_neon; p_softmax = softmax_neon; p_lse = lse_neon;
    }
#endif
    (void)isa;
}

void vec_scores_t(const float *q, int G, int hd, const float *kt, size_t kt_stride, int T, float scale, float *scores, size_t sc_stride) { p_scores_t(q, G, hd, kt, kt_stride, T, scale, scores, sc_stride); }
void vec_weighted_sum_g(const float *p, size_t p_stride, int G, const float *v, size_t v_stride, int hd, int T, float *out) { p_wsum_g(p, p_stride, G, v, v_stride, hd, T, out); }
void vec_softmax(float *x, int n) { p_softmax(x, n); }
double vec_log_sum_exp(const float *x, int n) { return p_lse(x, n); }
