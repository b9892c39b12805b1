#include "gguf.h"
#include "kernels.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- ggml types ---------------------------------------------------------------------------------- */

typedef struct { uint32_t id; const char *name; uint32_t block, bytes; } type_info;

/* Upstream ids with their block sizes (formats/gguf.md 2.1); 36/38/39 are read as the bitnet.cpp fork's
 * I2_S / TL1 / TL2 (what bitconv writes), whose sizes do not follow the block formula (block 0 here). */
static const type_info TYPES[] = {
    {0, "F32", 1, 4},       {1, "F16", 1, 2},       {2, "Q4_0", 32, 18},    {3, "Q4_1", 32, 20},
    {6, "Q5_0", 32, 22},    {7, "Q5_1", 32, 24},    {8, "Q8_0", 32, 34},    {9, "Q8_1", 32, 36},
    {10, "Q2_K", 256, 84},  {11, "Q3_K", 256, 110}, {12, "Q4_K", 256, 144}, {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210}, {15, "Q8_K", 256, 292}, {16, "IQ2_XXS", 256, 66}, {17, "IQ2_XS", 256, 74},
    {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50}, {20, "IQ4_NL", 32, 18}, {21, "IQ3_S", 256, 110},
    {22, "IQ2_S", 256, 82}, {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},     {25, "I16", 1, 2},
    {26, "I32", 1, 4},      {27, "I64", 1, 8},      {28, "F64", 1, 8},      {29, "IQ1_M", 256, 56},
    {30, "BF16", 1, 2},     {34, "TQ1_0", 256, 54}, {35, "TQ2_0", 256, 66},
    {36, "I2_S", 0, 0},     {38, "TL1", 0, 0},      {39, "TL2", 0, 0},
};

static const type_info *type_lookup(uint32_t id) {
    for (size_t i = 0; i < sizeof TYPES / sizeof TYPES[0]; i++)
        if (TYPES[i].id == id) return &TYPES[i];
    return NULL;
}

const char *gguf_type_name(uint32_t type) {
    const type_info *t = type_lookup(type);
    return t ? t->name : "unknown";
}

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int64_t floordiv(int64_t a, int64_t b) { /* b > 0 */
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t gguf_tl2_p(int64_t M, int64_t K) {
    /* P = ((K-256)*M) div 3 * 5 div 8 + (256*M) div 2 * 4 div 8, Python floor division left to right.
     * Callers bound M, K below 2^31 so nothing here overflows. */
    int64_t a = floordiv(floordiv((K - 256) * M, 3) * 5, 8);
    int64_t b = floordiv(floordiv(256 * M, 2) * 4, 8);
    int64_t p = a + b;
    return p < 0 ? -1 : p;
}

int gguf_tensor_nbytes(uint32_t type, const int64_t ne[GGUF_MAX_DIMS], uint32_t n_dims, uint64_t *nbytes,
                       char *err, size_t errlen) {
    const type_info *t = type_lookup(type);
    if (!t) { set_err(err, errlen, "unknown tensor type id %" PRIu32, type); return -1; }
    uint64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        if (ne[d] <= 0) { set_err(err, errlen, "dimension %d is %" PRId64 " (must be positive)", d, ne[d]); return -1; }
        if (rt_mul_u64(n, (uint64_t)ne[d], &n) || n > (uint64_t)INT64_MAX) { set_err(err, errlen, "element count overflows"); return -1; }
    }
    if (t->block == 0) {
        /* fork types: 2-D [K, M] matrices only */
        if (n_dims != 2 && !(n_dims > 2 && ne[2] == 1 && ne[3] == 1)) {
            set_err(err, errlen, "%s tensor must be 2-D", t->name); return -1;
        }
        int64_t K = ne[0], M = ne[1];
        if (type == BC_GGML_TL2) {
            if (K > INT32_MAX || M > INT32_MAX) { set_err(err, errlen, "TL2 shape too large"); return -1; }
            int64_t P = gguf_tl2_p(M, K);
            if (P < 0) { set_err(err, errlen, "TL2 needs K >= 256 (K = %" PRId64 ")", K); return -1; }
            *nbytes = (uint64_t)((P + 31) / 32 * 32) + 32;
            return 0;
        }
        if (n % 4 != 0) { set_err(err, errlen, "%s element count %" PRIu64 " is not a multiple of 4", t->name, n); return -1; }
        *nbytes = n / 4 + 32; /* I2_S and TL1: packed 2 bits + a 32-byte tail holding the scale */
        return 0;
    }
    if (ne[0] % t->block != 0) {
        set_err(err, errlen, "row length %" PRId64 " is not a multiple of the %s block size %" PRIu32, ne[0], t->name, t->block);
        return -1;
    }
    uint64_t rows = n / (uint64_t)ne[0], bytes;
    if (rt_mul_u64(rows, (uint64_t)(ne[0] / t->block), &bytes) || rt_mul_u64(bytes, t->bytes, &bytes)) {
        set_err(err, errlen, "data size overflows"); return -1;
    }
    *nbytes = bytes;
    return 0;
}

