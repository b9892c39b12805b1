/* aarch64 helpers of the row-major ternary layouts (tq1_0.c, tq2_0.c, i2_s.c). One token (decode): each
 * layout decodes its codes c = T + 1 (0..2) in registers as the row streams past and multiplies them
 * at once (bc_arm_gemv). NEON, N >= 2: each row is decoded once into scratch, then every token's exact
 * dot sum_k c*x - xsum runs on the decoded row (bc_arm_matmul_rows), so the weights are read once per
 * call whatever N is. dotprod / i8mm, N >= 2: the SDOT / SMMLA GEMMs of gemm_arm.c on panels of the
 * same decoded codes. */
#ifndef BITCONV_DOT_ARM_H
#define BITCONV_DOT_ARM_H
#if defined(__aarch64__)
#include "simd.h"
#include <stdlib.h>

typedef void (*bc_arm_codes_fn)(const uint8_t *row, int64_t K, int8_t *out);

/* ARMv8.0: vmull_s8 + vmlal_s8 (two products of |c*x| <= 256: |.| <= 512 in int16), then vpadalq_s16
 * straight into int32, so no int16 chain grows with K. K % 32 == 0. */
static inline int32_t bc_arm_dot_neon(const int8_t *c, const int8_t *x, int64_t K) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0;
    for (int64_t k = 0; k < K; k += 32) {
        int8x16_t c0 = vld1q_s8(c + k), c1 = vld1q_s8(c + k + 16);
        int8x16_t x0 = vld1q_s8(x + k), x1 = vld1q_s8(x + k + 16);
        int16x8_t p0 = vmlal_s8(vmull_s8(vget_low_s8(c0), vget_low_s8(x0)), vget_high_s8(c0), vget_high_s8(x0));
        int16x8_t p1 = vmlal_s8(vmull_s8(vget_low_s8(c1), vget_low_s8(x1)), vget_high_s8(c1), vget_high_s8(x1));
        a0 = vpadalq_s16(a0, p0);
        a1 = vpadalq_s16(a1, p1);
    }
    return vaddvq_s32(vaddq_s32(a0, a1));
}

/* acc += c * x over 16 lanes: ARMv8.0's vmull_s8 + vmlal_high_s8 (two products, |.| <= 512 in int16)
 * folded into int32 by vpadalq_s16, or SDOT. The kernels below take one of the two as a constant
 * argument (inlined at -O2; a call at -O0, where the SDOT asm still sits in a dotprod function). */
typedef int32x4_t (*bc_arm_mac_fn)(int32x4_t acc, int8x16_t c, int8x16_t x);
static inline int32x4_t bc_arm_mac_neon(int32x4_t acc, int8x16_t c, int8x16_t x) {
    return vpadalq_s16(acc, vmlal_high_s8(vmull_s8(vget_low_s8(c), vget_low_s8(x)), c, x));
}
static inline BC_TARGET_DOTPROD int32x4_t bc_arm_mac_sdot(int32x4_t acc, int8x16_t c, int8x16_t x) {
    BC_SDOT(acc, c, x);
    return acc;
}

/* 128 weights of a 2-bit layout in 32 bytes p: the code of value 32s + 16h + j is (p[16h + j] >> 2s) & 3
 * (TQ2_0), or >> (6 - 2s) with rev (I2_S); x holds the 128 activations in order. Four accumulators. */
static inline __attribute__((always_inline)) void bc_arm_dot128_2bit(const uint8_t *p, const int8_t *x, int rev,
                                                                     bc_arm_mac_fn mac, int32x4_t a[4]) {
    const uint8x16_t M = vdupq_n_u8(3);
    for (int h = 0; h < 2; h++) {
        uint8x16_t b = vld1q_u8(p + 16 * h);
        uint8x16_t q[4] = {vandq_u8(b, M), vandq_u8(vshrq_n_u8(b, 2), M), vandq_u8(vshrq_n_u8(b, 4), M), vshrq_n_u8(b, 6)};
        for (int s = 0; s < 4; s++)
            a[2 * h + (s & 1)] = mac(a[2 * h + (s & 1)], vreinterpretq_s8_u8(q[rev ? 3 - s : s]), vld1q_s8(x + 32 * s + 16 * h));
    }
}

/* one row's exact sum_k c*x, the codes decoded in registers (a layout's row of K weights at row) */
typedef int32_t (*bc_arm_rowdot_fn)(const uint8_t *row, const int8_t *x, int64_t K);

