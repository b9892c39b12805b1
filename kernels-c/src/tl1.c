/* TL1 (formats/tl1.md): tiles BM x BK; one byte = (idx[m][j0] << 4) | idx[m][j0+1] for 4
 * neighbouring weights of one row, idx = 3*T0 + T1 + 4. Byte order (by = 256/bm):
 *   iM, iK, ib (BM/bm), iy (BK/by), ir (bm/16), ip (by/4), r (16):
 *   row m = iM*BM + ib*bm + ir*16 + r, weights iK*BK + iy*by + 4*ip .. +3. */
#include "simd.h"
#include <stdlib.h>
#include <string.h>

void bc_tl1_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    int64_t K = w->K, BM = w->BM, BK = w->BK, bm = w->bm, by = 256 / bm;
    int64_t iM = m / BM, rr = m % BM, ib = rr / bm, ir = (rr % bm) / 16, r = rr % 16;
    for (int64_t k = 0; k < K; k += 4) {
        int64_t iK = k / BK, kk = k % BK, iy = kk / by, ip = (kk % by) / 4;
        int64_t off = (((((iM * (K / BK) + iK) * (BM / bm) + ib) * (BK / by) + iy) * (bm / 16) + ir) * (by / 4) + ip) * 16 + r;
        uint8_t b = w->data[off];
        int i0 = b >> 4, i1 = b & 15;
        out[k + 0] = (int8_t)(i0 / 3 - 1);
        out[k + 1] = (int8_t)(i0 % 3 - 1);
        out[k + 2] = (int8_t)(i1 / 3 - 1);
        out[k + 3] = (int8_t)(i1 % 3 - 1);
    }
}

/* The four codes c = T + 1 of byte b, in element order: idx = 3*c0 + c1 in each nibble */
#define TL1_CODES4(b) {((b) >> 4) / 3, ((b) >> 4) % 3, ((b) & 15) / 3, ((b) & 15) % 3},
#define TL1_R4(b) TL1_CODES4(b) TL1_CODES4((b) + 1) TL1_CODES4((b) + 2) TL1_CODES4((b) + 3)
#define TL1_R16(b) TL1_R4(b) TL1_R4((b) + 4) TL1_R4((b) + 8) TL1_R4((b) + 12)
#define TL1_R64(b) TL1_R16(b) TL1_R16((b) + 16) TL1_R16((b) + 32) TL1_R16((b) + 48)
static const uint8_t TL1_CODES[256][4] = {TL1_R64(0) TL1_R64(64) TL1_R64(128) TL1_R64(192)};

/* Codes c = T + 1 of row m in element order (repack.c's input): decode_row's walk with the tile
 * arithmetic hoisted and the nibble division looked up. Returns -1 when a nibble is above 8 (no
 * converter writes one; the kernels decode it as the reference does, T up to 4, which 2-bit codes
 * cannot hold), else 0. */
int bc_tl1_row_codes(const bc_ternary *w, int64_t m, uint8_t *codes) {
    int64_t K = w->K, BM = w->BM, BK = w->BK, bm = w->bm, by = 256 / bm;
    int64_t iM = m / BM, rr = m % BM, ib = rr / bm, ir = (rr % bm) / 16, r = rr % 16;
    for (int64_t iK = 0; iK < K / BK; iK++)
        for (int64_t iy = 0; iy < BK / by; iy++) {
            int64_t group = ((iM * (K / BK) + iK) * (BM / bm) + ib) * (BK / by) + iy;
            const uint8_t *p = w->data + (group * (bm / 16) + ir) * (by / 4) * 16 + r;
            uint8_t *o = codes + iK * BK + iy * by;
            for (int64_t ip = 0; ip < by / 4; ip++) {
                uint8_t b = p[16 * ip];
                if ((b >> 4) > 8 || (b & 15) > 8) return -1;
                memcpy(o + 4 * ip, TL1_CODES[b], 4);
            }
        }
    return 0;
}

#if defined(__x86_64__)
/* ---------------- SIMD ----------------
 * The tile order already groups 16 rows x 4 neighbouring weights per 16 bytes (fixed iy, ir, ip):
 * after decoding each byte into the 4 codes [hi/3, hi%3, lo/3, lo%3] those 16 bytes are exactly a
 * VNNI vector (16 dwords = 16 rows). Panels of 32 rows are two consecutive ir groups of one ib
 * (bm is 32 or 64, BM a multiple of bm, so a 32-row panel never leaves a tile). Every N goes
 * through the shared GEMM engine (its 1-token micro-kernel for decode). */
#define KC_TARGET 1024

/* bytes of the sub-block (iM, iK, ib): BK/by groups of 64 bytes (bm*by/4 = 64) */
static inline const uint8_t *tl1_sub(const bc_ternary *w, int64_t iM, int64_t iK, int64_t ib) {
    int64_t nK = w->K / w->BK, nb = w->BM / w->bm;
    return w->data + ((iM * nK + iK) * nb + ib) * (w->BK / (256 / w->bm)) * 64;
}

