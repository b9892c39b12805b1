/* bench: llama-bench's pp/tg tests (docs/runtime.md `bench`). pp: random tokens (BOS first) prefilled in one
 * batch, logits for the last token only; tg: starting from BOS, one token per forward call, n times.
 * tokens/s per repetition, reported as average +- sample standard deviation.
 * --profile: where a decoded token's time goes over the tg repetitions (forward.h rt_profile), per
 * part with the bytes it streams, as a table or one {"event":"profile"} line (docs/benchmarks.md). */
#include "cli.h"
#include "util.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static void stats(const double *x, int n, double *avg, double *sd) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *avg = s / n;
    for (int i = 0; i < n; i++) s2 += (x[i] - *avg) * (x[i] - *avg);
    *sd = n > 1 ? sqrt(s2 / (n - 1)) : 0;
}

static double run_pp(rt_state *s, const rt_model *m, int np, rt_rng *rng, int32_t *tok, float *logits) {
    for (int i = 0; i < np; i++) tok[i] = (int32_t)(rt_rng_next(rng) % (uint64_t)m->n_vocab);
    if (m->bos >= 0) tok[0] = m->bos;
    double t0 = rt_now();
    forward(s, tok, np, 0, np - 1, np, logits);
    return rt_now() - t0;
}

static double run_tg(rt_state *s, const rt_model *m, int ng, rt_rng *rng, float *logits) {
    int32_t tok = m->bos >= 0 ? m->bos : 0;
    double t0 = rt_now();
    for (int i = 0; i < ng; i++) {
        forward(s, &tok, 1, i, 0, 1, logits);
        tok = (int32_t)(rt_rng_next(rng) % (uint64_t)m->n_vocab);
    }
    return rt_now() - t0;
}

static void report(const rt_args *a, const rt_model *m, int threads, int repacked, const char *test, int np, int ng,
                   const double *ts, int reps) {
    double avg, sd;
    stats(ts, reps, &avg, &sd);
    if (a->json) {
        printf("{\"event\":\"bench\",\"test\":\"%s\",\"n_prompt\":%d,\"n_gen\":%d,\"avg_ts\":%.3f,\"stddev_ts\":%.3f,\"samples_ts\":[", test, np, ng, avg, sd);
        for (int r = 0; r < reps; r++) printf("%s%.3f", r ? "," : "", ts[r]);
        printf("],\"threads\":%d,\"isa\":\"%s\",\"path\":\"%s\",\"layout\":\"%s\",\"embed_type\":\"%s\",\"model_bytes\":%zu,\"params\":%llu,"
               "\"repacked_tensors\":%d}\n",
               threads, bc_isa_name(a->isa), a->float_ref ? "float-ref" : "integer", m->layout, m->embed_type, m->gguf.size,
               (unsigned long long)m->n_params, repacked);
    } else {
        printf("| %-8s | %-5s | %8.2f MiB | %7.2f M | %-6s | %7d | %6s | %10.2f ± %.2f |\n", m->layout, m->embed_type,
               (double)m->gguf.size / (1024.0 * 1024.0), (double)m->n_params / 1e6, bc_isa_name(a->isa), threads, test, avg, sd);
    }
    fflush(stdout);
}

/* ---- --profile --------------------------------------------------------------------------------- */

/* Bytes one decoded token reads for each part: the weights (the head as stored in the file; a Q8_0
 * head repacked to 16-row tiles is as large), and for attention the f32 KV cache at the mean position
 * of a tg run of ng tokens. 0: not a streaming part. */
static void part_bytes(const rt_model *m, int ng, double *bytes) {
    for (int p = 0; p < PROF_PARTS; p++) bytes[p] = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const rt_layer *L = &m->layers[l];
        bytes[PROF_ATTN_QKV] += (double)(L->wq.nbytes + L->wk.nbytes + L->wv.nbytes);
        bytes[PROF_ATTN_OUTPUT] += (double)L->wo.nbytes;
        bytes[PROF_FFN_GATE_UP] += (double)(L->wgate.nbytes + L->wup.nbytes);
        bytes[PROF_FFN_DOWN] += (double)L->wdown.nbytes;
    }
    bytes[PROF_HEAD] = (double)m->output.rows * (double)m->output.row_bytes;
    bytes[PROF_ATTENTION] = (double)m->n_layers * 2.0 * m->n_kv_heads * m->head_dim * 4.0 * (ng + 1) / 2.0;
}

