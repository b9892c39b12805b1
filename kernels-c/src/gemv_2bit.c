/* The streaming GEMV of the row-major 2-bit layouts (I2_S, TQ2_0), one token: AVX-512 VNNI and AVX2
 * (simd.h describes the chunk geometry). */
#include "simd.h"
#if defined(__x86_64__)
#ifndef PF_DIST
#define PF_DIST 4096
#endif
/* AVX-512: the codes are not shifted down: (byte & (3 << 2s)) = 4^s * c, and the four products
 * go to four accumulators that are scaled back (exactly) by arithmetic shifts at the end. */
static inline __attribute__((always_inline)) BC_TARGET_AVX512 __m512i fold4_512(__m512i a0, __m512i a1,
                                                                               __m512i a2, __m512i a3) {
    __m512i t = _mm512_add_epi32(_mm512_srai_epi32(a3, 2), a2);
    t = _mm512_add_epi32(_mm512_srai_epi32(t, 2), a1);
    return _mm512_add_epi32(_mm512_srai_epi32(t, 2), a0);
}


#define GEMV_ROW_DECL(r) __m512i a##r##0 = _mm512_setzero_si512(), a##r##1 = a##r##0, a##r##2 = a##r##0, a##r##3 = a##r##0;
#define GEMV_ROW_STEP(r, v)                                                                        \
    {                                                                                              \
        __m512i c0 = _mm512_and_si512(v, M0), c1 = _mm512_and_si512(v, M1);                        \
        __m512i c2 = _mm512_and_si512(v, M2), c3 = _mm512_and_si512(v, M3);                        \
        DPBUSD(a##r##0, c0, x0);                                                                   \
        DPBUSD(a##r##1, c1, x1);                                                                   \
        DPBUSD(a##r##2, c2, x2);                                                                   \
        DPBUSD(a##r##3, c3, x3);                                                                   \
    }

void BC_TARGET_AVX512 bc_gemv_2bit_avx512(const uint8_t *base, int64_t rowstride, int64_t chunkstride,
                                       int64_t nchunks, int half, const int8_t *xp, int32_t xsum, int32_t *y,
                                       int64_t m0, int64_t m1) {
    const __m512i M0 = _mm512_set1_epi8(0x03), M1 = _mm512_set1_epi8(0x0C), M2 = _mm512_set1_epi8(0x30),
                  M3 = _mm512_set1_epi8((char)0xC0);
    /* four rows at a time taken from the four quarters of [m0, m1): four sequential streams, which
     * the hardware prefetchers follow much better than one stream read four rows at a time */
    int64_t q = (m1 - m0) / 4;
    for (int64_t j = 0; j < q; j++) {
        const int64_t m = m0 + j;
        const uint8_t *r0 = base + m * rowstride, *r1 = r0 + q * rowstride, *r2 = r1 + q * rowstride, *r3 = r2 + q * rowstride;
        GEMV_ROW_DECL(0) GEMV_ROW_DECL(1) GEMV_ROW_DECL(2) GEMV_ROW_DECL(3)
        int64_t i = 0;
        for (; i < nchunks; i++) {
            /* software prefetch: the hardware streamers alone leave a core far below DRAM speed */
            _mm_prefetch((const char *)(r0 + i * chunkstride + PF_DIST), _MM_HINT_T0);
            _mm_prefetch((const char *)(r1 + i * chunkstride + PF_DIST), _MM_HINT_T0);
            _mm_prefetch((const char *)(r2 + i * chunkstride + PF_DIST), _MM_HINT_T0);
            _mm_prefetch((const char *)(r3 + i * chunkstride + PF_DIST), _MM_HINT_T0);
            const int8_t *xi = xp + i * 256;
            __m512i x0 = _mm512_loadu_si512((const void *)xi), x1 = _mm512_loadu_si512((const void *)(xi + 64)),
                    x2 = _mm512_loadu_si512((const void *)(xi + 128)), x3 = _mm512_loadu_si512((const void *)(xi + 192));
            __m512i v0 = _mm512_loadu_si512((const void *)(r0 + i * chunkstride));
            __m512i v1 = _mm512_loadu_si512((const void *)(r1 + i * chunkstride));
            __m512i v2 = _mm512_loadu_si512((const void *)(r2 + i * chunkstride));
            __m512i v3 = _mm512_loadu_si512((const void *)(r3 + i * chunkstride));
            GEMV_ROW_STEP(0, v0) GEMV_ROW_STEP(1, v1) GEMV_ROW_STEP(2, v2) GEMV_ROW_STEP(3, v3)
        }
        if (half) {
            const int8_t *xi = xp + i * 256;
            __m512i x0 = _mm512_loadu_si512((const void *)xi), x1 = _mm512_loadu_si512((const void *)(xi + 64)),
                    x2 = _mm512_loadu_si512((const void *)(xi + 128)), x3 = _mm512_loadu_si512((const void *)(xi + 192));
            __m512i v0 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r0 + i * chunkstride)));
            __m512i v1 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r1 + i * chunkstride)));
            __m512i v2 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r2 + i * chunkstride)));
            __m512i v3 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r3 + i * chunkstride)));
            GEMV_ROW_STEP(0, v0) GEMV_ROW_STEP(1, v1) GEMV_ROW_STEP(2, v2) GEMV_ROW_STEP(3, v3)
        }
        y[m] = _mm512_reduce_add_epi32(fold4_512(a00, a01, a02, a03)) - xsum;
        y[m + q] = _mm512_reduce_add_epi32(fold4_512(a10, a11, a12, a13)) - xsum;
        y[m + 2 * q] = _mm512_reduce_add_epi32(fold4_512(a20, a21, a22, a23)) - xsum;
        y[m + 3 * q] = _mm512_reduce_add_epi32(fold4_512(a30, a31, a32, a33)) - xsum;
    }
    for (int64_t m = m0 + 4 * q; m < m1; m++) {
        const uint8_t *r0 = base + m * rowstride;
        GEMV_ROW_DECL(0)
        for (int64_t i = 0; i <= nchunks; i++) {
            __m512i v0;
            if (i < nchunks) v0 = _mm512_loadu_si512((const void *)(r0 + i * chunkstride));
            else if (half) v0 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(r0 + i * chunkstride)));
            else break;
            const int8_t *xi = xp + i * 256;
            __m512i x0 = _mm512_loadu_si512((const void *)xi), x1 = _mm512_loadu_si512((const void *)(xi + 64)),
                    x2 = _mm512_loadu_si512((const void *)(xi + 128)), x3 = _mm512_loadu_si512((const void *)(xi + 192));
            GEMV_ROW_STEP(0, v0)
        }
        y[m] = _mm512_reduce_add_epi32(fold4_512(a00, a01, a02, a03)) - xsum;
    }
}

