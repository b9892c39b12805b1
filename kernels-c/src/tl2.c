/* TL2 (formats/tl2.md): bm = 32, columns < K3 = K - K%BK in triples t = 9*T0 + 3*T1 + T2
 * stored as a magnitude nibble stream, then sign units, then a TL1-like 2-weight tail over the last
 * K2 = K%BK columns. PERM = [0,2,1,3] swaps 8-row groups 1 and 2 of every 32-row chunk. */
#include "simd.h"
#include <stdlib.h>

static const int PERM[4] = {0, 2, 1, 3};

bc_tl2_geom bc_tl2_geometry(const bc_ternary *w) {
    bc_tl2_geom g;
    int64_t M = w->M, K = w->K;
    g.K2 = K % w->BK;
    g.K3 = K - g.K2;
    g.mag_off = 0;
    g.sign_off = M * g.K3 / 6;
    g.tail_off = g.sign_off + M * g.K3 / 24;
    g.end = g.tail_off + M * g.K2 / 4;
    return g;
}

void bc_tl2_decode_row(const bc_ternary *w, int64_t m, int8_t *out) {
    int64_t BM = w->BM, BK = w->BK;
    bc_tl2_geom g = bc_tl2_geometry(w);
    int64_t iM = m / BM, rr = m % BM, ib = rr / 32, r32 = rr % 32;
    int64_t p = PERM[r32 / 8] * 8 + r32 % 8; /* PERM is its own inverse */
    int64_t nK = g.K3 / BK;
    const uint8_t *d = w->data;
    for (int64_t t = 0; t < g.K3 / 3; t++) { /* triple t covers columns 3t..3t+2 */
        int64_t iK = t / (BK / 3), tl = t % (BK / 3), iy = tl / 2;
        int64_t moff = g.mag_off + (((iM * nK + iK) * (BM / 32) + ib) * (BK / 6) + iy) * 32 + p;
        int mag = (tl % 2 == 0) ? d[moff] >> 4 : d[moff] & 15;
        int64_t ig = tl / 8, i = 2 * (tl % 8) + r32 / 16, c = r32 % 16;
        int64_t soff = g.sign_off + ((((iM * nK + iK) * (BM / 32) + ib) * (BK / 24) + ig) * 32) + 2 * c;
        unsigned word = (unsigned)d[soff] | (unsigned)d[soff + 1] << 8;
        int s = (word >> (15 - i)) & 1;
        int u = (s ? -mag : mag) + 13;
        out[3 * t + 0] = (int8_t)(u / 9 - 1);
        out[3 * t + 1] = (int8_t)((u / 3) % 3 - 1);
        out[3 * t + 2] = (int8_t)(u % 3 - 1);
    }
    int64_t nK2 = g.K2 / 32;
    for (int64_t j = 0; j < g.K2 / 2; j += 2) { /* pairs j, j+1: columns K3 + 2j .. K3 + 2j + 3 */
        int64_t iK2 = j / 16, iy = (j % 16) / 2;
        int64_t off = g.tail_off + (((iM * nK2 + iK2) * (BM / 32) + ib) * 8 + iy) * 32 + p;
        uint8_t b = d[off];
        int i0 = b >> 4, i1 = b & 15;
        int8_t *o = out + g.K3 + 2 * j;
        o[0] = (int8_t)(i0 / 3 - 1);
        o[1] = (int8_t)(i0 % 3 - 1);
        o[2] = (int8_t)(i1 / 3 - 1);
        o[3] = (int8_t)(i1 % 3 - 1);
    }
}

#if defined(__x86_64__)
/* ---------------- SIMD ----------------
 * A "unit" = one sign unit (iM, iK, ib, ig): 32 rows x 8 triples (24 columns), whose magnitudes
 * are the 4 consecutive 32-byte groups iy = 4ig..4ig+3 (hi nibble = triple 2*iy', lo = 2*iy'+1).
 * AVX-512: Z0 = [iy0 | iy2], Z1 = [iy1 | iy3] so the nibble vectors hold triples (0|4), (1|5),
 * (2|6), (3|7); each digit d of each triple is one pshufb on the magnitude (codes of +|t| or, under
 * the sign mask, of -|t|); the codes are zipped 4 to a dword so that both 256-bit halves give
 * natural column order (half 0: columns 0..11, half 1: 12..23), and the 8-row group swap (PERM)
 * is undone when the 128-bit row quads are put together. Every N goes through the GEMM engine.
 * The 2-weight tail (columns K3..K-1) decodes like TL1 with rows in PERM order. */
#define KC_TARGET 1024

static const int8_t DIV3[16] = {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5};
static const int8_t MOD3[16] = {0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0};
/* code of digit d (0 = most significant) of the triple with magnitude mag, positive / negative */
static int8_t POS[3][16], NEG[3][16];
/* T value (digit - 1) of digit d of the triple 13 + mag, as int16 factors for the lookup tables (the
 * scalar decode's arithmetic, also for nibbles that valid data never holds) */
static int16_t TRIPLE_T[3][16];
static void init_tables(void) {
    for (int i = 0; i < 16; i++) {
        int u = 13 + i;
        TRIPLE_T[0][i] = (int16_t)(u / 9 - 1); TRIPLE_T[1][i] = (int16_t)(u / 3 % 3 - 1); TRIPLE_T[2][i] = (int16_t)(u % 3 - 1);
    }
    for (int mag = 0; mag < 16; mag++) {
        int up = 13 + mag, un = 13 - mag;
        if (un < 0) un = 0; /* magnitudes > 13 never occur in valid data */
        POS[0][mag] = (int8_t)(up / 9); POS[1][mag] = (int8_t)(up / 3 % 3); POS[2][mag] = (int8_t)(up % 3);
        NEG[0][mag] = (int8_t)(un / 9); NEG[1][mag] = (int8_t)(un / 3 % 3); NEG[2][mag] = (int8_t)(un % 3);
    }
}
#include <pthread.h>
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static int64_t tl2_kc(const bc_ternary *w) {
    int64_t n = KC_TARGET / w->BK;
    return w->BK * (n < 1 ? 1 : n);
}

/* Panel of rows [m, m+32) x columns [k0, k0+kc): kc is a multiple of BK below K3, or the tail. */
typedef void (*unit_fn)(const uint8_t *mag, const uint8_t *sgn, uint8_t *panel, int64_t kb);
typedef void (*tail_fn)(const uint8_t *grp, uint8_t *panel, int64_t kb);
static inline void panel_generic(const bc_ternary *w, int64_t m, int64_t k0, int64_t kc, uint8_t *panel,
                                 unit_fn unit, tail_fn tail) {
    int64_t BM = w->BM, BK = w->BK;
    bc_tl2_geom g = bc_tl2_geometry(w);
    int64_t iM = m / BM, ib = (m % BM) / 32, nK = g.K3 / BK, nb = BM / 32;
    const uint8_t *d = w->data;
    if (k0 < g.K3) {
        for (int64_t iK = k0 / BK; iK < (k0 + kc) / BK; iK++) {
            if (iK + 2 < nK) { /* this panel's bytes of iK + 2: BK/6*32 magnitude, BK/24*32 sign bytes */
                const uint8_t *nm = d + g.mag_off + ((iM * nK + iK + 2) * nb + ib) * (BK / 6) * 32;
                const uint8_t *ns = d + g.sign_off + ((iM * nK + iK + 2) * nb + ib) * (BK / 24) * 32;
                for (int64_t o = 0; o < BK / 6 * 32; o += 64) _mm_prefetch((const char *)(nm + o), _MM_HINT_T0);
                for (int64_t o = 0; o < BK / 24 * 32; o += 64) _mm_prefetch((const char *)(ns + o), _MM_HINT_T0);
            }
            for (int64_t ig = 0; ig < BK / 24; ig++) {
                const uint8_t *mag = d + g.mag_off + (((iM * nK + iK) * nb + ib) * (BK / 6) + 4 * ig) * 32;
                const uint8_t *sgn = d + g.sign_off + (((iM * nK + iK) * nb + ib) * (BK / 24) + ig) * 32;
                unit(mag, sgn, panel, iK * BK + 24 * ig - k0);
            }
        }
    } else {
        int64_t nK2 = g.K2 / 32;
        for (int64_t iK2 = 0; iK2 < nK2; iK2++)
            for (int64_t iy = 0; iy < 8; iy++)
                tail(d + g.tail_off + (((iM * nK2 + iK2) * nb + ib) * 8 + iy) * 32, panel, iK2 * 32 + 4 * iy);
    }
}

