/* Tests of the ternary matmul kernels (src/kernels.h).
 *  1. Test-side packers (written from formats/<layout>.md) reproduce every worked example of those
 *     pages byte for byte, read from the pages themselves (examples.h), and bc_decode_row inverts
 *     them; the packers then generate the random matrices of 2.
 *  2. For every layout and every ISA this CPU has, bc_matmul equals the scalar path and a naive
 *     reference built from bc_decode_row, bit for bit: random and adversarial weights/activations,
 *     odd N, row sub-ranges, strided y, the 2B-4T shapes.
 * Exits 1 on any failure. BITCONV_TEST_QUICK=1 skips the largest shapes. */
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

/* ---------- test-side packers, written from formats/<layout>.md (T is int8 [M][K] row-major) ---------- */
typedef struct { bc_layout layout; int64_t M, K; int BM, BK, bm; } shape;

/* The tensor's size by the runtime's own rule (gguf_tensor_nbytes, the fork's sizes for I2_S/TL1/TL2),
 * so the size rule is written once in C; the worked examples check it against the spec's sizes. */
static const uint32_t GGML_TYPE_OF[BC_LAYOUT_COUNT] = {
    [BC_LAYOUT_TQ1_0] = BC_GGML_TQ1_0, [BC_LAYOUT_TQ2_0] = BC_GGML_TQ2_0, [BC_LAYOUT_I2_S] = BC_GGML_I2_S,
    [BC_LAYOUT_TL1] = BC_GGML_TL1,     [BC_LAYOUT_TL2] = BC_GGML_TL2,
};

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

static void pack_tq2_0(const shape *s, const int8_t *T, uint8_t *out) {
    int64_t nb = s->K / 256;
    for (int64_t m = 0; m < s->M; m++)
        for (int64_t b = 0; b < nb; b++) {
            const int8_t *t = T + m * s->K + b * 256;
            uint8_t *blk = out + (m * nb + b) * 66;
            for (int h = 0; h < 2; h++)
                for (int j = 0; j < 32; j++)
                    blk[h * 32 + j] = (uint8_t)((t[h * 128 + j] + 1) | (t[h * 128 + 32 + j] + 1) << 2 |
                                                (t[h * 128 + 64 + j] + 1) << 4 | (t[h * 128 + 96 + j] + 1) << 6);
            blk[64] = 0x00;
            blk[65] = 0x3C; /* d = 1.0 */
        }
}

static uint8_t tq1_byte(int v) { return (uint8_t)((v * 256 + 242) / 243); }

static void pack_tq1_0(const shape *s, const int8_t *T, uint8_t *out) {
    int64_t nb = s->K / 256;
    for (int64_t m = 0; m < s->M; m++)
        for (int64_t b = 0; b < nb; b++) {
            const int8_t *t = T + m * s->K + b * 256;
            uint8_t *blk = out + (m * nb + b) * 54;
#define C(e) (t[(e)] + 1)
            for (int j = 0; j < 32; j++)
                blk[j] = tq1_byte((((C(j) * 3 + C(j + 32)) * 3 + C(j + 64)) * 3 + C(j + 96)) * 3 + C(j + 128));
            for (int j = 0; j < 16; j++)
                blk[32 + j] = tq1_byte((((C(160 + j) * 3 + C(176 + j)) * 3 + C(192 + j)) * 3 + C(208 + j)) * 3 + C(224 + j));
            for (int j = 0; j < 4; j++)
                blk[48 + j] = tq1_byte((((C(240 + j) * 3 + C(244 + j)) * 3 + C(248 + j)) * 3 + C(252 + j)) * 3);
#undef C
            blk[52] = 0x00;
            blk[53] = 0x3C;
        }
}

static void pack_i2_s(const shape *s, const int8_t *T, uint8_t *out, float scale) {
    int64_t n = s->M * s->K;
    memset(out, 0, (size_t)(n / 4 + 32));
    for (int64_t i = 0; i < n; i++) {
        int64_t blk = i / 128, j = i % 128;
        out[32 * blk + j % 32] |= (uint8_t)((T[i] + 1) << (6 - 2 * (j / 32)));
    }
    memcpy(out + n / 4, &scale, 4);
}

static int pair_idx(const int8_t *t) { return 3 * t[0] + t[1] + 4; }

