/* Tests of the ternary matmul kernels (src/kernels.h). No layout is packed here: the test weights come
 * packed by the TS layout modules (src/layouts/) in one GGUF, written by scripts/kernel-weights.ts and
 * given as the argument, each packed tensor with its ternary codes T as an I8 tensor.
 *  1. Every worked example of formats/<layout>.md (read from the pages themselves, examples.h): the
 *     runtime's size rule gives the example's size and bc_decode_row gives its matrix back. (That the
 *     TS packers give the example's bytes is test/layouts.test.ts.)
 *  2. For every case of the file: bc_decode_row returns T, and for every ISA this CPU has bc_matmul
 *     equals the exact integer sums of T and the activations, bit for bit: random and adversarial
 *     weights/activations, odd N, row sub-ranges, strided y, the TL table cache, the 2B-4T shapes.
 * Exits 1 on any failure, 2 without a readable weights file. BITCONV_TEST_QUICK=1 skips the largest shapes. */
#include "gguf.h"
#include "kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST_SEED 0x9E3779B97F4A7C15ull
#include "check.h"
#include "examples.h"
#include "util.h"
static int rnd_below(int n) { return (int)(rnd() % (uint64_t)n); }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

typedef struct { bc_layout layout; int64_t M, K; int BM, BK, bm; } shape;

static const uint32_t GGML_TYPE_OF[BC_LAYOUT_COUNT] = {
    [BC_LAYOUT_TQ1_0] = BC_GGML_TQ1_0, [BC_LAYOUT_TQ2_0] = BC_GGML_TQ2_0, [BC_LAYOUT_I2_S] = BC_GGML_I2_S,
    [BC_LAYOUT_TL1] = BC_GGML_TL1,     [BC_LAYOUT_TL2] = BC_GGML_TL2,
};
static const char *LNAME[] = {"tq1_0", "tq2_0", "i2_s", "tl1", "tl2"};

/* The tensor's size by the runtime's own rule (gguf_tensor_nbytes, the fork's sizes for I2_S/TL1/TL2). */
static size_t packed_size(const shape *s) {
    const int64_t ne[GGUF_MAX_DIMS] = {s->K, s->M, 1, 1};
    uint64_t n = 0;
    char err[128];
    if (gguf_tensor_nbytes(GGML_TYPE_OF[s->layout], ne, 2, &n, err, sizeof err)) {
        fprintf(stderr, "size of %lld x %lld: %s\n", (long long)s->M, (long long)s->K, err);
        exit(1);
    }
    return (size_t)n;
}

static bc_ternary make_ternary(const shape *s, const uint8_t *data) {
    bc_ternary w;
    memset(&w, 0, sizeof w);
    w.layout = s->layout;
    w.M = s->M;
    w.K = s->K;
    w.data = data;
    w.nbytes = packed_size(s);
    w.scale = 1.0f;
    w.BM = s->BM;
    w.BK = s->BK;
    w.bm = s->bm;
    return w;
}

/* ---------- 1. the worked examples of the formats/ pages ---------- */
static void check_decode(const shape *s, const uint8_t *data, const int8_t *T, const char *what) {
    bc_ternary w = make_ternary(s, data);
    int8_t *row = xmalloc((size_t)s->K);
    for (int64_t m = 0; m < s->M; m++) {
        bc_decode_row(&w, m, row);
        int bad = 0;
        for (int64_t k = 0; k < s->K; k++) bad += row[k] != T[m * s->K + k];
        CHECK(bad == 0, "%s: decode_row(%s) row %lld: %d wrong values", what, LNAME[s->layout], (long long)m, bad);
    }
    free(row);
}

static int layout_of(const char *name) {
    for (int l = 0; l < BC_LAYOUT_COUNT; l++)
        if (!strcmp(name, LNAME[l])) return l;
    return -1; /* hf-packed: a checkpoint format, not a kernel layout */
}

