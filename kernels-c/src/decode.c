/* One decoded token as one pool job. A 2B-4T token is 210 matmuls in 121 groups (q/k/v and gate/up
 * share an input); run through forward_batch, each group is a pool job, so the threads meet twice per
 * group and all but the caller idle through the norms, quantizations and rope between them. Here every
 * thread runs the whole layer loop, meets the others once per step at a barrier, and computes the next
 * step's input (RMSNorm, gating, int8 quantization: a few thousand floats) itself, redundantly, instead
 * of waiting for one thread to do it. With 2 spinning threads that gains a few percent at most; it is
 * what keeps more threads, or a preempted one, from stalling every step. The arithmetic is
 * forward_batch's for N = 1, op for op: results are bit-identical to --decode-jobs
 * (test/runtime.test.ts) and do not depend on the thread count. */
#include "forward_internal.h"
#include "util.h"
#include "vec.h"
#include <string.h>

/* work units per thread and weight: fewer, longer row streams than batches use, but enough that a
 * thread the OS preempts costs only a fraction of the step (measured: 2, 4 and 8 within noise) */
#define UNITS_PER_THREAD 4

typedef struct { rt_state *s; int pos; head_job head; int want_logits; double t_end; } token_job;

/* bench --profile, thread 0: the clock at the start of the current piece of work */
typedef struct { rt_state *s; int ith; double t; } tok_clock;

static void clock_lap(tok_clock *c, rt_prof_part part) {
    if (c->ith != 0 || !c->s->prof) return;
    double t = rt_now();
    c->s->prof->busy_s[part] += t - c->t;
    c->t = t;
}

/* the end of a step: every thread's rows are written */
static void step_done(tok_clock *c, rt_prof_part part) {
    clock_lap(c, part);
    if (c->s->nth == 1) return; /* no one to wait for */
    pool_barrier(c->s->pool);
    if (c->ith != 0 || !c->s->prof) return;
    double t = rt_now();
    c->s->prof->wait_s[part] += t - c->t;
    c->s->prof->jobs[part]++;
    c->t = t;
}

/* this thread's BitLinear input: in (RMSNorm'd by w unless w is NULL), quantized to int8 */
static void local_input(tok_clock *c, const float *in, const float *w, int K) {
    rt_state *s = c->s;
    size_t t = (size_t)c->ith;
    const float *x = in;
    if (w) {
        fw_rmsnorm_row(s, s->tok_in + t * s->maxk, in, w, K);
        x = s->tok_in + t * s->maxk;
    }
    s->tok_s[t] = vec_quantize_act(x, K, s->tok_q + t * s->maxk, &s->tok_sum[t]);
    clock_lap(c, PROF_NORM_QUANT);
}

/* the down projection's input: act(gate) * up, then the FFN SubNorm (if any), quantized */
static void local_glu_input(tok_clock *c, const float *sub_norm) {
    rt_state *s = c->s;
    int F = s->m->ffn_dim;
    float *g = s->tok_in + (size_t)c->ith * s->maxk;
    memcpy(g, s->hb, sizeof(float) * (size_t)F);
    vec_glu(g, s->hb2, F, s->m->act == ACT_RELU2);
    local_input(c, g, sub_norm, F);
}

/* Rows of up to three weights sharing this thread's input, in units taken from *next (as
 * bitlinear_worker); y = dequantized sums, then add_to[m] += y[m] when add_to is set (the residual
 * stream). */
static void bitlinear_units(tok_clock *c, atomic_int *next, int n_out, const bc_ternary *const *w, float *const *y, float *add_to) {
    rt_state *s = c->s;
    size_t t = (size_t)c->ith;
    int64_t unit[3], first[4] = {0}, acc_off[3] = {0}; /* outputs' sums side by side in s->acc */
    for (int o = 0; o < n_out; o++) {
        if (o > 0) acc_off[o] = acc_off[o - 1] + w[o - 1]->M;
        int64_t M = w[o]->M, g = bc_row_granule(w[o]), units = UNITS_PER_THREAD * s->nth;
        /* whole granules, rounded down: coarse granules (TL1/TL2) then give more units, not fewer
         * (10 granules in 5 units of 2 would leave one of two threads idle for a fifth of the step) */
        int64_t G = (M + g - 1) / g;
        unit[o] = (G / units > 1 ? G / units : 1) * g;
        first[o + 1] = first[o] + (M + unit[o] - 1) / unit[o];
    }
    for (;;) {
        int64_t u = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);
        if (u >= first[n_out]) break;
        int o = 0;
        while (u >= first[o + 1]) o++;
        int32_t *acc = s->acc + acc_off[o];
        int64_t M = w[o]->M, m0 = (u - first[o]) * unit[o], m1 = m0 + unit[o] < M ? m0 + unit[o] : M;
        bc_matmul(w[o], s->tok_q + t * s->maxk, &s->tok_sum[t], 1, acc, M, m0, m1, s->isa, NULL);
        vec_dequant(acc + m0, (int)(m1 - m0), s->tok_s[t], w[o]->scale, y[o] + m0);
        if (add_to) vec_add(add_to + m0, y[o] + m0, (int)(m1 - m0));
    }
}