static void pack_tl1(const shape *s, const int8_t *T, uint8_t *out, float scale) {
    int64_t M = s->M, K = s->K, BM = s->BM, BK = s->BK, bm = s->bm, by = 256 / bm, o = 0;
    for (int64_t iM = 0; iM < M / BM; iM++)
        for (int64_t iK = 0; iK < K / BK; iK++)
            for (int64_t ib = 0; ib < BM / bm; ib++)
                for (int64_t iy = 0; iy < BK / by; iy++)
                    for (int64_t ir = 0; ir < bm / 16; ir++)
                        for (int64_t ip = 0; ip < by / 4; ip++)
                            for (int64_t r = 0; r < 16; r++) {
                                int64_t m = iM * BM + ib * bm + ir * 16 + r;
                                int64_t j0 = iK * (BK / 2) + iy * (by / 2) + 2 * ip;
                                const int8_t *t = T + m * K + 2 * j0;
                                out[o++] = (uint8_t)(pair_idx(t) << 4 | pair_idx(t + 2));
                            }
    memset(out + o, 0, 32);
    memcpy(out + o, &scale, 4);
}

static const int PERM[4] = {0, 2, 1, 3};

static void pack_tl2(const shape *s, const int8_t *T, uint8_t *out, float scale) {
    int64_t M = s->M, K = s->K, BM = s->BM, BK = s->BK;
    int64_t K2 = K % BK, K3 = K - K2, o = 0;
    size_t total = packed_size(s);
    memset(out, 0, total);
#define TRIPLE(m, t) (9 * T[(m) * K + 3 * (t)] + 3 * T[(m) * K + 3 * (t) + 1] + T[(m) * K + 3 * (t) + 2])
    for (int64_t iM = 0; iM < M / BM; iM++)
        for (int64_t iK = 0; iK < K3 / BK; iK++)
            for (int64_t ib = 0; ib < BM / 32; ib++)
                for (int64_t iy = 0; iy < BK / 6; iy++)
                    for (int64_t p = 0; p < 32; p++) {
                        int64_t m = iM * BM + ib * 32 + PERM[p / 8] * 8 + p % 8;
                        int64_t t0 = iK * (BK / 3) + 2 * iy;
                        int a = abs(TRIPLE(m, t0)), b = abs(TRIPLE(m, t0 + 1));
                        out[o++] = (uint8_t)(a << 4 | b);
                    }
    for (int64_t iM = 0; iM < M / BM; iM++)
        for (int64_t iK = 0; iK < K3 / BK; iK++)
            for (int64_t ib = 0; ib < BM / 32; ib++)
                for (int64_t ig = 0; ig < BK / 24; ig++) {
                    for (int c = 0; c < 16; c++) {
                        unsigned word = 0;
                        for (int i = 0; i < 16; i++) {
                            int64_t m = iM * BM + ib * 32 + (i % 2) * 16 + c;
                            int64_t t = iK * (BK / 3) + 8 * ig + i / 2;
                            if (TRIPLE(m, t) < 0) word |= 1u << (15 - i);
                        }
                        out[o++] = (uint8_t)(word & 255);
                        out[o++] = (uint8_t)(word >> 8);
                    }
                }
#undef TRIPLE
    for (int64_t iM = 0; iM < M / BM; iM++)
        for (int64_t iK2 = 0; iK2 < K2 / 32; iK2++)
            for (int64_t ib = 0; ib < BM / 32; ib++)
                for (int64_t iy = 0; iy < 8; iy++)
                    for (int64_t p = 0; p < 32; p++) {
                        int64_t m = iM * BM + ib * 32 + PERM[p / 8] * 8 + p % 8;
                        int64_t j0 = iK2 * 16 + 2 * iy;
                        const int8_t *t = T + m * K + K3 + 2 * j0;
                        out[o++] = (uint8_t)(pair_idx(t) << 4 | pair_idx(t + 2));
                    }
    if ((size_t)o > total - 32) {
        fprintf(stderr, "TL2 stream %lld exceeds the data part of %zu bytes\n", (long long)o, total);
        exit(1);
    }
    memcpy(out + total - 32, &scale, 4); /* the f32 scale opens the 32-byte tail */
}

