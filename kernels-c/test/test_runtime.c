/* Tests of the runtime's own vector code (src/vec.c) and thread pool (src/threads.c): every ISA path
 * against the scalar one. Exact where the contract says exact (activation quantization, the BitLinear
 * rescale), within float rounding elsewhere (dots, softmax, attention, the head). Exits 1 on failure. */
#include "threads.h"
#include "util.h"
#include "vec.h"
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SEED 0x853C49E6748FEA9Bull
#include "check.h"
static float frand(float scale) { return ((float)(rnd() >> 40) / 16777216.0f * 2.0f - 1.0f) * scale; }
static float *fvec(int n, float scale) {
    float *v = rt_alloc(sizeof(float) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) v[i] = frand(scale);
    return v;
}
static int close_to(double a, double b, double rel, double abs_) { return fabs(a - b) <= abs_ + rel * fabs(b); }

static bc_isa ISAS[BC_ISA_COUNT]; /* the paths this CPU runs, scalar first (bc_cpu_isas) */
static int N_ISAS;

static void test_quantize_exact(void) {
    const int sizes[] = {1, 7, 16, 33, 256, 2560, 6912 + 5};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int n = sizes[si];
        float *x = fvec(n, 1.5f); /* below the 2.0 planted at x[0], so s = 63.5 */
        /* ties: x * s lands exactly on .5 for some elements */
        if (n >= 3) { x[0] = 2.0f; x[1] = 1.0f / 127.0f; x[2] = -3.0f / 127.0f; }
        int8_t *q0 = rt_alloc((size_t)n), *q1 = rt_alloc((size_t)n);
        int32_t s0, s1;
        vec_init(BC_ISA_SCALAR);
        float sc0 = vec_quantize_act(x, n, q0, &s0);
        if (n >= 3 && n < 16) CHECK(q0[1] == 0 && q0[2] == -2, "half-to-even ties: %d %d", q0[1], q0[2]);
        for (int k = 1; k < N_ISAS; k++) {
            bc_isa got = vec_init(ISAS[k]);
            if (got != ISAS[k]) continue;
            float sc1 = vec_quantize_act(x, n, q1, &s1);
            CHECK(sc0 == sc1 && s0 == s1 && memcmp(q0, q1, (size_t)n) == 0, "quantize n=%d isa %s differs", n, bc_isa_name(got));
            int32_t acc[37];
            float y0[37], y1[37];
            int m = n < 37 ? n : 37;
            for (int i = 0; i < m; i++) acc[i] = (int32_t)(rnd() % 200001) - 100000;
            vec_init(BC_ISA_SCALAR);
            vec_dequant(acc, m, sc0, 0.7f, y0);
            vec_init(got);
            vec_dequant(acc, m, sc0, 0.7f, y1);
            CHECK(memcmp(y0, y1, sizeof(float) * (size_t)m) == 0, "dequant isa %s differs", bc_isa_name(got));
        }
        /* all-zero input: scale from the 1e-5 floor, codes 0 */
        memset(x, 0, sizeof(float) * (size_t)n);
        vec_init(bc_detect_isa());
        float z = vec_quantize_act(x, n, q1, &s1);
        CHECK(z == 127.0f / 1e-5f && s1 == 0, "zero row");
        rt_free(x); rt_free(q0); rt_free(q1);
    }
}


/* Q8_0x16 (vec.h): the repacked bytes sit where the spec says, and the GEMV of the running ISA and the
 * portable reference both equal a double-precision dot of the original Q8_0 rows, for partial tiles,
 * tile sub-ranges and 1..6 tokens, writing nothing outside their rows and tokens. */
