/* Tests of the float reference path's GEMM (src/gemm_f32.h): for every ISA this CPU has, gemm_f32
 * equals a scalar double-precision sum of the same weights and activations to float rounding, over
 * odd shapes (N below and above GEMM_F32_MIN_N and across token groups, M across panels and row blocks, K across
 * column slices), row sub-ranges and a strided y, for weights stored as F32, F16, BF16 and as ternary
 * codes from a callback, each times a scale; rows outside [m0, m1) and columns past M in y are never
 * written. Exits 1 on any failure. */
#include "gemm_f32.h"
#include "util.h"
#include "vec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SEED 0xD1B54A32D192ED03ull
#include "check.h"

static float rnd_f(void) { return (float)((double)(rnd() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static void *xcalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    return p;
}

static const int TYPES[] = {BC_GGML_F32, BC_GGML_F16, BC_GGML_BF16, GEMM_F32_CODES};
static const char *type_name(int t) { return t == BC_GGML_F32 ? "F32" : t == BC_GGML_F16 ? "F16" : t == BC_GGML_BF16 ? "BF16" : "codes"; }

typedef struct { const int8_t *T; int64_t K; } codes_src;
static void codes_row(const void *ctx, int64_t m, int8_t *out) {
    const codes_src *c = ctx;
    memcpy(out, c->T + (size_t)m * c->K, (size_t)c->K);
}

/* V[i] exact in every storage type (j / 64, |j| <= 64: 7 significant bits), or ternary codes */
static void fill_weights(int type, int64_t n, float *v, int8_t *T, uint8_t *bytes) {
    for (int64_t i = 0; i < n; i++) {
        int j = type == GEMM_F32_CODES ? (int)(rnd() % 3) - 1 : (int)(rnd() % 129) - 64;
        v[i] = type == GEMM_F32_CODES ? (float)j : (float)j / 64.0f;
        T[i] = (int8_t)j;
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        uint16_t h = type == BC_GGML_F16 ? rt_f32_to_f16(v[i]) : (uint16_t)(bits >> 16);
        if (type == BC_GGML_F32) memcpy(bytes + 4 * i, &v[i], 4);
        else memcpy(bytes + 2 * i, &h, 2);
    }
}

static void check_shape(bc_isa isa, int type, int64_t N, int64_t M, int64_t K, int64_t m0, int64_t m1, size_t ldy) {
    size_t esize = type == BC_GGML_F32 ? 4 : 2;
    float *v = xcalloc((size_t)(M * K) * sizeof(float)), *x = xcalloc((size_t)(N * K) * sizeof(float));
    int8_t *T = xcalloc((size_t)(M * K));
    uint8_t *bytes = xcalloc((size_t)(M * K) * esize);
    fill_weights(type, M * K, v, T, bytes);
    const float scale = 0.0371f;
    /* activations q / s as the float path sees them */
    for (int64_t i = 0; i < N * K; i++) x[i] = (float)((int)(rnd() % 255) - 127) / 41.3f + rnd_f() * 1e-3f;
    float *px = xcalloc(gemm_f32_packed_floats(N, K) * sizeof(float));
    for (int64_t n = 0; n < N; n++) gemm_f32_pack_row(x + (size_t)n * K, n, K, px);
    float *scratch = xcalloc(gemm_f32_scratch_floats(K) * sizeof(float));
    float *y = xcalloc((size_t)N * ldy * sizeof(float));
    const float canary = 12345.0f;
    for (size_t i = 0; i < (size_t)N * ldy; i++) y[i] = canary;
    codes_src cs = {T, K};
    gemm_f32_weights w = {type, bytes, (size_t)K * esize, codes_row, &cs, scale};
    gemm_f32(isa, &w, K, x, px, N, y, ldy, m0, m1, scratch);
    int bad = 0;
    for (int64_t n = 0; n < N && bad < 5; n++)
        for (size_t m = 0; m < ldy && bad < 5; m++) {
            float got = y[(size_t)n * ldy + m];
            if ((int64_t)m < m0 || (int64_t)m >= m1) {
                if (got != canary) bad++;
                CHECK(got == canary, "%s %s N=%lld M=%lld K=%lld: y[%lld][%zu] outside [%lld,%lld) was written", bc_isa_name(isa),
                      type_name(type), (long long)N, (long long)M, (long long)K, (long long)n, m, (long long)m0, (long long)m1);
                continue;
            }
            double ref = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                float wq = v[(size_t)m * K + k] * scale; /* W = V * scale in float32, as transformers' T / s */
                double p = (double)wq * (double)x[(size_t)n * K + k];
                ref += p;
                mag += fabs(p);
            }
            /* each f32 partial sum rounds with relative error 2^-24: K steps bound the error by
             * K * 2^-24 * sum |w x| (a loose bound; a wrong row or token misses by far more) */
            double tol = (double)K * 6e-8 * mag + 1e-30;
            if (!(fabs((double)got - ref) <= tol)) bad++;
            CHECK(fabs((double)got - ref) <= tol, "%s %s N=%lld M=%lld K=%lld: y[%lld][%zu] = %.9g, double reference %.9g (tol %.3g)",
                  bc_isa_name(isa), type_name(type), (long long)N, (long long)M, (long long)K, (long long)n, m, (double)got, ref, tol);
        }
    free(v); free(x); free(T); free(bytes); free(px); free(scratch); free(y);
}

int main(void) {
    bc_isa isas[BC_ISA_COUNT]; /* the paths this CPU runs, scalar first */
    int n_isas = bc_cpu_isas(isas);
    printf("test_gemm_f32: ISAs tested: ");
    for (int i = 0; i < n_isas; i++) printf("%s%s", i ? ", " : "", bc_isa_name(isas[i]));
    printf("\n");
    const struct { int64_t N, M, K; } shapes[] = {
        {1, 5, 64}, {3, 13, 100}, {4, 12, 256}, {5, 1, 7}, {31, 25, 300}, {32, 48, 256},
        {33, 49, 257}, {70, 97, 600}, {64, 12, 1}, {129, 60, 513}, {25, 64, 512}, {13, 33, 255}, {20, 290, 48},
    };
    for (int i = 0; i < n_isas; i++) {
        vec_init(isas[i]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t N = shapes[s].N, M = shapes[s].M, K = shapes[s].K;
            for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
                check_shape(isas[i], TYPES[t], N, M, K, 0, M, (size_t)M);
                if (M > 3) check_shape(isas[i], TYPES[t], N, M, K, 1, M - 2, (size_t)M + 5); /* sub-range, strided y */
            }
        }
    }
    printf("test_gemm_f32: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
