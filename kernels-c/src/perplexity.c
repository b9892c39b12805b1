/* perplexity: llama-perplexity's method plus its KL-divergence mode (docs/runtime.md `perplexity`).
 * The text is cut into chunks of n_ctx tokens; the first token of every chunk is replaced by BOS; each
 * chunk is evaluated from position 0 in one batch; the tokens after position n_ctx/2 are scored. */
#include "cli.h"
#include "util.h"
#include "vec.h"
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t interrupted = 0;
static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process at once */
}


/* ---- the _logits_ file (llama.cpp --kl-divergence-base) ------------------------------------------ */

/* One record per scored position: f32 scale, f32 min_log_prob, then one u16 per vocabulary entry
 * (padded to an even count): log p_j = min_log_prob + scale * code_j, codes spanning at most the top
 * 16 nats below the maximum. */
static size_t record_u16s(int V) { return 2 * (((size_t)V + 1) / 2) + 4; }

static void encode_record(const float *row, int V, uint16_t *rec) {
    float mx = row[0], mn = row[0];
    for (int j = 1; j < V; j++) { mx = row[j] > mx ? row[j] : mx; mn = row[j] < mn ? row[j] : mn; }
    float min_logit = mn > mx - 16 ? mn : mx - 16;
    double sum = 0;
    for (int j = 0; j < V; j++) sum += exp((double)(row[j] - mx));
    float scale = (mx - min_logit) / 65535.0f;
    float min_log_prob = (float)((double)min_logit - mx - log(sum));
    memcpy(rec, &scale, 4);
    memcpy(rec + 2, &min_log_prob, 4);
    uint16_t *codes = rec + 4;
    for (int j = 0; j < V; j++) {
        float c = scale > 0 ? nearbyintf((row[j] - min_logit) / scale) : 0;
        codes[j] = (uint16_t)(c < 0 ? 0 : c > 65535 ? 65535 : c);
    }
    if (V % 2) codes[V] = 0;
}

typedef struct {
    FILE *f;
    uint32_t n_ctx;
    int32_t n_vocab, n_chunk;
    int32_t *tokens;
} kl_file;

