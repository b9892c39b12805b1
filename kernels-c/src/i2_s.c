/* I2_S (layouts.md section 4), canonical x86 layout: row m starts at byte m*K/4; each 128-value
 * block is 32 bytes, byte p holds values p, 32+p, 64+p, 96+p in bit pairs 7:6, 5:4, 3:2, 1:0.
 * Codes 0 -> -1, 1 -> 0, 2 -> +1; code 3 is never written (the reference decode maps it to 0, the
 * SIMD kernels would read it as +2: only valid files are supported). */
#include "simd.h"

void bc_i2_s_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    int64_t K = w->K;
    const uint8_t *row = w->data + (size_t)(m * (K / 4));
    for (int64_t e = 0; e < K; e++) {
        int64_t blk = e / 128, j = e % 128;
        int c = (row[blk * 32 + j % 32] >> (6 - 2 * (j / 32))) & 3;
        out[e] = (int8_t)(c == 3 ? 0 : c - 1);
    }
}

void bc_i2_s_matmul_scalar(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                           int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    (void)xsum;
    bc_matmul_by_rows(w, bc_i2_s_decode_row, x, N, y, ldy, m0, m1);
}

void bc_i2_s_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                         int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_i2_s_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}

void bc_i2_s_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                           int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_i2_s_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}