static const int8_t DIV3[16] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5};
static const int8_t MOD3[16] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0};

static BC_TARGET_AVX512 inline __m512i decode16_512(const uint8_t *src, __m512i spread, __m512i shifts, __m512i nib,
                                                  __m512i div3, __m512i mod3) {
    __m512i v = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)src));
    __m512i t = _mm512_and_si512(_mm512_srlv_epi16(_mm512_shuffle_epi8(v, spread), shifts), nib);
    return _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(div3, t), 0xAAAAAAAAAAAAAAAAull, mod3, t);
}

static BC_TARGET_AVX512 void panel_avx512(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                          uint8_t *panel) {
    (void)rows; /* always 32: BM is a multiple of 32 */
    int64_t BM = w->BM, BK = w->BK, bm = w->bm;
    int64_t iM = m / BM, rr = m % BM, ib = rr / bm, ir0 = (rr % bm) / 16;
    const __m512i div3 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)DIV3));
    const __m512i mod3 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)MOD3));
    /* lane L, dword j <- byte 4L + j of the 16 (four copies) */
    const __m512i spread = _mm512_set_epi8(15, 15, 15, 15, 14, 14, 14, 14, 13, 13, 13, 13, 12, 12, 12, 12,
                                           11, 11, 11, 11, 10, 10, 10, 10, 9, 9, 9, 9, 8, 8, 8, 8,
                                           7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4,
                                           3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i shifts = _mm512_set1_epi32(0x00000004); /* word 0 (codes of the high nibble) >> 4 */
    const __m512i nib = _mm512_set1_epi8(0x0F);
    int64_t nK = w->K / BK, sublen = BK / (256 / bm) * 64;
    for (int64_t iK = k0 / BK; iK < (k0 + kc) / BK; iK++) {
        const uint8_t *sub = tl1_sub(w, iM, iK, ib);
        uint8_t *pk = panel + (iK * BK - k0) / 4 * 128;
        /* this panel reads one sub-block per iK, BM/bm sub-blocks apart: prefetch two ahead */
        if (iK + 2 < nK) {
            const uint8_t *nx = tl1_sub(w, iM, iK + 2, ib);
            for (int64_t o = 0; o < sublen; o += 64) _mm_prefetch((const char *)(nx + o), _MM_HINT_T0);
        }
        if (bm == 32) {
            /* by = 8: each 64-byte group iy = (ir 0, ip 0), (0, 1), (1, 0), (1, 1): k4 = 2iy + ip, half ir */
            for (int64_t iy = 0; iy < BK / 8; iy++, sub += 64, pk += 256) {
                _mm512_store_si512((void *)pk, decode16_512(sub, spread, shifts, nib, div3, mod3));
                _mm512_store_si512((void *)(pk + 128), decode16_512(sub + 16, spread, shifts, nib, div3, mod3));
                _mm512_store_si512((void *)(pk + 64), decode16_512(sub + 32, spread, shifts, nib, div3, mod3));
                _mm512_store_si512((void *)(pk + 192), decode16_512(sub + 48, spread, shifts, nib, div3, mod3));
            }
        } else {
            /* bm = 64, by = 4: group iy = ir 0..3 (ip 0); this panel's rows are ir0, ir0 + 1 */
            for (int64_t iy = 0; iy < BK / 4; iy++, sub += 64, pk += 128) {
                _mm512_store_si512((void *)pk, decode16_512(sub + 16 * ir0, spread, shifts, nib, div3, mod3));
                _mm512_store_si512((void *)(pk + 64), decode16_512(sub + 16 * ir0 + 16, spread, shifts, nib, div3, mod3));
            }
        }
    }
}

static int64_t tl1_kc(const bc_ternary *w) {
    int64_t n = KC_TARGET / w->BK;
    return w->BK * (n < 1 ? 1 : n);
}

/* ---- AVX-512 GEMV (one token): table lookup, as TL1 was designed for ----
 * Each nibble is a pair of weights, so per token every pair of columns gets the 16 int16 sums its
 * code can stand for (bc_lut_pair). A 64-byte group iy of a sub-block holds four 16-row x 4-weight
 * quarters j = (ir, ip) (bm 32: ir = j/2, ip = j%2; bm 64: ir = j, ip = 0); its tables put, per
 * 128-bit lane j, the pair of ip's high nibbles (columns 4ip, 4ip+1 of the group) in the first two
 * planes and of its low nibbles (4ip+2, 4ip+3) in the last two: 256 bytes per group of by columns.
 * After bc_lut_acc, quarter j of sa holds rows ir*16 + 0..7 and of sb rows ir*16 + 8..15. */
#define LUT_GROUP 256
#define LUT_FLUSH 32 /* groups between int16 -> int32 flushes: 32 * 2 pairs * 256 < 32768 */