/* ---- AVX-512 ---- */
static BC_TARGET_AVX512 inline void zip4_store(__m512i A, __m512i B, __m512i C, __m512i D, uint8_t *panel,
                                               int64_t k4a, int64_t k4b) {
    __m512i ab_lo = _mm512_unpacklo_epi8(A, B), ab_hi = _mm512_unpackhi_epi8(A, B);
    __m512i cd_lo = _mm512_unpacklo_epi8(C, D), cd_hi = _mm512_unpackhi_epi8(C, D);
    __m512i O0 = _mm512_unpacklo_epi16(ab_lo, cd_lo), O1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
    __m512i O2 = _mm512_unpacklo_epi16(ab_hi, cd_hi), O3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
    /* O_j, 128-bit lane L: p-rows 16*(L%2) + 4j .. +3 of half L/2; natural rows 0..15 are p-rows
     * 0..7, 16..23 and rows 16..31 are p-rows 8..15, 24..31 */
    const __m512i i0 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0), i1 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
    _mm512_store_si512((void *)(panel + k4a * 128), _mm512_permutex2var_epi64(O0, i0, O1));
    _mm512_store_si512((void *)(panel + k4a * 128 + 64), _mm512_permutex2var_epi64(O2, i0, O3));
    _mm512_store_si512((void *)(panel + k4b * 128), _mm512_permutex2var_epi64(O0, i1, O1));
    _mm512_store_si512((void *)(panel + k4b * 128 + 64), _mm512_permutex2var_epi64(O2, i1, O3));
}

static BC_TARGET_AVX512 void unit_avx512(const uint8_t *mag, const uint8_t *sgn, uint8_t *panel, int64_t kb) {
    const __m512i nib = _mm512_set1_epi8(0x0F);
    __m512i Z0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)mag)),
                                    _mm256_loadu_si256((const __m256i *)(mag + 64)), 1);
    __m512i Z1 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(mag + 32))),
                                    _mm256_loadu_si256((const __m256i *)(mag + 96)), 1);
    __m512i N[4];
    N[0] = _mm512_and_si512(_mm512_srli_epi16(Z0, 4), nib); /* triples 0 | 4 */
    N[1] = _mm512_and_si512(Z0, nib);                       /* 1 | 5 */
    N[2] = _mm512_and_si512(_mm512_srli_epi16(Z1, 4), nib); /* 2 | 6 */
    N[3] = _mm512_and_si512(Z1, nib);                       /* 3 | 7 */
    /* sign word of each p-lane's row, shifted so triple tl's bit is bit 15 - 2*tl */
    const __m512i widx = _mm512_set_epi16(15, 14, 13, 12, 11, 10, 9, 8, 15, 14, 13, 12, 11, 10, 9, 8,
                                          7, 6, 5, 4, 3, 2, 1, 0, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i wsh = _mm512_set_epi16(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0,
                                         1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512i W = _mm512_sllv_epi16(_mm512_permutexvar_epi16(widx, _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)sgn))), wsh);
    __mmask32 ms[8];
    for (int tl = 0; tl < 8; tl++) ms[tl] = _mm512_test_epi16_mask(W, _mm512_set1_epi16((short)(1u << (15 - 2 * tl))));
    __m512i C[4][3];
    for (int n = 0; n < 4; n++) {
        __mmask64 k = (__mmask64)ms[n] | (__mmask64)ms[n + 4] << 32;
        for (int d = 0; d < 3; d++) {
            __m512i pos = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)POS[d]));
            __m512i neg = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)NEG[d]));
            C[n][d] = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(pos, N[n]), k, neg, N[n]);
        }
    }
    int64_t k4 = kb / 4;
    zip4_store(C[0][0], C[0][1], C[0][2], C[1][0], panel, k4 + 0, k4 + 3);
    zip4_store(C[1][1], C[1][2], C[2][0], C[2][1], panel, k4 + 1, k4 + 4);
    zip4_store(C[2][2], C[3][0], C[3][1], C[3][2], panel, k4 + 2, k4 + 5);
}

static BC_TARGET_AVX512 void tail_avx512(const uint8_t *grp, uint8_t *panel, int64_t kb) {
    const __m512i div3 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)DIV3));
    const __m512i mod3 = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)MOD3));
    /* source lanes [bytes 0-15, 0-15, 16-31, 16-31]; rows 0..15 take local bytes 4*(L%2)+j,
     * rows 16..31 local bytes 8 + 4*(L%2) + j (PERM: rows 8..15 are p 16..23, 16..23 are p 8..15) */
    const __m512i sp0 = _mm512_set_epi8(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0,
                                        7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4, 3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i sp1 = _mm512_add_epi8(sp0, _mm512_set1_epi8(8));
    __m256i yv = _mm256_loadu_si256((const __m256i *)grp);
    __m512i v = _mm512_shuffle_i64x2(_mm512_castsi256_si512(yv), _mm512_castsi256_si512(yv), 0x50);
    const __m512i shifts = _mm512_set1_epi32(4), nib = _mm512_set1_epi8(0x0F);
    const __mmask64 odd = 0xAAAAAAAAAAAAAAAAull;
    for (int h = 0; h < 2; h++) {
        __m512i t = _mm512_and_si512(_mm512_srlv_epi16(_mm512_shuffle_epi8(v, h ? sp1 : sp0), shifts), nib);
        __m512i c = _mm512_mask_shuffle_epi8(_mm512_shuffle_epi8(div3, t), odd, mod3, t);
        _mm512_store_si512((void *)(panel + (kb / 4) * 128 + 64 * h), c);
    }
}

static BC_TARGET_AVX512 void panel_avx512(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                          uint8_t *panel) {
    (void)rows;
    panel_generic(w, m, k0, kc, panel, unit_avx512, tail_avx512);
}

/* ---- AVX-512 GEMV (one token): table lookup, the idea TL2 was designed for ----
 * Per token, each column triple gets the 16 sums v[mag] = sum_d (digit_d(13 + mag) - 1) * x as int16,
 * split into a low- and a high-byte plane; a row's triple then costs one pshufb per plane (its
 * magnitude nibble is the index) and a conditional negation (its sign bit): 64 row-triples per
 * 8 instructions, against decoding codes, zipping them to a panel and a dpbusd pass.
 * Tables of one sign unit (8 triples): for n < 4, plane P: 64 bytes = plane P of triple n in the
 * two low 128-bit lanes and of triple n + 4 in the two high ones, matching the nibble vectors N[n]
 * of unit_avx512. Unpacking the planes gives int16 lanes in p order [0-7, 16-23 | 0-7, 16-23]
 * (unpacklo) and [8-15, 24-31 | 8-15, 24-31] (unpackhi), which PERM maps to natural rows 0..15 and
 * 16..31: no final permutation. */
#define LUT_UNIT 512      /* table bytes per sign unit */
#define LUT_TAIL 256      /* table bytes per two tail groups (8 pairs of columns) */
#define LUT_FLUSH 16      /* units between int16 -> int32 flushes: 16 * 4 triples * 384 < 32768 */

/* both 128-bit lane pairs of a 64-byte plane hold the same 16 entries */
static BC_TARGET_AVX2 inline void lut_planes(__m256i v, uint8_t *lo, uint8_t *hi) {
    bc_lut_planes(v, lo, hi);
    bc_lut_planes(v, lo + 16, hi + 16);
}

