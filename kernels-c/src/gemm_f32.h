/* The float GEMM of the float reference path (--float-ref): y[n][m] = sum_k W[m][k] * x[n][k] in f32
 * FMA, for the BitLinear products that the integer path computes with the ternary kernels.
 *
 * Blocking mirrors the integer engine (kernels.c): the caller splits rows between threads in units;
 * within a unit, GEMM_F32_MC rows are turned into f32 once (from ternary codes or a file's float
 * weights) and packed k-major in micro-tiles of GEMM_F32_MR rows; the activations are packed once per
 * call in panels of GEMM_F32_NT tokens, k-major; for each GEMM_F32_KC-column slice every token panel
 * (32 KB, in L1) meets every micro-tile of the block (in L2), and a micro-kernel keeps a
 * MR x NT block of sums in registers (AVX-512: 12 x 32 in 24 zmm; AVX2: 3 x 32 at a time).
 * The scalar version is the portable reference; results agree with it to float rounding (the
 * summation order differs by ISA), which test_gemm_f32 checks against a double-precision sum. */
#ifndef BITCONV_GEMM_F32_H
#define BITCONV_GEMM_F32_H
#include "kernels.h"
#include <stddef.h>
#include <stdint.h>

#define GEMM_F32_NT 32    /* tokens per packed activation panel */
#define GEMM_F32_MR 12    /* weight rows per micro-tile */
#define GEMM_F32_MC 48    /* weight rows converted to f32 at a time (per thread) */
#define GEMM_F32_KC 256   /* columns per slice: a token panel slice is 256 x 32 x 4 B = 32 KB */
#define GEMM_F32_MIN_N 4  /* below: one dot product per row and token (decode) */

/* Writes row m of W as K f32 values (any scale already applied). */
typedef void (*gemm_f32_row_fn)(const void *src, int64_t m, float *out);

/* Floats of the packed activations of N tokens of K values. */
size_t gemm_f32_packed_floats(int64_t N, int64_t K);
/* Token n's row x[0..K) into the packed activations px (each token independently: rows may be packed
 * by different threads). px[((n / NT) * K + k) * NT + n % NT] = x[k]. */
void gemm_f32_pack_row(const float *x, int64_t n, int64_t K, float *px);
/* Per-thread scratch floats for rows of K values. */
size_t gemm_f32_scratch_floats(int64_t K);

/* y[n * ldy + m] = sum_k W[m][k] * x[n * K + k] for n < N, m in [m0, m1). x row-major; px the same
 * activations packed (gemm_f32_pack_row; unused when N < GEMM_F32_MIN_N). isa is the one to use
 * (already capped to the CPU's). */
void gemm_f32(bc_isa isa, gemm_f32_row_fn row, const void *src, int64_t K, const float *x, const float *px, int64_t N,
              float *y, size_t ldy, int64_t m0, int64_t m1, float *scratch);

#endif