static BC_TARGET_AVX2 void lut_tables(const bc_ternary *w, const int8_t *x, uint8_t *tab) {
    int64_t by = 256 / w->bm, nip = by / 4;
    for (int64_t gi = 0; gi < w->K / by; gi++)
        for (int j = 0; j < 4; j++) {
            const int8_t *xc = x + gi * by + 4 * (j % nip);
            uint8_t *o = tab + gi * LUT_GROUP + 16 * j;
            bc_lut_planes(bc_lut_pair(xc[0], xc[1]), o, o + 64);
            bc_lut_planes(bc_lut_pair(xc[2], xc[3]), o + 128, o + 192);
        }
}

/* rows a[0..7] += lo, a[8..15] += hi: one 16-row quarter's int16 sums widened into the tile's int32 sums */
static BC_TARGET_AVX2 inline void add_quarter(int32_t *a, __m128i lo, __m128i hi) {
    _mm256_storeu_si256((__m256i *)a, _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)a), _mm256_cvtepi16_epi32(lo)));
    _mm256_storeu_si256((__m256i *)(a + 8), _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(a + 8)), _mm256_cvtepi16_epi32(hi)));
}

/* quarter j of sa / sb holds rows ir*16 + 0..7 / 8..15 of quarter j, ir = j / nip */
static BC_TARGET_AVX512 inline void lut_flush(__m512i *sa, __m512i *sb, int64_t nip, int32_t *acc) {
    add_quarter(acc + (0 / nip) * 16, _mm512_extracti32x4_epi32(*sa, 0), _mm512_extracti32x4_epi32(*sb, 0));
    add_quarter(acc + (1 / nip) * 16, _mm512_extracti32x4_epi32(*sa, 1), _mm512_extracti32x4_epi32(*sb, 1));
    add_quarter(acc + (2 / nip) * 16, _mm512_extracti32x4_epi32(*sa, 2), _mm512_extracti32x4_epi32(*sb, 2));
    add_quarter(acc + (3 / nip) * 16, _mm512_extracti32x4_epi32(*sa, 3), _mm512_extracti32x4_epi32(*sb, 3));
    *sa = *sb = _mm512_setzero_si512();
}

/* bytes ahead in the weight stream (AVX-512 and AVX2; -DLUT_PF=N to tune): 4096 against 1024 made the
 * lookup GEMVs 15-30 % faster on a Zen 5 VM and whole-model decode 3-4 % faster on an AVX2 AMD VM */
#ifndef LUT_PF
#define LUT_PF 4096
#endif
static BC_TARGET_AVX512 void gemv_lut_avx512(const bc_ternary *w, const uint8_t *tab, int32_t *y, int64_t m0, int64_t m1) {
    int64_t BM = w->BM, BK = w->BK, bm = w->bm, by = 256 / bm, nK = w->K / BK, nb = BM / bm, niy = BK / by;
    const __m512i nib = _mm512_set1_epi8(0x0F);
    int32_t *acc = bc_scratch(3, sizeof(int32_t) * (size_t)BM);
    if (!acc) abort();
    for (int64_t iM = m0 / BM; iM * BM < m1; iM++) {
        memset(acc, 0, sizeof(int32_t) * (size_t)BM);
        const uint8_t *z = tl1_sub(w, iM, 0, 0); /* the tile's bytes in order: iK, ib, iy */
        for (int64_t iK = 0; iK < nK; iK++)
            for (int64_t ib = 0; ib < nb; ib++) {
                __m512i sa = _mm512_setzero_si512(), sb = sa;
                const uint8_t *t = tab + iK * niy * LUT_GROUP;
                for (int64_t iy = 0; iy < niy; iy++, z += 64, t += LUT_GROUP) {
                    _mm_prefetch((const char *)(z + LUT_PF), _MM_HINT_T0);
                    _mm_prefetch((const char *)(z + BC_LUT_PF_L2), _MM_HINT_T1);
                    __m512i Z = _mm512_loadu_si512((const void *)z);
                    bc_lut_acc(_mm512_and_si512(_mm512_srli_epi16(Z, 4), nib), t, 0, 0, &sa, &sb);
                    bc_lut_acc(_mm512_and_si512(Z, nib), t + 128, 0, 0, &sa, &sb);
                    if (iy % LUT_FLUSH == LUT_FLUSH - 1) lut_flush(&sa, &sb, by / 4, acc + ib * bm);
                }
                lut_flush(&sa, &sb, by / 4, acc + ib * bm);
            }
        memcpy(y + iM * BM, acc, sizeof(int32_t) * (size_t)BM);
    }
}

/* this thread's tables for token x (built unless already held) */
static uint8_t *token_tables(const bc_ternary *w, const int8_t *x) {
    int fresh;
    uint8_t *tab = bc_lut_tables(x, w->K, ((int64_t)BC_LAYOUT_TL1 << 32) | w->bm, (size_t)(w->K / (256 / w->bm)) * LUT_GROUP, &fresh);
    if (!tab) abort();
    if (fresh) lut_tables(w, x, tab);
    return tab;
}