static BC_TARGET_AVX2 void lut_tables(const bc_tl2_geom *g, const int8_t *x, uint8_t *tab, uint8_t *ttab) {
    const __m256i t0 = _mm256_loadu_si256((const __m256i *)TRIPLE_T[0]), t1 = _mm256_loadu_si256((const __m256i *)TRIPLE_T[1]),
                  t2 = _mm256_loadu_si256((const __m256i *)TRIPLE_T[2]);
    for (int64_t u = 0; u < g->K3 / 24; u++) /* unit u covers columns 24u .. 24u + 23 (BK % 24 == 0) */
        for (int tl = 0; tl < 8; tl++) {
            const int8_t *xt = x + 24 * u + 3 * tl;
            __m256i v = _mm256_add_epi16(_mm256_add_epi16(_mm256_mullo_epi16(t0, _mm256_set1_epi16(xt[0])),
                                                          _mm256_mullo_epi16(t1, _mm256_set1_epi16(xt[1]))),
                                         _mm256_mullo_epi16(t2, _mm256_set1_epi16(xt[2])));
            uint8_t *o = tab + u * LUT_UNIT + (tl & 3) * 128 + 32 * (tl >> 2);
            lut_planes(v, o, o + 64);
        }
    for (int64_t j = 0; j < g->K2 / 2; j++) { /* pair j: columns K3 + 2j, +1; in group iy = (j%16)/2 */
        __m256i v = bc_lut_pair(x[g->K3 + 2 * j], x[g->K3 + 2 * j + 1]);
        int64_t iK2 = j / 16, iy = (j % 16) / 2;
        uint8_t *o = ttab + (iK2 * 4 + iy / 2) * LUT_TAIL + (j % 2) * 128 + 32 * (iy % 2);
        lut_planes(v, o, o + 64);
    }
}

static BC_TARGET_AVX512 inline void lut_flush(__m512i *sa, __m512i *sb, __m512i *acc) {
    acc[0] = _mm512_add_epi32(acc[0], _mm512_add_epi32(_mm512_cvtepi16_epi32(_mm512_castsi512_si256(*sa)),
                                                       _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(*sa, 1))));
    acc[1] = _mm512_add_epi32(acc[1], _mm512_add_epi32(_mm512_cvtepi16_epi32(_mm512_castsi512_si256(*sb)),
                                                       _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64(*sb, 1))));
    *sa = *sb = _mm512_setzero_si512();
}

/* The sign unit's word c holds natural rows c (bit 15 - 2tl) and c + 16 (bit 14 - 2tl); the int16
 * lanes j of va are natural row j % 16 of triple n (j < 16) or n + 4, those of vb row 16 + j % 16:
 * with the 16 words in both halves, one test per vector gives its negation mask. */
static BC_TARGET_AVX512 inline void lut_unit(const uint8_t *mag, const uint8_t *sgn, const uint8_t *t, __m512i *sa, __m512i *sb) {
    const __m512i nib = _mm512_set1_epi8(0x0F);
    __m512i Z0 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)mag)),
                                    _mm256_loadu_si256((const __m256i *)(mag + 64)), 1);
    __m512i Z1 = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(mag + 32))),
                                    _mm256_loadu_si256((const __m256i *)(mag + 96)), 1);
    __m512i S = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)sgn));
    const __m512i N[4] = {_mm512_and_si512(_mm512_srli_epi16(Z0, 4), nib), _mm512_and_si512(Z0, nib),
                          _mm512_and_si512(_mm512_srli_epi16(Z1, 4), nib), _mm512_and_si512(Z1, nib)};
    /* the four triples' values are summed apart and added once: one add per unit on the chain through
     * sa / sb, not two per triple (those chains, not the lookups, had set the pace) */
    __m512i va[4], vb[4];
#pragma GCC unroll 4
    for (int n = 0; n < 4; n++) {
        const __m512i B = _mm512_inserti64x4(_mm512_set1_epi16((short)(1u << (15 - 2 * n))), _mm256_set1_epi16((short)(1u << (7 - 2 * n))), 1);
        bc_lut_look(N[n], t + 128 * n, _mm512_test_epi16_mask(S, B), _mm512_test_epi16_mask(S, _mm512_srli_epi16(B, 1)), &va[n], &vb[n]);
    }
    *sa = _mm512_add_epi16(*sa, _mm512_add_epi16(_mm512_add_epi16(va[0], va[1]), _mm512_add_epi16(va[2], va[3])));
    *sb = _mm512_add_epi16(*sb, _mm512_add_epi16(_mm512_add_epi16(vb[0], vb[1]), _mm512_add_epi16(vb[2], vb[3])));
}

#ifndef LUT_PF
#define LUT_PF 4096 /* bytes ahead in the magnitude stream (AVX-512 and AVX2; 1024 was 15-30 % slower on Zen 5) */
#endif
static BC_TARGET_AVX512 void gemv_lut_avx512(const bc_ternary *w, const bc_tl2_geom *g, const uint8_t *tab,
                                             const uint8_t *ttab, int32_t *y, int64_t m0, int64_t m1) {
    int64_t BM = w->BM, BK = w->BK, nb = BM / 32, nK = g->K3 / BK, ng = BK / 24, nK2 = g->K2 / 32;
    const uint8_t *d = w->data;
    const __m512i nib = _mm512_set1_epi8(0x0F);
    __m512i *acc = bc_scratch(3, sizeof(__m512i) * 2 * (size_t)nb);
    if (!acc) abort();
    for (int64_t iM = m0 / BM; iM * BM < m1; iM++) {
        for (int64_t i = 0; i < 2 * nb; i++) acc[i] = _mm512_setzero_si512();
        /* the tile's magnitudes and signs are two sequential streams: iK, then ib, then unit */
        const uint8_t *mag = d + g->mag_off + iM * nK * nb * (BK / 6) * 32;
        const uint8_t *sgn = d + g->sign_off + iM * nK * nb * ng * 32;
        for (int64_t iK = 0; iK < nK; iK++)
            for (int64_t ib = 0; ib < nb; ib++) {
                __m512i sa = _mm512_setzero_si512(), sb = sa;
                for (int64_t ig = 0; ig < ng; ig++, mag += 128, sgn += 32) {
                    _mm_prefetch((const char *)(mag + LUT_PF), _MM_HINT_T0);
                    _mm_prefetch((const char *)(mag + LUT_PF + 64), _MM_HINT_T0);
                    _mm_prefetch((const char *)(sgn + LUT_PF / 4), _MM_HINT_T0);
                    _mm_prefetch((const char *)(mag + BC_LUT_PF_L2), _MM_HINT_T1);
                    _mm_prefetch((const char *)(mag + BC_LUT_PF_L2 + 64), _MM_HINT_T1);
                    if ((ig & 1) == 0) _mm_prefetch((const char *)(sgn + BC_LUT_PF_L2 / 4), _MM_HINT_T1);
                    lut_unit(mag, sgn, tab + (iK * ng + ig) * LUT_UNIT, &sa, &sb);
                    if (ig % LUT_FLUSH == LUT_FLUSH - 1) lut_flush(&sa, &sb, acc + 2 * ib);
                }
                lut_flush(&sa, &sb, acc + 2 * ib);
            }
        const uint8_t *tail = d + g->tail_off + iM * nK2 * nb * 8 * 32;
        for (int64_t iK2 = 0; iK2 < nK2; iK2++)
            for (int64_t ib = 0; ib < nb; ib++) {
                __m512i sa = _mm512_setzero_si512(), sb = sa;
                for (int q = 0; q < 4; q++, tail += 64) { /* groups iy = 2q, 2q + 1 */
                    __m512i Z = _mm512_loadu_si512((const void *)tail);
                    const uint8_t *t = ttab + (iK2 * 4 + q) * LUT_TAIL;
                    bc_lut_acc(_mm512_and_si512(_mm512_srli_epi16(Z, 4), nib), t, 0, 0, &sa, &sb);
                    bc_lut_acc(_mm512_and_si512(Z, nib), t + 128, 0, 0, &sa, &sb);
                }
                lut_flush(&sa, &sb, acc + 2 * ib);
            }
        for (int64_t ib = 0; ib < nb; ib++) {
            _mm512_storeu_si512((void *)(y + iM * BM + 32 * ib), acc[2 * ib]);
            _mm512_storeu_si512((void *)(y + iM * BM + 32 * ib + 16), acc[2 * ib + 1]);
        }
    }
}

