/* The float GEMM of the float reference path (--float-ref, and verify's checkpoint reference file):
 * y[n][m] = sum_k W[m][k] * x[n][k] in f32 FMA, for the BitLinear products that the integer path
 * computes with the ternary kernels.
 *
 * Blocking (the integer engine's threading: the caller splits rows between threads in units): a unit
 * is taken in blocks of GEMM_F32_MC = 256 rows (ternary codes decoded once per block) and each block in
 * column slices of GEMM_F32_KC = 256. For a slice, each GEMM_F32_MR = 32-row panel of the block is
 * converted to f32 (a file's F32 / F16 / BF16 values or the codes, times the tensor's scale) and packed
 * k-major, a[k * 32 + r] (32 KB, in L1), then meets every group of GEMM_F32_NR = 12 tokens in turn: the
 * activations are packed once per call, k-major per group, b[k * 12 + t], and the slice of all tokens
 * (512 tokens: 512 KB) stays in L2 while the block's 8 panels pass. So every weight is converted once
 * per call and reused by every token. The micro-kernel keeps 12 tokens x 32 rows of sums in registers:
 * per column two loads of 16 weights, 12 broadcast tokens, 24 FMAs (AVX-512: 24 zmm; AVX2 and NEON take
 * the tile in four passes). Rows are the vector dimension, so the sums are added to y (token-major,
 * rows contiguous) with whole-vector stores.
 * The scalar version is the portable reference; results agree with it to float rounding (the
 * summation order differs by ISA), which test_gemm_f32 checks against a double-precision sum. */
#ifndef BITCONV_GEMM_F32_H
#define BITCONV_GEMM_F32_H
#include "kernels.h"
#include <stddef.h>
#include <stdint.h>

#define GEMM_F32_MR 32    /* weight rows per packed panel */
#define GEMM_F32_NR 12    /* tokens per packed activation group */
#define GEMM_F32_KC 256   /* columns per slice: a panel slice is 32 x 256 x 4 B = 32 KB */
#define GEMM_F32_MC 256   /* rows per block: each column slice of the tokens is reused by 8 panels */
#define GEMM_F32_MIN_N 4  /* below: one dot product per row and token (decode) */

/* the weights' `type` when their rows are ternary codes written by a callback */
#define GEMM_F32_CODES (-1)

/* W = scale * V: V's rows are F32, F16 or BF16 values (BC_GGML_*), row_bytes apart from data, or int8
 * codes that codes(ctx, m, out) writes (type GEMM_F32_CODES). */
typedef struct {
    int type;
    const uint8_t *data;
    size_t row_bytes;
    void (*codes)(const void *ctx, int64_t m, int8_t *out);
    const void *ctx;
    float scale;
} gemm_f32_weights;

/* Floats of the packed activations of N tokens of K values. */
size_t gemm_f32_packed_floats(int64_t N, int64_t K);
/* Token n's row x[0..K) into the packed activations px (each token independently: rows may be packed
 * by different threads). px[((n / NR) * K + k) * NR + n % NR] = x[k]. */
void gemm_f32_pack_row(const float *x, int64_t n, int64_t K, float *px);
/* Per-thread scratch floats for rows of K values. */
size_t gemm_f32_scratch_floats(int64_t K);

/* y[n * ldy + m] = sum_k W[m][k] * x[n * K + k] for n < N, m in [m0, m1). x row-major; px the same
 * activations packed (gemm_f32_pack_row; unused when N < GEMM_F32_MIN_N). isa is the one to use
 * (already capped to the CPU's). */
void gemm_f32(bc_isa isa, const gemm_f32_weights *w, int64_t K, const float *x, const float *px, int64_t N, float *y,
              size_t ldy, int64_t m0, int64_t m1, float *scratch);

#endif
