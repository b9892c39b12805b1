/* The float reference path's GEMM (gemm_f32.h): the scalar reference first, then AVX2, AVX-512 and
 * NEON micro-kernels, then the blocking they share. */
#include "gemm_f32.h"
#include "target.h"
#include "vec.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MR GEMM_F32_MR
#define NT GEMM_F32_NT

/* out[r * NT + t] = sum_k a[k * MR + r] * b[k * NT + t]: one micro-tile against one token panel */
typedef void (*micro_fn)(const float *a, const float *b, int kc, float *out);

static void micro_scalar(const float *a, const float *b, int kc, float *out) {
    float acc[MR][NT];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < kc; k++)
        for (int r = 0; r < MR; r++) {
            float w = a[(size_t)k * MR + r];
            for (int t = 0; t < NT; t++) acc[r][t] += w * b[(size_t)k * NT + t];
        }
    memcpy(out, acc, sizeof acc);
}

#if defined(__x86_64__)
/* ---- AVX2: 3 rows x 32 tokens in 12 ymm per pass, four passes per micro-tile ------------------------ */

BC_TARGET_AVX2 static void micro_avx2(const float *a, const float *b, int kc, float *out) {
    for (int r0 = 0; r0 < MR; r0 += 3) {
        __m256 acc[3][4];
        _Pragma("GCC unroll 3") for (int r = 0; r < 3; r++)
            _Pragma("GCC unroll 4") for (int v = 0; v < 4; v++) acc[r][v] = _mm256_setzero_ps();
        for (int k = 0; k < kc; k++) {
            const float *bk = b + (size_t)k * NT, *ak = a + (size_t)k * MR + r0;
            __m256 b0 = _mm256_loadu_ps(bk), b1 = _mm256_loadu_ps(bk + 8), b2 = _mm256_loadu_ps(bk + 16), b3 = _mm256_loadu_ps(bk + 24);
            _Pragma("GCC unroll 3") for (int r = 0; r < 3; r++) {
                __m256 w = _mm256_broadcast_ss(ak + r);
                acc[r][0] = _mm256_fmadd_ps(w, b0, acc[r][0]);
                acc[r][1] = _mm256_fmadd_ps(w, b1, acc[r][1]);
                acc[r][2] = _mm256_fmadd_ps(w, b2, acc[r][2]);
                acc[r][3] = _mm256_fmadd_ps(w, b3, acc[r][3]);
            }
        }
        for (int r = 0; r < 3; r++)
            for (int v = 0; v < 4; v++) _mm256_storeu_ps(out + (r0 + r) * NT + 8 * v, acc[r][v]);
    }
}

/* ---- AVX-512: the whole 12 x 32 micro-tile in 24 zmm; each weight is an embedded broadcast --------- */

BC_TARGET_AVX512 static void micro_avx512(const float *a, const float *b, int kc, float *out) {
    __m512 acc[MR][2];
    _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(b + (size_t)k * NT), b1 = _mm512_loadu_ps(b + (size_t)k * NT + 16);
        const float *ak = a + (size_t)k * MR;
        _Pragma("GCC unroll 12") for (int r = 0; r < MR; r++) {
            __m512 w = _mm512_set1_ps(ak[r]);
            acc[r][0] = _mm512_fmadd_ps(w, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(w, b1, acc[r][1]);
        }
    }
    for (int r = 0; r < MR; r++) {
        _mm512_storeu_ps(out + r * NT, acc[r][0]);
        _mm512_storeu_ps(out + r * NT + 16, acc[r][1]);
    }
}

#endif /* __x86_64__ */

#if defined(__aarch64__)
/* ---- NEON: 3 rows x 32 tokens in 24 of the 32 q registers per pass, four passes per micro-tile ---- */