/* this thread's tables for token x (built unless already held); the tail's follow at *ttab */
static uint8_t *token_tables(const bc_ternary *w, const bc_tl2_geom *g, const int8_t *x, uint8_t **ttab) {
    int fresh;
    uint8_t *tab = bc_lut_tables(x, w->K, ((int64_t)BC_LAYOUT_TL2 << 32) | w->BK,
                                 (size_t)(g->K3 / 24 * LUT_UNIT + (g->K2 / 32) * 4 * LUT_TAIL) + 64, &fresh);
    if (!tab) abort();
    *ttab = tab + g->K3 / 24 * LUT_UNIT;
    if (fresh) lut_tables(g, x, tab, *ttab);
    return tab;
}

int bc_tl2_matmul_avx512(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                         int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    pthread_once(&tables_once, init_tables);
    bc_tl2_geom g = bc_tl2_geometry(w);
    if (N == 1) {
        uint8_t *ttab, *tab = token_tables(w, &g, x, &ttab);
        gemv_lut_avx512(w, &g, tab, ttab, y, m0, m1);
        return 0;
    }
    return bc_gemm_avx512(w, panel_avx512, tl2_kc(w), g.K3, x, xsum, N, y, ldy, m0, m1, dq);
}

/* ---- AVX2: one ymm = one triple of 32 rows (p order). Sign masks: the unit's 16 words as loaded
 * are the words of p-rows 0..7 | 16..23 (shift 0), and shifted left by one those of p-rows
 * 8..15 | 24..31, so packs_epi16 of the two (shifted by 2*tl) puts each row's sign bit of triple tl
 * in the sign bit of its byte, in p order. ---- */
static BC_TARGET_AVX2 inline void zip4_store256(__m256i A, __m256i B, __m256i C, __m256i D, uint8_t *panel, int64_t k4) {
    __m256i ab_lo = _mm256_unpacklo_epi8(A, B), ab_hi = _mm256_unpackhi_epi8(A, B);
    __m256i cd_lo = _mm256_unpacklo_epi8(C, D), cd_hi = _mm256_unpackhi_epi8(C, D);
    __m256i O0 = _mm256_unpacklo_epi16(ab_lo, cd_lo), O1 = _mm256_unpackhi_epi16(ab_lo, cd_lo);
    __m256i O2 = _mm256_unpacklo_epi16(ab_hi, cd_hi), O3 = _mm256_unpackhi_epi16(ab_hi, cd_hi);
    /* O_j lane L: p-rows 16L + 4j .. +3. Rows 0-7 = p 0-7, 8-15 = p 16-23, 16-23 = p 8-15, 24-31 = p 24-31 */
    uint8_t *o = panel + k4 * 128;
    _mm256_store_si256((__m256i *)o, _mm256_permute2x128_si256(O0, O1, 0x20));
    _mm256_store_si256((__m256i *)(o + 32), _mm256_permute2x128_si256(O0, O1, 0x31));
    _mm256_store_si256((__m256i *)(o + 64), _mm256_permute2x128_si256(O2, O3, 0x20));
    _mm256_store_si256((__m256i *)(o + 96), _mm256_permute2x128_si256(O2, O3, 0x31));
}

static BC_TARGET_AVX2 void unit_avx2(const uint8_t *mag, const uint8_t *sgn, uint8_t *panel, int64_t kb) {
    const __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i A = _mm256_loadu_si256((const __m256i *)sgn), B = _mm256_slli_epi16(A, 1);
    __m256i C[8][3];
    for (int iy = 0; iy < 4; iy++) {
        __m256i Z = _mm256_loadu_si256((const __m256i *)(mag + 32 * iy));
        __m256i Nv[2] = {_mm256_and_si256(_mm256_srli_epi16(Z, 4), nib), _mm256_and_si256(Z, nib)};
        for (int q = 0; q < 2; q++) {
            int tl = 2 * iy + q;
            __m256i S = _mm256_packs_epi16(_mm256_slli_epi16(A, 2 * tl), _mm256_slli_epi16(B, 2 * tl));
            for (int d = 0; d < 3; d++) {
                __m256i pos = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)POS[d]));
                __m256i neg = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)NEG[d]));
                C[tl][d] = _mm256_blendv_epi8(_mm256_shuffle_epi8(pos, Nv[q]), _mm256_shuffle_epi8(neg, Nv[q]), S);
            }
        }
    }
    int64_t k4 = kb / 4;
    for (int h = 0; h < 2; h++) { /* triples 4h .. 4h+3 = columns 12h .. 12h+11 */
        const int t = 4 * h;
        zip4_store256(C[t][0], C[t][1], C[t][2], C[t + 1][0], panel, k4 + 3 * h);
        zip4_store256(C[t + 1][1], C[t + 1][2], C[t + 2][0], C[t + 2][1], panel, k4 + 3 * h + 1);
        zip4_store256(C[t + 2][2], C[t + 3][0], C[t + 3][1], C[t + 3][2], panel, k4 + 3 * h + 2);
    }
}

static BC_TARGET_AVX2 void tail_avx2(const uint8_t *grp, uint8_t *panel, int64_t kb) {
    const __m256i div3 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)DIV3));
    const __m256i mod3 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)MOD3));
    const __m256i spreadA = _mm256_set_epi8(7, 7, 7, 7, 6, 6, 6, 6, 5, 5, 5, 5, 4, 4, 4, 4,
                                            3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m256i spreadB = _mm256_add_epi8(spreadA, _mm256_set1_epi8(8));
    const __m256i hiN = _mm256_set1_epi32(0x00000F0F), loN = _mm256_set1_epi32(0x0F0F0000);
    const __m256i odd = _mm256_set1_epi16((short)0xFF00);
    __m256i vlo = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)grp));
    __m256i vhi = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(grp + 16)));
    /* row groups of 8: p 0-7, p 16-23, p 8-15, p 24-31 */
    const __m256i *src[4] = {&vlo, &vhi, &vlo, &vhi};
    for (int q = 0; q < 4; q++) {
        __m256i sp = _mm256_shuffle_epi8(*src[q], q < 2 ? spreadA : spreadB);
        __m256i t = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(sp, 4), hiN), _mm256_and_si256(sp, loN));
        __m256i c = _mm256_blendv_epi8(_mm256_shuffle_epi8(div3, t), _mm256_shuffle_epi8(mod3, t), odd);
        _mm256_store_si256((__m256i *)(panel + (kb / 4) * 128 + 32 * q), c);
    }
}

static BC_TARGET_AVX2 void panel_avx2(const bc_ternary *w, int64_t m, int rows, int64_t k0, int64_t kc,
                                      uint8_t *panel) {
    (void)rows;
    panel_generic(w, m, k0, kc, panel, unit_avx2, tail_avx2);
}

/* ---- AVX2 GEMV (one token): the same tables, 32 rows x one triple per vector. va / vb come out as
 * natural rows 0..15 / 16..31 (as with AVX-512); the sign of row c (c + 16) of triple tl is bit
 * 15 - 2tl (14 - 2tl) of word c, moved to the top by a shift for psignw. Each lane takes all 8
 * triples of a unit, so flush every 8 units (8 * 8 * 384 < 32768). */