/* ---- the reader ---------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *p;
    uint64_t size, pos;
    char *err;
    size_t errlen;
} cursor;

static int need(cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos) {
        set_err(c->err, c->errlen, "truncated: %s at offset %" PRIu64 " needs %" PRIu64 " bytes, %" PRIu64 " left",
                what, c->pos, n, c->size - c->pos);
        return -1;
    }
    return 0;
}
static int rd_u32(cursor *c, uint32_t *v, const char *what) {
    if (need(c, 4, what)) return -1;
    *v = rt_rd32(c->p + c->pos); c->pos += 4; return 0;
}
static int rd_u64(cursor *c, uint64_t *v, const char *what) {
    if (need(c, 8, what)) return -1;
    *v = rt_rd64(c->p + c->pos); c->pos += 8; return 0;
}
static int rd_str(cursor *c, gguf_str *s, const char *what) {
    uint64_t len;
    if (rd_u64(c, &len, what)) return -1;
    if (len > c->size - c->pos) {
        set_err(c->err, c->errlen, "%s: string length %" PRIu64 " at offset %" PRIu64 " runs past the end of the file",
                what, len, c->pos - 8);
        return -1;
    }
    s->ptr = (const char *)(c->p + c->pos);
    s->len = len;
    c->pos += len;
    return 0;
}

static uint64_t scalar_size(uint32_t t) {
    switch (t) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static void load_scalar(gguf_kv *kv, const uint8_t *p) {
    switch (kv->type) {
    case GGUF_UINT8: kv->u = p[0]; kv->i = p[0]; kv->f = p[0]; break;
    case GGUF_BOOL: kv->u = p[0]; kv->i = p[0]; kv->f = p[0]; break;
    case GGUF_INT8: kv->i = (int8_t)p[0]; break;
    case GGUF_UINT16: kv->u = rt_rd16(p); kv->i = (int64_t)kv->u; break;
    case GGUF_INT16: kv->i = (int16_t)rt_rd16(p); break;
    case GGUF_UINT32: kv->u = rt_rd32(p); kv->i = (int64_t)kv->u; break;
    case GGUF_INT32: kv->i = (int32_t)rt_rd32(p); break;
    case GGUF_UINT64: kv->u = rt_rd64(p); kv->i = kv->u > (uint64_t)INT64_MAX ? -1 : (int64_t)kv->u; break;
    case GGUF_INT64: kv->i = (int64_t)rt_rd64(p); break;
    case GGUF_FLOAT32: kv->f = rt_rdf32(p); break;
    case GGUF_FLOAT64: { double d; memcpy(&d, p, 8); kv->f = d; break; }
    }
    if (kv->type == GGUF_INT8 || kv->type == GGUF_INT16 || kv->type == GGUF_INT32 || kv->type == GGUF_INT64) {
        kv->u = kv->i < 0 ? UINT64_MAX : (uint64_t)kv->i;
        kv->f = (double)kv->i;
    } else if (kv->type == GGUF_UINT16 || kv->type == GGUF_UINT32 || kv->type == GGUF_UINT64) {
        kv->f = (double)kv->u;
    }
}

static int str_cmp(const gguf_str *a, const gguf_str *b) {
    uint64_t n = a->len < b->len ? a->len : b->len;
    int r = n ? memcmp(a->ptr, b->ptr, n) : 0;
    if (r) return r;
    return a->len < b->len ? -1 : a->len > b->len ? 1 : 0;
}

/* sorting helpers for the duplicate checks */
static int cmp_kv_ptr(const void *a, const void *b) {
    return str_cmp(&(*(const gguf_kv *const *)a)->key, &(*(const gguf_kv *const *)b)->key);
}
static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}
static int cmp_tensor_offset(const void *a, const void *b) {
    uint64_t x = (*(const gguf_tensor *const *)a)->offset, y = (*(const gguf_tensor *const *)b)->offset;
    return x < y ? -1 : x > y;
}

