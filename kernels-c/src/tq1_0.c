/* TQ1_0 (layouts.md section 3): 54-byte blocks of 256 weights: qs[48] | qh[4] | f16 d (ignored).
 * Base-3 digits: digit k of byte q is ((q * 3^k mod 256) * 3) >> 8; qs[j<32] digit k -> element
 * 32k + j; qs[32+m] -> 160 + 16k + m; qh[j] digits 0..3 -> 240 + 4k + j. */
#include "simd.h"

#define TQ1_BLOCK 54

static const uint8_t POW3[5] = {1, 3, 9, 27, 81};

static inline int tq1_digit(uint8_t q, int k) {
    uint8_t p = (uint8_t)(q * POW3[k]);
    return ((int)p * 3) >> 8;
}

void bc_tq1_0_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    int64_t nb = w->K / 256;
    const uint8_t *row = w->data + (size_t)(m * nb * TQ1_BLOCK);
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *qs = row + b * TQ1_BLOCK, *qh = qs + 48;
        int8_t *o = out + b * 256;
        for (int k = 0; k < 5; k++) {
            for (int j = 0; j < 32; j++) o[32 * k + j] = (int8_t)(tq1_digit(qs[j], k) - 1);
            for (int j = 0; j < 16; j++) o[160 + 16 * k + j] = (int8_t)(tq1_digit(qs[32 + j], k) - 1);
        }
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 4; j++) o[240 + 4 * k + j] = (int8_t)(tq1_digit(qh[j], k) - 1);
    }
}

void bc_tq1_0_matmul_scalar(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                            int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    (void)xsum;
    bc_matmul_by_rows(w, bc_tq1_0_decode_row, x, N, y, ldy, m0, m1);
}

void bc_tq1_0_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                          int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_tq1_0_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}

void bc_tq1_0_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                            int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_tq1_0_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}