/* AVX2: codes shifted down to 0..2, maddubs into int16 (a pair is in [-512, 508]; 16 chunks x 4 = 64
 * of them stay in [-32768, 32512]), flushed to int32. 32-byte chunk j sits at (j/2)*bstride + (j%2)*32.
 * GEMV2_ROW(R): chunk j of row pointer rR into its int16 sums sR. */
#define GEMV2_ROW(R)                                                                               \
    {                                                                                              \
        __m256i v = _mm256_loadu_si256((const __m256i *)(r##R + (j >> 1) * bstride + (j & 1) * 32));  \
        s##R = _mm256_add_epi16(s##R, _mm256_maddubs_epi16(_mm256_and_si256(v, M), x0));             \
        s##R = _mm256_add_epi16(s##R, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 2), M), x1)); \
        s##R = _mm256_add_epi16(s##R, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), M), x2)); \
        s##R = _mm256_add_epi16(s##R, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 6), M), x3)); \
    }

void BC_TARGET_AVX2 bc_gemv_2bit_avx2(const uint8_t *base, int64_t rowstride, int64_t bstride,
                                   int64_t nchunks32, const int8_t *xp, int32_t xsum, int32_t *y, int64_t m0,
                                   int64_t m1) {
    const __m256i M = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    /* four rows at a time from the four quarters of [m0, m1), prefetched PF_DIST ahead: four sequential
     * streams (as the AVX-512 kernel; without the prefetches a core stayed at a quarter of DRAM speed) */
    int64_t q = (m1 - m0) / 4;
    for (int64_t i = 0; i < q; i++) {
        const int64_t m = m0 + i;
        const uint8_t *r0 = base + m * rowstride, *r1 = r0 + q * rowstride, *r2 = r1 + q * rowstride, *r3 = r2 + q * rowstride;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t jb = 0; jb < nchunks32; jb += 16) {
            int64_t je = jb + 16 < nchunks32 ? jb + 16 : nchunks32;
            __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
            for (int64_t j = jb; j < je; j++) {
                if ((j & 1) == 0) {
                    int64_t off = (j >> 1) * bstride + PF_DIST;
                    _mm_prefetch((const char *)(r0 + off), _MM_HINT_T0);
                    _mm_prefetch((const char *)(r1 + off), _MM_HINT_T0);
                    _mm_prefetch((const char *)(r2 + off), _MM_HINT_T0);
                    _mm_prefetch((const char *)(r3 + off), _MM_HINT_T0);
                }
                const int8_t *xj = xp + j * 128;
                __m256i x0 = _mm256_loadu_si256((const __m256i *)xj), x1 = _mm256_loadu_si256((const __m256i *)(xj + 32));
                __m256i x2 = _mm256_loadu_si256((const __m256i *)(xj + 64)), x3 = _mm256_loadu_si256((const __m256i *)(xj + 96));
                GEMV2_ROW(0) GEMV2_ROW(1) GEMV2_ROW(2) GEMV2_ROW(3)
            }
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(s0, ones));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(s1, ones));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(s2, ones));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(s3, ones));
        }
        y[m] = bc_hsum256_epi32(a0) - xsum;
        y[m + q] = bc_hsum256_epi32(a1) - xsum;
        y[m + 2 * q] = bc_hsum256_epi32(a2) - xsum;
        y[m + 3 * q] = bc_hsum256_epi32(a3) - xsum;
    }
    for (int64_t m = m0 + 4 * q; m < m1; m++) {
        const uint8_t *r0 = base + m * rowstride;
        __m256i a0 = _mm256_setzero_si256();
        for (int64_t jb = 0; jb < nchunks32; jb += 16) {
            int64_t je = jb + 16 < nchunks32 ? jb + 16 : nchunks32;
            __m256i s0 = _mm256_setzero_si256();
            for (int64_t j = jb; j < je; j++) {
                const int8_t *xj = xp + j * 128;
                __m256i x0 = _mm256_loadu_si256((const __m256i *)xj), x1 = _mm256_loadu_si256((const __m256i *)(xj + 32));
                __m256i x2 = _mm256_loadu_si256((const __m256i *)(xj + 64)), x3 = _mm256_loadu_si256((const __m256i *)(xj + 96));
                GEMV2_ROW(0)
            }
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(s0, ones));
        }
        y[m] = bc_hsum256_epi32(a0) - xsum;
    }
}
#endif
