/* Ternary matmul kernels: one file per layout (tq1_0.c, tq2_0.c, i2_s.c, tl1.c, tl2.c), each with a
 * portable scalar reference and one section per instruction set; kernels.c dispatches on the ISA the
 * caller passes (chosen once: isa.c detects what the CPU runs, main.c applies --isa / BITCONV_ISA).
 * Every path computes the same exact integers: y[n][m] = sum_k T[m][k] * x[n][k]. */
#ifndef BITCONV_KERNELS_H
#define BITCONV_KERNELS_H
#include <stdint.h>
#include <stddef.h>

typedef enum { BC_LAYOUT_TQ1_0, BC_LAYOUT_TQ2_0, BC_LAYOUT_I2_S, BC_LAYOUT_TL1, BC_LAYOUT_TL2, BC_LAYOUT_COUNT } bc_layout;
/* Code paths. x86: scalar < avx2 (+FMA, F16C, BMI2) < avx512 (F, BW, VL, DQ, VNNI). aarch64: scalar <
 * neon (ARMv8.0 Advanced SIMD) < dotprod (ARMv8.2 SDOT) < i8mm (ARMv8.6 SMMLA). A CPU that runs one path
 * of its family runs the ones below it. */
typedef enum { BC_ISA_SCALAR = 0, BC_ISA_AVX2, BC_ISA_AVX512, BC_ISA_NEON, BC_ISA_DOTPROD, BC_ISA_I8MM, BC_ISA_COUNT } bc_isa;

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

/* The runtime's dequantization of a matmul's sums, out[n*ldo + m] = (float)y[n*ldy + m] / xs[n] * ws,
 * in that order of operations (every path rounds the same way). */
typedef struct { float *out; int64_t ldo; const float *xs; float ws; } bc_dequant;

/* y[n*ldy + m] = sum_k T[m][k] * x[n*K + k] for n in [0,N), m in [m0,m1).
 * m0, m1 multiples of bc_row_granule (m1 may also be M). x is int8 activations, one row per token.
 * xsum[n] = sum_k x[n*K + k] (lets kernels work on unsigned codes c = T+1).
 * dq (may be NULL): where a kernel can dequantize its final sums while they are still in registers
 * (the x86 GEMM engines) it writes dq's floats instead of y and returns 1; otherwise it returns 0 and
 * y holds the sums (the caller dequantizes). */
int bc_matmul(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
              int32_t *y, int64_t ldy, int64_t m0, int64_t m1, bc_isa isa, const bc_dequant *dq);

/* isa.c. The best path this CPU (and OS) runs, detected once; nothing here reads the environment. */
bc_isa bc_detect_isa(void);
/* The paths this CPU runs, scalar first, best last (what the tests iterate over); returns the count. */
int bc_cpu_isas(bc_isa out[BC_ISA_COUNT]);
/* want lowered to the best path this CPU runs at or below it; -1 when want is another architecture's. */
bc_isa bc_usable_isa(bc_isa want);
const char *bc_isa_name(bc_isa isa);
/* "scalar", "avx2", ... -> *out; 0 for an unknown name */
int bc_parse_isa(const char *name, bc_isa *out);

/* Per-layout entry points (used by kernels.c): the reference row decoder (kernels.c's scalar path dots
 * its rows exactly) and the x86 matmuls (which may apply the dequantization, bc_matmul). */
#define BC_DECLARE_LAYOUT(name) \
    void bc_##name##_decode_row(const bc_ternary *w, int64_t m, int8_t *out); \
    int bc_##name##_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq); \
    int bc_##name##_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq);

/* ARM slots (kernels.c maps BC_ISA_NEON / DOTPROD / I8MM): every layout defines bc_<layout>_matmul_neon /
 * _dotprod / _i8mm in an `#if defined(__aarch64__)` section of its file, declared here. A new layout can
 * start with its row in kernels.c at ARM_SCALAR (its ARM slots run the scalar reference) until it has
 * them (kernels-c/README.md, "Adding an ARM kernel"). */
#define BC_DECLARE_LAYOUT_ARM(name) \
    void bc_##name##_matmul_neon(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1); \
    void bc_##name##_matmul_dotprod(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1); \
    void bc_##name##_matmul_i8mm(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1);
BC_DECLARE_LAYOUT(tq1_0)
BC_DECLARE_LAYOUT(tq2_0)
/* TQ1_0 -> TQ2_0 in memory (repack.c): a TQ1_0 row's K codes (T + 1, element order) and its blocks' d
 * bytes (2 each), through isa's decoder (isa one this CPU runs); a TQ2_0 row packed from the same. */
void bc_tq1_0_row_codes(const bc_ternary *w, int64_t m, bc_isa isa, uint8_t *codes, uint8_t *d);
int bc_tl1_row_codes(const bc_ternary *w, int64_t m, uint8_t *codes); /* TL1 likewise; -1: a nibble > 8 */
size_t bc_tq2_0_row_bytes(int64_t K);
void bc_tq2_0_pack_row(const uint8_t *codes, const uint8_t *d, int64_t K, uint8_t *out);
BC_DECLARE_LAYOUT(i2_s)
BC_DECLARE_LAYOUT(tl1)
BC_DECLARE_LAYOUT(tl2)
#if defined(__aarch64__)
BC_DECLARE_LAYOUT_ARM(tq1_0)
BC_DECLARE_LAYOUT_ARM(tq2_0)
BC_DECLARE_LAYOUT_ARM(i2_s)
BC_DECLARE_LAYOUT_ARM(tl1)
BC_DECLARE_LAYOUT_ARM(tl2)
#endif

#endif