/* rope, cache store and attention of one kv head's group per item */
static void attention_units(tok_clock *c, atomic_int *next, int layer, int pos) {
    for (int g; (g = atomic_fetch_add_explicit(next, 1, memory_order_relaxed)) < c->s->m->n_kv_heads;) {
        fw_rope_store_group(c->s, layer, 0, pos, g);
        fw_attend_group(c->s, layer, 0, pos, g, c->ith);
    }
}

static void token_worker(void *a, int ith, int nth) {
    token_job *j = a;
    rt_state *s = j->s;
    const rt_model *m = s->m;
    tok_clock c = {s, ith, s->prof && ith == 0 ? rt_now() : 0};
    (void)nth;
    for (int l = 0; l < m->n_layers; l++) {
        const rt_layer *L = &m->layers[l];
        atomic_int *next = s->tok_next + (size_t)l * FW_TOKEN_PHASES;

        /* attention: x += W_o · SubNorm(Attention(rope(W_q a), rope(W_k a), W_v a)), a = Norm(x) */
        local_input(&c, s->x, L->attn_norm, m->dim);
        const bc_ternary *qkv[3] = {&L->wq, &L->wk, &L->wv};
        float *qkv_y[3] = {s->q, s->k, s->v};
        bitlinear_units(&c, &next[0], 3, qkv, qkv_y, NULL);
        step_done(&c, PROF_ATTN_QKV);
        attention_units(&c, &next[1], l, j->pos);
        step_done(&c, PROF_ATTENTION);
        local_input(&c, s->att, L->attn_sub_norm, s->qdim);
        const bc_ternary *wo = &L->wo;
        bitlinear_units(&c, &next[2], 1, &wo, &s->proj, s->x);
        step_done(&c, PROF_ATTN_OUTPUT);

        /* feed-forward: x += W_down · SubNorm(act(W_gate b) * W_up b), b = Norm(x) */
        local_input(&c, s->x, L->ffn_norm, m->dim);
        const bc_ternary *gu[2] = {&L->wgate, &L->wup};
        float *gu_y[2] = {s->hb, s->hb2};
        bitlinear_units(&c, &next[3], 2, gu, gu_y, NULL);
        step_done(&c, PROF_FFN_GATE_UP);
        local_glu_input(&c, L->ffn_sub_norm);
        const bc_ternary *wd = &L->wdown;
        bitlinear_units(&c, &next[4], 1, &wd, &s->proj, s->x);
        step_done(&c, PROF_FFN_DOWN);
    }
    if (!j->want_logits) return;
    if (ith == 0) {
        fw_rmsnorm_row(s, s->xb, s->x, m->output_norm, m->dim);
        fw_head_quantize(s, &j->head);
    }
    step_done(&c, PROF_NORM_QUANT);
    fw_head_worker(&j->head, ith, nth);
    clock_lap(&c, PROF_HEAD);
    if (ith == 0) j->t_end = c.t;
}

void forward_token(rt_state *s, int32_t token, int pos, float *logits) {
    const rt_model *m = s->m;
    token_job j = {.s = s, .pos = pos, .want_logits = logits != NULL};
    fw_embed_row(&m->tok_embd, token, s->x);
    for (int i = 0; i < FW_TOKEN_PHASES * m->n_layers; i++) atomic_init(&s->tok_next[i], 0);
    if (logits) fw_head_setup(s, 1, s->xb, logits, &j.head);
    pool_run(s->pool, token_worker, &j);
    /* thread 0 waiting in pool_run for the others to finish their share of the head */
    if (s->prof && logits && s->nth > 1) s->prof->wait_s[PROF_HEAD] += rt_now() - j.t_end;
}
