/* TQ1_0 weights rewritten at load as TQ2_0 (formats/tq2_0.md), in memory only: the same codes and the
 * same block d, so every matmul computes the same integers and every result is bit-identical; only
 * the bytes the GEMVs stream change. Why: a TQ1_0 weight is a base-3 digit that costs about 8 vector
 * operations per 32 weights to extract, and on AVX2, or AVX-512 without VBMI's byte lookup, that and
 * not memory sets decode speed; TQ2_0's 2-bit fields cost a shift and a mask. There TQ2_0 decodes
 * 1.5-1.8x faster although it reads 22 % more bytes (docs/benchmarks.md). With VBMI the TQ1_0 GEMV
 * keeps up and the extra bytes would cost time; on ARM the trade is unmeasured: auto leaves both. */
#include "model.h"
#include "util.h"
#include <string.h>

int rt_parse_repack(const char *name, rt_repack *out) {
    if (!strcmp(name, "auto")) *out = RT_REPACK_AUTO;
    else if (!strcmp(name, "on")) *out = RT_REPACK_ON;
    else if (!strcmp(name, "off")) *out = RT_REPACK_OFF;
    else return 0;
    return 1;
}

int rt_repack_wanted(rt_repack mode, bc_isa isa) {
    if (mode != RT_REPACK_AUTO) return mode == RT_REPACK_ON;
    return isa == BC_ISA_AVX2 || (isa == BC_ISA_AVX512 && !bc_x86_vbmi());
}

typedef struct { const bc_ternary *src; uint8_t *dst; bc_isa isa; } repack_job;

static void repack_rows(void *arg, int ith, int nth) {
    const repack_job *j = arg;
    const bc_ternary *w = j->src;
    int64_t m0, m1;
    pool_split(w->M, 1, ith, nth, &m0, &m1);
    uint8_t *codes = rt_alloc((size_t)w->K), *d = rt_alloc((size_t)(w->K / 128));
    size_t rb = bc_tq2_0_row_bytes(w->K);
    for (int64_t m = m0; m < m1; m++) {
        bc_tq1_0_row_codes(w, m, j->isa, codes, d);
        bc_tq2_0_pack_row(codes, d, w->K, j->dst + (size_t)m * rb);
    }
    rt_free(d);
    rt_free(codes);
}

size_t rt_tq2_0_bytes(const bc_ternary *w) { return (size_t)w->M * bc_tq2_0_row_bytes(w->K); }

void rt_repack_tq1_0(const bc_ternary *src, uint8_t *dst, pool *p, bc_isa isa) {
    repack_job j = {src, dst, bc_usable_isa(isa)};
    if ((int)j.isa < 0) j.isa = BC_ISA_SCALAR;
    if (p) pool_run(p, repack_rows, &j);
    else repack_rows(&j, 0, 1);
}

/* The seven BitLinear weights of a layer, as an initializer of 7 pointers (const or not, as ly is) */
#define LAYER_WEIGHTS(ly) {&(ly)->wq, &(ly)->wk, &(ly)->wv, &(ly)->wo, &(ly)->wgate, &(ly)->wup, &(ly)->wdown}

int model_tq1_0_tensors(const rt_model *m) {
    int n = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const bc_ternary *ws[7] = LAYER_WEIGHTS(&m->layers[l]);
        for (int i = 0; i < 7; i++) n += ws[i]->layout == BC_LAYOUT_TQ1_0;
    }
    return n;
}

int model_repack_tq1_0(rt_model *m, pool *p, bc_isa isa) {
    size_t total = 0;
    for (int l = 0; l < m->n_layers; l++) {
        bc_ternary *ws[7] = LAYER_WEIGHTS(&m->layers[l]);
        for (int i = 0; i < 7; i++)
            if (ws[i]->layout == BC_LAYOUT_TQ1_0) total += rt_tq2_0_bytes(ws[i]);
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
            if (w->layout != BC_LAYOUT_TQ1_0) continue;
            rt_repack_tq1_0(w, dst, p, isa);
            w->layout = BC_LAYOUT_TQ2_0;
            w->data = dst;
            w->nbytes = rt_tq2_0_bytes(w);
            dst += w->nbytes;
            n++;
        }
    }
    return n;
}
