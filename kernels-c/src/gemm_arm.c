/* The batched GEMMs (prefill) of the row-major ternary layouts on aarch64 (tq1_0.c, tq2_0.c, i2_s.c;
 * dot_arm.h), the counterpart of gemm.c. Both decode a few rows KC columns at a time into codes
 * c = T + 1 (the layout's NEON decode), rearrange them into a panel that stays in L1, and run every
 * token of the batch past it; every sum is an exact int32 (|c*x| <= 256, K < 2^23), so the results
 * equal the scalar reference bit for bit.
 *
 * dotprod (SDOT): 16 rows per panel, pan[(k/4)*64 + q*16 + i*4 + k%4] = c(row 4q + i, k): a 16-byte
 * load is 4 rows x 4 columns, and SDOT against the token's 4 activations broadcast (ld1r) leaves one
 * row's sum in each lane, as vpdpbusd does in gemm.c. 16 rows x 4 tokens per micro-kernel: per 4
 * columns 4 panel loads, 4 broadcasts and 16 SDOT, no horizontal sums.
 *
 * i8mm (SMMLA): SMMLA multiplies a 2 x 8 int8 matrix by the transpose of another, acc[2i + j] +=
 * sum_k A[i][k] * B[j][k]: A two weight rows, B two tokens over the same 8 columns, 32 multiply-adds
 * per instruction (SDOT: 16). 8 rows per panel, pan[(k/8)*64 + p*16 + r*8 + k%8] = c(row 2p + r, k);
 * activations packed once per call in token pairs, xp[j*2K + (k/8)*16 + t*8 + k%8] = x[2j + t][k] (an
 * odd N's last pair has a zero partner, never stored). 8 rows x 8 tokens per micro-kernel: per 8
 * columns 4 panel loads, 4 activation loads and 16 SMMLA into 16 accumulators. */
#if defined(__aarch64__)
#include "dot_arm.h"
#include <string.h>

#define KC 1024 /* columns per panel chunk (a multiple of 256: whole blocks of every layout) */

typedef struct { const bc_ternary *w; bc_arm_codes_fn codes; int64_t rowbytes, bytes256; } rows_src;

/* rc[r*KC + k] = the codes of row m + r, columns [k0, k0 + kc), for r < R (rows >= `rows` are 0) */
static void decode_rows(const rows_src *s, int64_t m, int rows, int R, int64_t k0, int64_t kc, int8_t *rc) {
    for (int r = 0; r < R; r++) {
        if (r < rows) s->codes(s->w->data + (m + r) * s->rowbytes + k0 / 256 * s->bytes256, kc, rc + r * KC);
        else memset(rc + r * KC, 0, (size_t)kc);
    }
}

/* y[t*ldy + r] = out[t*R + r] - xsum[t] on the first chunk, += out after, for t < nt, r < rows */
static void store_tile(const int32_t *out, int R, int nt, int rows, int first, const int32_t *xsum, int32_t *y, int64_t ldy) {
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < rows; r++) y[t * ldy + r] = first ? out[t * R + r] - xsum[t] : y[t * ldy + r] + out[t * R + r];
}

/* ---- dotprod ---- */
#define DROWS 16
#define DTOKENS 4

/* 4 rows x 16 columns of rc -> the 4 panel vectors of columns k..k+3, ..., k+12..k+15 (a 4 x 4
 * transpose of 32-bit groups) */
static void panel_dotprod(const int8_t *rc, int64_t kc, int8_t *pan) {
    for (int q = 0; q < 4; q++)
        for (int64_t k = 0; k < kc; k += 16) {
            int32x4_t r0 = vreinterpretq_s32_s8(vld1q_s8(rc + (4 * q) * KC + k)), r1 = vreinterpretq_s32_s8(vld1q_s8(rc + (4 * q + 1) * KC + k));
            int32x4_t r2 = vreinterpretq_s32_s8(vld1q_s8(rc + (4 * q + 2) * KC + k)), r3 = vreinterpretq_s32_s8(vld1q_s8(rc + (4 * q + 3) * KC + k));
            int64x2_t t0 = vreinterpretq_s64_s32(vtrn1q_s32(r0, r1)), t1 = vreinterpretq_s64_s32(vtrn2q_s32(r0, r1));
            int64x2_t t2 = vreinterpretq_s64_s32(vtrn1q_s32(r2, r3)), t3 = vreinterpretq_s64_s32(vtrn2q_s32(r2, r3));
            int8_t *o = pan + (k / 4) * 64 + 16 * q;
            vst1q_s8(o, vreinterpretq_s8_s64(vtrn1q_s64(t0, t2)));
            vst1q_s8(o + 64, vreinterpretq_s8_s64(vtrn1q_s64(t1, t3)));
            vst1q_s8(o + 128, vreinterpretq_s8_s64(vtrn2q_s64(t0, t2)));
            vst1q_s8(o + 192, vreinterpretq_s8_s64(vtrn2q_s64(t1, t3)));
        }
}

