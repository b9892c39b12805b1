/* TQ1_0 and TL1 weights rewritten at load as TQ2_0 (formats/tq2_0.md), in memory only: the same codes
 * (and for TQ1_0 the same block d; TL1's scale stays the tensor's), so every matmul computes the same
 * integers and every result is bit-identical; only the bytes the decode GEMVs stream change.
 * Why: a TQ1_0 weight is a base-3 digit that costs about 8 vector operations per 32 weights to
 * extract on AVX2, and there that and not memory sets decode speed; TQ2_0's 2-bit fields cost a shift
 * and a mask. There TQ1_0 decodes 1.5-1.8x faster as TQ2_0 although that reads 22 % more bytes. TL1's
 * table-lookup GEMV is compute-bound on AVX2 too, and TQ2_0 holds it in 3 % more bytes. On AVX-512
 * both GEMVs keep up (TQ1_0's multiplies its bytes as they are: tq1_0.c), and on ARM the trade is
 * unmeasured: auto leaves those as they are (docs/benchmarks.md has the figures). */
#include "model.h"
#include "util.h"
#include <stdatomic.h>
#include <string.h>

int rt_parse_repack(const char *name, rt_repack *out) {
    if (!strcmp(name, "auto")) *out = RT_REPACK_AUTO;
    else if (!strcmp(name, "on")) *out = RT_REPACK_ON;
    else if (!strcmp(name, "off")) *out = RT_REPACK_OFF;
    else return 0;
    return 1;
}

int rt_repack_wanted(rt_repack mode, bc_isa isa, const bc_ternary *w) {
    if (w->layout != BC_LAYOUT_TQ1_0 && !(w->layout == BC_LAYOUT_TL1 && w->K % 256 == 0)) return 0;
    if (mode != RT_REPACK_AUTO) return mode == RT_REPACK_ON;
    return isa == BC_ISA_AVX2;
}

typedef struct { const bc_ternary *src; uint8_t *dst; bc_isa isa; atomic_int failed; } repack_job;

static void repack_rows(void *arg, int ith, int nth) {
    repack_job *j = arg;
    const bc_ternary *w = j->src;
    int64_t m0, m1;
    pool_split(w->M, 1, ith, nth, &m0, &m1);
    uint8_t *codes = rt_alloc((size_t)w->K), *d = rt_alloc((size_t)(w->K / 128));
    size_t rb = bc_tq2_0_row_bytes(w->K);
    if (w->layout == BC_LAYOUT_TL1) /* d = f16 1.0: the tensor's scale stays w->scale */
        for (int64_t b = 0; b < w->K / 256; b++) d[2 * b] = 0x00, d[2 * b + 1] = 0x3c;
    for (int64_t m = m0; m < m1; m++) {
        if (w->layout != BC_LAYOUT_TL1) bc_tq1_0_row_codes(w, m, j->isa, codes, d);
        else if (bc_tl1_row_codes(w, m, codes)) { atomic_store(&j->failed, 1); break; }
        bc_tq2_0_pack_row(codes, d, w->K, j->dst + (size_t)m * rb);
    }
    rt_free(d);
    rt_free(codes);
}

size_t rt_tq2_0_bytes(const bc_ternary *w) { return (size_t)w->M * bc_tq2_0_row_bytes(w->K); }

int rt_repack_to_tq2_0(const bc_ternary *src, uint8_t *dst, pool *p, bc_isa isa) {
    repack_job j = {src, dst, bc_usable_isa(isa), 0};
    if ((int)j.isa < 0) j.isa = BC_ISA_SCALAR;
    if (p) pool_run(p, repack_rows, &j);
    else repack_rows(&j, 0, 1);
    return atomic_load(&j.failed) ? -1 : 0;
}

/* The seven BitLinear weights of a layer, as an initializer of 7 pointers (const or not, as ly is) */
#define LAYER_WEIGHTS(ly) {&(ly)->wq, &(ly)->wk, &(ly)->wv, &(ly)->wo, &(ly)->wgate, &(ly)->wup, &(ly)->wdown}

int model_repack_count(const rt_model *m, rt_repack mode, bc_isa isa) {
    int n = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const bc_ternary *ws[7] = LAYER_WEIGHTS(&m->layers[l]);
        for (int i = 0; i < 7; i++) n += rt_repack_wanted(mode, isa, ws[i]);
    }
    return n;
}

int model_repack(rt_model *m, rt_repack mode, pool *p, bc_isa isa) {
    size_t total = 0;
    for (int l = 0; l < m->n_layers; l++) {
        bc_ternary *ws[7] = LAYER_WEIGHTS(&m->layers[l]);
        for (int i = 0; i < 7; i++)
            if (rt_repack_wanted(mode, isa, ws[i])) total += rt_tq2_0_bytes(ws[i]);
    }
    if (total == 0) return 0;
    m->repacked = rt_alloc_large(total); /* 2 MiB pages, as the head's tiles: streamed once per token */
    m->repacked_bytes = total;
    int n = 0;
    uint8_t *dst = m->repacked;
    for (int l = 0; l < m->n_layers; l++) {
        bc_ternary *ws[7] = LAYER_WEIGHTS(&m->layers[l]);
        for (int i = 0; i < 7; i++) {
            bc_ternary *w = ws[i];
            if (!rt_repack_wanted(mode, isa, w) || rt_repack_to_tq2_0(w, dst, p, isa)) continue; /* stays as it is */
            w->layout = BC_LAYOUT_TQ2_0;
            w->BM = w->BK = w->bm = 0;
            w->data = dst;
            w->nbytes = rt_tq2_0_bytes(w);
            dst += w->nbytes;
            n++;
        }
    }
    return n;
}