static void check_q8_0x16(const char *isa) {
    const int dims[2] = {64, 2560};
    for (int di = 0; di < 2; di++) {
        int dim = dims[di], nb = dim / 32;
        int64_t rows = 37; /* two whole tiles and a partial one */
        size_t rb = (size_t)nb * 34;
        uint8_t *w8 = rt_alloc((size_t)rows * rb), *pk = rt_alloc(vec_q8_0x16_bytes(rows, dim));
        for (int64_t r = 0; r < rows; r++)
            for (int b = 0; b < nb; b++) {
                uint8_t *blk = w8 + (size_t)r * rb + 34 * (size_t)b;
                uint16_t d = rt_f32_to_f16(0.002f + 0.001f * (float)(rnd() % 20));
                memcpy(blk, &d, 2);
                for (int i = 0; i < 32; i++) blk[2 + i] = (uint8_t)(rnd() % 256); /* -128 and 127 included */
            }
        if (dim == 64) memset(w8 + 2, 0x80, 32), memset(w8 + rb + 2, 0x7f, 32); /* rows of all -128, all 127 */
        CHECK(vec_q8_0x16_bytes(rows, dim) == 3 * (size_t)nb * 544, "q8_0x16 size");
        vec_repack_q8_0x16(w8, rb, rows, dim, 0, 3, pk);
        for (int c = 0; c < 200; c++) {
            int64_t r = (int64_t)(rnd() % 48);
            int col = (int)(rnd() % (unsigned)dim), b = col / 32, j = col % 32, t = (int)(r / 16), rr = (int)(r % 16);
            const uint8_t *o = pk + ((size_t)t * nb + b) * 544;
            uint8_t want = r < rows ? (uint8_t)(w8[(size_t)r * rb + 34 * (size_t)b + 2 + j] ^ 0x80) : 0x80;
            CHECK(o[64 * (j / 4) + 4 * rr + j % 4] == want, "q8_0x16 code r=%lld col=%d", (long long)r, col);
            uint16_t ds = r < rows ? rt_rd16(w8 + (size_t)r * rb + 34 * (size_t)b) : 0;
            CHECK(rt_rd16(o + 512 + 2 * rr) == ds, "q8_0x16 scale r=%lld b=%d", (long long)r, b);
        }
        int8_t *hq = rt_alloc((size_t)6 * dim);
        float *hd = rt_alloc(sizeof(float) * 6 * (size_t)nb), *hf = rt_alloc(sizeof(float) * (size_t)dim);
        for (int k = 0; k < 6; k++) {
            for (int i = 0; i < dim; i++) hf[i] = frand(k == 5 ? 100.0f : 1.0f);
            vec_quantize_q8(hf, dim, hq + (size_t)k * dim, hd + (size_t)k * nb);
        }
        const size_t os = 50;
        float *out = rt_alloc(sizeof(float) * 6 * os);
        for (int nt = 1; nt <= 6; nt++)
            for (int pass = 0; pass < 4; pass++) {
                int64_t t0 = pass == 2 ? 1 : 0, t1 = pass == 3 ? 2 : 3;
                for (size_t i = 0; i < 6 * os; i++) out[i] = -12345.0f;
                if (pass % 2) vec_gemv_q8_0x16_reference(pk, t0, t1, rows, dim, nt, hq, hd, out, os);
                else vec_gemv_q8_0x16(pk, t0, t1, rows, dim, nt, hq, hd, out, os);
                for (int k = 0; k < 6; k++)
                    for (int64_t r = 0; r < (int64_t)os; r++) {
                        float got = out[(size_t)k * os + (size_t)r];
                        if (k >= nt || r >= rows || r < 16 * t0 || r >= 16 * t1) {
                            CHECK(got == -12345.0f, "%s q8_0x16 wrote outside: k=%d r=%lld nt=%d", isa, k, (long long)r, nt);
                            continue;
                        }
                        double ref = 0, mag = 0; /* mag: the sum of |block terms|, what float rounding scales with */
                        for (int b = 0; b < nb; b++) {
                            const uint8_t *blk = w8 + (size_t)r * rb + 34 * (size_t)b;
                            long acc = 0;
                            for (int i = 0; i < 32; i++) acc += (long)(int8_t)blk[2 + i] * hq[(size_t)k * dim + 32 * b + i];
                            double term = (double)acc * rt_f16_to_f32(rt_rd16(blk)) * hd[(size_t)k * nb + b];
                            ref += term;
                            mag += fabs(term);
                        }
                        CHECK(fabs(got - ref) <= 1e-5 + 1e-5 * fmax(fabs(ref), mag / 8), "%s q8_0x16%s dim=%d nt=%d k=%d r=%lld: %g vs %g", isa,
                              pass % 2 ? " reference" : "", dim, nt, k, (long long)r, (double)got, ref);
                    }
            }
        rt_free(w8); rt_free(pk); rt_free(hq); rt_free(hd); rt_free(hf); rt_free(out);
    }
}

