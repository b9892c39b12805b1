/* The float reference path's GEMM (gemm_f32.h): the scalar reference first, then AVX2, AVX-512 and
 * NEON micro-kernels, then the weight conversion and the blocking they share. */
#include "gemm_f32.h"
#include "target.h"
#include "vec.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MR GEMM_F32_MR
#define NR GEMM_F32_NR
#define KC GEMM_F32_KC
#define MC GEMM_F32_MC
#define PF 32 /* columns ahead that the AVX-512 kernel prefetches its tokens (they stream from L2 / L3) */

/* y[t * ldy + r] (+)= sum_k a[k * MR + r] * b[k * NR + t] for t < nt, r < nr: one weight panel slice
 * against one token group; add: accumulate onto y (a later column slice) */
typedef void (*micro_fn)(const float *a, const float *b, int kc, float *y, size_t ldy, int nt, int nr, int add);

/* a tile of sums c[t * MR + r] into y */
static void store_tile(const float *c, float *y, size_t ldy, int nt, int nr, int add) {
    for (int t = 0; t < nt; t++) {
        float *yt = y + (size_t)t * ldy;
        const float *ct = c + (size_t)t * MR;
        if (add)
            for (int r = 0; r < nr; r++) yt[r] += ct[r];
        else
            memcpy(yt, ct, (size_t)nr * sizeof(float));
    }
}

static void micro_scalar(const float *a, const float *b, int kc, float *y, size_t ldy, int nt, int nr, int add) {
    float c[NR * MR];
    memset(c, 0, sizeof c);
    for (int k = 0; k < kc; k++)
        for (int t = 0; t < NR; t++) {
            float x = b[(size_t)k * NR + t];
            for (int r = 0; r < MR; r++) c[t * MR + r] += a[(size_t)k * MR + r] * x;
        }
    store_tile(c, y, ldy, nt, nr, add);
}

#if defined(__x86_64__)
/* ---- AVX2: 16 rows x 6 tokens in 12 ymm per pass, four passes per tile ------------------------------ */

BC_TARGET_AVX2 static void micro_avx2(const float *a, const float *b, int kc, float *y, size_t ldy, int nt, int nr, int add) {
    float c[NR * MR];
    for (int r0 = 0; r0 < MR; r0 += 16)
        for (int t0 = 0; t0 < NR; t0 += 6) {
            __m256 acc[6][2];
            _Pragma("GCC unroll 6") for (int t = 0; t < 6; t++) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
            for (int k = 0; k < kc; k++) {
                const float *ak = a + (size_t)k * MR + r0, *bk = b + (size_t)k * NR + t0;
                __m256 a0 = _mm256_loadu_ps(ak), a1 = _mm256_loadu_ps(ak + 8);
                _Pragma("GCC unroll 6") for (int t = 0; t < 6; t++) {
                    __m256 x = _mm256_broadcast_ss(bk + t);
                    acc[t][0] = _mm256_fmadd_ps(a0, x, acc[t][0]);
                    acc[t][1] = _mm256_fmadd_ps(a1, x, acc[t][1]);
                }
            }
            for (int t = 0; t < 6; t++) {
                _mm256_storeu_ps(c + (t0 + t) * MR + r0, acc[t][0]);
                _mm256_storeu_ps(c + (t0 + t) * MR + r0 + 8, acc[t][1]);
            }
        }
    store_tile(c, y, ldy, nt, nr, add);
}

/* ---- AVX-512: the whole 12 x 32 tile in 24 zmm; each token is an embedded broadcast; masked stores -- */

BC_TARGET_AVX512 static void micro_avx512(const float *a, const float *b, int kc, float *y, size_t ldy, int nt, int nr, int add) {
    __m512 c0[NR], c1[NR];
    _Pragma("GCC unroll 12") for (int t = 0; t < NR; t++) c0[t] = c1[t] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const float *bk = b + (size_t)k * NR;
        _mm_prefetch((const char *)(bk + PF * NR), _MM_HINT_T0);
        __m512 a0 = _mm512_loadu_ps(a + (size_t)k * MR), a1 = _mm512_loadu_ps(a + (size_t)k * MR + 16);
        _Pragma("GCC unroll 12") for (int t = 0; t < NR; t++) {
            __m512 x = _mm512_set1_ps(bk[t]);
            c0[t] = _mm512_fmadd_ps(a0, x, c0[t]);
            c1[t] = _mm512_fmadd_ps(a1, x, c1[t]);
        }
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
    _Pragma("GCC unroll 12") for (int t = 0; t < NR; t++) {
        if (t >= nt) break;
        float *yt = y + (size_t)t * ldy;
        __m512 v0 = c0[t], v1 = c1[t];
        if (add) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, yt));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, yt + 16));
        }
        _mm512_mask_storeu_ps(yt, m0, v0);
        _mm512_mask_storeu_ps(yt + 16, m1, v1);
    }
}

