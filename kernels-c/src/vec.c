#include "vec.h"
#include "util.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define RT_X86 1
#define AVX2_FN __attribute__((target("avx2,fma,f16c")))
#define AVX512_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#endif

/* ---- scalar ---------------------------------------------------------------------------------------- */

static float dot_scalar(const float *a, const float *b, int n) {
    float s[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    float t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; i++) t += a[i] * b[i];
    return t;
}

static void axpy_scalar(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void f16_row_scalar(const uint8_t *src, float *dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = rt_f16_to_f32(rt_rd16(src + 2 * i));
}

static void bf16_row_scalar(const uint8_t *src, float *dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = rt_bf16_to_f32(rt_rd16(src + 2 * i));
}

static void dot4_scalar(const float *r0, const float *r1, const float *r2, const float *r3, const float *x, int n, float out[4]) {
    out[0] = dot_scalar(r0, x, n);
    out[1] = dot_scalar(r1, x, n);
    out[2] = dot_scalar(r2, x, n);
    out[3] = dot_scalar(r3, x, n);
}

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

static float quantize_act_scalar(const float *x, int n, int8_t *q, int32_t *sum) {
    float amax = 0;
    for (int i = 0; i < n; i++) {
        float a = fabsf(x[i]);
        amax = a > amax ? a : amax;
    }
    float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
    int32_t acc = 0;
    for (int i = 0; i < n; i++) {
        float r = rintf(x[i] * s); /* half to even in the default rounding mode, like torch.round */
        r = r > 127.0f ? 127.0f : r < -128.0f ? -128.0f : r;
        q[i] = (int8_t)r;
        acc += q[i];
    }
    *sum = acc;
    return s;
}

static double sumsq_scalar(const float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
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

void vec_quantize_q8(const float *x, int n, int8_t *q, float *d) {
    for (int b = 0; b < n / 32; b++) {
        const float *xb = x + 32 * b;
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(xb[i]));
        float dd = amax / 127.0f, id = dd > 0 ? 1.0f / dd : 0.0f;
        d[b] = dd;
        for (int i = 0; i < 32; i++) {
            float v = rintf(xb[i] * id);
            q[32 * b + i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
        }
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

/* ---- Q8_0x16 (vec.h): a Q8_0 matrix in tiles of 16 rows, repacked at load for the VNNI head GEMV -- */

size_t vec_q8_0x16_bytes(int64_t rows, int n) { return (size_t)((rows + 15) / 16) * (size_t)(n / 32) * VEC_Q8X16_BLOCK; }

void vec_repack_q8_0x16(const uint8_t *w, size_t row_bytes, int64_t rows, int n, int64_t t0, int64_t t1, uint8_t *dst) {
    int nb = n / 32;
    for (int64_t t = t0; t < t1; t++) {
        int64_t live = rows - 16 * t < 16 ? rows - 16 * t : 16;
        for (int b = 0; b < nb; b++) {
            uint8_t *o = dst + ((size_t)t * (size_t)nb + (size_t)b) * VEC_Q8X16_BLOCK;
            uint32_t codes[8][16];
            uint16_t scales[16];
            for (int r = 0; r < 16; r++) {
                /* rows past the end: code 0x80 (weight 0) and scale 0 */
                if (r >= live) {
                    for (int g = 0; g < 8; g++) codes[g][r] = 0x80808080u;
                    scales[r] = 0;
                    continue;
                }
                const uint8_t *blk = w + (size_t)(16 * t + r) * row_bytes + 34 * (size_t)b;
                for (int g = 0; g < 8; g++) codes[g][r] = rt_rd32(blk + 2 + 4 * g) ^ 0x80808080u; /* w + 128 */
                scales[r] = rt_rd16(blk);
            }
            memcpy(o, codes, 512);
            memcpy(o + 512, scales, 32);
        }
    }
}

static void gemv_q8_0x16_scalar(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int nt, const int8_t *q,
                                const float *d, float *out, size_t ostride) {
    int nb = n / 32;
    for (int64_t t = t0; t < t1; t++)
        for (int k = 0; k < nt; k++)
            for (int r = 0; r < 16 && 16 * t + r < rows; r++) {
                float s = 0;
                for (int b = 0; b < nb; b++) {
                    const uint8_t *o = p + ((size_t)t * (size_t)nb + (size_t)b) * VEC_Q8X16_BLOCK;
                    const int8_t *x = q + (size_t)k * (size_t)n + 32 * b;
                    int32_t acc = 0;
                    for (int g = 0; g < 8; g++)
                        for (int i = 0; i < 4; i++) acc += (int32_t)(int8_t)(o[64 * g + 4 * r + i] ^ 0x80) * x[4 * g + i];
                    s += (float)acc * (rt_f16_to_f32(rt_rd16(o + 512 + 2 * r)) * d[(size_t)k * (size_t)nb + b]);
                }
                out[(size_t)k * ostride + (size_t)(16 * t + r)] = s;
            }
}

#ifdef RT_X86
/* ---- AVX2 + FMA + F16C ----------------------------------------------------------------------------- */

AVX2_FN static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

AVX2_FN static float dot_avx2(const float *a, const float *b, int n) {
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

AVX2_FN static void axpy_avx2(float *y, float a, const float *x, int n) {
    __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

AVX2_FN static void f16_row_avx2(const uint8_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    for (; i < n; i++) dst[i] = rt_f16_to_f32(rt_rd16(src + 2 * i));
}

AVX2_FN static void bf16_row_avx2(const uint8_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + 2 * i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++) dst[i] = rt_bf16_to_f32(rt_rd16(src + 2 * i));
}

AVX2_FN static void dot4_avx2(const float *r0, const float *r1, const float *r2, const float *r3, const float *x, int n, float out[4]) {
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

#define F16X8(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
/* four streams, one row from each quarter of the range, prefetched a row ahead (see gemv_f16_avx512) */
AVX2_FN static void gemv_f16_avx2(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) {
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

/* Q8_0 x Q8: |w| as unsigned times sign(w)*x as signed (maddubs needs one unsigned operand). */
AVX2_FN static float dot_q8_0_avx2(const uint8_t *row, const int8_t *q, const float *d, int n) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int b = 0; b < n / 32; b++) {
        const uint8_t *blk = row + 34 * b;
        __m256i w = _mm256_loadu_si256((const __m256i *)(blk + 2));
        __m256i x = _mm256_loadu_si256((const __m256i *)(q + 32 * b));
        __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w)), ones);
        float scale = _cvtsh_ss(rt_rd16(blk)) * d[b];
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(scale), acc);
    }
    return hsum256(acc);
}

AVX2_FN static float quantize_act_avx2(const float *x, int n, int8_t *q, int32_t *sum) {
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

AVX2_FN static double sumsq_avx2(const float *x, int n) {
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

/* e^x for x <= 0 (softmax arguments): 2^k * p(r), x = k ln2 + r, |r| <= ln2/2, ln2 split in two
 * parts so k ln2 is exact; degree-6 polynomial; results below 2^-126 flush to 0. Error ~1-2 ulp. */
#define EXP_POLY(T, set1, fmadd, mul, sub, roundps, cvt, slli, add_i, castsi, castps, maxps)                 \
    x = maxps(x, set1(-87.0f));                                                                         \
    T k = roundps(mul(x, set1(1.44269504088896341f)));                                                  \
    T r = sub(sub(x, mul(k, set1(0.693145751953125f))), mul(k, set1(1.428606765330187e-06f)));          \
    T p = set1(1.3981999507e-3f);                                                                       \
    p = fmadd(p, r, set1(8.3334519073e-3f));                                                            \
    p = fmadd(p, r, set1(4.1665795894e-2f));                                                            \
    p = fmadd(p, r, set1(1.6666665459e-1f));                                                            \
    p = fmadd(p, r, set1(5.0000001201e-1f));                                                            \
    p = fmadd(p, mul(r, r), add_ps_(r, set1(1.0f)));                                                    \
    p = castsi(add_i(castps(p), slli(cvt(k), 23)));

AVX2_FN static inline __m256 exp_neg_avx2(__m256 x) {
#define add_ps_ _mm256_add_ps
#define RND8(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
    EXP_POLY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_sub_ps, RND8, _mm256_cvtps_epi32,
             _mm256_slli_epi32, _mm256_add_epi32, _mm256_castsi256_ps, _mm256_castps_si256, _mm256_max_ps)
#undef RND8
#undef add_ps_
    return p;
}

AVX2_FN static void softmax_avx2(float *x, int n) {
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

AVX2_FN static double lse_avx2(const float *x, int n) {
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

AVX2_FN static void dot4xn_avx2(const float *rows, size_t rs, const float *xs, size_t xst, int nt, int n, float *out, size_t ors, size_t ots) {
    for (int t = 0; t < nt; t++) {
        float o[4];
        dot4_avx2(rows, rows + rs, rows + 2 * rs, rows + 3 * rs, xs + t * xst, n, o);
        for (int r = 0; r < 4; r++) out[(size_t)r * ors + (size_t)t * ots] = o[r];
    }
}

AVX2_FN static void scores_t_avx2(const float *q, int G, int hd, const float *kt, size_t ks, int T, float scale, float *sc, size_t ss) {
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

AVX2_FN static void wsum_g_avx2(const float *p, size_t ps, int G, const float *v, size_t vs, int hd, int T, float *out) {
    for (int g = 0; g < G; g++) {
        float *o = out + (size_t)g * hd;
        memset(o, 0, sizeof(float) * (size_t)hd);
        for (int t = 0; t < T; t++) axpy_avx2(o, p[(size_t)g * ps + t], v + (size_t)t * vs, hd);
    }
}

AVX2_FN static void glu_avx2(float *g, const float *u, int n, int relu2) {
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

AVX2_FN static void dequant_avx2(const int32_t *acc, int n, float xs, float ws, float *y) {
    const __m256 a = _mm256_set1_ps(xs), b = _mm256_set1_ps(ws);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_div_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + i))), a), b));
    dequant_scalar(acc + i, n - i, xs, ws, y + i);
}

