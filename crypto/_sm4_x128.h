/* The 4-blocks-per-xmm SM4 of crypto/_sm4gcm.c, one copy per S-box form: that file includes
 * this twice, with SM4X_SBOX (an __m128i -> __m128i S-box layer), SM4X_TARGET (its target
 * attribute) and SM4X(name) (the copy's function names) defined. Blocks are transposed so
 * that one register holds word j of 4 blocks; four such groups interleave to hide latency.
 */

#define SM4X_ROUND(a, b, c, d, k)                                                      \
    do {                                                                               \
        __m128i t_ = _mm_xor_si128(_mm_xor_si128(b, c), _mm_xor_si128(d, k));          \
        a = _mm_xor_si128(a, lin128(SM4X_SBOX(t_)));                                   \
    } while (0)

/* In: x[j] = word j (native order) of 4 blocks. Out: x[m] = block m, bytes in wire order. */
INLINE SM4X_TARGET void SM4X(rounds128)(const uint32_t *rk, __m128i x[4])
{
    __m128i x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3];
    for (int i = 0; i < 32; i += 4) {
        SM4X_ROUND(x0, x1, x2, x3, _mm_set1_epi32((int)rk[i]));
        SM4X_ROUND(x1, x2, x3, x0, _mm_set1_epi32((int)rk[i + 1]));
        SM4X_ROUND(x2, x3, x0, x1, _mm_set1_epi32((int)rk[i + 2]));
        SM4X_ROUND(x3, x0, x1, x2, _mm_set1_epi32((int)rk[i + 3]));
    }
    /* output (X35, X34, X33, X32), transposed back to blocks */
    __m128i t0 = _mm_unpacklo_epi32(x3, x2), t1 = _mm_unpackhi_epi32(x3, x2);
    __m128i t2 = _mm_unpacklo_epi32(x1, x0), t3 = _mm_unpackhi_epi32(x1, x0);
    x[0] = bswap32x4(_mm_unpacklo_epi64(t0, t2));
    x[1] = bswap32x4(_mm_unpackhi_epi64(t0, t2));
    x[2] = bswap32x4(_mm_unpacklo_epi64(t1, t3));
    x[3] = bswap32x4(_mm_unpackhi_epi64(t1, t3));
}

/* ECB on whole blocks (key derivation of H and J0, and the test helper). */
static SM4X_TARGET void SM4X(ecb128)(const uint32_t *rk, const uint8_t *in, uint8_t *out,
                                     size_t nblocks)
{
    uint8_t buf[64];
    while (nblocks) {
        size_t n = nblocks < 4 ? nblocks : 4;
        memset(buf, 0, sizeof buf);
        memcpy(buf, in, 16 * n);
        __m128i b[4], x[4];
        for (int m = 0; m < 4; m++) b[m] = bswap32x4(_mm_loadu_si128((const __m128i *)(buf + 16 * m)));
        __m128i t0 = _mm_unpacklo_epi32(b[0], b[1]), t1 = _mm_unpackhi_epi32(b[0], b[1]);
        __m128i t2 = _mm_unpacklo_epi32(b[2], b[3]), t3 = _mm_unpackhi_epi32(b[2], b[3]);
        x[0] = _mm_unpacklo_epi64(t0, t2);
        x[1] = _mm_unpackhi_epi64(t0, t2);
        x[2] = _mm_unpacklo_epi64(t1, t3);
        x[3] = _mm_unpackhi_epi64(t1, t3);
        SM4X(rounds128)(rk, x);
        for (int m = 0; m < 4; m++) _mm_storeu_si128((__m128i *)(buf + 16 * m), x[m]);
        memcpy(out, buf, 16 * n);
        in += 16 * n;
        out += 16 * n;
        nblocks -= n;
    }
    secure_zero(buf, sizeof buf);
}

static SM4X_TARGET uint32_t SM4X(sbox_word)(uint32_t w)
{
    return (uint32_t)_mm_cvtsi128_si32(SM4X_SBOX(_mm_cvtsi32_si128((int)w)));
}

