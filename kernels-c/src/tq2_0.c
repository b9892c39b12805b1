/* TQ2_0 (formats/tq2_0.md): 66-byte blocks of 256 weights along K: qs[64] then f16 d (ignored:
 * the loader folds d into the tensor scale). Element e of a block sits in byte (e/128)*32 + e%32 at
 * shift 2*((e%128)/32); code c = T + 1.
 *
 * Kernels: as I2_S (see i2_s.c): per-token streaming GEMV for small N (one 64-byte qs load per
 * block, chunk stride 66), the shared VNNI-panel GEMM otherwise. */
#include "simd.h"
#include <stdlib.h>
#include <string.h>

#define TQ2_BLOCK 66
#define GEMM_MIN_N 8 /* below: per-token GEMV (measured crossover with the panel GEMM ~ 8-16) */
#define KC 1024

void bc_tq2_0_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    int64_t nb = w->K / 256;
    const uint8_t *row = w->data + (size_t)(m * nb * TQ2_BLOCK);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *qs = row + b * TQ2_BLOCK;
        for (int e = 0; e < 256; e++) {
            int c = (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            out[b * 256 + e] = (int8_t)(c - 1);
        }
    }
}

/* The inverse of decode_row: a row of K codes c = T + 1 (0..2) in element order and each block's f16
 * d as two file bytes, packed into bc_tq2_0_row_bytes(K) bytes (repack.c writes TQ1_0 rows this way). */
size_t bc_tq2_0_row_bytes(int64_t K) { return (size_t)(K / 256 * TQ2_BLOCK); }

void bc_tq2_0_pack_row(const uint8_t *codes, const uint8_t *d, int64_t K, uint8_t *out) {
    for (int64_t b = 0; b < K / 256; b++) {
        uint8_t *blk = out + b * TQ2_BLOCK;
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 32; j++) {
                const uint8_t *c = codes + 256 * b + 128 * h + j;
                blk[32 * h + j] = (uint8_t)(c[0] | c[32] << 2 | c[64] << 4 | c[96] << 6);
            }
        blk[64] = d[2 * b];
        blk[65] = d[2 * b + 1];
    }
}

#if defined(__x86_64__)
/* ---------------- AVX-512 ---------------- */
static BC_TARGET_AVX512 void panel_avx512(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                          uint8_t *panel) {
    int64_t rowstride = w->K / 256 * TQ2_BLOCK;
    bc_2bit_panel_avx512(w->data + m * rowstride + k0 / 256 * TQ2_BLOCK, rowstride, TQ2_BLOCK, 0, rows, kc, panel);
}

int bc_tq2_0_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                           int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    int64_t K = w->K;
    if (N >= GEMM_MIN_N) {
        return bc_gemm_avx512(w, panel_avx512, KC, K, x, xsum, N, y, ldy, m0, m1, dq);
    }
    int64_t nb = K / 256;
    int8_t *xp = bc_scratch(1, (size_t)K);
    if (!xp) abort();
    for (int64_t n = 0; n < N; n++) {
        const int8_t *xn = x + n * K;
        for (int64_t i = 0; i < nb; i++)
            for (int s = 0; s < 4; s++)
                for (int h = 0; h < 2; h++) memcpy(xp + i * 256 + s * 64 + 32 * h, xn + i * 256 + 128 * h + 32 * s, 32);
        bc_gemv_2bit_avx512(w->data, nb * TQ2_BLOCK, TQ2_BLOCK, nb, 0, xp, xsum[n], y + n * ldy, m0, m1);
    }
    return 0;
}

/* ---------------- AVX2 ---------------- */
static BC_TARGET_AVX2 void row_codes_avx2(const uint8_t *row, int64_t nblocks, uint8_t *out) {
    const __m256i M = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < nblocks; b++)
        for (int h = 0; h < 2; h++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(row + b * TQ2_BLOCK + 32 * h));
            for (int s = 0; s < 4; s++)
                _mm256_storeu_si256((__m256i *)(out + b * 256 + 128 * h + 32 * s), _mm256_and_si256(_mm256_srli_epi16(v, 2 * s), M));
        }
}

static BC_TARGET_AVX2 void panel_avx2(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                      uint8_t *panel) {
    uint8_t *rc = bc_scratch(2, (size_t)(32 * kc));
    if (!rc) abort();
    int64_t rowstride = w->K / 256 * TQ2_BLOCK;
    for (int r = 0; r < 32; r++) {
        if (r < rows) row_codes_avx2(w->data + (m + r) * rowstride + k0 / 256 * TQ2_BLOCK, kc / 256, rc + r * kc);
        else memset(rc + r * kc, 0, (size_t)kc);
    }
    bc_rows_to_panel_avx2(rc, kc, kc, panel);
}

int bc_tq2_0_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                         int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    int64_t K = w->K;
    if (N >= GEMM_MIN_N) {
        return bc_gemm_avx2(w, panel_avx2, KC, K, x, xsum, N, y, ldy, m0, m1, dq);
    }
    /* 32-byte chunk j (half j%2 of block j/2), shift 2s -> elements 128*j + 32*s + lane: the
     * natural order, so the activations need no permutation */
    for (int64_t n = 0; n < N; n++)
        bc_gemv_2bit_avx2(w->data, K / 256 * TQ2_BLOCK, TQ2_BLOCK, K / 128, x + n * K, xsum[n], y + n * ldy, m0, m1);
    return 0;
}
#endif /* __x86_64__ */

#if defined(__aarch64__)
/* ---------------- aarch64 (dot_arm.h) ----------------
 * Half h of a block (bytes 32h..32h+31): codes of elements 128h + 32s + j are (byte j >> 2s) & 3. */
#include "dot_arm.h"
static void row_codes_neon(const uint8_t *row, int64_t K, int8_t *out) {
    const uint8x16_t M = vdupq_n_u8(3);
    for (int64_t g = 0; g < K / 128; g++) {
        const uint8_t *p = row + (g / 2) * TQ2_BLOCK + (g % 2) * 32;
        uint8x16_t b0 = vld1q_u8(p), b1 = vld1q_u8(p + 16);
        int8_t *o = out + 128 * g;
        vst1q_s8(o + 0, vreinterpretq_s8_u8(vandq_u8(b0, M)));
        vst1q_s8(o + 16, vreinterpretq_s8_u8(vandq_u8(b1, M)));
        vst1q_s8(o + 32, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b0, 2), M)));
        vst1q_s8(o + 48, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b1, 2), M)));
        vst1q_s8(o + 64, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b0, 4), M)));
        vst1q_s8(o + 80, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b1, 4), M)));
        vst1q_s8(o + 96, vreinterpretq_s8_u8(vshrq_n_u8(b0, 6)));
        vst1q_s8(o + 112, vreinterpretq_s8_u8(vshrq_n_u8(b1, 6)));
    }
}

static inline __attribute__((always_inline)) int32_t row_dot(const uint8_t *row, const int8_t *x, int64_t K, bc_arm_mac_fn mac) {
    int32x4_t a[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    for (int64_t g = 0; g < K / 128; g++) bc_arm_dot128_2bit(row + (g / 2) * TQ2_BLOCK + (g % 2) * 32, x + 128 * g, 0, mac, a);
    return vaddvq_s32(vaddq_s32(vaddq_s32(a[0], a[1]), vaddq_s32(a[2], a[3])));
}
BC_ARM_ROW_MAJOR_KERNELS(tq2_0, w->K / 256 * TQ2_BLOCK, TQ2_BLOCK)
#endif /* __aarch64__ */
