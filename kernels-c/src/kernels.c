/* Kernel dispatch: row granule, reference decode, and matmul by layout and ISA. */
#include "kernels.h"
#include "simd.h"
#include <stdlib.h>

typedef void (*bc_matmul_fn)(const bc_ternary *, const int8_t *, const int32_t *, int64_t, int32_t *,
                             int64_t, int64_t, int64_t);
/* the x86 kernels also take the dequantization (their GEMM engines apply it) */
typedef int (*bc_matmul_x86_fn)(const bc_ternary *, const int8_t *, const int32_t *, int64_t, int32_t *,
                                int64_t, int64_t, int64_t, const bc_dequant *);

/* Every layout's scalar path: its reference decode_row, then exact int32 dots (bc_matmul_by_rows). */
static void matmul_scalar(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y,
                          int64_t ldy, int64_t m0, int64_t m1);

/* One row per layout, one slot per ISA. On x86 the ARM slots, on aarch64 the x86 slots are never
 * reached (bc_usable_isa keeps each binary to its family) and hold the scalar path; the x86 kernels
 * sit in x86[] (index isa - BC_ISA_AVX2). */
#define X86_SLOTS(l) [BC_ISA_AVX2] = matmul_scalar, [BC_ISA_AVX512] = matmul_scalar,
#if defined(__x86_64__)
#define X86_KERNELS(l) {bc_##l##_matmul_avx2, bc_##l##_matmul_avx512}
#else
#define X86_KERNELS(l) {NULL, NULL}
#endif
/* ARM slots: a layout whose NEON / dotprod / i8mm kernels are not written yet says ARM_SCALAR (the scalar
 * path in all three); one whose kernels exist (every layout today) says ARM_KERNELS. */
#define ARM_SCALAR(l) [BC_ISA_NEON] = matmul_scalar, [BC_ISA_DOTPROD] = matmul_scalar, [BC_ISA_I8MM] = matmul_scalar,
#if defined(__aarch64__)
#define ARM_KERNELS(l) [BC_ISA_NEON] = bc_##l##_matmul_neon, [BC_ISA_DOTPROD] = bc_##l##_matmul_dotprod, \
                       [BC_ISA_I8MM] = bc_##l##_matmul_i8mm,
#else
#define ARM_KERNELS ARM_SCALAR
#endif
#define ROW(l, ARM) {bc_##l##_decode_row, {[BC_ISA_SCALAR] = matmul_scalar, X86_SLOTS(l) ARM(l)}, X86_KERNELS(l)}

static const struct {
    bc_decode_fn decode;
    bc_matmul_fn mm[BC_ISA_COUNT];
    bc_matmul_x86_fn x86[2];
} TABLE[BC_LAYOUT_COUNT] = {
    [BC_LAYOUT_TQ1_0] = ROW(tq1_0, ARM_KERNELS),
    [BC_LAYOUT_TQ2_0] = ROW(tq2_0, ARM_KERNELS),
    [BC_LAYOUT_I2_S] = ROW(i2_s, ARM_KERNELS),
    [BC_LAYOUT_TL1] = ROW(tl1, ARM_KERNELS),
    [BC_LAYOUT_TL2] = ROW(tl2, ARM_KERNELS),
};

static void matmul_scalar(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y,
                          int64_t ldy, int64_t m0, int64_t m1) {
    (void)xsum;
    bc_matmul_by_rows(w, TABLE[w->layout].decode, x, N, y, ldy, m0, m1);
}

int64_t bc_row_granule(const bc_ternary *w) {
    if (w->layout == BC_LAYOUT_TL1 || w->layout == BC_LAYOUT_TL2) return w->BM > 0 ? w->BM : 1;
    return 1;
}

void bc_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    TABLE[w->layout].decode(w, m, out);
}

int bc_matmul(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y,
              int64_t ldy, int64_t m0, int64_t m1, bc_isa isa, const bc_dequant *dq) {
    if (N <= 0 || m1 <= m0) return 0;
    isa = bc_usable_isa(isa); /* never run an instruction the CPU lacks */
    if ((int)isa < 0) isa = BC_ISA_SCALAR;
    if ((isa == BC_ISA_AVX2 || isa == BC_ISA_AVX512) && TABLE[w->layout].x86[isa - BC_ISA_AVX2])
        return TABLE[w->layout].x86[isa - BC_ISA_AVX2](w, x, xsum, N, y, ldy, m0, m1, dq);
    TABLE[w->layout].mm[isa](w, x, xsum, N, y, ldy, m0, m1);
    return 0;
}

/* Portable reference (simd.h): decode each row, then exact int32 dots. */
void bc_matmul_by_rows(const bc_ternary *w, bc_decode_fn decode, const int8_t *x, int64_t N,
                       int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    int64_t K = w->K;
    int8_t *row = bc_scratch(3, (size_t)K);
    if (!row) abort();
    for (int64_t m = m0; m < m1; m++) {
        decode(w, m, row);
        for (int64_t n = 0; n < N; n++) {
            const int8_t *xn = x + n * K;
            int32_t s = 0;
            for (int64_t k = 0; k < K; k++) s += (int32_t)row[k] * xn[k];
            y[n * ldy + m] = s;
        }
    }
}
