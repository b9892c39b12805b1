/* I2_S (formats/i2_s.md), canonical x86 layout: row m starts at byte m*K/4; each 128-value
 * block is 32 bytes, byte p holds values p, 32+p, 64+p, 96+p in bit pairs 7:6, 5:4, 3:2, 1:0.
 * Codes 0 -> -1, 1 -> 0, 2 -> +1; code 3 is never written (the reference decode maps it to 0, the
 * SIMD kernels would read it as +2: only valid files are supported).
 *
 * Kernels: N < GEMM_MIN_N tokens -> one streaming GEMV per token (bc_gemv_2bit_*: 64-byte
 * loads, codes masked in place, activations permuted once per token to match); otherwise the shared
 * GEMM engine over 32-row VNNI panels decoded once per K chunk and reused by every token. */
#include "simd.h"
#include <stdlib.h>
#include <string.h>

#define GEMM_MIN_N 8 /* below: per-token GEMV (measured crossover with the panel GEMM ~ 8-16) */
#define KC 1024

void bc_i2_s_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    int64_t K = w->K;
    const uint8_t *row = w->data + (size_t)(m * (K / 4));
    for (int64_t e = 0; e < K; e++) {
        int64_t blk = e / 128, j = e % 128;
        int c = (row[blk * 32 + j % 32] >> (6 - 2 * (j / 32))) & 3;
        out[e] = (int8_t)(c == 3 ? 0 : c - 1);
    }
}

#if defined(__x86_64__)
/* ---------------- AVX-512 ---------------- */
/* codes of kc columns (kc % 128 == 0) starting at `row` (a block boundary), natural order */
static BC_TARGET_AVX512 void row_codes_avx512(const uint8_t *row, int64_t kc, uint8_t *out) {
    const __m512i M = _mm512_set1_epi8(3);
    int64_t c = 0;
    for (; c + 256 <= kc; c += 256) {
        __m512i v = _mm512_loadu_si512((const void *)(row + c / 4));
        for (int s = 0; s < 4; s++) {
            __m512i q = _mm512_and_si512(_mm512_srli_epi16(v, 6 - 2 * s), M);
            _mm256_storeu_si256((__m256i *)(out + c + 32 * s), _mm512_castsi512_si256(q));
            _mm256_storeu_si256((__m256i *)(out + c + 128 + 32 * s), _mm512_extracti64x4_epi64(q, 1));
        }
    }
    if (c < kc) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(row + c / 4));
        for (int s = 0; s < 4; s++)
            _mm256_storeu_si256((__m256i *)(out + c + 32 * s),
                                _mm256_and_si256(_mm256_srli_epi16(v, 6 - 2 * s), _mm256_set1_epi8(3)));
    }
}

static BC_TARGET_AVX512 void panel_avx512(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                          uint8_t *panel) {
    if (kc % 256 == 0) { /* every chunk but a K % 256 == 128 row's last */
        bc_2bit_panel_avx512(w->data + m * (w->K / 4) + k0 / 4, w->K / 4, 64, 1, rows, kc, panel);
        return;
    }
    uint8_t *rc = bc_scratch(2, (size_t)(32 * kc));
    if (!rc) abort();
    for (int r = 0; r < 32; r++) {
        if (r < rows) row_codes_avx512(w->data + (m + r) * (w->K / 4) + k0 / 4, kc, rc + r * kc);
        else memset(rc + r * kc, 0, (size_t)kc);
    }
    bc_rows_to_panel_avx512(rc, kc, kc, panel);
}

int bc_i2_s_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                          int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    int64_t K = w->K;
    if (N >= GEMM_MIN_N) {
        return bc_gemm_avx512(w, panel_avx512, KC, K, x, xsum, N, y, ldy, m0, m1, dq);
    }
    int64_t nch = K / 256, half = (K % 256) != 0;
    int8_t *xp = bc_scratch(1, (size_t)((nch + 1) * 256));
    if (!xp) abort();
    for (int64_t n = 0; n < N; n++) {
        const int8_t *xn = x + n * K;
        /* lane L of shift s in chunk i pairs with element i*256 + (L/32)*128 + 32*(3-s) + L%32: two
         * 32-byte runs (the half chunk's upper lanes are 0) */
        for (int64_t i = 0; i < nch + half; i++)
            for (int s = 0; s < 4; s++) {
                int8_t *o = xp + i * 256 + s * 64;
                memcpy(o, xn + i * 256 + 32 * (3 - s), 32);
                if (i < nch) memcpy(o + 32, xn + i * 256 + 128 + 32 * (3 - s), 32);
                else memset(o + 32, 0, 32);
            }
        bc_gemv_2bit_avx512(w->data, K / 4, 64, nch, (int)half, xp, xsum[n], y + n * ldy, m0, m1);
    }
    return 0;
}

