/* The forward pass of BitNet b1.58 (and Llama-arch 1.58-bit) models. Reads like the transformers code it
 * reproduces (formats/checkpoint-bitnet-2b4t.md "Forward pass"): one screen per layer in forward_batch, the pieces below it. */
#include "forward_internal.h"
#include "gemm_f32.h"
#include "util.h"
#include "vec.h"
#include <math.h>
#include <stdatomic.h>
#include <string.h>

static size_t fsz(size_t n) { return n * sizeof(float); }

/* A Q8_0 head on AVX-512 VNNI is repacked once, on its first int8 use, into 16-row tiles (vec.h, Q8_0x16): the decode GEMV
 * then does one dpbusd per 64 weight bytes with no per-block shuffles and keeps up with memory
 * (row-major Q8_0 needs ~4x the instructions and was compute-bound at half the bandwidth). Costs a
 * second copy of the head in memory (the mmap'd original is left untouched but for embedding rows). */
typedef struct { rt_state *s; int64_t tiles; } repack_job;

static void head_repack_worker(void *a, int ith, int nth) {
    repack_job *j = a;
    const rt_matrix *w = &j->s->m->output;
    int64_t t0, t1;
    pool_split(j->tiles, 1, ith, nth, &t0, &t1);
    vec_repack_q8_0x16(w->data, w->row_bytes, w->rows, (int)w->cols, t0, t1, j->s->head_x16);
}

static void head_repack(rt_state *s) {
    const rt_matrix *w = &s->m->output;
    s->head_x16 = NULL;
    if (w->type != BC_GGML_Q8_0 || s->o.float_ref || s->o.head_q8 == 0 || !vec_has_q8_0x16() || w->cols > VEC_Q8X16_MAX_N)
        return;
    s->head_x16 = rt_alloc_large(vec_q8_0x16_bytes(w->rows, (int)w->cols));
    repack_job j = {s, (w->rows + 15) / 16};
    pool_run(s->pool, head_repack_worker, &j);
}

