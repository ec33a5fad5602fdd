/* SM4-GCM (12-byte nonce, 16-byte tag) for x86-64 CPUs with PCLMULQDQ and GFNI or AES-NI.
 *
 * Why: OpenSSL 3 has no SM4 acceleration on x86 (a generic table implementation, ~80 MB/s),
 * which bounds the secure P2P channel. Here SM4 runs in CTR mode on many blocks at once:
 * blocks are transposed so that one vector register holds word j of 4 (xmm), 8 (ymm) or 16
 * (zmm) blocks, four such groups interleaved to hide latency, and each S-box layer is one
 * gf2p8affineqb plus one gf2p8affineinvqb (the SM4 field inversion is the AES-field inversion
 * conjugated by a linear isomorphism; the matrices are derived by
 * crypto/tools/sm4_gfni_matrices.py). No secret-indexed table anywhere, so it is constant
 * time, unlike table SM4. A CPU without GFNI runs the 4-block path with an S-box made of
 * AESENCLAST between two PSHUFB affine maps (sbox128_aesni), constant time too, or the
 * 8-block one with VAES (sbox256_vaes) where the CPU has it. GHASH uses
 * PCLMULQDQ with 8-block aggregated reduction (VPCLMULQDQ, 16 blocks, on the AVX-512 path).
 *
 * Counter blocks need no transposition: words 0..2 of every counter block are the nonce
 * (broadcast) and word 3 is the 32-bit block counter, one lane per block.
 *
 * Every function using vector instructions carries its own target attribute, so the file
 * builds with any x86-64 gcc/clang flags; the CPU is checked at import (`AVAILABLE`,
 * `REASON`). What the AES-NI path runs (GHASH, the shared SM4 helpers, gcm_crypt) is compiled
 * for targets without GFNI, so a CPU without it never meets a GFNI instruction. Other
 * architectures build a stub that reports itself unavailable.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* From crypto/tools/sm4_gfni_matrices.py: S(x) = affineinv(affine(x, M1, C1), M2, C2). */
#define SM4_GFNI_M1 0x4c287db91a22505dULL
#define SM4_GFNI_C1 0x3e
#define SM4_GFNI_M2 0xf3ab34a974a6b589ULL
#define SM4_GFNI_C2 0xd3
/* The same S-box as AES-NI's inversion between two affine maps, one nibble table each half:
 * S(x) = post(aes_sbox(pre(x))), f(x) = LO[x & 15] ^ HI[x >> 4] (same script). */
#define SM4_AESNI_PRE_LO 0x3e, 0xb2, 0x0e, 0x82, 0xbb, 0x37, 0x8b, 0x07, 0xa1, 0x2d, 0x91, 0x1d, 0x24, 0xa8, 0x14, 0x98
#define SM4_AESNI_PRE_HI 0x00, 0xdc, 0x2e, 0xf2, 0xc5, 0x19, 0xeb, 0x37, 0x08, 0xd4, 0x26, 0xfa, 0xcd, 0x11, 0xe3, 0x3f
#define SM4_AESNI_POST_LO 0x6c, 0xd4, 0xa6, 0x1e, 0x52, 0xea, 0x98, 0x20, 0x0b, 0xb3, 0xc1, 0x79, 0x35, 0x8d, 0xff, 0x47
#define SM4_AESNI_POST_HI 0x00, 0xe0, 0x50, 0xb0, 0x9d, 0x7d, 0xcd, 0x2d, 0xc0, 0x20, 0x90, 0x70, 0x5d, 0xbd, 0x0d, 0xed

#define GCM_MAX_PLAINTEXT ((1ULL << 36) - 32) /* 2^32 - 2 counter blocks */
#define GIL_RELEASE_BYTES 16384
#define CHUNK_BYTES 4096 /* CTR then GHASH per chunk, while it is in L1 */

#if defined(__x86_64__) && !defined(SM4GCM_NO_X86) && \
    (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8))
#define SM4GCM_X86 1
#include <immintrin.h>
#endif

enum {
    LEVEL_NONE = 0,
    LEVEL_AESNI = 1,
    LEVEL_VAES_AVX2 = 2,
    LEVEL_GFNI_SSE = 3,
    LEVEL_AVX2 = 4,
    LEVEL_AVX512 = 5
};
static const char *const LEVEL_NAMES[] = {"none",     "aesni-sse", "vaes-avx2",
                                          "gfni-sse", "avx2",      "avx512"};
/* the AES-NI paths can be forced (tests) on a GFNI CPU that has them too */
static int g_has_aesni = 0, g_has_vaes_avx2 = 0;
static int g_max_level = LEVEL_NONE;
static int g_level = LEVEL_NONE;
static const char *g_reason = "not built for x86-64";

typedef struct {
    uint32_t rk[32];
    uint8_t htab[8][16];  /* H^1..H^8, byte-reflected, for GHASH */
    uint8_t hdesc[16][16]; /* H^16..H^1: lanes of the 16-block VPCLMULQDQ GHASH */
} sm4gcm_key;

static void secure_zero(void *p, size_t n)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (n--) *v++ = 0;
}

static inline uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#ifdef SM4GCM_X86

#define TBASE __attribute__((target("sse2,ssse3,sse4.1")))
#define TCLMUL __attribute__((target("sse2,ssse3,sse4.1,pclmul")))
#define TAES __attribute__((target("sse2,ssse3,sse4.1,aes,pclmul")))
#define TBASE256 __attribute__((target("sse2,ssse3,sse4.1,avx,avx2")))
#define TVAES __attribute__((target("sse2,ssse3,sse4.1,avx,avx2,aes,vaes,pclmul")))
#define T128 __attribute__((target("sse2,ssse3,sse4.1,gfni,pclmul")))
#define T512                                                                                 \
    __attribute__((target(                                                                   \
        "sse2,ssse3,sse4.1,gfni,pclmul,avx,avx2,avx512f,avx512bw,avx512vl,vpclmulqdq")))
#define T256 __attribute__((target("sse2,ssse3,sse4.1,gfni,pclmul,avx,avx2")))
#define INLINE static inline __attribute__((always_inline))

/* ---- SM4, 4 blocks per xmm group ------------------------------------------------------- */