static int check_example(const example *e) {
    int l = layout_of(e->layout);
    if (l < 0) return 0;
    shape s = {(bc_layout)l, e->M, e->K, e->BM, e->BK, e->bm};
    CHECK(packed_size(&s) == e->nbytes, "%s: packed size %zu, the spec says %zu", e->where, packed_size(&s), e->nbytes);
    if (packed_size(&s) == e->nbytes) check_decode(&s, e->bytes, e->T, e->where);
    return 1;
}

static void test_worked_examples(void) {
    int n, used = 0, seen[BC_LAYOUT_COUNT] = {0};
    example *ex = load_examples(&n);
    for (int i = 0; i < n; i++) {
        if (check_example(&ex[i])) { used++; seen[layout_of(ex[i].layout)] = 1; }
        free(ex[i].T);
        free(ex[i].bytes);
    }
    free(ex);
    for (int l = 0; l < BC_LAYOUT_COUNT; l++) CHECK(seen[l], "formats/ has no worked example for %s", LNAME[l]);
    printf("test_kernels: %d worked examples from %s\n", used, FORMATS_DIR);
}

/* ---------- 2. the cases of the weights file ---------- */
enum { W_RANDOM, W_ALL_NEG, W_ALL_POS, W_ALL_ZERO, W_SPARSE, W_KINDS };
enum { X_RANDOM, X_ALL_MIN, X_ALL_MAX, X_EXTREMES, X_SMALL, X_KINDS };
static const char *WKIND[] = {"random", "all-1", "all+1", "all0", "sparse"}; /* as scripts/kernel-weights.ts names them */
static const char *XKIND[] = {"random", "all-128", "all127", "extremes", "small"};

typedef struct {
    const char *name;
    shape s;
    int wkind;
    const uint8_t *data; /* the packed tensor, in the mapped file */
    const int8_t *T;     /* its codes, row-major M x K */
} kcase;

static const char *weights_path;

static void bad_file(const char *why, const char *name) {
    fprintf(stderr, "%s: tensor %s: %s\n", weights_path, name, why);
    exit(2);
}

/* The case of packed tensor t (one with a "<name>.codes" key); 0 for the codes tensors themselves. */
static int case_of(const gguf_file *g, const gguf_tensor *t, kcase *c) {
    char key[GGUF_MAX_NAME + 16], codes[GGUF_MAX_NAME + 1];
    snprintf(key, sizeof key, "%s.codes", t->name);
    const gguf_kv *ck = gguf_find_kv(g, key);
    if (!ck) return 0;
    memset(c, 0, sizeof *c);
    c->name = t->name;
    int l = 0;
    while (l < BC_LAYOUT_COUNT && GGML_TYPE_OF[l] != t->type) l++;
    if (l == BC_LAYOUT_COUNT || t->n_dims != 2) bad_file("not a 2-D ternary tensor", t->name);
    c->s = (shape){(bc_layout)l, t->ne[1], t->ne[0], 0, 0, 0};
    snprintf(key, sizeof key, "%s.tl_params", t->name);
    const gguf_kv *p = gguf_find_kv(g, key);
    if (l == BC_LAYOUT_TL1 || l == BC_LAYOUT_TL2) {
        if (!p || p->type != GGUF_ARRAY || p->arr_type != GGUF_UINT32 || p->arr_n != 3) bad_file("no u32[3] .tl_params key", t->name);
        uint32_t v[3];
        memcpy(v, p->arr_data, sizeof v);
        c->s.BM = (int)v[0], c->s.BK = (int)v[1], c->s.bm = (int)v[2];
    }
    if (t->nbytes != packed_size(&c->s)) bad_file("size differs from the runtime's size rule", t->name);
    if (ck->type != GGUF_STRING || ck->str.len > GGUF_MAX_NAME) bad_file("its .codes key is not a tensor name", t->name);
    memcpy(codes, ck->str.ptr, ck->str.len);
    codes[ck->str.len] = 0;
    const gguf_tensor *ct = gguf_find_tensor(g, codes);
    if (!ct || ct->type != 24 /* I8 */ || ct->nbytes < (uint64_t)(c->s.M * c->s.K)) bad_file("its codes tensor is missing, not I8 or too short", t->name);
    c->data = t->data;
    c->T = (const int8_t *)ct->data;
    const char *dot = strrchr(t->name, '.');
    for (c->wkind = 0; dot && c->wkind < W_KINDS && strcmp(dot + 1, WKIND[c->wkind]); c->wkind++) {}
    if (!dot || c->wkind == W_KINDS) bad_file("the name ends in no weight kind", t->name);
    return 1;
}