static void micro_neon(const float *a, const float *b, int kc, float *out) {
    for (int r0 = 0; r0 < MR; r0 += 3) {
        float32x4_t acc[3][8];
        for (int r = 0; r < 3; r++)
            for (int v = 0; v < 8; v++) acc[r][v] = vdupq_n_f32(0.0f);
        for (int k = 0; k < kc; k++) {
            const float *bk = b + (size_t)k * NT, *ak = a + (size_t)k * MR + r0;
            float32x4_t bv[8];
            for (int v = 0; v < 8; v++) bv[v] = vld1q_f32(bk + 4 * v);
            for (int r = 0; r < 3; r++) {
                float32x4_t w = vdupq_n_f32(ak[r]);
                for (int v = 0; v < 8; v++) acc[r][v] = vfmaq_f32(acc[r][v], w, bv[v]);
            }
        }
        for (int r = 0; r < 3; r++)
            for (int v = 0; v < 8; v++) vst1q_f32(out + (r0 + r) * NT + 4 * v, acc[r][v]);
    }
}
#endif /* __aarch64__ */

/* ---- blocking ----------------------------------------------------------------------------------- */

size_t gemm_f32_packed_floats(int64_t N, int64_t K) { return (size_t)((N + NT - 1) / NT) * NT * (size_t)K; }

void gemm_f32_pack_row(const float *x, int64_t n, int64_t K, float *px) {
    float *p = px + (size_t)(n / NT) * (size_t)K * NT + (size_t)(n % NT);
    for (int64_t k = 0; k < K; k++) p[(size_t)k * NT] = x[k];
}

size_t gemm_f32_scratch_floats(int64_t K) { return (size_t)K * (GEMM_F32_MC + 1); }

/* Rows [mb, mb + rows) as f32 micro-tiles: a[(tile * K + k) * MR + r]; rows past `rows` are zero. */
static void pack_rows(gemm_f32_row_fn row, const void *src, int64_t K, int64_t mb, int rows, float *tmp, float *a) {
    int tiles = (rows + MR - 1) / MR;
    for (int r = 0; r < tiles * MR; r++) {
        if (r < rows) row(src, mb + r, tmp);
        else memset(tmp, 0, (size_t)K * sizeof(float));
        float *dst = a + (size_t)(r / MR) * (size_t)K * MR + r % MR;
        for (int64_t k = 0; k < K; k++) dst[(size_t)k * MR] = tmp[k];
    }
}

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

void gemm_f32(bc_isa isa, gemm_f32_row_fn row, const void *src, int64_t K, const float *x, const float *px, int64_t N,
              float *y, size_t ldy, int64_t m0, int64_t m1, float *scratch) {
    float *tmp = scratch, *a = scratch + K;
    if (N < GEMM_F32_MIN_N) {
        for (int64_t m = m0; m < m1; m++) {
            row(src, m, tmp);
            for (int64_t n = 0; n < N; n++) y[(size_t)n * ldy + m] = vec_dot(tmp, x + (size_t)n * K, (int)K);
        }
        return;
    }
    micro_fn micro = pick(isa);
    float out[MR * NT];
    for (int64_t mb = m0; mb < m1; mb += GEMM_F32_MC) {
        int rows = (int)(m1 - mb < GEMM_F32_MC ? m1 - mb : GEMM_F32_MC), tiles = (rows + MR - 1) / MR;
        pack_rows(row, src, K, mb, rows, tmp, a);
        for (int64_t k0 = 0; k0 < K; k0 += GEMM_F32_KC) {
            int kc = (int)(K - k0 < GEMM_F32_KC ? K - k0 : GEMM_F32_KC);
            for (int64_t n0 = 0; n0 < N; n0 += NT) {
                int nt = (int)(N - n0 < NT ? N - n0 : NT);
                const float *b = px + ((size_t)(n0 / NT) * (size_t)K + (size_t)k0) * NT;
                for (int t = 0; t < tiles; t++) {
                    micro(a + ((size_t)t * (size_t)K + (size_t)k0) * MR, b, kc, out);
                    int nr = rows - t * MR < MR ? rows - t * MR : MR;
                    float *yb = y + (size_t)n0 * ldy + (size_t)(mb + t * MR);
                    for (int i = 0; i < nt; i++)
                        for (int r = 0; r < nr; r++) {
                            float v = out[r * NT + i];
                            yb[(size_t)i * ldy + r] = k0 == 0 ? v : yb[(size_t)i * ldy + r] + v;
                        }
                }
            }
        }
    }
}