/* Helpers both S-box forms share (no GFNI or AES instruction in them). */

INLINE TBASE __m128i rol128(__m128i x, int n)
{
    return _mm_or_si128(_mm_slli_epi32(x, n), _mm_srli_epi32(x, 32 - n));
}

/* L(B) = B ^ rol(B,2) ^ rol(B,10) ^ rol(B,18) ^ rol(B,24); byte rotations are shuffles. */
INLINE TBASE __m128i lin128(__m128i b)
{
    const __m128i r8 = _mm_set_epi8(14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3);
    const __m128i r16 = _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2);
    const __m128i r24 = _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1);
    __m128i t = _mm_xor_si128(_mm_xor_si128(b, _mm_shuffle_epi8(b, r8)), _mm_shuffle_epi8(b, r16));
    return _mm_xor_si128(_mm_xor_si128(b, _mm_shuffle_epi8(b, r24)), rol128(t, 2));
}

INLINE TBASE __m128i bswap32x4(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2,
                                            3));
}

/* GFNI: S(x) = affineinv(affine(x, M1, C1), M2, C2), two instructions a layer. */
INLINE T128 __m128i sbox128(__m128i x)
{
    x = _mm_gf2p8affine_epi64_epi8(x, _mm_set1_epi64x((long long)SM4_GFNI_M1), SM4_GFNI_C1);
    return _mm_gf2p8affineinv_epi64_epi8(x, _mm_set1_epi64x((long long)SM4_GFNI_M2),
                                         SM4_GFNI_C2);
}

/* AES-NI (CPUs without GFNI): the AES-field inversion from AESENCLAST with a zero round key
 * (InvShiftRows first, so that its ShiftRows leaves every byte in place), between two affine
 * maps done as nibble lookups with PSHUFB (crypto/tools/sm4_gfni_matrices.py: aesni_tables).
 * Constant time too: the tables are indexed inside registers, never through memory. */
INLINE TAES __m128i affine128(__m128i x, __m128i lo, __m128i hi)
{
    const __m128i m4 = _mm_set1_epi8(0x0f);
    return _mm_xor_si128(_mm_shuffle_epi8(lo, _mm_and_si128(x, m4)),
                         _mm_shuffle_epi8(hi, _mm_and_si128(_mm_srli_epi16(x, 4), m4)));
}

INLINE TAES __m128i sbox128_aesni(__m128i x)
{
    const __m128i pre_lo = _mm_setr_epi8(SM4_AESNI_PRE_LO);
    const __m128i pre_hi = _mm_setr_epi8(SM4_AESNI_PRE_HI);
    const __m128i post_lo = _mm_setr_epi8(SM4_AESNI_POST_LO);
    const __m128i post_hi = _mm_setr_epi8(SM4_AESNI_POST_HI);
    const __m128i inv_shift_rows =
        _mm_setr_epi8(0, 13, 10, 7, 4, 1, 14, 11, 8, 5, 2, 15, 12, 9, 6, 3);
    x = _mm_shuffle_epi8(affine128(x, pre_lo, pre_hi), inv_shift_rows);
    return affine128(_mm_aesenclast_si128(x, _mm_setzero_si128()), post_lo, post_hi);
}

#define SM4X_SBOX sbox128
#define SM4X_TARGET T128
#define SM4X(name) name##_gfni
#include "_sm4_x128.h"
#undef SM4X_SBOX
#undef SM4X_TARGET
#undef SM4X

#define SM4X_SBOX sbox128_aesni
#define SM4X_TARGET TAES
#define SM4X(name) name##_aesni
#include "_sm4_x128.h"
#undef SM4X_SBOX
#undef SM4X_TARGET
#undef SM4X

/* The 4-block path of the level in use: GFNI's or AES-NI's S-box. */
static void ecb128(const uint32_t *rk, const uint8_t *in, uint8_t *out, size_t nblocks)
{
    if (g_level == LEVEL_AESNI || g_level == LEVEL_VAES_AVX2)
        ecb128_aesni(rk, in, out, nblocks);
    else
        ecb128_gfni(rk, in, out, nblocks);
}

static uint32_t sbox_word(uint32_t w)
{
    return g_level == LEVEL_AESNI || g_level == LEVEL_VAES_AVX2 ? sbox_word_aesni(w)
                                                                 : sbox_word_gfni(w);
}

static inline uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void key_schedule(const uint8_t key[16], uint32_t rk[32])
{
    static const uint32_t FK[4] = {0xa3b1bac6u, 0x56aa3350u, 0x677d9197u, 0xb27022dcu};
    uint32_t k[4];
    for (int i = 0; i < 4; i++) k[i] = load_be32(key + 4 * i) ^ FK[i];
    for (int i = 0; i < 32; i++) {
        uint32_t ck = 0;
        for (int j = 0; j < 4; j++) ck = (ck << 8) | (uint32_t)(((4 * i + j) * 7) & 0xff);
        uint32_t t = sbox_word(k[(i + 1) & 3] ^ k[(i + 2) & 3] ^ k[(i + 3) & 3] ^ ck);
        t = t ^ rol32(t, 13) ^ rol32(t, 23);
        k[i & 3] ^= t;
        rk[i] = k[i & 3];
    }
    secure_zero(k, sizeof k);
}


/* ---- SM4, 16 blocks per zmm group ------------------------------------------------------ */

INLINE T512 __m512i sbox512(__m512i x)
{
    x = _mm512_gf2p8affine_epi64_epi8(x, _mm512_set1_epi64((long long)SM4_GFNI_M1), SM4_GFNI_C1);
    return _mm512_gf2p8affineinv_epi64_epi8(x, _mm512_set1_epi64((long long)SM4_GFNI_M2),
                                            SM4_GFNI_C2);
}

#define XOR3_512(a, b, c) _mm512_ternarylogic_epi32(a, b, c, 0x96)

/* a ^= L(S(in)), L as rol2(t ^ rol8 t ^ rol16 t) ^ rol24 t ^ t: byte rotations are shuffles
 * (port 5), which leaves port 0 to the two GFNI instructions and one vprold. */