int bc_tl1_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                         int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    if (N == 1) {
        gemv_lut_avx512(w, token_tables(w, x), y, m0, m1);
        return 0;
    }
    return bc_gemm_avx512(w, panel_avx512, tl1_kc(w), w->K, x, xsum, N, y, ldy, m0, m1, dq);
}

static BC_TARGET_AVX2 void panel_avx2(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                      uint8_t *panel) {
    (void)rows;
    int64_t BM = w->BM, BK = w->BK, bm = w->bm, by = 256 / bm;
    int64_t iM = m / BM, rr = m % BM, ib = rr / bm, ir0 = (rr % bm) / 16;
    const __m256i div3 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)DIV3));
    const __m256i mod3 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)MOD3));
    const __m256i spreadA = _mm256_set_epi8(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4,
                                            3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m256i spreadB = _mm256_add_epi8(spreadA, _mm256_set1_epi8(8));
    const __m256i hiN = _mm256_set1_epi32(0x00000F0F), loN = _mm256_set1_epi32(0x0F0F0000);
    const __m256i odd = _mm256_set1_epi16((short)0xFF00);
    for (int64_t iK = k0 / BK; iK < (k0 + kc) / BK; iK++) {
        const uint8_t *sub = tl1_sub(w, iM, iK, ib);
        for (int64_t iy = 0; iy < BK / by; iy++)
            for (int64_t ip = 0; ip < by / 4; ip++) {
                int64_t k4 = (iK * BK + iy * by + 4 * ip - k0) / 4;
                for (int h = 0; h < 2; h++) {
                    const uint8_t *src = sub + iy * 64 + ((ir0 + h) * (by / 4) + ip) * 16;
                    __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)src));
                    for (int q = 0; q < 2; q++) {
                        __m256i sp = _mm256_shuffle_epi8(v, q ? spreadB : spreadA);
                        __m256i t = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(sp, 4), hiN), _mm256_and_si256(sp, loN));
                        __m256i c = _mm256_blendv_epi8(_mm256_shuffle_epi8(div3, t), _mm256_shuffle_epi8(mod3, t), odd);
                        _mm256_store_si256((__m256i *)(panel + k4 * 128 + 64 * h + 32 * q), c);
                    }
                }
            }
    }
}

/* ---- AVX2 GEMV (one token): the same tables; a group's two 32-byte halves h hold quarters 2h, 2h+1
 * (one per 128-bit lane), so lane L of sa[h] / sb[h] is rows ir*16 + 0..7 / 8..15 of quarter 2h + L. */
static BC_TARGET_AVX2 inline void lut_flush256(__m256i *sa, __m256i *sb, int64_t nip, int32_t *acc) {
    add_quarter(acc + (0 / nip) * 16, _mm256_castsi256_si128(sa[0]), _mm256_castsi256_si128(sb[0]));
    add_quarter(acc + (1 / nip) * 16, _mm256_extracti128_si256(sa[0], 1), _mm256_extracti128_si256(sb[0], 1));
    add_quarter(acc + (2 / nip) * 16, _mm256_castsi256_si128(sa[1]), _mm256_castsi256_si128(sb[1]));
    add_quarter(acc + (3 / nip) * 16, _mm256_extracti128_si256(sa[1], 1), _mm256_extracti128_si256(sb[1], 1));
    sa[0] = sa[1] = sb[0] = sb[1] = _mm256_setzero_si256();
}

static BC_TARGET_AVX2 void gemv_lut_avx2(const bc_ternary *w, const uint8_t *tab, int32_t *y, int64_t m0, int64_t m1) {
    int64_t BM = w->BM, BK = w->BK, bm = w->bm, by = 256 / bm, nK = w->K / BK, nb = BM / bm, niy = BK / by;
    const __m256i nib = _mm256_set1_epi8(0x0F);
    int32_t *acc = bc_scratch(3, sizeof(int32_t) * (size_t)BM);
    if (!acc) abort();
    for (int64_t iM = m0 / BM; iM * BM < m1; iM++) {
        memset(acc, 0, sizeof(int32_t) * (size_t)BM);
        const uint8_t *z = tl1_sub(w, iM, 0, 0);
        for (int64_t iK = 0; iK < nK; iK++)
            for (int64_t ib = 0; ib < nb; ib++) {
                __m256i sa[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()}, sb[2] = {sa[0], sa[0]};
                const uint8_t *t = tab + iK * niy * LUT_GROUP;
                for (int64_t iy = 0; iy < niy; iy++, z += 64, t += LUT_GROUP) {
                    _mm_prefetch((const char *)(z + LUT_PF), _MM_HINT_T0);
                    _mm_prefetch((const char *)(z + BC_LUT_PF_L2), _MM_HINT_T1);
                    for (int h = 0; h < 2; h++) {
                        __m256i Z = _mm256_loadu_si256((const __m256i *)(z + 32 * h));
                        bc_lut_acc256(_mm256_and_si256(_mm256_srli_epi16(Z, 4), nib), t + 32 * h, t + 64 + 32 * h, &sa[h], &sb[h]);
                        bc_lut_acc256(_mm256_and_si256(Z, nib), t + 128 + 32 * h, t + 192 + 32 * h, &sa[h], &sb[h]);
                    }
                    if (iy % LUT_FLUSH == LUT_FLUSH - 1) lut_flush256(sa, sb, by / 4, acc + ib * bm);
                }
                lut_flush256(sa, sb, by / 4, acc + ib * bm);
            }
        memcpy(y + iM * BM, acc, sizeof(int32_t) * (size_t)BM);
    }
}

