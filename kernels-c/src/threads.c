#include "threads.h"
#include "util.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* How long a worker polls for the next job before it sleeps (each pause is ~40-140 cycles). */
#define SPIN_ROUNDS 20000

/* a worker's timings of the current job (bench --profile), a cache line each */
typedef struct { double start, busy; char pad[48]; } worker_times;

struct pool {
    int n;
    pthread_t *threads;
    pool_stats *stats;        /* NULL unless profiling */
    worker_times *times;      /* [n], written by worker i for the job it last ran */
    pool_fn fn;
    void *arg;
    atomic_uint generation;   /* bumped once per job */
    atomic_int pending;       /* workers still running the current job */
    atomic_int sleepers;
    atomic_int quit;
    _Alignas(64) atomic_int bar_count; /* threads arrived at the current pool_barrier */
    atomic_uint bar_phase;             /* bumped by the last to arrive */
    pthread_mutex_t mu;
    pthread_cond_t wake;
};

typedef struct { pool *p; int ith; } worker_arg;

static void *worker(void *v) {
    worker_arg wa = *(worker_arg *)v;
    free(v);
    pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
            if (++spins < SPIN_ROUNDS) { cpu_relax(); continue; }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->wake, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
            if (atomic_load(&p->quit)) return NULL;
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = g;
        if (p->stats) {
            double t0 = rt_now();
            p->fn(p->arg, wa.ith, p->n);
            p->times[wa.ith].start = t0;
            p->times[wa.ith].busy = rt_now() - t0;
        } else {
            p->fn(p->arg, wa.ith, p->n);
        }
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

pool *pool_create(int n) {
    if (n < 1) n = 1;
    pool *p = rt_alloc(sizeof *p);
    p->n = n;
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->bar_count, 0);
    atomic_init(&p->bar_phase, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->threads = rt_alloc(sizeof(pthread_t) * (size_t)n);
    p->stats = NULL;
    p->times = rt_alloc(sizeof(worker_times) * (size_t)n);
    for (int i = 1; i < n; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) rt_die(RT_EXIT_FAIL, NULL, "out of memory");
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker, wa) != 0) rt_die(RT_EXIT_FAIL, NULL, "cannot create thread %d", i);
    }
    return p;
}

/* a job's timings into st; called once pending is 0 (read with acquire), so every worker's times are visible */
static void pool_account(pool *p, pool_stats *st, double t_post, double t_start, double t_done) {
    st->wait_s += (t_start - t_post) + (rt_now() - t_done);
    st->busy_s += t_done - t_start;
    st->jobs++;
    for (int i = 1; i < p->n; i++) {
        st->wake_s += p->times[i].start - t_post;
        st->worker_busy_s += p->times[i].busy;
    }
}

void pool_run(pool *p, pool_fn fn, void *arg) {
    if (p->n == 1) { fn(arg, 0, 1); return; }
    pool_stats *st = p->stats;
    double t_post = st ? rt_now() : 0;
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->generation, 1); /* seq_cst: pairs with the sleepers check below */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mu);
    }
    double t_start = st ? rt_now() : 0;
    fn(arg, 0, p->n);
    double t_done = st ? rt_now() : 0;
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_ROUNDS) cpu_relax();
        else sched_yield(); /* a worker was descheduled (shared machine): give it the core */
    }
    if (st) pool_account(p, st, t_post, t_start, t_done);
}

/* The last thread to arrive resets the count, then releases the others by bumping the phase: its
 * acq_rel increment of the count has seen every earlier arrival, so what any thread wrote before the
 * barrier is visible to every thread after it. */
void pool_barrier(pool *p) {
    if (p->n == 1) return;
    unsigned phase = atomic_load_explicit(&p->bar_phase, memory_order_acquire);
    if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
        atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->bar_phase, 1, memory_order_release);
        return;
    }
    int spins = 0;
    while (atomic_load_explicit(&p->bar_phase, memory_order_acquire) == phase) {
        if (++spins < SPIN_ROUNDS) cpu_relax();
        else sched_yield(); /* another thread was descheduled (shared machine): give it the core */
    }
}

void pool_profile(pool *p, pool_stats *st) { p->stats = st; }

int pool_size(const pool *p) { return p->n; }

void pool_destroy(pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    rt_free(p->threads);
    rt_free(p->times);
    rt_free(p);
}

int cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