#define TL512(a, in)                                                                   \
    do {                                                                               \
        __m512i t_ = sbox512(in);                                                      \
        __m512i u_ = XOR3_512(t_, _mm512_shuffle_epi8(t_, r8), _mm512_shuffle_epi8(t_, r16)); \
        a = XOR3_512(a, t_, _mm512_shuffle_epi8(t_, r24));                             \
        a = _mm512_xor_si512(a, _mm512_rol_epi32(u_, 2));                              \
    } while (0)

#define ROUND512(a, b, c, d, k) TL512(a, _mm512_xor_si512(XOR3_512(b, c, d), k))


#define ROT_MASKS_512                                                                  \
    const __m512i r8 = _mm512_broadcast_i32x4(                                         \
        _mm_set_epi8(14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3));             \
    const __m512i r16 = _mm512_broadcast_i32x4(                                        \
        _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));             \
    const __m512i r24 = _mm512_broadcast_i32x4(                                        \
        _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1))

INLINE T512 __m512i bswap32x16(__m512i x)
{
    const __m512i m = _mm512_broadcast_i32x4(
        _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3));
    return _mm512_shuffle_epi8(x, m);
}

/* Lane d = 4k + m of the counter word holds block 4m + k, so that the in-lane transpose at
 * the end leaves blocks 0-3, 4-7, 8-11, 12-15 in the four registers, in order. */
static const uint32_t CTR_OFFSETS[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

INLINE T512 void untranspose512(__m512i x0, __m512i x1, __m512i x2, __m512i x3, __m512i o[4])
{
    __m512i t0 = _mm512_unpacklo_epi32(x3, x2), t1 = _mm512_unpackhi_epi32(x3, x2);
    __m512i t2 = _mm512_unpacklo_epi32(x1, x0), t3 = _mm512_unpackhi_epi32(x1, x0);
    o[0] = bswap32x16(_mm512_unpacklo_epi64(t0, t2));
    o[1] = bswap32x16(_mm512_unpackhi_epi64(t0, t2));
    o[2] = bswap32x16(_mm512_unpacklo_epi64(t1, t3));
    o[3] = bswap32x16(_mm512_unpackhi_epi64(t1, t3));
}

/* Keystream for 32 blocks (two interleaved groups hide the GFNI latency). */
INLINE T512 void ks32_512(const uint32_t *rk, __m512i n0, __m512i n1, __m512i n2, __m512i c,
                          __m512i o[8])
{
    ROT_MASKS_512;
    __m512i x0 = n0, x1 = n1, x2 = n2, x3 = c;
    __m512i y0 = n0, y1 = n1, y2 = n2, y3 = _mm512_add_epi32(c, _mm512_set1_epi32(16));
    for (int i = 0; i < 32; i += 4) {
        __m512i k0 = _mm512_set1_epi32((int)rk[i]), k1 = _mm512_set1_epi32((int)rk[i + 1]);
        __m512i k2 = _mm512_set1_epi32((int)rk[i + 2]), k3 = _mm512_set1_epi32((int)rk[i + 3]);
        ROUND512(x0, x1, x2, x3, k0);
        ROUND512(y0, y1, y2, y3, k0);
        ROUND512(x1, x2, x3, x0, k1);
        ROUND512(y1, y2, y3, y0, k1);
        ROUND512(x2, x3, x0, x1, k2);
        ROUND512(y2, y3, y0, y1, k2);
        ROUND512(x3, x0, x1, x2, k3);
        ROUND512(y3, y0, y1, y2, k3);
    }
    untranspose512(x0, x1, x2, x3, o);
    untranspose512(y0, y1, y2, y3, o + 4);
}

/* Keystream for 64 blocks: four interleaved groups; one round's dependency chain (~16 cycles,
 * mostly the two GFNI latencies) then overlaps the others' work. */
INLINE T512 void ks64_512(const uint32_t *rk, __m512i n0, __m512i n1, __m512i n2, __m512i c,
                          __m512i o[16])
{
    ROT_MASKS_512;
    const __m512i sixteen = _mm512_set1_epi32(16);
    __m512i a0 = n0, a1 = n1, a2 = n2, a3 = c;
    __m512i b0 = n0, b1 = n1, b2 = n2, b3 = _mm512_add_epi32(c, sixteen);
    __m512i c0 = n0, c1 = n1, c2 = n2, c3 = _mm512_add_epi32(b3, sixteen);
    __m512i d0 = n0, d1 = n1, d2 = n2, d3 = _mm512_add_epi32(c3, sixteen);
    /* Consecutive rounds share two of their three state words (x2^x3 for rounds 0 and 1 of
     * each four, x0^x1 for rounds 2 and 3): each round input is then one ternlog. */
    __m512i sa, sb, sc, sd;
    for (int i = 0; i < 32; i += 4) {
        __m512i k = _mm512_set1_epi32((int)rk[i]);
        sa = _mm512_xor_si512(a2, a3);
        sb = _mm512_xor_si512(b2, b3);
        sc = _mm512_xor_si512(c2, c3);
        sd = _mm512_xor_si512(d2, d3);
        TL512(a0, XOR3_512(a1, sa, k));
        TL512(b0, XOR3_512(b1, sb, k));
        TL512(c0, XOR3_512(c1, sc, k));
        TL512(d0, XOR3_512(d1, sd, k));
        k = _mm512_set1_epi32((int)rk[i + 1]);
        TL512(a1, XOR3_512(a0, sa, k));
        TL512(b1, XOR3_512(b0, sb, k));
        TL512(c1, XOR3_512(c0, sc, k));
        TL512(d1, XOR3_512(d0, sd, k));
        k = _mm512_set1_epi32((int)rk[i + 2]);
        sa = _mm512_xor_si512(a0, a1);
        sb = _mm512_xor_si512(b0, b1);
        sc = _mm512_xor_si512(c0, c1);
        sd = _mm512_xor_si512(d0, d1);
        TL512(a2, XOR3_512(a3, sa, k));
        TL512(b2, XOR3_512(b3, sb, k));
        TL512(c2, XOR3_512(c3, sc, k));
        TL512(d2, XOR3_512(d3, sd, k));
        k = _mm512_set1_epi32((int)rk[i + 3]);
        TL512(a3, XOR3_512(a2, sa, k));
        TL512(b3, XOR3_512(b2, sb, k));
        TL512(c3, XOR3_512(c2, sc, k));
        TL512(d3, XOR3_512(d2, sd, k));
    }
    untranspose512(a0, a1, a2, a3, o);
    untranspose512(b0, b1, b2, b3, o + 4);
    untranspose512(c0, c1, c2, c3, o + 8);
    untranspose512(d0, d1, d2, d3, o + 12);
}

INLINE T512 void ks16_512(const uint32_t *rk, __m512i n0, __m512i n1, __m512i n2, __m512i c,
                          __m512i o[4])
{
    ROT_MASKS_512;
    __m512i x0 = n0, x1 = n1, x2 = n2, x3 = c;
    for (int i = 0; i < 32; i += 4) {
        ROUND512(x0, x1, x2, x3, _mm512_set1_epi32((int)rk[i]));
        ROUND512(x1, x2, x3, x0, _mm512_set1_epi32((int)rk[i + 1]));
        ROUND512(x2, x3, x0, x1, _mm512_set1_epi32((int)rk[i + 2]));
        ROUND512(x3, x0, x1, x2, _mm512_set1_epi32((int)rk[i + 3]));
    }
    untranspose512(x0, x1, x2, x3, o);
}

static T512 void ctr512(const uint32_t *rk, const uint32_t nw[3], uint32_t ctr,
                        const uint8_t *in, uint8_t *out, size_t len)
{
    const __m512i n0 = _mm512_set1_epi32((int)nw[0]), n1 = _mm512_set1_epi32((int)nw[1]),
                  n2 = _mm512_set1_epi32((int)nw[2]);
    const __m512i offs = _mm512_loadu_si512((const void *)CTR_OFFSETS);
    __m512i o[16];
    while (len >= 1024) {
        ks64_512(rk, n0, n1, n2, _mm512_add_epi32(_mm512_set1_epi32((int)ctr), offs), o);
        for (int m = 0; m < 16; m++) {
            __m512i v = _mm512_loadu_si512((const void *)(in + 64 * m));
            _mm512_storeu_si512((void *)(out + 64 * m), _mm512_xor_si512(v, o[m]));
        }
        in += 1024;
        out += 1024;
        len -= 1024;
        ctr += 64;
    }
    if (len >= 512) {
        ks32_512(rk, n0, n1, n2, _mm512_add_epi32(_mm512_set1_epi32((int)ctr), offs), o);
        for (int m = 0; m < 8; m++) {
            __m512i v = _mm512_loadu_si512((const void *)(in + 64 * m));
            _mm512_storeu_si512((void *)(out + 64 * m), _mm512_xor_si512(v, o[m]));
        }
        in += 512;
        out += 512;
        len -= 512;
        ctr += 32;
    }
    while (len) {
        ks16_512(rk, n0, n1, n2, _mm512_add_epi32(_mm512_set1_epi32((int)ctr), offs), o);
        for (int m = 0; m < 4 && len; m++) {
            size_t n = len < 64 ? len : 64;
            __mmask64 k = n == 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1);
            __m512i v = _mm512_maskz_loadu_epi8(k, (const void *)in);
            _mm512_mask_storeu_epi8((void *)out, k, _mm512_xor_si512(v, o[m]));
            in += n;
            out += n;
            len -= n;
        }
        ctr += 16;
    }
}