/* y[m] = dot(row m, x) - xsum for one token, rows [m0, m1): the weights stream once, nothing is stored
 * but y */
static inline void bc_arm_gemv(const bc_ternary *w, bc_arm_rowdot_fn dot, int64_t rowbytes, const int8_t *x, int32_t xsum,
                               int32_t *y, int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *row = w->data + m * rowbytes;
        __builtin_prefetch(row + rowbytes);
        y[m] = dot(row, x, w->K) - xsum;
    }
}

/* y[n*ldy + m] = sum_k c(m,k) * x[n][k] - xsum[n]; rows decoded once into per-thread scratch */
static inline void bc_arm_matmul_rows(const bc_ternary *w, bc_arm_codes_fn codes, int64_t rowbytes,
                                      const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy,
                                      int64_t m0, int64_t m1) {
    int64_t K = w->K;
    int8_t *c = bc_scratch(2, (size_t)K);
    if (!c) abort();
    for (int64_t m = m0; m < m1; m++) {
        const uint8_t *row = w->data + m * rowbytes;
        __builtin_prefetch(row + rowbytes);
        codes(row, K, c);
        for (int64_t n = 0; n < N; n++)
            y[n * ldy + m] = bc_arm_dot_neon(c, x + n * K, K) - xsum[n];
    }
}

/* gemm_arm.c: the same y for N >= 2 tokens with SDOT (ARMv8.2 dotprod) or SMMLA (ARMv8.6 i8mm) on
 * panels of decoded rows. bytes256 is the layout's bytes per 256 weights of a row (codes is called on
 * chunks that start at multiples of 256 columns). */
void bc_arm_gemm_dotprod(const bc_ternary *w, bc_arm_codes_fn codes, int64_t rowbytes, int64_t bytes256, const int8_t *x,
                         const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1);
void bc_arm_gemm_i8mm(const bc_ternary *w, bc_arm_codes_fn codes, int64_t rowbytes, int64_t bytes256, const int8_t *x,
                      const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1);

/* The three ARM entry points of a row-major layout L (tq1_0, tq2_0, i2_s), from its static
 * `row_dot(row, x, K, mac)` (codes decoded in registers) and `row_codes_neon` (a row decoded to int8):
 * one token streams each row once through row_dot (NEON multiply-accumulate, or SDOT); N >= 2 decode
 * rows once and run the NEON dots, the SDOT GEMM or the SMMLA GEMM. ROWBYTES may use `w`. The SDOT
 * row dot carries the dotprod target itself, so an -O0 build never leaves SDOT in a NEON function. */
#define BC_ARM_ROW_MAJOR_KERNELS(L, ROWBYTES, BYTES256)                                                          \
    static int32_t row_dot_neon(const uint8_t *row, const int8_t *x, int64_t K) { return row_dot(row, x, K, bc_arm_mac_neon); } \
    static BC_TARGET_DOTPROD int32_t row_dot_sdot(const uint8_t *row, const int8_t *x, int64_t K) {              \
        return row_dot(row, x, K, bc_arm_mac_sdot);                                                              \
    }                                                                                                            \
    void bc_##L##_matmul_neon(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y,  \
                              int64_t ldy, int64_t m0, int64_t m1) {                                             \
        if (N == 1) bc_arm_gemv(w, row_dot_neon, ROWBYTES, x, xsum[0], y, m0, m1);                               \
        else bc_arm_matmul_rows(w, row_codes_neon, ROWBYTES, x, xsum, N, y, ldy, m0, m1);                        \
    }                                                                                                            \
    void BC_TARGET_DOTPROD bc_##L##_matmul_dotprod(const bc_ternary *w, const int8_t *x, const int32_t *xsum,    \
                                                   int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1) { \
        if (N == 1) bc_arm_gemv(w, row_dot_sdot, ROWBYTES, x, xsum[0], y, m0, m1);                               \
        else bc_arm_gemm_dotprod(w, row_codes_neon, ROWBYTES, BYTES256, x, xsum, N, y, ldy, m0, m1);             \
    }                                                                                                            \
    void BC_TARGET_I8MM bc_##L##_matmul_i8mm(const bc_ternary *w, const int8_t *x, const int32_t *xsum,          \
                                             int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {       \
        if (N == 1) bc_arm_gemv(w, row_dot_sdot, ROWBYTES, x, xsum[0], y, m0, m1);                               \
        else bc_arm_gemm_i8mm(w, row_codes_neon, ROWBYTES, BYTES256, x, xsum, N, y, ldy, m0, m1);                \
    }
#endif
#endif