rt_state *state_create(const rt_model *m, pool *p, bc_isa isa, rt_opts o) {
    if (m->float_weights && !o.float_ref)
        rt_die(RT_EXIT_BADINPUT, NULL, "this file holds float BitLinear weights (a verify reference file): it runs only with --float-ref");
    rt_state *s = rt_alloc(sizeof *s);
    s->m = m;
    s->pool = p;
    s->isa = isa;
    if (o.max_batch < 1) o.max_batch = 1;
    if (o.max_ctx < 1) o.max_ctx = 1;
    s->o = o;
    s->nth = pool_size(p);
    s->qdim = m->n_heads * m->head_dim;
    s->kvdim = m->n_kv_heads * m->head_dim;
    int maxk = m->dim;
    if (s->qdim > maxk) maxk = s->qdim;
    if (m->ffn_dim > maxk) maxk = m->ffn_dim;
    s->maxk = maxk;
    int aw = s->qdim + 2 * s->kvdim;
    if (2 * m->ffn_dim > aw) aw = 2 * m->ffn_dim;
    if (m->dim > aw) aw = m->dim;
    s->acc_width = aw;
    size_t B = (size_t)o.max_batch, C = (size_t)o.max_ctx, T = (size_t)s->nth;
    s->x = rt_alloc(fsz(B * m->dim));
    s->xb = rt_alloc(fsz(B * m->dim));
    s->q = rt_alloc(fsz(B * s->qdim));
    s->k = rt_alloc(fsz(B * s->kvdim));
    s->v = rt_alloc(fsz(B * s->kvdim));
    s->att = rt_alloc(fsz(B * s->qdim));
    s->hb = rt_alloc(fsz(B * m->ffn_dim));
    s->hb2 = rt_alloc(fsz(B * m->ffn_dim));
    s->proj = rt_alloc(fsz(B * m->dim));
    s->xq = rt_alloc(B * maxk);
    s->xs = rt_alloc(fsz(B));
    s->xsum = rt_alloc(B * sizeof(int32_t));
    s->xf = o.float_ref ? rt_alloc(fsz(B * maxk)) : NULL;
    s->xp = o.float_ref ? rt_alloc(fsz(gemm_f32_packed_floats((int64_t)B, maxk))) : NULL;
    s->acc = rt_alloc(B * (size_t)aw * sizeof(int32_t));
    /* rows of the transposed key cache padded to an odd number of cache lines: a power-of-two stride
     * would map every row of a 64-position block to the same few L1 sets */
    s->kt_stride = (C + 15) / 16 * 16;
    if ((s->kt_stride / 16) % 2 == 0) s->kt_stride += 16;
    s->kc = rt_alloc(fsz((size_t)m->n_layers * s->kt_stride * s->kvdim));
    s->vc = rt_alloc(fsz((size_t)m->n_layers * C * s->kvdim));
    int half = m->head_dim / 2;
    s->rope_cos = rt_alloc(fsz(C * half));
    s->rope_sin = rt_alloc(fsz(C * half));
    /* transformers: inv_freq = 1 / theta^(2i/d) and angle = pos * inv_freq, both in float32 */
    for (int i = 0; i < half; i++) {
        float inv_freq = 1.0f / powf(m->rope_theta, (float)(2 * i) / (float)m->head_dim);
        for (size_t pos = 0; pos < C; pos++) {
            float angle = (float)pos * inv_freq;
            s->rope_cos[pos * half + i] = cosf(angle);
            s->rope_sin[pos * half + i] = sinf(angle);
        }
    }
    s->scores = rt_alloc(fsz(T * (size_t)(m->n_heads / m->n_kv_heads) * C));
    s->gemm = o.float_ref ? rt_alloc(fsz(T * gemm_f32_scratch_floats(maxk))) : NULL;
    s->tile = rt_alloc(fsz(T * HEAD_TILE * m->dim));
    s->hpack = rt_alloc(fsz(T * (size_t)m->dim * VEC_HB_TOKENS));
    s->hq = rt_alloc(B * m->dim);
    s->hd = rt_alloc(fsz(B * (m->dim / 32 + 1)));
    s->tok_in = rt_alloc(fsz(T * maxk));
    s->tok_q = rt_alloc(T * maxk);
    s->tok_s = rt_alloc(fsz(T));
    s->tok_sum = rt_alloc(T * sizeof(int32_t));
    s->tok_next = rt_alloc(sizeof(atomic_int) * (size_t)(FW_TOKEN_PHASES * m->n_layers));
    return s;
}

void state_free(rt_state *s) {
    if (!s) return;
    void *bufs[] = {s->x, s->xb, s->q, s->k, s->v, s->att, s->hb, s->hb2, s->proj, s->xq, s->xs, s->xsum, s->xf, s->xp,
                    s->acc, s->kc, s->vc, s->rope_cos, s->rope_sin, s->scores, s->gemm, s->tile, s->hpack, s->hq, s->hd, s->head_x16,
                    s->tok_in, s->tok_q, s->tok_s, s->tok_sum, (void *)s->tok_next};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) rt_free(bufs[i]);
    rt_free(s);
}

/* ---- profiling (bench --profile) ------------------------------------------------------------------ */

const char *const rt_prof_part_names[PROF_PARTS] = {"attn_qkv", "attn_output", "ffn_gate_up", "ffn_down", "head", "attention", "norms_quant"};

void state_profile(rt_state *s, rt_profile *p) {
    s->prof = p;
    pool_profile(s->pool, p ? &p->pool : NULL);
}

/* a part's start: the clock and the pool's totals so far (nothing is read when profiling is off) */
typedef struct { double t, wait; uint64_t jobs; } prof_mark;

static prof_mark prof_begin(const rt_state *s) {
    if (!s->prof) return (prof_mark){0, 0, 0};
    return (prof_mark){rt_now(), s->prof->pool.wait_s, s->prof->pool.jobs};
}

static void prof_end(rt_state *s, rt_prof_part part, prof_mark m) {
    rt_profile *p = s->prof;
    if (!p) return;
    double wait = p->pool.wait_s - m.wait;
    p->wait_s[part] += wait;
    p->busy_s[part] += rt_now() - m.t - wait;
    p->jobs[part] += p->pool.jobs - m.jobs;
}