static void test_float_paths(void) {
    for (int k = 0; k < N_ISAS; k++) {
        bc_isa got = vec_init(ISAS[k]);
        if (got != ISAS[k]) continue;
        const char *isa = bc_isa_name(got);
        /* dot, softmax, log-sum-exp, glu */
        for (int n = 1; n < 300; n += 37) {
            float *a = fvec(n, 1), *b = fvec(n, 1);
            double ref = 0;
            for (int i = 0; i < n; i++) ref += (double)a[i] * b[i];
            CHECK(close_to(vec_dot(a, b, n), ref, 1e-5, 1e-5), "%s dot n=%d", isa, n);
            float *x = fvec(n, 20);
            double mx = -1e30, sum = 0;
            for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
            for (int i = 0; i < n; i++) sum += exp((double)x[i] - mx);
            CHECK(close_to(vec_log_sum_exp(x, n), mx + log(sum), 1e-6, 1e-6), "%s lse n=%d", isa, n);
            float *p = rt_alloc(sizeof(float) * (size_t)n);
            memcpy(p, x, sizeof(float) * (size_t)n);
            vec_softmax(p, n);
            double tot = 0;
            for (int i = 0; i < n; i++) {
                tot += p[i];
                CHECK(close_to(p[i], exp((double)x[i] - mx) / sum, 2e-6, 1e-12), "%s softmax n=%d i=%d", isa, n, i);
            }
            CHECK(close_to(tot, 1.0, 1e-5, 0), "%s softmax sums to %g", isa, tot);
            for (int relu2 = 0; relu2 < 2; relu2++) {
                float *g = fvec(n, 12), *u = fvec(n, 2), *g2 = rt_alloc(sizeof(float) * (size_t)n);
                memcpy(g2, g, sizeof(float) * (size_t)n);
                vec_glu(g2, u, n, relu2);
                for (int i = 0; i < n; i++) {
                    double want = relu2 ? (g[i] > 0 ? (double)g[i] * g[i] * u[i] : 0) : g[i] / (1 + exp(-(double)g[i])) * u[i];
                    CHECK(close_to(g2[i], want, 2e-6, 1e-30), "%s glu relu2=%d x=%g: %g vs %g", isa, relu2, (double)g[i], (double)g2[i], want);
                }
                rt_free(g); rt_free(u); rt_free(g2);
            }
            float *y = fvec(n, 1), *y0 = rt_alloc(sizeof(float) * (size_t)n);
            memcpy(y0, y, sizeof(float) * (size_t)n);
            vec_add(y, a, n);
            for (int i = 0; i < n; i++) CHECK(y[i] == y0[i] + a[i], "%s add", isa);
            vec_norm_apply(y, a, b, 0.37f, n);
            for (int i = 0; i < n; i++) CHECK(y[i] == b[i] * (a[i] * 0.37f), "%s norm_apply", isa);
            rt_free(y); rt_free(y0);
            rt_free(a); rt_free(b); rt_free(x); rt_free(p);
        }
        /* attention pieces: scores over transposed keys, weighted sums of values, GQA groups */
        const int hds[] = {32, 64, 128, 48};
        for (int hi = 0; hi < 4; hi++) {
            int hd = hds[hi];
            for (int G = 1; G <= 5; G += 2) {
                for (int T = 1; T <= 150; T += 37) {
                    size_t ks = 163, vs = (size_t)hd * 3 + 5;
                    float *q = fvec(G * hd, 1), *kt = fvec((int)(hd * ks), 1), *v = fvec((int)(T * vs), 1);
                    float *sc = rt_alloc(sizeof(float) * (size_t)G * 200), *out = rt_alloc(sizeof(float) * (size_t)G * hd);
                    vec_scores_t(q, G, hd, kt, ks, T, 0.125f, sc, 200);
                    for (int g = 0; g < G; g++)
                        for (int t = 0; t < T; t++) {
                            double ref = 0;
                            for (int d = 0; d < hd; d++) ref += (double)q[g * hd + d] * kt[(size_t)d * ks + t];
                            CHECK(close_to(sc[g * 200 + t], ref * 0.125, 1e-5, 1e-5), "%s scores hd=%d G=%d T=%d", isa, hd, G, T);
                        }
                    vec_weighted_sum_g(sc, 200, G, v, vs, hd, T, out);
                    for (int g = 0; g < G; g++)
                        for (int d = 0; d < hd; d++) {
                            double ref = 0;
                            for (int t = 0; t < T; t++) ref += (double)sc[g * 200 + t] * v[(size_t)t * vs + d];
                            CHECK(close_to(out[g * hd + d], ref, 1e-5, 1e-4), "%s wsum hd=%d G=%d T=%d", isa, hd, G, T);
                        }
                    rt_free(q); rt_free(kt); rt_free(v); rt_free(sc); rt_free(out);
                }
            }
        }
        /* head: f16 GEMV, 4 x n tiles, Q8_0 rows */
        int dim = 2560, rows = 7;
        uint8_t *w16 = rt_alloc((size_t)rows * dim * 2), *w8 = rt_alloc((size_t)rows * dim / 32 * 34);
        float *wf = rt_alloc(sizeof(float) * (size_t)rows * dim), *h = fvec(dim, 1), *out = rt_alloc(sizeof(float) * 16);
        for (int i = 0; i < rows * dim; i++) {
            uint16_t hv = rt_f32_to_f16(frand(0.1f));
            memcpy(w16 + 2 * i, &hv, 2);
            wf[i] = rt_f16_to_f32(hv);
        }
        vec_gemv_f16(w16, (size_t)dim * 2, rows, h, dim, out);
        for (int r = 0; r < rows; r++) {
            double ref = 0;
            for (int i = 0; i < dim; i++) ref += (double)wf[r * dim + i] * h[i];
            CHECK(close_to(out[r], ref, 1e-5, 1e-5), "%s gemv_f16 row %d", isa, r);
        }
        float hs[4 * 2560];
        for (int i = 0; i < 4 * dim; i++) hs[i] = frand(1);
        float o4[4 * 4];
        for (int nt = 1; nt <= 4; nt++) {
            vec_dot4xn(wf, (size_t)dim, hs, (size_t)dim, nt, dim, o4, 1, 4);
            for (int r = 0; r < 4; r++)
                for (int t = 0; t < nt; t++) {
                    double ref = 0;
                    for (int i = 0; i < dim; i++) ref += (double)wf[r * dim + i] * hs[t * dim + i];
                    CHECK(close_to(o4[r + 4 * t], ref, 1e-5, 1e-5), "%s dot4xn r=%d t=%d nt=%d", isa, r, t, nt);
                }
        }
        /* the batched head block: 12 rows x 32 packed tokens */
        {
            float *ph = rt_alloc(sizeof(float) * (size_t)dim * 32), *ob = rt_alloc(sizeof(float) * 12 * 32);
            for (int k2 = 0; k2 < dim; k2++)
                for (int t = 0; t < 32; t++) ph[(size_t)k2 * 32 + t] = t < 4 ? hs[t * dim + k2] : 0.0f;
            vec_head_block(wf, rows, ph, dim, ob);
            for (int r = 0; r < rows; r++)
                for (int t = 0; t < 32; t++) {
                    double ref = 0;
                    if (t < 4) for (int i = 0; i < dim; i++) ref += (double)wf[r * dim + i] * hs[t * dim + i];
                    CHECK(close_to(ob[r * 32 + t], ref, 1e-5, 1e-5), "%s head_block r=%d t=%d", isa, r, t);
                }
            rt_free(ph); rt_free(ob);
        }
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < dim / 32; b++) {
                uint8_t *blk = w8 + ((size_t)r * dim / 32 + b) * 34;
                uint16_t d = rt_f32_to_f16(0.01f + 0.001f * (float)(rnd() % 10));
                memcpy(blk, &d, 2);
                for (int i = 0; i < 32; i++) blk[2 + i] = (uint8_t)(rnd() % 256); /* -128 included */
            }
        int8_t hq[2560];
        float hd_[80];
        vec_quantize_q8(h, dim, hq, hd_);
        vec_gemv_q8_0(w8, (size_t)dim / 32 * 34, rows, hq, hd_, dim, out);
        for (int r = 0; r < rows; r++) {
            double ref = 0;
            for (int b = 0; b < dim / 32; b++) {
                const uint8_t *blk = w8 + ((size_t)r * dim / 32 + b) * 34;
                uint16_t d;
                memcpy(&d, blk, 2);
                long s = 0;
                for (int i = 0; i < 32; i++) s += (long)(int8_t)blk[2 + i] * hq[32 * b + i];
                ref += (double)s * rt_f16_to_f32(d) * hd_[b];
            }
            CHECK(close_to(out[r], ref, 1e-5, 1e-5), "%s gemv_q8_0 row %d: %g vs %g", isa, r, (double)out[r], ref);
            CHECK(close_to(vec_dot_q8_0(w8 + (size_t)r * dim / 32 * 34, hq, hd_, dim), ref, 1e-5, 1e-5), "%s dot_q8_0 row %d", isa, r);
        }
        rt_free(w16); rt_free(w8); rt_free(wf); rt_free(h); rt_free(out);
        check_q8_0x16(isa);
    }
}