/* ---- SM4, 8 blocks per ymm group (AVX2: GFNI CPUs without AVX-512, or VAES) ---------- */

/* Helpers both S-box forms share (no GFNI or AES instruction in them). */
INLINE TBASE256 __m256i bswap32x8(__m256i x)
{
    return _mm256_shuffle_epi8(x, _mm256_broadcastsi128_si256(_mm_set_epi8(
                                      12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3)));
}

INLINE TBASE256 void untranspose256(__m256i x0, __m256i x1, __m256i x2, __m256i x3, __m256i o[4])
{
    __m256i t0 = _mm256_unpacklo_epi32(x3, x2), t1 = _mm256_unpackhi_epi32(x3, x2);
    __m256i t2 = _mm256_unpacklo_epi32(x1, x0), t3 = _mm256_unpackhi_epi32(x1, x0);
    o[0] = bswap32x8(_mm256_unpacklo_epi64(t0, t2));
    o[1] = bswap32x8(_mm256_unpackhi_epi64(t0, t2));
    o[2] = bswap32x8(_mm256_unpacklo_epi64(t1, t3));
    o[3] = bswap32x8(_mm256_unpackhi_epi64(t1, t3));
}

/* GFNI */
INLINE T256 __m256i sbox256(__m256i x)
{
    x = _mm256_gf2p8affine_epi64_epi8(x, _mm256_set1_epi64x((long long)SM4_GFNI_M1), SM4_GFNI_C1);
    return _mm256_gf2p8affineinv_epi64_epi8(x, _mm256_set1_epi64x((long long)SM4_GFNI_M2),
                                            SM4_GFNI_C2);
}

/* VAES (CPUs with AVX2 and VAES but no GFNI, e.g. AMD Zen 3): sbox128_aesni on both lanes. */
INLINE TVAES __m256i affine256(__m256i x, __m256i lo, __m256i hi)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    return _mm256_xor_si256(_mm256_shuffle_epi8(lo, _mm256_and_si256(x, m4)),
                            _mm256_shuffle_epi8(hi, _mm256_and_si256(_mm256_srli_epi16(x, 4), m4)));
}

INLINE TVAES __m256i sbox256_vaes(__m256i x)
{
    const __m256i pre_lo = _mm256_broadcastsi128_si256(_mm_setr_epi8(SM4_AESNI_PRE_LO));
    const __m256i pre_hi = _mm256_broadcastsi128_si256(_mm_setr_epi8(SM4_AESNI_PRE_HI));
    const __m256i post_lo = _mm256_broadcastsi128_si256(_mm_setr_epi8(SM4_AESNI_POST_LO));
    const __m256i post_hi = _mm256_broadcastsi128_si256(_mm_setr_epi8(SM4_AESNI_POST_HI));
    const __m256i inv_shift_rows = _mm256_broadcastsi128_si256(
        _mm_setr_epi8(0, 13, 10, 7, 4, 1, 14, 11, 8, 5, 2, 15, 12, 9, 6, 3));
    x = _mm256_shuffle_epi8(affine256(x, pre_lo, pre_hi), inv_shift_rows);
    return affine256(_mm256_aesenclast_epi128(x, _mm256_setzero_si256()), post_lo, post_hi);
}

