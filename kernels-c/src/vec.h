/* Float vector helpers of the runtime (not the ternary kernels), by file: vec_norm.c (dots, F16/BF16 rows,
 * norms, activations, activation quantization), vec_attention.c (scores, weighted sums, softmax),
 * vec_head.c (the output head's F16 / Q8_0 GEMVs), vec_q8.c (Q8_0 activations, the Q8_0x16 repack).
 * Each has a scalar version, x86 AVX2 (+FMA, F16C) / AVX-512 ones and aarch64 NEON ones (dotprod for the
 * Q8_0 dots); vec_init (vec.c) picks one. */
#ifndef BITCONV_VEC_H
#define BITCONV_VEC_H
#include "kernels.h"
#include <stddef.h>
#include <stdint.h>

/* Selects implementations for isa (capped by what the CPU has); returns the ISA actually used
 * (-1, and scalar selected, for another architecture's ISA). */
bc_isa vec_init(bc_isa isa);
/* each file's part of vec_init (isa already usable on this CPU) */
void vec_norm_select(bc_isa isa);
void vec_attention_select(bc_isa isa);
void vec_head_select(bc_isa isa);
void vec_q8_select(bc_isa isa);

float vec_dot(const float *a, const float *b, int n);

/* Converts n F16 / BF16 values (unaligned little-endian bytes) to f32. */
void vec_f16_row(const uint8_t *src, float *dst, int n);
void vec_bf16_row(const uint8_t *src, float *dst, int n);

/* out[i] = dot(F16 row i, x) for i < rows; rows are row_bytes apart (GEMV for one decoded token). */
void vec_gemv_f16(const uint8_t *w, size_t row_bytes, int rows, const float *x, int n, float *out);

/* BitNet's per-token activation quantization of one row: s = 127 / max(max|x|, 1e-5),
 * q = clamp(round_half_even(x * s), -128, 127); returns s, and the sum of q in *sum. Every ISA gives the
 * same bytes. */
float vec_quantize_act(const float *x, int n, int8_t *q, int32_t *sum);

/* sum of squares, accumulated in double */
double vec_sumsq(const float *x, int n);

/* Attention of G query heads (q: G x hd, contiguous) that share one kv head, over T cached positions.
 * kt is that kv head's keys transposed, kt[d * kt_stride + t], so the scores of 16 positions come out of
 * one vector without horizontal sums: scores[g * sc_stride + t] = dot(q_g, k_t) * scale.
 * v rows are v_stride floats apart: out[g * hd + d] = sum_t p[g * p_stride + t] * v_t[d]. */
void vec_scores_t(const float *q, int G, int hd, const float *kt, size_t kt_stride, int T, float scale, float *scores, size_t sc_stride);
void vec_weighted_sum_g(const float *p, size_t p_stride, int G, const float *v, size_t v_stride, int hd, int T, float *out);

/* In place: x = softmax(x) (max-subtracted, float32). */
void vec_softmax(float *x, int n);
/* log(sum_j exp(x_j)), the sums in double (perplexity's log-softmax). */
double vec_log_sum_exp(const float *x, int n);

/* out[r * out_row_stride + t * out_vec_stride] = dot(row r, vector t) for 4 f32 rows of length n and
 * nt <= 4 vectors. */
void vec_dot4xn(const float *rows, size_t row_stride, const float *xs, size_t x_stride, int nt, int n, float *out,
                size_t out_row_stride, size_t out_vec_stride);

/* g = relu(g)^2 * u (relu2 = 1) or g = silu(g) * u (relu2 = 0), n values */
void vec_glu(float *g, const float *u, int n, int relu2);
/* y[m] = (float)acc[m] / xs * ws for m < n: a BitLinear output from the exact integer sums, computed
 * in exactly this order (a division, then a product) on every path */
void vec_dequant(const int32_t *acc, int n, float xs, float ws, float *y);

/* y[i] = w[i] * (x[i] * r) (RMSNorm's last step, in place allowed); y[i] += x[i] (the residual) */
void vec_norm_apply(float *y, const float *x, const float *w, float r, int n);
void vec_add(float *y, const float *x, int n);

/* One block of the output head for many tokens: out[r * 32 + t] = dot(rows[r], token t) for r < nr
 * (nr <= VEC_HB_ROWS, f32 rows of length n, row stride n) and 32 tokens packed k-major,
 * ph[k * 32 + t] (unused lanes zero). */
#define VEC_HB_ROWS 12
#define VEC_HB_TOKENS 32
void vec_head_block(const float *rows, int nr, const float *ph, int n, float *out);

/* Q8_0 activations: x quantized per 32-block (q: int8[n], d: float[n/32]). */
void vec_quantize_q8(const float *x, int n, int8_t *q, float *d);
/* out[r] = dot(Q8_0 row r, Q8 activations) for rows rows row_bytes apart (GEMV for one decoded token). */
void vec_gemv_q8_0(const uint8_t *w, size_t row_bytes, int rows, const int8_t *q, const float *d, int n, float *out);
/* dot of one Q8_0 row (34-byte blocks) with Q8 activations, n a multiple of 32. */
float vec_dot_q8_0(const uint8_t *row, const int8_t *q, const float *d, int n);

/* Q8_0x16: a Q8_0 matrix (rows x n) repacked in memory for the decode GEMV of a Q8_0 output head.
 * Tiles of 16 rows; tile t, 32-block b lies at (t * n/32 + b) * VEC_Q8X16_BLOCK: 512 code bytes, the
 * byte of row r, column 4g + i (g < 8, i < 4) at 64g + 4r + i, stored as w ^ 0x80 (= w + 128 as
 * unsigned), then the 16 rows' f16 scales. Same size as Q8_0; rows past the end are zero.
 * AVX-512 VNNI and aarch64 dotprod / i8mm have a kernel for it (vec_has_q8_0x16); elsewhere (AVX2,
 * plain NEON, scalar) the row-major Q8_0 path is used. */
#define VEC_Q8X16_BLOCK (16 * 34)
#define VEC_Q8X16_MAX_N 32768
size_t vec_q8_0x16_bytes(int64_t rows, int n);
/* tiles [t0, t1) of dst from the Q8_0 rows w (row_bytes apart) */
void vec_repack_q8_0x16(const uint8_t *w, size_t row_bytes, int64_t rows, int n, int64_t t0, int64_t t1, uint8_t *dst);
int vec_has_q8_0x16(void);
/* out[k * ostride + r] = dot(row r, token k) for the rows of tiles [t0, t1) below `rows`, tokens k < nt:
 * q + k*n, d + k*(n/32) as from vec_quantize_q8; n <= VEC_Q8X16_MAX_N */
void vec_gemv_q8_0x16(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int nt, const int8_t *q, const float *d,
                      float *out, size_t ostride);
/* the portable reference of the same (for the tests) */
void vec_gemv_q8_0x16_reference(const uint8_t *p, int64_t t0, int64_t t1, int64_t rows, int n, int nt, const int8_t *q,
                                const float *d, float *out, size_t ostride);

#endif
