/* The i8mm (SMMLA) batched GEMM of the row-major ternary layouts (tq1_0.c, tq2_0.c, i2_s.c; dot_arm.h),
 * the aarch64 counterpart of gemm.c. SMMLA multiplies a 2 x 8 int8 matrix by the transpose of another:
 * acc[2i + j] += sum_k A[i][k] * B[j][k]. A holds two weight rows, B two tokens, both over the same 8
 * columns, so one instruction does 2 rows x 2 tokens x 8 columns = 32 multiply-adds (SDOT: 16).
 *
 * Layout: activations are packed once per call in token pairs, xp[j*2K + (k/8)*16 + t*8 + k%8] =
 * x[2j + t][k] (an odd N's last pair has a zero partner). Weights are decoded 8 rows at a time, KC
 * columns per chunk, into codes c = T + 1 (the layout's NEON decode), then interleaved into a panel
 * pan[(k/8)*64 + p*16 + r*8 + k%8] = c(row 2p + r, k) (8 KB, stays in L1). The micro-kernel takes 8 rows
 * x 8 tokens: per 8 columns 4 panel loads, 4 activation loads, 16 SMMLA into 16 accumulators. Every sum
 * is an exact int32 (|c*x| <= 256, K < 2^23), so the result equals the scalar reference bit for bit. */
#if defined(__aarch64__)
#include "dot_arm.h"
#include <string.h>

#define ROWS 8   /* rows per panel: 4 SMMLA row pairs */
#define PAIRS 4  /* token pairs per micro-kernel pass */
#define KC 1024  /* columns per panel chunk (a multiple of 256: whole blocks of every layout) */

/* xp as above, for tokens [0, N) of x (K columns each, K % 8 == 0) */
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

/* out[t][r] = sum over the chunk of c(row r) * x(token t), for np token pairs (np constant after inlining) */
static inline __attribute__((always_inline)) BC_TARGET_I8MM void smmla_tile(const int8_t *pan, int64_t kc, const int8_t *xp,
                                                                            int64_t xstride, int np, int32_t out[2 * PAIRS][ROWS]) {
    int32x4_t acc[PAIRS][4];
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

/* rows [m, m + rows) of the panel's chunk [k0, k0 + kc): decoded, zero-padded to 8 rows, interleaved */
static void fill_panel(const bc_ternary *w, bc_arm_codes_fn codes, int64_t rowbytes, int64_t bytes256, int64_t m,
                       int rows, int64_t k0, int64_t kc, int8_t *rc, int8_t *pan) {
    for (int r = 0; r < ROWS; r++) {
        if (r < rows) codes(w->data + (m + r) * rowbytes + k0 / 256 * bytes256, kc, rc + r * KC);
        else memset(rc + r * KC, 0, (size_t)kc);
    }
    for (int64_t k8 = 0; k8 < kc / 8; k8++)
        for (int p = 0; p < 4; p++)
            vst1q_s8(pan + k8 * 64 + 16 * p, vcombine_s8(vld1_s8(rc + 2 * p * KC + 8 * k8), vld1_s8(rc + (2 * p + 1) * KC + 8 * k8)));
}

void BC_TARGET_I8MM bc_arm_gemm_i8mm(const bc_ternary *w, bc_arm_codes_fn codes, int64_t rowbytes, int64_t bytes256,
                                     const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0,
                                     int64_t m1) {
    int64_t K = w->K, NP = (N + 1) / 2;
    int8_t *pan = bc_scratch(0, (size_t)ROWS * KC), *xp = bc_scratch(1, (size_t)(NP * 2 * K));
    int8_t *rc = bc_scratch(2, (size_t)ROWS * KC);
    if (!pan || !xp || !rc) abort();
    pack_pairs(x, N, K, xp);
    for (int64_t m = m0; m < m1; m += ROWS) {
        int rows = (int)(m1 - m < ROWS ? m1 - m : ROWS);
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            fill_panel(w, codes, rowbytes, bytes256, m, rows, k0, kc, rc, pan);
            for (int64_t j0 = 0; j0 < NP; j0 += PAIRS) {
                int32_t out[2 * PAIRS][ROWS];
                const int8_t *xj = xp + j0 * 2 * K + 2 * k0;
                switch (NP - j0 < PAIRS ? NP - j0 : PAIRS) { /* constant trip counts: accumulators in registers */
                case 1: smmla_tile(pan, kc, xj, 2 * K, 1, out); break;
                case 2: smmla_tile(pan, kc, xj, 2 * K, 2, out); break;
                case 3: smmla_tile(pan, kc, xj, 2 * K, 3, out); break;
                default: smmla_tile(pan, kc, xj, 2 * K, 4, out); break;
                }
                for (int t = 0; t < 2 * PAIRS && 2 * j0 + t < N; t++) {
                    int64_t n = 2 * j0 + t;
                    int32_t *yn = y + n * ldy + m;
                    for (int r = 0; r < rows; r++) yn[r] = k0 == 0 ? out[t][r] - xsum[n] : yn[r] + out[t][r];
                }
            }
        }
    }
}
#endif
