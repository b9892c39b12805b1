/* Hostile-file tests of the GGUF reader and the model loader (src/gguf.c, src/model.c).
 * A small but complete model is built in memory from a structural description; every test breaks one
 * thing (a count, a length, a type, an offset, a shape, a key) and asserts a clean error. On top:
 * truncation at every byte of the header, single-byte corruption of every header byte, and random
 * multi-byte corruption; whatever still loads is run through the forward pass, so under `make asan`
 * any out-of-bounds read shows up. Exits 1 on any failure. */
#include "forward.h"
#include "gguf.h"
#include "model.h"
#include "util.h"
#include "vec.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TEST_SEED 0x243F6A8885A308D3ull
#include "check.h"

/* ---- a structural GGUF description and its serializer --------------------------------------------- */

#define MAX_KV 48
#define MAX_T 96

typedef struct {
    char key[96];
    uint32_t type;
    uint64_t u;                 /* integer / bool value */
    double f;                   /* float value */
    const char *s;              /* string value */
    uint32_t arr_type;          /* arrays: u32/i32 values in arr_u32, strings in arr_s */
    uint64_t arr_n;
    const uint32_t *arr_u32;
    const char *const *arr_s;
} tkv;

typedef struct {
    char name[80];
    uint32_t n_dims, type;
    uint64_t ne[4];
    int offset_set;
    uint64_t offset;
    int fill;                   /* -1 random bytes, else the byte value */
    float scale;                /* written into the I2_S / TL tail, or the F32 [1] value */
} tten;

typedef struct {
    tkv kv[MAX_KV];
    int nkv;
    tten t[MAX_T];
    int nt;
    uint32_t version;
    int count_override;         /* write these counts instead of the real ones */
    uint64_t n_kv_written, n_t_written;
} tspec;

/* positions of fields in the last serialized buffer */
typedef struct {
    size_t n_tensors, n_kv;
    size_t kv_key[MAX_KV], kv_type[MAX_KV], kv_val[MAX_KV];
    size_t t_name[MAX_T], t_ndims[MAX_T], t_ne0[MAX_T], t_type[MAX_T], t_off[MAX_T];
    size_t header_end, data_start;
} tpos;

