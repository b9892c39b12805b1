/* TQ2_0 (layouts.md section 2): 66-byte blocks of 256 weights along K: qs[64] then f16 d (ignored:
 * the loader folds d into the tensor scale). Element e of a block sits in byte (e/128)*32 + e%32 at
 * shift 2*((e%128)/32); code c = T + 1. */
#include "simd.h"

#define TQ2_BLOCK 66

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

void bc_tq2_0_matmul_scalar(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                            int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    (void)xsum;
    bc_matmul_by_rows(w, bc_tq2_0_decode_row, x, N, y, ldy, m0, m1);
}

void bc_tq2_0_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                          int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_tq2_0_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}

void bc_tq2_0_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                            int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_tq2_0_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}