/* Four interleaved 4-block groups: x[g][j] = word j of blocks 4g..4g+3; out as rounds128. */
INLINE SM4X_TARGET void SM4X(rounds128x4)(const uint32_t *rk, __m128i x[4][4])
{
    for (int i = 0; i < 32; i += 4) {
        __m128i k0 = _mm_set1_epi32((int)rk[i]), k1 = _mm_set1_epi32((int)rk[i + 1]);
        __m128i k2 = _mm_set1_epi32((int)rk[i + 2]), k3 = _mm_set1_epi32((int)rk[i + 3]);
        for (int g = 0; g < 4; g++) SM4X_ROUND(x[g][0], x[g][1], x[g][2], x[g][3], k0);
        for (int g = 0; g < 4; g++) SM4X_ROUND(x[g][1], x[g][2], x[g][3], x[g][0], k1);
        for (int g = 0; g < 4; g++) SM4X_ROUND(x[g][2], x[g][3], x[g][0], x[g][1], k2);
        for (int g = 0; g < 4; g++) SM4X_ROUND(x[g][3], x[g][0], x[g][1], x[g][2], k3);
    }
    for (int g = 0; g < 4; g++) {
        __m128i t0 = _mm_unpacklo_epi32(x[g][3], x[g][2]), t1 = _mm_unpackhi_epi32(x[g][3], x[g][2]);
        __m128i t2 = _mm_unpacklo_epi32(x[g][1], x[g][0]), t3 = _mm_unpackhi_epi32(x[g][1], x[g][0]);
        x[g][0] = bswap32x4(_mm_unpacklo_epi64(t0, t2));
        x[g][1] = bswap32x4(_mm_unpackhi_epi64(t0, t2));
        x[g][2] = bswap32x4(_mm_unpacklo_epi64(t1, t3));
        x[g][3] = bswap32x4(_mm_unpackhi_epi64(t1, t3));
    }
}

/* CTR: out = in ^ SM4(nonce || ctr), ctr, ctr+1, ... (32-bit wrap as GCM's inc32). */
static SM4X_TARGET void SM4X(ctr128)(const uint32_t *rk, const uint32_t nw[3], uint32_t ctr,
                        const uint8_t *in, uint8_t *out, size_t len)
{
    const __m128i n0 = _mm_set1_epi32((int)nw[0]), n1 = _mm_set1_epi32((int)nw[1]),
                  n2 = _mm_set1_epi32((int)nw[2]);
    const __m128i step = _mm_set_epi32(3, 2, 1, 0);
    while (len >= 256) {
        __m128i x[4][4];
        for (int g = 0; g < 4; g++) {
            x[g][0] = n0;
            x[g][1] = n1;
            x[g][2] = n2;
            x[g][3] = _mm_add_epi32(_mm_set1_epi32((int)(ctr + 4 * (uint32_t)g)), step);
        }
        SM4X(rounds128x4)(rk, x);
        for (int g = 0; g < 4; g++)
            for (int m = 0; m < 4; m++) {
                __m128i v = _mm_loadu_si128((const __m128i *)(in + 64 * g + 16 * m));
                _mm_storeu_si128((__m128i *)(out + 64 * g + 16 * m), _mm_xor_si128(v, x[g][m]));
            }
        in += 256;
        out += 256;
        len -= 256;
        ctr += 16;
    }
    while (len) {
        __m128i x[4] = {n0, n1, n2, _mm_add_epi32(_mm_set1_epi32((int)ctr), step)};
        SM4X(rounds128)(rk, x);
        if (len >= 64) {
            for (int m = 0; m < 4; m++) {
                __m128i v = _mm_loadu_si128((const __m128i *)(in + 16 * m));
                _mm_storeu_si128((__m128i *)(out + 16 * m), _mm_xor_si128(v, x[m]));
            }
            in += 64;
            out += 64;
            len -= 64;
            ctr += 4;
        } else {
            uint8_t ks[64];
            for (int m = 0; m < 4; m++) _mm_storeu_si128((__m128i *)(ks + 16 * m), x[m]);
            for (size_t i = 0; i < len; i++) out[i] = in[i] ^ ks[i];
            secure_zero(ks, sizeof ks);
            len = 0;
        }
    }
}

#undef SM4X_ROUND
