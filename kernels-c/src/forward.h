/* The forward pass: a batch of tokens through every layer (batched prefill) or one token (decode),
 * with a float32 KV cache. Two arithmetic paths share everything but the BitLinear products:
 *   integer (default): activations quantized per token to int8, exact int32 sums from the ternary
 *                      kernels, y = (float)sum / s * w;
 *   float reference:   ternary rows decoded to float (T * w), activations fake-quantized (q / s),
 *                      float dot products: transformers' computation. */
#ifndef BITCONV_FORWARD_H
#define BITCONV_FORWARD_H
#include "model.h"
#include "threads.h"

typedef struct rt_state rt_state;

typedef struct {
    int float_ref;     /* use the float reference path */
    int head_q8;       /* Q8_0 head, int8 dot with the hidden state quantized per 32-block: 0 never (dequantize
                        * to float), 1 for up to HEAD_Q8_MAX_TOKENS rows (decode; batches are compute-bound and
                        * run faster as a float GEMM), 2 always */
    int max_batch;     /* tokens per matmul call (bigger batches are split) */
    int max_ctx;       /* KV cache length */
    int decode_jobs;   /* decode a token with one pool job per step, as batches run (for comparison and
                        * tests); default 0: the whole token is one pool job whose threads meet at barriers */
} rt_opts;

rt_state *state_create(const rt_model *m, pool *p, bc_isa isa, rt_opts opts);
void state_free(rt_state *s);

/* bench --profile: where forward's time goes, seen from the calling thread (thread 0). Each part's
 * time is split into busy (its own work, its share of a pool job) and wait (posting pool jobs and
 * waiting for the other threads to finish theirs). Norms and quantization include the RMSNorms, the
 * activation quantization of every BitLinear and of a Q8_0 head, relu²/SiLU gating and the residual
 * adds; what no part covers (embedding lookup, loop overhead) is left for the caller to derive from its
 * own clock. */
typedef enum {
    PROF_ATTN_QKV, PROF_ATTN_OUTPUT, PROF_FFN_GATE_UP, PROF_FFN_DOWN, PROF_HEAD, PROF_ATTENTION, PROF_NORM_QUANT,
    PROF_PARTS
} rt_prof_part;

typedef struct {
    double busy_s[PROF_PARTS], wait_s[PROF_PARTS];
    uint64_t jobs[PROF_PARTS];  /* pool jobs run for the part */
    pool_stats pool;            /* every pool job, with the workers' side */
} rt_profile;

extern const char *const rt_prof_part_names[PROF_PARTS];

/* Accumulates into *p from now on (NULL: off, the default; then forward reads no clock). */
void state_profile(rt_state *s, rt_profile *p);

/* Runs tokens[0..n) at positions pos .. pos+n-1 (the cache holds positions < pos) and writes the logits
 * of rows [out0, out1) of this call to logits[(i - out0) * n_vocab]. */
void forward(rt_state *s, const int32_t *tokens, int n, int pos, int out0, int out1, float *logits);

#endif
