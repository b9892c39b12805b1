/* generate: continue a prompt (token ids) greedily or by temperature / top-p sampling, and print the
 * continuation as text decoded from the GGUF vocabulary (or as ids). */
#include "cli.h"
#include "util.h"
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- token strings back to bytes ------------------------------------------------------------------ */

/* GPT-2 byte-level BPE writes byte b as a printable code point: b itself for '!'..'~', 0xA1..0xAC and
 * 0xAE..0xFF, and 256 + k for the k-th remaining byte (space, control bytes, ...). */
static int16_t byte_of_cp[324];

static void gpt2_table(void) {
    int k = 0;
    for (int i = 0; i < 324; i++) byte_of_cp[i] = -1;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        byte_of_cp[printable ? b : 256 + k++] = (int16_t)b;
    }
}

/* Next UTF-8 code point of s[0..n); returns its length (1 for an invalid byte, cp = -1). */
static int utf8_next(const unsigned char *s, size_t n, int *cp) {
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || (size_t)len > n) { *cp = -1; return 1; }
    int v = len == 1 ? (int)c : len == 2 ? (int)(c & 0x1f) : len == 3 ? (int)(c & 0x0f) : (int)(c & 0x07);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) { *cp = -1; return 1; }
        v = (v << 6) | (s[i] & 0x3f);
    }
    *cp = v;
    return len;
}

/* Appends the bytes of token id to buf (at most cap); returns the number of bytes written. */
static size_t token_bytes(const rt_model *m, int id, unsigned char *buf, size_t cap) {
    if (!m->tokens || id < 0 || id >= m->n_tokens) return 0;
    int type = model_token_type(m, id);
    if (type == 3) return 0; /* control tokens (BOS, EOS, ...) print nothing */
    const unsigned char *s = (const unsigned char *)m->tokens[id].ptr;
    size_t n = (size_t)m->tokens[id].len, o = 0;
    if (m->tok_model == TOK_SPM) {
        unsigned hx;
        if (type == 6 && n == 6 && sscanf((const char *)s, "<0x%02X>", &hx) == 1) { /* byte token */
            if (cap) buf[o++] = (unsigned char)hx;
            return o;
        }
        for (size_t i = 0; i < n && o < cap;) {
            if (i + 3 <= n && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) { buf[o++] = ' '; i += 3; }
            else buf[o++] = s[i++];
        }
        return o;
    }
    if (m->tok_model == TOK_GPT2) {
        for (size_t i = 0; i < n && o + 4 <= cap;) {
            int cp, len = utf8_next(s + i, n - i, &cp);
            if (cp >= 0 && cp < 324 && byte_of_cp[cp] >= 0) buf[o++] = (unsigned char)byte_of_cp[cp];
            else { memcpy(buf + o, s + i, (size_t)len); o += (size_t)len; }
            i += (size_t)len;
        }
        return o;
    }
    if (n > cap) n = cap;
    memcpy(buf, s, n);
    return n;
}

/* ---- sampling ---------------------------------------------------------------------------------------- */

typedef struct { float p; int id; } cand;
static int cmp_cand(const void *a, const void *b) {
    float x = ((const cand *)a)->p, y = ((const cand *)b)->p;
    return x > y ? -1 : x < y ? 1 : ((const cand *)a)->id - ((const cand *)b)->id;
}

static int argmax(const float *l, int V) {
    int best = 0;
    for (int j = 1; j < V; j++) if (l[j] > l[best]) best = j;
    return best;
}

static int sample(const float *logits, int V, float temp, float top_p, rt_rng *rng, cand *c) {
    if (temp <= 0) return argmax(logits, V);
    float mx = logits[argmax(logits, V)];
    double sum = 0;
    for (int j = 0; j < V; j++) {
        c[j].p = expf((logits[j] - mx) / temp);
        c[j].id = j;
        sum += c[j].p;
    }
    int n = V;
    if (top_p < 1.0f) {
        /* nucleus: the smallest set of most likely tokens whose probability reaches top_p */
        qsort(c, (size_t)V, sizeof *c, cmp_cand);
        double cum = 0;
        for (n = 0; n < V;) {
            cum += c[n++].p / sum;
            if (cum >= top_p) break;
        }
        sum = 0;
        for (int j = 0; j < n; j++) sum += c[j].p;
    }
    double r = (double)rt_rng_float(rng) * sum, acc = 0;
    for (int j = 0; j < n; j++) {
        acc += c[j].p;
        if (r < acc) return c[j].id;
    }
    return c[n - 1].id;
}