static atomic_int hits[8];
static void count_job(void *arg, int ith, int nth) {
    (void)arg;
    CHECK(nth >= 1 && ith >= 0 && ith < nth, "thread index");
    atomic_fetch_add(&hits[ith], 1);
}

static void test_pool(void) {
    for (int n = 1; n <= 5; n += 2) {
        pool *p = pool_create(n);
        for (int i = 0; i < 8; i++) atomic_store(&hits[i], 0);
        for (int r = 0; r < 2000; r++) pool_run(p, count_job, NULL);
        for (int i = 0; i < n; i++) CHECK(atomic_load(&hits[i]) == 2000, "pool %d: thread %d ran %d jobs", n, i, atomic_load(&hits[i]));
        pool_destroy(p);
    }
    /* splits: every row exactly once, at multiples of the granule */
    for (int64_t M = 1; M < 300; M += 29)
        for (int64_t g = 1; g <= 64; g *= 4)
            for (int nth = 1; nth <= 5; nth++) {
                int64_t covered = 0, prev = 0;
                for (int i = 0; i < nth; i++) {
                    int64_t lo, hi;
                    pool_split(M, g, i, nth, &lo, &hi);
                    CHECK(lo == prev && hi >= lo && (lo % g == 0) && (hi % g == 0 || hi == M), "split M=%lld g=%lld", (long long)M, (long long)g);
                    covered += hi - lo;
                    prev = hi;
                }
                CHECK(covered == M && prev == M, "split covers M=%lld", (long long)M);
            }
}

int main(void) {
    N_ISAS = bc_cpu_isas(ISAS);
    test_quantize_exact();
    test_float_paths();
    test_pool();
    printf("test_runtime: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
