/* The 8-blocks-per-ymm SM4 CTR of crypto/_sm4gcm.c, one copy per S-box form: that file
 * includes this twice, with SM4Y_SBOX (an __m256i -> __m256i S-box layer), SM4Y_TARGET (its
 * target attribute) and SM4Y(name) (the copy's function names) defined.
 */

#define SM4Y_ROUND(a, b, c, d, k)                                                              \
    do {                                                                                     \
        __m256i t_ = SM4Y_SBOX(_mm256_xor_si256(_mm256_xor_si256(b, c), _mm256_xor_si256(d, k))); \
        __m256i u_ = _mm256_xor_si256(                                                       \
            t_, _mm256_xor_si256(_mm256_shuffle_epi8(t_, r8), _mm256_shuffle_epi8(t_, r16))); \
        u_ = _mm256_or_si256(_mm256_slli_epi32(u_, 2), _mm256_srli_epi32(u_, 30));          \
        a = _mm256_xor_si256(a, _mm256_xor_si256(t_, _mm256_shuffle_epi8(t_, r24)));        \
        a = _mm256_xor_si256(a, u_);                                                         \
    } while (0)

/* Keystream for `groups` (1 or 4) interleaved groups of 8 blocks; lane d = 4k + m of the
 * counter word is block 2m + k (the same trick as the zmm path, two lanes per register). */
INLINE SM4Y_TARGET void SM4Y(ks_256)(const uint32_t *rk, __m256i n0, __m256i n1, __m256i n2, __m256i c,
                        int groups, __m256i o[16])
{
    const __m256i r8 = _mm256_broadcastsi128_si256(
        _mm_set_epi8(14, 13, 12, 15, 10, 9, 8, 11, 6, 5, 4, 7, 2, 1, 0, 3));
    const __m256i r16 = _mm256_broadcastsi128_si256(
        _mm_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2));
    const __m256i r24 = _mm256_broadcastsi128_si256(
        _mm_set_epi8(12, 15, 14, 13, 8, 11, 10, 9, 4, 7, 6, 5, 0, 3, 2, 1));
    const __m256i eight = _mm256_set1_epi32(8);
    __m256i x[4][4];
    for (int g = 0; g < groups; g++) {
        x[g][0] = n0;
        x[g][1] = n1;
        x[g][2] = n2;
        x[g][3] = g ? _mm256_add_epi32(x[g - 1][3], eight) : c;
    }
    for (int i = 0; i < 32; i += 4) {
        __m256i k0 = _mm256_set1_epi32((int)rk[i]), k1 = _mm256_set1_epi32((int)rk[i + 1]);
        __m256i k2 = _mm256_set1_epi32((int)rk[i + 2]), k3 = _mm256_set1_epi32((int)rk[i + 3]);
        for (int g = 0; g < groups; g++) SM4Y_ROUND(x[g][0], x[g][1], x[g][2], x[g][3], k0);
        for (int g = 0; g < groups; g++) SM4Y_ROUND(x[g][1], x[g][2], x[g][3], x[g][0], k1);
        for (int g = 0; g < groups; g++) SM4Y_ROUND(x[g][2], x[g][3], x[g][0], x[g][1], k2);
        for (int g = 0; g < groups; g++) SM4Y_ROUND(x[g][3], x[g][0], x[g][1], x[g][2], k3);
    }
    for (int g = 0; g < groups; g++) untranspose256(x[g][0], x[g][1], x[g][2], x[g][3], o + 4 * g);
}

static SM4Y_TARGET void SM4Y(ctr256)(const uint32_t *rk, const uint32_t nw[3], uint32_t ctr,
                        const uint8_t *in, uint8_t *out, size_t len)
{
    const __m256i n0 = _mm256_set1_epi32((int)nw[0]), n1 = _mm256_set1_epi32((int)nw[1]),
                  n2 = _mm256_set1_epi32((int)nw[2]);
    const __m256i offs = _mm256_set_epi32(7, 5, 3, 1, 6, 4, 2, 0);
    __m256i o[16];
    while (len >= 512) {
        SM4Y(ks_256)(rk, n0, n1, n2, _mm256_add_epi32(_mm256_set1_epi32((int)ctr), offs), 4, o);
        for (int m = 0; m < 16; m++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(in + 32 * m));
            _mm256_storeu_si256((__m256i *)(out + 32 * m), _mm256_xor_si256(v, o[m]));
        }
        in += 512;
        out += 512;
        len -= 512;
        ctr += 32;
    }
    while (len) {
        SM4Y(ks_256)(rk, n0, n1, n2, _mm256_add_epi32(_mm256_set1_epi32((int)ctr), offs), 1, o);
        if (len >= 128) {
            for (int m = 0; m < 4; m++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(in + 32 * m));
                _mm256_storeu_si256((__m256i *)(out + 32 * m), _mm256_xor_si256(v, o[m]));
            }
            in += 128;
            out += 128;
            len -= 128;
            ctr += 8;
        } else {
            uint8_t ks[128];
            for (int m = 0; m < 4; m++) _mm256_storeu_si256((__m256i *)(ks + 32 * m), o[m]);
            for (size_t i = 0; i < len; i++) out[i] = in[i] ^ ks[i];
            secure_zero(ks, sizeof ks);
            len = 0;
        }
    }
}

#undef SM4Y_ROUND
