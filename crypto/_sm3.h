/* SM3 (GB/T 32905), portable C, shared by the native extensions that hash without the GIL:
 * crypto/_sm2verify.c (Z and e of a verify, Merkle nodes) and chainnode/model/_snapchunk.c
 * (snapshot chunks). Written from GB/T 32905; no code from any library. Each includer calls
 * sm3_setup() once at import (fills the round constants). Pinned to OpenSSL's SM3 by
 * tests/crypto/test_sm2_native.py and tests/chainnode/ledger/test_snapshot_native.py.
 */
#ifndef CHAINNODE_SM3_H
#define CHAINNODE_SM3_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SM3_INLINE static inline __attribute__((always_inline))

typedef struct {
    uint32_t h[8];
    uint64_t len; /* bytes absorbed */
    uint8_t buf[64];
    size_t nbuf;
} sm3_ctx;

SM3_INLINE uint32_t rol32(uint32_t x, int n) { return (x << (n & 31)) | (x >> ((32 - n) & 31)); }
SM3_INLINE uint32_t ld32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
SM3_INLINE void st32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t sm3_tj[64]; /* rol(T_j, j mod 32), filled at init */

static void sm3_block(uint32_t h[8], const uint8_t *blk)
{
    uint32_t w[68];
    for (int j = 0; j < 16; j++) w[j] = ld32be(blk + 4 * j);
#pragma GCC unroll 52
    for (int j = 16; j < 68; j++) {
        uint32_t x = w[j - 16] ^ w[j - 9] ^ rol32(w[j - 3], 15);
        w[j] = (x ^ rol32(x, 15) ^ rol32(x, 23)) ^ rol32(w[j - 13], 7) ^ w[j - 6];
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    /* rounds 0..15 (XOR boolean functions) then 16..63 (majority / choice), two loops so
     * the round function has no branch */
#define SM3_ROUND(FF, GG)                                                                     \
    do {                                                                                      \
        uint32_t a12 = rol32(a, 12);                                                          \
        uint32_t ss1 = rol32(a12 + e + sm3_tj[j], 7);                                         \
        uint32_t tt1 = (FF) + d + (ss1 ^ a12) + (w[j] ^ w[j + 4]);                            \
        uint32_t tt2 = (GG) + hh + ss1 + w[j];                                                \
        d = c;                                                                                \
        c = rol32(b, 9);                                                                      \
        b = a;                                                                                \
        a = tt1;                                                                              \
        hh = g;                                                                               \
        g = rol32(f, 19);                                                                     \
        f = e;                                                                                \
        e = tt2 ^ rol32(tt2, 9) ^ rol32(tt2, 17);                                             \
    } while (0)
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) SM3_ROUND(a ^ b ^ c, e ^ f ^ g);
#pragma GCC unroll 48
    for (int j = 16; j < 64; j++) SM3_ROUND((a & b) | (c & (a | b)), (e & f) | (~e & g));
#undef SM3_ROUND
    h[0] ^= a;
    h[1] ^= b;
    h[2] ^= c;
    h[3] ^= d;
    h[4] ^= e;
    h[5] ^= f;
    h[6] ^= g;
    h[7] ^= hh;
}

static void sm3_init(sm3_ctx *c)
{
    static const uint32_t iv[8] = {0x7380166f, 0x4914b2b9, 0x172442d7, 0xda8a0600,
                              0xa96f30bc, 0x163138aa, 0xe38dee4d, 0xb0fb0e4e};
    memcpy(c->h, iv, sizeof iv);
    c->len = 0;
    c->nbuf = 0;
}

static void sm3_update(sm3_ctx *c, const uint8_t *p, size_t n)
{
    c->len += n;
    if (c->nbuf) {
        size_t take = 64 - c->nbuf < n ? 64 - c->nbuf : n;
        memcpy(c->buf + c->nbuf, p, take);
        c->nbuf += take;
        p += take;
        n -= take;
        if (c->nbuf < 64) return;
        sm3_block(c->h, c->buf);
        c->nbuf = 0;
    }
    while (n >= 64) {
        sm3_block(c->h, p);
        p += 64;
        n -= 64;
    }
    memcpy(c->buf, p, n);
    c->nbuf = n;
}

static void sm3_final(sm3_ctx *c, uint8_t out[32])
{
    uint64_t bits = c->len * 8;
    uint8_t pad[72];
    size_t padlen = (c->nbuf < 56) ? 56 - c->nbuf : 120 - c->nbuf;
    memset(pad, 0, sizeof pad);
    pad[0] = 0x80;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t keep = c->len;
    sm3_update(c, pad, padlen + 8);
    c->len = keep;
    for (int i = 0; i < 8; i++) st32be(out + 4 * i, c->h[i]);
}

static void sm3_setup(void)
{
    static const uint32_t T0 = 0x79cc4519, T1 = 0x7a879d8a;
    for (int j = 0; j < 64; j++) sm3_tj[j] = rol32(j < 16 ? T0 : T1, j % 32);
}

#endif /* CHAINNODE_SM3_H */