AVX2_FN static void norm_apply_avx2(float *y, const float *x, const float *w, float r, int n) {
    const __m256 rv = _mm256_set1_ps(r);
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(w + i), _mm256_mul_ps(_mm256_loadu_ps(x + i), rv)));
    norm_apply_scalar(y + i, x + i, w + i, r, n - i);
}
AVX2_FN static void add_avx2(float *y, const float *x, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    add_scalar(y + i, x + i, n - i);
}

/* 3 rows x 32 tokens per pass: 12 accumulators, per k 4 loads + 3 broadcasts for 12 FMAs */
AVX2_FN static void head_block_avx2(const float *rows, int nr, const float *ph, int n, float *out) {
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

/* ---- AVX-512 --------------------------------------------------------------------------------------- */

AVX512_FN static float dot_avx512(const float *a, const float *b, int n) {
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

AVX512_FN static void axpy_avx512(float *y, float a, const float *x, int n) {
    __m512 av = _mm512_set1_ps(a);
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

AVX512_FN static void f16_row_avx512(const uint8_t *src, float *dst, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(src + 2 * i))));
    for (; i < n; i++) dst[i] = rt_f16_to_f32(rt_rd16(src + 2 * i));
}

AVX512_FN static void dot4_avx512(const float *r0, const float *r1, const float *r2, const float *r3, const float *x, int n, float out[4]) {
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

#define F16X16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
/* Four rows at a time, one from each quarter of the range: four sequential streams (one stream of four
 * contiguous rows left a core ~15 % below DRAM speed), each prefetched one row ahead. */
AVX512_FN static void gemv_f16_avx512(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) {
    int q = rows / 4, n16 = n / 16 * 16;
    for (int r = 0; r < q; r++) {
        const uint8_t *p[4];
        for (int j = 0; j < 4; j++) p[j] = w + (size_t)(j * q + r) * row_bytes;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int i = 0; i < n16; i += 16) {
            if ((i & 31) == 0) /* one cache line of each stream per 32 values */
                for (int j = 0; j < 4; j++) _mm_prefetch((const char *)(p[j] + row_bytes + 2 * (size_t)i), _MM_HINT_T0);
            __m512 xv = _mm512_loadu_ps(x + i);
            a0 = _mm512_fmadd_ps(F16X16(p[0] + 2 * i), xv, a0);
            a1 = _mm512_fmadd_ps(F16X16(p[1] + 2 * i), xv, a1);
            a2 = _mm512_fmadd_ps(F16X16(p[2] + 2 * i), xv, a2);
            a3 = _mm512_fmadd_ps(F16X16(p[3] + 2 * i), xv, a3);
        }
        float o[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
        for (int j = 0; j < 4; j++) {
            for (int i = n16; i < n; i++) o[j] += rt_f16_to_f32(rt_rd16(p[j] + 2 * i)) * x[i];
            out[j * q + r] = o[j];
        }
    }
    if (4 * q < rows) gemv_f16_scalar(w + (size_t)(4 * q) * row_bytes, row_bytes, rows - 4 * q, x, n, out + 4 * q);
}

AVX512_FN static float quantize_act_avx512(const float *x, int n, int8_t *q, int32_t *sum) {
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

AVX512_FN static double sumsq_avx512(const float *x, int n) {
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

AVX512_FN static inline __m512 exp_neg_avx512(__m512 x) {
#define add_ps_ _mm512_add_ps
#define RND16(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
    EXP_POLY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_sub_ps, RND16, _mm512_cvtps_epi32,
             _mm512_slli_epi32, _mm512_add_epi32, _mm512_castsi512_ps, _mm512_castps_si512, _mm512_max_ps)
#undef RND16
#undef add_ps_
    return p;
}

AVX512_FN static void softmax_avx512(float *x, int n) {
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

AVX512_FN static double lse_avx512(const float *x, int n) {
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

/* 4 rows x up to 4 vectors: 16 accumulators, 8 loads per 16 FMAs */
AVX512_FN static void dot4xn_avx512(const float *rows, size_t rs, const float *xs, size_t xst, int nt, int n, float *out, size_t ors, size_t ots) {
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

AVX512_FN static void scores_t_avx512(const float *q, int G, int hd, const float *kt, size_t ks, int T, float scale, float *sc, size_t ss) {
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

AVX512_FN static void wsum_g_avx512(const float *p, size_t ps, int G, const float *v, size_t vs, int hd, int T, float *out) {
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

AVX512_FN static void glu_avx512(float *g, const float *u, int n, int relu2) {
    if (!relu2) { glu_avx2(g, u, n, relu2); return; }
    const __m512 zero = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 r = _mm512_max_ps(_mm512_maskz_loadu_ps(k, g + i), zero);
        _mm512_mask_storeu_ps(g + i, k, _mm512_mul_ps(_mm512_mul_ps(r, r), _mm512_maskz_loadu_ps(k, u + i)));
    }
}

AVX512_FN static void dequant_avx512(const int32_t *acc, int n, float xs, float ws, float *y) {
    const __m512 a = _mm512_set1_ps(xs), b = _mm512_set1_ps(ws);
    for (int i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 v = _mm512_cvtepi32_ps(_mm512_maskz_loadu_epi32(k, acc + i));
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_div_ps(v, a), b));
    }
}

/* 12 rows x 32 tokens: 24 accumulators; per k 2 loads + 12 broadcasts feed 24 FMAs */
AVX512_FN static void head_block_avx512(const float *rows, int nr, const float *ph, int n, float *out) {
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
AVX512_FN static float dot_q8_0_avx512(const uint8_t *row, const int8_t *q, const float *d, int n) {
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
#endif

#ifdef RT_X86
/* Two rows x two 32-blocks per step: each 512-bit dpbusd covers 64 values of one row; the weights'
 * signs move onto the activations (dpbusd multiplies unsigned by signed). Four independent chains. */
AVX512_FN static void gemv_q8_0_avx512(const uint8_t *w, size_t row_bytes, int rows, const int8_t *q, const float *d, int n, float *out) {
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

#ifdef RT_X86
/* Q8_0x16 on VNNI: per 32-block, eight dpbusd multiply 16 rows x 4 codes (unsigned, w + 128) by 4
 * activations broadcast to every lane, so each lane ends up with one row's block sum: no horizontal
 * adds, no sign juggling. The +128 is taken back with 128 * (sum of the block's activations), computed
 * once per call. NT tokens share each load of the weights. */
#define Q8X16_PF (4 * VEC_Q8X16_BLOCK)
AVX512_FN static inline __attribute__((always_inline)) void q8x16_tile(const uint8_t *tp, int nb, int n, int NT,
                                                                       const int8_t *q, const float *d, const int32_t *cx, __m512 *f) {
    for (int k = 0; k < NT; k++) f[k] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *bp = tp + (size_t)b * VEC_Q8X16_BLOCK;
        for (int l = 0; l < VEC_Q8X16_BLOCK; l += 64) _mm_prefetch((const char *)(bp + Q8X16_PF + l), _MM_HINT_T0);
        __m512i wv[8];
        for (int g = 0; g < 8; g++) wv[g] = _mm512_loadu_si512((const void *)(bp + 64 * g));
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(bp + 512)));
        for (int k = 0; k < NT; k++) {
            const int8_t *xb = q + (size_t)k * (size_t)n + 32 * b;
            __m512i a0 = _mm512_setzero_si512(), a1 = a0;
            for (int g = 0; g < 8; g += 2) {
                a0 = _mm512_dpbusd_epi32(a0, wv[g], _mm512_set1_epi32((int32_t)rt_rd32((const uint8_t *)xb + 4 * g)));
                a1 = _mm512_dpbusd_epi32(a1, wv[g + 1], _mm512_set1_epi32((int32_t)rt_rd32((const uint8_t *)xb + 4 * g + 4)));
            }
            __m512i i = _mm512_sub_epi32(_mm512_add_epi32(a0, a1), _mm512_set1_epi32(cx[k * nb + b]));
            __m512 sc = _mm512_mul_ps(dw, _mm512_set1_ps(d[(size_t)k * (size_t)nb + b]));
            f[k] = _mm512_add_ps(f[k], _mm512_mul_ps(_mm512_cvtepi32_ps(i), sc));
        }
    }
}

AVX512_FN static void q8x16_tiles(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int NT, const int8_t *q,
                                  const float *d, const int32_t *cx, float *out, size_t ostride) {
    int nb = n / 32;
    for (int64_t t = t0; t < t1; t++) {
        __m512 f[4];
        const uint8_t *tp = p + (size_t)t * (size_t)nb * VEC_Q8X16_BLOCK;
        switch (NT) { /* constant trip counts: the accumulators stay in registers */
        case 1: q8x16_tile(tp, nb, n, 1, q, d, cx, f); break;
        case 2: q8x16_tile(tp, nb, n, 2, q, d, cx, f); break;
        case 3: q8x16_tile(tp, nb, n, 3, q, d, cx, f); break;
        default: q8x16_tile(tp, nb, n, 4, q, d, cx, f); break;
        }
        int64_t left = rows - 16 * t;
        __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        for (int k = 0; k < NT; k++) _mm512_mask_storeu_ps(out + (size_t)k * ostride + (size_t)(16 * t), m, f[k]);
    }
}

AVX512_FN static void gemv_q8_0x16_avx512(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int nt,
                                          const int8_t *q, const float *d, float *out, size_t ostride) {
    int nb = n / 32;
    int32_t cx[4 * VEC_Q8X16_MAX_N / 32];
    for (int k0 = 0; k0 < nt; k0 += 4) {
        int NT = nt - k0 < 4 ? nt - k0 : 4;
        const int8_t *qk = q + (size_t)k0 * (size_t)n;
        for (int k = 0; k < NT; k++)
            for (int b = 0; b < nb; b++) {
                int32_t s = 0;
                for (int i = 0; i < 32; i++) s += qk[(size_t)k * (size_t)n + 32 * b + i];
                cx[k * nb + b] = 128 * s;
            }
        q8x16_tiles(p, t0, t1, rows, n, NT, qk, d + (size_t)k0 * (size_t)nb, cx, out + (size_t)k0 * ostride, ostride);
    }
}
#endif

static void gemv_q8_0_generic(const uint8_t *w, size_t row_bytes, int rows, const int8_t *q, const float *d, int n, float *out);

/* ---- dispatch -------------------------------------------------------------------------------------- */

static float (*p_dot)(const float *, const float *, int) = dot_scalar;
static void (*p_axpy)(float *, float, const float *, int) = axpy_scalar;
static void (*p_f16_row)(const uint8_t *, float *, int) = f16_row_scalar;
static void (*p_bf16_row)(const uint8_t *, float *, int) = bf16_row_scalar;
static void (*p_dot4)(const float *, const float *, const float *, const float *, const float *, int, float *) = dot4_scalar;
static void (*p_gemv_f16)(const uint8_t *, size_t, int, const float *, int, float *) = gemv_f16_scalar;
static float (*p_dot_q8_0)(const uint8_t *, const int8_t *, const float *, int) = dot_q8_0_scalar;
static void (*p_gemv_q8_0)(const uint8_t *, size_t, int, const int8_t *, const float *, int, float *) = gemv_q8_0_generic;
typedef void (*gemv_q8_0x16_fn)(const uint8_t *, int64_t, int64_t, int64_t, int, int, const int8_t *, const float *, float *, size_t);
static gemv_q8_0x16_fn p_gemv_q8_0x16 = NULL;
static float (*p_quantize_act)(const float *, int, int8_t *, int32_t *) = quantize_act_scalar;
static double (*p_sumsq)(const float *, int) = sumsq_scalar;
static void (*p_scores_t)(const float *, int, int, const float *, size_t, int, float, float *, size_t) = scores_t_scalar;
static void (*p_wsum_g)(const float *, size_t, int, const float *, size_t, int, int, float *) = wsum_g_scalar;
static void (*p_glu)(float *, const float *, int, int) = glu_scalar;
static void (*p_head_block)(const float *, int, const float *, int, float *) = head_block_scalar;
static void (*p_norm_apply)(float *, const float *, const float *, float, int) = norm_apply_scalar;
static void (*p_add)(float *, const float *, int) = add_scalar;
static void (*p_dequant)(const int32_t *, int, float, float, float *) = dequant_scalar;
static void (*p_softmax)(float *, int) = softmax_scalar;
static double (*p_lse)(const float *, int) = lse_scalar;
static void (*p_dot4xn)(const float *, size_t, const float *, size_t, int, int, float *, size_t, size_t) = dot4xn_scalar;

bc_isa vec_init(bc_isa isa) {
    p_dot = dot_scalar; p_axpy = axpy_scalar; p_f16_row = f16_row_scalar; p_bf16_row = bf16_row_scalar;
    p_dot4 = dot4_scalar; p_gemv_f16 = gemv_f16_scalar; p_dot_q8_0 = dot_q8_0_scalar;
    p_quantize_act = quantize_act_scalar; p_sumsq = sumsq_scalar; p_scores_t = scores_t_scalar; p_wsum_g = wsum_g_scalar; p_glu = glu_scalar; p_dequant = dequant_scalar; p_head_block = head_block_scalar; p_norm_apply = norm_apply_scalar; p_add = add_scalar;
    p_softmax = softmax_scalar; p_lse = lse_scalar; p_dot4xn = dot4xn_scalar; p_gemv_q8_0 = gemv_q8_0_generic;
    p_gemv_q8_0x16 = NULL;
#ifdef RT_X86
    __builtin_cpu_init();
    int has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    int has_512 = has_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
    if (isa >= BC_ISA_AVX2 && has_avx2) {
        p_dot = dot_avx2; p_axpy = axpy_avx2; p_f16_row = f16_row_avx2; p_bf16_row = bf16_row_avx2;
        p_dot4 = dot4_avx2; p_gemv_f16 = gemv_f16_avx2; p_dot_q8_0 = dot_q8_0_avx2;
        p_quantize_act = quantize_act_avx2; p_sumsq = sumsq_avx2; p_scores_t = scores_t_avx2; p_wsum_g = wsum_g_avx2; p_glu = glu_avx2; p_dequant = dequant_avx2; p_head_block = head_block_avx2; p_norm_apply = norm_apply_avx2; p_add = add_avx2;
        p_softmax = softmax_avx2; p_lse = lse_avx2; p_dot4xn = dot4xn_avx2;
        if (isa >= BC_ISA_AVX512 && has_512) {
            p_dot = dot_avx512; p_axpy = axpy_avx512; p_f16_row = f16_row_avx512;
            p_dot4 = dot4_avx512; p_gemv_f16 = gemv_f16_avx512; p_dot_q8_0 = dot_q8_0_avx512;
            p_quantize_act = quantize_act_avx512; p_sumsq = sumsq_avx512; p_scores_t = scores_t_avx512; p_wsum_g = wsum_g_avx512; p_glu = glu_avx512; p_dequant = dequant_avx512; p_head_block = head_block_avx512;
            p_softmax = softmax_avx512; p_lse = lse_avx512; p_dot4xn = dot4xn_avx512; p_gemv_q8_0 = gemv_q8_0_avx512;
            p_gemv_q8_0x16 = gemv_q8_0x16_avx512;
            return BC_ISA_AVX512;
        }
        return BC_ISA_AVX2;
    }
#endif
    (void)isa;
    return BC_ISA_SCALAR;
}

float vec_dot(const float *a, const float *b, int n) { return p_dot(a, b, n); }
void vec_axpy(float *y, float a, const float *x, int n) { p_axpy(y, a, x, n); }
void vec_f16_row(const uint8_t *src, float *dst, int n) { p_f16_row(src, dst, n); }
void vec_bf16_row(const uint8_t *src, float *dst, int n) { p_bf16_row(src, dst, n); }
void vec_dot4(const float *r0, const float *r1, const float *r2, const float *r3, const float *x, int n, float out[4]) {
    p_dot4(r0, r1, r2, r3, x, n, out);
}
void vec_gemv_f16(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) {
    p_gemv_f16(w, row_bytes, rows, x, n, out);
}
float vec_dot_q8_0(const uint8_t *row, const int8_t *q, const float *d, int n) { return p_dot_q8_0(row, q, d, n); }
float vec_quantize_act(const float *x, int n, int8_t *q, int32_t *sum) { return p_quantize_act(x, n, q, sum); }
double vec_sumsq(const float *x, int n) { return p_sumsq(x, n); }
void vec_scores_t(const float *q, int G, int hd, const float *kt, size_t kt_stride, int T, float scale, float *scores, size_t sc_stride) {
    p_scores_t(q, G, hd, kt, kt_stride, T, scale, scores, sc_stride);
}
void vec_weighted_sum_g(const float *p, size_t p_stride, int G, const float *v, size_t v_stride, int hd, int T, float *out) {
    p_wsum_g(p, p_stride, G, v, v_stride, hd, T, out);
}
void vec_softmax(float *x, int n) { p_softmax(x, n); }
double vec_log_sum_exp(const float *x, int n) { return p_lse(x, n); }
void vec_dot4xn(const float *rows, size_t row_stride, const float *xs, size_t x_stride, int nt, int n, float *out, size_t ors, size_t ots) {
    p_dot4xn(rows, row_stride, xs, x_stride, nt, n, out, ors, ots);
}
static void gemv_q8_0_generic(const uint8_t *w, size_t row_bytes, int rows, const int8_t *q, const float *d, int n, float *out) {
    for (int r = 0; r < rows; r++) out[r] = p_dot_q8_0(w + (size_t)r * row_bytes, q, d, n);
}
int vec_has_q8_0x16(void) { return p_gemv_q8_0x16 != NULL; }
void vec_gemv_q8_0x16(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int nt, const int8_t *q, const float *d,
                      float *out, size_t ostride) {
    (p_gemv_q8_0x16 ? p_gemv_q8_0x16 : gemv_q8_0x16_scalar)(p, t0, t1, rows, n, nt, q, d, out, ostride);
}
void vec_gemv_q8_0x16_reference(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int nt, const int8_t *q,
                                const float *d, float *out, size_t ostride) {
    gemv_q8_0x16_scalar(p, t0, t1, rows, n, nt, q, d, out, ostride);
}
void vec_gemv_q8_0(const uint8_t *w, size_t row_bytes, int rows, const int8_t *q, const float *d, int n, float *out) {
    p_gemv_q8_0(w, row_bytes, rows, q, d, n, out);
}
void vec_glu(float *g, const float *u, int n, int relu2) { p_glu(g, u, n, relu2); }
void vec_dequant(const int32_t *acc, int n, float xs, float ws, float *y) { p_dequant(acc, n, xs, ws, y); }
void vec_norm_apply(float *y, const float *x, const float *w, float r, int n) { p_norm_apply(y, x, w, r, n); }
void vec_add(float *y, const float *x, int n) { p_add(y, x, n); }
void vec_head_block(const float *rows, int nr, const float *ph, int n, float *out) { p_head_block(rows, nr, ph, n, out); }