/* 16 values of a row from column k as f32: F32, F16, BF16 or int8 codes */
BC_TARGET_AVX512 static inline __m512 load16_avx512(int type, const uint8_t *p, int64_t k) {
    switch (type) {
    case BC_GGML_F32: return _mm512_loadu_ps(p + 4 * k);
    case BC_GGML_F16: return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + 2 * k)));
    case BC_GGML_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + 2 * k))), 16));
    default: return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + k))));
    }
}

/* v[i] = row i of a 16 x 16 block -> v[c] = column c: in-lane 2x2 and 4x4 steps, then 128-bit lanes */
BC_TARGET_AVX512 static inline void transpose16_avx512(__m512 v[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    }
    /* u[4i + c], 128-bit lane L: column 4L + c of rows 4i .. 4i+3 */
    for (int i = 0; i < 4; i++) {
        u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        __m512 lo01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44), hi01 = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xEE);
        __m512 lo23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44), hi23 = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xEE);
        v[c] = _mm512_shuffle_f32x4(lo01, lo23, 0x88);
        v[4 + c] = _mm512_shuffle_f32x4(lo01, lo23, 0xDD);
        v[8 + c] = _mm512_shuffle_f32x4(hi01, hi23, 0x88);
        v[12 + c] = _mm512_shuffle_f32x4(hi01, hi23, 0xDD);
    }
}

/* columns [k0, k0 + kc) of MR rows (kc % 16 == 0) converted, scaled and transposed 16 x 16 at a time */
BC_TARGET_AVX512 static void pack_avx512(int type, const uint8_t *const *rows, int64_t k0, int kc, float scale, float *a) {
    __m512 s = _mm512_set1_ps(scale);
    for (int r0 = 0; r0 < MR; r0 += 16)
        for (int k = 0; k < kc; k += 16) {
            __m512 v[16];
            for (int i = 0; i < 16; i++) v[i] = _mm512_mul_ps(load16_avx512(type, rows[r0 + i], k0 + k), s);
            transpose16_avx512(v);
            for (int c = 0; c < 16; c++) _mm512_storeu_ps(a + (size_t)(k + c) * MR + r0, v[c]);
        }
}

#endif /* __x86_64__ */

#if defined(__aarch64__)
/* ---- NEON: 8 rows x 12 tokens in 24 of the 32 q registers per pass (FMLA by lane), four passes ---- */

static void micro_neon(const float *a, const float *b, int kc, float *y, size_t ldy, int nt, int nr, int add) {
    float c[NR * MR];
    for (int r0 = 0; r0 < MR; r0 += 8) {
        float32x4_t acc[NR][2];
        for (int t = 0; t < NR; t++) acc[t][0] = acc[t][1] = vdupq_n_f32(0.0f);
        for (int k = 0; k < kc; k++) {
            const float *ak = a + (size_t)k * MR + r0, *bk = b + (size_t)k * NR;
            float32x4_t a0 = vld1q_f32(ak), a1 = vld1q_f32(ak + 4);
            float32x4_t x[3] = {vld1q_f32(bk), vld1q_f32(bk + 4), vld1q_f32(bk + 8)};
#define BC_FMA_LANE(t)                                                     \
    acc[t][0] = vfmaq_laneq_f32(acc[t][0], a0, x[(t) / 4], (t) % 4); \
    acc[t][1] = vfmaq_laneq_f32(acc[t][1], a1, x[(t) / 4], (t) % 4)
            BC_FMA_LANE(0); BC_FMA_LANE(1); BC_FMA_LANE(2); BC_FMA_LANE(3); BC_FMA_LANE(4); BC_FMA_LANE(5);
            BC_FMA_LANE(6); BC_FMA_LANE(7); BC_FMA_LANE(8); BC_FMA_LANE(9); BC_FMA_LANE(10); BC_FMA_LANE(11);
#undef BC_FMA_LANE
        }
        for (int t = 0; t < NR; t++) {
            vst1q_f32(c + t * MR + r0, acc[t][0]);
            vst1q_f32(c + t * MR + r0 + 4, acc[t][1]);
        }
    }
    store_tile(c, y, ldy, nt, nr, add);
}
#endif /* __aarch64__ */

/* ---- weights ------------------------------------------------------------------------------------ */

/* Values [k0, k0 + n) of a row (a file's row or decoded codes, of `type`) times scale, as f32. */
static void convert_row(int type, const uint8_t *p, int64_t k0, int64_t n, float scale, float *out) {
    switch (type) {
    case BC_GGML_F32: memcpy(out, p + 4 * k0, (size_t)n * sizeof(float)); break;
    case BC_GGML_F16: vec_f16_row(p + 2 * k0, out, (int)n); break;
    case BC_GGML_BF16: vec_bf16_row(p + 2 * k0, out, (int)n); break;
    default:
        for (int64_t k = 0; k < n; k++) out[k] = (float)(int8_t)p[k0 + k];
        break;
    }
    for (int64_t k = 0; k < n; k++) out[k] *= scale;
}

