/* Per-thread scratch memory of the kernels and the lookup-table cache of the TL1/TL2 GEMVs (simd.h). */
#include "simd.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define BC_SCRATCH_SLOTS 6 /* 0..3 general, 4..5 bc_lut_tables */
typedef struct { void *p[BC_SCRATCH_SLOTS]; size_t n[BC_SCRATCH_SLOTS]; } scratch_set;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static void scratch_free(void *v) {
    scratch_set *s = v;
    for (int i = 0; i < BC_SCRATCH_SLOTS; i++) free(s->p[i]);
    free(s);
}
static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

void *bc_scratch(int slot, size_t bytes) {
    pthread_once(&scratch_once, scratch_init);
    scratch_set *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        pthread_setspecific(scratch_key, s);
    }
    if (s->n[slot] < bytes) {
        size_t want = (bytes + 4095) & ~(size_t)4095;
        void *p = NULL;
        if (posix_memalign(&p, 64, want)) return NULL;
        free(s->p[slot]);
        s->p[slot] = p;
        s->n[slot] = want;
    }
    return s->p[slot];
}

/* The tables in slot 4 were built for the activation row copied in slot 5, under this key. */
static __thread struct { int64_t K, key; size_t bytes; int valid; } lut_held;

uint8_t *bc_lut_tables(const int8_t *x, int64_t K, int64_t key, size_t bytes, int *fresh) {
    if (lut_held.valid && lut_held.K == K && lut_held.key == key && lut_held.bytes == bytes) {
        int8_t *xc = bc_scratch(5, (size_t)K); /* sizes unchanged: the same buffers, contents kept */
        uint8_t *t = bc_scratch(4, bytes);
        if (xc && t && memcmp(xc, x, (size_t)K) == 0) {
            *fresh = 0;
            return t;
        }
    }
    lut_held.valid = 0;
    int8_t *xc = bc_scratch(5, (size_t)K);
    uint8_t *t = bc_scratch(4, bytes);
    if (!xc || !t) return NULL;
    memcpy(xc, x, (size_t)K);
    lut_held.K = K;
    lut_held.key = key;
    lut_held.bytes = bytes;
    lut_held.valid = 1;
    *fresh = 1;
    return t;
}