int bc_tl1_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                       int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    if (N == 1) {
        gemv_lut_avx2(w, token_tables(w, x), y, m0, m1);
        return 0;
    }
    return bc_gemm_avx2(w, panel_avx2, tl1_kc(w), w->K, x, xsum, N, y, ldy, m0, m1, dq);
}
#endif /* __x86_64__ */

#if defined(__aarch64__)
/* ---------------- ARM ----------------
 * Table lookup, what TL1 was made for. A 16-byte vector of a sub-block is 16 rows x 4 neighbouring
 * weights (fixed iy, ir, ip); its high nibbles are the codes of columns (k, k+1), its low nibbles of
 * (k+2, k+3). Per token, each group of 4 columns g = k/4 has 64 bytes of tables: the pair (k, k+1)'s
 * low and high planes, then (k+2, k+3)'s (bc_lut_pair_neon). Per 16 weight bytes and token: 4 tbl,
 * 4 uaddw, 2 add, against 2 shifts/ands shared by all tokens of a pass. Up to LUT_TOKENS tokens share
 * one pass over the weights; a thread builds a batch's tables once (bc_lut_tables' cache) and the
 * q/k/v or gate/up matmuls and every row unit of the thread reuse them. */
#define LUT_GROUP_NEON 64   /* table bytes per 4 columns per token */
#define LUT_TOKENS 4        /* tokens per pass over the weights */
#define LUT_CHUNK 16        /* tokens per set of tables */

/* bytes of the sub-block (iM, iK, ib): BK/by groups of 64 bytes */
static inline const uint8_t *tl1_sub_arm(const bc_ternary *w, int64_t iM, int64_t iK, int64_t ib) {
    return w->data + ((iM * (w->K / w->BK) + iK) * (w->BM / w->bm) + ib) * (w->BK / (256 / w->bm)) * 64;
}

static void lut_tables_neon(const int8_t *x, int64_t K, uint8_t *tab) {
    for (int64_t g = 0; g < K / 4; g++) {
        bc_lut_pair_neon(x[4 * g], x[4 * g + 1], tab + g * LUT_GROUP_NEON);
        bc_lut_pair_neon(x[4 * g + 2], x[4 * g + 3], tab + g * LUT_GROUP_NEON + 32);
    }
}

/* the tables of the N tokens x, token n's at + n * K/4 * 64 (built unless this thread holds them) */
static const uint8_t *batch_tables_neon(const bc_ternary *w, const int8_t *x, int64_t N) {
    int fresh;
    size_t per = (size_t)(w->K / 4) * LUT_GROUP_NEON;
    uint8_t *tab = bc_lut_tables(x, N * w->K, (int64_t)BC_LAYOUT_TL1 << 32, per * (size_t)N, &fresh);
    if (!tab) abort();
    if (fresh)
        for (int64_t n = 0; n < N; n++) lut_tables_neon(x + n * w->K, w->K, tab + (size_t)n * per);
    return tab;
}

/* Rows ir*16 .. +15 of sub-block (iM, iK, ib) for nt tokens: acc[n*BM + row in tile] += sums.
 * A row group gets 2 * by/4 <= 4 lookups per iy, |hi| <= 3: flushing every 8 iy keeps the int8 high
 * sums within 96 and the uint16 low sums within 8160. */
static inline __attribute__((always_inline)) void rowgroup_neon(const bc_ternary *w, const uint8_t *sub, int64_t ir,
                                                                const uint8_t *tab, size_t tstride, int64_t g0,
                                                                int nt, int32_t *acc, int64_t row) {
    int64_t bm = w->bm, by = 256 / bm, nip = by / 4, niy = w->BK / by;
    const uint8x16_t nib = vdupq_n_u8(0x0F);
    const int8x16_t zero = vdupq_n_s8(0);
    bc_lut_acc_neon a[LUT_TOKENS];
    for (int n = 0; n < nt; n++) bc_lut_zero_neon(&a[n]);
    for (int64_t iy = 0; iy < niy; iy++) {
        for (int64_t ip = 0; ip < nip; ip++) {
            uint8x16_t Z = vld1q_u8(sub + iy * 64 + (ir * nip + ip) * 16);
            uint8x16_t ch = vshrq_n_u8(Z, 4), cl = vandq_u8(Z, nib);
            const uint8_t *t = tab + (g0 + iy * nip + ip) * LUT_GROUP_NEON;
            for (int n = 0; n < nt; n++) {
                bc_lut_add_neon(&a[n], t + n * tstride, ch);
                bc_lut_add_neon(&a[n], t + n * tstride + 32, cl);
            }
        }
        if (iy % 8 == 7 || iy == niy - 1)
            for (int n = 0; n < nt; n++) bc_lut_flush_neon(&a[n], zero, acc + n * w->BM + row, acc + n * w->BM + row + 8);
    }
}

