/* The model as the runtime sees it: hyper-parameters from the GGUF keys, every tensor checked for type
 * and shape, ternary weights wrapped as bc_ternary (with their per-tensor scale), the vocabulary. */
#ifndef BITCONV_MODEL_H
#define BITCONV_MODEL_H
#include "gguf.h"
#include "kernels.h"
#include "threads.h"
#include <stdint.h>

typedef enum { ARCH_BITNET, ARCH_BITNET_B158, ARCH_LLAMA } rt_arch;
typedef enum { ACT_RELU2, ACT_SILU } rt_act;
typedef enum { TOK_NONE, TOK_GPT2, TOK_SPM } rt_tokmodel;

/* A float-ish matrix [rows][cols] (token embedding, output head): F32, F16, BF16 or Q8_0 rows. */
typedef struct {
    uint32_t type;
    const uint8_t *data;
    int64_t rows, cols;
    size_t row_bytes;
} rt_matrix;

typedef struct {
    float *attn_norm, *attn_sub_norm, *ffn_norm, *ffn_sub_norm; /* sub-norms NULL for arch llama */
    bc_ternary wq, wk, wv, wo, wgate, wup, wdown;
    /* the same weights as F32/F16/BF16 matrices in a float reference file (verify's checkpoint
     * reference; float path only); data NULL in a ternary artifact */
    rt_matrix fq, fk, fv, fo, fgate, fup, fdown;
} rt_layer;

typedef struct {
    gguf_file gguf;
    char arch_name[32];
    rt_arch arch;
    rt_act act;
    int sub_norms;      /* attn_sub_norm / ffn_sub_norm present (bitnet archs) */
    int rope_neox;      /* rotate-half pairs (i, i+d/2); otherwise adjacent pairs (2i, 2i+1) */
    int float_weights;  /* BitLinear weights stored as float matrices (runs only on the float path) */
    int n_vocab, dim, n_layers, ffn_dim, n_heads, n_kv_heads, head_dim, ctx_train;
    float eps, rope_theta;
    rt_matrix tok_embd;
    rt_matrix output;   /* == tok_embd when tied */
    int tied;
    float *output_norm;
    rt_layer *layers;
    /* vocabulary (optional: only generate needs it) */
    rt_tokmodel tok_model;
    int n_tokens;
    gguf_str *tokens;
    const uint8_t *token_types; /* int32 array in the file (unaligned), or NULL */
    int bos, eos, eot;          /* -1 when absent */
    int add_bos;
    /* summary */
    char layout[16];            /* bitconv.layout (escaped: rt_printable), or derived from the tensor types ("mixed") */
    char embed_type[8];
    uint64_t n_params, ternary_bytes;
    /* TQ1_0 weights repacked as TQ2_0 (repack.c): the buffer they now point into, or NULL */
    uint8_t *repacked;
    size_t repacked_bytes;
} rt_model;

/* Loads and validates; returns 0 or -1 with a message (without the file name) in err. */
int model_load(rt_model *m, const char *path, char *err, size_t errlen);
/* Same from an already parsed file (takes ownership of g on success and failure). */
int model_from_gguf(rt_model *m, gguf_file *g, char *err, size_t errlen);
void model_free(rt_model *m);
/* One ternary tensor of any GGUF file, a whole model or not (`unpack`), scale and TL parameters
 * resolved as the model loader does; 0 or -1 with a message in err. w points into g's data. */
int model_ternary_tensor(const gguf_file *g, const char *name, bc_ternary *w, char *err, size_t errlen);

/* repack.c: TQ1_0 and TL1 weights run as TQ2_0 (same codes, so the same results; bytes the decode GEMVs
 * stream faster where decoding, not memory, is the bottleneck). --repack auto|on|off; auto: TQ1_0 and
 * TL1 on the avx2 path; on: every TQ1_0 and TL1 weight (TL1 with K % 256 == 0, as TQ2_0 needs). */
typedef enum { RT_REPACK_AUTO, RT_REPACK_ON, RT_REPACK_OFF } rt_repack;
int rt_parse_repack(const char *name, rt_repack *out); /* 0 for an unknown name */
int rt_repack_wanted(rt_repack mode, bc_isa isa, const bc_ternary *w);
/* The BitLinear weights of m that mode repacks on isa, rewritten into one new buffer (m->repacked,
 * freed by model_free), rows split over p's threads; returns how many. */
int model_repack(rt_model *m, rt_repack mode, pool *p, bc_isa isa);
int model_repack_count(const rt_model *m, rt_repack mode, bc_isa isa); /* how many model_repack would */
/* One TQ1_0 or TL1 tensor's TQ2_0 bytes (rt_tq2_0_bytes of them) into dst; p may be NULL (one thread).
 * -1 (dst unusable) for a TL1 tensor with a nibble above 8, which 2-bit codes cannot hold. */
size_t rt_tq2_0_bytes(const bc_ternary *w);
int rt_repack_to_tq2_0(const bc_ternary *src, uint8_t *dst, pool *p, bc_isa isa);

int32_t model_token_type(const rt_model *m, int id); /* 1 normal when unknown */

/* Row r of a float-ish matrix to f32. */
void matrix_row_f32(const rt_matrix *w, int64_t r, float *out);

#endif
