/* libFuzzer entry for the GGUF loader (docs/security.md): every input goes through gguf_parse, and
 * whatever parses through model_from_gguf, the same two steps as `bitconv-rt -m`. What loads is then
 * walked the way the commands walk it (every key and tensor name escaped as info prints them, the
 * vocabulary indexed, embedding rows decoded) so that any bound the validation forgot shows up under
 * ASan/UBSan. Built by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined); links gguf.c,
 * model.c and util.c only. */
#include "gguf.h"
#include "model.h"
#include "util.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile float sink;

static void walk_model(rt_model *m) {
    char shown[96];
    for (uint64_t k = 0; k < m->gguf.n_kv; k++) rt_printable(m->gguf.kv[k].key.ptr, (size_t)m->gguf.kv[k].key.len, shown, sizeof shown);
    for (uint64_t t = 0; t < m->gguf.n_tensors; t++) rt_printable(m->gguf.tensors[t].name, strlen(m->gguf.tensors[t].name), shown, sizeof shown);
    for (int i = 0; i < m->n_tokens; i++) rt_printable(m->tokens[i].ptr, (size_t)m->tokens[i].len, shown, sizeof shown);
    float *row = malloc((size_t)m->dim * sizeof(float));
    int64_t rows[2] = {0, m->tok_embd.rows - 1};
    for (int r = 0; r < 2; r++) {
        matrix_row_f32(&m->tok_embd, rows[r], row);
        matrix_row_f32(&m->output, rows[r], row);
        sink += row[0] + row[m->dim - 1];
    }
    free(row);
    for (int l = 0; l < m->n_layers; l++) {
        const bc_ternary *w = &m->layers[l].wdown;
        sink += w->scale + (float)w->data[0] + (float)w->data[w->nbytes - 1];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file g;
    char err[512], shown[1024];
    if (gguf_parse(&g, data, size, err, sizeof err) != 0) {
        rt_printable(err, strlen(err), shown, sizeof shown);
        return 0;
    }
    rt_model m;
    if (model_from_gguf(&m, &g, err, sizeof err) != 0) { /* takes g either way */
        rt_printable(err, strlen(err), shown, sizeof shown);
        return 0;
    }
    walk_model(&m);
    model_free(&m);
    return 0;
}
