#include "vec.h"
#include "util.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define RT_X86 1
#define AVX2_FN __attribute__((target("avx2,fma,f16c")))
#define AVX512_FN __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
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
AVX2_FN static void gemv_f16_avx2(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint8_t *p0 = w + (size_t)r * row_bytes, *p1 = p0 + row_bytes, *p2 = p1 + row_bytes, *p3 = p2 + row_bytes;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 xv = _mm256_loadu_ps(x + i);
            a0 = _mm256_fmadd_ps(F16X8(p0 + 2 * i), xv, a0);
            a1 = _mm256_fmadd_ps(F16X8(p1 + 2 * i), xv, a1);
            a2 = _mm256_fmadd_ps(F16X8(p2 + 2 * i), xv, a2);
            a3 = _mm256_fmadd_ps(F16X8(p3 + 2 * i), xv, a3);
        }
        float o[4] = {hsum256(a0), hsum256(a1), hsum256(a2), hsum256(a3)};
        for (; i < n; i++) {
            o[0] += rt_f16_to_f32(rt_rd16(p0 + 2 * i)) * x[i];
            o[1] += rt_f16_to_f32(rt_rd16(p1 + 2 * i)) * x[i];
            o[2] += rt_f16_to_f32(rt_rd16(p2 + 2 * i)) * x[i];
            o[3] += rt_f16_to_f32(rt_rd16(p3 + 2 * i)) * x[i];
        }
        memcpy(out + r, o, sizeof o);
    }
    if (r < rows) gemv_f16_scalar(w + (size_t)r * row_bytes, row_bytes, rows - r, x, n, out + r);
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
AVX512_FN static void gemv_f16_avx512(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint8_t *p0 = w + (size_t)r * row_bytes, *p1 = p0 + row_bytes, *p2 = p1 + row_bytes, *p3 = p2 + row_bytes;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (; i + 16 <= n; i += 16) {
            __m512 xv = _mm512_loadu_ps(x + i);
            a0 = _mm512_fmadd_ps(F16X16(p0 + 2 * i), xv, a0);
            a1 = _mm512_fmadd_ps(F16X16(p1 + 2 * i), xv, a1);
            a2 = _mm512_fmadd_ps(F16X16(p2 + 2 * i), xv, a2);
            a3 = _mm512_fmadd_ps(F16X16(p3 + 2 * i), xv, a3);
        }
        float o[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
        for (; i < n; i++) {
            o[0] += rt_f16_to_f32(rt_rd16(p0 + 2 * i)) * x[i];
            o[1] += rt_f16_to_f32(rt_rd16(p1 + 2 * i)) * x[i];
            o[2] += rt_f16_to_f32(rt_rd16(p2 + 2 * i)) * x[i];
            o[3] += rt_f16_to_f32(rt_rd16(p3 + 2 * i)) * x[i];
        }
        memcpy(out + r, o, sizeof o);
    }
    if (r < rows) gemv_f16_scalar(w + (size_t)r * row_bytes, row_bytes, rows - r, x, n, out + r);
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

/* ---- dispatch -------------------------------------------------------------------------------------- */

static float (*p_dot)(const float *, const float *, int) = dot_scalar;
static void (*p_axpy)(float *, float, const float *, int) = axpy_scalar;
static void (*p_f16_row)(const uint8_t *, float *, int) = f16_row_scalar;
static void (*p_bf16_row)(const uint8_t *, float *, int) = bf16_row_scalar;
static void (*p_dot4)(const float *, const float *, const float *, const float *, const float *, int, float *) = dot4_scalar;
static void (*p_gemv_f16)(const uint8_t *, size_t, int, const float *, int, float *) = gemv_f16_scalar;
static float (*p_dot_q8_0)(const uint8_t *, const int8_t *, const float *, int) = dot_q8_0_scalar;

bc_isa vec_init(bc_isa isa) {
    p_dot = dot_scalar; p_axpy = axpy_scalar; p_f16_row = f16_row_scalar; p_bf16_row = bf16_row_scalar;
    p_dot4 = dot4_scalar; p_gemv_f16 = gemv_f16_scalar; p_dot_q8_0 = dot_q8_0_scalar;
#ifdef RT_X86
    __builtin_cpu_init();
    int has_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    int has_512 = has_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    if (isa >= BC_ISA_AVX2 && has_avx2) {
        p_dot = dot_avx2; p_axpy = axpy_avx2; p_f16_row = f16_row_avx2; p_bf16_row = bf16_row_avx2;
        p_dot4 = dot4_avx2; p_gemv_f16 = gemv_f16_avx2; p_dot_q8_0 = dot_q8_0_avx2;
        if (isa >= BC_ISA_AVX512 && has_512) {
            p_dot = dot_avx512; p_axpy = axpy_avx512; p_f16_row = f16_row_avx512;
            p_dot4 = dot4_avx512; p_gemv_f16 = gemv_f16_avx512; p_dot_q8_0 = dot_q8_0_avx512;
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