/* Printable copy of a (possibly hostile) key for messages. */
static const char *printable(const gguf_str *s, char *buf, size_t n) { return rt_printable(s->ptr, (size_t)s->len, buf, n); }

int gguf_parse(gguf_file *g, const uint8_t *data, size_t size, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    g->base = data;
    g->size = size;
    cursor c = {data, size, 0, err, errlen};
    char tmp[80];
    gguf_kv **kv_sorted = NULL;
    gguf_tensor **t_sorted = NULL;

    uint32_t magic;
    if (size < 4) { set_err(err, errlen, "file too small (%zu bytes) to be GGUF", size); goto fail; }
    magic = rt_rd32(data);
    if (magic != 0x46554747u) { set_err(err, errlen, "bad magic (not a GGUF file)"); goto fail; }
    c.pos = 4;
    if (rd_u32(&c, &g->version, "version")) goto fail;
    /* v2 and v3 share one layout (v3 only allowed big-endian files, which are refused here): both are
     * read, as llama.cpp and bitconv inspect do; v1 had 32-bit counts and is not */
    if (g->version != 3 && g->version != 2) {
        if ((g->version & 0xffff) == 0) set_err(err, errlen, "GGUF version %" PRIu32 " looks byte-swapped (big-endian file?)", g->version);
        else if (g->version == 1) set_err(err, errlen, "GGUF version 1 (32-bit counts) is not supported (v2 and v3 are)");
        else set_err(err, errlen, "unsupported GGUF version %" PRIu32 " (v2 and v3 are read)", g->version);
        goto fail;
    }
    if (rd_u64(&c, &g->n_tensors, "tensor count") || rd_u64(&c, &g->n_kv, "metadata count")) goto fail;
    /* Every KV needs at least 8 + 1 + 4 + 1 bytes and every tensor info at least 8 + 1 + 4 + 8 + 4 + 8,
     * so a count that could not fit in the rest of the file is rejected before any allocation. */
    if (g->n_kv > (size - c.pos) / 14) { set_err(err, errlen, "metadata count %" PRIu64 " is impossible for a %zu-byte file", g->n_kv, size); goto fail; }
    if (g->n_tensors > (size - c.pos) / 33) { set_err(err, errlen, "tensor count %" PRIu64 " is impossible for a %zu-byte file", g->n_tensors, size); goto fail; }

    g->kv = rt_alloc((size_t)g->n_kv * sizeof(gguf_kv));
    for (uint64_t k = 0; k < g->n_kv; k++) {
        gguf_kv *kv = &g->kv[k];
        char what[128];
        snprintf(what, sizeof what, "key of metadata entry %" PRIu64, k);
        if (rd_str(&c, &kv->key, what)) goto fail;
        if (kv->key.len == 0) { set_err(err, errlen, "metadata entry %" PRIu64 " has an empty key", k); goto fail; }
        const char *kname = printable(&kv->key, tmp, sizeof tmp);
        snprintf(what, sizeof what, "type of key '%.40s'", kname);
        if (rd_u32(&c, &kv->type, what)) goto fail;
        if (kv->type >= GGUF_TYPE_COUNT) { set_err(err, errlen, "key '%s' has unknown value type %" PRIu32, kname, kv->type); goto fail; }
        if (kv->type == GGUF_STRING) {
            snprintf(what, sizeof what, "value of key '%.40s'", kname);
            if (rd_str(&c, &kv->str, what)) goto fail;
        } else if (kv->type == GGUF_ARRAY) {
            snprintf(what, sizeof what, "array header of key '%.40s'", kname);
            if (rd_u32(&c, &kv->arr_type, what) || rd_u64(&c, &kv->arr_n, what)) goto fail;
            if (kv->arr_type >= GGUF_TYPE_COUNT || kv->arr_type == GGUF_ARRAY) {
                set_err(err, errlen, "key '%s' is an array of unsupported element type %" PRIu32, kname, kv->arr_type);
                goto fail;
            }
            kv->arr_data = data + c.pos;
            if (kv->arr_type == GGUF_STRING) {
                if (kv->arr_n > (size - c.pos) / 8) {
                    set_err(err, errlen, "key '%s': string array count %" PRIu64 " runs past the end of the file", kname, kv->arr_n);
                    goto fail;
                }
                for (uint64_t e = 0; e < kv->arr_n; e++) {
                    gguf_str s;
                    snprintf(what, sizeof what, "element %" PRIu64 " of key '%.30s'", e, kname);
                    if (rd_str(&c, &s, what)) goto fail;
                }
            } else {
                uint64_t bytes;
                if (rt_mul_u64(kv->arr_n, scalar_size(kv->arr_type), &bytes) || bytes > size - c.pos) {
                    set_err(err, errlen, "key '%s': array of %" PRIu64 " elements runs past the end of the file", kname, kv->arr_n);
                    goto fail;
                }
                if (kv->arr_type == GGUF_BOOL)
                    for (uint64_t e = 0; e < kv->arr_n; e++)
                        if (data[c.pos + e] > 1) { set_err(err, errlen, "key '%s': bool element %" PRIu64 " is %u", kname, e, data[c.pos + e]); goto fail; }
                c.pos += bytes;
            }
        } else {
            uint64_t n = scalar_size(kv->type);
            snprintf(what, sizeof what, "value of key '%.40s'", kname);
            if (need(&c, n, what)) goto fail;
            if (kv->type == GGUF_BOOL && data[c.pos] > 1) { set_err(err, errlen, "key '%s': bool value %u", kname, data[c.pos]); goto fail; }
            load_scalar(kv, data + c.pos);
            c.pos += n;
        }
    }
    if (g->n_kv > 1) {
        kv_sorted = rt_alloc((size_t)g->n_kv * sizeof *kv_sorted);
        for (uint64_t k = 0; k < g->n_kv; k++) kv_sorted[k] = &g->kv[k];
        qsort(kv_sorted, (size_t)g->n_kv, sizeof *kv_sorted, cmp_kv_ptr);
        for (uint64_t k = 1; k < g->n_kv; k++)
            if (str_cmp(&kv_sorted[k - 1]->key, &kv_sorted[k]->key) == 0) {
                set_err(err, errlen, "duplicate key '%s'", printable(&kv_sorted[k]->key, tmp, sizeof tmp));
                goto fail;
            }
    }

    g->alignment = 32;
    const gguf_kv *al = gguf_find_kv(g, "general.alignment");
    if (al) {
        if (al->type != GGUF_UINT32) { set_err(err, errlen, "general.alignment must be UINT32"); goto fail; }
        if (al->u == 0 || (al->u & (al->u - 1)) != 0) { set_err(err, errlen, "general.alignment %" PRIu64 " is not a power of two", al->u); goto fail; }
        g->alignment = (uint32_t)al->u;
    }

    g->tensors = rt_alloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof(gguf_tensor));
    for (uint64_t t = 0; t < g->n_tensors; t++) {
        gguf_tensor *ti = &g->tensors[t];
        char what[96];
        gguf_str name;
        snprintf(what, sizeof what, "name of tensor %" PRIu64, t);
        if (rd_str(&c, &name, what)) goto fail;
        if (name.len == 0 || name.len > GGUF_MAX_NAME) {
            set_err(err, errlen, "tensor %" PRIu64 " has a name of %" PRIu64 " bytes (1..%d allowed)", t, name.len, GGUF_MAX_NAME);
            goto fail;
        }
        if (memchr(name.ptr, 0, (size_t)name.len)) { set_err(err, errlen, "tensor %" PRIu64 " has a NUL byte in its name", t); goto fail; }
        memcpy(ti->name, name.ptr, (size_t)name.len);
        ti->name[name.len] = 0;
        snprintf(what, sizeof what, "info of tensor '%s'", ti->name);
        if (rd_u32(&c, &ti->n_dims, what)) goto fail;
        if (ti->n_dims == 0 || ti->n_dims > GGUF_MAX_DIMS) {
            set_err(err, errlen, "tensor '%s' has %" PRIu32 " dimensions (1..%d allowed)", ti->name, ti->n_dims, GGUF_MAX_DIMS);
            goto fail;
        }
        for (int d = 0; d < GGUF_MAX_DIMS; d++) ti->ne[d] = 1;
        for (uint32_t d = 0; d < ti->n_dims; d++) {
            uint64_t v;
            if (rd_u64(&c, &v, what)) goto fail;
            if (v == 0 || v > (uint64_t)INT64_MAX) {
                set_err(err, errlen, "tensor '%s' dimension %" PRIu32 " is %" PRIu64, ti->name, d, v);
                goto fail;
            }
            ti->ne[d] = (int64_t)v;
        }
        if (rd_u32(&c, &ti->type, what) || rd_u64(&c, &ti->offset, what)) goto fail;
        char why[128];
        if (gguf_tensor_nbytes(ti->type, ti->ne, ti->n_dims, &ti->nbytes, why, sizeof why)) {
            set_err(err, errlen, "tensor '%s': %s", ti->name, why);
            goto fail;
        }
    }
    /* data section: after the infos, padded to the alignment */
    {
        uint64_t end = c.pos, pad;
        if (rt_add_u64(end, g->alignment - 1, &pad)) { set_err(err, errlen, "header size overflows"); goto fail; }
        g->data_offset = pad / g->alignment * g->alignment;
        if (g->n_tensors > 0 && g->data_offset > size) {
            set_err(err, errlen, "truncated: data section starts at %" PRIu64 ", past the end of the %zu-byte file", g->data_offset, size);
            goto fail;
        }
    }
    for (uint64_t t = 0; t < g->n_tensors; t++) {
        gguf_tensor *ti = &g->tensors[t];
        uint64_t end;
        if (ti->offset % g->alignment != 0) {
            set_err(err, errlen, "tensor '%s' offset %" PRIu64 " is not a multiple of the alignment %" PRIu32, ti->name, ti->offset, g->alignment);
            goto fail;
        }
        if (rt_add_u64(ti->offset, ti->nbytes, &end) || end > size - g->data_offset) {
            set_err(err, errlen, "tensor '%s' (offset %" PRIu64 ", %" PRIu64 " bytes) runs past the end of the file",
                    ti->name, ti->offset, ti->nbytes);
            goto fail;
        }
        ti->data = data + g->data_offset + ti->offset;
    }
    if (g->n_tensors > 0) {
        t_sorted = rt_alloc((size_t)g->n_tensors * sizeof *t_sorted);
        for (uint64_t t = 0; t < g->n_tensors; t++) t_sorted[t] = &g->tensors[t];
        qsort(t_sorted, (size_t)g->n_tensors, sizeof *t_sorted, cmp_tensor_name);
        for (uint64_t t = 1; t < g->n_tensors; t++)
            if (strcmp(t_sorted[t - 1]->name, t_sorted[t]->name) == 0) {
                set_err(err, errlen, "duplicate tensor name '%s'", t_sorted[t]->name);
                goto fail;
            }
        qsort(t_sorted, (size_t)g->n_tensors, sizeof *t_sorted, cmp_tensor_offset);
        for (uint64_t t = 1; t < g->n_tensors; t++)
            if (t_sorted[t - 1]->offset + t_sorted[t - 1]->nbytes > t_sorted[t]->offset) {
                set_err(err, errlen, "tensors '%s' and '%s' overlap", t_sorted[t - 1]->name, t_sorted[t]->name);
                goto fail;
            }
    }
    rt_free(kv_sorted);
    rt_free(t_sorted);
    return 0;
