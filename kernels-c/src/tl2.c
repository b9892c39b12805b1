/* TL2 (layouts.md section 6): bm = 32, columns < K3 = K - K%BK in triples t = 9*T0 + 3*T1 + T2
 * stored as a magnitude nibble stream, then sign units, then a TL1-like 2-weight tail over the last
 * K2 = K%BK columns. PERM = [0,2,1,3] swaps 8-row groups 1 and 2 of every 32-row chunk. */
#include "simd.h"

static const int PERM[4] = {0, 2, 1, 3};

bc_tl2_geom bc_tl2_geometry(const bc_ternary *w) {
    bc_tl2_geom g;
    int64_t M = w->M, K = w->K;
    g.K2 = K % w->BK;
    g.K3 = K - g.K2;
    g.mag_off = 0;
    g.sign_off = M * g.K3 / 6;
    g.tail_off = g.sign_off + M * g.K3 / 24;
    g.end = g.tail_off + M * g.K2 / 4;
    return g;
}

void bc_tl2_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    int64_t BM = w->BM, BK = w->BK;
    bc_tl2_geom g = bc_tl2_geometry(w);
    int64_t iM = m / BM, rr = m % BM, ib = rr / 32, r32 = rr % 32;
    int64_t p = PERM[r32 / 8] * 8 + r32 % 8; /* PERM is its own inverse */
    int64_t nK = g.K3 / BK;
    const uint8_t *d = w->data;
    for (int64_t t = 0; t < g.K3 / 3; t++) { /* triple t covers columns 3t..3t+2 */
        int64_t iK = t / (BK / 3), tl = t % (BK / 3), iy = tl / 2;
        int64_t moff = g.mag_off + (((iM * nK + iK) * (BM / 32) + ib) * (BK / 6) + iy) * 32 + p;
        int mag = (tl % 2 == 0) ? d[moff] >> 4 : d[moff] & 15;
        int64_t ig = tl / 8, i = 2 * (tl % 8) + r32 / 16, c = r32 % 16;
        int64_t soff = g.sign_off + ((((iM * nK + iK) * (BM / 32) + ib) * (BK / 24) + ig) * 32) + 2 * c;
        unsigned word = (unsigned)d[soff] | (unsigned)d[soff + 1] << 8;
        int s = (word >> (15 - i)) & 1;
        int u = (s ? -mag : mag) + 13;
        out[3 * t + 0] = (int8_t)(u / 9 - 1);
        out[3 * t + 1] = (int8_t)((u / 3) % 3 - 1);
        out[3 * t + 2] = (int8_t)(u % 3 - 1);
    }
    int64_t nK2 = g.K2 / 32;
    for (int64_t j = 0; j < g.K2 / 2; j += 2) { /* pairs j, j+1: columns K3 + 2j .. K3 + 2j + 3 */
        int64_t iK2 = j / 16, iy = (j % 16) / 2;
        int64_t off = g.tail_off + (((iM * nK2 + iK2) * (BM / 32) + ib) * 8 + iy) * 32 + p;
        uint8_t b = d[off];
        int i0 = b >> 4, i1 = b & 15;
        int8_t *o = out + g.K3 + 2 * j;
        o[0] = (int8_t)(i0 / 3 - 1);
        o[1] = (int8_t)(i0 % 3 - 1);
        o[2] = (int8_t)(i1 / 3 - 1);
        o[3] = (int8_t)(i1 % 3 - 1);
    }
}

void bc_tl2_matmul_scalar(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                          int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    (void)xsum;
    bc_matmul_by_rows(w, bc_tl2_decode_row, x, N, y, ldy, m0, m1);
}

void bc_tl2_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                        int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_tl2_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}

void bc_tl2_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                          int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    bc_tl2_matmul_scalar(w, x, xsum, N, y, ldy, m0, m1);
}