static void lut_matmul_neon(const bc_ternary *w, const uint8_t *tab, int64_t N, int32_t *y, int64_t ldy,
                            int64_t m0, int64_t m1) {
    int64_t BM = w->BM, BK = w->BK, bm = w->bm, nK = w->K / BK, nb = BM / bm;
    size_t tstride = (size_t)(w->K / 4) * LUT_GROUP_NEON;
    int32_t *acc = bc_scratch(3, sizeof(int32_t) * (size_t)(BM * LUT_TOKENS));
    if (!acc) abort();
    for (int64_t iM = m0 / BM; iM * BM < m1; iM++)
        for (int64_t n0 = 0; n0 < N; n0 += LUT_TOKENS) {
            int nt = N - n0 < LUT_TOKENS ? (int)(N - n0) : LUT_TOKENS;
            const uint8_t *tn = tab + (size_t)n0 * tstride;
            memset(acc, 0, sizeof(int32_t) * (size_t)(BM * nt));
            for (int64_t iK = 0; iK < nK; iK++)
                for (int64_t ib = 0; ib < nb; ib++) {
                    const uint8_t *sub = tl1_sub_arm(w, iM, iK, ib);
                    for (int64_t ir = 0; ir < bm / 16; ir++) {
                        int64_t row = ib * bm + ir * 16, g0 = iK * BK / 4;
                        switch (nt) { /* one specialised copy per token count */
                        case 1: rowgroup_neon(w, sub, ir, tn, tstride, g0, 1, acc, row); break;
                        case 2: rowgroup_neon(w, sub, ir, tn, tstride, g0, 2, acc, row); break;
                        case 3: rowgroup_neon(w, sub, ir, tn, tstride, g0, 3, acc, row); break;
                        default: rowgroup_neon(w, sub, ir, tn, tstride, g0, 4, acc, row); break;
                        }
                    }
                }
            for (int n = 0; n < nt; n++) memcpy(y + (n0 + n) * ldy + iM * BM, acc + n * BM, sizeof(int32_t) * (size_t)BM);
        }
}

void bc_tl1_matmul_neon(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                        int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    (void)xsum;
    /* tables are 16 bytes per activation byte: a long batch goes LUT_CHUNK tokens at a time */
    for (int64_t n0 = 0; n0 < N; n0 += LUT_CHUNK) {
        int64_t nc = N - n0 < LUT_CHUNK ? N - n0 : LUT_CHUNK;
        lut_matmul_neon(w, batch_tables_neon(w, x + n0 * w->K, nc), nc, y + n0 * ldy, ldy, m0, m1);
    }
}

/* ---- dotprod / i8mm: the batched GEMM (N >= GEMM_MIN_N) decodes to int8 and multiplies ----
 * A row group (16 rows of one sub-block) is decoded chunk by chunk into a panel in L1: per 4 columns
 * four vectors of 4 rows x 4 weights (T values, exact for every nibble as the scalar decode), which
 * are SDOT's operands as they stand (acc[row] += dot4(weights, broadcast x[n][k..k+3])); i8mm zips two
 * of them into 2 rows x 8 weights for SMMLA against 2 tokens x 8 activations. The panel then serves
 * every token of the batch, 4 per pass: per 16 weight bytes and token, 4 SDOT (or 2 SMMLA), and the
 * decode (2 shifts, 4 tbl, 8 zips) once per row group for all tokens. Below GEMM_MIN_N tokens the
 * table lookup above costs fewer instructions per weight. */
#define GEMM_MIN_N 4
#define GEMM_KC 1024 /* columns per panel: 16 KB */

static inline void decode16_arm(const uint8_t *z, int8x16_t div, int8x16_t mod, int8x16_t W[4]) {
    uint8x16_t Z = vld1q_u8(z), ch = vshrq_n_u8(Z, 4), cl = vandq_u8(Z, vdupq_n_u8(0x0F));
    int8x16_t A = vqtbl1q_s8(div, ch), B = vqtbl1q_s8(mod, ch), C = vqtbl1q_s8(div, cl), D = vqtbl1q_s8(mod, cl);
    int16x8_t ab0 = vreinterpretq_s16_s8(vzip1q_s8(A, B)), ab1 = vreinterpretq_s16_s8(vzip2q_s8(A, B));
    int16x8_t cd0 = vreinterpretq_s16_s8(vzip1q_s8(C, D)), cd1 = vreinterpretq_s16_s8(vzip2q_s8(C, D));
    W[0] = vreinterpretq_s8_s16(vzip1q_s16(ab0, cd0));
    W[1] = vreinterpretq_s8_s16(vzip2q_s16(ab0, cd0));
    W[2] = vreinterpretq_s8_s16(vzip1q_s16(ab1, cd1));
    W[3] = vreinterpretq_s8_s16(vzip2q_s16(ab1, cd1));
}