fail:
    rt_free(kv_sorted);
    rt_free(t_sorted);
    rt_free(g->kv);
    rt_free(g->tensors);
    g->kv = NULL;
    g->tensors = NULL;
    return -1;
}

int gguf_open(gguf_file *g, const char *path, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    int fd = rt_open_input(path, err, errlen);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) { set_err(err, errlen, "cannot stat: %s", strerror(errno)); close(fd); return -1; }
    size_t size = (size_t)st.st_size;
    if (size < 24) { close(fd); set_err(err, errlen, "file too small (%zu bytes) to be GGUF", size); return -1; }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) { set_err(err, errlen, "cannot mmap: %s", strerror(errno)); return -1; }
    if (gguf_parse(g, map, size, err, errlen)) { munmap(map, size); return -1; }
    g->mapped = 1;
    return 0;
}

void gguf_free(gguf_file *g) {
    rt_free(g->kv);
    rt_free(g->tensors);
    if (g->mapped) munmap((void *)g->base, g->size);
    memset(g, 0, sizeof *g);
}

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key) {
    size_t n = strlen(key);
    for (uint64_t k = 0; k < g->n_kv; k++)
        if (g->kv[k].key.len == n && memcmp(g->kv[k].key.ptr, key, n) == 0) return &g->kv[k];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name) {
    for (uint64_t t = 0; t < g->n_tensors; t++)
        if (strcmp(g->tensors[t].name, name) == 0) return &g->tensors[t];
    return NULL;
}

int gguf_str_array_index(const gguf_kv *kv, gguf_str *out) {
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING) return -1;
    const uint8_t *p = kv->arr_data;
    for (uint64_t e = 0; e < kv->arr_n; e++) {
        uint64_t len = rt_rd64(p);
        out[e].ptr = (const char *)(p + 8);
        out[e].len = len;
        p += 8 + len;
    }
    return 0;
}
