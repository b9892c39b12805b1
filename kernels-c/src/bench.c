/* bench: llama-bench's pp/tg tests (docs/runtime.md `bench`). pp: random tokens (BOS first) prefilled in one
 * batch, logits for the last token only; tg: starting from BOS, one token per forward call, n times.
 * tokens/s per repetition, reported as average +- sample standard deviation. */
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

static void report(const rt_args *a, const rt_model *m, int threads, const char *test, int np, int ng, const double *ts, int reps) {
    double avg, sd;
    stats(ts, reps, &avg, &sd);
    if (a->json) {
        printf("{\"event\":\"bench\",\"test\":\"%s\",\"n_prompt\":%d,\"n_gen\":%d,\"avg_ts\":%.3f,\"stddev_ts\":%.3f,\"samples_ts\":[", test, np, ng, avg, sd);
        for (int r = 0; r < reps; r++) printf("%s%.3f", r ? "," : "", ts[r]);
        printf("],\"threads\":%d,\"isa\":\"%s\",\"path\":\"%s\",\"layout\":\"%s\",\"embed_type\":\"%s\",\"model_bytes\":%zu,\"params\":%llu}\n",
               threads, bc_isa_name(a->isa), a->float_ref ? "float-ref" : "integer", m->layout, m->embed_type, m->gguf.size,
               (unsigned long long)m->n_params);
    } else {
        printf("| %-8s | %-5s | %8.2f MiB | %7.2f M | %-6s | %7d | %6s | %10.2f ± %.2f |\n", m->layout, m->embed_type,
               (double)m->gguf.size / (1024.0 * 1024.0), (double)m->n_params / 1e6, bc_isa_name(a->isa), threads, test, avg, sd);
    }
    fflush(stdout);
}

int cmd_bench(const rt_args *a) {
    rt_model m;
    cli_load_model(a, &m);
    int np = a->n_prompt, ng = a->n_gen, reps = a->reps;
    if (np < 0 || ng < 0 || reps < 1) rt_die(RT_EXIT_BADINPUT, NULL, "bench: -p and -n must be >= 0, -r >= 1");
    int max_ctx = np > ng ? np : ng;
    if (max_ctx < 1) max_ctx = 1;
    pool *p = cli_pool(a);
    rt_opts o = cli_opts(a, max_ctx);
    if (a->batch <= 0) o.max_batch = max_ctx; /* the whole prompt in one batch */
    rt_state *s = state_create(&m, p, a->isa, o);
    rt_rng rng;
    rt_rng_seed(&rng, a->seed_given ? a->seed : 1234);
    int32_t *tok = rt_alloc((size_t)(np > 0 ? np : 1) * sizeof(int32_t));
    float *logits = rt_alloc((size_t)m.n_vocab * sizeof(float));
    double *ts = rt_alloc((size_t)reps * sizeof(double));
    int threads = pool_size(p);
    if (!a->json) {
        printf("| layout   | embd  |         size |    params | isa    | threads |   test |              t/s |\n");
        printf("| -------- | ----- | ------------ | --------- | ------ | ------- | ------ | ---------------- |\n");
    }
    char name[32];
    if (np > 0) {
        if (!a->no_warmup) run_pp(s, &m, np, &rng, tok, logits);
        for (int r = 0; r < reps; r++) ts[r] = np / run_pp(s, &m, np, &rng, tok, logits);
        snprintf(name, sizeof name, "pp%d", np);
        report(a, &m, threads, name, np, 0, ts, reps);
    }
    if (ng > 0) {
        if (!a->no_warmup) run_tg(s, &m, 1, &rng, logits);
        for (int r = 0; r < reps; r++) ts[r] = ng / run_tg(s, &m, ng, &rng, logits);
        snprintf(name, sizeof name, "tg%d", ng);
        report(a, &m, threads, name, 0, ng, ts, reps);
    }
    rt_free(ts);
    rt_free(logits);
    rt_free(tok);
    state_free(s);
    pool_destroy(p);
    model_free(&m);
    return 0;
}