/* rows row0 .. +15 of the tile (ib, ir), columns [k0, k0 + kc) (whole tiles BK): panel[k/4 * 64 + 16q]
 * = rows 4q..4q+3 x columns k..k+3; with pairs, zipped to panel[k/8 * 128 + 16p] = rows 2p, 2p+1 x 8 */
static void panel_arm(const bc_ternary *w, int64_t iM, int64_t ib, int64_t ir, int64_t k0, int64_t kc, int pairs,
                      int8_t *panel) {
    static const int8_t D3[16] = {-1, -1, -1, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4};
    static const int8_t M3[16] = {-1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1};
    const int8x16_t div = vld1q_s8(D3), mod = vld1q_s8(M3);
    int64_t BK = w->BK, by = 256 / w->bm, nip = by / 4;
    for (int64_t iK = k0 / BK; iK < (k0 + kc) / BK; iK++) {
        const uint8_t *sub = tl1_sub_arm(w, iM, iK, ib);
        for (int64_t iy = 0; iy < BK / by; iy++)
            for (int64_t ip = 0; ip < nip; ip++) {
                int64_t k = iK * BK + iy * by + 4 * ip - k0;
                int8x16_t W[4];
                decode16_arm(sub + iy * 64 + (ir * nip + ip) * 16, div, mod, W);
                if (!pairs) {
                    for (int q = 0; q < 4; q++) vst1q_s8(panel + k / 4 * 64 + 16 * q, W[q]);
                    continue;
                }
                /* columns k % 8 == 0 park in the first half of their 8-column block, k % 8 == 4 zip */
                int8_t *o = panel + k / 8 * 128;
                if (k % 8 == 0) {
                    for (int q = 0; q < 4; q++) vst1q_s8(o + 16 * q, W[q]);
                } else
                    for (int q = 3; q >= 0; q--) {
                        int32x4_t lo = vreinterpretq_s32_s8(vld1q_s8(o + 16 * q)), hi = vreinterpretq_s32_s8(W[q]);
                        vst1q_s8(o + 32 * q, vreinterpretq_s8_s32(vzip1q_s32(lo, hi)));
                        vst1q_s8(o + 32 * q + 16, vreinterpretq_s8_s32(vzip2q_s32(lo, hi)));
                    }
            }
    }
}

static inline int32x4_t bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return vdupq_n_s32(v);
}

/* y rows row0..+15 of nt tokens (x, y already offset to the first) += (or =, first) the panel's sums */
static inline __attribute__((always_inline)) BC_TARGET_DOTPROD void sdot_tokens(const int8_t *panel, int64_t kc,
        const int8_t *x, int64_t K, int nt, int32_t *y, int64_t ldy, int first) {
    int32x4_t acc[4][4];
    for (int n = 0; n < nt; n++)
        for (int q = 0; q < 4; q++) acc[n][q] = first ? vdupq_n_s32(0) : vld1q_s32(y + n * ldy + 4 * q);
    for (int64_t k4 = 0; k4 < kc / 4; k4++) {
        int8x16_t W0 = vld1q_s8(panel + k4 * 64), W1 = vld1q_s8(panel + k4 * 64 + 16);
        int8x16_t W2 = vld1q_s8(panel + k4 * 64 + 32), W3 = vld1q_s8(panel + k4 * 64 + 48);
        for (int n = 0; n < nt; n++) {
            int8x16_t xv = vreinterpretq_s8_s32(bcast4(x + n * K + 4 * k4));
            BC_SDOT(acc[n][0], W0, xv);
            BC_SDOT(acc[n][1], W1, xv);
            BC_SDOT(acc[n][2], W2, xv);
            BC_SDOT(acc[n][3], W3, xv);
        }
    }
    for (int n = 0; n < nt; n++)
        for (int q = 0; q < 4; q++) vst1q_s32(y + n * ldy + 4 * q, acc[n][q]);
}

/* the same with SMMLA for np pairs of tokens (xs[2j], xs[2j+1]: 8-byte loads at + k); a pair's
 * second token may be a zero row (ys NULL: not stored) */
