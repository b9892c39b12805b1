/* Ternary matmul kernels: one file per layout (tq1_0.c, tq2_0.c, i2_s.c, tl1.c, tl2.c), each with a
 * portable scalar reference and AVX2 / AVX-512 paths; kernels.c picks one at run time (cpuid).
 * Every path computes the same exact integers: y[n][m] = sum_k T[m][k] * x[n][k]. */
#ifndef BITCONV_KERNELS_H
#define BITCONV_KERNELS_H
#include <stdint.h>
#include <stddef.h>

typedef enum { BC_LAYOUT_TQ1_0, BC_LAYOUT_TQ2_0, BC_LAYOUT_I2_S, BC_LAYOUT_TL1, BC_LAYOUT_TL2, BC_LAYOUT_COUNT } bc_layout;
typedef enum { BC_ISA_SCALAR = 0, BC_ISA_AVX2 = 1, BC_ISA_AVX512 = 2 } bc_isa;

/* ggml type ids as written in GGUF files */
enum { BC_GGML_F32 = 0, BC_GGML_F16 = 1, BC_GGML_Q8_0 = 8, BC_GGML_BF16 = 30, BC_GGML_TQ1_0 = 34,
       BC_GGML_TQ2_0 = 35, BC_GGML_I2_S = 36, BC_GGML_TL1 = 38, BC_GGML_TL2 = 39 };

/* A ternary matrix T[M][K] (M output rows, K inputs) in one of the layouts, as it lies in the file. */
typedef struct {
    bc_layout layout;
    int64_t M, K;
    const uint8_t *data;   /* the tensor's bytes (mmap), nbytes long */
    size_t nbytes;
    float scale;           /* effective per-tensor scale w: W = T * w */
    int BM, BK, bm;        /* TL1/TL2 block parameters (0 otherwise) */
} bc_ternary;

/* Rows must be split between threads at multiples of this (TL tiles span BM rows). */
int64_t bc_row_granule(const bc_ternary *w);

/* Reference decode of row m into T values {-1,0,+1}. */
void bc_decode_row(const bc_ternary *w, int64_t m, int8_t *out);

/* y[n*ldy + m] = sum_k T[m][k] * x[n*K + k] for n in [0,N), m in [m0,m1).
 * m0, m1 multiples of bc_row_granule (m1 may also be M). x is int8 activations, one row per token.
 * xsum[n] = sum_k x[n*K + k] (lets kernels work on unsigned codes c = T+1). */
void bc_matmul(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
               int32_t *y, int64_t ldy, int64_t m0, int64_t m1, bc_isa isa);

/* The best ISA this CPU supports, lowered by BITCONV_ISA / bc_set_isa. */
bc_isa bc_detect_isa(void);
const char *bc_isa_name(bc_isa isa);

/* Per-layout entry points (used by kernels.c and the tests). */
#define BC_DECLARE_LAYOUT(name) \
    void bc_##name##_decode_row(const bc_ternary *w, int64_t m, int8_t *out); \
    void bc_##name##_matmul_scalar(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1); \
    void bc_##name##_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1); \
    void bc_##name##_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1);
BC_DECLARE_LAYOUT(tq1_0)
BC_DECLARE_LAYOUT(tq2_0)
BC_DECLARE_LAYOUT(i2_s)
BC_DECLARE_LAYOUT(tl1)
BC_DECLARE_LAYOUT(tl2)

#endif
