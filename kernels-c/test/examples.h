/* The worked examples of the formats/ pages, read from the pages themselves (the notation is defined in
 * formats/README.md "Worked examples"): a ```json block with layout, M, K, optional scale, d and
 * params, and the non-zero values; then a ```bytes block with the complete tensor bytes (XX, XX*N,
 * @N position checks, # comments). The TS tests read the same pages (test/helpers/formats.ts).
 * FORMATS_DIR is set by the Makefile's test rules. Included by one test file only. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char where[128];
    char layout[16];
    int64_t M, K;
    float scale, d; /* d: 1 when the example gives none */
    int BM, BK, bm; /* 0 when the example gives no params */
    int8_t *T;      /* row-major M x K */
    uint8_t *bytes;
    size_t nbytes;
} example;

static char *ex_read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) { free(s); s = NULL; }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

/* The number after "key": inside [from, to), or def when the key is absent. */
static double ex_num(const char *from, const char *to, const char *key, double def) {
    const char *p = strstr(from, key);
    if (!p || p >= to) return def;
    p = strchr(p + strlen(key), ':');
    return p ? strtod(p + 1, NULL) : def;
}

static int ex_json(example *e, const char *js, const char *end) {
    const char *p = strstr(js, "\"layout\"");
    if (!p || p > end || !(p = strchr(p + 8, '"'))) return -1;
    size_t n = strcspn(p + 1, "\"");
    if (n >= sizeof e->layout) return -1;
    memcpy(e->layout, p + 1, n);
    e->layout[n] = 0;
    e->M = (int64_t)ex_num(js, end, "\"M\"", 0);
    e->K = (int64_t)ex_num(js, end, "\"K\"", 0);
    e->scale = (float)ex_num(js, end, "\"scale\"", 0);
    e->d = (float)ex_num(js, end, "\"d\"", 1);
    const char *pp = strstr(js, "\"params\"");
    if (pp && pp < end) {
        const char *pe = strchr(pp, '}');
        e->BM = (int)ex_num(pp, pe, "\"BM\"", 0);
        e->BK = (int)ex_num(pp, pe, "\"BK\"", 0);
        e->bm = (int)ex_num(pp, pe, "\"bm\"", 0);
    }
    if (e->M <= 0 || e->K <= 0) return -1;
    e->T = calloc((size_t)(e->M * e->K), 1);
    const char *z = strstr(js, "\"nonzero\"");
    if (!z || z > end || !(z = strchr(z, '['))) return -1;
    for (z++;;) { /* [[r, c, v], ...] */
        z += strspn(z, " \t\r\n,");
        if (*z != '[') break;
        char *q;
        long r = strtol(z + 1, &q, 10), c = strtol(q + 1, &q, 10), v = strtol(q + 1, &q, 10);
        if (r < 0 || r >= e->M || c < 0 || c >= e->K || v < -1 || v > 1) return -1;
        e->T[r * e->K + c] = (int8_t)v;
        z = strchr(q, ']') + 1;
    }
    return 0;
}

static int ex_bytes(example *e, const char *s, const char *end) {
    size_t cap = 1024;
    e->bytes = malloc(cap);
    e->nbytes = 0;
    while (s < end) {
        if (*s == '#') { while (s < end && *s != '\n') s++; continue; }
        if (strchr(" \t\r\n", *s)) { s++; continue; }
        char *q;
        if (*s == '@') {
            unsigned long at = strtoul(s + 1, &q, 10);
            if (at != e->nbytes) return -1;
        } else {
            unsigned long v = strtoul(s, &q, 16), times = 1;
            if (q != s + 2 || v > 255) return -1;
            if (*q == '*') times = strtoul(q + 1, &q, 10);
            while (e->nbytes + times > cap) e->bytes = realloc(e->bytes, cap *= 2);
            memset(e->bytes + e->nbytes, (int)v, times);
            e->nbytes += times;
        }
        s = q;
    }
    return 0;
}

/* Every example of every page; *n gets the count. Exits with a message on a malformed page. */
static example *load_examples(int *n) {
    example *out = NULL;
    *n = 0;
    DIR *dir = opendir(FORMATS_DIR);
    if (!dir) { fprintf(stderr, "cannot open %s\n", FORMATS_DIR); exit(1); }
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        if (len < 4 || strcmp(de->d_name + len - 3, ".md")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", FORMATS_DIR, de->d_name);
        char *md = ex_read_file(path);
        int in_file = 0;
        for (const char *p = md; p && (p = strstr(p, "```json\n"));) {
            const char *js = p + 8, *je = strstr(js, "```");
            const char *bs = je ? strstr(je + 3, "```bytes\n") : NULL, *be = bs ? strstr(bs + 9, "```") : NULL;
            example e = {0};
            snprintf(e.where, sizeof e.where, "%s example %d", de->d_name, ++in_file);
            if (!be || ex_json(&e, js, je) || ex_bytes(&e, bs + 9, be)) { fprintf(stderr, "%s: malformed\n", e.where); exit(1); }
            out = realloc(out, sizeof *out * (size_t)(*n + 1));
            out[(*n)++] = e;
            p = be + 3;
        }
        free(md);
    }
    closedir(dir);
    return out;
}