static inline __attribute__((always_inline)) BC_TARGET_I8MM void smmla_tokens(const int8_t *panel, int64_t kc,
        const int8_t *const *xs, int np, int32_t *const *ys, int first) {
    int32x4_t acc[2][8];
    for (int j = 0; j < np; j++)
        for (int p = 0; p < 8; p++) acc[j][p] = vdupq_n_s32(0);
    for (int64_t k8 = 0; k8 < kc / 8; k8++) {
        int8x16_t W[8];
        for (int p = 0; p < 8; p++) W[p] = vld1q_s8(panel + k8 * 128 + 16 * p);
        for (int j = 0; j < np; j++) {
            int8x16_t B = vcombine_s8(vld1_s8(xs[2 * j] + 8 * k8), vld1_s8(xs[2 * j + 1] + 8 * k8));
            for (int p = 0; p < 8; p++) BC_SMMLA(acc[j][p], W[p], B);
        }
    }
    /* acc[j][p] = [row 2p of token a, of b, row 2p+1 of a, of b] */
    for (int j = 0; j < np; j++)
        for (int t = 0; t < 2; t++) {
            int32_t *yo = ys[2 * j + t];
            if (!yo) continue;
            for (int q = 0; q < 4; q++) {
                int32x4_t v = t ? vuzp2q_s32(acc[j][2 * q], acc[j][2 * q + 1]) : vuzp1q_s32(acc[j][2 * q], acc[j][2 * q + 1]);
                vst1q_s32(yo + 4 * q, first ? v : vaddq_s32(v, vld1q_s32(yo + 4 * q)));
            }
        }
}

static int64_t gemm_kc(const bc_ternary *w) {
    int64_t n = GEMM_KC / w->BK;
    return w->BK * (n < 1 ? 1 : n);
}

static BC_TARGET_DOTPROD void gemm_dotprod(const bc_ternary *w, const int8_t *x, int64_t N, int32_t *y, int64_t ldy,
                                           int64_t m0, int64_t m1) {
    int64_t K = w->K, BM = w->BM, bm = w->bm, kcmax = gemm_kc(w);
    int8_t *panel = bc_scratch(1, (size_t)(16 * kcmax));
    if (!panel) abort();
    for (int64_t m = m0; m < m1; m += 16) {
        int64_t iM = m / BM, ib = (m % BM) / bm, ir = (m % bm) / 16;
        for (int64_t k0 = 0; k0 < K; k0 += kcmax) {
            int64_t kc = K - k0 < kcmax ? K - k0 : kcmax;
            panel_arm(w, iM, ib, ir, k0, kc, 0, panel);
            for (int64_t n0 = 0; n0 < N; n0 += 4) {
                const int8_t *xn = x + n0 * K + k0;
                int32_t *yn = y + n0 * ldy + m;
                switch (N - n0 < 4 ? N - n0 : 4) {
                case 1: sdot_tokens(panel, kc, xn, K, 1, yn, ldy, k0 == 0); break;
                case 2: sdot_tokens(panel, kc, xn, K, 2, yn, ldy, k0 == 0); break;
                case 3: sdot_tokens(panel, kc, xn, K, 3, yn, ldy, k0 == 0); break;
                default: sdot_tokens(panel, kc, xn, K, 4, yn, ldy, k0 == 0); break;
                }
            }
        }
    }
}

static BC_TARGET_I8MM void gemm_i8mm(const bc_ternary *w, const int8_t *x, int64_t N, int32_t *y, int64_t ldy,
                                     int64_t m0, int64_t m1) {
    int64_t K = w->K, BM = w->BM, bm = w->bm, kcmax = gemm_kc(w);
    int8_t *panel = bc_scratch(1, (size_t)(16 * kcmax)), *zero = bc_scratch(2, (size_t)K);
    if (!panel || !zero) abort();
    memset(zero, 0, (size_t)K);
    for (int64_t m = m0; m < m1; m += 16) {
        int64_t iM = m / BM, ib = (m % BM) / bm, ir = (m % bm) / 16;
        for (int64_t k0 = 0; k0 < K; k0 += kcmax) {
            int64_t kc = K - k0 < kcmax ? K - k0 : kcmax;
            panel_arm(w, iM, ib, ir, k0, kc, 1, panel);
            for (int64_t n0 = 0; n0 < N; n0 += 4) {
                const int8_t *xs[4];
                int32_t *ys[4];
                int nt = N - n0 < 4 ? (int)(N - n0) : 4;
                for (int t = 0; t < 4; t++) {
                    xs[t] = t < nt ? x + (n0 + t) * K + k0 : zero;
                    ys[t] = t < nt ? y + (n0 + t) * ldy + m : NULL;
                }
                if (nt > 2) smmla_tokens(panel, kc, xs, 2, ys, k0 == 0);
                else smmla_tokens(panel, kc, xs, 1, ys, k0 == 0);
            }
        }
    }
}

void bc_tl1_matmul_dotprod(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                           int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    if (N < GEMM_MIN_N) {
        bc_tl1_matmul_neon(w, x, xsum, N, y, ldy, m0, m1);
        return;
    }
    gemm_dotprod(w, x, N, y, ldy, m0, m1);
}

void bc_tl1_matmul_i8mm(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                        int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    if (N < GEMM_MIN_N) {
        bc_tl1_matmul_neon(w, x, xsum, N, y, ldy, m0, m1);
        return;
    }
    if (w->BK % 8) { /* SMMLA takes 8 columns at a time; a panel chunk is whole tiles */
        gemm_dotprod(w, x, N, y, ldy, m0, m1);
        return;
    }
    gemm_i8mm(w, x, N, y, ldy, m0, m1);
}
#endif /* __aarch64__ */
