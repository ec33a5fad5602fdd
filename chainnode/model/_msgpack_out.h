/* Writing canonical msgpack in C: the forms chainnode.model.encoding.pack gives (msgpack with
 * bin types: bytes as bin 8/16/32, non-negative ints as an unsigned int in its shortest form,
 * arrays as fixarray/array 16/array 32), for the native extensions that build bytes which are
 * hashed or signed: chainnode/model/_snapchunk.c (snapshot chunks) and
 * chainnode/ledger/_stateroot.c (the state root's bytes). Each includer's tests pin its bytes
 * to `pack`. The callers size their buffers with the *_len functions first.
 */
#ifndef CHAINNODE_MSGPACK_OUT_H
#define CHAINNODE_MSGPACK_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline size_t bin_header_len(size_t n) { return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5; }
static inline size_t array_header_len(size_t n) { return n < 16 ? 1 : n < 0x10000 ? 3 : 5; }

static inline uint8_t *put_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) *p++ = (uint8_t)(v >> (8 * i));
    return p;
}

static inline uint8_t *put_bin(uint8_t *p, const uint8_t *src, size_t n)
{
    if (n < 0x100) {
        *p++ = 0xc4;
        p = put_be(p, n, 1);
    } else if (n < 0x10000) {
        *p++ = 0xc5;
        p = put_be(p, n, 2);
    } else {
        *p++ = 0xc6;
        p = put_be(p, n, 4);
    }
    if (n) memcpy(p, src, n); /* an empty value has no buffer to copy from */
    return p + n;
}

static inline uint8_t *put_array(uint8_t *p, size_t n)
{
    if (n < 16) {
        *p++ = (uint8_t)(0x90 | n);
    } else if (n < 0x10000) {
        *p++ = 0xdc;
        p = put_be(p, n, 2);
    } else {
        *p++ = 0xdd;
        p = put_be(p, n, 4);
    }
    return p;
}

static inline uint8_t *put_uint(uint8_t *p, uint64_t v)
{
    if (v < 0x80) {
        *p++ = (uint8_t)v;
        return p;
    }
    if (v < 0x100) {
        *p++ = 0xcc;
        return put_be(p, v, 1);
    }
    if (v < 0x10000) {
        *p++ = 0xcd;
        return put_be(p, v, 2);
    }
    if (v <= 0xffffffffULL) {
        *p++ = 0xce;
        return put_be(p, v, 4);
    }
    *p++ = 0xcf;
    return put_be(p, v, 8);
}

#endif
