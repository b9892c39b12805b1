/* Inline helpers shared by the vec_*.c files: horizontal sums (x86) and e^x for x <= 0 (x86, NEON). */
#ifndef BITCONV_VEC_SIMD_H
#define BITCONV_VEC_SIMD_H
#include "target.h"

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

#if defined(__x86_64__)
#include <immintrin.h>

BC_TARGET_AVX2 static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

BC_TARGET_AVX2 static inline __m256 exp_neg_avx2(__m256 x) {
#define add_ps_ _mm256_add_ps
#define RND8(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
    EXP_POLY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_sub_ps, RND8, _mm256_cvtps_epi32,
             _mm256_slli_epi32, _mm256_add_epi32, _mm256_castsi256_ps, _mm256_castps_si256, _mm256_max_ps)
#undef RND8
#undef add_ps_
    return p;
}

BC_TARGET_AVX512 static inline __m512 exp_neg_avx512(__m512 x) {
#define add_ps_ _mm512_add_ps
#define RND16(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
    EXP_POLY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_sub_ps, RND16, _mm512_cvtps_epi32,
             _mm512_slli_epi32, _mm512_add_epi32, _mm512_castsi512_ps, _mm512_castps_si512, _mm512_max_ps)
#undef RND16
#undef add_ps_
    return p;
}

#endif

#if defined(__aarch64__)
static inline float32x4_t fma_neon_(float32x4_t a, float32x4_t b, float32x4_t c) { return vfmaq_f32(c, a, b); }
static inline float32x4_t exp_neg_neon(float32x4_t x) {
#define add_ps_ vaddq_f32
    EXP_POLY(float32x4_t, vdupq_n_f32, fma_neon_, vmulq_f32, vsubq_f32, vrndnq_f32, vcvtq_s32_f32, vshlq_n_s32,
             vaddq_s32, vreinterpretq_f32_s32, vreinterpretq_s32_f32, vmaxq_f32)
#undef add_ps_
    return p;
}
#endif
#endif