#define SM4Y_SBOX sbox256
#define SM4Y_TARGET T256
#define SM4Y(name) name##_gfni
#include "_sm4_x256.h"
#undef SM4Y_SBOX
#undef SM4Y_TARGET
#undef SM4Y

#define SM4Y_SBOX sbox256_vaes
#define SM4Y_TARGET TVAES
#define SM4Y(name) name##_vaes
#include "_sm4_x256.h"
#undef SM4Y_SBOX
#undef SM4Y_TARGET
#undef SM4Y


/* ---- GHASH ----------------------------------------------------------------------------- */
/* Blocks are byte-reversed so the 128-bit integer is the bit-reflected field element. A
 * carry-less product of two reflected values is the reflected product shifted right by one
 * bit: shift the 256-bit sum left by one, then reduce modulo x^128 + x^7 + x^2 + x + 1.
 * Both steps are linear, so 8 products are summed first and reduced once. */

INLINE TCLMUL __m128i bswap128(__m128i x)
{
    return _mm_shuffle_epi8(x, _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                            15));
}

INLINE TCLMUL void clmul_acc(__m128i a, __m128i b, __m128i *lo, __m128i *mid, __m128i *hi)
{
    *lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
    *hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
    *mid = _mm_xor_si128(*mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x01),
                                             _mm_clmulepi64_si128(a, b, 0x10)));
}

INLINE TCLMUL __m128i gf_reduce(__m128i lo, __m128i mid, __m128i hi)
{
    lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
    /* 256-bit shift left by one */
    __m128i clo = _mm_srli_epi64(lo, 63), chi = _mm_srli_epi64(hi, 63);
    hi = _mm_or_si128(_mm_or_si128(_mm_slli_epi64(hi, 1), _mm_slli_si128(chi, 8)),
                      _mm_srli_si128(clo, 8));
    lo = _mm_or_si128(_mm_slli_epi64(lo, 1), _mm_slli_si128(clo, 8));
    /* fold the bits that the right shifts below would push out, then lo*(1+x+x^2+x^7) */
    __m128i t = _mm_xor_si128(_mm_xor_si128(_mm_slli_epi32(lo, 31), _mm_slli_epi32(lo, 30)),
                              _mm_slli_epi32(lo, 25));
    __m128i carry = _mm_srli_si128(t, 4);
    lo = _mm_xor_si128(lo, _mm_slli_si128(t, 12));
    __m128i r = _mm_xor_si128(_mm_xor_si128(_mm_srli_epi32(lo, 1), _mm_srli_epi32(lo, 2)),
                              _mm_xor_si128(_mm_srli_epi32(lo, 7), carry));
    return _mm_xor_si128(hi, _mm_xor_si128(lo, r));
}

static TCLMUL __m128i gf_mul(__m128i a, __m128i b)
{
    __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
    clmul_acc(a, b, &lo, &mid, &hi);
    return gf_reduce(lo, mid, hi);
}

/* Y <- GHASH update over len bytes (a partial last block is zero-padded). */
static TCLMUL __m128i ghash128(const uint8_t htab[8][16], __m128i y, const uint8_t *p, size_t len)
{
    __m128i h[8];
    for (int i = 0; i < 8; i++) h[i] = _mm_loadu_si128((const __m128i *)htab[i]);
    while (len >= 128) {
        __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
        __m128i x = _mm_xor_si128(y, bswap128(_mm_loadu_si128((const __m128i *)p)));
        clmul_acc(x, h[7], &lo, &mid, &hi);
        for (int i = 1; i < 8; i++)
            clmul_acc(bswap128(_mm_loadu_si128((const __m128i *)(p + 16 * i))), h[7 - i], &lo,
                      &mid, &hi);
        y = gf_reduce(lo, mid, hi);
        p += 128;
        len -= 128;
    }
    while (len >= 16) {
        y = gf_mul(_mm_xor_si128(y, bswap128(_mm_loadu_si128((const __m128i *)p))), h[0]);
        p += 16;
        len -= 16;
    }
    if (len) {
        uint8_t last[16] = {0};
        memcpy(last, p, len);
        y = gf_mul(_mm_xor_si128(y, bswap128(_mm_loadu_si128((const __m128i *)last))), h[0]);
    }
    return y;
}

/* 16 blocks per step: four lanes of carry-less products per instruction, lane sums folded
 * into one 128-bit accumulator, one reduction per 256 bytes. */