static void fill_acts(int8_t *x, int64_t n, int kind) {
    for (int64_t i = 0; i < n; i++) {
        switch (kind) {
        case X_RANDOM: x[i] = (int8_t)(rnd_below(256) - 128); break;
        case X_ALL_MIN: x[i] = -128; break;
        case X_ALL_MAX: x[i] = 127; break;
        case X_EXTREMES: x[i] = rnd_below(2) ? 127 : -128; break;
        default: x[i] = (int8_t)(rnd_below(7) - 3); break;
        }
    }
}

static bc_isa isas[BC_ISA_COUNT]; /* the paths this CPU runs, scalar first */
static int n_isas;

/* Checks bc_decode_row against T on rows [m0, m1), then runs every ISA on those rows and compares with
 * the exact integer sums of T and x (rows outside the range must stay unwritten). */
/* bc_matmul with a dequantization: where a kernel applies it (it must for the x86 GEMM engines, from 8
 * tokens) every float in [m0, m1) has the bits of (float)sum / xs * ws and nothing else is written;
 * where it does not, y holds the exact sums and the floats are untouched. */
static void check_dequant(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int64_t m0, int64_t m1,
                          bc_isa isa, const int32_t *ref, int64_t ldy, const char *name, const char *what) {
    int64_t ldo = ldy + 5;
    float *out = xmalloc(sizeof(float) * (size_t)(N * ldo)), *xs = xmalloc(sizeof(float) * (size_t)N);
    int32_t *y = xmalloc(sizeof(int32_t) * (size_t)(N * ldy));
    const uint32_t SENT = 0x7FC0A5A5u; /* a NaN no kernel computes */
    for (int64_t i = 0; i < N * ldo; i++) memcpy(&out[i], &SENT, 4);
    for (int64_t n = 0; n < N; n++) xs[n] = 127.0f / (0.37f + 0.91f * (float)(n % 7)); /* activation scales */
    for (int64_t i = 0; i < N * ldy; i++) y[i] = 0;
    bc_dequant dq = {out, ldo, xs, 0.0123f};
    int applied = bc_matmul(w, x, xsum, N, y, ldy, m0, m1, isa, &dq);
    int64_t bad = 0, stray = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < ldo; m++) {
            uint32_t got;
            memcpy(&got, &out[n * ldo + m], 4);
            if (applied && m >= m0 && m < m1) {
                float want = (float)ref[n * ldy + m] / xs[n] * dq.ws;
                uint32_t wb;
                memcpy(&wb, &want, 4);
                bad += got != wb;
            } else {
                stray += got != SENT;
                if (!applied && m >= m0 && m < m1) bad += y[n * ldy + m] != ref[n * ldy + m];
            }
        }
    int x86_gemm = (isa == BC_ISA_AVX2 || isa == BC_ISA_AVX512) && N >= 8;
    CHECK(bad == 0 && stray == 0 && (applied || !x86_gemm),
          "%s %s N=%lld rows [%lld,%lld) isa %s, dequantizing: applied %d, %lld wrong, %lld floats written outside",
          name, what, (long long)N, (long long)m0, (long long)m1, bc_isa_name(isa), applied, (long long)bad, (long long)stray);
    free(y);
    free(xs);
    free(out);
}