/* ---------------- AVX2 ---------------- */
static BC_TARGET_AVX2 void row_codes_avx2(const uint8_t *row, int64_t kc, uint8_t *out) {
    for (int64_t c = 0; c < kc; c += 128) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(row + c / 4));
        for (int s = 0; s < 4; s++)
            _mm256_storeu_si256((__m256i *)(out + c + 32 * s),
                                _mm256_and_si256(_mm256_srli_epi16(v, 6 - 2 * s), _mm256_set1_epi8(3)));
    }
}

static BC_TARGET_AVX2 void panel_avx2(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                      uint8_t *panel) {
    uint8_t *rc = bc_scratch(2, (size_t)(32 * kc));
    if (!rc) abort();
    for (int r = 0; r < 32; r++) {
        if (r < rows) row_codes_avx2(w->data + (m + r) * (w->K / 4) + k0 / 4, kc, rc + r * kc);
        else memset(rc + r * kc, 0, (size_t)kc);
    }
    bc_rows_to_panel_avx2(rc, kc, kc, panel);
}

int bc_i2_s_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                        int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    int64_t K = w->K;
    if (N >= GEMM_MIN_N) {
        return bc_gemm_avx2(w, panel_avx2, KC, K, x, xsum, N, y, ldy, m0, m1, dq);
    }
    int8_t *xp = bc_scratch(1, (size_t)K);
    if (!xp) abort();
    for (int64_t n = 0; n < N; n++) {
        const int8_t *xn = x + n * K;
        for (int64_t j = 0; j < K / 128; j++)
            for (int s = 0; s < 4; s++) memcpy(xp + j * 128 + 32 * s, xn + j * 128 + 32 * (3 - s), 32);
        bc_gemv_2bit_avx2(w->data, K / 4, 64, K / 128, xp, xsum[n], y + n * ldy, m0, m1);
    }
    return 0;
}
#endif /* __x86_64__ */

#if defined(__aarch64__)
/* ---------------- aarch64 (dot_arm.h) ----------------
 * 32 bytes per 128-value block: codes of values 32s + j are (byte j >> (6 - 2s)) & 3. */
#include "dot_arm.h"
static void row_codes_neon(const uint8_t *row, int64_t K, int8_t *out) {
    const uint8x16_t M = vdupq_n_u8(3);
    for (int64_t g = 0; g < K / 128; g++) {
        uint8x16_t b0 = vld1q_u8(row + 32 * g), b1 = vld1q_u8(row + 32 * g + 16);
        int8_t *o = out + 128 * g;
        vst1q_s8(o + 0, vreinterpretq_s8_u8(vshrq_n_u8(b0, 6)));
        vst1q_s8(o + 16, vreinterpretq_s8_u8(vshrq_n_u8(b1, 6)));
        vst1q_s8(o + 32, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b0, 4), M)));
        vst1q_s8(o + 48, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b1, 4), M)));
        vst1q_s8(o + 64, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b0, 2), M)));
        vst1q_s8(o + 80, vreinterpretq_s8_u8(vandq_u8(vshrq_n_u8(b1, 2), M)));
        vst1q_s8(o + 96, vreinterpretq_s8_u8(vandq_u8(b0, M)));
        vst1q_s8(o + 112, vreinterpretq_s8_u8(vandq_u8(b1, M)));
    }
}

static inline __attribute__((always_inline)) int32_t row_dot(const uint8_t *row, const int8_t *x, int64_t K, bc_arm_mac_fn mac) {
    int32x4_t a[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    for (int64_t g = 0; g < K / 128; g++) bc_arm_dot128_2bit(row + 32 * g, x + 128 * g, 1, mac, a);
    return vaddvq_s32(vaddq_s32(vaddq_s32(a[0], a[1]), vaddq_s32(a[2], a[3])));
}
BC_ARM_ROW_MAJOR_KERNELS(i2_s, w->K / 4, 64)
#endif /* __aarch64__ */