#define PROFILED(s, part, call)                  \
    do {                                         \
        prof_mark pm_ = prof_begin(s);           \
        call;                                    \
        prof_end((s), (part), pm_);              \
    } while (0)

/* ---- running rows of a batch in parallel --------------------------------------------------------- */

typedef void (*rows_fn)(rt_state *s, void *arg, int n0, int n1);
typedef struct { rt_state *s; rows_fn fn; void *arg; int N; } rows_job;

static void rows_worker(void *a, int ith, int nth) {
    rows_job *j = a;
    int64_t lo, hi;
    pool_split(j->N, 1, ith, nth, &lo, &hi);
    if (lo < hi) j->fn(j->s, j->arg, (int)lo, (int)hi);
}

/* Small batches (decode) run on the calling thread: waking the pool costs more than the work. */
static void for_rows(rt_state *s, int N, size_t work_per_row, rows_fn fn, void *arg) {
    if (s->nth == 1 || N < 2 || (size_t)N * work_per_row < 65536) { fn(s, arg, 0, N); return; }
    rows_job j = {s, fn, arg, N};
    pool_run(s->pool, rows_worker, &j);
}

/* ---- RMSNorm ------------------------------------------------------------------------------------- */

typedef struct { float *out; const float *in; const float *w; int width; } norm_arg;

void fw_rmsnorm_row(const rt_state *s, float *y, const float *x, const float *weight, int width) {
    double ss = vec_sumsq(x, width); /* in double: accurate enough to be summation-order free */
    float r = 1.0f / sqrtf((float)(ss / width) + s->m->eps);
    vec_norm_apply(y, x, weight, r, width);
}

static void rmsnorm_rows(rt_state *s, void *a, int n0, int n1) {
    norm_arg *na = a;
    int w = na->width;
    for (int n = n0; n < n1; n++) fw_rmsnorm_row(s, na->out + (size_t)n * w, na->in + (size_t)n * w, na->w, w);
}

/* y = weight * x / sqrt(mean(x^2) + eps), per token, in float32 (in place allowed) */
static void rmsnorm(rt_state *s, int N, float *out, const float *in, const float *weight, int width) {
    norm_arg a = {out, in, weight, width};
    for_rows(s, N, (size_t)width, rmsnorm_rows, &a);
}

/* ---- BitLinear ----------------------------------------------------------------------------------- */

typedef struct { const float *in; int K; } quant_arg;

/* BitNet's activation quantization, per token: s = 127 / max(max|x|, 1e-5), q = clamp(rint(x*s), -128, 127).
 * rintf rounds half to even under the default rounding mode, as torch.round does. */
static void quantize_rows(rt_state *s, void *a, int n0, int n1) {
    quant_arg *qa = a;
    int K = qa->K;
    for (int n = n0; n < n1; n++) {
        const float *x = qa->in + (size_t)n * K;
        int8_t *q = s->xq + (size_t)n * K;
        int32_t sum;
        float scale = vec_quantize_act(x, K, q, &sum);
        s->xs[n] = scale;
        s->xsum[n] = sum;
        if (s->o.float_ref) {
            float *xf = s->xf + (size_t)n * K;
            for (int i = 0; i < K; i++) xf[i] = (float)q[i] / scale;
            gemm_f32_pack_row(xf, n, K, s->xp);
        }
    }
}

typedef struct { const bc_ternary *w; float *out; int32_t *acc; const rt_matrix *f; } bl_out;
typedef struct {
    rt_state *s;
    int N, K, n_out;
    bl_out out[3];
    int64_t unit_rows[3];   /* rows per work unit of each output (a multiple of its row granule) */
    int first_unit[4];      /* units of output o: [first_unit[o], first_unit[o+1]) */
    atomic_int next;        /* the next unit to take */
} bl_job;

static void ternary_codes(const void *w, int64_t m, int8_t *out) { bc_decode_row(w, m, out); }

/* the float GEMM's view of a BitLinear weight: a reference file's float matrix or the ternary codes, times w */
static gemm_f32_weights float_weights(const bc_ternary *w, const rt_matrix *f) {
    if (f && f->data) return (gemm_f32_weights){f->type, f->data, f->row_bytes, NULL, NULL, w->scale};
    return (gemm_f32_weights){GEMM_F32_CODES, NULL, 0, ternary_codes, w, w->scale};
}