static T512 __m128i ghash512(const sm4gcm_key *k, __m128i y, const uint8_t *p, size_t len)
{
    if (len >= 256) {
        const __m512i rev = _mm512_broadcast_i32x4(
            _mm_set_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        __m512i h[4];
        for (int j = 0; j < 4; j++) h[j] = _mm512_loadu_si512((const void *)k->hdesc[4 * j]);
        while (len >= 256) {
            __m512i lo = _mm512_setzero_si512(), mid = lo, hi = lo;
            for (int j = 0; j < 4; j++) {
                __m512i x = _mm512_shuffle_epi8(_mm512_loadu_si512((const void *)(p + 64 * j)), rev);
                if (j == 0) x = _mm512_xor_si512(x, _mm512_zextsi128_si512(y));
                lo = _mm512_xor_si512(lo, _mm512_clmulepi64_epi128(x, h[j], 0x00));
                hi = _mm512_xor_si512(hi, _mm512_clmulepi64_epi128(x, h[j], 0x11));
                mid = _mm512_ternarylogic_epi64(mid, _mm512_clmulepi64_epi128(x, h[j], 0x01),
                                                _mm512_clmulepi64_epi128(x, h[j], 0x10), 0x96);
            }
            __m128i l = _mm_xor_si128(
                _mm_xor_si128(_mm512_castsi512_si128(lo), _mm512_extracti32x4_epi32(lo, 1)),
                _mm_xor_si128(_mm512_extracti32x4_epi32(lo, 2), _mm512_extracti32x4_epi32(lo, 3)));
            __m128i m = _mm_xor_si128(
                _mm_xor_si128(_mm512_castsi512_si128(mid), _mm512_extracti32x4_epi32(mid, 1)),
                _mm_xor_si128(_mm512_extracti32x4_epi32(mid, 2), _mm512_extracti32x4_epi32(mid, 3)));
            __m128i u = _mm_xor_si128(
                _mm_xor_si128(_mm512_castsi512_si128(hi), _mm512_extracti32x4_epi32(hi, 1)),
                _mm_xor_si128(_mm512_extracti32x4_epi32(hi, 2), _mm512_extracti32x4_epi32(hi, 3)));
            y = gf_reduce(l, m, u);
            p += 256;
            len -= 256;
        }
    }
    return ghash128(k->htab, y, p, len);
}

static __m128i ghash(const sm4gcm_key *k, __m128i y, const uint8_t *p, size_t len)
{
    if (g_level >= LEVEL_AVX512) return ghash512(k, y, p, len);
    return ghash128(k->htab, y, p, len);
}

static TCLMUL void ghash_init(sm4gcm_key *k)
{
    uint8_t zero[16] = {0}, hb[16];
    ecb128(k->rk, zero, hb, 1);
    __m128i h = bswap128(_mm_loadu_si128((const __m128i *)hb)), p = h;
    for (int i = 0; i < 16; i++) {
        if (i < 8) _mm_storeu_si128((__m128i *)k->htab[i], p);
        _mm_storeu_si128((__m128i *)k->hdesc[15 - i], p);
        p = gf_mul(p, h);
    }
    secure_zero(hb, sizeof hb);
}

static void ctr_xor(const sm4gcm_key *k, const uint32_t nw[3], uint32_t ctr, const uint8_t *in,
                    uint8_t *out, size_t len)
{
    if (g_level >= LEVEL_AVX512)
        ctr512(k->rk, nw, ctr, in, out, len);
    else if (g_level == LEVEL_AVX2)
        ctr256_gfni(k->rk, nw, ctr, in, out, len);
    else if (g_level == LEVEL_GFNI_SSE)
        ctr128_gfni(k->rk, nw, ctr, in, out, len);
    else if (g_level == LEVEL_VAES_AVX2)
        ctr256_vaes(k->rk, nw, ctr, in, out, len);
    else
        ctr128_aesni(k->rk, nw, ctr, in, out, len);
}

/* seal (encrypt=1): ct = CTR(pt), tag over (aad, ct). open: tag over (aad, ct), pt = CTR(ct).
 * Writes the computed tag; the caller compares it on open. */
static TCLMUL void gcm_crypt(const sm4gcm_key *k, const uint8_t nonce[12], const uint8_t *aad,
                           size_t alen, const uint8_t *in, uint8_t *out, size_t len, int encrypt,
                           uint8_t tag[16])
{
    uint32_t nw[3] = {load_be32(nonce), load_be32(nonce + 4), load_be32(nonce + 8)};
    __m128i y = ghash(k, _mm_setzero_si128(), aad, alen);
    uint32_t ctr = 2;
    for (size_t off = 0; off < len; off += CHUNK_BYTES) {
        size_t n = len - off < CHUNK_BYTES ? len - off : CHUNK_BYTES;
        if (encrypt) {
            ctr_xor(k, nw, ctr, in + off, out + off, n);
            y = ghash(k, y, out + off, n);
        } else {
            y = ghash(k, y, in + off, n);
            ctr_xor(k, nw, ctr, in + off, out + off, n);
        }
        ctr += CHUNK_BYTES / 16;
    }
    __m128i lens = _mm_set_epi64x((long long)((uint64_t)alen * 8), (long long)((uint64_t)len * 8));
    y = gf_mul(_mm_xor_si128(y, lens), _mm_loadu_si128((const __m128i *)k->htab[0]));
    uint8_t j0[16], ek[16];
    memcpy(j0, nonce, 12);
    j0[12] = j0[13] = j0[14] = 0;
    j0[15] = 1;
    ecb128(k->rk, j0, ek, 1);
    _mm_storeu_si128((__m128i *)tag,
                     _mm_xor_si128(bswap128(y), _mm_loadu_si128((const __m128i *)ek)));
    secure_zero(ek, sizeof ek);
}

static void detect(void)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("sse4.1") || !__builtin_cpu_supports("pclmul")) {
        g_reason = "CPU lacks SSE4.1 or PCLMULQDQ";
        return;
    }
    g_has_aesni = __builtin_cpu_supports("aes");
    g_has_vaes_avx2 = g_has_aesni && __builtin_cpu_supports("vaes") &&
                      __builtin_cpu_supports("avx2");
    if (!__builtin_cpu_supports("gfni")) {
        if (!g_has_aesni) {
            g_reason = "CPU lacks GFNI and AES-NI";
            return;
        }
        g_level = g_max_level = g_has_vaes_avx2 ? LEVEL_VAES_AVX2 : LEVEL_AESNI;
        g_reason = "";
        return;
    }
    g_max_level = LEVEL_GFNI_SSE;
    if (__builtin_cpu_supports("avx2")) g_max_level = LEVEL_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("vpclmulqdq"))
        g_max_level = LEVEL_AVX512;
    g_level = g_max_level;
    g_reason = "";
}

#else /* not x86-64 */

static void detect(void) { g_reason = "the native SM4-GCM backend is x86-64 only"; }

#endif

/* ---- Python objects -------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    sm4gcm_key key;
} CtxObject;

static PyObject *unavailable(void)
{
    PyErr_Format(PyExc_RuntimeError, "native SM4-GCM unavailable: %s", g_reason);
    return NULL;
}

static int get_key(PyObject *obj, uint8_t out[16])
{
    Py_buffer b;
    if (PyObject_GetBuffer(obj, &b, PyBUF_SIMPLE) < 0) return -1;
    if (b.len != 16) {
        PyErr_Format(PyExc_ValueError, "SM4 key must be 16 bytes, got %zd", b.len);
        PyBuffer_Release(&b);
        return -1;
    }
    memcpy(out, b.buf, 16);
    PyBuffer_Release(&b);
    return 0;
}

static PyObject *Ctx_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *keyobj;
    static char *kwlist[] = {"key", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O", kwlist, &keyobj)) return NULL;
    if (g_level == LEVEL_NONE) return unavailable();
    uint8_t key[16];
    if (get_key(keyobj, key) < 0) return NULL;
    CtxObject *self = (CtxObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        secure_zero(key, sizeof key);
        return NULL;
    }
#ifdef SM4GCM_X86
    key_schedule(key, self->key.rk);
    ghash_init(&self->key);
#endif
    secure_zero(key, sizeof key);
    return (PyObject *)self;
}

static void Ctx_dealloc(CtxObject *self)
{
    secure_zero(&self->key, sizeof self->key);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Parses (nonce, data[, aad]) into buffers; on failure releases what it took. */