typedef struct { const char *name; double busy, wait, jobs, bytes; } prof_row; /* per token */

static void print_row(const rt_args *a, const prof_row *r, double total, int *first) {
    double t = r->busy + r->wait;
    double gbs = r->bytes > 0 && t > 0 ? r->bytes / t / 1e9 : 0;
    if (a->json) {
        printf("%s{\"part\":\"%s\",\"ms_per_token\":%.4f,\"share\":%.4f,\"busy_ms\":%.4f,\"wait_ms\":%.4f,\"jobs_per_token\":%.2f,\"bytes_per_token\":%.0f,\"gbs\":%.3f}",
               *first ? "" : ",", r->name, t * 1e3, t / total, r->busy * 1e3, r->wait * 1e3, r->jobs, r->bytes, gbs);
        *first = 0;
        return;
    }
    char mb[32] = "–", gb[32] = "–";
    if (r->bytes > 0) {
        snprintf(mb, sizeof mb, "%.1f", r->bytes / 1e6);
        snprintf(gb, sizeof gb, "%.1f", gbs);
    }
    printf("| %-12s | %8.3f | %5.1f%% | %8.3f | %8.3f | %6.1f | %8s | %6s |\n", r->name, t * 1e3, 100.0 * t / total, r->busy * 1e3,
           r->wait * 1e3, r->jobs, mb, gb);
}

/* prof covers `tokens` decoded tokens that took `seconds` by bench's clock */
static void report_profile(const rt_args *a, const rt_model *m, int threads, const char *test, int ng, const rt_profile *prof,
                           double seconds, long tokens) {
    double bytes[PROF_PARTS], per = 1.0 / (double)tokens, total = seconds * per, covered = 0, wait = 0;
    part_bytes(m, ng, bytes);
    prof_row rows[PROF_PARTS + 1];
    for (int p = 0; p < PROF_PARTS; p++) {
        rows[p] = (prof_row){rt_prof_part_names[p], prof->busy_s[p] * per, prof->wait_s[p] * per, (double)prof->jobs[p] * per, bytes[p]};
        covered += prof->busy_s[p] + prof->wait_s[p];
        wait += prof->wait_s[p];
    }
    rows[PROF_PARTS] = (prof_row){"other", total - covered * per, 0, 0, 0}; /* embedding, loop overhead, bench's own */
    double all_bytes = 0;
    for (int p = 0; p < PROF_PARTS; p++) all_bytes += bytes[p];
    const pool_stats *ps = &prof->pool;
    double jobs = (double)ps->jobs * per, wake_us = ps->jobs && threads > 1 ? ps->wake_s / (double)ps->jobs / (threads - 1) * 1e6 : 0;
    double worker_share = threads > 1 ? ps->worker_busy_s / ((threads - 1) * seconds) : 0;
    int first = 1;
    if (a->json) {
        printf("{\"event\":\"profile\",\"test\":\"%s\",\"tokens\":%ld,\"threads\":%d,\"ms_per_token\":%.4f,\"wait_ms_per_token\":%.4f,"
               "\"pool_jobs_per_token\":%.2f,\"wake_us_per_job\":%.3f,\"worker_busy_share\":%.4f,\"bytes_per_token\":%.0f,\"gbs\":%.3f,\"parts\":[",
               test, tokens, threads, total * 1e3, wait * per * 1e3, jobs, wake_us, worker_share, all_bytes, all_bytes / total / 1e9);
        for (int p = 0; p <= PROF_PARTS; p++) print_row(a, &rows[p], total, &first);
        printf("]}\n");
    } else {
        printf("\nprofile %s: %.3f ms per token over %ld tokens, %d thread%s; %.1f MB streamed per token = %.1f GB/s\n", test, total * 1e3,
               tokens, threads, threads > 1 ? "s" : "", all_bytes / 1e6, all_bytes / total / 1e9);
        if (threads > 1)
            printf("%.1f pool jobs per token; a worker starts %.1f us after a job is posted on average and is busy %.0f%% of the time\n", jobs,
                   wake_us, 100 * worker_share);
        printf("| part         | ms/token | share  |  busy ms |  wait ms | jobs   | MB/token | GB/s   |\n");
        printf("| ------------ | -------- | ------ | -------- | -------- | ------ | -------- | ------ |\n");
        for (int p = 0; p <= PROF_PARTS; p++) print_row(a, &rows[p], total, &first);
        printf("wait = thread 0 posting pool jobs and waiting for the other threads (%.3f ms per token, %.1f%%); GB/s over busy + wait\n",
               wait * per * 1e3, 100 * wait * per / total);
    }
    fflush(stdout);
}