/* rows [m0, m1) of one output: the exact integer sums, then y = (float)sum / s * w (vec_dequant, or the
 * GEMM engines' last store, which rounds the same way) */
static void bitlinear_rows(rt_state *s, const bl_job *j, const bl_out *o, int64_t m0, int64_t m1, int ith) {
    const bc_ternary *w = o->w;
    int N = j->N, K = j->K;
    int64_t M = w->M;
    float *y = o->out;
    if (!s->o.float_ref) {
        bc_dequant dq = {y, M, s->xs, w->scale};
        if (!bc_matmul(w, s->xq, s->xsum, N, o->acc, M, m0, m1, s->isa, &dq))
            for (int n = 0; n < N; n++)
                vec_dequant(o->acc + (size_t)n * M + m0, (int)(m1 - m0), s->xs[n], w->scale, y + (size_t)n * M + m0);
        return;
    }
    /* float reference: W = T * w (or a reference file's float matrix times w), x = q / s, f32 FMA */
    gemm_f32_weights src = float_weights(w, o->f);
    gemm_f32(s->isa, &src, K, s->xf, s->xp, N, y, (size_t)M, m0, m1, s->gemm + (size_t)ith * gemm_f32_scratch_floats(s->maxk));
}

/* Threads take units of rows from a shared counter until none are left, so a thread that the OS
 * preempts (the machine is shared) or that runs slower costs only its current unit. Every row is
 * computed the same way whoever takes it: results do not depend on the schedule. */
static void bitlinear_worker(void *a, int ith, int nth) {
    bl_job *j = a;
    (void)nth;
    for (;;) {
        int u = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (u >= j->first_unit[j->n_out]) break;
        int o = 0;
        while (u >= j->first_unit[o + 1]) o++;
        int64_t M = j->out[o].w->M, m0 = (int64_t)(u - j->first_unit[o]) * j->unit_rows[o];
        int64_t m1 = m0 + j->unit_rows[o] < M ? m0 + j->unit_rows[o] : M;
        bitlinear_rows(j->s, j, &j->out[o], m0, m1, ith);
    }
}

/* out_i = BitLinear_i(in) for up to three weights sharing one input (q/k/v, gate/up): the input is
 * quantized once, then one pool job runs every weight's rows, so the threads meet once per group. */
static void bitlinear(rt_state *s, rt_prof_part part, int N, const float *in, int K, int n_out, const bl_out *outs) {
    quant_arg qa = {in, K};
    PROFILED(s, PROF_NORM_QUANT, for_rows(s, N, (size_t)K, quantize_rows, &qa));
    prof_mark pm = prof_begin(s);
    bl_job j = {.s = s, .N = N, .K = K, .n_out = n_out};
    atomic_init(&j.next, 0);
    /* decode: many small units (cheap calls); batches: two units per thread and output, since each
     * kernel call re-packs the activations */
    int units_per_output = N <= 8 ? 8 * s->nth : 2 * s->nth;
    int32_t *acc = s->acc;
    j.first_unit[0] = 0;
    for (int o = 0; o < n_out; o++) {
        j.out[o] = outs[o];
        j.out[o].acc = acc;
        acc += (size_t)N * outs[o].w->M;
        int64_t M = outs[o].w->M, g = bc_row_granule(outs[o].w);
        if (s->o.float_ref && GEMM_F32_MR % g == 0) g = GEMM_F32_MR; /* whole panels of the float GEMM */
        int64_t rows = (M + units_per_output - 1) / units_per_output;
        /* the float GEMM's activations are packed once per call, not per unit: units of one row block
         * let a thread that runs on take over the work of one the OS preempts */
        if (s->o.float_ref && N >= GEMM_F32_MIN_N) rows = GEMM_F32_MC;
        rows = (rows + g - 1) / g * g;
        j.unit_rows[o] = rows;
        j.first_unit[o + 1] = j.first_unit[o] + (int)((M + rows - 1) / rows);
    }
    if (s->nth == 1) bitlinear_worker(&j, 0, 1);
    else pool_run(s->pool, bitlinear_worker, &j);
    prof_end(s, part, pm);
}