#define LUT_FLUSH256 8
static BC_TARGET_AVX2 inline void lut_flush256(__m256i *sa, __m256i *sb, __m256i *acc) {
    acc[0] = _mm256_add_epi32(acc[0], _mm256_cvtepi16_epi32(_mm256_castsi256_si128(*sa)));
    acc[1] = _mm256_add_epi32(acc[1], _mm256_cvtepi16_epi32(_mm256_extracti128_si256(*sa, 1)));
    acc[2] = _mm256_add_epi32(acc[2], _mm256_cvtepi16_epi32(_mm256_castsi256_si128(*sb)));
    acc[3] = _mm256_add_epi32(acc[3], _mm256_cvtepi16_epi32(_mm256_extracti128_si256(*sb, 1)));
    *sa = *sb = _mm256_setzero_si256();
}

static BC_TARGET_AVX2 inline void lut_unit256(const uint8_t *mag, const uint8_t *sgn, const uint8_t *t, __m256i *sa, __m256i *sb) {
    const __m256i nib = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi16(1);
    __m256i S = _mm256_loadu_si256((const __m256i *)sgn);
#pragma GCC unroll 4
    for (int iy = 0; iy < 4; iy++) {
        __m256i Z = _mm256_loadu_si256((const __m256i *)(mag + 32 * iy));
        __m256i nv[2] = {_mm256_and_si256(_mm256_srli_epi16(Z, 4), nib), _mm256_and_si256(Z, nib)};
#pragma GCC unroll 2
        for (int q = 0; q < 2; q++) {
            int tl = 2 * iy + q;
            const uint8_t *tt = t + 128 * (tl & 3) + 32 * (tl >> 2);
            bc_lut_acc256_signed(nv[q], tt, tt + 64, _mm256_or_si256(_mm256_slli_epi16(S, 2 * tl), one),
                                 _mm256_or_si256(_mm256_slli_epi16(S, 2 * tl + 1), one), sa, sb);
        }
    }
}

static BC_TARGET_AVX2 void gemv_lut_avx2(const bc_ternary *w, const bc_tl2_geom *g, const uint8_t *tab,
                                         const uint8_t *ttab, int32_t *y, int64_t m0, int64_t m1) {
    int64_t BM = w->BM, BK = w->BK, nb = BM / 32, nK = g->K3 / BK, ng = BK / 24, nK2 = g->K2 / 32;
    const uint8_t *d = w->data;
    const __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i *acc = bc_scratch(3, sizeof(__m256i) * 4 * (size_t)nb);
    if (!acc) abort();
    for (int64_t iM = m0 / BM; iM * BM < m1; iM++) {
        for (int64_t i = 0; i < 4 * nb; i++) acc[i] = _mm256_setzero_si256();
        const uint8_t *mag = d + g->mag_off + iM * nK * nb * (BK / 6) * 32;
        const uint8_t *sgn = d + g->sign_off + iM * nK * nb * ng * 32;
        for (int64_t iK = 0; iK < nK; iK++)
            for (int64_t ib = 0; ib < nb; ib++) {
                __m256i sa = _mm256_setzero_si256(), sb = sa;
                for (int64_t ig = 0; ig < ng; ig++, mag += 128, sgn += 32) {
                    _mm_prefetch((const char *)(mag + LUT_PF), _MM_HINT_T0);
                    _mm_prefetch((const char *)(mag + LUT_PF + 64), _MM_HINT_T0);
                    _mm_prefetch((const char *)(sgn + LUT_PF / 4), _MM_HINT_T0);
                    _mm_prefetch((const char *)(mag + BC_LUT_PF_L2), _MM_HINT_T1);
                    _mm_prefetch((const char *)(mag + BC_LUT_PF_L2 + 64), _MM_HINT_T1);
                    if ((ig & 1) == 0) _mm_prefetch((const char *)(sgn + BC_LUT_PF_L2 / 4), _MM_HINT_T1);
                    lut_unit256(mag, sgn, tab + (iK * ng + ig) * LUT_UNIT, &sa, &sb);
                    if (ig % LUT_FLUSH256 == LUT_FLUSH256 - 1) lut_flush256(&sa, &sb, acc + 4 * ib);
                }
                lut_flush256(&sa, &sb, acc + 4 * ib);
            }
        const uint8_t *tail = d + g->tail_off + iM * nK2 * nb * 8 * 32;
        for (int64_t iK2 = 0; iK2 < nK2; iK2++)
            for (int64_t ib = 0; ib < nb; ib++) {
                __m256i sa = _mm256_setzero_si256(), sb = sa;
                for (int iy = 0; iy < 8; iy++, tail += 32) {
                    __m256i Z = _mm256_loadu_si256((const __m256i *)tail);
                    const uint8_t *t = ttab + (iK2 * 4 + iy / 2) * LUT_TAIL + 32 * (iy % 2);
                    bc_lut_acc256(_mm256_and_si256(_mm256_srli_epi16(Z, 4), nib), t, t + 64, &sa, &sb);
                    bc_lut_acc256(_mm256_and_si256(Z, nib), t + 128, t + 192, &sa, &sb);
                }
                lut_flush256(&sa, &sb, acc + 4 * ib);
            }
        for (int64_t i = 0; i < 4 * nb; i++) _mm256_storeu_si256((__m256i *)(y + iM * BM + 8 * i), acc[i]);
    }
}

int bc_tl2_matmul_avx2(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                       int32_t *y, int64_t ldy, int64_t m0, int64_t m1, const bc_dequant *dq) {
    pthread_once(&tables_once, init_tables);
    bc_tl2_geom g = bc_tl2_geometry(w);
    if (N == 1) {
        uint8_t *ttab, *tab = token_tables(w, &g, x, &ttab);
        gemv_lut_avx2(w, &g, tab, ttab, y, m0, m1);
        return 0;
    }
    return bc_gemm_avx2(w, panel_avx2, tl2_kc(w), g.K3, x, xsum, N, y, ldy, m0, m1, dq);
}
#endif /* __x86_64__ */

#if defined(__aarch64__)
/* ---------------- ARM ----------------
 * Table lookup, as TL2 was designed for. Per token, triple t (columns 3t..3t+2) has the planes of the
 * 16 sums v[mag] = sum_d (digit_d(13 + mag) - 1) * x[3t + d] (the scalar decode's arithmetic for a
 * positive triple), 32 bytes; the two-weight tail's pairs follow, TL1's pair tables. A unit's 16-byte
 * half h of a magnitude group is 16 rows (p order: lanes 0..7 = rows 8h + 0..7, lanes 8..15 = rows
 * 16 + 8h + 0..7 of the 32-row chunk) of one triple in each nibble. The sign is a byte mask m from the
 * unit's words (vtst): the looked-up planes are xor-ed with it, which adds ~v = -v - 1 for a negative
 * triple, and the -1s come back as one count per row shared by all tokens (corr). Per 16 rows x 1
 * triple and token: 2 tbl, 2 eor, 2 uaddw, 1 add; per 16 magnitude bytes shared: shift / and, 2 vtst,
 * 2 sub. Up to LUT_TOKENS tokens share a pass over the weights; tables are cached per thread. */
#include <string.h>
#define LUT_TOKENS 4
#define LUT_CHUNK 16

/* T value (digit - 1) of digit d of the triple 13 + mag, mag = 0..15 (as the scalar decode computes it) */
static const int16_t DIGIT_T[3][16] = {
    {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2},
    {0, 0, 1, 1, 1, -1, -1, -1, 0, 0, 0, 1, 1, 1, -1, -1},
    {0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0}};

static size_t tables_per_token_neon(const bc_tl2_geom *g) { return (size_t)(g->K3 / 3 + g->K2 / 2) * 32; }