static int parse_args(PyObject *const *args, Py_ssize_t nargs, const char *name, Py_buffer *nb,
                      Py_buffer *db, Py_buffer *ab)
{
    if (nargs < 2 || nargs > 3) {
        PyErr_Format(PyExc_TypeError, "%s(nonce, data, aad=b'') takes 2 or 3 arguments", name);
        return -1;
    }
    if (PyObject_GetBuffer(args[0], nb, PyBUF_SIMPLE) < 0) return -1;
    if (nb->len != 12) {
        PyErr_Format(PyExc_ValueError, "SM4-GCM nonce must be 12 bytes, got %zd", nb->len);
        PyBuffer_Release(nb);
        return -1;
    }
    if (PyObject_GetBuffer(args[1], db, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(nb);
        return -1;
    }
    ab->obj = NULL;
    ab->buf = NULL;
    ab->len = 0;
    if (nargs == 3 && PyObject_GetBuffer(args[2], ab, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(nb);
        PyBuffer_Release(db);
        return -1;
    }
    return 0;
}

static void release_args(Py_buffer *nb, Py_buffer *db, Py_buffer *ab)
{
    PyBuffer_Release(nb);
    PyBuffer_Release(db);
    if (ab->obj != NULL) PyBuffer_Release(ab);
}

static PyObject *Ctx_seal(CtxObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer nb, db, ab;
    if (parse_args(args, nargs, "seal", &nb, &db, &ab) < 0) return NULL;
    PyObject *res = NULL;
    if ((unsigned long long)db.len > GCM_MAX_PLAINTEXT) {
        PyErr_SetString(PyExc_ValueError, "SM4-GCM plaintext longer than 2^36 - 32 bytes");
        goto done;
    }
    res = PyBytes_FromStringAndSize(NULL, db.len + 16);
    if (res == NULL) goto done;
#ifdef SM4GCM_X86
    {
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(res);
        const uint8_t *aad = ab.len ? (const uint8_t *)ab.buf : (const uint8_t *)"";
        if (db.len >= GIL_RELEASE_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            gcm_crypt(&self->key, nb.buf, aad, (size_t)ab.len, db.buf, out, (size_t)db.len, 1,
                      out + db.len);
            Py_END_ALLOW_THREADS
        } else {
            gcm_crypt(&self->key, nb.buf, aad, (size_t)ab.len, db.buf, out, (size_t)db.len, 1,
                      out + db.len);
        }
    }
#endif
done:
    release_args(&nb, &db, &ab);
    return res;
}

/* header || SM4-GCM(concatenated parts, aad = header) || tag in one new buffer: the parts
 * are gathered straight into the output and encrypted in place (no join, no second copy). */
static PyObject *Ctx_seal_parts(CtxObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "seal_parts(nonce, parts, header) takes 3 arguments");
        return NULL;
    }
    Py_buffer nb, hb, pb;
    if (PyObject_GetBuffer(args[0], &nb, PyBUF_SIMPLE) < 0) return NULL;
    if (nb.len != 12) {
        PyErr_Format(PyExc_ValueError, "SM4-GCM nonce must be 12 bytes, got %zd", nb.len);
        PyBuffer_Release(&nb);
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[1], "parts must be a list or tuple of buffers");
    if (seq == NULL) {
        PyBuffer_Release(&nb);
        return NULL;
    }
    PyObject *res = NULL;
    if (PyObject_GetBuffer(args[2], &hb, PyBUF_SIMPLE) < 0) goto done_seq;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq), total = 0;
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyObject_GetBuffer(items[i], &pb, PyBUF_SIMPLE) < 0) goto done_hdr;
        total += pb.len;
        PyBuffer_Release(&pb);
        if ((unsigned long long)total > GCM_MAX_PLAINTEXT) {
            PyErr_SetString(PyExc_ValueError, "SM4-GCM plaintext longer than 2^36 - 32 bytes");
            goto done_hdr;
        }
    }
    res = PyBytes_FromStringAndSize(NULL, hb.len + total + 16);
    if (res == NULL) goto done_hdr;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(res);
    memcpy(out, hb.buf, (size_t)hb.len);
    Py_ssize_t pos = hb.len;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyObject_GetBuffer(items[i], &pb, PyBUF_SIMPLE) < 0 || pos + pb.len > hb.len + total) {
            if (!PyErr_Occurred()) {
                PyBuffer_Release(&pb);
                PyErr_SetString(PyExc_ValueError, "a part changed size while sealing");
            }
            Py_CLEAR(res);
            goto done_hdr;
        }
        memcpy(out + pos, pb.buf, (size_t)pb.len);
        pos += pb.len;
        PyBuffer_Release(&pb);
    }
    if (pos != hb.len + total) {
        PyErr_SetString(PyExc_ValueError, "a part changed size while sealing");
        Py_CLEAR(res);
        goto done_hdr;
    }
#ifdef SM4GCM_X86
    {
        uint8_t *body = out + hb.len;
        if (total >= GIL_RELEASE_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            gcm_crypt(&self->key, nb.buf, out, (size_t)hb.len, body, body, (size_t)total, 1,
                      body + total);
            Py_END_ALLOW_THREADS
        } else {
            gcm_crypt(&self->key, nb.buf, out, (size_t)hb.len, body, body, (size_t)total, 1,
                      body + total);
        }
    }
#endif
done_hdr:
    PyBuffer_Release(&hb);
done_seq:
    Py_DECREF(seq);
    PyBuffer_Release(&nb);
    return res;
}

