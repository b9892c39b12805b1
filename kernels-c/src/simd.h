/* Internal helpers shared by the kernel files (tq1_0.c, tq2_0.c, i2_s.c, tl1.c, tl2.c, kernels.c).
 * Not part of the runtime's public interface (that is kernels.h). */
#ifndef BITCONV_SIMD_H
#define BITCONV_SIMD_H
#include "kernels.h"
#include <stdint.h>
#include <stddef.h>

#define BC_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2")))
#define BC_TARGET_AVX512 __attribute__((target("avx2,fma,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

/* acc += vpdpbusd(c, x) as inline asm: keeps accumulators in registers (gcc's register allocation
 * around the intrinsic copies and spills them) */
#define DPBUSD(acc, c, xv) __asm__("vpdpbusd %[x], %[cc], %[a]" : [a] "+v"(acc) : [cc] "v"(c), [x] "v"(xv))

typedef void (*bc_decode_fn)(const bc_ternary *w, int64_t m, int8_t *out);

/* Portable reference: decode each row with `decode`, then exact int32 dots (xsum unused). */
void bc_matmul_by_rows(const bc_ternary *w, bc_decode_fn decode, const int8_t *x, int64_t N,
                       int32_t *y, int64_t ldy, int64_t m0, int64_t m1);

/* Scratch memory that lives as long as the thread (grown on demand, 64-byte aligned). Slot 0..3
 * are independent buffers. Never freed before thread exit; returns NULL on allocation failure. */
void *bc_scratch(int slot, size_t bytes);

/* ---- the shared GEMM engine (N >= a few tokens) ----
 * A "panel" holds the codes c = T + 1 of BC_PANEL_ROWS consecutive rows over kc columns in the
 * VNNI order: panel[(k/4)*128 + r*4 + k%4] = c(m + r, k0 + k). A zmm load is 16 rows x 4 columns,
 * so the micro-kernel does acc[row] += dot4(codes, broadcast(x[n][k..k+3])) with no horizontal sums.
 * Rows >= `rows` must be written as code 0 (their results are never stored). */
#define BC_PANEL_ROWS 32
typedef void (*bc_panel_fn)(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc, uint8_t *panel);

/* y[n*ldy + m] = sum_k c*x - xsum[n] for m in [m0, m1): panels of 32 rows starting at m0, columns in
 * chunks [0,kc), [kc,2kc), ... below ksplit, then [ksplit, K) as one chunk (TL2's tail). */
void bc_gemm_avx512(const bc_ternary *w, bc_panel_fn panel, int64_t kc, int64_t ksplit, const int8_t *x,
                    const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1);
void bc_gemm_avx2(const bc_ternary *w, bc_panel_fn panel, int64_t kc, int64_t ksplit, const int8_t *x,
                  const int32_t *xsum, int64_t N, int32_t *y, int64_t ldy, int64_t m0, int64_t m1);
/* Row-major codes rc[r*ld + k] (32 rows, kc columns, kc % 64 == 0) -> VNNI panel. */
void bc_rows_to_panel_avx512(const uint8_t *rc, int64_t ld, int64_t kc, uint8_t *panel);
void bc_rows_to_panel_avx2(const uint8_t *rc, int64_t ld, int64_t kc, uint8_t *panel);

/* ---- GEMV for the row-major 2-bit layouts (I2_S, TQ2_0), one token ----
 * Row m's bytes start at base + m*rowstride; chunk i (256 weights, 64 bytes) at + i*chunkstride;
 * nchunks full chunks, then if half != 0 one 32-byte chunk (128 weights). xp holds the token's
 * activations permuted so that the codes (byte >> 2s) & 3 of chunk i pair with
 * xp[i*256 + s*64 + lane] (AVX-512, lanes 0..63 = the 64 bytes; for the half chunk lanes 32..63 of
 * xp are 0) or, for AVX2 (32-byte chunks j of 128 weights, chunk j at (j/2)*bstride + (j%2)*32),
 * xp[j*128 + s*32 + lane].
 * y[m] = sum - xsum for m in [m0, m1). */
void bc_gemv2b_avx512(const uint8_t *base, int64_t rowstride, int64_t chunkstride, int64_t nchunks, int half,
                      const int8_t *xp, int32_t xsum, int32_t *y, int64_t m0, int64_t m1);
void bc_gemv2b_avx2(const uint8_t *base, int64_t rowstride, int64_t bstride, int64_t nchunks32,
                    const int8_t *xp, int32_t xsum, int32_t *y, int64_t m0, int64_t m1);

/* TL2 byte-stream geometry (layouts.md section 6). */
typedef struct { int64_t K3, K2, mag_off, sign_off, tail_off, end; } bc_tl2_geom;
bc_tl2_geom bc_tl2_geometry(const bc_ternary *w);

#endif