static void lut_tables_neon(const bc_tl2_geom *g, const int8_t *x, uint8_t *tab) {
    const int16x8_t t0a = vld1q_s16(DIGIT_T[0]), t0b = vld1q_s16(DIGIT_T[0] + 8), t1a = vld1q_s16(DIGIT_T[1]),
                    t1b = vld1q_s16(DIGIT_T[1] + 8), t2a = vld1q_s16(DIGIT_T[2]), t2b = vld1q_s16(DIGIT_T[2] + 8);
    for (int64_t t = 0; t < g->K3 / 3; t++) {
        const int8_t *xt = x + 3 * t;
        int16x8_t a = vmlaq_n_s16(vmlaq_n_s16(vmulq_n_s16(t0a, xt[0]), t1a, xt[1]), t2a, xt[2]);
        int16x8_t b = vmlaq_n_s16(vmlaq_n_s16(vmulq_n_s16(t0b, xt[0]), t1b, xt[1]), t2b, xt[2]);
        bc_lut_planes_neon(a, b, tab + 32 * t);
    }
    uint8_t *ttab = tab + g->K3 / 3 * 32;
    for (int64_t j = 0; j < g->K2 / 2; j++) bc_lut_pair_neon(x[g->K3 + 2 * j], x[g->K3 + 2 * j + 1], ttab + 32 * j);
}

static const uint8_t *batch_tables_neon(const bc_ternary *w, const bc_tl2_geom *g, const int8_t *x, int64_t N) {
    int fresh;
    size_t per = tables_per_token_neon(g);
    uint8_t *tab = bc_lut_tables(x, N * w->K, ((int64_t)BC_LAYOUT_TL2 << 32) | w->BK, per * (size_t)N, &fresh);
    if (!tab) abort();
    if (fresh)
        for (int64_t n = 0; n < N; n++) lut_tables_neon(g, x + n * w->K, tab + (size_t)n * per);
    return tab;
}

/* Half h of the ng units of (iM, iK, ib) starting at mag / sgn, triples from t0, for nt tokens. A
 * lane gets 8 lookups per unit, |hi| <= 2: flushing every 4 units keeps the int8 sums within 64. */
static inline __attribute__((always_inline)) void units_neon(const uint8_t *mag, const uint8_t *sgn, int64_t ng, int h,
                                                             const uint8_t *tab, size_t tstride, int64_t t0, int nt,
                                                             int32_t *ra, int32_t *rb, int64_t BM) {
    const uint8x16_t nib = vdupq_n_u8(0x0F);
    bc_lut_acc_neon a[LUT_TOKENS];
    int8x16_t corr = vdupq_n_s8(0);
    for (int n = 0; n < nt; n++) bc_lut_zero_neon(&a[n]);
    for (int64_t ig = 0; ig < ng; ig++, mag += 128, sgn += 32) {
        uint16x8_t S = vld1q_u16((const uint16_t *)(sgn + 16 * h));
        uint8x8_t hb = vshrn_n_u16(S, 8), lb = vmovn_u16(S);
        uint8x16_t sb[2] = {vcombine_u8(hb, vshl_n_u8(hb, 1)), vcombine_u8(lb, vshl_n_u8(lb, 1))};
        const uint8_t *t = tab + (t0 + 8 * ig) * 32;
#pragma GCC unroll 4
        for (int iy = 0; iy < 4; iy++) {
            uint8x16_t Z = vld1q_u8(mag + 32 * iy + 16 * h);
            uint8x16_t c[2] = {vshrq_n_u8(Z, 4), vandq_u8(Z, nib)};
#pragma GCC unroll 2
            for (int q = 0; q < 2; q++) {
                int tl = 2 * iy + q;
                uint8x16_t m = vtstq_u8(sb[tl / 4], vdupq_n_u8((uint8_t)(0x80 >> (2 * (tl % 4)))));
                corr = vsubq_s8(corr, vreinterpretq_s8_u8(m));
                for (int n = 0; n < nt; n++) bc_lut_add_masked_neon(&a[n], t + n * tstride + 32 * tl, c[q], m);
            }
        }
        if (ig % 4 == 3 || ig == ng - 1) {
            for (int n = 0; n < nt; n++) bc_lut_flush_neon(&a[n], corr, ra + n * BM, rb + n * BM);
            corr = vdupq_n_s8(0);
        }
    }
}

/* Half h of the 8 two-weight groups at grp (pairs from j0) for nt tokens: 16 lookups, |hi| <= 3 */
static inline __attribute__((always_inline)) void tail_neon(const uint8_t *grp, int h, const uint8_t *ttab, size_t tstride,
                                                            int64_t j0, int nt, int32_t *ra, int32_t *rb, int64_t BM) {
    const uint8x16_t nib = vdupq_n_u8(0x0F);
    bc_lut_acc_neon a[LUT_TOKENS];
    for (int n = 0; n < nt; n++) bc_lut_zero_neon(&a[n]);
    for (int iy = 0; iy < 8; iy++) {
        uint8x16_t Z = vld1q_u8(grp + 32 * iy + 16 * h);
        uint8x16_t ch = vshrq_n_u8(Z, 4), cl = vandq_u8(Z, nib);
        const uint8_t *t = ttab + (j0 + 2 * iy) * 32;
        for (int n = 0; n < nt; n++) {
            bc_lut_add_neon(&a[n], t + n * tstride, ch);
            bc_lut_add_neon(&a[n], t + n * tstride + 32, cl);
        }
    }
    for (int n = 0; n < nt; n++) bc_lut_flush_neon(&a[n], vdupq_n_s8(0), ra + n * BM, rb + n * BM);
}

static inline __attribute__((always_inline)) void tile_neon(const bc_ternary *w, const bc_tl2_geom *g, int64_t iM,
                                                            const uint8_t *tab, size_t tstride, int nt, int32_t *acc) {
    int64_t BM = w->BM, BK = w->BK, nb = BM / 32, nK = g->K3 / BK, ng = BK / 24, nK2 = g->K2 / 32;
    const uint8_t *d = w->data;
    const uint8_t *mag = d + g->mag_off + iM * nK * nb * (BK / 6) * 32;
    const uint8_t *sgn = d + g->sign_off + iM * nK * nb * ng * 32;
    for (int64_t iK = 0; iK < nK; iK++)
        for (int64_t ib = 0; ib < nb; ib++, mag += ng * 128, sgn += ng * 32)
            for (int h = 0; h < 2; h++)
                units_neon(mag, sgn, ng, h, tab, tstride, iK * BK / 3, nt, acc + ib * 32 + 8 * h, acc + ib * 32 + 16 + 8 * h, BM);
    const uint8_t *tail = d + g->tail_off + iM * nK2 * nb * 8 * 32, *ttab = tab + g->K3 / 3 * 32;
    for (int64_t iK2 = 0; iK2 < nK2; iK2++)
        for (int64_t ib = 0; ib < nb; ib++, tail += 8 * 32)
            for (int h = 0; h < 2; h++)
                tail_neon(tail, h, ttab, tstride, iK2 * 16, nt, acc + ib * 32 + 8 * h, acc + ib * 32 + 16 + 8 * h, BM);
}

static void lut_matmul_neon(const bc_ternary *w, const bc_tl2_geom *g, const uint8_t *tab, int64_t N, int32_t *y,
                            int64_t ldy, int64_t m0, int64_t m1) {
    int64_t BM = w->BM;
    size_t tstride = tables_per_token_neon(g);
    int32_t *acc = bc_scratch(3, sizeof(int32_t) * (size_t)(BM * LUT_TOKENS));
    if (!acc) abort();
    for (int64_t iM = m0 / BM; iM * BM < m1; iM++)
        for (int64_t n0 = 0; n0 < N; n0 += LUT_TOKENS) {
            int nt = N - n0 < LUT_TOKENS ? (int)(N - n0) : LUT_TOKENS;
            const uint8_t *tn = tab + (size_t)n0 * tstride;
            memset(acc, 0, sizeof(int32_t) * (size_t)(BM * nt));
            switch (nt) { /* one specialised copy per token count */
            case 1: tile_neon(w, g, iM, tn, tstride, 1, acc); break;
            case 2: tile_neon(w, g, iM, tn, tstride, 2, acc); break;
            case 3: tile_neon(w, g, iM, tn, tstride, 3, acc); break;
            default: tile_neon(w, g, iM, tn, tstride, 4, acc); break;
            }
            for (int n = 0; n < nt; n++) memcpy(y + (n0 + n) * ldy + iM * BM, acc + n * BM, sizeof(int32_t) * (size_t)BM);
        }
}

