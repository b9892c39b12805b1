/* membw: sustained memory read bandwidth with N threads (the bound for decode speed).
 *
 *   cc -O3 -march=native -pthread scripts/membw.c -o membw      (x86; on arm64: -mcpu=native)
 *   ./membw [-t threads] [-m MiB] [-r passes]
 *
 * Allocates one buffer (default 1024 MiB, far larger than any last-level cache), writes it once so every
 * page is backed, then times `passes` read sweeps. In each sweep every thread sums its own contiguous
 * slice with 64-byte-wide loads (the compiler vectorizes the loop); the sweep's time is taken from a
 * barrier before the first load to a barrier after the last thread finishes. Prints one JSON object:
 * best and median GB/s (1e9 bytes/s) over the sweeps, and every sweep's figure.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* a barrier of our own: macOS has no pthread_barrier_t */
typedef struct { pthread_mutex_t m; pthread_cond_t c; unsigned n, waiting, round; } barrier;
static int barrier_init(barrier *b, const void *attr, unsigned n) {
    (void)attr;
    b->n = n;
    b->waiting = b->round = 0;
    pthread_mutex_init(&b->m, NULL);
    return pthread_cond_init(&b->c, NULL);
}
static int barrier_wait(barrier *b) {
    pthread_mutex_lock(&b->m);
    unsigned round = b->round;
    if (++b->waiting == b->n) {
        b->waiting = 0;
        b->round++;
        pthread_cond_broadcast(&b->c);
    } else
        while (round == b->round) pthread_cond_wait(&b->c, &b->m);
    pthread_mutex_unlock(&b->m);
    return 0;
}

typedef struct {
    const uint64_t *p;
    size_t n; /* uint64 words */
    int passes;
    barrier *bar;
    double *times; /* written by thread 0 */
    uint64_t sink;
} job;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t sweep(const uint64_t *p, size_t n) {
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
        a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
    }
    for (; i < n; i++) a0 += p[i];
    return a0 ^ a1 ^ a2 ^ a3 ^ a4 ^ a5 ^ a6 ^ a7;
}

static void *worker(void *arg) {
    job *j = arg;
    uint64_t s = 0;
    for (int r = 0; r < j->passes; r++) {
        barrier_wait(j->bar);
        double t0 = j->times ? now() : 0;
        s += sweep(j->p, j->n);
        barrier_wait(j->bar);
        if (j->times) j->times[r] = now() - t0;
    }
    j->sink = s;
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int threads = 2, passes = 10;
    size_t mib = 1024;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-m") && i + 1 < argc) mib = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) passes = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: membw [-t threads] [-m MiB] [-r passes]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 256 || passes < 1 || mib < 1) {
        fprintf(stderr, "membw: bad arguments\n");
        return 2;
    }
    size_t bytes = mib << 20;
    size_t words = bytes / 8;
    uint64_t *buf = NULL;
    if (posix_memalign((void **)&buf, 4096, bytes) != 0) {
        fprintf(stderr, "membw: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < words; i++) buf[i] = i * 0x9e3779b97f4a7c15ULL;

    barrier bar;
    barrier_init(&bar, NULL, (unsigned)threads);
    double *times = calloc((size_t)passes, sizeof(double));
    job *jobs = calloc((size_t)threads, sizeof(job));
    pthread_t *tid = calloc((size_t)threads, sizeof(pthread_t));
    size_t per = words / (size_t)threads / 8 * 8;
    for (int t = 0; t < threads; t++) {
        jobs[t].p = buf + per * (size_t)t;
        jobs[t].n = t == threads - 1 ? words - per * (size_t)t : per;
        jobs[t].passes = passes;
        jobs[t].bar = &bar;
        jobs[t].times = t == 0 ? times : NULL;
    }
    for (int t = 1; t < threads; t++) pthread_create(&tid[t], NULL, worker, &jobs[t]);
    worker(&jobs[0]);
    uint64_t sink = jobs[0].sink;
    for (int t = 1; t < threads; t++) {
        pthread_join(tid[t], NULL);
        sink ^= jobs[t].sink;
    }
    double *gbs = calloc((size_t)passes, sizeof(double));
    for (int r = 0; r < passes; r++) gbs[r] = (double)bytes / times[r] / 1e9;
    double *sorted = calloc((size_t)passes, sizeof(double));
    memcpy(sorted, gbs, (size_t)passes * sizeof(double));
    qsort(sorted, (size_t)passes, sizeof(double), cmp);
    double median = passes % 2 ? sorted[passes / 2] : (sorted[passes / 2 - 1] + sorted[passes / 2]) / 2;
    printf("{\"threads\":%d,\"bytes\":%zu,\"passes\":%d,\"best_gbs\":%.3f,\"median_gbs\":%.3f,\"samples_gbs\":[", threads, bytes,
           passes, sorted[passes - 1], median);
    for (int r = 0; r < passes; r++) printf("%s%.3f", r ? "," : "", gbs[r]);
    printf("],\"checksum\":\"%016llx\"}\n", (unsigned long long)sink);
    free(sorted);
    free(gbs);
    free(tid);
    free(jobs);
    free(times);
    free(buf);
    return 0;
}
