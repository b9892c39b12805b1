/* A strict GGUF v3 reader. gguf_parse validates the whole header (every length, count, type, shape,
 * size and offset, with overflow-checked arithmetic) before anything else looks at the data, so the
 * rest of the runtime can index tensors and strings without further bounds checks.
 * Errors are returned as text ("tensor 'x' has offset 96, past the end of the file"); the caller
 * prefixes the file name. */
#ifndef BITCONV_GGUF_H
#define BITCONV_GGUF_H
#include <stdint.h>
#include <stddef.h>

enum {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3, GGUF_UINT32 = 4, GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12, GGUF_TYPE_COUNT = 13
};

#define GGUF_MAX_NAME 63   /* tensor names, as llama.cpp (GGML_MAX_NAME 64 incl. NUL) */
#define GGUF_MAX_DIMS 4

typedef struct { const char *ptr; uint64_t len; } gguf_str; /* points into the file, not NUL-terminated */

typedef struct {
    gguf_str key;
    uint32_t type;              /* GGUF_* */
    /* scalars: the raw value widened (u for unsigned/bool, i for signed, f for floats) */
    uint64_t u;
    int64_t i;
    double f;
    gguf_str str;               /* GGUF_STRING */
    uint32_t arr_type;          /* GGUF_ARRAY: element type (never ARRAY) */
    uint64_t arr_n;             /* element count */
    const uint8_t *arr_data;    /* first element; string arrays are a sequence of (u64 len, bytes) */
} gguf_kv;

typedef struct {
    char name[GGUF_MAX_NAME + 1];
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS];  /* unused dims are 1 */
    uint32_t type;              /* ggml type id */
    uint64_t offset;            /* relative to the data section */
    uint64_t nbytes;            /* size of the data (fork sizes for I2_S / TL1 / TL2) */
    const uint8_t *data;        /* base + data_offset + offset */
} gguf_tensor;

typedef struct {
    const uint8_t *base;
    size_t size;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    uint32_t alignment;
    uint64_t data_offset;       /* absolute offset of the data section */
    int mapped;                 /* base is an mmap of the whole file */
} gguf_file;

/* Parses and validates a GGUF image held in memory. Returns 0, or -1 with a message in err.
 * On success g borrows data (it must outlive g); call gguf_free to release the tables. */
int gguf_parse(gguf_file *g, const uint8_t *data, size_t size, char *err, size_t errlen);
/* mmaps path read-only and parses it. */
int gguf_open(gguf_file *g, const char *path, char *err, size_t errlen);
void gguf_free(gguf_file *g); /* also unmaps a file opened with gguf_open */

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

/* Element i of a string array (bounds already validated by gguf_parse). Linear walk: callers that need
 * many elements should use gguf_str_array_index once. */
int gguf_str_array_index(const gguf_kv *kv, gguf_str *out /* kv->arr_n entries */);

/* ggml type: name, and the data size of a tensor of that type and shape; -1 when the type is unknown
 * or the shape does not fit it (message in err). */
const char *gguf_type_name(uint32_t type);
int gguf_tensor_nbytes(uint32_t type, const int64_t ne[GGUF_MAX_DIMS], uint32_t n_dims, uint64_t *nbytes,
                       char *err, size_t errlen);
/* TL2 stream allocation bound P (formats/tl2.md), or -1 when K is too small for the formula. */
int64_t gguf_tl2_p(int64_t M, int64_t K);

#endif