typedef struct { uint8_t *p; size_t n, cap; } buf;
static void put(buf *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 1024;
        b->p = realloc(b->p, b->cap);
        if (!b->p) exit(1);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put64(buf *b, uint64_t v) { put(b, &v, 8); }
static void putstr(buf *b, const char *s) { put64(b, strlen(s)); put(b, s, strlen(s)); }

static uint64_t data_size(const tten *t) {
    uint64_t nb = 0;
    int64_t ne[4];
    for (int d = 0; d < 4; d++) ne[d] = (int64_t)(d < (int)t->n_dims ? t->ne[d] : 1);
    if (gguf_tensor_nbytes(t->type, ne, t->n_dims, &nb, NULL, 0)) return 64; /* invalid on purpose: any size */
    return nb > (1u << 24) ? 64 : nb; /* absurd shapes: the header says more than the file holds */
}

static void write_data(buf *b, const tten *t, uint64_t nb) {
    size_t start = b->n;
    for (uint64_t i = 0; i < nb; i++) {
        uint8_t v = t->fill < 0 ? (uint8_t)rnd() : (uint8_t)t->fill;
        put(b, &v, 1);
    }
    if (t->fill >= 0) return;
    if (t->type == BC_GGML_F32 && nb >= 4) {
        /* norms: values near 1; a [1] scale tensor: the scale */
        for (uint64_t i = 0; i + 4 <= nb; i += 4) {
            float f = t->ne[0] == 1 ? t->scale : 0.5f + (float)(rnd() % 1000) / 1000.0f;
            memcpy(b->p + start + i, &f, 4);
        }
    } else if (t->type == BC_GGML_F16) {
        for (uint64_t i = 0; i + 2 <= nb; i += 2) {
            uint16_t h = rt_f32_to_f16(((float)(rnd() % 2001) - 1000.0f) / 4000.0f);
            memcpy(b->p + start + i, &h, 2);
        }
    } else if (t->type == BC_GGML_TQ2_0 || t->type == BC_GGML_TQ1_0) {
        size_t bs = t->type == BC_GGML_TQ2_0 ? 66 : 54;
        uint16_t one = 0x3C00;
        for (uint64_t i = bs; i <= nb; i += bs) memcpy(b->p + start + i - 2, &one, 2);
    } else if (t->type == BC_GGML_I2_S || t->type == BC_GGML_TL1 || t->type == BC_GGML_TL2) {
        uint64_t at = t->type == BC_GGML_TL2 ? nb - 32 : t->ne[0] * t->ne[1] / 4;
        if (at + 4 <= nb) memcpy(b->p + start + at, &t->scale, 4);
    }
}

static buf serialize(const tspec *s, tpos *pos) {
    buf b = {0};
    tpos dummy;
    if (!pos) pos = &dummy;
    put(&b, "GGUF", 4);
    put32(&b, s->version ? s->version : 3);
    pos->n_tensors = b.n;
    put64(&b, s->count_override ? s->n_t_written : (uint64_t)s->nt);
    pos->n_kv = b.n;
    put64(&b, s->count_override ? s->n_kv_written : (uint64_t)s->nkv);
    for (int i = 0; i < s->nkv; i++) {
        const tkv *k = &s->kv[i];
        pos->kv_key[i] = b.n;
        putstr(&b, k->key);
        pos->kv_type[i] = b.n;
        put32(&b, k->type);
        pos->kv_val[i] = b.n;
        switch (k->type) {
        case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: { uint8_t v = (uint8_t)k->u; put(&b, &v, 1); break; }
        case GGUF_UINT16: case GGUF_INT16: { uint16_t v = (uint16_t)k->u; put(&b, &v, 2); break; }
        case GGUF_UINT32: case GGUF_INT32: put32(&b, (uint32_t)k->u); break;
        case GGUF_UINT64: case GGUF_INT64: put64(&b, k->u); break;
        case GGUF_FLOAT32: { float f = (float)k->f; put(&b, &f, 4); break; }
        case GGUF_FLOAT64: put(&b, &k->f, 8); break;
        case GGUF_STRING: putstr(&b, k->s); break;
        case GGUF_ARRAY:
            put32(&b, k->arr_type);
            put64(&b, k->arr_n);
            for (uint64_t e = 0; e < k->arr_n; e++) {
                if (k->arr_type == GGUF_STRING && k->arr_s) putstr(&b, k->arr_s[e]);
                else put32(&b, k->arr_u32 ? k->arr_u32[e] : 0);
            }
            break;
        default: put32(&b, 0); break; /* an unknown type: some bytes */
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < s->nt; i++) {
        const tten *t = &s->t[i];
        pos->t_name[i] = b.n;
        putstr(&b, t->name);
        pos->t_ndims[i] = b.n;
        put32(&b, t->n_dims);
        pos->t_ne0[i] = b.n;
        for (uint32_t d = 0; d < t->n_dims && d < 8; d++) put64(&b, d < 4 ? t->ne[d] : 1);
        pos->t_type[i] = b.n;
        put32(&b, t->type);
        pos->t_off[i] = b.n;
        put64(&b, t->offset_set ? t->offset : off);
        off += (data_size(t) + 31) / 32 * 32;
    }
    pos->header_end = b.n;
    while (b.n % 32) put(&b, "", 1);
    pos->data_start = b.n;
    for (int i = 0; i < s->nt; i++) {
        uint64_t nb = data_size(&s->t[i]);
        write_data(&b, &s->t[i], nb);
        while (b.n % 32) put(&b, "", 1);
    }
    return b;
}

/* ---- a valid tiny model -------------------------------------------------------------------------- */

static tkv *kv_add(tspec *s, const char *key, uint32_t type) {
    tkv *k = &s->kv[s->nkv++];
    memset(k, 0, sizeof *k);
    snprintf(k->key, sizeof k->key, "%s", key);
    k->type = type;
    return k;
}
static void kv_u32(tspec *s, const char *key, uint32_t v) { kv_add(s, key, GGUF_UINT32)->u = v; }
static void kv_f32(tspec *s, const char *key, double v) { kv_add(s, key, GGUF_FLOAT32)->f = v; }
static void kv_str(tspec *s, const char *key, const char *v) { kv_add(s, key, GGUF_STRING)->s = v; }

static tten *t_add(tspec *s, const char *name, uint32_t type, uint64_t ne0, uint64_t ne1) {
    tten *t = &s->t[s->nt++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = ne1 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    t->ne[2] = t->ne[3] = 1;
    t->fill = -1;
    t->scale = 0.75f;
    return t;
}

static tkv *find_kv(tspec *s, const char *key) {
    for (int i = 0; i < s->nkv; i++) if (!strcmp(s->kv[i].key, key)) return &s->kv[i];
    return NULL;
}
static tten *find_t(tspec *s, const char *name) {
    for (int i = 0; i < s->nt; i++) if (!strcmp(s->t[i].name, name)) return &s->t[i];
    return NULL;
}
static void drop_kv(tspec *s, const char *key) {
    tkv *k = find_kv(s, key);
    if (k) { memmove(k, k + 1, (size_t)(s->kv + s->nkv - k - 1) * sizeof *k); s->nkv--; }
}
static void drop_t(tspec *s, const char *name) {
    tten *t = find_t(s, name);
    if (t) { memmove(t, t + 1, (size_t)(s->t + s->nt - t - 1) * sizeof *t); s->nt--; }
}

#define VOCAB 64
static char tok_store[VOCAB][16];
static const char *tok_strs[VOCAB];
static uint32_t tok_types[VOCAB];
static uint32_t tl_params[5 * 8];

/* dims: TQ layouts need K % 256, I2_S K % 128 */
static void make_model(tspec *s, uint32_t ttype, const char *arch) {
    memset(s, 0, sizeof *s);
    int dim = ttype == BC_GGML_I2_S ? 128 : 256, ffn = 2 * dim, heads = dim / 32, kvh = heads / 2, layers = 2;
    int llama = !strcmp(arch, "llama");
    char key[96];
    kv_str(s, "general.architecture", arch);
    kv_u32(s, "general.alignment", 32);
#define AK(x) (snprintf(key, sizeof key, "%s." x, arch), key)
    kv_u32(s, AK("vocab_size"), VOCAB);
    kv_u32(s, AK("context_length"), 64);
    kv_u32(s, AK("embedding_length"), (uint32_t)dim);
    kv_u32(s, AK("block_count"), (uint32_t)layers);
    kv_u32(s, AK("feed_forward_length"), (uint32_t)ffn);
    kv_u32(s, AK("attention.head_count"), (uint32_t)heads);
    kv_u32(s, AK("attention.head_count_kv"), (uint32_t)kvh);
    kv_u32(s, AK("attention.key_length"), 32);
    kv_u32(s, AK("attention.value_length"), 32);
    kv_f32(s, AK("attention.layer_norm_rms_epsilon"), 1e-5);
    kv_f32(s, AK("rope.freq_base"), 10000.0);
    kv_u32(s, AK("rope.dimension_count"), 32);
    kv_str(s, AK("hidden_activation"), llama ? "silu" : "relu2");
#undef AK
    for (int i = 0; i < VOCAB; i++) {
        snprintf(tok_store[i], sizeof tok_store[i], i == 0 ? "<s>" : "t%d", i);
        tok_strs[i] = tok_store[i];
        tok_types[i] = i == 0 ? 3 : 1;
    }
    kv_str(s, "tokenizer.ggml.model", "gpt2");
    tkv *k = kv_add(s, "tokenizer.ggml.tokens", GGUF_ARRAY);
    k->arr_type = GGUF_STRING; k->arr_n = VOCAB; k->arr_s = tok_strs;
    k = kv_add(s, "tokenizer.ggml.token_type", GGUF_ARRAY);
    k->arr_type = GGUF_INT32; k->arr_n = VOCAB; k->arr_u32 = tok_types;
    kv_u32(s, "tokenizer.ggml.bos_token_id", 0);
    kv_u32(s, "tokenizer.ggml.eos_token_id", 1);
    if (ttype == BC_GGML_TL1 || ttype == BC_GGML_TL2) {
        /* one 5-tuple per distinct (M, K): q/o, k/v, gate/up, down */
        uint32_t shapes[4][2] = {{(uint32_t)dim, (uint32_t)dim}, {(uint32_t)(kvh * 32), (uint32_t)dim}, {(uint32_t)ffn, (uint32_t)dim}, {(uint32_t)dim, (uint32_t)ffn}};
        for (int i = 0; i < 4; i++) {
            uint32_t *p = tl_params + 5 * i;
            p[0] = shapes[i][0]; p[1] = shapes[i][1]; p[2] = 64;
            p[3] = ttype == BC_GGML_TL1 ? 64 : 96;
            p[4] = 32;
        }
        k = kv_add(s, "bitconv.tl_params", GGUF_ARRAY);
        k->arr_type = GGUF_UINT32; k->arr_n = 20; k->arr_u32 = tl_params;
    }
    t_add(s, "token_embd.weight", BC_GGML_F16, (uint64_t)dim, VOCAB);
    t_add(s, "output_norm.weight", BC_GGML_F32, (uint64_t)dim, 0);
    char name[80];
    int tq = ttype == BC_GGML_TQ1_0 || ttype == BC_GGML_TQ2_0;
#define TN(x) (snprintf(name, sizeof name, "blk.%d." x, l), name)
#define TERN(x, K, M)                                                                        \
    do {                                                                                     \
        t_add(s, TN(x ".weight"), ttype, (uint64_t)(K), (uint64_t)(M));                      \
        if (tq) t_add(s, TN(x ".scale"), BC_GGML_F32, 1, 0);                                 \
    } while (0)
    for (int l = 0; l < layers; l++) {
        t_add(s, TN("attn_norm.weight"), BC_GGML_F32, (uint64_t)dim, 0);
        TERN("attn_q", dim, dim);
        TERN("attn_k", dim, kvh * 32);
        TERN("attn_v", dim, kvh * 32);
        TERN("attn_output", dim, dim);
        if (!llama) t_add(s, TN("attn_sub_norm.weight"), BC_GGML_F32, (uint64_t)dim, 0);
        t_add(s, TN("ffn_norm.weight"), BC_GGML_F32, (uint64_t)dim, 0);
        TERN("ffn_gate", dim, ffn);
        TERN("ffn_up", dim, ffn);
        TERN("ffn_down", ffn, dim);
        if (!llama) t_add(s, TN("ffn_sub_norm.weight"), BC_GGML_F32, (uint64_t)ffn, 0);
    }
#undef TN
#undef TERN
}

/* ---- running a candidate ------------------------------------------------------------------------- */

/* Parses, loads and (if that works) runs a few tokens through both paths. Returns 0 when the file was
 * accepted, -1 with the message in err when it was rejected. */
static int try_load(const uint8_t *data, size_t n, char *err, size_t errlen, int run) {
    gguf_file g;
    err[0] = 0;
    /* a private copy of exactly n bytes, so ASan sees any read past the end */
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) exit(1);
    memcpy(copy, data, n);
    int rc = -1;
    if (gguf_parse(&g, copy, n, err, errlen) == 0) {
        rt_model m;
        if (model_from_gguf(&m, &g, err, errlen) == 0) {
            rc = 0;
            if (run) {
                static pool *p = NULL;
                if (!p) p = pool_create(2);
                for (int fr = 0; fr < 2; fr++) {
                    rt_opts o = {fr, 1, 4, 8, 0};
                    rt_state *s = state_create(&m, p, bc_detect_isa(), o);
                    int32_t toks[6] = {0, 5, 7, 63, 1, 2};
                    float *logits = rt_alloc(sizeof(float) * 6 * (size_t)m.n_vocab);
                    forward(s, toks, 6, 0, 0, 6, logits);
                    forward(s, toks, 1, 6, 0, 1, logits);
                    rt_free(logits);
                    state_free(s);
                }
            }
            model_free(&m);
        }
    }
    free(copy);
    return rc;
}

static int expect_reject(const tspec *s, const char *what, const char *needle) {
    tpos pos;
    buf b = serialize(s, &pos);
    char err[512];
    int rc = try_load(b.p, b.n, err, sizeof err, 0);
    CHECK(rc != 0, "%s: accepted", what);
    CHECK(rc != 0 && err[0] != 0 && strchr(err, '\n') == NULL, "%s: no one-line message", what);
    if (needle) CHECK(strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", what, err, needle);
    free(b.p);
    return rc;
}

static void patch64(buf *b, size_t at, uint64_t v) { memcpy(b->p + at, &v, 8); }
static void patch32(buf *b, size_t at, uint32_t v) { memcpy(b->p + at, &v, 4); }

static void expect_patched_reject(const tspec *s, const char *what, const char *needle, void (*patch)(buf *, const tpos *)) {
    tpos pos;
    buf b = serialize(s, &pos);
    patch(&b, &pos);
    char err[512];
    int rc = try_load(b.p, b.n, err, sizeof err, 0);
    CHECK(rc != 0, "%s: accepted", what);
    CHECK(rc != 0 && err[0] != 0, "%s: no message", what);
    if (needle) CHECK(strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", what, err, needle);
    free(b.p);
}

/* ---- the tests ----------------------------------------------------------------------------------- */

static void test_sizes(void) {
    char err[128];
    uint64_t nb;
    int64_t ne_tl2[4] = {320, 32, 1, 1}, ne_i2s[4] = {128, 2, 1, 1}, ne_tq2[4] = {256, 2, 1, 1};
    CHECK(gguf_tensor_nbytes(BC_GGML_TL2, ne_tl2, 2, &nb, err, sizeof err) == 0 && nb == 2528, "TL2 32x320 size %llu", (unsigned long long)nb);
    CHECK(gguf_tl2_p(32, 320) == 2474, "TL2 P");
    CHECK(gguf_tensor_nbytes(BC_GGML_I2_S, ne_i2s, 2, &nb, err, sizeof err) == 0 && nb == 96, "I2_S size");
    CHECK(gguf_tensor_nbytes(BC_GGML_TL1, ne_i2s, 2, &nb, err, sizeof err) == 0 && nb == 96, "TL1 size");
    CHECK(gguf_tensor_nbytes(BC_GGML_TQ2_0, ne_tq2, 2, &nb, err, sizeof err) == 0 && nb == 132, "TQ2_0 size");
    CHECK(gguf_tensor_nbytes(BC_GGML_TQ1_0, ne_tq2, 2, &nb, err, sizeof err) == 0 && nb == 108, "TQ1_0 size");
    /* 2B-4T shapes (formats/<layout>.md "Sizes for BitNet-b1.58-2B-4T") */
    int64_t a[4] = {2560, 2560, 1, 1}, d[4] = {6912, 2560, 1, 1};
    CHECK(gguf_tensor_nbytes(BC_GGML_I2_S, a, 2, &nb, err, sizeof err) == 0 && nb == 1638432, "I2_S 2560x2560");
    CHECK(gguf_tensor_nbytes(BC_GGML_TQ2_0, d, 2, &nb, err, sizeof err) == 0 && nb == 4561920, "TQ2_0 2560x6912");
    CHECK(gguf_tensor_nbytes(BC_GGML_TQ1_0, d, 2, &nb, err, sizeof err) == 0 && nb == 3732480, "TQ1_0 2560x6912");
    int64_t bad[4] = {255, 2, 1, 1};
    CHECK(gguf_tensor_nbytes(BC_GGML_TQ2_0, bad, 2, &nb, err, sizeof err) != 0, "TQ2_0 with ne0 255 accepted");
    CHECK(gguf_tensor_nbytes(37, ne_tq2, 2, &nb, err, sizeof err) != 0, "I8_S (37) accepted");
    CHECK(gguf_tensor_nbytes(4, ne_tq2, 2, &nb, err, sizeof err) != 0, "removed type 4 accepted");
    int64_t huge[4] = {INT64_MAX / 2, 4, 1, 1};
    CHECK(gguf_tensor_nbytes(BC_GGML_F32, huge, 2, &nb, err, sizeof err) != 0, "overflowing element count accepted");
}

static void test_valid_models(void) {
    const struct { uint32_t type; const char *arch; } cases[] = {
        {BC_GGML_I2_S, "bitnet-b1.58"}, {BC_GGML_TQ2_0, "bitnet"}, {BC_GGML_TQ1_0, "bitnet"}, {BC_GGML_I2_S, "llama"},
        {BC_GGML_TL1, "bitnet-25"}, {BC_GGML_TL2, "bitnet"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tspec s;
        make_model(&s, cases[c].type, cases[c].arch);
        buf b = serialize(&s, NULL);
        char err[512];
        int rc = try_load(b.p, b.n, err, sizeof err, 1);
        CHECK(rc == 0, "valid %s/%s model rejected: %s", gguf_type_name(cases[c].type), cases[c].arch, err);
        /* the same through the file path (mmap) */
        char path[] = "/tmp/bitconv-test-gguf-XXXXXX";
        int fd = mkstemp(path);
        CHECK(fd >= 0, "mkstemp");
        if (fd >= 0) {
            FILE *f = fdopen(fd, "wb");
            fwrite(b.p, 1, b.n, f);
            fclose(f);
            rt_model m;
            CHECK(model_load(&m, path, err, sizeof err) == 0, "model_load: %s", err);
            model_free(&m);
            /* a truncated file on disk */
            CHECK(truncate(path, (off_t)(b.n - 1)) == 0, "truncate");
            CHECK(model_load(&m, path, err, sizeof err) != 0, "truncated file on disk accepted");
            unlink(path);
        }
        free(b.p);
    }
    tspec s;
    make_model(&s, BC_GGML_TQ2_0, "bitnet");
    buf b = serialize(&s, NULL);
    gguf_file g;
    char err[256];
    CHECK(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0, "parse");
    rt_model m;
    CHECK(model_from_gguf(&m, &g, err, sizeof err) == 0, "load: %s", err);
    CHECK(m.layers[0].wq.scale == 0.75f, "TQ2_0 scale = d x .scale, got %g", (double)m.layers[0].wq.scale);
    CHECK(m.act == ACT_RELU2 && m.sub_norms && m.rope_neox && m.tied, "bitnet flags");
    model_free(&m);
    free(b.p);
    make_model(&s, BC_GGML_I2_S, "llama");
    drop_kv(&s, "llama.hidden_activation");
    b = serialize(&s, NULL);
    CHECK(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0 && model_from_gguf(&m, &g, err, sizeof err) == 0, "llama: %s", err);
    CHECK(m.act == ACT_SILU && !m.sub_norms && !m.rope_neox, "llama defaults");
    CHECK(m.layers[1].wdown.scale == 0.75f, "I2_S tail scale");
    model_free(&m);
    free(b.p);
    make_model(&s, BC_GGML_I2_S, "bitnet-b1.58");
    drop_kv(&s, "bitnet-b1.58.hidden_activation");
    b = serialize(&s, NULL);
    CHECK(gguf_parse(&g, b.p, b.n, err, sizeof err) == 0 && model_from_gguf(&m, &g, err, sizeof err) == 0, "b1.58: %s", err);
    CHECK(m.act == ACT_RELU2, "bitnet-b1.58 defaults to relu2");
    model_free(&m);
    free(b.p);
}

static void test_header_mutations(void) {
    tspec s;
    make_model(&s, BC_GGML_I2_S, "bitnet");
    tspec t;
#define FRESH() (t = s, &t)
    /* magic, version */
    { tspec *p = FRESH(); p->version = 1; expect_reject(p, "version 1", "version 1"); }
    {   /* version 2 has the layout of version 3 (64-bit counts); read like llama.cpp and bitconv inspect do */
        tspec *p = FRESH();
        p->version = 2;
        buf b = serialize(p, NULL);
        char err[512];
        CHECK(try_load(b.p, b.n, err, sizeof err, 0) == 0, "version 2 refused: %s", err);
        free(b.p);
    }
    { tspec *p = FRESH(); p->version = 4; expect_reject(p, "version 4", "version"); }
    { tspec *p = FRESH(); p->version = 0x03000000; expect_reject(p, "byte-swapped version", "byte-swapped"); }
    /* counts */
    uint64_t huge[] = {1ull << 63, UINT64_MAX, 1ull << 40, 1u << 31, 100000};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        tspec *p = FRESH(); p->count_override = 1; p->n_t_written = huge[i]; p->n_kv_written = (uint64_t)s.nkv;
        expect_reject(p, "huge tensor count", NULL);
        p = FRESH(); p->count_override = 1; p->n_kv_written = huge[i]; p->n_t_written = (uint64_t)s.nt;
        expect_reject(p, "huge kv count", NULL);
    }
    { tspec *p = FRESH(); p->count_override = 1; p->n_kv_written = (uint64_t)s.nkv + 1; p->n_t_written = (uint64_t)s.nt; expect_reject(p, "kv count + 1", NULL); }
    { tspec *p = FRESH(); p->count_override = 1; p->n_kv_written = (uint64_t)s.nkv; p->n_t_written = (uint64_t)s.nt + 1; expect_reject(p, "tensor count + 1", NULL); }
    { tspec *p = FRESH(); p->count_override = 1; p->n_kv_written = (uint64_t)s.nkv; p->n_t_written = (uint64_t)s.nt - 1; expect_reject(p, "tensor count - 1", "tensor"); } /* the data section moves: a shifted scale or the missing tensor */
    /* keys */
    { tspec *p = FRESH(); p->kv[3].type = 13; expect_reject(p, "unknown value type", "unknown value type"); }
    { tspec *p = FRESH(); p->kv[3].type = 0xFFFFFFFF; expect_reject(p, "value type 2^32-1", NULL); }
    { tspec *p = FRESH(); tkv *k = find_kv(p, "tokenizer.ggml.tokens"); k->arr_type = GGUF_ARRAY; expect_reject(p, "array of arrays", "array"); }
    { tspec *p = FRESH(); tkv *k = find_kv(p, "tokenizer.ggml.tokens"); k->arr_type = 77; expect_reject(p, "array of unknown type", NULL); }
    { tspec *p = FRESH(); memcpy(p->kv[5].key, p->kv[4].key, sizeof p->kv[5].key); expect_reject(p, "duplicate key", "duplicate key"); }
    { tspec *p = FRESH(); p->kv[2].key[0] = 0; expect_reject(p, "empty key", "empty key"); }
    { tspec *p = FRESH(); tkv *k = find_kv(p, "general.alignment"); k->u = 0; expect_reject(p, "alignment 0", "alignment"); }
    { tspec *p = FRESH(); tkv *k = find_kv(p, "general.alignment"); k->u = 48; expect_reject(p, "alignment 48", "alignment"); }
    { tspec *p = FRESH(); tkv *k = find_kv(p, "general.alignment"); k->type = GGUF_UINT64; k->u = 32; expect_reject(p, "alignment as u64", "alignment"); }
    { tspec *p = FRESH(); tkv *k = kv_add(p, "x.flag", GGUF_BOOL); k->u = 2; expect_reject(p, "bool value 2", "bool"); }
    /* tensor infos */
    { tspec *p = FRESH(); p->t[3].n_dims = 5; expect_reject(p, "n_dims 5", "dimensions"); }
    { tspec *p = FRESH(); p->t[3].n_dims = 0; expect_reject(p, "n_dims 0", "dimensions"); }
    { tspec *p = FRESH(); p->t[3].ne[1] = 0; expect_reject(p, "zero dimension", NULL); }
    { tspec *p = FRESH(); p->t[3].ne[0] = 1ull << 63; expect_reject(p, "dimension 2^63", NULL); }
    { tspec *p = FRESH(); p->t[3].ne[0] = 1ull << 40; p->t[3].ne[1] = 1ull << 40; expect_reject(p, "element count overflow", NULL); }
    { tspec *p = FRESH(); p->t[0].ne[0] = 1ull << 40; expect_reject(p, "embedding past EOF", NULL); }
    { tspec *p = FRESH(); p->t[3].type = 4; expect_reject(p, "removed type id 4", "unknown tensor type"); }
    { tspec *p = FRESH(); p->t[3].type = 37; expect_reject(p, "type id 37 (I8_S)", "unknown tensor type"); }
    { tspec *p = FRESH(); p->t[3].type = 1000; expect_reject(p, "type id 1000", "unknown tensor type"); }
    { tspec *p = FRESH(); p->t[3].type = 0xFFFFFFFF; expect_reject(p, "type id 2^32-1", NULL); }
    { tspec *p = FRESH(); p->t[2].offset_set = 1; p->t[2].offset = 1ull << 40; expect_reject(p, "offset past EOF", "past the end"); }
    { tspec *p = FRESH(); p->t[2].offset_set = 1; p->t[2].offset = UINT64_MAX - 31; expect_reject(p, "offset overflow", NULL); }
    { tspec *p = FRESH(); p->t[2].offset_set = 1; p->t[2].offset = 0; expect_reject(p, "overlapping tensors", "overlap"); }
    { tspec *p = FRESH(); p->t[2].offset_set = 1; p->t[2].offset = 40; expect_reject(p, "unaligned offset", "alignment"); }
    { tspec *p = FRESH(); memcpy(p->t[4].name, p->t[3].name, sizeof p->t[4].name); expect_reject(p, "duplicate tensor", "duplicate tensor"); }
    { tspec *p = FRESH(); memset(p->t[4].name, 'a', 70); p->t[4].name[70] = 0; expect_reject(p, "64+ byte name", "name of"); }
    { tspec *p = FRESH(); p->t[4].name[0] = 0; expect_reject(p, "empty tensor name", NULL); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.0.attn_q.weight"); q->type = BC_GGML_TQ2_0; q->ne[0] = 255; expect_reject(p, "TQ2_0 row of 255", "block size"); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.0.attn_q.weight"); q->n_dims = 3; q->ne[2] = 2; expect_reject(p, "I2_S 3-D", NULL); }
#undef FRESH
}

/* patches on the serialized bytes: lengths that no structured writer would produce */
static const char *patch_name;
static void p_keylen(buf *b, const tpos *p) { patch64(b, p->kv_key[2], 1ull << 63); }
static void p_keylen_eof(buf *b, const tpos *p) { patch64(b, p->kv_key[2], b->n); }
static void p_strval(buf *b, const tpos *p) { patch64(b, p->kv_val[0], UINT64_MAX); }
/* tokenizer.ggml.tokens is kv 16 in make_model: its count follows the element type */
static void p_arrcount(buf *b, const tpos *p) { patch64(b, p->kv_val[16] + 4, 1ull << 62); }
static void p_arrcount2(buf *b, const tpos *p) { patch64(b, p->kv_val[17] + 4, (1ull << 62) + 1); }
static void p_elemlen(buf *b, const tpos *p) { patch64(b, p->kv_val[16] + 12, 1ull << 63); }
static void p_namelen(buf *b, const tpos *p) { patch64(b, p->t_name[5], 1ull << 63); }
static void p_ndims(buf *b, const tpos *p) { patch32(b, p->t_ndims[5], 0xFFFFFFFF); }
static void p_ne(buf *b, const tpos *p) { patch64(b, p->t_ne0[5], UINT64_MAX); }
static void p_type(buf *b, const tpos *p) { patch32(b, p->t_type[5], 31); }
static void p_off(buf *b, const tpos *p) { patch64(b, p->t_off[5], (uint64_t)b->n); }
static void p_magic(buf *b, const tpos *p) { (void)p; memcpy(b->p, "GGML", 4); }

static void test_byte_patches(void) {
    tspec s;
    make_model(&s, BC_GGML_I2_S, "bitnet");
    CHECK(!strcmp(s.kv[16].key, "tokenizer.ggml.tokens") && !strcmp(s.kv[17].key, "tokenizer.ggml.token_type"), "kv order of the test model changed");
    struct { const char *what, *needle; void (*fn)(buf *, const tpos *); } cases[] = {
        {"key length 2^63", "string length", p_keylen},
        {"key length = file size", "past the end", p_keylen_eof},
        {"string value length 2^64-1", "string length", p_strval},
        {"string array count 2^62", "string array", p_arrcount},
        {"int32 array count 2^62+1", "array", p_arrcount2},
        {"string element length 2^63", "string length", p_elemlen},
        {"tensor name length 2^63", NULL, p_namelen},
        {"n_dims 2^32-1", "dimensions", p_ndims},
        {"ne[0] 2^64-1", NULL, p_ne},
        {"removed type 31", "unknown tensor type", p_type},
        {"offset = file size", "past the end", p_off},
        {"bad magic", "magic", p_magic},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        patch_name = cases[i].what;
        expect_patched_reject(&s, cases[i].what, cases[i].needle, cases[i].fn);
    }
}

static void test_model_errors(void) {
    tspec s, t;
    make_model(&s, BC_GGML_I2_S, "bitnet");
#define FRESH() (t = s, &t)
    { tspec *p = FRESH(); drop_t(p, "blk.1.ffn_down.weight"); expect_reject(p, "missing ffn_down", "missing tensor blk.1.ffn_down.weight"); }
    { tspec *p = FRESH(); drop_t(p, "blk.0.attn_sub_norm.weight"); expect_reject(p, "missing sub-norm", "attn_sub_norm"); }
    { tspec *p = FRESH(); drop_t(p, "token_embd.weight"); expect_reject(p, "missing embedding", "token_embd"); }
    { tspec *p = FRESH(); drop_t(p, "output_norm.weight"); expect_reject(p, "missing output_norm", "output_norm"); }
    { tspec *p = FRESH(); drop_kv(p, "bitnet.embedding_length"); expect_reject(p, "missing embedding_length", "missing key"); }
    { tspec *p = FRESH(); drop_kv(p, "bitnet.block_count"); expect_reject(p, "missing block_count", "missing key"); }
    { tspec *p = FRESH(); drop_kv(p, "bitnet.attention.layer_norm_rms_epsilon"); expect_reject(p, "missing eps", "missing key"); }
    { tspec *p = FRESH(); drop_kv(p, "general.architecture"); expect_reject(p, "missing architecture", "architecture"); }
    { tspec *p = FRESH(); find_kv(p, "general.architecture")->s = "gpt9"; expect_reject(p, "unknown architecture", "architecture"); }
    { tspec *p = FRESH(); tkv *k = find_kv(p, "bitnet.block_count"); k->type = GGUF_STRING; k->s = "2"; expect_reject(p, "block_count as string", "integer"); }
    { tspec *p = FRESH(); tkv *k = find_kv(p, "bitnet.embedding_length"); k->type = GGUF_UINT64; k->u = 1ull << 40; expect_reject(p, "embedding_length 2^40", "out of range"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.block_count")->u = 3; expect_reject(p, "block_count 3 (2 layers present)", "missing tensor blk.2"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.block_count")->u = 0xFFFFFFFF; expect_reject(p, "block_count 2^32-1", "out of range"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.attention.head_count_kv")->u = 3; expect_reject(p, "kv heads not dividing", "multiple"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.attention.head_count")->u = 0; expect_reject(p, "zero heads", NULL); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.feed_forward_length")->u = 512; expect_reject(p, "ffn mismatch", "shape"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.vocab_size")->u = 65; expect_reject(p, "vocab_size mismatch", "vocab_size"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.hidden_activation")->s = "gelu"; expect_reject(p, "unknown activation", "hidden_activation"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.rope.dimension_count")->u = 16; expect_reject(p, "partial rope", "rope.dimension_count"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.attention.layer_norm_rms_epsilon")->type = GGUF_UINT32; expect_reject(p, "eps as integer", "FLOAT32"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.attention.layer_norm_rms_epsilon")->f = 0; expect_reject(p, "eps 0", "epsilon"); }
    { tspec *p = FRESH(); find_kv(p, "bitnet.rope.freq_base")->f = 1.0 / 0.0; expect_reject(p, "rope theta inf", NULL); }
    { tspec *p = FRESH(); find_kv(p, "tokenizer.ggml.bos_token_id")->u = 64; expect_reject(p, "bos out of range", "bos_token_id"); }
    { tspec *p = FRESH(); find_kv(p, "tokenizer.ggml.tokens")->arr_n = 63; expect_reject(p, "63 token strings", "tokenizer.ggml.tokens"); }
    { tspec *p = FRESH(); find_kv(p, "tokenizer.ggml.token_type")->arr_n = 10; expect_reject(p, "10 token types", "token_type"); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.0.attn_q.weight"); q->ne[1] = 96; expect_reject(p, "attn_q wrong shape", "shape"); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.0.attn_k.weight"); q->ne[0] = 256; expect_reject(p, "attn_k wrong K", "shape"); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.0.ffn_up.weight"); q->n_dims = 1; q->ne[1] = 1; q->ne[0] = 128 * 256; expect_reject(p, "ffn_up 1-D", NULL); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.0.attn_norm.weight"); q->type = BC_GGML_F16; expect_reject(p, "norm as F16", "F32"); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.0.attn_norm.weight"); q->ne[0] = 127; expect_reject(p, "norm wrong length", "shape"); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.0.attn_v.weight"); q->type = BC_GGML_Q8_0; expect_reject(p, "projection as Q8_0", "ternary"); }
    { /* a float reference file (verify's checkpoint reference): F16 projections load, marked float-only */
        tspec *p = FRESH();
        find_t(p, "blk.0.attn_v.weight")->type = BC_GGML_F16;
        tpos pos;
        buf b = serialize(p, &pos);
        gguf_file g;
        rt_model m;
        char err[512] = "";
        int ok = gguf_parse(&g, b.p, b.n, err, sizeof err) == 0 && model_from_gguf(&m, &g, err, sizeof err) == 0;
        CHECK(ok, "projection as F16 (a float reference file) refused: %s", err);
        if (ok) {
            CHECK(m.float_weights == 1 && m.layers[0].fv.data != NULL && m.layers[0].fv.type == BC_GGML_F16, "F16 projection not loaded as a float weight");
            model_free(&m);
        }
        free(b.p);
    }
    { tspec *p = FRESH(); tten *q = find_t(p, "token_embd.weight"); q->type = 14; expect_reject(p, "Q6_K embedding", "token_embd"); }
    { tspec *p = FRESH(); tten *q = find_t(p, "token_embd.weight"); q->ne[0] = 64; expect_reject(p, "embedding wrong width", "shape"); }
    { tspec *p = FRESH(); tten *q = t_add(p, "output.weight", BC_GGML_F16, 128, 32); (void)q; expect_reject(p, "output.weight wrong rows", "output.weight"); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.1.attn_q.weight"); q->scale = 0.0f / 0.0f; expect_reject(p, "NaN scale", "scale"); }
    { tspec *p = FRESH(); tten *q = find_t(p, "blk.1.ffn_norm.weight"); q->fill = 0xFF; q->type = BC_GGML_F32; expect_reject(p, "NaN norm", "non-finite"); }
    /* I2_S with K % 128 != 0: a 64-wide model (2 heads of 32, 1 kv head) */
    {
        tspec *p = FRESH();
        find_kv(p, "bitnet.embedding_length")->u = 64;
        find_kv(p, "bitnet.attention.head_count")->u = 2;
        find_kv(p, "bitnet.attention.head_count_kv")->u = 1;
        for (int i = 0; i < p->nt; i++) {
            tten *q = &p->t[i];
            if (strstr(q->name, "attn_k.") || strstr(q->name, "attn_v.")) { q->ne[0] = 64; q->ne[1] = 32; continue; }
            for (int d = 0; d < 2; d++) if (q->ne[d] == 128) q->ne[d] = 64;
        }
        expect_reject(p, "I2_S with K = 64", "K % 128");
    }
    /* TQ: block scales, .scale tensors */
    make_model(&s, BC_GGML_TQ2_0, "bitnet");
    { tspec *p = FRESH(); find_t(p, "blk.0.attn_q.scale")->ne[0] = 2; expect_reject(p, ".scale [2]", ".scale"); }
    { tspec *p = FRESH(); find_t(p, "blk.0.attn_q.scale")->type = BC_GGML_F16; expect_reject(p, ".scale as F16", ".scale"); }
    {
        tspec *p = FRESH();
        tpos pos;
        buf b = serialize(p, &pos);
        /* give the second block of attn_q (random, non-zero codes) a different d */
        int qi = -1;
        for (int i = 0; i < p->nt; i++) if (!strcmp(p->t[i].name, "blk.0.attn_q.weight")) qi = i;
        uint64_t off;
        memcpy(&off, b.p + pos.t_off[qi], 8);
        uint16_t h = 0x4000;
        memcpy(b.p + pos.data_start + off + 66 + 64, &h, 2);
        char err[256];
        CHECK(try_load(b.p, b.n, err, sizeof err, 0) != 0 && strstr(err, "uniform"), "non-uniform TQ block scales accepted (%s)", err);
        /* an all-zero block may carry any d */
        memset(b.p + pos.data_start + off + 66, 0x55, 64);
        CHECK(try_load(b.p, b.n, err, sizeof err, 0) == 0, "all-zero block with its own d rejected: %s", err);
        free(b.p);
    }
    /* TL: parameters */
    make_model(&s, BC_GGML_TL2, "bitnet");
    { tspec *p = FRESH(); drop_kv(p, "bitconv.tl_params"); expect_reject(p, "TL2 without tl_params", "tl_params"); }
    {
        tspec *p = FRESH();
        static uint32_t bad[20];
        memcpy(bad, tl_params, sizeof bad);
        bad[2] = 48; /* BM 48 does not divide 256 */
        find_kv(p, "bitconv.tl_params")->arr_u32 = bad;
        expect_reject(p, "TL2 BM 48", "TL");
    }
    {
        tspec *p = FRESH();
        static uint32_t bad[20];
        memcpy(bad, tl_params, sizeof bad);
        bad[3] = 100; /* BK not a multiple of 24 */
        find_kv(p, "bitconv.tl_params")->arr_u32 = bad;
        expect_reject(p, "TL2 BK 100", "TL2");
    }
    { tspec *p = FRESH(); find_kv(p, "bitconv.tl_params")->arr_n = 19; expect_reject(p, "tl_params of 19", "tl_params"); }
    { tspec *p = FRESH(); find_kv(p, "bitconv.tl_params")->arr_type = GGUF_FLOAT32; expect_reject(p, "tl_params as floats", "tl_params"); }
    make_model(&s, BC_GGML_TL1, "bitnet");
    {
        tspec *p = FRESH();
        static uint32_t bad[20];
        memcpy(bad, tl_params, sizeof bad);
        bad[4] = 16; /* bm 16 */
        find_kv(p, "bitconv.tl_params")->arr_u32 = bad;
        expect_reject(p, "TL1 bm 16", "TL1");
    }
#undef FRESH
}