static void kl_open(const char *path, kl_file *k, int V) {
    FILE *f = rt_fopen_input(path);
    char magic[8];
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "_logits_", 8) != 0) rt_die(RT_EXIT_BADINPUT, path, "not a llama.cpp logits file (bad magic)");
    if (fread(&k->n_ctx, 4, 1, f) != 1 || fread(&k->n_vocab, 4, 1, f) != 1 || fread(&k->n_chunk, 4, 1, f) != 1)
        rt_die(RT_EXIT_BADINPUT, path, "truncated header");
    if (k->n_vocab != V) rt_die(RT_EXIT_BADINPUT, path, "vocabulary of %d entries, the model has %d", k->n_vocab, V);
    if (k->n_ctx < 4 || k->n_ctx > (1u << 24) || k->n_chunk < 1 || (uint64_t)k->n_ctx * (uint64_t)k->n_chunk > (1ull << 31))
        rt_die(RT_EXIT_BADINPUT, path, "implausible header (n_ctx %u, n_chunk %d)", k->n_ctx, k->n_chunk);
    uint64_t ntok = (uint64_t)k->n_ctx * (uint64_t)k->n_chunk;
    uint64_t first = k->n_ctx / 2, per_chunk = k->n_ctx - 1 - first;
    uint64_t want = 20 + 4 * ntok + (uint64_t)k->n_chunk * per_chunk * record_u16s(V) * 2;
    if (fseek(f, 0, SEEK_END) != 0) rt_die(RT_EXIT_BADINPUT, path, "cannot seek");
    long size = ftell(f);
    if (size < 0 || (uint64_t)size != want) rt_die(RT_EXIT_BADINPUT, path, "size %ld, expected %llu for its header", size, (unsigned long long)want);
    fseek(f, 20, SEEK_SET);
    k->tokens = rt_alloc(4 * ntok);
    if (fread(k->tokens, 4, ntok, f) != ntok) rt_die(RT_EXIT_BADINPUT, path, "short read");
    for (uint64_t i = 0; i < ntok; i++)
        if (k->tokens[i] < 0 || k->tokens[i] >= V) rt_die(RT_EXIT_BADINPUT, path, "token %d at %llu is out of range", k->tokens[i], (unsigned long long)i);
    k->f = f;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int cmd_perplexity(const rt_args *a) {
    rt_model m;
    cli_load_model(a, &m);
    int V = m.n_vocab;
    int64_t ntok = 0;
    int32_t *tokens;
    int n_ctx = a->ctx;
    kl_file base = {0};
    if (a->kl_compare) {
        kl_open(a->kl_compare, &base, V);
        if (a->ctx_given && (uint32_t)a->ctx != base.n_ctx)
            rt_die(RT_EXIT_BADINPUT, a->kl_compare, "was written with -c %u, not %d", base.n_ctx, a->ctx);
        n_ctx = (int)base.n_ctx;
        tokens = base.tokens;
        ntok = (int64_t)base.n_ctx * base.n_chunk;
    } else {
        if (!a->tokens) rt_die(RT_EXIT_BADINPUT, NULL, "perplexity needs --tokens (or --kl-compare)");
        tokens = cli_load_tokens(a, a->tokens, &m, &ntok);
    }
    if (n_ctx < 4) rt_die(RT_EXIT_BADINPUT, NULL, "-c must be at least 4");
    if (ntok < 2 * (int64_t)n_ctx)
        rt_die(RT_EXIT_BADINPUT, a->tokens ? a->tokens : a->kl_compare, "%lld tokens; perplexity needs at least 2 x ctx = %d",
               (long long)ntok, 2 * n_ctx);
    int n_chunk = (int)(ntok / n_ctx);
    if (a->chunks > 0 && a->chunks < n_chunk) n_chunk = a->chunks;
    int first = n_ctx / 2, scored = n_ctx - 1 - first;
    int bos = (m.add_bos && m.bos >= 0) ? m.bos : -1;

    pool *p = cli_pool(a);
    int repacked = cli_repack(a, &m, p, NULL);
    rt_opts opts = cli_opts(a, n_ctx);
    rt_state *s = state_create(&m, p, a->isa, opts);
    /* a chunk runs in batches of opts.max_batch tokens (the KV cache carries the earlier ones), each
     * batch's scored rows are scored before the next: logits for at most one batch are held */
    int B = opts.max_batch;
    float *logits = rt_alloc((size_t)(B < scored ? B : scored) * V * sizeof(float));
    int32_t *chunk = rt_alloc((size_t)n_ctx * sizeof(int32_t));
    size_t nrec = record_u16s(V);
    uint16_t *rec = rt_alloc(nrec * 2);

    FILE *out = NULL;
    if (a->kl_base) {
        out = fopen(a->kl_base, "wb");
        if (!out) rt_die(RT_EXIT_FAIL, a->kl_base, "cannot create: %s", strerror(errno));
        uint32_t c = (uint32_t)n_ctx;
        int32_t nv = V, nc = n_chunk;
        fwrite("_logits_", 1, 8, out);
        fwrite(&c, 4, 1, out);
        fwrite(&nv, 4, 1, out);
        fwrite(&nc, 4, 1, out);
        fwrite(tokens, 4, (size_t)n_chunk * n_ctx, out); /* the original tokens, before the BOS replacement */
    }
    double *kls = base.f ? rt_alloc((size_t)n_chunk * scored * sizeof(double)) : NULL;
    double *lp = base.f ? rt_alloc((size_t)V * sizeof(double)) : NULL;
    double kl_sum = 0, base_nll = 0;
    int64_t top1_same = 0;

    signal(SIGINT, on_sigint);
    double sum = 0, sum2 = 0, t0 = rt_now(), eval_s = 0;
    int64_t count = 0;
    int done = 0;
    if (!a->json) fprintf(stderr, "perplexity: %d chunks of %d tokens, %d scored per chunk, %s path, %d threads, %s\n", n_chunk, n_ctx,
                          scored, a->float_ref ? "float reference" : "integer", pool_size(p), bc_isa_name(a->isa));
    for (int c = 0; c < n_chunk && !interrupted; c++) {
        memcpy(chunk, tokens + (size_t)c * n_ctx, (size_t)n_ctx * sizeof(int32_t));
        if (bos >= 0) chunk[0] = bos;
        for (int b0 = 0; b0 < n_ctx; b0 += B) {
        int nb = n_ctx - b0 < B ? n_ctx - b0 : B;
        int lo = first > b0 ? first : b0, hi = n_ctx - 1 < b0 + nb ? n_ctx - 1 : b0 + nb; /* scored positions here */
        double te = rt_now();
        forward(s, chunk + b0, nb, b0, lo - b0, hi > lo ? hi - b0 : lo - b0, logits);
        eval_s += rt_now() - te;
        for (int pos = lo; pos < hi; pos++) {
            const float *row = logits + (size_t)(pos - lo) * V;
            int next = chunk[pos + 1];
            double lse = vec_log_sum_exp(row, V); /* sums in double, like llama.cpp's log-softmax */
            double nll = lse - row[next];
            sum += nll;
            sum2 += nll * nll;
            count++;
            if (out) {
                encode_record(row, V, rec);
                if (fwrite(rec, 2, nrec, out) != nrec) rt_die(RT_EXIT_FAIL, a->kl_base, "write failed");
            }
            if (base.f) {
                if (fread(rec, 2, nrec, base.f) != nrec) rt_die(RT_EXIT_BADINPUT, a->kl_compare, "short read");
                float scale, minlp;
                memcpy(&scale, rec, 4);
                memcpy(&minlp, rec + 2, 4);
                const uint16_t *codes = rec + 4;
                /* the file's log-probabilities, renormalized (16-bit codes sum to 1 only approximately),
                 * so the KL is a true divergence: >= 0 and second order in the coding error */
                int best_b = 0, best_q = 0;
                double bmax = -INFINITY, bsum = 0;
                for (int j = 0; j < V; j++) {
                    lp[j] = (double)minlp + (double)scale * codes[j];
                    if (codes[j] > codes[best_b]) best_b = j;
                    if (row[j] > row[best_q]) best_q = j;
                    bmax = lp[j] > bmax ? lp[j] : bmax;
                }
                for (int j = 0; j < V; j++) bsum += exp(lp[j] - bmax);
                double blse = bmax + log(bsum), kl = 0;
                for (int j = 0; j < V; j++) {
                    lp[j] -= blse;
                    kl += exp(lp[j]) * (lp[j] - ((double)row[j] - lse));
                }
                kls[count - 1] = kl;
                kl_sum += kl;
                base_nll -= lp[next];
                top1_same += best_b == best_q;
            }
        }
        }
        done = c + 1;
        double ppl = exp(sum / (double)count);
        if (a->json) {
            printf("{\"event\":\"chunk\",\"chunk\":%d,\"chunks\":%d,\"ppl\":%.6f}\n", done, n_chunk, ppl);
            fflush(stdout);
        } else {
            fprintf(stderr, "[%d]%.4f,", done, ppl);
        }
    }
    signal(SIGINT, SIG_DFL);
    if (!a->json) fputc('\n', stderr);
    if (out && fclose(out) != 0) rt_die(RT_EXIT_FAIL, a->kl_base, "write failed");
    double seconds = rt_now() - t0;
    int partial = done < n_chunk;
    if (count == 0) {
        if (a->json) printf("{\"event\":\"result\",\"partial\":true,\"tokens_scored\":0,\"chunks\":0,\"ctx\":%d}\n", n_ctx);
        else fprintf(stderr, "interrupted before the first chunk finished\n");
        return partial ? 1 : 0;
    }
    double mean = sum / (double)count, ppl = exp(mean);
    double var = sum2 / (double)count - mean * mean;
    double err = count > 1 && var > 0 ? ppl * sqrt(var / (double)(count - 1)) : 0;
    double tps = eval_s > 0 ? (double)done * n_ctx / eval_s : 0;
    double kl_mean = 0, kl_p99 = 0, top1 = 0, ref_ppl = 0;
    if (base.f) {
        kl_mean = kl_sum / (double)count;
        qsort(kls, (size_t)count, sizeof(double), cmp_double);
        kl_p99 = kls[(size_t)floor(0.99 * (double)(count - 1) + 0.5)];
        top1 = (double)top1_same / (double)count;
        ref_ppl = exp(base_nll / (double)count);
    }
    if (a->json) {
        printf("{\"event\":\"result\",\"perplexity\":%.6f,\"perplexity_error\":%.6f,\"tokens_scored\":%lld,\"ctx\":%d,"
               "\"chunks\":%d,\"seconds\":%.3f,\"prefill_tokens_per_s\":%.2f,\"partial\":%s,\"path\":\"%s\",\"isa\":\"%s\",\"threads\":%d,"
               "\"repacked_tensors\":%d",
               ppl, err, (long long)count, n_ctx, done, seconds, tps, partial ? "true" : "false",
               a->float_ref ? "float-ref" : "integer", bc_isa_name(a->isa), pool_size(p), repacked);
        if (base.f)
            printf(",\"reference_perplexity\":%.6f,\"kl_mean\":%.8f,\"kl_p99\":%.8f,\"top1_agreement\":%.6f", ref_ppl, kl_mean, kl_p99, top1);
        printf("}\n");
    } else {
        printf("Final estimate: PPL = %.4f +/- %.5f%s\n", ppl, err, partial ? " (partial: interrupted)" : "");
        printf("tokens scored %lld, chunks %d of %d, ctx %d, %.2f s, prefill %.1f tokens/s\n", (long long)count, done, n_chunk, n_ctx,
               seconds, tps);
        if (base.f)
            printf("reference PPL = %.4f, KL mean %.6f, KL p99 %.6f, same top p %.4f%%\n", ref_ppl, kl_mean, kl_p99, 100 * top1);
    }
    fflush(stdout);
    if (base.f) fclose(base.f);
    rt_free(kls);
    rt_free(lp);
    rt_free(rec);
    rt_free(chunk);
    rt_free(logits);
    rt_free(tokens);
    state_free(s);
    pool_destroy(p);
    model_free(&m);
    return 0;
}