static void check_matmul(const kcase *c, const int8_t *x, int64_t N, int64_t m0, int64_t m1, const char *what) {
    bc_ternary w = make_ternary(&c->s, c->data);
    const int8_t *T = c->T;
    int64_t M = c->s.M, K = c->s.K, ldy = M + 3;
    int32_t *xsum = xmalloc(sizeof(int32_t) * (size_t)N);
    for (int64_t n = 0; n < N; n++) {
        int32_t a = 0;
        for (int64_t k = 0; k < K; k++) a += x[n * K + k];
        xsum[n] = a;
    }
    int32_t *ref = xmalloc(sizeof(int32_t) * (size_t)(N * ldy));
    int8_t *row = xmalloc((size_t)K);
    int bad_decode = 0;
    for (int64_t m = m0; m < m1; m++) {
        bc_decode_row(&w, m, row);
        bad_decode += memcmp(row, T + m * K, (size_t)K) != 0;
        for (int64_t n = 0; n < N; n++) {
            int32_t a = 0;
            for (int64_t k = 0; k < K; k++) a += T[m * K + k] * x[n * K + k];
            ref[n * ldy + m] = a;
        }
    }
    CHECK(bad_decode == 0, "%s %s: decode_row disagrees with the codes on %d rows", c->name, what, bad_decode);
    int32_t *y = xmalloc(sizeof(int32_t) * (size_t)(N * ldy));
    for (int ii = 0; ii < n_isas; ii++) {
        const bc_isa isa = isas[ii];
        const int32_t SENT = (int32_t)0x5A5A5A5A;
        for (int64_t i = 0; i < N * ldy; i++) y[i] = SENT;
        bc_matmul(&w, x, xsum, N, y, ldy, m0, m1, isa, NULL);
        int64_t bad = 0, clobbered = 0, first = -1;
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < ldy; m++) {
                int32_t v = y[n * ldy + m];
                if (m >= m0 && m < m1) {
                    if (v != ref[n * ldy + m]) {
                        if (first < 0) first = n * ldy + m;
                        bad++;
                    }
                } else if (v != SENT)
                    clobbered++;
            }
        CHECK(bad == 0 && clobbered == 0,
              "%s %s N=%lld rows [%lld,%lld) isa %s: %lld wrong (first n=%lld m=%lld: %d vs %d), %lld written outside",
              c->name, what, (long long)N, (long long)m0, (long long)m1, bc_isa_name(isa), (long long)bad,
              first < 0 ? -1LL : (long long)(first / ldy), first < 0 ? -1LL : (long long)(first % ldy),
              first < 0 ? 0 : y[first], first < 0 ? 0 : ref[first], (long long)clobbered);
        check_dequant(&w, x, xsum, N, m0, m1, isa, ref, ldy, c->name, what);
    }
    free(y);
    free(row);
    free(ref);
    free(xsum);
}

/* Case c against N fresh activations of kind xkind; subranges: also a random granule-aligned row
 * range, the last granule alone and (row granule 1) one interior row. */
static void run_case(const kcase *c, int64_t N, int xkind, int subranges) {
    int64_t M = c->s.M, K = c->s.K;
    int8_t *x = xmalloc((size_t)(N * K));
    fill_acts(x, N * K, xkind);
    char what[32];
    snprintf(what, sizeof what, "x=%s", XKIND[xkind]);
    check_matmul(c, x, N, 0, M, what);
    if (subranges) {
        bc_ternary w = make_ternary(&c->s, c->data);
        int64_t g = bc_row_granule(&w);
        if (M / g >= 3) {
            int64_t a = g * (1 + rnd_below((int)(M / g - 2)));
            int64_t b = a + g * (1 + rnd_below((int)((M - a) / g)));
            check_matmul(c, x, N, a, b, what);
            check_matmul(c, x, N, M - g, M, what); /* the last granule alone */
        }
        if (g == 1 && M >= 2) check_matmul(c, x, N, 1, 2, what); /* one interior row */
    }
    free(x);
}

/* small and odd shapes: N covers the GEMV path, every AVX-512 tile size 1..12 (N % 12) and the AVX2
 * ones (N % 4) on random weights; every weight kind x activation kind on the GEMV and the GEMM engine */
static void test_small(const kcase *c) {
    static const int64_t Ns[] = {1, 2, 3, 4, 7, 13, 16, 18, 20, 22, 23, 33};
    if (c->wkind == W_RANDOM)
        for (int ni = 0; ni < (int)(sizeof Ns / sizeof Ns[0]); ni++) run_case(c, Ns[ni], X_RANDOM, 1);
    for (int xk = 0; xk < X_KINDS; xk++) {
        run_case(c, 1, xk, 0);  /* GEMV paths */
        run_case(c, 14, xk, 0); /* GEMM engine (12 + 2 tokens) */
    }
}