void bc_tl2_matmul_neon(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                        int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    (void)xsum;
    bc_tl2_geom g = bc_tl2_geometry(w);
    /* tables are ~11 bytes per activation byte: a long batch goes LUT_CHUNK tokens at a time */
    for (int64_t n0 = 0; n0 < N; n0 += LUT_CHUNK) {
        int64_t nc = N - n0 < LUT_CHUNK ? N - n0 : LUT_CHUNK;
        lut_matmul_neon(w, &g, batch_tables_neon(w, &g, x + n0 * w->K, nc), nc, y + n0 * ldy, ldy, m0, m1);
    }
}

/* ---- dotprod / i8mm: the batched GEMM (N >= GEMM_MIN_N) decodes to int8 and multiplies ----
 * Each 16-row half of a 32-row chunk is decoded once per chunk of whole tiles (~1024 columns) into a
 * panel in L1 that serves every token: per triple 4 SDOT vectors of 4 rows x (digit 0, 1, 2, 0), made
 * by one vst4 of the three digit vectors (tbl on the magnitude in the positive and negative digit
 * tables, picked by the sign mask: the scalar decode's values for every nibble) and a zero vector; per
 * 4 tail columns TL1's decode. The activations are padded once per call to the same 4 bytes per
 * triple. Per triple, 16 rows and token: 4 SDOT (48 multiply-adds), 4 tokens per pass. i8mm zips
 * the panel's slots in pairs into 2 rows x 8 bytes for SMMLA against 2 tokens x 8 activations. */
#define GEMM_MIN_N 4
#define GEMM_KC 1024

static const int8_t DIGIT_POS[3][16] = {
    {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2},
    {0, 0, 1, 1, 1, -1, -1, -1, 0, 0, 0, 1, 1, 1, -1, -1},
    {0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0}};
static const int8_t DIGIT_NEG[3][16] = {
    {0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    {0, 0, -1, -1, -1, 1, 1, 1, 0, 0, 0, -1, -1, -1, -1, -1},
    {0, -1, 1, 0, -1, 1, 0, -1, 1, 0, -1, 1, 0, -1, -2, -3}};

/* half h of a unit: 8 triples x 64 bytes at o */
static inline void unit_panel_arm(const uint8_t *mag, const uint8_t *sgn, int h, int8_t *o) {
    const uint8x16_t nib = vdupq_n_u8(0x0F);
    int8x16_t P[3], Q[3];
    for (int d = 0; d < 3; d++) P[d] = vld1q_s8(DIGIT_POS[d]), Q[d] = vld1q_s8(DIGIT_NEG[d]);
    uint16x8_t S = vld1q_u16((const uint16_t *)(sgn + 16 * h));
    uint8x8_t hb = vshrn_n_u16(S, 8), lb = vmovn_u16(S);
    uint8x16_t sb[2] = {vcombine_u8(hb, vshl_n_u8(hb, 1)), vcombine_u8(lb, vshl_n_u8(lb, 1))};
    for (int iy = 0; iy < 4; iy++) {
        uint8x16_t Z = vld1q_u8(mag + 32 * iy + 16 * h);
        uint8x16_t c[2] = {vshrq_n_u8(Z, 4), vandq_u8(Z, nib)};
        for (int q = 0; q < 2; q++) {
            int tl = 2 * iy + q;
            uint8x16_t m = vtstq_u8(sb[tl / 4], vdupq_n_u8((uint8_t)(0x80 >> (2 * (tl % 4)))));
            int8x16x4_t v;
            for (int d = 0; d < 3; d++) v.val[d] = vbslq_s8(m, vqtbl1q_s8(Q[d], c[q]), vqtbl1q_s8(P[d], c[q]));
            v.val[3] = vdupq_n_s8(0);
            vst4q_s8(o + 64 * tl, v);
        }
    }
}

/* half h of a two-weight group (16 rows x 4 columns) -> 4 SDOT vectors at o */
static inline void tail_panel_arm(const uint8_t *grp, int h, int8_t *o) {
    static const int8_t D3[16] = {-1, -1, -1, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4};
    static const int8_t M3[16] = {-1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1, 0, 1, -1};
    uint8x16_t Z = vld1q_u8(grp + 16 * h), ch = vshrq_n_u8(Z, 4), cl = vandq_u8(Z, vdupq_n_u8(0x0F));
    int8x16x4_t v = {{vqtbl1q_s8(vld1q_s8(D3), ch), vqtbl1q_s8(vld1q_s8(M3), ch), vqtbl1q_s8(vld1q_s8(D3), cl),
                      vqtbl1q_s8(vld1q_s8(M3), cl)}};
    vst4q_s8(o, v);
}

static inline int32x4_t bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return vdupq_n_s32(v);
}

/* nt tokens (xp: padded activations at the panel's first slot, stride L; y at token n0): rows
 * row[q] .. +3 of vector q += (or =, first) the panel's sums over ns slots */
static inline __attribute__((always_inline)) BC_TARGET_DOTPROD void sdot_tokens(const int8_t *panel, int64_t ns,
        const int8_t *xp, int64_t L, int nt, int32_t *y, int64_t ldy, const int64_t row[4], int first) {
    int32x4_t acc[4][4];
    for (int n = 0; n < nt; n++)
        for (int q = 0; q < 4; q++) acc[n][q] = first ? vdupq_n_s32(0) : vld1q_s32(y + n * ldy + row[q]);
    for (int64_t s = 0; s < ns; s++) {
        int8x16_t W0 = vld1q_s8(panel + s * 64), W1 = vld1q_s8(panel + s * 64 + 16);
        int8x16_t W2 = vld1q_s8(panel + s * 64 + 32), W3 = vld1q_s8(panel + s * 64 + 48);
        for (int n = 0; n < nt; n++) {
            int8x16_t xv = vreinterpretq_s8_s32(bcast4(xp + n * L + 4 * s));
            BC_SDOT(acc[n][0], W0, xv);
            BC_SDOT(acc[n][1], W1, xv);
            BC_SDOT(acc[n][2], W2, xv);
            BC_SDOT(acc[n][3], W3, xv);
        }
    }
    for (int n = 0; n < nt; n++)
        for (int q = 0; q < 4; q++) vst1q_s32(y + n * ldy + row[q], acc[n][q]);
}

static BC_TARGET_DOTPROD void panel_tokens_dotprod(int8_t *panel, int64_t ns, const int8_t *xp, int64_t L, int64_t N,
                                                   const int8_t *zero, int32_t *y, int64_t ldy, const int64_t row[4], int first) {
    (void)zero;
    for (int64_t n0 = 0; n0 < N; n0 += 4) {
        const int8_t *xn = xp + n0 * L;
        int32_t *yn = y + n0 * ldy;
        switch (N - n0 < 4 ? N - n0 : 4) {
        case 1: sdot_tokens(panel, ns, xn, L, 1, yn, ldy, row, first); break;
        case 2: sdot_tokens(panel, ns, xn, L, 2, yn, ldy, row, first); break;
        case 3: sdot_tokens(panel, ns, xn, L, 3, yn, ldy, row, first); break;
        default: sdot_tokens(panel, ns, xn, L, 4, yn, ldy, row, first); break;
        }
    }
}

/* the panels of rows [m0, m1) for all N tokens; tokens(...) multiplies one panel with them */
typedef void (*tokens_fn)(int8_t *panel, int64_t ns, const int8_t *xp, int64_t L, int64_t N, const int8_t *zero,
                          int32_t *y, int64_t ldy, const int64_t row[4], int first);
