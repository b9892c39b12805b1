/* info, logits, unpack, and the helpers every command shares. */
#include "cli.h"
#include "util.h"
#include "vec.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_load_model(const rt_args *a, rt_model *m) {
    if (!a->model) rt_die(RT_EXIT_BADINPUT, NULL, "missing -m <model.gguf>");
    char err[512];
    if (model_load(m, a->model, err, sizeof err)) rt_die(RT_EXIT_BADINPUT, a->model, "%s", err);
}

int32_t *cli_load_tokens(const rt_args *a, const char *path, const rt_model *m, int64_t *n) {
    (void)a;
    int32_t *t = rt_read_tokens(path, n);
    for (int64_t i = 0; i < *n; i++)
        if (t[i] < 0 || t[i] >= m->n_vocab)
            rt_die(RT_EXIT_BADINPUT, path, "token %" PRId32 " at index %" PRId64 " is outside the vocabulary (0..%d)", t[i], i, m->n_vocab - 1);
    return t;
}

pool *cli_pool(const rt_args *a) { return pool_create(a->threads > 0 ? a->threads : cpu_count()); }

int cli_repack_count(const rt_args *a, const rt_model *m) {
    return a->float_ref ? 0 : model_repack_count(m, a->repack, a->isa);
}

int cli_repack(const rt_args *a, rt_model *m, pool *p, double *seconds) {
    double t0 = rt_now();
    int n = a->float_ref ? 0 : model_repack(m, a->repack, p, a->isa);
    if (seconds) *seconds = rt_now() - t0;
    return n;
}

rt_opts cli_opts(const rt_args *a, int max_ctx) {
    rt_opts o = {a->float_ref, a->head_dequant ? 0 : a->head_int8 ? 2 : 1, a->batch > 0 ? a->batch : 512, max_ctx, a->decode_jobs};
    if (o.max_batch > max_ctx) o.max_batch = max_ctx;
    return o;
}