/* ---- attention ----------------------------------------------------------------------------------- */

/* Rotary embedding of one head vector at position pos: rotate-half pairs (i, i + d/2) for the bitnet
 * archs (NEOX), adjacent pairs (2i, 2i+1) for llama files, whose q/k rows were permuted to match. */
static void rope_head(const rt_state *s, float *v, int pos) {
    int half = s->m->head_dim / 2;
    const float *c = s->rope_cos + (size_t)pos * half, *sn = s->rope_sin + (size_t)pos * half;
    if (s->m->rope_neox) {
        for (int i = 0; i < half; i++) {
            float x0 = v[i], x1 = v[i + half];
            v[i] = x0 * c[i] - x1 * sn[i];
            v[i + half] = x1 * c[i] + x0 * sn[i];
        }
    } else {
        for (int i = 0; i < half; i++) {
            float x0 = v[2 * i], x1 = v[2 * i + 1];
            v[2 * i] = x0 * c[i] - x1 * sn[i];
            v[2 * i + 1] = x1 * c[i] + x0 * sn[i];
        }
    }
}

typedef struct { int layer, pos; } att_arg;

void fw_rope_store_group(rt_state *s, int layer, int n, int pos, int g) {
    const rt_model *m = s->m;
    int hd = m->head_dim, group = m->n_heads / m->n_kv_heads;
    for (int h = g * group; h < (g + 1) * group; h++) rope_head(s, s->q + (size_t)n * s->qdim + (size_t)h * hd, pos);
    float *k = s->k + (size_t)n * s->kvdim + (size_t)g * hd;
    rope_head(s, k, pos);
    float *kt = s->kc + ((size_t)layer * s->kvdim + (size_t)g * hd) * s->kt_stride + pos;
    for (int i = 0; i < hd; i++) kt[(size_t)i * s->kt_stride] = k[i];
    memcpy(s->vc + ((size_t)layer * s->o.max_ctx + pos) * s->kvdim + (size_t)g * hd, s->v + (size_t)n * s->kvdim + (size_t)g * hd, fsz(hd));
}

/* rope on q and k, then k and v into the cache at their positions */
static void rope_store_rows(rt_state *s, void *a, int n0, int n1) {
    att_arg *aa = a;
    for (int n = n0; n < n1; n++)
        for (int g = 0; g < s->m->n_kv_heads; g++) fw_rope_store_group(s, aa->layer, n, aa->pos + n, g);
}

typedef struct { rt_state *s; int layer, pos, N; atomic_int next; } att_job;

/* The query heads of a GQA group share the kv head's keys and values (query head h uses kv head
 * h / (n_heads / n_kv_heads)). Causal softmax(q.k / sqrt(d)) . v over positions 0 .. pos. */
void fw_attend_group(rt_state *s, int layer, int n, int pos, int g, int ith) {
    const rt_model *m = s->m;
    int hd = m->head_dim, group = m->n_heads / m->n_kv_heads, T = pos + 1;
    size_t C = (size_t)s->o.max_ctx;
    const float *kc = s->kc + (size_t)layer * s->kvdim * s->kt_stride;
    const float *vc = s->vc + (size_t)layer * C * s->kvdim;
    float *score = s->scores + (size_t)ith * group * C;
    const float *q = s->q + (size_t)n * s->qdim + (size_t)g * group * hd;
    vec_scores_t(q, group, hd, kc + (size_t)g * hd * s->kt_stride, s->kt_stride, T, 1.0f / sqrtf((float)hd), score, C);
    for (int h = 0; h < group; h++) vec_softmax(score + (size_t)h * C, T);
    vec_weighted_sum_g(score, C, group, vc + (size_t)g * hd, s->kvdim, hd, T, s->att + (size_t)n * s->qdim + (size_t)g * group * hd);
}

/* one (token, kv head) pair per item, from a shared counter: one kv head at a time, so the threads
 * share its keys and values in cache (a batch's cache of all heads outgrows L2), and within it the
 * last tokens first: they attend to the most positions */
