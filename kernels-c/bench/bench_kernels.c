/* Kernel microbenchmark (not part of the runtime build). Build and run from the repository root:
 *   cc -O2 -pthread -Ikernels-c/src -o /tmp/bench_kernels kernels-c/bench/bench_kernels.c \
 *      kernels-c/src/{kernels,isa,scratch,gemm,gemm_arm,gemv_2bit,tq1_0,tq2_0,i2_s,tl1,tl2,gguf,util}.c -lm
 *   /tmp/bench_kernels [-l tq1_0,tq2_0,i2_s,tl1,tl2] [-i scalar,avx2,...] [-t threads] [-n 512]
 *                      [-s seconds] [--model] [--shapes] [--cpu]
 * --shapes (default): each BitNet 2B-4T shape alone (weights hot in L2/L3): N=1 GB/s of weight bytes,
 *                     N=n GOPS (2*M*K*N / s) and tokens/s for that one matrix.
 * --model: one decode token over 30 layers x 7 matrices (~520 MB of I2_S, weights streamed from
 *          DRAM), reported as GB/s and tokens/s; and prefill of n tokens over one layer's 7
 *          matrices, reported as tokens/s extrapolated to 30 layers (matmuls only).
 * -i: the paths to time, of those this CPU runs (x86: scalar, avx2, avx512; aarch64: scalar, neon,
 * dotprod, i8mm); default all but scalar.
 * Threads split rows at bc_row_granule multiples, as the runtime does. */
#define _GNU_SOURCE
#include "gguf.h"
#include "kernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Timings use the process CPU time divided by the thread count when --cpu is given (the machine
 * may be shared: CPU time is what the kernels actually got), else wall time. */
