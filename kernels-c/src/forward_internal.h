/* What forward.c (batches) and decode.c (one token in one parallel region) share: the state and the
 * pieces both run. Not part of the runtime's interface (forward.h). */
#ifndef BITCONV_FORWARD_INTERNAL_H
#define BITCONV_FORWARD_INTERNAL_H
#include "forward.h"
#include <stdatomic.h>

#define HEAD_TILE 16          /* output-head rows converted to f32 at a time (per thread) */
#define HEAD_Q8_MAX_TOKENS 2  /* a Q8_0 head runs in int8 for at most this many rows (see rt_opts) */
_Static_assert(HEAD_TILE == 16, "head units must be whole Q8_0x16 tiles");

struct rt_state {
    const rt_model *m;
    pool *pool;
    bc_isa isa;
    rt_opts o;
    int nth;
    int qdim, kvdim, maxk, acc_width;
    size_t kt_stride;      /* floats between rows of the transposed key cache */
    /* activations, one row per token of the batch */
    float *x;              /* residual stream [B][dim] */
    float *xb;             /* normalized input of a block [B][dim] */
    float *q, *k, *v;      /* [B][qdim], [B][kvdim], [B][kvdim] */
    float *att;            /* attention output (input of attn_output) [B][qdim] */
    float *hb, *hb2;       /* gate and up projections [B][ffn] */
    float *proj;           /* output of attn_output / ffn_down, added to x [B][dim] */
    /* a BitLinear input quantized per token: int8 codes, scale s, sum of codes; q/s for the float path */
    int8_t *xq;
    float *xs;
    int32_t *xsum;
    float *xf, *xp;        /* q/s row-major [B][maxk], and packed for the float GEMM (gemm_f32.h) */
    int32_t *acc;          /* exact integer sums from the kernels [B][acc_width] */
    /* KV cache: keys transposed [layer][kv head][head_dim][position] (scores of 16 positions per vector),
     * values [layer][position][kvdim]; rope tables [position][head_dim/2] */
    float *kc, *vc;
    float *rope_cos, *rope_sin;
    /* per-thread scratch */
    float *scores;         /* [nth][group][max_ctx], group = query heads per kv head */
    float *gemm;           /* [nth][gemm_f32_scratch_floats(maxk)] (float path) */
    float *tile;           /* [nth][HEAD_TILE][dim] */
    float *hpack;          /* [nth][dim][32]: a block of hidden states, k-major, for the head GEMM */
    /* the final hidden state quantized per 32-block for a Q8_0 head */
    int8_t *hq;
    float *hd;
    uint8_t *head_x16;     /* the Q8_0 head repacked as Q8_0x16 (vec.h), or NULL */
    int head_x16_tried;    /* repacked on the first int8 head call (batches run the head in float by default) */
    rt_profile *prof;      /* bench --profile, or NULL */
    /* decode.c: each thread's own copy of a BitLinear input (normalized, then quantized) */
    float *tok_in;         /* [nth][maxk] */
    int8_t *tok_q;         /* [nth][maxk] */
    float *tok_s;          /* [nth] scale */
    int32_t *tok_sum;      /* [nth] sum of codes */
    atomic_int *tok_next;  /* work counters of one token's phases */
};

typedef struct { rt_state *s; int N; const float *h; float *logits; int q8; int64_t unit_rows; atomic_int next; } head_job;

/* y = weight * x / sqrt(mean(x^2) + eps) for one row (in place allowed) */
void fw_rmsnorm_row(const rt_state *s, float *y, const float *x, const float *weight, int width);
/* rope on the query heads of kv group g and on key head g of token n (position pos), then key and
 * value head g into the layer's cache */
void fw_rope_store_group(rt_state *s, int layer, int n, int pos, int g);
/* attention of token n (at position pos) over kv head g's cache for the query heads of its group, into s->att */
void fw_attend_group(rt_state *s, int layer, int n, int pos, int g, int ith);
/* the output head: fw_head_setup fills j (repacks a Q8_0 head on first int8 use: it runs a pool job,
 * so not inside one), fw_head_quantize quantizes the hidden states of an int8 head, then every thread
 * runs fw_head_worker */
void fw_head_setup(rt_state *s, int N, const float *h, float *logits, head_job *j);
void fw_head_quantize(rt_state *s, const head_job *j);
void fw_head_worker(void *a, int ith, int nth);
void fw_embed_row(const rt_matrix *w, int id, float *out);
/* work counters per layer of a decoded token: qkv, attention, attn_output, gate/up, down */
#define FW_TOKEN_PHASES 5
/* one token (N = 1, integer path) as one pool job (decode.c); logits NULL: none wanted */
void forward_token(rt_state *s, int32_t token, int pos, float *logits);

#endif