/* ---- the command ------------------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_requested = 0;
static void on_sigint(int sig) {
    (void)sig;
    stop_requested = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process at once */
}

int cmd_generate(const rt_args *a) {
    rt_model m;
    cli_load_model(a, &m);
    if (!a->tokens) rt_die(RT_EXIT_BADINPUT, NULL, "generate needs --tokens (the prompt as int32 ids)");
    int64_t n0;
    int32_t *prompt = cli_load_tokens(a, a->tokens, &m, &n0);
    int ng = a->n_gen;
    if (ng < 0) rt_die(RT_EXIT_BADINPUT, NULL, "-n must be >= 0");
    if (n0 + ng > (1 << 22)) rt_die(RT_EXIT_BADINPUT, NULL, "prompt + -n is too long");
    if (!a->ids && !a->json && !m.tokens) rt_die(RT_EXIT_BADINPUT, a->model, "no tokenizer.ggml.tokens to decode text (use --ids)");
    gpt2_table();
    pool *p = cli_pool(a);
    cli_repack(a, &m, p, NULL);
    rt_state *s = state_create(&m, p, a->isa, cli_opts(a, (int)n0 + ng));
    float *logits = rt_alloc((size_t)m.n_vocab * sizeof(float));
    cand *c = rt_alloc((size_t)m.n_vocab * sizeof(cand));
    int32_t *out = rt_alloc((size_t)(ng > 0 ? ng : 1) * sizeof(int32_t));
    rt_rng rng;
    rt_rng_seed(&rng, a->seed_given ? a->seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    unsigned char buf[1024];

    double t0 = rt_now();
    forward(s, prompt, (int)n0, 0, (int)n0 - 1, (int)n0, logits);
    double t_prompt = rt_now() - t0;
    int n_out = 0;
    signal(SIGINT, on_sigint); /* Ctrl-C: stop after the current token, print what there is */
    for (int i = 0; i < ng && !stop_requested; i++) {
        int tok = sample(logits, m.n_vocab, a->temp, a->top_p, &rng, c);
        if (tok == m.eos || tok == m.eot) break;
        out[n_out++] = tok;
        if (a->ids && !a->json) { printf("%s%d", n_out > 1 ? " " : "", tok); fflush(stdout); }
        else if (!a->json) { fwrite(buf, 1, token_bytes(&m, tok, buf, sizeof buf), stdout); fflush(stdout); }
        if (i + 1 < ng) forward(s, &tok, 1, (int)n0 + i, 0, 1, logits);
    }
    signal(SIGINT, SIG_DFL);
    double t_all = rt_now() - t0;
    if (a->json) {
        printf("{\"ids\":[");
        for (int i = 0; i < n_out; i++) printf("%s%d", i ? "," : "", out[i]);
        printf("],\"text\":");
        size_t cap = (size_t)n_out * 1024 + 1, len = 0;
        unsigned char *text = rt_alloc(cap);
        for (int i = 0; i < n_out; i++) len += token_bytes(&m, out[i], text + len, cap - len);
        cli_json_str((const char *)text, len);
        rt_free(text);
        printf(",\"prompt_tokens\":%lld,\"generated\":%d,\"prompt_seconds\":%.4f,\"seconds\":%.4f}\n", (long long)n0, n_out, t_prompt, t_all);
    } else if (a->ids || isatty(1)) {
        putchar('\n');
    }
    fflush(stdout);
    rt_free(out);
    rt_free(c);
    rt_free(logits);
    rt_free(prompt);
    state_free(s);
    pool_destroy(p);
    model_free(&m);
    return 0;
}