void cli_json_str(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

/* ---- info ------------------------------------------------------------------------------------------ */

int cmd_info(const rt_args *a) {
    rt_model m;
    cli_load_model(a, &m);
    const char *act = m.act == ACT_RELU2 ? "relu2" : "silu";
    int types[64] = {0};
    for (uint64_t t = 0; t < m.gguf.n_tensors; t++)
        if (m.gguf.tensors[t].type < 64) types[m.gguf.tensors[t].type]++;
    if (a->json) {
        printf("{\"file\":");
        cli_json_str(a->model, strlen(a->model));
        printf(",\"file_bytes\":%zu,\"gguf_version\":%" PRIu32 ",\"tensors\":%" PRIu64 ",\"kv\":%" PRIu64 ",\"architecture\":\"%s\","
               "\"layout\":", m.gguf.size, m.gguf.version, m.gguf.n_tensors, m.gguf.n_kv, m.arch_name);
        cli_json_str(m.layout, strlen(m.layout));
        printf(",\"embed_type\":\"%s\",\"vocab\":%d,\"dim\":%d,\"layers\":%d,\"ffn\":%d,\"heads\":%d,\"kv_heads\":%d,"
               "\"head_dim\":%d,\"context_length\":%d,\"rms_eps\":%g,\"rope_theta\":%g,\"rope\":\"%s\",\"activation\":\"%s\","
               "\"sub_norms\":%s,\"tied_embeddings\":%s,\"params\":%" PRIu64 ",\"ternary_bytes\":%" PRIu64 ",\"bos\":%d,\"eos\":%d,"
               "\"add_bos\":%s,\"isa\":\"%s\",\"repack\":%s,\"repack_tensors\":%d,\"tensor_types\":{",
               m.embed_type, m.n_vocab, m.dim,
               m.n_layers, m.ffn_dim, m.n_heads, m.n_kv_heads, m.head_dim, m.ctx_train, (double)m.eps, (double)m.rope_theta,
               m.rope_neox ? "neox" : "norm", act, m.sub_norms ? "true" : "false", m.tied ? "true" : "false", m.n_params,
               m.ternary_bytes, m.bos, m.eos, m.add_bos ? "true" : "false", bc_isa_name(a->isa),
               cli_repack_count(a, &m) ? "true" : "false", cli_repack_count(a, &m));
        int first = 1;
        for (int t = 0; t < 64; t++)
            if (types[t]) { printf("%s\"%s\":%d", first ? "" : ",", gguf_type_name((uint32_t)t), types[t]); first = 0; }
        printf("}}\n");
    } else {
        char shown[512];
        printf("file            %s (%zu bytes, GGUF v%" PRIu32 ", %" PRIu64 " tensors, %" PRIu64 " keys)\n",
               rt_printable(a->model, strlen(a->model), shown, sizeof shown), m.gguf.size,
               m.gguf.version, m.gguf.n_tensors, m.gguf.n_kv);
        printf("architecture    %s (%s FFN, %s rope, %s)\n", m.arch_name, act, m.rope_neox ? "rotate-half" : "adjacent-pair",
               m.sub_norms ? "sub-norms" : "no sub-norms");
        printf("layout          %s, embeddings %s%s\n", m.layout, m.embed_type, m.tied ? " (tied head)" : ", untied output.weight");
        printf("shape           %d layers, dim %d, ffn %d, heads %d/%d x %d, vocab %d, context %d\n", m.n_layers, m.dim, m.ffn_dim,
               m.n_heads, m.n_kv_heads, m.head_dim, m.n_vocab, m.ctx_train);
        printf("numbers         rms eps %g, rope theta %g\n", (double)m.eps, (double)m.rope_theta);
        printf("parameters      %" PRIu64 " (ternary data %" PRIu64 " bytes)\n", m.n_params, m.ternary_bytes);
        printf("tokens          bos %d, eos %d, add_bos %s\n", m.bos, m.eos, m.add_bos ? "yes" : "no");
        printf("tensor types   ");
        for (int t = 0; t < 64; t++)
            if (types[t]) printf(" %s x%d", gguf_type_name((uint32_t)t), types[t]);
        printf("\nisa             %s\n", bc_isa_name(a->isa));
        if (cli_repack_count(a, &m))
            printf("repack          %d %s weights run as TQ2_0 on this path (--repack off keeps them)\n", cli_repack_count(a, &m), m.layout);
    }
    model_free(&m);
    return 0;
}

/* ---- logits ---------------------------------------------------------------------------------------- */

int cmd_logits(const rt_args *a) {
    rt_model m;
    cli_load_model(a, &m);
    if (!a->tokens) rt_die(RT_EXIT_BADINPUT, NULL, "logits needs --tokens");
    if (!a->out) rt_die(RT_EXIT_BADINPUT, NULL, "logits needs -o <file>");
    int64_t n;
    int32_t *tok = cli_load_tokens(a, a->tokens, &m, &n);
    if (n > (1 << 20)) rt_die(RT_EXIT_BADINPUT, a->tokens, "too many tokens (%" PRId64 ")", n);
    pool *p = cli_pool(a);
    cli_repack(a, &m, p, NULL);
    rt_state *s = state_create(&m, p, a->isa, cli_opts(a, (int)n));
    float *logits = rt_alloc((size_t)n * m.n_vocab * sizeof(float));
    forward(s, tok, (int)n, 0, 0, (int)n, logits);
    FILE *f = fopen(a->out, "wb");
    if (!f) rt_die(RT_EXIT_FAIL, a->out, "cannot create: %s", strerror(errno));
    size_t cnt = (size_t)n * m.n_vocab;
    if (fwrite(logits, sizeof(float), cnt, f) != cnt || fclose(f) != 0) rt_die(RT_EXIT_FAIL, a->out, "write failed");
    if (a->json) printf("{\"tokens\":%" PRId64 ",\"vocab\":%d,\"path\":\"%s\"}\n", n, m.n_vocab, a->float_ref ? "float-ref" : "integer");
    rt_free(logits);
    rt_free(tok);
    state_free(s);
    pool_destroy(p);
    model_free(&m);
    return 0;
}

/* ---- unpack ---------------------------------------------------------------------------------------- */

/* Any GGUF, a whole model or a single tensor (the spec's worked examples, test/formats.test.ts). */
int cmd_unpack(const rt_args *a) {
    if (!a->model) rt_die(RT_EXIT_BADINPUT, NULL, "missing -m <model.gguf>");
    if (!a->tensor) rt_die(RT_EXIT_BADINPUT, NULL, "unpack needs --tensor NAME");
    if (!a->out) rt_die(RT_EXIT_BADINPUT, NULL, "unpack needs -o <file>");
    char err[512];
    gguf_file g;
    if (gguf_open(&g, a->model, err, sizeof err)) rt_die(RT_EXIT_BADINPUT, a->model, "%s", err);
    bc_ternary tw;
    if (model_ternary_tensor(&g, a->tensor, &tw, err, sizeof err)) rt_die(RT_EXIT_BADINPUT, a->model, "%s", err);
    const bc_ternary *w = &tw;
    const gguf_tensor *t = gguf_find_tensor(&g, a->tensor);
    if (a->as_tq2_0 && !rt_repack_wanted(RT_REPACK_ON, a->isa, w))
        rt_die(RT_EXIT_BADINPUT, a->model, "tensor %s is %s; --as-tq2_0 repacks TQ1_0 tensors and TL1 ones with K a multiple of 256", a->tensor, gguf_type_name(t->type));
    size_t n = a->as_tq2_0 ? rt_tq2_0_bytes(w) : 0;
    uint8_t *repacked = n ? rt_alloc(n) : NULL; /* the bytes --repack runs (test/repack.test.ts checks them) */
    if (repacked && rt_repack_to_tq2_0(w, repacked, NULL, a->isa))
        rt_die(RT_EXIT_BADINPUT, a->model, "tensor %s has a TL1 nibble above 8 (a code TQ2_0 cannot hold); it cannot be repacked", a->tensor);
    FILE *f = fopen(a->out, "wb");
    if (!f) rt_die(RT_EXIT_FAIL, a->out, "cannot create: %s", strerror(errno));
    if (repacked && fwrite(repacked, 1, n, f) != n) rt_die(RT_EXIT_FAIL, a->out, "write failed");
    rt_free(repacked);
    int8_t *row = rt_alloc((size_t)w->K);
    for (int64_t r = 0; r < w->M && !a->as_tq2_0; r++) {
        bc_decode_row(w, r, row);
        if (fwrite(row, 1, (size_t)w->K, f) != (size_t)w->K) rt_die(RT_EXIT_FAIL, a->out, "write failed");
    }
    if (fclose(f) != 0) rt_die(RT_EXIT_FAIL, a->out, "write failed");
    printf("{\"scale\":%.9g,\"M\":%" PRId64 ",\"K\":%" PRId64 ",\"layout\":\"%s\",\"isa\":\"%s\"}\n", (double)w->scale, w->M,
           w->K, gguf_type_name(t->type), bc_isa_name(a->isa));
    rt_free(row);
    gguf_free(&g);
    return 0;
}