/* the TL GEMVs keep one token's tables between calls: the same activation buffer with one byte changed,
 * or the same bytes under other TL parameters, must not reuse them */
static void test_lut_cache(const kcase *c, int8_t *x, int i) {
    check_matmul(c, x, 1, 0, c->s.M, "lut cache: first");
    check_matmul(c, x, 1, 0, c->s.M, "lut cache: same x");
    x[i * 50 + 7] = (int8_t)(x[i * 50 + 7] == 5 ? -5 : 5);
    check_matmul(c, x, 1, 0, c->s.M, "lut cache: x changed in place");
}

/* the BitNet 2B-4T shapes */
static void test_large(const kcase *c) {
    if (c->wkind == W_ALL_NEG) {
        run_case(c, 1, X_ALL_MIN, 0);
        return;
    }
    run_case(c, 1, X_RANDOM, 1);
    run_case(c, c->s.M * c->s.K > 10000000 ? 5 : 17, X_RANDOM, 0);
}

static int starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: test_kernels WEIGHTS.gguf (write it with `node dist/scripts/kernel-weights.js WEIGHTS.gguf` after `npm run build`)\n");
        return 2;
    }
    weights_path = argv[1];
    gguf_file g;
    char err[256];
    if (gguf_open(&g, weights_path, err, sizeof err)) {
        fprintf(stderr, "%s: %s (write it with `node dist/scripts/kernel-weights.js %s`)\n", weights_path, err, weights_path);
        return 2;
    }
    n_isas = bc_cpu_isas(isas);
    const char *quick = getenv("BITCONV_TEST_QUICK");
    int full = !(quick && *quick && strcmp(quick, "0"));
    printf("test_kernels: ISAs tested: ");
    for (int i = 0; i < n_isas; i++) printf("%s%s", i ? ", " : "", bc_isa_name(isas[i]));
    printf("\n");

    test_worked_examples();
    int after_examples = failures;

    int seen[3][BC_LAYOUT_COUNT] = {{0}}, kinds[W_KINDS] = {0}, n_lut = 0;
    int8_t *lut_x = xmalloc(4096);
    fill_acts(lut_x, 4096, X_RANDOM);
    for (uint64_t i = 0; i < g.n_tensors; i++) {
        kcase c;
        if (!case_of(&g, &g.tensors[i], &c)) continue;
        if (starts(c.name, "small.")) {
            test_small(&c);
            seen[0][c.s.layout]++;
            kinds[c.wkind]++;
        } else if (starts(c.name, "lut.")) {
            if (c.s.K > 4096) bad_file("K above 4096", c.name);
            test_lut_cache(&c, lut_x, n_lut++);
            seen[1][c.s.layout]++;
        } else if (starts(c.name, "large.")) {
            if (full) test_large(&c);
            seen[2][c.s.layout]++;
        } else
            bad_file("in no test group (small., lut., large.)", c.name);
    }
    free(lut_x);
    gguf_free(&g);
    /* a file that lost cases fails here rather than testing less */
    for (int l = 0; l < BC_LAYOUT_COUNT; l++) {
        CHECK(seen[0][l] > 0 && seen[2][l] > 0, "%s: no small or no large case for %s", weights_path, LNAME[l]);
        if (l == BC_LAYOUT_TL1 || l == BC_LAYOUT_TL2) CHECK(seen[1][l] > 0, "%s: no lut cache case for %s", weights_path, LNAME[l]);
    }
    for (int k = 0; k < W_KINDS; k++) CHECK(kinds[k] > 0, "%s: no small case with %s weights", weights_path, WKIND[k]);

    printf("test_kernels: %d checks, %d failures (worked examples: %d failures)%s\n", checks, failures,
           after_examples, full ? "" : " [quick]");
    return failures ? 1 : 0;
}