int cmd_bench(const rt_args *a) {
    rt_model m;
    cli_load_model(a, &m);
    int np = a->n_prompt, ng = a->n_gen, reps = a->reps;
    if (np < 0 || ng < 0 || reps < 1) rt_die(RT_EXIT_BADINPUT, NULL, "bench: -p and -n must be >= 0, -r >= 1");
    if (a->profile && ng < 1) rt_die(RT_EXIT_BADINPUT, NULL, "bench: --profile times the decode test: it needs -n >= 1");
    int max_ctx = np > ng ? np : ng;
    if (max_ctx < 1) max_ctx = 1;
    pool *p = cli_pool(a);
    rt_opts o = cli_opts(a, max_ctx);
    if (a->batch <= 0) o.max_batch = max_ctx; /* the whole prompt in one batch */
    double repack_s = 0;
    int repacked = cli_repack(a, &m, p, &repack_s);
    rt_state *s = state_create(&m, p, a->isa, o);
    rt_rng rng;
    rt_rng_seed(&rng, a->seed_given ? a->seed : 1234);
    int32_t *tok = rt_alloc((size_t)(np > 0 ? np : 1) * sizeof(int32_t));
    float *logits = rt_alloc((size_t)m.n_vocab * sizeof(float));
    double *ts = rt_alloc((size_t)reps * sizeof(double));
    int threads = pool_size(p);
    if (!a->json) {
        if (repacked)
            printf("%s weights run as TQ2_0: %d tensors repacked at load in %.2f s, %.1f MiB (--repack off keeps them)\n\n",
                   m.layout, repacked, repack_s, (double)m.repacked_bytes / (1024.0 * 1024.0));
        printf("| layout   | embd  |         size |    params | isa    | threads |   test |              t/s |\n");
        printf("| -------- | ----- | ------------ | --------- | ------ | ------- | ------ | ---------------- |\n");
    }
    char name[32];
    if (np > 0) {
        if (!a->no_warmup) run_pp(s, &m, np, &rng, tok, logits);
        for (int r = 0; r < reps; r++) ts[r] = np / run_pp(s, &m, np, &rng, tok, logits);
        snprintf(name, sizeof name, "pp%d", np);
        report(a, &m, threads, repacked, name, np, 0, ts, reps);
    }
    if (ng > 0) {
        if (!a->no_warmup) run_tg(s, &m, 1, &rng, logits);
        rt_profile prof = {0};
        double seconds = 0;
        if (a->profile) state_profile(s, &prof);
        for (int r = 0; r < reps; r++) {
            double t = run_tg(s, &m, ng, &rng, logits);
            seconds += t;
            ts[r] = ng / t;
        }
        state_profile(s, NULL);
        snprintf(name, sizeof name, "tg%d", ng);
        report(a, &m, threads, repacked, name, 0, ng, ts, reps);
        if (a->profile) report_profile(a, &m, threads, name, ng, &prof, seconds, (long)ng * reps);
    }
    rt_free(ts);
    rt_free(logits);
    rt_free(tok);
    state_free(s);
    pool_destroy(p);
    model_free(&m);
    return 0;
}
