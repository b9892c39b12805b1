#include "model.h"
#include "util.h"
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const gguf_file *g;
    char *err;
    size_t errlen;
    const uint8_t *tl_params; /* bitconv.tl_params: u32 5-tuples M, K, BM, BK, bm */
    uint64_t tl_n;
} loader;

static int fail(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(loader *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- keys ---------------------------------------------------------------------------------------- */

static int is_int_type(uint32_t t) {
    return t == GGUF_UINT8 || t == GGUF_INT8 || t == GGUF_UINT16 || t == GGUF_INT16 || t == GGUF_UINT32 ||
           t == GGUF_INT32 || t == GGUF_UINT64 || t == GGUF_INT64;
}

/* An integer key in [lo, hi]; any integer type is accepted (writers disagree on u32 vs i32). */
static int key_int(loader *L, const char *key, int required, int64_t def, int64_t lo, int64_t hi, int64_t *out) {
    const gguf_kv *kv = gguf_find_kv(L->g, key);
    if (!kv) {
        if (required) return fail(L, "missing key %s", key);
        *out = def;
        return 0;
    }
    if (kv->type == GGUF_ARRAY) return fail(L, "key %s is an array (per-layer values are not supported)", key);
    if (!is_int_type(kv->type)) return fail(L, "key %s has value type %" PRIu32 ", expected an integer", key, kv->type);
    int64_t v = kv->i;
    if ((kv->type == GGUF_UINT64 && kv->u > (uint64_t)INT64_MAX) || v < lo || v > hi)
        return fail(L, "key %s = %" PRId64 " is out of range [%" PRId64 ", %" PRId64 "]", key, v, lo, hi);
    *out = v;
    return 0;
}

static int key_float(loader *L, const char *key, int required, double def, float *out) {
    const gguf_kv *kv = gguf_find_kv(L->g, key);
    if (!kv) {
        if (required) return fail(L, "missing key %s", key);
        *out = (float)def;
        return 0;
    }
    if (kv->type != GGUF_FLOAT32 && kv->type != GGUF_FLOAT64) return fail(L, "key %s must be FLOAT32", key);
    if (!isfinite(kv->f)) return fail(L, "key %s is not finite", key);
    *out = (float)kv->f;
    return 0;
}

/* A string key copied into buf (NUL-terminated); returns 1 if present, 0 if absent, -1 on error. */
static int key_string(loader *L, const char *key, char *buf, size_t n) {
    const gguf_kv *kv = gguf_find_kv(L->g, key);
    if (!kv) return 0;
    if (kv->type != GGUF_STRING) return fail(L, "key %s must be a STRING", key);
    if (kv->str.len >= n || memchr(kv->str.ptr, 0, (size_t)kv->str.len)) return fail(L, "key %s has an unexpected value", key);
    memcpy(buf, kv->str.ptr, (size_t)kv->str.len);
    buf[kv->str.len] = 0;
    return 1;
}

/* ---- tensors ------------------------------------------------------------------------------------- */

static const gguf_tensor *tensor_shaped(loader *L, const char *name, int required, int64_t ne0, int64_t ne1, int *rc) {
    *rc = 0;
    const gguf_tensor *t = gguf_find_tensor(L->g, name);
    if (!t) {
        if (required) *rc = fail(L, "missing tensor %s", name);
        return NULL;
    }
    int want_dims = ne1 > 0 ? 2 : 1;
    int64_t want1 = ne1 > 0 ? ne1 : 1;
    if (t->ne[0] != ne0 || t->ne[1] != want1 || t->ne[2] != 1 || t->ne[3] != 1 || (int)t->n_dims < want_dims) {
        if (ne1 > 0)
            *rc = fail(L, "tensor %s has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], expected [%" PRId64 ", %" PRId64 "]",
                       name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0, ne1);
        else
            *rc = fail(L, "tensor %s has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "], expected [%" PRId64 "]",
                       name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0);
        return NULL;
    }
    return t;
}

/* A norm weight: F32 [n], copied to aligned memory (the file only guarantees the GGUF alignment). */
static int load_norm(loader *L, const char *name, int64_t n, float **out) {
    int rc;
    const gguf_tensor *t = tensor_shaped(L, name, 1, n, 0, &rc);
    if (!t) return -1;
    if (t->type != BC_GGML_F32) return fail(L, "tensor %s has type %s, expected F32", name, gguf_type_name(t->type));
    *out = rt_alloc((size_t)n * sizeof(float));
    memcpy(*out, t->data, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        if (!isfinite((*out)[i])) return fail(L, "tensor %s has a non-finite value at %" PRId64, name, i);
    return 0;
}

/* The first row of an embedding / head matrix holding a NaN or Inf (for Q8_0: a non-finite block
 * scale), or -1. One pass over the raw bits: a NaN embedding would only show in verify if its token
 * happened to occur in the text. */
static int64_t matrix_first_nonfinite(const rt_matrix *w) {
    for (int64_t r = 0; r < w->rows; r++) {
        const uint8_t *p = w->data + (size_t)r * w->row_bytes;
        uint32_t acc = 0;
        switch (w->type) {
        case BC_GGML_F32:
            for (int64_t i = 0; i < w->cols; i++) acc |= (rt_rd32(p + 4 * i) & 0x7f800000u) == 0x7f800000u;
            break;
        case BC_GGML_F16:
            for (int64_t i = 0; i < w->cols; i++) acc |= (rt_rd16(p + 2 * i) & 0x7c00u) == 0x7c00u;
            break;
        case BC_GGML_BF16:
            for (int64_t i = 0; i < w->cols; i++) acc |= (rt_rd16(p + 2 * i) & 0x7f80u) == 0x7f80u;
            break;
        case BC_GGML_Q8_0:
            for (int64_t b = 0; b < w->cols / 32; b++) acc |= (rt_rd16(p + 34 * b) & 0x7c00u) == 0x7c00u;
            break;
        }
        if (acc) return r;
    }
    return -1;
}

static int load_matrix(loader *L, const char *name, int required, int64_t cols, int64_t rows, rt_matrix *w) {
    int rc;
    const gguf_tensor *t = tensor_shaped(L, name, required, cols, rows, &rc);
    if (!t) return rc;
    switch (t->type) {
    case BC_GGML_F32: w->row_bytes = (size_t)cols * 4; break;
    case BC_GGML_F16: case BC_GGML_BF16: w->row_bytes = (size_t)cols * 2; break;
    case BC_GGML_Q8_0: w->row_bytes = (size_t)cols / 32 * 34; break;
    default: return fail(L, "tensor %s has type %s; the runtime reads F32, F16, BF16 or Q8_0 here", name, gguf_type_name(t->type));
    }
    w->type = t->type;
    w->data = t->data;
    w->rows = rows;
    w->cols = cols;
    int64_t bad = matrix_first_nonfinite(w);
    if (bad >= 0) return fail(L, "tensor %s has a non-finite value (NaN or Inf) in row %" PRId64, name, bad);
    return 1;
}

/* TQ1_0 / TQ2_0: the effective scale is the per-block d (which must be the same in every block that
 * holds a non-zero code) times the optional `.scale` tensor. An all-zero block may carry any d. */
static int tq_block_is_zero(const uint8_t *b, int tq1) {
    if (tq1) {
        for (int i = 0; i < 48; i++) if (b[i] != 0x80) return 0;
        for (int i = 48; i < 52; i++) if (b[i] != 0x7f) return 0;
        return 1;
    }
    for (int i = 0; i < 64; i++) if (b[i] != 0x55) return 0;
    return 1;
}

static int tq_scale(loader *L, const char *name, const gguf_tensor *t, float *d_out) {
    int tq1 = t->type == BC_GGML_TQ1_0;
    size_t bsize = tq1 ? 54 : 66, doff = tq1 ? 52 : 64;
    uint64_t nblocks = t->nbytes / bsize;
    int have = 0;
    uint16_t dref = 0;
    for (uint64_t b = 0; b < nblocks; b++) {
        const uint8_t *blk = t->data + b * bsize;
        uint16_t d = rt_rd16(blk + doff);
        if (have && d == dref) continue;
        if (tq_block_is_zero(blk, tq1)) continue;
        if (!have) { have = 1; dref = d; continue; }
        return fail(L, "tensor %s: block %" PRIu64 " has scale %g but block scales must be uniform (%g)", name, b,
                    (double)rt_f16_to_f32(d), (double)rt_f16_to_f32(dref));
    }
    float d = have ? rt_f16_to_f32(dref) : 1.0f;
    if (!(isfinite(d) && d > 0)) return fail(L, "tensor %s: block scale is %g; a ternary scale must be finite and positive", name, (double)d);
    *d_out = d;
    return 0;
}

static int tl_lookup(loader *L, const char *name, int64_t M, int64_t K, bc_ternary *w) {
    for (uint64_t i = 0; i + 5 <= L->tl_n; i += 5) {
        const uint8_t *p = L->tl_params + 4 * i;
        if (rt_rd32(p) == (uint32_t)M && rt_rd32(p + 4) == (uint32_t)K) {
            w->BM = (int)rt_rd32(p + 8);
            w->BK = (int)rt_rd32(p + 12);
            w->bm = (int)rt_rd32(p + 16);
            return 0;
        }
    }
    return fail(L, "tensor %s: no TL block parameters for M=%" PRId64 " K=%" PRId64 " in bitconv.tl_params", name, M, K);
}

/* Checks that TL tiles cover the matrix exactly, so the kernels never index outside the tensor. */
static int tl_check(loader *L, const char *name, const bc_ternary *w, uint64_t nbytes) {
    int64_t M = w->M, K = w->K, BM = w->BM, BK = w->BK, bm = w->bm;
    if (BM <= 0 || BK <= 0 || bm <= 0 || BM > M || BK > K || M % BM || BM % bm)
        return fail(L, "tensor %s: TL parameters BM=%d BK=%d bm=%d do not tile M=%" PRId64 " K=%" PRId64, name, w->BM, w->BK, w->bm, M, K);
    if (w->layout == BC_LAYOUT_TL1) {
        if ((bm != 32 && bm != 64) || K % BK || BK % (256 / bm) || (256 / bm) % 4)
            return fail(L, "tensor %s: TL1 parameters BM=%d BK=%d bm=%d are invalid for K=%" PRId64, name, w->BM, w->BK, w->bm, K);
        return 0;
    }
    /* TL2: three-weight groups over K3 = K - K mod BK, a two-weight tail over K2 = K mod BK */
    int64_t K2 = K % BK, K3 = K - K2;
    if (bm != 32 || BM % 32 || BK % 24 || K2 % 32)
        return fail(L, "tensor %s: TL2 parameters BM=%d BK=%d bm=%d are invalid for K=%" PRId64, name, w->BM, w->BK, w->bm, K);
    uint64_t stream = (uint64_t)(M * K3 / 6 + M * K3 / 24 + M * K2 / 4);
    if (stream + 32 > nbytes) return fail(L, "tensor %s: TL2 stream (%" PRIu64 " bytes) does not fit the tensor", name, stream);
    return 0;
}

/* bitconv.tl_params (TL block parameters per shape), when the file has them. */
static int tl_params(loader *L) {
    const gguf_kv *tl = gguf_find_kv(L->g, "bitconv.tl_params");
    if (!tl) return 0;
    if (tl->type != GGUF_ARRAY || (tl->arr_type != GGUF_UINT32 && tl->arr_type != GGUF_INT32) || tl->arr_n % 5)
        return fail(L, "bitconv.tl_params must be an ARRAY<UINT32> of 5-tuples");
    L->tl_params = tl->arr_data;
    L->tl_n = tl->arr_n;
    return 0;
}

/* The optional F32 [1] `.scale` of a weight (blk.N.attn_q.weight -> blk.N.attn_q.scale), else 1. */
static int scale_tensor(loader *L, const char *name, float *out) {
    char sname[GGUF_MAX_NAME + 8];
    size_t n = strlen(name);
    if (n > 7 && strcmp(name + n - 7, ".weight") == 0) n -= 7;
    snprintf(sname, sizeof sname, "%.*s.scale", (int)n, name);
    const gguf_tensor *s = gguf_find_tensor(L->g, sname);
    *out = 1.0f;
    if (!s) return 0;
    if (s->type != BC_GGML_F32 || s->ne[0] != 1 || s->ne[1] != 1 || s->ne[2] != 1 || s->ne[3] != 1)
        return fail(L, "tensor %s must be F32 [1]", sname);
    *out = rt_rdf32(s->data);
    if (!(isfinite(*out) && *out > 0))
        return fail(L, "tensor %s holds %g; a ternary scale must be finite and positive", sname, (double)*out);
    return 0;
}

/* A BitLinear weight: ternary (w), or in a float reference file a float matrix (f, w keeps M, K, scale). */
static int load_ternary(loader *L, const char *name, int64_t K, int64_t M, bc_ternary *w, rt_matrix *f, uint64_t *bytes) {
    int rc;
    const gguf_tensor *t = tensor_shaped(L, name, 1, K, M, &rc);
    if (!t) return -1;
    memset(w, 0, sizeof *w);
    w->M = M;
    w->K = K;
    w->data = t->data;
    w->nbytes = (size_t)t->nbytes;
    *bytes += t->nbytes;
    float scale = 1.0f;
    switch (t->type) {
    case BC_GGML_TQ1_0: case BC_GGML_TQ2_0: {
        w->layout = t->type == BC_GGML_TQ1_0 ? BC_LAYOUT_TQ1_0 : BC_LAYOUT_TQ2_0;
        float d = 1.0f;
        if (tq_scale(L, name, t, &d)) return -1;
        float extra = 1.0f;
        if (scale_tensor(L, name, &extra)) return -1;
        scale = d * extra;
        break;
    }
    case BC_GGML_F32: case BC_GGML_F16: case BC_GGML_BF16:
        /* a float reference file: W = the matrix times its optional .scale */
        if (load_matrix(L, name, 1, K, M, f) < 0 || scale_tensor(L, name, &scale)) return -1;
        w->layout = BC_LAYOUT_COUNT;
        w->data = NULL;
        break;
    case BC_GGML_I2_S:
        w->layout = BC_LAYOUT_I2_S;
        if (K % 128) return fail(L, "tensor %s: I2_S needs K %% 128 == 0 (K = %" PRId64 ")", name, K);
        scale = rt_rdf32(t->data + (size_t)(M * K / 4));
        break;
    case BC_GGML_TL1:
        w->layout = BC_LAYOUT_TL1;
        if (tl_lookup(L, name, M, K, w) || tl_check(L, name, w, t->nbytes)) return -1;
        scale = rt_rdf32(t->data + (size_t)(M * K / 4));
        break;
    case BC_GGML_TL2: {
        w->layout = BC_LAYOUT_TL2;
        if (tl_lookup(L, name, M, K, w) || tl_check(L, name, w, t->nbytes)) return -1;
        int64_t P = gguf_tl2_p(M, K);
        scale = rt_rdf32(t->data + (size_t)((P + 31) / 32 * 32));
        break;
    }
    default:
        return fail(L, "tensor %s has type %s; expected a ternary type (TQ1_0, TQ2_0, I2_S, TL1, TL2) or, in a float reference file, F32, F16 or BF16", name, gguf_type_name(t->type));
    }
    /* convert never writes anything else (absmean clamps mean |W| to 1e-5); a zero, negative or NaN
     * scale would run and even agree with its own float path, so verify would pass a broken file */
    if (!(isfinite(scale) && scale > 0)) return fail(L, "tensor %s has scale %g; a ternary scale must be finite and positive", name, (double)scale);
    w->scale = scale;
    return 0;
}

static const char *layout_name(bc_layout l) {
    static const char *names[] = {"tq1_0", "tq2_0", "i2_s", "tl1", "tl2"};
    return (unsigned)l < BC_LAYOUT_COUNT ? names[l] : l == BC_LAYOUT_COUNT ? "float" : "?";
}

/* ---- the model ----------------------------------------------------------------------------------- */

int model_from_gguf(rt_model *m, gguf_file *g, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->gguf = *g;
    memset(g, 0, sizeof *g);
    loader Ls = {&m->gguf, err, errlen, NULL, 0}, *L = &Ls;
    char key[128];
    int64_t v;

    int r = key_string(L, "general.architecture", m->arch_name, sizeof m->arch_name);
    if (r < 0) goto fail;
    if (r == 0) { fail(L, "missing key general.architecture"); goto fail; }
    const char *a = m->arch_name;
    if (strcmp(a, "bitnet") == 0) m->arch = ARCH_BITNET;
    else if (strcmp(a, "bitnet-b1.58") == 0 || strcmp(a, "bitnet-25") == 0) m->arch = ARCH_BITNET_B158;
    else if (strcmp(a, "llama") == 0) m->arch = ARCH_LLAMA;
    else { fail(L, "unsupported architecture '%s' (bitnet, bitnet-b1.58, bitnet-25, llama)", a); goto fail; }
    m->sub_norms = m->arch != ARCH_LLAMA;
    m->rope_neox = m->arch != ARCH_LLAMA; /* llama files carry q/k rows permuted for adjacent-pair rope */

#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, a), key)
    const int64_t BIG = 1 << 20; /* no real dimension comes near this; keeps products far from overflow */
    if (key_int(L, KEY("embedding_length"), 1, 0, 1, BIG, &v)) goto fail;
    m->dim = (int)v;
    if (key_int(L, KEY("block_count"), 1, 0, 1, 4096, &v)) goto fail;
    m->n_layers = (int)v;
    if (key_int(L, KEY("feed_forward_length"), 1, 0, 1, BIG, &v)) goto fail;
    m->ffn_dim = (int)v;
    if (key_int(L, KEY("attention.head_count"), 1, 0, 1, 4096, &v)) goto fail;
    m->n_heads = (int)v;
    if (key_int(L, KEY("attention.head_count_kv"), 0, m->n_heads, 1, m->n_heads, &v)) goto fail;
    m->n_kv_heads = (int)v;
    if (m->n_heads % m->n_kv_heads) { fail(L, "head_count %d is not a multiple of head_count_kv %d", m->n_heads, m->n_kv_heads); goto fail; }
    if (key_int(L, KEY("attention.key_length"), 0, m->dim / m->n_heads, 2, 65536, &v)) goto fail;
    m->head_dim = (int)v;
    if (key_int(L, KEY("attention.value_length"), 0, m->head_dim, m->head_dim, m->head_dim, &v)) goto fail;
    if (m->head_dim % 2) { fail(L, "head dimension %d is odd", m->head_dim); goto fail; }
    if ((int64_t)m->n_heads * m->head_dim > BIG) { fail(L, "head_count x key_length is too large"); goto fail; }
    if (key_int(L, KEY("rope.dimension_count"), 0, m->head_dim, m->head_dim, m->head_dim, &v)) goto fail;
    if (key_int(L, KEY("context_length"), 0, 4096, 1, INT32_MAX, &v)) goto fail;
    m->ctx_train = (int)v;
    if (key_float(L, KEY("attention.layer_norm_rms_epsilon"), 1, 0, &m->eps)) goto fail;
    if (!(m->eps > 0)) { fail(L, "rms epsilon must be positive"); goto fail; }
    if (key_float(L, KEY("rope.freq_base"), 0, 10000.0, &m->rope_theta)) goto fail;
    if (!(m->rope_theta > 0)) { fail(L, "rope.freq_base must be positive"); goto fail; }
    char act[16];
    r = key_string(L, KEY("hidden_activation"), act, sizeof act);
    if (r < 0) goto fail;
    if (r == 0) m->act = m->arch == ARCH_BITNET_B158 ? ACT_RELU2 : ACT_SILU;
    else if (strcmp(act, "relu2") == 0) m->act = ACT_RELU2;
    else if (strcmp(act, "silu") == 0) m->act = ACT_SILU;
    else { fail(L, "unsupported hidden_activation '%s' (relu2, silu)", act); goto fail; }

    /* a float reference file of a llama checkpoint keeps q/k in the Hugging Face order (rotate-half) */
    const gguf_kv *rh = gguf_find_kv(&m->gguf, "bitconv.rope_rotate_half");
    if (rh) {
        if (rh->type != GGUF_BOOL) { fail(L, "bitconv.rope_rotate_half must be BOOL"); goto fail; }
        if (rh->u) m->rope_neox = 1;
    }

    if (tl_params(L)) goto fail;

    /* embeddings and head */
    const gguf_tensor *te = gguf_find_tensor(&m->gguf, "token_embd.weight");
    if (!te) { fail(L, "missing tensor token_embd.weight"); goto fail; }
    if (te->ne[1] > INT32_MAX) { fail(L, "vocabulary too large"); goto fail; }
    m->n_vocab = (int)te->ne[1];
    if (key_int(L, KEY("vocab_size"), 0, m->n_vocab, m->n_vocab, m->n_vocab, &v)) goto fail;
    if (load_matrix(L, "token_embd.weight", 1, m->dim, m->n_vocab, &m->tok_embd) < 0) goto fail;
    r = load_matrix(L, "output.weight", 0, m->dim, m->n_vocab, &m->output);
    if (r < 0) goto fail;
    m->tied = r == 0;
    if (m->tied) m->output = m->tok_embd;
    if (load_norm(L, "output_norm.weight", m->dim, &m->output_norm)) goto fail;
    snprintf(m->embed_type, sizeof m->embed_type, "%s", m->tok_embd.type == BC_GGML_F32 ? "f32" : m->tok_embd.type == BC_GGML_F16 ? "f16" : m->tok_embd.type == BC_GGML_BF16 ? "bf16" : "q8_0");

    /* layers */
    int64_t qdim = (int64_t)m->n_heads * m->head_dim, kvdim = (int64_t)m->n_kv_heads * m->head_dim;
    m->layers = rt_alloc((size_t)m->n_layers * sizeof(rt_layer));
    int layout_seen = -1, mixed = 0;
    for (int l = 0; l < m->n_layers; l++) {
        rt_layer *ly = &m->layers[l];
        char name[64];
#define T(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
        if (load_norm(L, T("attn_norm.weight"), m->dim, &ly->attn_norm)) goto fail;
        if (load_ternary(L, T("attn_q.weight"), m->dim, qdim, &ly->wq, &ly->fq, &m->ternary_bytes)) goto fail;
        if (load_ternary(L, T("attn_k.weight"), m->dim, kvdim, &ly->wk, &ly->fk, &m->ternary_bytes)) goto fail;
        if (load_ternary(L, T("attn_v.weight"), m->dim, kvdim, &ly->wv, &ly->fv, &m->ternary_bytes)) goto fail;
        if (load_ternary(L, T("attn_output.weight"), qdim, m->dim, &ly->wo, &ly->fo, &m->ternary_bytes)) goto fail;
        if (m->sub_norms && load_norm(L, T("attn_sub_norm.weight"), qdim, &ly->attn_sub_norm)) goto fail;
        if (load_norm(L, T("ffn_norm.weight"), m->dim, &ly->ffn_norm)) goto fail;
        if (load_ternary(L, T("ffn_gate.weight"), m->dim, m->ffn_dim, &ly->wgate, &ly->fgate, &m->ternary_bytes)) goto fail;
        if (load_ternary(L, T("ffn_up.weight"), m->dim, m->ffn_dim, &ly->wup, &ly->fup, &m->ternary_bytes)) goto fail;
        if (load_ternary(L, T("ffn_down.weight"), m->ffn_dim, m->dim, &ly->wdown, &ly->fdown, &m->ternary_bytes)) goto fail;
        if (m->sub_norms && load_norm(L, T("ffn_sub_norm.weight"), m->ffn_dim, &ly->ffn_sub_norm)) goto fail;
#undef T
        const bc_ternary *all[7] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->wgate, &ly->wup, &ly->wdown};
        for (int i = 0; i < 7; i++) {
            if (all[i]->layout == BC_LAYOUT_COUNT) m->float_weights = 1;
            if (layout_seen < 0) layout_seen = (int)all[i]->layout;
            else if (layout_seen != (int)all[i]->layout) mixed = 1;
            m->n_params += (uint64_t)(all[i]->M * all[i]->K);
        }
        m->n_params += (uint64_t)(2 * m->dim + (m->sub_norms ? qdim + m->ffn_dim : 0));
    }
    m->n_params += (uint64_t)m->n_vocab * (uint64_t)m->dim * (m->tied ? 1 : 2) + (uint64_t)m->dim;
    char lay[16];
    r = key_string(L, "bitconv.layout", lay, sizeof lay);
    if (r < 0) goto fail;
    if (r == 1) rt_printable(lay, strlen(lay), m->layout, sizeof m->layout); /* from the file: printed by info */
    else snprintf(m->layout, sizeof m->layout, "%s", mixed ? "mixed" : layout_name((bc_layout)layout_seen));

    /* vocabulary: optional, but validated when present */
    m->bos = m->eos = m->eot = -1;
    m->add_bos = 1;
    char tm[16];
    r = key_string(L, "tokenizer.ggml.model", tm, sizeof tm);
    if (r < 0) goto fail;
    m->tok_model = r == 0 ? TOK_NONE : strcmp(tm, "gpt2") == 0 ? TOK_GPT2 : strcmp(tm, "llama") == 0 || strcmp(tm, "t5") == 0 ? TOK_SPM : TOK_NONE; /* t5: SentencePiece Unigram, the same piece spelling */
    const gguf_kv *tk = gguf_find_kv(&m->gguf, "tokenizer.ggml.tokens");
    if (tk) {
        if (tk->type != GGUF_ARRAY || tk->arr_type != GGUF_STRING) { fail(L, "tokenizer.ggml.tokens must be ARRAY<STRING>"); goto fail; }
        if (tk->arr_n != (uint64_t)m->n_vocab) { fail(L, "tokenizer.ggml.tokens has %" PRIu64 " entries, the embedding %d rows", tk->arr_n, m->n_vocab); goto fail; }
        m->n_tokens = m->n_vocab;
        m->tokens = rt_alloc((size_t)m->n_tokens * sizeof(gguf_str));
        gguf_str_array_index(tk, m->tokens);
        const gguf_kv *tt = gguf_find_kv(&m->gguf, "tokenizer.ggml.token_type");
        if (tt) {
            if (tt->type != GGUF_ARRAY || (tt->arr_type != GGUF_INT32 && tt->arr_type != GGUF_UINT32) || tt->arr_n != tk->arr_n) {
                fail(L, "tokenizer.ggml.token_type must be ARRAY<INT32> with one entry per token");
                goto fail;
            }
            m->token_types = tt->arr_data;
        }
    }
    if (key_int(L, "tokenizer.ggml.bos_token_id", 0, -1, 0, m->n_vocab - 1, &v)) goto fail;
    m->bos = (int)v;
    if (key_int(L, "tokenizer.ggml.eos_token_id", 0, -1, 0, m->n_vocab - 1, &v)) goto fail;
    m->eos = (int)v;
    if (key_int(L, "tokenizer.ggml.eot_token_id", 0, -1, 0, m->n_vocab - 1, &v)) goto fail;
    m->eot = (int)v;
    const gguf_kv *ab = gguf_find_kv(&m->gguf, "tokenizer.ggml.add_bos_token");
    if (ab) {
        if (ab->type != GGUF_BOOL) { fail(L, "tokenizer.ggml.add_bos_token must be BOOL"); goto fail; }
        m->add_bos = ab->u != 0;
    }
#undef KEY
    return 0;
fail:
    model_free(m);
    return -1;
}

int model_ternary_tensor(const gguf_file *g, const char *name, bc_ternary *w, char *err, size_t errlen) {
    loader L = {g, err, errlen, NULL, 0};
    const gguf_tensor *t = gguf_find_tensor(g, name);
    if (!t) return fail(&L, "no tensor named %s", name);
    if (t->n_dims > 2 || t->ne[2] != 1 || t->ne[3] != 1) return fail(&L, "tensor %s is not a matrix", name);
    uint64_t bytes = 0;
    if (tl_params(&L)) return -1;
    rt_matrix f;
    if (load_ternary(&L, name, t->ne[0], t->ne[1], w, &f, &bytes)) return -1;
    if (w->layout == BC_LAYOUT_COUNT) return fail(&L, "tensor %s is a float matrix, not a ternary one", name);
    return 0;
}

int model_load(rt_model *m, const char *path, char *err, size_t errlen) {
    gguf_file g;
    memset(m, 0, sizeof *m);
    if (gguf_open(&g, path, err, errlen)) return -1;
    return model_from_gguf(m, &g, err, errlen);
}

void model_free(rt_model *m) {
    if (m->layers) {
        for (int l = 0; l < m->n_layers; l++) {
            rt_free(m->layers[l].attn_norm);
            rt_free(m->layers[l].attn_sub_norm);
            rt_free(m->layers[l].ffn_norm);
            rt_free(m->layers[l].ffn_sub_norm);
        }
    }
    rt_free(m->layers);
    rt_free(m->output_norm);
    rt_free(m->tokens);
    rt_free(m->repacked);
    gguf_free(&m->gguf);
    memset(m, 0, sizeof *m);
}

int32_t model_token_type(const rt_model *m, int id) {
    if (!m->token_types || id < 0 || id >= m->n_tokens) return 1;
    return (int32_t)rt_rd32(m->token_types + 4 * (size_t)id);
}

void matrix_row_f32(const rt_matrix *w, int64_t r, float *out) {
    const uint8_t *p = w->data + (size_t)r * w->row_bytes;
    int64_t n = w->cols;
    switch (w->type) {
    case BC_GGML_F32: memcpy(out, p, (size_t)n * 4); break;
    case BC_GGML_F16: for (int64_t i = 0; i < n; i++) out[i] = rt_f16_to_f32(rt_rd16(p + 2 * i)); break;
    case BC_GGML_BF16: for (int64_t i = 0; i < n; i++) out[i] = rt_bf16_to_f32(rt_rd16(p + 2 * i)); break;
    case BC_GGML_Q8_0:
        for (int64_t b = 0; b < n / 32; b++) {
            const uint8_t *blk = p + 34 * b;
            float d = rt_f16_to_f32(rt_rd16(blk));
            for (int i = 0; i < 32; i++) out[32 * b + i] = d * (float)(int8_t)blk[2 + i];
        }
        break;
    }
}