static void gemm_arm(const bc_ternary *w, const bc_tl2_geom *g, const int8_t *x, int64_t N, int32_t *y, int64_t ldy,
                     int64_t m0, int64_t m1, tokens_fn tokens) {
    int64_t K = w->K, BM = w->BM, BK = w->BK, nb = BM / 32, nK = g->K3 / BK, ng = BK / 24, nK2 = g->K2 / 32;
    int64_t tc = GEMM_KC / BK < 1 ? 1 : GEMM_KC / BK, L = g->K3 / 3 * 4 + g->K2;
    int64_t slots = tc * BK / 3 > g->K2 / 4 ? tc * BK / 3 : g->K2 / 4;
    int8_t *panel = bc_scratch(1, (size_t)(64 * slots)), *xp = bc_scratch(2, (size_t)((N + 1) * L)), *zero = xp + N * L;
    if (!panel || !xp) abort();
    memset(zero, 0, (size_t)L); /* the partner of an odd token for SMMLA */
    for (int64_t n = 0; n < N; n++) { /* 4 bytes per triple (the 4th 0), then the tail as it is */
        int8_t *o = xp + n * L;
        const int8_t *xn = x + n * K;
        for (int64_t t = 0; t < g->K3 / 3; t++) o[4 * t] = xn[3 * t], o[4 * t + 1] = xn[3 * t + 1], o[4 * t + 2] = xn[3 * t + 2], o[4 * t + 3] = 0;
        memcpy(o + g->K3 / 3 * 4, xn + g->K3, (size_t)g->K2);
    }
    const uint8_t *d = w->data;
    for (int64_t iM = m0 / BM; iM * BM < m1; iM++)
        for (int64_t ib = 0; ib < nb; ib++)
            for (int h = 0; h < 2; h++) {
                /* vectors 0, 1: lanes 0..7 = rows 8h + 0..7; vectors 2, 3: rows 16 + 8h + 0..7 (PERM) */
                int64_t r = iM * BM + ib * 32 + 8 * h, row[4] = {r, r + 4, r + 16, r + 20};
                int first = 1;
                for (int64_t iK0 = 0; iK0 < nK; iK0 += tc, first = 0) {
                    int64_t iK1 = iK0 + tc < nK ? iK0 + tc : nK;
                    for (int64_t iK = iK0; iK < iK1; iK++)
                        for (int64_t ig = 0; ig < ng; ig++)
                            unit_panel_arm(d + g->mag_off + (((iM * nK + iK) * nb + ib) * (BK / 6) + 4 * ig) * 32,
                                           d + g->sign_off + (((iM * nK + iK) * nb + ib) * ng + ig) * 32, h,
                                           panel + ((iK - iK0) * ng + ig) * 8 * 64);
                    int64_t s0 = iK0 * BK / 3;
                    tokens(panel, (iK1 - iK0) * BK / 3, xp + s0 * 4, L, N, zero + s0 * 4, y, ldy, row, first);
                }
                if (nK2 == 0) continue;
                for (int64_t iK2 = 0; iK2 < nK2; iK2++)
                    for (int64_t iy = 0; iy < 8; iy++)
                        tail_panel_arm(d + g->tail_off + (((iM * nK2 + iK2) * nb + ib) * 8 + iy) * 32, h, panel + (iK2 * 8 + iy) * 64);
                tokens(panel, g->K2 / 4, xp + g->K3 / 3 * 4, L, N, zero + g->K3 / 3 * 4, y, ldy, row, first);
            }
}

void bc_tl2_matmul_dotprod(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                           int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    if (N < GEMM_MIN_N) {
        bc_tl2_matmul_neon(w, x, xsum, N, y, ldy, m0, m1);
        return;
    }
    bc_tl2_geom g = bc_tl2_geometry(w);
    gemm_arm(w, &g, x, N, y, ldy, m0, m1, panel_tokens_dotprod);
}

/* i8mm: slots s, s + 1 of a panel zipped in place into 2 rows x 8 bytes (rows 2p, 2p + 1 of the 16
 * at + 16p), SMMLA's operand; ns is even (8 triples a unit, 8 slots a tail group) */
static void zip_panel_arm(int8_t *panel, int64_t ns) {
    for (int64_t s = 0; s < ns; s += 2) {
        int8_t *o = panel + s * 64;
        int32x4_t a[4], b[4];
        for (int q = 0; q < 4; q++) a[q] = vreinterpretq_s32_s8(vld1q_s8(o + 16 * q)), b[q] = vreinterpretq_s32_s8(vld1q_s8(o + 64 + 16 * q));
        for (int q = 0; q < 4; q++) {
            vst1q_s8(o + 32 * q, vreinterpretq_s8_s32(vzip1q_s32(a[q], b[q])));
            vst1q_s8(o + 32 * q + 16, vreinterpretq_s8_s32(vzip2q_s32(a[q], b[q])));
        }
    }
}

/* np pairs of tokens (xs[2j], xs[2j + 1], 8 bytes a slot pair; the second may be a zero row with ys
 * NULL) over the zipped panel: rows row[q] .. +3 += (or =, first) the sums */
static inline __attribute__((always_inline)) BC_TARGET_I8MM void smmla_tokens(const int8_t *panel, int64_t ns,
        const int8_t *const *xs, int np, int32_t *const *ys, const int64_t row[4], int first) {
    int32x4_t acc[2][8];
    for (int j = 0; j < np; j++)
        for (int p = 0; p < 8; p++) acc[j][p] = vdupq_n_s32(0);
    for (int64_t s2 = 0; s2 < ns / 2; s2++) {
        int8x16_t W[8];
        for (int p = 0; p < 8; p++) W[p] = vld1q_s8(panel + s2 * 128 + 16 * p);
        for (int j = 0; j < np; j++) {
            int8x16_t B = vcombine_s8(vld1_s8(xs[2 * j] + 8 * s2), vld1_s8(xs[2 * j + 1] + 8 * s2));
            for (int p = 0; p < 8; p++) BC_SMMLA(acc[j][p], W[p], B);
        }
    }
    for (int j = 0; j < np; j++) /* acc[j][p] = [row 2p of token a, of b, row 2p + 1 of a, of b] */
        for (int t = 0; t < 2; t++) {
            int32_t *yo = ys[2 * j + t];
            if (!yo) continue;
            for (int q = 0; q < 4; q++) {
                int32x4_t v = t ? vuzp2q_s32(acc[j][2 * q], acc[j][2 * q + 1]) : vuzp1q_s32(acc[j][2 * q], acc[j][2 * q + 1]);
                vst1q_s32(yo + row[q], first ? v : vaddq_s32(v, vld1q_s32(yo + row[q])));
            }
        }
}

static BC_TARGET_I8MM void panel_tokens_i8mm(int8_t *panel, int64_t ns, const int8_t *xp, int64_t L, int64_t N,
                                             const int8_t *zero, int32_t *y, int64_t ldy, const int64_t row[4], int first) {
    zip_panel_arm(panel, ns);
    for (int64_t n0 = 0; n0 < N; n0 += 4) {
        const int8_t *xs[4];
        int32_t *ys[4];
        int nt = N - n0 < 4 ? (int)(N - n0) : 4;
        for (int t = 0; t < 4; t++) {
            xs[t] = t < nt ? xp + (n0 + t) * L : zero;
            ys[t] = t < nt ? y + (n0 + t) * ldy : NULL;
        }
        if (nt > 2) smmla_tokens(panel, ns, xs, 2, ys, row, first);
        else smmla_tokens(panel, ns, xs, 1, ys, row, first);
    }
}

void bc_tl2_matmul_i8mm(const bc_ternary *w, const int8_t *x, const int32_t *xsum, int64_t N,
                        int32_t *y, int64_t ldy, int64_t m0, int64_t m1) {
    if (N < GEMM_MIN_N) {
        bc_tl2_matmul_neon(w, x, xsum, N, y, ldy, m0, m1);
        return;
    }
    bc_tl2_geom g = bc_tl2_geometry(w);
    gemm_arm(w, &g, x, N, y, ldy, m0, m1, panel_tokens_i8mm);
}
#endif /* __aarch64__ */

