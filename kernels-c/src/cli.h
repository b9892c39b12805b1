/* The commands of bitconv-rt (docs/runtime.md), one function each, sharing the parsed options. */
#ifndef BITCONV_CLI_H
#define BITCONV_CLI_H
#include "forward.h"
#include "model.h"
#include "threads.h"
#include <stdint.h>

typedef struct {
    const char *model;      /* -m */
    const char *tokens;     /* --tokens */
    const char *out;        /* -o */
    const char *tensor;     /* --tensor */
    const char *kl_base;    /* --kl-base */
    const char *kl_compare; /* --kl-compare */
    int threads;            /* -t (0 = all cores) */
    int ctx, ctx_given;     /* -c */
    int chunks;             /* --chunks (0 = all) */
    int batch;              /* -b: tokens per matmul call */
    int float_ref;          /* --float-ref */
    int head_dequant;       /* --head-dequant: Q8_0 head always through float dequantization */
    int head_int8;          /* --head-int8: Q8_0 head always in int8 (default: int8 for decode only) */
    int decode_jobs;        /* --decode-jobs: one pool job per step of a decoded token (rt_opts) */
    int json;               /* --json */
    int n_prompt, n_gen, reps, no_warmup; /* bench: -p -n -r --no-warmup; generate: -n */
    int profile;            /* bench --profile */
    float temp, top_p;      /* generate */
    uint64_t seed;
    int seed_given;
    int ids;                /* generate --ids */
    int as_tq2_0;           /* unpack --as-tq2_0: a TQ1_0 / TL1 tensor's repacked bytes instead of its codes */
    bc_isa isa;             /* after --isa / BITCONV_ISA and the CPU */
    rt_repack repack;       /* --repack auto|on|off (model.h) */
} rt_args;

/* Loads -m (exit 2 with "bitconv-rt: <file>: <problem>" on bad input). */
void cli_load_model(const rt_args *a, rt_model *m);
/* Reads --tokens and checks every id against the vocabulary (exit 2 otherwise). */
int32_t *cli_load_tokens(const rt_args *a, const char *path, const rt_model *m, int64_t *n);
pool *cli_pool(const rt_args *a);
/* --repack: TQ1_0 / TL1 weights to TQ2_0 where that decodes faster (never for --float-ref); returns the
 * number of tensors repacked, timed into *seconds when not NULL. */
int cli_repack(const rt_args *a, rt_model *m, pool *p, double *seconds);
/* How many weights cli_repack would repack (info). */
int cli_repack_count(const rt_args *a, const rt_model *m);
rt_opts cli_opts(const rt_args *a, int max_ctx);
/* Prints a JSON string literal (quotes and escapes included). */
void cli_json_str(const char *s, size_t n);

int cmd_info(const rt_args *a);
int cmd_perplexity(const rt_args *a);
int cmd_logits(const rt_args *a);
int cmd_bench(const rt_args *a);
int cmd_generate(const rt_args *a);
int cmd_unpack(const rt_args *a);

#endif
