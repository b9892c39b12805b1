/* Kernel dispatch: row granule, reference decode, matmul by layout and ISA, ISA detection. */
#include "kernels.h"
#include "simd.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef void (*bc_matmul_fn)(const bc_ternary *, const int8_t *, const int32_t *, int64_t, int32_t *,
                             int64_t, int64_t, int64_t);

static const struct {
    bc_decode_fn decode;
    bc_matmul_fn mm[3];
} TABLE[BC_LAYOUT_COUNT] = {
    [BC_LAYOUT_TQ1_0] = {bc_tq1_0_decode_row, {bc_tq1_0_matmul_scalar, bc_tq1_0_matmul_avx2, bc_tq1_0_matmul_avx512}},
    [BC_LAYOUT_TQ2_0] = {bc_tq2_0_decode_row, {bc_tq2_0_matmul_scalar, bc_tq2_0_matmul_avx2, bc_tq2_0_matmul_avx512}},
    [BC_LAYOUT_I2_S] = {bc_i2_s_decode_row, {bc_i2_s_matmul_scalar, bc_i2_s_matmul_avx2, bc_i2_s_matmul_avx512}},
    [BC_LAYOUT_TL1] = {bc_tl1_decode_row, {bc_tl1_matmul_scalar, bc_tl1_matmul_avx2, bc_tl1_matmul_avx512}},
    [BC_LAYOUT_TL2] = {bc_tl2_decode_row, {bc_tl2_matmul_scalar, bc_tl2_matmul_avx2, bc_tl2_matmul_avx512}},
};

int64_t bc_row_granule(const bc_ternary *w) {
    if (w->layout == BC_LAYOUT_TL1 || w->layout == BC_LAYOUT_TL2) return w->BM > 0 ? w->BM : 1;
    return 1;
}

void bc_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    TABLE[w->layout].decode(w, m, out);
}

/* What the hardware (and the OS, for the register state) supports; computed once. */
static bc_isa hw_isa_value;
static pthread_once_t hw_once = PTHREAD_ONCE_INIT;
static void hw_detect(void) {
    __builtin_cpu_init();
    bc_isa isa = BC_ISA_SCALAR;
    if (__builtin_cpu_supports("avx2")) isa = BC_ISA_AVX2;
    if (isa == BC_ISA_AVX2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vnni"))
        isa = BC_ISA_AVX512;
    hw_isa_value = isa;
}
static bc_isa hw_isa(void) {
    pthread_once(&hw_once, hw_detect);
    return hw_isa_value;
}

bc_isa bc_detect_isa(void) {
    bc_isa isa = hw_isa();
    const char *e = getenv("BITCONV_ISA"); /* read every call: the CLI may set it after start-up */
    if (e && *e) {
        bc_isa want = isa;
        if (!strcmp(e, "scalar")) want = BC_ISA_SCALAR;
        else if (!strcmp(e, "avx2")) want = BC_ISA_AVX2;
        else if (!strcmp(e, "avx512")) want = BC_ISA_AVX512;
        if (want < isa) isa = want; /* can only lower what the CPU has */
    }
    return isa;
}

const char *bc_isa_name(bc_isa isa) {
    switch (isa) {
    case BC_ISA_SCALAR: return "scalar";
    case BC_ISA_AVX2: return "avx2";
    case BC_ISA_AVX512: return "avx512";
    }
    return "unknown";
}

void bc_matmul(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N, int32_t *y,
               int64_t ldy, int64_t m0, int64_t m1, bc_isa isa) {
    if (N <= 0 || m1 <= m0) return;
    bc_isa hw = hw_isa();
    if ((int)isa > (int)hw) isa = hw; /* never run an instruction the CPU lacks */
    if ((int)isa < 0) isa = BC_ISA_SCALAR;
    TABLE[w->layout].mm[isa](w, x, xsum, N, y, ldy, m0, m1);
}

/* ---- shared helpers (simd.h) ---- */

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

#define BC_SCRATCH_SLOTS 4
typedef struct { void *p[BC_SCRATCH_SLOTS]; size_t n[BC_SCRATCH_SLOTS]; } scratch_set;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void scratch_free(void *v) {
    scratch_set *s = v;
    for (int i = 0; i < BC_SCRATCH_SLOTS; i++) free(s->p[i]);
    free(s);
}
static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

void *bc_scratch(int slot, size_t bytes) {
    pthread_once(&scratch_once, scratch_init);
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        pthread_setspecific(scratch_key, s);
    }
    if (s->n[slot] < bytes) {
        size_t want = (bytes + 4095) & ~(size_t)4095;
        void *p = NULL;
        if (posix_memalign(&p, 64, want)) return NULL;
        free(s->p[slot]);
        s->p[slot] = p;
        s->n[slot] = want;
    }
    return s->p[slot];
}
