/* Float vector helpers of the runtime (not the ternary kernels): dot products, half-precision rows and
 * the output head. Each has a scalar, an AVX2 (+FMA, F16C) and an AVX-512 version; vec_init picks one. */
#ifndef BITCONV_VEC_H
#define BITCONV_VEC_H
#include "kernels.h"
#include <stddef.h>
#include <stdint.h>

/* Selects implementations for isa (capped by what the CPU has); returns the ISA actually used. */
bc_isa vec_init(bc_isa isa);

float vec_dot(const float *a, const float *b, int n);
void vec_axpy(float *y, float a, const float *x, int n); /* y += a * x */

/* Converts n F16 / BF16 values (unaligned little-endian bytes) to f32. */
void vec_f16_row(const uint8_t *src, float *dst, int n);
void vec_bf16_row(const uint8_t *src, float *dst, int n);

/* Four dot products of one f32 vector with four f32 rows (rows r0..r3 of a tile). */
void vec_dot4(const float *r0, const float *r1, const float *r2, const float *r3, const float *x, int n, float out[4]);

/* out[i] = dot(F16 row i, x) for i < rows; rows are row_bytes apart (GEMV for one decoded token). */
void vec_gemv_f16(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out);

/* Q8_0 activations: x quantized per 32-block (q: int8[n], d: float[n/32]). */
void vec_quantize_q8(const float *x, int n, int8_t *q, float *d);
/* dot of one Q8_0 row (34-byte blocks) with Q8 activations, n a multiple of 32. */
float vec_dot_q8_0(const uint8_t *row, const int8_t *q, const float *d, int n);

#endif