/* Returns the plaintext, or None if the tag does not verify (no plaintext escapes). */
static PyObject *Ctx_open(CtxObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer nb, db, ab;
    if (parse_args(args, nargs, "open", &nb, &db, &ab) < 0) return NULL;
    PyObject *res = NULL;
    if (db.len < 16) {
        PyErr_SetString(PyExc_ValueError, "SM4-GCM data shorter than the tag");
        goto done;
    }
    size_t len = (size_t)db.len - 16;
    if ((unsigned long long)len > GCM_MAX_PLAINTEXT) {
        PyErr_SetString(PyExc_ValueError, "SM4-GCM ciphertext longer than 2^36 - 32 bytes");
        goto done;
    }
    res = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)len);
    if (res == NULL) goto done;
#ifdef SM4GCM_X86
    {
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(res);
        const uint8_t *in = (const uint8_t *)db.buf;
        const uint8_t *aad = ab.len ? (const uint8_t *)ab.buf : (const uint8_t *)"";
        uint8_t tag[16];
        if (len >= GIL_RELEASE_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            gcm_crypt(&self->key, nb.buf, aad, (size_t)ab.len, in, out, len, 0, tag);
            Py_END_ALLOW_THREADS
        } else {
            gcm_crypt(&self->key, nb.buf, aad, (size_t)ab.len, in, out, len, 0, tag);
        }
        uint8_t diff = 0;
        for (int i = 0; i < 16; i++) diff |= (uint8_t)(tag[i] ^ in[len + i]);
        if (diff != 0) {
            secure_zero(out, len);
            Py_DECREF(res);
            res = Py_None;
            Py_INCREF(res);
        }
    }
#endif
done:
    release_args(&nb, &db, &ab);
    return res;
}

static PyMethodDef Ctx_methods[] = {
    {"seal", (PyCFunction)(void (*)(void))Ctx_seal, METH_FASTCALL,
     "seal(nonce12, plaintext, aad=b'') -> ciphertext || tag16"},
    {"seal_parts", (PyCFunction)(void (*)(void))Ctx_seal_parts, METH_FASTCALL,
     "seal_parts(nonce12, parts, header) -> header || ciphertext || tag16 (aad = header)"},
    {"open", (PyCFunction)(void (*)(void))Ctx_open, METH_FASTCALL,
     "open(nonce12, ciphertext_and_tag, aad=b'') -> plaintext, or None if the tag is wrong"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject CtxType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "crypto._sm4gcm.SM4GCM",
    .tp_basicsize = sizeof(CtxObject),
    .tp_dealloc = (destructor)Ctx_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "SM4-GCM under one key (round keys and powers of H computed once).",
    .tp_methods = Ctx_methods,
    .tp_new = Ctx_new,
};

static PyObject *mod_isa(PyObject *mod, PyObject *unused)
{
    return PyUnicode_FromString(LEVEL_NAMES[g_level]);
}

/* Test hook: force a narrower code path ("aesni-sse", "vaes-avx2", "gfni-sse", "avx2") or
 * back to the widest. Ctx objects keep the round keys made under any path (the S-box is the
 * same). */
static PyObject *mod_set_isa(PyObject *mod, PyObject *arg)
{
    const char *name = PyUnicode_AsUTF8(arg);
    if (name == NULL) return NULL;
    for (int lvl = LEVEL_AESNI; lvl <= LEVEL_AVX512; lvl++) {
        if (strcmp(name, LEVEL_NAMES[lvl]) == 0) {
            if (lvl > g_max_level || (lvl == LEVEL_AESNI && !g_has_aesni) ||
                (lvl == LEVEL_VAES_AVX2 && !g_has_vaes_avx2)) {
                PyErr_Format(PyExc_ValueError, "this CPU cannot run %s", name);
                return NULL;
            }
            PyObject *prev = PyUnicode_FromString(LEVEL_NAMES[g_level]);
            g_level = lvl;
            return prev;
        }
    }
    PyErr_Format(PyExc_ValueError, "unknown code path %s", name);
    return NULL;
}

/* Test helper: raw SM4 encryption of whole blocks (known-answer tests of the cipher core). */
static PyObject *mod_ecb_encrypt(PyObject *mod, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "ecb_encrypt(key, data)");
        return NULL;
    }
    if (g_level == LEVEL_NONE) return unavailable();
    uint8_t key[16];
    if (get_key(args[0], key) < 0) return NULL;
    Py_buffer b;
    if (PyObject_GetBuffer(args[1], &b, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *res = NULL;
    if (b.len % 16) {
        PyErr_SetString(PyExc_ValueError, "data must be whole 16-byte blocks");
    } else if ((res = PyBytes_FromStringAndSize(NULL, b.len)) != NULL) {
#ifdef SM4GCM_X86
        uint32_t rk[32];
        key_schedule(key, rk);
        ecb128(rk, b.buf, (uint8_t *)PyBytes_AS_STRING(res), (size_t)b.len / 16);
        secure_zero(rk, sizeof rk);
#endif
    }
    secure_zero(key, sizeof key);
    PyBuffer_Release(&b);
    return res;
}

static PyMethodDef mod_methods[] = {
    {"isa", mod_isa, METH_NOARGS,
     "The code path in use: 'avx512', 'avx2', 'gfni-sse', 'vaes-avx2', 'aesni-sse' or 'none'."},
    {"_set_isa", mod_set_isa, METH_O, "Test hook: select a code path; returns the previous."},
    {"_ecb_encrypt", (PyCFunction)(void (*)(void))mod_ecb_encrypt, METH_FASTCALL,
     "Test helper: SM4 encryption of whole blocks."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT, "crypto._sm4gcm",
    "SM4-GCM with GFNI or AES-NI + PCLMULQDQ (x86-64); AVAILABLE says whether this CPU can "
    "run it.",
    -1,
    mod_methods,
};

PyMODINIT_FUNC PyInit__sm4gcm(void)
{
    detect();
    if (PyType_Ready(&CtxType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moddef);
    if (m == NULL) return NULL;
    Py_INCREF(&CtxType);
    if (PyModule_AddObject(m, "SM4GCM", (PyObject *)&CtxType) < 0 ||
        PyModule_AddObject(m, "AVAILABLE", PyBool_FromLong(g_level != LEVEL_NONE)) < 0 ||
        PyModule_AddObject(m, "REASON", PyUnicode_FromString(g_reason)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