static uint8_t *pack(const shape *s, const int8_t *T) {
    uint8_t *buf = xmalloc(packed_size(s));
    switch (s->layout) {
    case BC_LAYOUT_TQ2_0: pack_tq2_0(s, T, buf); break;
    case BC_LAYOUT_TQ1_0: pack_tq1_0(s, T, buf); break;
    case BC_LAYOUT_I2_S: pack_i2_s(s, T, buf, 0.5f); break;
    case BC_LAYOUT_TL1: pack_tl1(s, T, buf, 0.5f); break;
    case BC_LAYOUT_TL2: pack_tl2(s, T, buf, 0.5f); break;
    default: break;
    }
    return buf;
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

static const char *LNAME[] = {"tq1_0", "tq2_0", "i2_s", "tl1", "tl2"};

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

/* The test-side packer on the example's matrix gives the example's bytes (the tq d fields aside: the
 * packer writes d = 1, so they are compared as f16 values), and bc_decode_row gives the matrix back. */
static int check_example(const example *e) {
    int l = layout_of(e->layout);
    if (l < 0) return 0;
    shape s = {(bc_layout)l, e->M, e->K, e->BM, e->BK, e->bm};
    CHECK(packed_size(&s) == e->nbytes, "%s: packed size %zu, the spec says %zu", e->where, packed_size(&s), e->nbytes);
    if (packed_size(&s) != e->nbytes) return 1;
    uint8_t *b = xmalloc(e->nbytes);
    switch (s.layout) {
    case BC_LAYOUT_TQ2_0: pack_tq2_0(&s, e->T, b); break;
    case BC_LAYOUT_TQ1_0: pack_tq1_0(&s, e->T, b); break;
    case BC_LAYOUT_I2_S: pack_i2_s(&s, e->T, b, e->scale); break;
    case BC_LAYOUT_TL1: pack_tl1(&s, e->T, b, e->scale); break;
    case BC_LAYOUT_TL2: pack_tl2(&s, e->T, b, e->scale); break;
    default: break;
    }
    int block = s.layout == BC_LAYOUT_TQ2_0 ? 66 : s.layout == BC_LAYOUT_TQ1_0 ? 54 : 0;
    for (size_t i = 0; i < e->nbytes; i++) {
        if (block && i % (size_t)block == (size_t)block - 2) {
            float d = rt_f16_to_f32((uint16_t)(e->bytes[i] | e->bytes[i + 1] << 8));
            CHECK(d == e->d, "%s: block d at byte %zu is %g, the example's d is %g", e->where, i, (double)d, (double)e->d);
            i++;
            continue;
        }
        CHECK(b[i] == e->bytes[i], "%s: byte %zu = 0x%02X, spec 0x%02X", e->where, i, b[i], e->bytes[i]);
    }
    check_decode(&s, e->bytes, e->T, e->where);
    free(b);
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

/* ---------- 2. matmul equivalence ---------- */
enum { W_RANDOM, W_ALL_NEG, W_ALL_POS, W_ALL_ZERO, W_SPARSE, W_KINDS };
enum { X_RANDOM, X_ALL_MIN, X_ALL_MAX, X_EXTREMES, X_SMALL, X_KINDS };
static const char *WKIND[] = {"random", "all-1", "all+1", "all0", "sparse"};
static const char *XKIND[] = {"random", "all-128", "all127", "extremes", "small"};

static void fill_weights(int8_t *T, int64_t n, int kind) {
    for (int64_t i = 0; i < n; i++) {
        switch (kind) {
        case W_RANDOM: T[i] = (int8_t)(rnd_below(3) - 1); break;
        case W_ALL_NEG: T[i] = -1; break;
        case W_ALL_POS: T[i] = 1; break;
        case W_ALL_ZERO: T[i] = 0; break;
        default: T[i] = rnd_below(16) == 0 ? (int8_t)(rnd_below(2) * 2 - 1) : 0; break;
        }
    }
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

/* Runs every ISA on rows [m0, m1) and compares with the naive decode_row reference. */
static void check_matmul(const shape *s, const uint8_t *data, const int8_t *T, const int8_t *x, int64_t N,
                         int64_t m0, int64_t m1, const char *what) {
    bc_ternary w = make_ternary(s, data);
    int64_t M = s->M, K = s->K, ldy = M + 3;
    int32_t *xsum = xmalloc(sizeof(int32_t) * (size_t)N);
    for (int64_t n = 0; n < N; n++) {
        int32_t a = 0;
        for (int64_t k = 0; k < K; k++) a += x[n * K + k];
        xsum[n] = a;
    }
    /* naive reference from bc_decode_row (also checks decode_row against the generating T) */
    int32_t *ref = xmalloc(sizeof(int32_t) * (size_t)(N * ldy));
    int8_t *row = xmalloc((size_t)K);
    int bad_decode = 0;
    for (int64_t m = m0; m < m1; m++) {
        bc_decode_row(&w, m, row);
        if (T) bad_decode += memcmp(row, T + m * K, (size_t)K) != 0;
        for (int64_t n = 0; n < N; n++) {
            int32_t a = 0;
            for (int64_t k = 0; k < K; k++) a += row[k] * x[n * K + k];
            ref[n * ldy + m] = a;
        }
    }
    CHECK(bad_decode == 0, "%s: decode_row disagrees with the packed codes on %d rows", what, bad_decode);
    int32_t *y = xmalloc(sizeof(int32_t) * (size_t)(N * ldy));
    for (int ii = 0; ii < n_isas; ii++) {
        const bc_isa isa = isas[ii];
        const int32_t SENT = (int32_t)0x5A5A5A5A;
        for (int64_t i = 0; i < N * ldy; i++) y[i] = SENT;
        bc_matmul(&w, x, xsum, N, y, ldy, m0, m1, isa);
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
              "%s %s M=%lld K=%lld N=%lld rows [%lld,%lld) isa %s: %lld wrong (first n=%lld m=%lld: %d vs %d), %lld written outside",
              what, LNAME[s->layout], (long long)M, (long long)K, (long long)N, (long long)m0, (long long)m1,
              bc_isa_name(isa), (long long)bad, first < 0 ? -1LL : (long long)(first / ldy),
              first < 0 ? -1LL : (long long)(first % ldy), first < 0 ? 0 : y[first], first < 0 ? 0 : ref[first],
              (long long)clobbered);
    }
    free(y);
    free(row);
    free(ref);
    free(xsum);
}

static void run_shape(const shape *s, int64_t N, int wkind, int xkind, int subranges) {
    int64_t M = s->M, K = s->K;
    int8_t *T = xmalloc((size_t)(M * K));
    fill_weights(T, M * K, wkind);
    uint8_t *data = pack(s, T);
    int8_t *x = xmalloc((size_t)(N * K));
    fill_acts(x, N * K, xkind);
    char what[64];
    snprintf(what, sizeof what, "w=%s x=%s", WKIND[wkind], XKIND[xkind]);
    check_matmul(s, data, T, x, N, 0, M, what);
    if (subranges) {
        bc_ternary w = make_ternary(s, data);
        int64_t g = bc_row_granule(&w);
        if (M / g >= 3) {
            int64_t a = g * (1 + rnd_below((int)(M / g - 2)));
            int64_t b = a + g * (1 + rnd_below((int)((M - a) / g)));
            check_matmul(s, data, T, x, N, a, b, what);
            check_matmul(s, data, T, x, N, M - g, M, what); /* the last granule alone */
        }
        if (g == 1 && M >= 2) check_matmul(s, data, T, x, N, 1, 2, what); /* one interior row */
    }
    free(x);
    free(data);
    free(T);
}

int main(void) {
    n_isas = bc_cpu_isas(isas);
    const char *quick = getenv("BITCONV_TEST_QUICK");
    int full = !(quick && *quick && strcmp(quick, "0"));
    printf("test_kernels: ISAs tested: ");
    for (int i = 0; i < n_isas; i++) printf("%s%s", i ? ", " : "", bc_isa_name(isas[i]));
    printf("\n");

    test_worked_examples();
    int after_examples = failures;

    /* small and odd shapes, legal for each layout */
    const shape small[] = {
        {BC_LAYOUT_TQ2_0, 1, 256, 0, 0, 0},     {BC_LAYOUT_TQ2_0, 7, 512, 0, 0, 0},
        {BC_LAYOUT_TQ2_0, 37, 768, 0, 0, 0},    {BC_LAYOUT_TQ2_0, 64, 256, 0, 0, 0},
        {BC_LAYOUT_TQ1_0, 1, 256, 0, 0, 0},     {BC_LAYOUT_TQ1_0, 7, 512, 0, 0, 0},
        {BC_LAYOUT_TQ1_0, 37, 768, 0, 0, 0},    {BC_LAYOUT_TQ1_0, 64, 256, 0, 0, 0},
        {BC_LAYOUT_I2_S, 1, 128, 0, 0, 0},      {BC_LAYOUT_I2_S, 3, 384, 0, 0, 0},
        {BC_LAYOUT_I2_S, 37, 640, 0, 0, 0},     {BC_LAYOUT_I2_S, 64, 256, 0, 0, 0},
        {BC_LAYOUT_I2_S, 5, 128, 0, 0, 0},
        {BC_LAYOUT_TL1, 32, 16, 32, 16, 32},    {BC_LAYOUT_TL1, 64, 64, 64, 64, 64},
        {BC_LAYOUT_TL1, 96, 256, 32, 128, 32},  {BC_LAYOUT_TL1, 256, 192, 128, 64, 64},
        {BC_LAYOUT_TL1, 160, 320, 160, 64, 32},
        {BC_LAYOUT_TL2, 32, 320, 32, 96, 32},   {BC_LAYOUT_TL2, 64, 288, 32, 96, 32},
        {BC_LAYOUT_TL2, 96, 416, 96, 192, 32},  {BC_LAYOUT_TL2, 160, 2592, 160, 96, 32},
        {BC_LAYOUT_TL2, 64, 264, 64, 24, 32},
        /* K long enough to be split into several K chunks by the GEMM engine */
        {BC_LAYOUT_TQ2_0, 33, 2304, 0, 0, 0},   {BC_LAYOUT_TQ1_0, 9, 1280, 0, 0, 0},
        {BC_LAYOUT_I2_S, 40, 1408, 0, 0, 0},    {BC_LAYOUT_TL1, 64, 2048, 64, 128, 32},
        {BC_LAYOUT_TL2, 64, 2144, 32, 96, 32},
    };
    /* N covers the GEMV path, every AVX-512 tile size 1..12 (N % 12) and the AVX2 ones (N % 4) */
    const int64_t Ns[] = {1, 2, 3, 4, 7, 13, 16, 18, 20, 22, 23, 33};
    int nshapes = (int)(sizeof small / sizeof small[0]);
    for (int i = 0; i < nshapes; i++) {
        for (int ni = 0; ni < (int)(sizeof Ns / sizeof Ns[0]); ni++)
            run_shape(&small[i], Ns[ni], W_RANDOM, X_RANDOM, 1);
        for (int wk = 0; wk < W_KINDS; wk++)
            for (int xk = 0; xk < X_KINDS; xk++) {
                run_shape(&small[i], 1, wk, xk, 0);  /* GEMV paths */
                run_shape(&small[i], 14, wk, xk, 0); /* GEMM engine (12 + 2 tokens) */
            }
    }

    /* the TL GEMVs keep one token's tables between calls: the same activation buffer with one byte
     * changed, or the same bytes under other TL parameters, must not reuse them */
    {
        const shape tl[3] = {{BC_LAYOUT_TL1, 64, 256, 64, 128, 32}, {BC_LAYOUT_TL1, 64, 256, 64, 128, 64},
                             {BC_LAYOUT_TL2, 64, 288, 32, 96, 32}};
        int8_t *x = xmalloc(288);
        fill_acts(x, 288, X_RANDOM);
        for (int i = 0; i < 3; i++) {
            int8_t *T = xmalloc((size_t)(tl[i].M * tl[i].K));
            fill_weights(T, tl[i].M * tl[i].K, W_RANDOM);
            uint8_t *data = pack(&tl[i], T);
            check_matmul(&tl[i], data, T, x, 1, 0, tl[i].M, "lut cache: first");
            check_matmul(&tl[i], data, T, x, 1, 0, tl[i].M, "lut cache: same x");
            x[i * 50 + 7] = (int8_t)(x[i * 50 + 7] == 5 ? -5 : 5);
            check_matmul(&tl[i], data, T, x, 1, 0, tl[i].M, "lut cache: x changed in place");
            free(data);
            free(T);
        }
        free(x);
    }

    /* the BitNet 2B-4T shapes (TL parameters chosen legal for them) */
    if (full) {
        const int64_t MK[4][2] = {{2560, 2560}, {640, 2560}, {6912, 2560}, {2560, 6912}};
        for (int l = 0; l < BC_LAYOUT_COUNT; l++)
            for (int i = 0; i < 4; i++) {
                shape s = {(bc_layout)l, MK[i][0], MK[i][1], 0, 0, 0};
                if (l == BC_LAYOUT_TL1) { s.BM = MK[i][0] == 640 ? 128 : 256; s.BK = 128; s.bm = MK[i][0] == 640 ? 64 : 32; }
                if (l == BC_LAYOUT_TL2) { s.BM = MK[i][0] == 640 ? 128 : 256; s.BK = 96; s.bm = 32; }
                int big = MK[i][0] * MK[i][1] > 10000000;
                run_shape(&s, 1, W_RANDOM, X_RANDOM, 1);
                run_shape(&s, big ? 5 : 17, W_RANDOM, X_RANDOM, 0);
                if (i == 0) run_shape(&s, 1, W_ALL_NEG, X_ALL_MIN, 0);
            }
    }

    printf("test_kernels: %d checks, %d failures (worked examples: %d failures)%s\n", checks, failures,
           after_examples, full ? "" : " [quick]");
    return failures ? 1 : 0;
}