/* Truncation at every byte up to the end of the header region, then every 4099th byte of the data. */
static void test_truncation(void) {
    tspec s;
    make_model(&s, BC_GGML_TQ1_0, "bitnet");
    tpos pos;
    buf b = serialize(&s, &pos);
    char err[512];
    int accepted = 0;
    for (size_t n = 0; n < b.n; n += n < pos.data_start + 64 ? 1 : 4099)
        if (try_load(b.p, n, err, sizeof err, 0) == 0) accepted++;
    CHECK(accepted == 0, "%d truncated files accepted", accepted);
    CHECK(try_load(b.p, b.n, err, sizeof err, 0) == 0, "the full file rejected: %s", err);
    free(b.p);
}

/* Every header byte set to 0x00, 0xFF and 0x80 in turn, then random multi-byte damage. Rejections are
 * fine; anything accepted must run (ASan checks the reads). */
static void test_corruption(void) {
    tspec s;
    make_model(&s, BC_GGML_I2_S, "bitnet");
    tpos pos;
    buf b = serialize(&s, &pos);
    char err[512];
    uint8_t *w = malloc(b.n);
    int runs = 0, rejects = 0;
    const uint8_t vals[3] = {0x00, 0xFF, 0x80};
    for (size_t i = 0; i < pos.header_end; i++) {
        for (int v = 0; v < 3; v++) {
            if (b.p[i] == vals[v]) continue;
            memcpy(w, b.p, b.n);
            w[i] = vals[v];
            int rc = try_load(w, b.n, err, sizeof err, 0);
            if (rc == 0) {
                /* accepted (e.g. a byte inside a token string): run it every 16th time, it is slow */
                if ((i + (size_t)v) % 16 == 0) { try_load(w, b.n, err, sizeof err, 1); runs++; }
            } else {
                rejects++;
                CHECK(err[0] != 0, "empty error message at byte %zu", i);
            }
        }
    }
    CHECK(rejects > 0, "no corruption was rejected");
    int iters = getenv("BITCONV_TEST_QUICK") ? 300 : 2000;
    for (int it = 0; it < iters; it++) {
        memcpy(w, b.p, b.n);
        int nflip = 1 + (int)(rnd() % 4);
        for (int f = 0; f < nflip; f++) {
            size_t at = (size_t)(rnd() % pos.header_end);
            w[at] = (uint8_t)rnd();
        }
        if (try_load(w, b.n, err, sizeof err, it % 8 == 0) == 0) runs++;
    }
    printf("corruption: %d rejected, %d accepted and run\n", rejects, runs);
    free(w);
    free(b.p);
}