/* out[t][r] = sum over the chunk of c(row r) * x(token t) for nt tokens (constant after inlining) */
static inline __attribute__((always_inline)) BC_TARGET_DOTPROD void sdot_tile(const int8_t *pan, int64_t kc, const int8_t *x, int64_t K,
                                                                              int nt, int32_t out[DTOKENS][DROWS]) {
    int32x4_t acc[DTOKENS][4];
    for (int t = 0; t < nt; t++)
        for (int q = 0; q < 4; q++) acc[t][q] = vdupq_n_s32(0);
    for (int64_t k4 = 0; k4 < kc / 4; k4++) {
        const int8_t *pk = pan + k4 * 64;
        int8x16_t W0 = vld1q_s8(pk), W1 = vld1q_s8(pk + 16), W2 = vld1q_s8(pk + 32), W3 = vld1q_s8(pk + 48);
        for (int t = 0; t < nt; t++) {
            int32_t v;
            memcpy(&v, x + t * K + 4 * k4, 4);
            int8x16_t X = vreinterpretq_s8_s32(vdupq_n_s32(v));
            BC_SDOT(acc[t][0], W0, X);
            BC_SDOT(acc[t][1], W1, X);
            BC_SDOT(acc[t][2], W2, X);
            BC_SDOT(acc[t][3], W3, X);
        }
    }
    for (int t = 0; t < nt; t++)
        for (int q = 0; q < 4; q++) vst1q_s32(&out[t][4 * q], acc[t][q]);
}

void BC_TARGET_DOTPROD bc_arm_gemm_dotprod(const bc_ternary *w, bc_arm_codes_fn codes, int64_t rowbytes, int64_t bytes256,
                                           const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0,
                                           int64_t m1) {
    const rows_src src = {w, codes, rowbytes, bytes256};
    int64_t K = w->K;
    int8_t *pan = bc_scratch(0, (size_t)DROWS * KC), *rc = bc_scratch(2, (size_t)DROWS * KC);
    if (!pan || !rc) abort();
    for (int64_t m = m0; m < m1; m += DROWS) {
        int rows = (int)(m1 - m < DROWS ? m1 - m : DROWS);
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            decode_rows(&src, m, rows, DROWS, k0, kc, rc);
            panel_dotprod(rc, kc, pan);
            for (int64_t n0 = 0; n0 < N; n0 += DTOKENS) {
                int32_t out[DTOKENS][DROWS];
                int nt = (int)(N - n0 < DTOKENS ? N - n0 : DTOKENS);
                const int8_t *xn = x + n0 * K + k0;
                switch (nt) { /* constant trip counts: accumulators in registers */
                case 1: sdot_tile(pan, kc, xn, K, 1, out); break;
                case 2: sdot_tile(pan, kc, xn, K, 2, out); break;
                case 3: sdot_tile(pan, kc, xn, K, 3, out); break;
                default: sdot_tile(pan, kc, xn, K, 4, out); break;
                }
                store_tile(&out[0][0], DROWS, nt, rows, k0 == 0, xsum + n0, y + n0 * ldy + m, ldy);
            }
        }
    }
}

/* ---- i8mm ---- */
#define IROWS 8
#define IPAIRS 4

static void pack_pairs(const int8_t *x, int64_t N, int64_t K, int8_t *xp) {
    for (int64_t j = 0; j < (N + 1) / 2; j++) {
        const int8_t *a = x + 2 * j * K, *b = 2 * j + 1 < N ? a + K : NULL;
        int8_t *o = xp + j * 2 * K;
        for (int64_t k8 = 0; k8 < K / 8; k8++) {
            vst1_s8(o + 16 * k8, vld1_s8(a + 8 * k8));
            vst1_s8(o + 16 * k8 + 8, b ? vld1_s8(b + 8 * k8) : vdup_n_s8(0));
        }
    }
}

