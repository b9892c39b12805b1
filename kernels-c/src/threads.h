/* A fixed pool of worker threads for data-parallel loops. pool_run(p, fn, arg) calls fn(arg, i, n) once
 * on each of the n threads (the caller is thread 0) and returns when all are done. Workers spin briefly
 * between jobs (decode issues hundreds of short jobs per token) and then sleep on a condition variable,
 * so an idle runtime does not burn the cores it shares. */
#ifndef BITCONV_THREADS_H
#define BITCONV_THREADS_H
#include <stdint.h>

typedef void (*pool_fn)(void *arg, int ith, int nth);
typedef struct pool pool;

pool *pool_create(int n_threads);
void pool_run(pool *p, pool_fn fn, void *arg);
/* Inside a pool_run job, called by all n threads: returns on each when every thread has reached it, with
 * everything written before it visible (decode runs a whole token as one job, phases between barriers). */
void pool_barrier(pool *p);
int pool_size(const pool *p);
void pool_destroy(pool *p);

/* bench --profile: pool_run adds its job's timings to *st while st is set (NULL, the default, turns it
 * off: then pool_run reads no clock). Seen from the calling thread: wait_s is the time spent posting
 * the job and waiting for the workers after its own share, busy_s the time in its own share; per
 * worker: wake_s the delay from posting to the worker starting, worker_busy_s its time in the job. */
typedef struct {
    double wait_s, busy_s, wake_s, worker_busy_s;
    uint64_t jobs;
} pool_stats;
void pool_profile(pool *p, pool_stats *st);

int cpu_count(void);

/* The share [*lo, *hi) of thread ith among nth of the range [0, n) cut at multiples of granule
 * (the last share ends at n). */
static inline void pool_split(int64_t n, int64_t granule, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t units = (n + granule - 1) / granule;
    int64_t u0 = units * ith / nth, u1 = units * (ith + 1) / nth;
    *lo = u0 * granule;
    *hi = u1 * granule < n ? u1 * granule : n;
    if (*lo > n) *lo = n;
}

#endif
