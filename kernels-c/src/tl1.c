/* TL1 (layouts.md section 5): tiles BM x BK; one byte = (idx[m][j0] << 4) | idx[m][j0+1] for 4
 * neighbouring weights of one row, idx = 3*T0 + T1 + 4. Byte order (by = 256/bm):
 *   iM, iK, ib (BM/bm), iy (BK/by), ir (bm/16), ip (by/4), r (16):
 *   row m = iM*BM + ib*bm + ir*16 + r, weights iK*BK + iy*by + 4*ip .. +3. */
#include "simd.h"

void bc_tl1_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    int64_t K = w->K, BM = w->BM, BK = w->BK, bm = w->bm, by = 256 / bm;
    int64_t iM = m / BM, rr = m % BM, ib = rr / bm, ir = (rr % bm) / 16, r = rr % 16;
    for (int64_t k = 0; k < K; k += 4) {
        int64_t iK = k / BK, kk = k % BK, iy = kk / by, ip = (kk % by) / 4;
        int64_t off = (((((iM * (K / BK) + iK) * (BM / bm) + ib) * (BK / by) + iy) * (bm / 16) + ir) * (by / 4) + ip) * 16 + r;
        uint8_t b = w->data[off];
        int i0 = b >> 4, i1 = b & 15;
        out[k + 0] = (int8_t)(i0 / 3 - 1);
        out[k + 1] = (int8_t)(i0 % 3 - 1);
        out[k + 2] = (int8_t)(i1 / 3 - 1);
        out[k + 3] = (int8_t)(i1 % 3 - 1);
    }
}

void bc_tl1_matmul_scalar(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                          int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    (void)xsum;
    bc_matmul_by_rows(w, bc_tl1_decode_row, x, N, y, ldy, m0, m1);
}

void bc_tl1_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                        int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_tl1_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}

void bc_tl1_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                          int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_tl1_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}