static void panel_i8mm(const int8_t *rc, int64_t kc, int8_t *pan) {
    for (int64_t k8 = 0; k8 < kc / 8; k8++)
        for (int p = 0; p < 4; p++)
            vst1q_s8(pan + k8 * 64 + 16 * p, vcombine_s8(vld1_s8(rc + 2 * p * KC + 8 * k8), vld1_s8(rc + (2 * p + 1) * KC + 8 * k8)));
}

/* out[t][r] for np token pairs (np constant after inlining) */
static inline __attribute__((always_inline)) BC_TARGET_I8MM void smmla_tile(const int8_t *pan, int64_t kc, const int8_t *xp,
                                                                            int64_t xstride, int np, int32_t out[2 * IPAIRS][IROWS]) {
    int32x4_t acc[IPAIRS][4];
    for (int j = 0; j < np; j++)
        for (int p = 0; p < 4; p++) acc[j][p] = vdupq_n_s32(0);
    for (int64_t k8 = 0; k8 < kc / 8; k8++) {
        const int8_t *pk = pan + k8 * 64;
        int8x16_t W0 = vld1q_s8(pk), W1 = vld1q_s8(pk + 16), W2 = vld1q_s8(pk + 32), W3 = vld1q_s8(pk + 48);
        for (int j = 0; j < np; j++) {
            int8x16_t X = vld1q_s8(xp + j * xstride + k8 * 16);
            BC_SMMLA(acc[j][0], W0, X);
            BC_SMMLA(acc[j][1], W1, X);
            BC_SMMLA(acc[j][2], W2, X);
            BC_SMMLA(acc[j][3], W3, X);
        }
    }
    /* acc[j][p] = [row 2p x token 2j, row 2p x 2j+1, row 2p+1 x 2j, row 2p+1 x 2j+1] */
    for (int j = 0; j < np; j++)
        for (int p = 0; p < 4; p += 2) {
            vst1q_s32(&out[2 * j][2 * p], vuzp1q_s32(acc[j][p], acc[j][p + 1]));
            vst1q_s32(&out[2 * j + 1][2 * p], vuzp2q_s32(acc[j][p], acc[j][p + 1]));
        }
}

void BC_TARGET_I8MM bc_arm_gemm_i8mm(const bc_ternary *w, bc_arm_codes_fn codes, int64_t rowbytes, int64_t bytes256,
                                     const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0,
                                     int64_t m1) {
    const rows_src src = {w, codes, rowbytes, bytes256};
    int64_t K = w->K, NP = (N + 1) / 2;
    int8_t *pan = bc_scratch(0, (size_t)IROWS * KC), *xp = bc_scratch(1, (size_t)(NP * 2 * K));
    int8_t *rc = bc_scratch(2, (size_t)IROWS * KC);
    if (!pan || !xp || !rc) abort();
    pack_pairs(x, N, K, xp);
    for (int64_t m = m0; m < m1; m += IROWS) {
        int rows = (int)(m1 - m < IROWS ? m1 - m : IROWS);
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            decode_rows(&src, m, rows, IROWS, k0, kc, rc);
            panel_i8mm(rc, kc, pan);
            for (int64_t j0 = 0; j0 < NP; j0 += IPAIRS) {
                int32_t out[2 * IPAIRS][IROWS];
                const int8_t *xj = xp + j0 * 2 * K + 2 * k0;
                switch (NP - j0 < IPAIRS ? NP - j0 : IPAIRS) {
                case 1: smmla_tile(pan, kc, xj, 2 * K, 1, out); break;
                case 2: smmla_tile(pan, kc, xj, 2 * K, 2, out); break;
                case 3: smmla_tile(pan, kc, xj, 2 * K, 3, out); break;
                default: smmla_tile(pan, kc, xj, 2 * K, 4, out); break;
                }
                int nt = (int)(N - 2 * j0 < 2 * IPAIRS ? N - 2 * j0 : 2 * IPAIRS);
                store_tile(&out[0][0], IROWS, nt, rows, k0 == 0, xsum + 2 * j0, y + 2 * j0 * ldy + m, ldy);
            }
        }
    }
}
#endif