static int use_cpu = 0, nthreads = 2;
static double now(void) {
    struct timespec t;
    if (use_cpu) {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return (t.tv_sec + t.tv_nsec * 1e-9) / nthreads;
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint64_t rs = 88172645463325252ull;
static inline uint64_t rnd(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}

/* ---- random but valid packed bytes for each layout ---- */
/* the runtime's size rule (gguf_tensor_nbytes: the fork's sizes for I2_S/TL1/TL2) */
static size_t nbytes_of(bc_layout l, int64_t M, int64_t K) {
    static const uint32_t type[BC_LAYOUT_COUNT] = {[BC_LAYOUT_TQ1_0] = BC_GGML_TQ1_0, [BC_LAYOUT_TQ2_0] = BC_GGML_TQ2_0,
                                                   [BC_LAYOUT_I2_S] = BC_GGML_I2_S, [BC_LAYOUT_TL1] = BC_GGML_TL1,
                                                   [BC_LAYOUT_TL2] = BC_GGML_TL2};
    const int64_t ne[GGUF_MAX_DIMS] = {K, M, 1, 1};
    uint64_t n = 0;
    return gguf_tensor_nbytes(type[l], ne, 2, &n, NULL, 0) ? 0 : (size_t)n;
}

static void fill_valid(bc_ternary *w) {
    uint8_t *d = (uint8_t *)w->data;
    size_t n = w->nbytes;
    uint8_t two[81], nib[81];
    for (int i = 0; i < 81; i++) {
        two[i] = (uint8_t)(i % 3 | (i / 3 % 3) << 2 | (i / 9 % 3) << 4 | (i / 27) << 6);
        nib[i] = (uint8_t)((i % 9) << 4 | i / 9);
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rnd();
        switch (w->layout) {
        case BC_LAYOUT_TQ2_0:
        case BC_LAYOUT_I2_S: d[i] = two[r % 81]; break;
        case BC_LAYOUT_TQ1_0: d[i] = (uint8_t)(((r % 243) * 256 + 242) / 243); break;
        case BC_LAYOUT_TL1: d[i] = nib[r % 81]; break;
        case BC_LAYOUT_TL2: d[i] = (uint8_t)((r % 14) << 4 | (r >> 8) % 14); break; /* signs random too */
        default: break;
        }
    }
    if (w->layout == BC_LAYOUT_TQ1_0 || w->layout == BC_LAYOUT_TQ2_0) {
        size_t bs = w->layout == BC_LAYOUT_TQ1_0 ? 54 : 66;
        for (size_t b = 0; b < n / bs; b++) { d[b * bs + bs - 2] = 0; d[b * bs + bs - 1] = 0x3C; }
    }
}

static bc_ternary make(bc_layout l, int64_t M, int64_t K) {
    bc_ternary w;
    memset(&w, 0, sizeof w);
    w.layout = l;
    w.M = M;
    w.K = K;
    w.nbytes = nbytes_of(l, M, K);
    void *p = NULL;
    if (posix_memalign(&p, 64, w.nbytes)) exit(1);
    w.data = p;
    w.scale = 1;
    if (l == BC_LAYOUT_TL1) { w.BM = M % 256 == 0 ? 256 : 128; w.BK = 128; w.bm = 32; }
    if (l == BC_LAYOUT_TL2) { w.BM = M % 256 == 0 ? 256 : 128; w.BK = 96; w.bm = 32; }
    fill_valid(&w);
    return w;
}

/* ---- a tiny spinning thread pool ---- */
typedef struct {
    const bc_ternary *w;
    const int8_t *x;
    const int32_t *xsum;
    int64_t N;
    int32_t *y;
    bc_isa isa;
} job;
static job *jobs;
static int njobs;
static atomic_int gen, done;
static atomic_int quit;

static void run_part(int tid) {
    for (int j = 0; j < njobs; j++) {
        job *b = &jobs[j];
        int64_t g = bc_row_granule(b->w), units = b->w->M / g;
        int64_t a = units * tid / nthreads * g, e = units * (tid + 1) / nthreads * g;
        if (tid == nthreads - 1) e = b->w->M;
        if (e > a) bc_matmul(b->w, b->x, b->xsum, b->N, b->y, b->w->M, a, e, b->isa, NULL);
    }
}

static void *worker(void *arg) {
    int tid = (int)(intptr_t)arg, seen = 0;
    for (;;) {
        int g;
        while ((g = atomic_load(&gen)) == seen)
            if (atomic_load(&quit)) return NULL;
        seen = g;
        run_part(tid);
        atomic_fetch_add(&done, 1);
    }
}

static void run_jobs(void) {
    atomic_store(&done, 0);
    atomic_fetch_add(&gen, 1);
    run_part(0);
    while (atomic_load(&done) < nthreads - 1) {
    }
}

static const char *LN[] = {"tq1_0", "tq2_0", "i2_s", "tl1", "tl2"};

int main(int argc, char **argv) {
    int lay_on[BC_LAYOUT_COUNT] = {1, 1, 1, 1, 1}, isa_on[BC_ISA_COUNT] = {0}, model = 0;
    bc_isa cpu[BC_ISA_COUNT];
    int ncpu = bc_cpu_isas(cpu);
    for (int i = 1; i < ncpu; i++) isa_on[cpu[i]] = 1;
    int64_t NP = 512;
    double secs = 0.3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) nthreads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) NP = atoll(argv[++i]);
        else if (!strcmp(argv[i], "-s") && i + 1 < argc) secs = atof(argv[++i]);
        else if (!strcmp(argv[i], "--model")) model = 1;
        else if (!strcmp(argv[i], "--cpu")) use_cpu = 1;
        else if (!strcmp(argv[i], "--shapes")) model = 0;
        else if (!strcmp(argv[i], "-l") && i + 1 < argc) {
            const char *s = argv[++i];
            for (int l = 0; l < BC_LAYOUT_COUNT; l++) lay_on[l] = strstr(s, LN[l]) != NULL;
            if (strstr(s, "tl1") && !strstr(s, "tl2")) lay_on[BC_LAYOUT_TL2] = 0;
        } else if (!strcmp(argv[i], "-i") && i + 1 < argc) {
            char list[128];
            snprintf(list, sizeof list, "%s", argv[++i]);
            memset(isa_on, 0, sizeof isa_on);
            for (char *name = strtok(list, ","); name; name = strtok(NULL, ",")) {
                bc_isa isa;
                if (!bc_parse_isa(name, &isa) || bc_usable_isa(isa) != isa) {
                    fprintf(stderr, "-i %s: not a path this CPU runs\n", name);
                    return 2;
                }
                isa_on[isa] = 1;
            }
        } else {
            fprintf(stderr, "usage: see the comment at the top of bench_kernels.c\n");
            return 2;
        }
    }
    bc_isa best = bc_detect_isa();
    pthread_t th[64];
    for (int t = 1; t < nthreads; t++) pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);

    const int64_t MK[4][2] = {{2560, 2560}, {640, 2560}, {6912, 2560}, {2560, 6912}};
    int8_t *x = malloc((size_t)(NP * 6912));
    int32_t *xsum = malloc(sizeof(int32_t) * (size_t)NP);
    int32_t *y = malloc(sizeof(int32_t) * (size_t)(NP * 6912));
    for (int64_t i = 0; i < NP * 6912; i++) x[i] = (int8_t)(rnd() & 255);
    for (int64_t n = 0; n < NP; n++) xsum[n] = 0; /* values do not matter for timing */
    printf("threads %d, prefill N = %lld, best ISA %s, %s time\n", nthreads, (long long)NP, bc_isa_name(best),
           use_cpu ? "CPU" : "wall");

    if (!model) {
        printf("%-6s %-6s %-11s %9s %9s %9s %10s\n", "layout", "isa", "MxK", "N=1 us", "N=1 GB/s", "N=n ms", "N=n GOPS");
        for (int l = 0; l < BC_LAYOUT_COUNT; l++) {
            if (!lay_on[l]) continue;
            for (int s = 0; s < 4; s++) {
                bc_ternary w = make((bc_layout)l, MK[s][0], MK[s][1]);
                for (int ii = 0; ii < ncpu; ii++) {
                    int isa = cpu[ii];
                    if (!isa_on[isa]) continue;
                    job j1 = {&w, x, xsum, 1, y, (bc_isa)isa};
                    jobs = &j1;
                    njobs = 1;
                    run_jobs();
                    int reps = 0;
                    double t0 = now(), t;
                    do { run_jobs(); reps++; } while ((t = now() - t0) < secs / 2);
                    double t1 = t / reps;
                    double tn = 0;
                    if (isa != BC_ISA_SCALAR || MK[s][0] * MK[s][1] * NP < 2e9) {
                        job jn = {&w, x, xsum, NP, y, (bc_isa)isa};
                        jobs = &jn;
                        run_jobs();
                        reps = 0;
                        t0 = now();
                        do { run_jobs(); reps++; } while ((t = now() - t0) < secs);
                        tn = t / reps;
                    }
                    char mk[32];
                    snprintf(mk, sizeof mk, "%lldx%lld", (long long)MK[s][0], (long long)MK[s][1]);
                    printf("%-6s %-6s %-11s %9.1f %9.2f %9.2f %10.1f\n", LN[l], bc_isa_name((bc_isa)isa), mk, t1 * 1e6,
                           w.nbytes / t1 / 1e9, tn * 1e3, tn > 0 ? 2.0 * MK[s][0] * MK[s][1] * NP / tn / 1e9 : 0);
                    fflush(stdout);
                }
                free((void *)w.data);
            }
        }
    } else {
        /* one layer = q, k, v, o, gate, up, down */
        const int64_t LM[7][2] = {{2560, 2560}, {640, 2560}, {640, 2560}, {2560, 2560}, {6912, 2560}, {6912, 2560}, {2560, 6912}};
        for (int l = 0; l < BC_LAYOUT_COUNT; l++) {
            if (!lay_on[l]) continue;
            int nl = 30;
            bc_ternary *ws = malloc(sizeof(bc_ternary) * 7 * nl);
            size_t total = 0;
            for (int i = 0; i < 7 * nl; i++) { ws[i] = make((bc_layout)l, LM[i % 7][0], LM[i % 7][1]); total += ws[i].nbytes; }
            job *js = malloc(sizeof(job) * 7 * nl);
            for (int ii = 0; ii < ncpu; ii++) {
                int isa = cpu[ii];
                if (!isa_on[isa]) continue;
                for (int i = 0; i < 7 * nl; i++) js[i] = (job){&ws[i], x, xsum, 1, y, (bc_isa)isa};
                jobs = js;
                njobs = 7 * nl;
                run_jobs();
                int reps = 0;
                double t0 = now(), t;
                do { run_jobs(); reps++; } while ((t = now() - t0) < secs * 3);
                double tt = t / reps;
                printf("%-6s %-6s decode token (30 layers, %.0f MB): %.2f ms  %.1f GB/s  %.1f tok/s\n", LN[l],
                       bc_isa_name((bc_isa)isa), total / 1e6, tt * 1e3, total / tt / 1e9, 1 / tt);
                for (int i = 0; i < 7; i++) js[i] = (job){&ws[i], x, xsum, NP, y, (bc_isa)isa};
                njobs = 7;
                run_jobs();
                reps = 0;
                t0 = now();
                do { run_jobs(); reps++; } while ((t = now() - t0) < secs * 3);
                tt = t / reps;
                printf("%-6s %-6s prefill N=%lld, 1 layer: %.2f ms -> %.1f tok/s for 30 layers (matmuls only), %.0f GOPS\n",
                       LN[l], bc_isa_name((bc_isa)isa), (long long)NP, tt * 1e3, NP / (tt * 30), 2.0 * 69468160.0 * NP / tt / 1e9);
                fflush(stdout);
            }
            for (int i = 0; i < 7 * nl; i++) free((void *)ws[i].data);
            free(ws);
            free(js);
        }
    }
    atomic_store(&quit, 1);
    for (int t = 1; t < nthreads; t++) pthread_join(th[t], NULL);
    return 0;
}