/* rt_printable: what every message with a name from a file goes through (docs/security.md) */
static void test_printable(void) {
    char buf[64];
    const char hostile[] = "a\x1b[2Jb\xff\xc3\xa9\xc2\x9b\x7f\n";
    CHECK(strcmp(rt_printable(hostile, sizeof hostile - 1, buf, sizeof buf), "a\\x1b[2Jb\\xff\xc3\xa9\\xc2\\x9b\\x7f\\x0a") == 0,
          "escaped: '%s'", buf);
    const char cut[] = "\xe2\x82"; /* a truncated 3-byte sequence */
    CHECK(strcmp(rt_printable(cut, 2, buf, sizeof buf), "\\xe2\\x82") == 0, "truncated UTF-8: '%s'", buf);
    char longname[300];
    memset(longname, 'x', sizeof longname);
    rt_printable(longname, sizeof longname, buf, sizeof buf);
    CHECK(strlen(buf) < sizeof buf && strcmp(buf + strlen(buf) - 3, "...") == 0, "long name cut: '%s'", buf);
}

/* One seed file: written when the model loads (or always, for header-only seeds). 1 written, 0 not, -1 error. */
static int write_seed(const char *dir, const char *name, const tspec *s, int must_load) {
    buf b = serialize(s, NULL);
    char err[512], path[512];
    int rc = 0;
    if (!must_load || try_load(b.p, b.n, err, sizeof err, 0) == 0) {
        snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
        FILE *f = fopen(path, "wb");
        rc = f && fwrite(b.p, 1, b.n, f) == b.n && fclose(f) == 0 ? 1 : -1;
        if (rc < 0) fprintf(stderr, "cannot write %s\n", path);
    }
    free(b.p);
    return rc;
}

