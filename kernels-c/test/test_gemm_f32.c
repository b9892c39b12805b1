/* Tests of the float reference path's GEMM (src/gemm_f32.h): for every ISA this CPU has, gemm_f32
 * equals a scalar double-precision sum of the same weights and activations to float rounding, over
 * odd shapes (N below and above GEMM_F32_MIN_N and across token panels, M across micro-tiles and
 * row blocks, K across column slices), row sub-ranges and a strided y; rows outside [m0, m1) and
 * columns past M in y are never written. Exits 1 on any failure. */
#include "gemm_f32.h"
#include "vec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SEED 0xD1B54A32D192ED03ull
#include "check.h"

static float rnd_f(void) { return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

typedef struct { const float *w; int64_t K; } dense;

static void dense_row(const void *src, int64_t m, float *out) {
    const dense *d = src;
    memcpy(out, d->w + (size_t)m * d->K, (size_t)d->K * sizeof(float));
}

static void *xcalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    return p;
}

static void check_shape(bc_isa isa, int64_t N, int64_t M, int64_t K, int64_t m0, int64_t m1, size_t ldy) {
    float *w = xcalloc((size_t)(M * K) * sizeof(float)), *x = xcalloc((size_t)(N * K) * sizeof(float));
    /* ternary-like weights times a scale, and activations q / s as the float path sees them */
    for (int64_t i = 0; i < M * K; i++) w[i] = (float)((int)(rnd() % 3) - 1) * 0.0371f;
    for (int64_t i = 0; i < N * K; i++) x[i] = (float)((int)(rnd() % 255) - 127) / 41.3f + rnd_f() * 1e-3f;
    float *px = xcalloc(gemm_f32_packed_floats(N, K) * sizeof(float));
    for (int64_t n = 0; n < N; n++) gemm_f32_pack_row(x + (size_t)n * K, n, K, px);
    float *scratch = xcalloc(gemm_f32_scratch_floats(K) * sizeof(float));
    float *y = xcalloc((size_t)N * ldy * sizeof(float));
    const float canary = 12345.0f;
    for (size_t i = 0; i < (size_t)N * ldy; i++) y[i] = canary;
    dense d = {w, K};
    gemm_f32(isa, dense_row, &d, K, x, px, N, y, ldy, m0, m1, scratch);
    int bad = 0;
    for (int64_t n = 0; n < N && bad < 5; n++)
        for (size_t m = 0; m < ldy && bad < 5; m++) {
            float got = y[(size_t)n * ldy + m];
            if ((int64_t)m < m0 || (int64_t)m >= m1) {
                if (got != canary) bad++;
                CHECK(got == canary, "%s N=%lld M=%lld K=%lld: y[%lld][%zu] outside [%lld,%lld) was written", bc_isa_name(isa),
                      (long long)N, (long long)M, (long long)K, (long long)n, m, (long long)m0, (long long)m1);
                continue;
            }
            double ref = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)w[(size_t)m * K + k] * (double)x[(size_t)n * K + k];
                ref += p;
                mag += fabs(p);
            }
            /* each f32 partial sum rounds with relative error 2^-24: K steps bound the error by
             * K * 2^-24 * sum |w x| (a loose bound; a wrong row or token misses by far more) */
            double tol = (double)K * 6e-8 * mag + 1e-30;
            if (!(fabs((double)got - ref) <= tol)) bad++;
            CHECK(fabs((double)got - ref) <= tol, "%s N=%lld M=%lld K=%lld: y[%lld][%zu] = %.9g, double reference %.9g (tol %.3g)",
                  bc_isa_name(isa), (long long)N, (long long)M, (long long)K, (long long)n, m, (double)got, ref, tol);
        }
    free(w); free(x); free(px); free(scratch); free(y);
}

int main(void) {
    bc_isa isas[BC_ISA_COUNT]; /* the paths this CPU runs, scalar first */
    int n_isas = bc_cpu_isas(isas);
    printf("test_gemm_f32: ISAs tested: ");
    for (int i = 0; i < n_isas; i++) printf("%s%s", i ? ", " : "", bc_isa_name(isas[i]));
    printf("\n");
    const struct { int64_t N, M, K; } shapes[] = {
        {1, 5, 64}, {3, 13, 100}, {4, 12, 256}, {5, 1, 7}, {31, 25, 300}, {32, 48, 256},
        {33, 49, 257}, {70, 97, 600}, {64, 12, 1}, {129, 60, 513},
    };
    for (int i = 0; i < n_isas; i++) {
        vec_init(isas[i]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t N = shapes[s].N, M = shapes[s].M, K = shapes[s].K;
            check_shape(isas[i], N, M, K, 0, M, (size_t)M);
            if (M > 3) check_shape(isas[i], N, M, K, 1, M - 2, (size_t)M + 5); /* sub-range, strided y */
        }
    }
    printf("test_gemm_f32: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