static void attention_worker(void *a, int ith, int nth) {
    att_job *j = a;
    int KV = j->s->m->n_kv_heads;
    (void)nth;
    for (;;) {
        int64_t it = (int64_t)j->N * KV - 1 - atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (it < 0) break;
        int n = (int)(it % j->N);
        fw_attend_group(j->s, j->layer, n, j->pos + n, (int)(it / j->N), ith);
    }
}

static void attention(rt_state *s, int layer, int N, int pos) {
    att_arg aa = {layer, pos};
    for_rows(s, N, (size_t)(s->qdim + s->kvdim) * 4, rope_store_rows, &aa);
    att_job j = {.s = s, .layer = layer, .pos = pos, .N = N};
    atomic_init(&j.next, 0);
    if ((size_t)N * (pos + N) * s->qdim < 65536) attention_worker(&j, 0, 1);
    else pool_run(s->pool, attention_worker, &j);
}

/* ---- feed-forward gate --------------------------------------------------------------------------- */

/* hb = act(gate) * up, act = relu^2 (BitNet b1.58 2B-4T) or SiLU (1bitLLM, Llama-arch) */
static void glu_rows(rt_state *s, void *a, int n0, int n1) {
    (void)a;
    int F = s->m->ffn_dim;
    size_t i0 = (size_t)n0 * F, i1 = (size_t)n1 * F;
    vec_glu(s->hb + i0, s->hb2 + i0, (int)(i1 - i0), s->m->act == ACT_RELU2);
}

/* ---- embeddings and the output head -------------------------------------------------------------- */

void fw_embed_row(const rt_matrix *w, int id, float *out) {
    const uint8_t *p = w->data + (size_t)id * w->row_bytes;
    if (w->type == BC_GGML_F16) vec_f16_row(p, out, (int)w->cols);
    else if (w->type == BC_GGML_BF16) vec_bf16_row(p, out, (int)w->cols);
    else matrix_row_f32(w, id, out);
}

/* logits[n][r] = dot(row r of the head, h[n]) for rows [r0, r1). For many tokens (perplexity) the
 * hidden states are taken 32 at a time, so the matrix is read N / 32 times, not N times. */
static void head_rows(head_job *j, int64_t r0, int64_t r1, int ith) {
    rt_state *s = j->s;
    const rt_matrix *w = &s->m->output;
    int dim = (int)w->cols, N = j->N;
    int64_t V = w->rows;
    if (N == 1 && !j->q8 && w->type == BC_GGML_F16) {
        /* decode: stream the f16 rows once, converting in registers */
        vec_gemv_f16(w->data + (size_t)r0 * w->row_bytes, w->row_bytes, (int)(r1 - r0), j->h, dim, j->logits + r0);
        return;
    }
    if (j->q8 && s->head_x16) {
        /* r0, r1 are tile-aligned (unit_rows is a multiple of HEAD_TILE = 16); decode streams the
         * tiles once; batches take one tile (in cache) past every token, four tokens per load */
        if (N <= 4) {
            vec_gemv_q8_0x16(s->head_x16, r0 / 16, (r1 + 15) / 16, V, dim, N, s->hq, s->hd, j->logits, (size_t)V);
            return;
        }
        for (int64_t t = r0 / 16; t < (r1 + 15) / 16; t++)
            for (int n0 = 0; n0 < N; n0 += 4)
                vec_gemv_q8_0x16(s->head_x16, t, t + 1, V, dim, N - n0 < 4 ? N - n0 : 4, s->hq + (size_t)n0 * dim,
                                 s->hd + (size_t)n0 * (dim / 32), j->logits + (size_t)n0 * V, (size_t)V);
        return;
    }
    if (j->q8 && N == 1) {
        /* Q8_0 rows times the hidden state quantized per 32-block: int8 dot products, the rows streamed once */
        vec_gemv_q8_0(w->data + (size_t)r0 * w->row_bytes, w->row_bytes, (int)(r1 - r0), s->hq, s->hd, dim, j->logits + r0);
        return;
    }
    if (j->q8) {
        /* as above, HEAD_TILE rows of the head staying in cache while the tokens pass */
        for (int64_t r = r0; r < r1; r += HEAD_TILE) {
            int nr = (int)(r1 - r < HEAD_TILE ? r1 - r : HEAD_TILE);
            for (int n = 0; n < N; n++)
                vec_gemv_q8_0(w->data + (size_t)r * w->row_bytes, w->row_bytes, nr, s->hq + (size_t)n * dim,
                              s->hd + (size_t)n * (dim / 32), dim, j->logits + (size_t)n * V + r);
        }
        return;
    }
    /* a GEMM: 32 hidden states packed k-major, the head's rows converted to f32 a few at a time, each
     * block of 12 rows x 32 tokens computed in registers */
    float *tile = s->tile + (size_t)ith * HEAD_TILE * dim, *ph = s->hpack + (size_t)ith * dim * VEC_HB_TOKENS;
    float out[VEC_HB_ROWS * VEC_HB_TOKENS];
    for (int n0 = 0; n0 < N; n0 += VEC_HB_TOKENS) {
        int nt = N - n0 < VEC_HB_TOKENS ? N - n0 : VEC_HB_TOKENS;
        for (int k = 0; k < dim; k++)
            for (int t = 0; t < VEC_HB_TOKENS; t++) ph[(size_t)k * VEC_HB_TOKENS + t] = t < nt ? j->h[(size_t)(n0 + t) * dim + k] : 0.0f;
        for (int64_t r = r0; r < r1; r += VEC_HB_ROWS) {
            int nr = (int)(r1 - r < VEC_HB_ROWS ? r1 - r : VEC_HB_ROWS);
            for (int i = 0; i < nr; i++) fw_embed_row(w, (int)(r + i), tile + (size_t)i * dim);
            vec_head_block(tile, nr, ph, dim, out);
            for (int t = 0; t < nt; t++)
                for (int i = 0; i < nr; i++) j->logits[(size_t)(n0 + t) * V + r + i] = out[i * VEC_HB_TOKENS + t];
        }
    }
}