/* Columns [k0, k0 + kc) of MR rows (rows[r] NULL: a zero row past the end) as one panel slice
 * a[k * MR + r]; tmp: kc floats. */
static void pack_slice(bc_isa isa, int type, const uint8_t *const *rows, int64_t k0, int kc, float scale, float *tmp, float *a) {
#if defined(__x86_64__)
    int full = 1;
    for (int r = 0; r < MR; r++) full &= rows[r] != NULL;
    if (isa == BC_ISA_AVX512 && full && kc % 16 == 0) {
        pack_avx512(type, rows, k0, kc, scale, a);
        return;
    }
#endif
    (void)isa;
    for (int r = 0; r < MR; r++) {
        if (rows[r]) convert_row(type, rows[r], k0, kc, scale, tmp);
        else memset(tmp, 0, (size_t)kc * sizeof(float));
        for (int k = 0; k < kc; k++) a[(size_t)k * MR + r] = tmp[k];
    }
}

/* ---- blocking ----------------------------------------------------------------------------------- */

size_t gemm_f32_packed_floats(int64_t N, int64_t K) { return (size_t)((N + NR - 1) / NR) * NR * (size_t)K; }

void gemm_f32_pack_row(const float *x, int64_t n, int64_t K, float *px) {
    float *p = px + (size_t)(n / NR) * (size_t)K * NR + (size_t)(n % NR);
    for (int64_t k = 0; k < K; k++) p[(size_t)k * NR] = x[k];
}

/* a row of K floats, the codes of a block's rows (MC * K bytes), one panel slice */
size_t gemm_f32_scratch_floats(int64_t K) { return (size_t)K + ((size_t)MC * (size_t)K + 3) / 4 + (size_t)MR * KC; }

static micro_fn pick(bc_isa isa) {
#if defined(__x86_64__)
    if (isa == BC_ISA_AVX512) return micro_avx512;
    if (isa == BC_ISA_AVX2) return micro_avx2;
#elif defined(__aarch64__)
    if (isa >= BC_ISA_NEON) return micro_neon;
#endif
    (void)isa;
    return micro_scalar;
}

/* the bytes of row m: the file's, or its codes decoded into codes_row */
static const uint8_t *row_of(const gemm_f32_weights *w, int64_t m, int8_t *codes_row) {
    if (w->type != GEMM_F32_CODES) return w->data + (size_t)m * w->row_bytes;
    w->codes(w->ctx, m, codes_row);
    return (const uint8_t *)codes_row;
}

/* one dot product per row and token */
static void gemv_rows(const gemm_f32_weights *w, int64_t K, const float *x, int64_t N, float *y, size_t ldy, int64_t m0,
                      int64_t m1, int8_t *codes, float *row) {
    for (int64_t m = m0; m < m1; m++) {
        convert_row(w->type, row_of(w, m, codes), 0, K, w->scale, row);
        for (int64_t n = 0; n < N; n++) y[(size_t)n * ldy + m] = vec_dot(row, x + (size_t)n * K, (int)K);
    }
}

void gemm_f32(bc_isa isa, const gemm_f32_weights *w, int64_t K, const float *x, const float *px, int64_t N, float *y,
              size_t ldy, int64_t m0, int64_t m1, float *scratch) {
    float *row = scratch, *a = scratch + K + ((size_t)MC * (size_t)K + 3) / 4;
    int8_t *codes = (int8_t *)(scratch + K);
    if (N < GEMM_F32_MIN_N) {
        gemv_rows(w, K, x, N, y, ldy, m0, m1, codes, row);
        return;
    }
    micro_fn micro = pick(isa);
    for (int64_t mb = m0; mb < m1; mb += MC) {
        int block = (int)(m1 - mb < MC ? m1 - mb : MC);
        const uint8_t *rows[MC + MR];
        for (int r = 0; r < MC + MR; r++) rows[r] = r < block ? row_of(w, mb + r, codes + (size_t)r * K) : NULL;
        /* a column slice of every token (in L2) meets each panel of the block in turn */
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int kc = (int)(K - k0 < KC ? K - k0 : KC);
            for (int p = 0; p < block; p += MR) {
                int nr = block - p < MR ? block - p : MR;
                pack_slice(isa, w->type, rows + p, k0, kc, w->scale, row, a);
                for (int64_t n0 = 0; n0 < N; n0 += NR) {
                    int nt = (int)(N - n0 < NR ? N - n0 : NR);
                    const float *b = px + ((size_t)(n0 / NR) * (size_t)K + (size_t)k0) * NR;
                    micro(a, b, kc, y + (size_t)n0 * ldy + (size_t)(mb + p), ldy, nt, nr, k0 > 0);
                }
            }
        }
    }
}
