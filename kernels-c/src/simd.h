/* Internal helpers shared by the kernel files (tq1_0.c, tq2_0.c, i2_s.c, tl1.c, tl2.c, kernels.c).
 * Not part of the runtime's public interface (that is kernels.h). */
#ifndef BITCONV_SIMD_H
#define BITCONV_SIMD_H
#include "kernels.h"
#include <stdint.h>
#include <stddef.h>

#define BC_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2")))
#define BC_TARGET_AVX512 __attribute__((target("avx2,fma,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

typedef void (*bc_decode_fn)(const bc_ternary *w, int64_t m, int8_t *out);

/* Portable reference: decode each row with `decode`, then exact int32 dots (xsum unused). */
void bc_matmul_by_rows(const bc_ternary *w, bc_decode_fn decode, const int8_t *x, int64_t N,
                       int32_t *y, int64_t ldy, int64_t m0, int64_t m1);

/* Scratch memory that lives as long as the thread (grown on demand, 64-byte aligned). Slot 0..3
 * are independent buffers. Never freed before thread exit; returns NULL on allocation failure. */
void *bc_scratch(int slot, size_t bytes);

/* TL2 byte-stream geometry (layouts.md section 6). */
typedef struct { int64_t K3, K2, mag_off, sign_off, tail_off, end; } bc_tl2_geom;
bc_tl2_geom bc_tl2_geometry(const bc_ternary *w);

#endif