/* The fuzzer's seed corpus (scripts/fuzz.mjs): every valid model this file builds (each layout and
 * architecture, each embedding type, an untied head) plus the headers alone (keys only), so that
 * mutations start from inputs that reach every loader stage. */
static int write_corpus(const char *dir) {
    static const uint32_t types[] = {BC_GGML_TQ1_0, BC_GGML_TQ2_0, BC_GGML_I2_S, BC_GGML_TL1, BC_GGML_TL2};
    static const char *archs[] = {"bitnet", "bitnet-b1.58", "llama"};
    static const uint32_t embeds[] = {BC_GGML_F32, BC_GGML_BF16, BC_GGML_Q8_0};
    int written = 0, r;
    char name[96];
    tspec s;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
            make_model(&s, types[t], archs[a]);
            snprintf(name, sizeof name, "%s-%s", gguf_type_name(types[t]), archs[a]);
            if ((r = write_seed(dir, name, &s, 1)) < 0) return 1;
            written += r;
            s.nt = 0;
            snprintf(name, sizeof name, "%s-%s-header", gguf_type_name(types[t]), archs[a]);
            if ((r = write_seed(dir, name, &s, 0)) < 0) return 1;
            written += r;
        }
    for (size_t e = 0; e < 4; e++) { /* zero-filled: valid whatever the type */
        make_model(&s, BC_GGML_I2_S, "bitnet");
        tten *te = find_t(&s, "token_embd.weight");
        if (e < 3) { te->type = embeds[e]; te->fill = 0; }
        else t_add(&s, "output.weight", BC_GGML_Q8_0, te->ne[0], te->ne[1])->fill = 0;
        snprintf(name, sizeof name, "I2_S-bitnet-%s", e < 3 ? gguf_type_name(embeds[e]) : "untied-Q8_0");
        if ((r = write_seed(dir, name, &s, 1)) <= 0) { fprintf(stderr, "seed %s does not load\n", name); return 1; }
        written += r;
    }
    printf("wrote %d seed files to %s\n", written, dir);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-corpus")) return write_corpus(argv[2]);
    vec_init(bc_detect_isa());
    test_printable();
    test_sizes();
    test_valid_models();
    test_header_mutations();
    test_byte_patches();
    test_model_errors();
    test_truncation();
    test_corruption();
    printf("test_gguf: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