/* units of rows from a shared counter (see bitlinear_worker) */
void fw_head_worker(void *a, int ith, int nth) {
    head_job *j = a;
    (void)nth;
    int64_t V = j->s->m->output.rows;
    for (;;) {
        int64_t r0 = (int64_t)atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed) * j->unit_rows;
        if (r0 >= V) break;
        head_rows(j, r0, r0 + j->unit_rows < V ? r0 + j->unit_rows : V, ith);
    }
}

void fw_head_setup(rt_state *s, int N, const float *h, float *logits, head_job *j) {
    const rt_matrix *w = &s->m->output;
    int q8 = w->type == BC_GGML_Q8_0 && !s->o.float_ref && (s->o.head_q8 == 2 || (s->o.head_q8 == 1 && N <= HEAD_Q8_MAX_TOKENS));
    *j = (head_job){.s = s, .N = N, .h = h, .logits = logits, .q8 = q8};
    atomic_init(&j->next, 0);
    /* decode streams the head once: small units balance the threads; batches: 4 units per thread */
    int64_t V = w->rows, units = N <= 4 ? (V + 1023) / 1024 : 4 * s->nth;
    j->unit_rows = ((V + units - 1) / units + HEAD_TILE - 1) / HEAD_TILE * HEAD_TILE;
    if (q8 && !s->head_x16_tried) {
        head_repack(s);
        s->head_x16_tried = 1;
    }
}

void fw_head_quantize(rt_state *s, const head_job *j) {
    size_t dim = (size_t)s->m->output.cols;
    if (j->q8)
        for (int n = 0; n < j->N; n++) vec_quantize_q8(j->h + n * dim, (int)dim, s->hq + n * dim, s->hd + n * (dim / 32));
}

static void output_head(rt_state *s, int N, const float *h, float *logits) {
    head_job j;
    fw_head_setup(s, N, h, logits, &j);
    PROFILED(s, PROF_NORM_QUANT, fw_head_quantize(s, &j));
    PROFILED(s, PROF_HEAD, pool_run(s->pool, fw_head_worker, &j));
}

/* ---- the model ----------------------------------------------------------------------------------- */

static void add_rows(rt_state *s, void *a, int n0, int n1) {
    (void)a;
    size_t dim = (size_t)s->m->dim;
    vec_add(s->x + (size_t)n0 * dim, s->proj + (size_t)n0 * dim, (int)((size_t)(n1 - n0) * dim));
}

