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
 * extension, i8mm (SMMLA) ARMv8.6-A's; gcc and clang both take "arch=..." here. */
#define BC_TARGET_NEON
#define BC_TARGET_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define BC_TARGET_I8MM __attribute__((target("arch=armv8.6-a+dotprod+i8mm")))
#endif

#endif
