/* Q8_0 activations and the Q8_0x16 repack of a Q8_0 output head (layout: vec.h), with its decode GEMV:
 * the scalar reference, then the AVX-512 VNNI and aarch64 dotprod kernels. */
#include "vec.h"
#include "vec_simd.h"
#include "util.h"
#include <math.h>
#include <string.h>

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

#if defined(__x86_64__)
/* Q8_0x16 on VNNI: per 32-block, eight dpbusd multiply 16 rows x 4 codes (unsigned, w + 128) by 4
 * activations broadcast to every lane, so each lane ends up with one row's block sum: no horizontal
 * adds, no sign juggling. The +128 is taken back with 128 * (sum of the block's activations), computed
 * once per call. NT tokens share each load of the weights. */
#define Q8X16_PF (4 * VEC_Q8X16_BLOCK)
BC_TARGET_AVX512 static inline __attribute__((always_inline)) void q8x16_tile(const uint8_t *tp, int nb, int n, int NT,
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

BC_TARGET_AVX512 static void q8x16_tiles(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int NT, const int8_t *q,
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

BC_TARGET_AVX512 static void gemv_q8_0x16_avx512(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int nt,
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
#if defined(__aarch64__)
/* Q8_0x16 on dotprod (SDOT): a 16-byte load of group g is 4 rows x 4 columns, so SDOT against the
 * group's 4 activations broadcast leaves one row's partial sum in each lane, as dpbusd does on x86: no
 * horizontal adds. SDOT is signed x signed: one EOR per 16 bytes takes the stored w ^ 0x80 back to w,
 * shared by the NT tokens of the pass (weights loaded once for all of them). */
#define Q8X16_PF (4 * VEC_Q8X16_BLOCK)
BC_TARGET_DOTPROD static inline __attribute__((always_inline)) void q8x16_tile_dotprod(const uint8_t *tp, int nb, int n, int NT,
                                                                                 const int8_t *q, const float *d, float32x4_t f[4][4]) {
    const uint8x16_t flip = vdupq_n_u8(0x80);
    for (int k = 0; k < NT; k++)
        for (int j = 0; j < 4; j++) f[k][j] = vdupq_n_f32(0);
    for (int b = 0; b < nb; b++) {
        const uint8_t *bp = tp + (size_t)b * VEC_Q8X16_BLOCK;
        for (int l = 0; l < VEC_Q8X16_BLOCK; l += 64) __builtin_prefetch(bp + Q8X16_PF + l);
        int32x4_t a[4][4];
        for (int k = 0; k < NT; k++)
            for (int j = 0; j < 4; j++) a[k][j] = vdupq_n_s32(0);
        for (int g = 0; g < 8; g++) {
            int8x16_t W[4];
            for (int j = 0; j < 4; j++) W[j] = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(bp + 64 * g + 16 * j), flip));
            for (int k = 0; k < NT; k++) {
                int8x16_t xv = vreinterpretq_s8_u32(vdupq_n_u32(rt_rd32((const uint8_t *)q + (size_t)k * (size_t)n + 32 * b + 4 * g)));
                for (int j = 0; j < 4; j++) BC_SDOT(a[k][j], W[j], xv);
            }
        }
        uint16x8_t h0, h1;
        memcpy(&h0, bp + 512, 16);
        memcpy(&h1, bp + 528, 16);
        const float32x4_t dw[4] = {vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h0))), vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h0))),
                                   vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h1))), vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h1)))};
        for (int k = 0; k < NT; k++) {
            float dk = d[(size_t)k * (size_t)nb + b];
            for (int j = 0; j < 4; j++) f[k][j] = vaddq_f32(f[k][j], vmulq_f32(vcvtq_f32_s32(a[k][j]), vmulq_n_f32(dw[j], dk)));
        }
    }
}

BC_TARGET_DOTPROD static void gemv_q8_0x16_dotprod(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int nt,
                                                   const int8_t *q, const float *d, float *out, size_t ostride) {
    int nb = n / 32;
    for (int k0 = 0; k0 < nt; k0 += 4) {
        int NT = nt - k0 < 4 ? nt - k0 : 4;
        const int8_t *qk = q + (size_t)k0 * (size_t)n;
        const float *dk = d + (size_t)k0 * (size_t)nb;
        for (int64_t t = t0; t < t1; t++) {
            float32x4_t f[4][4];
            const uint8_t *tp = p + (size_t)t * (size_t)nb * VEC_Q8X16_BLOCK;
            switch (NT) { /* constant trip counts: the accumulators stay in registers */
            case 1: q8x16_tile_dotprod(tp, nb, n, 1, qk, dk, f); break;
            case 2: q8x16_tile_dotprod(tp, nb, n, 2, qk, dk, f); break;
            case 3: q8x16_tile_dotprod(tp, nb, n, 3, qk, dk, f); break;
            default: q8x16_tile_dotprod(tp, nb, n, 4, qk, dk, f); break;
            }
            int64_t left = rows - 16 * t;
            for (int k = 0; k < NT; k++) {
                float *o = out + (size_t)(k0 + k) * ostride + (size_t)(16 * t), v[16];
                for (int j = 0; j < 4; j++) vst1q_f32(v + 4 * j, f[k][j]);
                memcpy(o, v, sizeof(float) * (size_t)(left < 16 ? left : 16));
            }
        }
    }
}
#endif
/* ---- selection (vec_init) ---- */

typedef void (*gemv_q8_0x16_fn)(const uint8_t *, int64_t, int64_t, int64_t, int, int, const int8_t *, const float *, float *, size_t);
static gemv_q8_0x16_fn p_gemv_q8_0x16 = NULL; /* NULL: no fast kernel, the head stays row-major Q8_0 */

void vec_q8_select(bc_isa isa) {
    p_gemv_q8_0x16 = NULL;
#if defined(__x86_64__)
    if (isa == BC_ISA_AVX512) p_gemv_q8_0x16 = gemv_q8_0x16_avx512;
#endif
#if defined(__aarch64__)
    if (isa == BC_ISA_DOTPROD || isa == BC_ISA_I8MM) p_gemv_q8_0x16 = gemv_q8_0x16_dotprod;
#endif
    (void)isa;
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