static void forward_batch(rt_state *s, const int32_t *tokens, int N, int pos, int out0, int out1, float *logits) {
    const rt_model *m = s->m;
    int dim = m->dim;
    for (int n = 0; n < N; n++) fw_embed_row(&m->tok_embd, tokens[n], s->x + (size_t)n * dim);

    for (int l = 0; l < m->n_layers; l++) {
        const rt_layer *L = &m->layers[l];

        /* attention: x += W_o · SubNorm(Attention(rope(W_q a), rope(W_k a), W_v a)), a = Norm(x) */
        PROFILED(s, PROF_NORM_QUANT, rmsnorm(s, N, s->xb, s->x, L->attn_norm, dim));
        bl_out qkv[3] = {{&L->wq, s->q, 0, &L->fq}, {&L->wk, s->k, 0, &L->fk}, {&L->wv, s->v, 0, &L->fv}};
        bitlinear(s, PROF_ATTN_QKV, N, s->xb, dim, 3, qkv);
        PROFILED(s, PROF_ATTENTION, attention(s, l, N, pos));
        if (L->attn_sub_norm) PROFILED(s, PROF_NORM_QUANT, rmsnorm(s, N, s->att, s->att, L->attn_sub_norm, s->qdim));
        bl_out o[1] = {{&L->wo, s->proj, 0, &L->fo}};
        bitlinear(s, PROF_ATTN_OUTPUT, N, s->att, s->qdim, 1, o);
        PROFILED(s, PROF_NORM_QUANT, for_rows(s, N, (size_t)dim, add_rows, NULL));

        /* feed-forward: x += W_down · SubNorm(act(W_gate b) * W_up b), b = Norm(x) */
        PROFILED(s, PROF_NORM_QUANT, rmsnorm(s, N, s->xb, s->x, L->ffn_norm, dim));
        bl_out gu[2] = {{&L->wgate, s->hb, 0, &L->fgate}, {&L->wup, s->hb2, 0, &L->fup}};
        bitlinear(s, PROF_FFN_GATE_UP, N, s->xb, dim, 2, gu);
        PROFILED(s, PROF_NORM_QUANT, for_rows(s, N, (size_t)m->ffn_dim * 4, glu_rows, NULL));
        if (L->ffn_sub_norm) PROFILED(s, PROF_NORM_QUANT, rmsnorm(s, N, s->hb, s->hb, L->ffn_sub_norm, m->ffn_dim));
        bl_out d[1] = {{&L->wdown, s->proj, 0, &L->fdown}};
        bitlinear(s, PROF_FFN_DOWN, N, s->hb, m->ffn_dim, 1, d);
        PROFILED(s, PROF_NORM_QUANT, for_rows(s, N, (size_t)dim, add_rows, NULL));
    }

    /* logits only for the rows the caller scores */
    if (out1 > out0) {
        PROFILED(s, PROF_NORM_QUANT, rmsnorm(s, out1 - out0, s->xb, s->x + (size_t)out0 * dim, m->output_norm, dim));
        output_head(s, out1 - out0, s->xb, logits);
    }
}

void forward(rt_state *s, const int32_t *tokens, int n, int pos, int out0, int out1, float *logits) {
    if (pos < 0 || n < 0 || pos + n > s->o.max_ctx) rt_die(RT_EXIT_FAIL, NULL, "internal: positions %d..%d exceed the cache (%d)", pos, pos + n, s->o.max_ctx);
    size_t V = (size_t)s->m->n_vocab;
    for (int b0 = 0; b0 < n; b0 += s->o.max_batch) {
        int nb = n - b0 < s->o.max_batch ? n - b0 : s->o.max_batch;
        int lo = out0 - b0 > 0 ? out0 - b0 : 0, hi = out1 - b0 < nb ? out1 - b0 : nb;
        if (hi < lo) hi = lo;
        float *out = logits + (hi > lo ? (size_t)(b0 + lo - out0) * V : 0);
        if (nb == 1 && !s->o.float_ref && !s->o.decode_jobs) forward_token(s, tokens[b0], pos + b0, hi > lo ? out : NULL);
        else forward_batch(s, tokens + b0, nb, pos + b0, lo, hi, out);
    }
}
