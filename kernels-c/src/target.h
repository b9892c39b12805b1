/* The one set of per-function target attributes: the runtime is built for the architecture's baseline
 * (no -march), and each instruction-set section of a kernel file is compiled for its extension with
 * these, so one binary runs on every CPU of the architecture and picks a path at run time (isa.c). */
#ifndef BITCONV_TARGET_H
#define BITCONV_TARGET_H

#if defined(__x86_64__)
#define BC_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi,bmi2")))
#define BC_TARGET_AVX512 \
    __attribute__((target("avx2,fma,f16c,bmi,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#endif

#if defined(__aarch64__)
/* NEON (Advanced SIMD) is part of ARMv8-A: no attribute needed. dotprod (SDOT) is ARMv8.2-A's optional
 * extension, i8mm (SMMLA) ARMv8.6-A's. gcc spells them "arch=armv8.2-a+dotprod" (a bare "+dotprod" does not reach the assembler for inline asm), clang "dotprod". clang before 16
 * does not offer vdotq_s32 / vmmlaq_s32 inside such a function (its arm_neon.h tests the -march
 * macros), so the dotprod / i8mm sections use BC_SDOT / BC_SMMLA, which both compilers accept. */
#include <arm_neon.h>
#define BC_TARGET_NEON
#if defined(__clang__)
#define BC_TARGET_DOTPROD __attribute__((target("dotprod")))
#define BC_TARGET_I8MM __attribute__((target("dotprod,i8mm")))
#else
#define BC_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define BC_TARGET_I8MM __attribute__((target("arch=armv8.6-a+dotprod+i8mm")))
#endif
/* acc (int32x4_t) += per 32-bit lane the dot of 4 int8 of a with 4 int8 of b (int8x16_t) */
#define BC_SDOT(acc, a, b) __asm__("sdot %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b))
/* acc (int32x4_t, a 2x2 block) += a (2 rows x 8 int8) times b (2 columns x 8 int8) transposed */
#define BC_SMMLA(acc, a, b) __asm__("smmla %0.4s, %1.16b, %2.16b" : "+w"(acc) : "w"(a), "w"(b))
#endif

#endif
