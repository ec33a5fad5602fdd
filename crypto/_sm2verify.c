/* SM2 signature verification (GB/T 32918.2) specialised to the recommended curve.
 *
 * Why: OpenSSL 3 verifies SM2 with its generic prime-field EC code (~4,700/s per core here),
 * which bounded the node. Verification handles public data only, so this code is variable
 * time by design; signing stays on OpenSSL (constant time).
 *
 * Written from GB/T 32918 and the textbook formulas (Montgomery multiplication, Jacobian
 * coordinates with a = -3, Hankerson-Menezes-Vanstone "Guide to ECC" for wNAF and
 * fixed-base windows, Montgomery's trick for batch inversion); no code from any library.
 *
 * - Field: GF(p), p = 2^256 - 2^224 - 2^96 + 2^64 - 1, four 64-bit limbs, Montgomery form
 *   (R = 2^256). p = -1 mod 2^64, so the per-word Montgomery factor is the low word itself
 *   and the first product of each reduction step is known (t[i] + m (2^64 - 1) = m 2^64).
 *   The 4x4 product uses mulx/adcx/adox (inline asm) when CPUID says BMI2 + ADX, else
 *   portable __int128 code; one flag read at import picks it (`isa()`).
 * - u1*G + u2*Q with no doublings when Q has a table: both scalars are cut into signed
 *   W-bit digits and each digit picks one precomputed affine point j * 2^(W*i) * P
 *   (G: W = 8, built at import; Q: W = 7, built per signer on its TABLE_AFTER-th verify and
 *   kept in a bounded LRU keyed by the 64 public-key bytes). A key without a table uses a
 *   width-5 wNAF for Q (256 doublings) plus the G table.
 * - The final check needs no inversion: x1 = (r - e) mod n or that plus n (when below p),
 *   compared projectively as X == x * Z^2.
 * - SM3 (GB/T 32905) is here too so one call (and a batch on threads with the GIL released)
 *   goes from (public key, message, signature) to the answer; Z for the default ID is
 *   cached with the table.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SIZEOF_INT128__) && (UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFULL) && !defined(_WIN32)
#define SM2V_OK 1
#include <pthread.h>
#include <time.h>
#endif

#ifdef SM2V_OK

typedef uint64_t u64;
typedef uint32_t u32;
typedef uint8_t u8;
typedef unsigned __int128 u128;

#define INLINE static inline __attribute__((always_inline))
#ifndef SQR_VIA_MUL
#define SQR_VIA_MUL 1
#endif

/* ---- SM3 (GB/T 32905): crypto/_sm3.h ------------------------------------------------ */

#include "_sm3.h"

/* ---- GF(p) in Montgomery form ---------------------------------------------------------- */

typedef struct {
    u64 v[4];
} fe;

static const u64 P[4] = {0xFFFFFFFFFFFFFFFFULL, 0xFFFFFFFF00000000ULL, 0xFFFFFFFFFFFFFFFFULL,
                         0xFFFFFFFEFFFFFFFFULL};
static const u64 N[4] = {0x53BBF40939D54123ULL, 0x7203DF6B21C6052BULL, 0xFFFFFFFFFFFFFFFFULL,
                         0xFFFFFFFEFFFFFFFFULL};
/* R mod p = 2^256 - p = 2^224 + 2^96 - 2^64 + 1 */
static const fe FE_ONE = {{1, 0x00000000FFFFFFFFULL, 0, 0x0000000100000000ULL}};
static fe FE_R2; /* R^2 mod p, derived at init by doubling R mod p 256 times */
static fe FE_B;  /* curve b, Montgomery form */

/* r = t - p if t (with carry bit hi) >= p, else t; branch-free (the operands are public,
 * but a data-dependent branch here mispredicts half the time and costs more than the select). */
INLINE void fe_reduce_once(fe *r, const u64 t[4], u64 hi)
{
    u64 d[4];
    u128 b = (u128)t[0] - P[0];
    d[0] = (u64)b;
    b = (u128)t[1] - P[1] - ((u64)(b >> 64) & 1);
    d[1] = (u64)b;
    b = (u128)t[2] - P[2] - ((u64)(b >> 64) & 1);
    d[2] = (u64)b;
    b = (u128)t[3] - P[3] - ((u64)(b >> 64) & 1);
    d[3] = (u64)b;
    u64 borrow = (u64)(b >> 64) & 1;
    u64 keep_d = (u64)0 - (hi | (borrow ^ 1)); /* all ones: take t - p */
    r->v[0] = (d[0] & keep_d) | (t[0] & ~keep_d);
    r->v[1] = (d[1] & keep_d) | (t[1] & ~keep_d);
    r->v[2] = (d[2] & keep_d) | (t[2] & ~keep_d);
    r->v[3] = (d[3] & keep_d) | (t[3] & ~keep_d);
}

INLINE void fe_add(fe *r, const fe *a, const fe *b)
{
    u64 t[4];
    u128 c = (u128)a->v[0] + b->v[0];
    t[0] = (u64)c;
    c = (u128)a->v[1] + b->v[1] + (u64)(c >> 64);
    t[1] = (u64)c;
    c = (u128)a->v[2] + b->v[2] + (u64)(c >> 64);
    t[2] = (u64)c;
    c = (u128)a->v[3] + b->v[3] + (u64)(c >> 64);
    t[3] = (u64)c;
    fe_reduce_once(r, t, (u64)(c >> 64));
}

INLINE void fe_sub(fe *r, const fe *a, const fe *b)
{
    u64 t[4];
    u128 d = (u128)a->v[0] - b->v[0];
    t[0] = (u64)d;
    d = (u128)a->v[1] - b->v[1] - ((u64)(d >> 64) & 1);
    t[1] = (u64)d;
    d = (u128)a->v[2] - b->v[2] - ((u64)(d >> 64) & 1);
    t[2] = (u64)d;
    d = (u128)a->v[3] - b->v[3] - ((u64)(d >> 64) & 1);
    t[3] = (u64)d;
    u64 mask = (u64)0 - ((u64)(d >> 64) & 1); /* borrow: add p back */
    u128 c = (u128)t[0] + (P[0] & mask);
    r->v[0] = (u64)c;
    c = (u128)t[1] + (P[1] & mask) + (u64)(c >> 64);
    r->v[1] = (u64)c;
    c = (u128)t[2] + (P[2] & mask) + (u64)(c >> 64);
    r->v[2] = (u64)c;
    c = (u128)t[3] + (P[3] & mask) + (u64)(c >> 64);
    r->v[3] = (u64)c;
}

INLINE int fe_is_zero(const fe *a) { return (a->v[0] | a->v[1] | a->v[2] | a->v[3]) == 0; }
INLINE int fe_eq(const fe *a, const fe *b)
{
    return ((a->v[0] ^ b->v[0]) | (a->v[1] ^ b->v[1]) | (a->v[2] ^ b->v[2]) |
            (a->v[3] ^ b->v[3])) == 0;
}

INLINE void fe_neg(fe *r, const fe *a)
{
    static const fe zero = {{0, 0, 0, 0}};
    fe_sub(r, &zero, a);
}

/* Montgomery reduction of a 512-bit t (t < p R): t / R mod p, four word steps. With
 * m = t[i] (-1/p = 1 mod 2^64) the low word of t + m p is zero by construction: p[0] = 2^64 - 1
 * gives t[i] + m p[0] = m 2^64, so each step starts with carry m and three products. */
INLINE void mont_reduce(fe *r, u64 t[8])
{
    u64 extra = 0; /* carry out of the top word of the previous step */
    for (int i = 0; i < 4; i++) {
        u64 m = t[i];
        u128 c = (u128)m * P[1] + t[i + 1] + m;
        t[i + 1] = (u64)c;
        c = (u128)m * P[2] + t[i + 2] + (u64)(c >> 64);
        t[i + 2] = (u64)c;
        c = (u128)m * P[3] + t[i + 3] + (u64)(c >> 64);
        t[i + 3] = (u64)c;
        c = (u128)t[i + 4] + extra + (u64)(c >> 64);
        t[i + 4] = (u64)c;
        extra = (u64)(c >> 64);
    }
    fe_reduce_once(r, t + 4, extra);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SM2V_ADX 1
/* 1 when the CPU has BMI2 (mulx) and ADX (adcx/adox): set once at import, so the branch on
 * it in every product is always predicted. */
static int g_adx;

/* 4x4-word product with mulx and two independent carry chains (adcx: CF for the low
 * halves, adox: OF for the high halves), row by row; five accumulator registers rotate as
 * finished low words are stored. */
INLINE void mul4_adx(u64 out[8], const u64 *a, const u64 *b)
{
    u64 r0, r1, r2, r3, r4, lo, hi;
    __asm__ volatile(
        /* row 0: r4:r3:r2:r1:r0 = a * b0 */
        "movq 0(%[b]), %%rdx\n\t"
        "mulxq 0(%[a]), %[r0], %[r1]\n\t"
        "mulxq 8(%[a]), %[lo], %[r2]\n\t"
        "addq %[lo], %[r1]\n\t"
        "mulxq 16(%[a]), %[lo], %[r3]\n\t"
        "adcq %[lo], %[r2]\n\t"
        "mulxq 24(%[a]), %[lo], %[r4]\n\t"
        "adcq %[lo], %[r3]\n\t"
        "adcq $0, %[r4]\n\t"
        "movq %[r0], 0(%[out])\n\t"
        /* row 1: r0:r4:r3:r2:r1 += a * b1 */
        "movq 8(%[b]), %%rdx\n\t"
        "xorl %k[r0], %k[r0]\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r1]\n\t"
        "adoxq %[hi], %[r2]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r2]\n\t"
        "adoxq %[hi], %[r3]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r3]\n\t"
        "adoxq %[hi], %[r4]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r4]\n\t"
        "adoxq %[hi], %[r0]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[r0]\n\t"
        "movq %[r1], 8(%[out])\n\t"
        /* row 2: r1:r0:r4:r3:r2 += a * b2 */
        "movq 16(%[b]), %%rdx\n\t"
        "xorl %k[r1], %k[r1]\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r2]\n\t"
        "adoxq %[hi], %[r3]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r3]\n\t"
        "adoxq %[hi], %[r4]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r4]\n\t"
        "adoxq %[hi], %[r0]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r0]\n\t"
        "adoxq %[hi], %[r1]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[r1]\n\t"
        "movq %[r2], 16(%[out])\n\t"
        /* row 3: r2:r1:r0:r4:r3 += a * b3 */
        "movq 24(%[b]), %%rdx\n\t"
        "xorl %k[r2], %k[r2]\n\t"
        "mulxq 0(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r3]\n\t"
        "adoxq %[hi], %[r4]\n\t"
        "mulxq 8(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r4]\n\t"
        "adoxq %[hi], %[r0]\n\t"
        "mulxq 16(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r0]\n\t"
        "adoxq %[hi], %[r1]\n\t"
        "mulxq 24(%[a]), %[lo], %[hi]\n\t"
        "adcxq %[lo], %[r1]\n\t"
        "adoxq %[hi], %[r2]\n\t"
        "movl $0, %k[lo]\n\t"
        "adcxq %[lo], %[r2]\n\t"
        "movq %[r3], 24(%[out])\n\t"
        "movq %[r4], 32(%[out])\n\t"
        "movq %[r0], 40(%[out])\n\t"
        "movq %[r1], 48(%[out])\n\t"
        "movq %[r2], 56(%[out])\n\t"
        : [r0] "=&r"(r0), [r1] "=&r"(r1), [r2] "=&r"(r2), [r3] "=&r"(r3), [r4] "=&r"(r4),
          [lo] "=&r"(lo), [hi] "=&r"(hi)
        : [a] "r"(a), [b] "r"(b), [out] "r"(out)
        : "rdx", "cc", "memory");
}
#endif

/* Montgomery product a b / R mod p: schoolbook 4x4 into 8 words, then the reduction. */
INLINE void fe_mul(fe *r, const fe *a, const fe *b)
{
#ifdef SM2V_ADX
    if (g_adx) {
        u64 t[8];
        mul4_adx(t, a->v, b->v);
        mont_reduce(r, t);
        return;
    }
#endif

    u64 t[8];
    const u64 a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3];
    u128 c;
    u64 b0 = b->v[0];
    c = (u128)a0 * b0;
    t[0] = (u64)c;
    c = (u128)a1 * b0 + (u64)(c >> 64);
    t[1] = (u64)c;
    c = (u128)a2 * b0 + (u64)(c >> 64);
    t[2] = (u64)c;
    c = (u128)a3 * b0 + (u64)(c >> 64);
    t[3] = (u64)c;
    t[4] = (u64)(c >> 64);
    for (int i = 1; i < 4; i++) {
        u64 bi = b->v[i];
        c = (u128)a0 * bi + t[i];
        t[i] = (u64)c;
        c = (u128)a1 * bi + t[i + 1] + (u64)(c >> 64);
        t[i + 1] = (u64)c;
        c = (u128)a2 * bi + t[i + 2] + (u64)(c >> 64);
        t[i + 2] = (u64)c;
        c = (u128)a3 * bi + t[i + 3] + (u64)(c >> 64);
        t[i + 3] = (u64)c;
        t[i + 4] = (u64)(c >> 64);
    }
    mont_reduce(r, t);
}

/* Montgomery square: the six cross products once, doubled, plus the four squares. */
INLINE void fe_sqr(fe *r, const fe *a)
{
#ifdef SM2V_ADX
    if (g_adx && SQR_VIA_MUL) {
        u64 t[8];
        mul4_adx(t, a->v, a->v);
        mont_reduce(r, t);
        return;
    }
#endif
    const u64 a0 = a->v[0], a1 = a->v[1], a2 = a->v[2], a3 = a->v[3];
    u64 t[8];
    u128 c;
    /* cross products a_i a_j, i < j, at word i + j */
    c = (u128)a0 * a1;
    t[1] = (u64)c;
    c = (u128)a0 * a2 + (u64)(c >> 64);
    t[2] = (u64)c;
    c = (u128)a0 * a3 + (u64)(c >> 64);
    t[3] = (u64)c;
    t[4] = (u64)(c >> 64);
    c = (u128)a1 * a2 + t[3];
    t[3] = (u64)c;
    c = (u128)a1 * a3 + t[4] + (u64)(c >> 64);
    t[4] = (u64)c;
    t[5] = (u64)(c >> 64);
    c = (u128)a2 * a3 + t[5];
    t[5] = (u64)c;
    t[6] = (u64)(c >> 64);
    /* double */
    t[7] = t[6] >> 63;
    t[6] = (t[6] << 1) | (t[5] >> 63);
    t[5] = (t[5] << 1) | (t[4] >> 63);
    t[4] = (t[4] << 1) | (t[3] >> 63);
    t[3] = (t[3] << 1) | (t[2] >> 63);
    t[2] = (t[2] << 1) | (t[1] >> 63);
    t[1] = t[1] << 1;
    /* add the squares */
    c = (u128)a0 * a0;
    t[0] = (u64)c;
    c = (u128)t[1] + (u64)(c >> 64);
    t[1] = (u64)c;
    u128 sq = (u128)a1 * a1;
    c = (u128)t[2] + (u64)sq + (u64)(c >> 64);
    t[2] = (u64)c;
    c = (u128)t[3] + (u64)(sq >> 64) + (u64)(c >> 64);
    t[3] = (u64)c;
    sq = (u128)a2 * a2;
    c = (u128)t[4] + (u64)sq + (u64)(c >> 64);
    t[4] = (u64)c;
    c = (u128)t[5] + (u64)(sq >> 64) + (u64)(c >> 64);
    t[5] = (u64)c;
    sq = (u128)a3 * a3;
    c = (u128)t[6] + (u64)sq + (u64)(c >> 64);
    t[6] = (u64)c;
    c = (u128)t[7] + (u64)(sq >> 64) + (u64)(c >> 64);
    t[7] = (u64)c;
    mont_reduce(r, t);
}


static void fe_to_mont(fe *r, const fe *a) { fe_mul(r, a, &FE_R2); }
static void fe_from_mont(fe *r, const fe *a)
{
    static const fe one = {{1, 0, 0, 0}};
    fe_mul(r, a, &one);
}

/* a^(p-2): square and multiply over the fixed exponent (public data). */
static void fe_inv(fe *r, const fe *a)
{
    static const u64 E[4] = {0xFFFFFFFFFFFFFFFDULL, 0xFFFFFFFF00000000ULL, 0xFFFFFFFFFFFFFFFFULL,
                             0xFFFFFFFEFFFFFFFFULL};
    fe acc = FE_ONE, base = *a;
    for (int i = 255; i >= 0; i--) {
        fe_sqr(&acc, &acc);
        if ((E[i / 64] >> (i % 64)) & 1) fe_mul(&acc, &acc, &base);
    }
    *r = acc;
}

/* 32 big-endian bytes -> limbs (no reduction) and back */
static void limbs_from_be(u64 r[4], const u8 *b)
{
    for (int i = 0; i < 4; i++) {
        u64 w = 0;
        for (int k = 0; k < 8; k++) w = (w << 8) | b[(3 - i) * 8 + k];
        r[i] = w;
    }
}
static void limbs_to_be(u8 *b, const u64 r[4])
{
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 8; k++) b[(3 - i) * 8 + k] = (u8)(r[i] >> (56 - 8 * k));
}

/* a < m (256-bit compare) */
static int lt256(const u64 a[4], const u64 m[4])
{
    for (int i = 3; i >= 0; i--) {
        if (a[i] != m[i]) return a[i] < m[i];
    }
    return 0;
}
static int is_zero256(const u64 a[4]) { return (a[0] | a[1] | a[2] | a[3]) == 0; }

/* r = a + b (returns carry) / a - b (returns borrow) on plain 256-bit integers */
static u64 add256(u64 r[4], const u64 a[4], const u64 b[4])
{
    u128 c = 0;
    for (int i = 0; i < 4; i++) {
        c = (u128)a[i] + b[i] + (u64)(c >> 64);
        r[i] = (u64)c;
    }
    return (u64)(c >> 64);
}
static u64 sub256(u64 r[4], const u64 a[4], const u64 b[4])
{
    u128 d = 0;
    for (int i = 0; i < 4; i++) {
        d = (u128)a[i] - b[i] - ((u64)(d >> 64) & 1);
        r[i] = (u64)d;
    }
    return (u64)(d >> 64) & 1;
}

/* ---- points ---------------------------------------------------------------------------- */

typedef struct {
    fe X, Y, Z; /* Jacobian: (X/Z^2, Y/Z^3); Z = 0 is the point at infinity */
} jac;
typedef struct {
    fe x, y;
} aff;

INLINE int jac_is_inf(const jac *p) { return fe_is_zero(&p->Z); }
INLINE void jac_set_inf(jac *p)
{
    memset(p, 0, sizeof *p);
    p->X = FE_ONE;
    p->Y = FE_ONE;
}

/* Counters of the exceptional branches, for the tests that must reach each one; off unless
 * a test turns them on (a shared counter written by every verify on every thread would
 * bounce its cache line between cores). */
static u64 g_branch[4]; /* 0: add P == Q (doubling), 1: add P == -Q, 2: inf + P, 3: P + inf */
static int g_count_branches;
#define BRANCH(i)                                                                            \
    do {                                                                                     \
        if (g_count_branches) __atomic_fetch_add(&g_branch[i], 1, __ATOMIC_RELAXED);         \
    } while (0)

/* 2P with a = -3 (3M + 5S): delta = Z^2, gamma = Y^2, beta = X gamma,
 * alpha = 3 (X - delta)(X + delta). Infinity doubles to infinity (Z3 = 2YZ = 0); no point of
 * this odd prime-order group has Y = 0. */
static void jac_dbl(jac *r, const jac *p)
{
    fe delta, gamma, beta, alpha, t1, t2, x3, y3, z3;
    fe_sqr(&delta, &p->Z);
    fe_sqr(&gamma, &p->Y);
    fe_mul(&beta, &p->X, &gamma);
    fe_sub(&t1, &p->X, &delta);
    fe_add(&t2, &p->X, &delta);
    fe_mul(&t1, &t1, &t2);
    fe_add(&alpha, &t1, &t1);
    fe_add(&alpha, &alpha, &t1);
    /* X3 = alpha^2 - 8 beta */
    fe_add(&t2, &beta, &beta);  /* 2b */
    fe_add(&t2, &t2, &t2);      /* 4b */
    fe_sqr(&x3, &alpha);
    fe_sub(&x3, &x3, &t2);
    fe_sub(&x3, &x3, &t2);
    /* Z3 = (Y + Z)^2 - gamma - delta */
    fe_add(&z3, &p->Y, &p->Z);
    fe_sqr(&z3, &z3);
    fe_sub(&z3, &z3, &gamma);
    fe_sub(&z3, &z3, &delta);
    /* Y3 = alpha (4 beta - X3) - 8 gamma^2 */
    fe_sub(&t2, &t2, &x3);
    fe_mul(&y3, &alpha, &t2);
    fe_sqr(&t1, &gamma);
    fe_add(&t1, &t1, &t1);
    fe_add(&t1, &t1, &t1);
    fe_add(&t1, &t1, &t1);
    fe_sub(&y3, &y3, &t1);
    r->X = x3;
    r->Y = y3;
    r->Z = z3;
}

/* r = p + (x, y) (mixed, 8M + 3S); handles p = inf, p = q (doubles) and p = -q (inf). */
static void jac_add_aff(jac *r, const jac *p, const fe *x2, const fe *y2)
{
    if (jac_is_inf(p)) {
        BRANCH(2);
        r->X = *x2;
        r->Y = *y2;
        r->Z = FE_ONE;
        return;
    }
    fe z1z1, u2, s2, h, rr, hh, hhh, v, t;
    fe_sqr(&z1z1, &p->Z);
    fe_mul(&u2, x2, &z1z1);
    fe_mul(&s2, y2, &p->Z);
    fe_mul(&s2, &s2, &z1z1);
    fe_sub(&h, &u2, &p->X);
    fe_sub(&rr, &s2, &p->Y);
    if (fe_is_zero(&h)) {
        if (fe_is_zero(&rr)) {
            BRANCH(0);
            jac_dbl(r, p);
        } else {
            BRANCH(1);
            jac_set_inf(r);
        }
        return;
    }
    fe_sqr(&hh, &h);
    fe_mul(&hhh, &h, &hh);
    fe_mul(&v, &p->X, &hh);
    fe x3, y3, z3;
    fe_sqr(&x3, &rr);
    fe_sub(&x3, &x3, &hhh);
    fe_sub(&x3, &x3, &v);
    fe_sub(&x3, &x3, &v);
    fe_sub(&t, &v, &x3);
    fe_mul(&y3, &rr, &t);
    fe_mul(&t, &p->Y, &hhh);
    fe_sub(&y3, &y3, &t);
    fe_mul(&z3, &p->Z, &h);
    r->X = x3;
    r->Y = y3;
    r->Z = z3;
}

/* r = p + q, both Jacobian (12M + 4S); every exceptional case handled. */
static void jac_add(jac *r, const jac *p, const jac *q)
{
    if (jac_is_inf(p)) {
        BRANCH(2);
        *r = *q;
        return;
    }
    if (jac_is_inf(q)) {
        BRANCH(3);
        *r = *p;
        return;
    }
    fe z1z1, z2z2, u1, u2, s1, s2, h, rr, hh, hhh, v, t;
    fe_sqr(&z1z1, &p->Z);
    fe_sqr(&z2z2, &q->Z);
    fe_mul(&u1, &p->X, &z2z2);
    fe_mul(&u2, &q->X, &z1z1);
    fe_mul(&s1, &p->Y, &q->Z);
    fe_mul(&s1, &s1, &z2z2);
    fe_mul(&s2, &q->Y, &p->Z);
    fe_mul(&s2, &s2, &z1z1);
    fe_sub(&h, &u2, &u1);
    fe_sub(&rr, &s2, &s1);
    if (fe_is_zero(&h)) {
        if (fe_is_zero(&rr)) {
            BRANCH(0);
            jac_dbl(r, p);
        } else {
            BRANCH(1);
            jac_set_inf(r);
        }
        return;
    }
    fe_sqr(&hh, &h);
    fe_mul(&hhh, &h, &hh);
    fe_mul(&v, &u1, &hh);
    fe x3, y3, z3;
    fe_sqr(&x3, &rr);
    fe_sub(&x3, &x3, &hhh);
    fe_sub(&x3, &x3, &v);
    fe_sub(&x3, &x3, &v);
    fe_sub(&t, &v, &x3);
    fe_mul(&y3, &rr, &t);
    fe_mul(&t, &s1, &hhh);
    fe_sub(&y3, &y3, &t);
    fe_mul(&z3, &p->Z, &q->Z);
    fe_mul(&z3, &z3, &h);
    r->X = x3;
    r->Y = y3;
    r->Z = z3;
}

/* y^2 == x^3 - 3x + b for canonical Montgomery x, y */
static int aff_on_curve(const fe *x, const fe *y)
{
    fe l, rr, t;
    fe_sqr(&l, y);
    fe_sqr(&rr, x);
    fe_mul(&rr, &rr, x);
    fe_add(&t, x, x);
    fe_add(&t, &t, x);
    fe_sub(&rr, &rr, &t);
    fe_add(&rr, &rr, &FE_B);
    return fe_eq(&l, &rr);
}

/* 64 bytes x || y -> validated Montgomery affine point; 0 if out of range or off the curve */
static int aff_from_bytes(aff *out, const u8 *xy)
{
    fe x, y;
    limbs_from_be(x.v, xy);
    limbs_from_be(y.v, xy + 32);
    if (!lt256(x.v, P) || !lt256(y.v, P)) return 0;
    fe_to_mont(&out->x, &x);
    fe_to_mont(&out->y, &y);
    return aff_on_curve(&out->x, &out->y);
}

/* ---- fixed-base window tables ---------------------------------------------------------- */

#define GW 8
#define GHALF (1 << (GW - 1))
#define GWIN ((257 + GW - 1) / GW) /* signed digits of a 256-bit scalar need one bit more */
#define QW 7
#define QHALF (1 << (QW - 1))
#define QWIN ((257 + QW - 1) / QW)

/* tab[i * half + j] = (j + 1) * 2^(w i) * P, affine, for i < nwin, j < half = 2^(w-1).
 * Jacobian sums first, then one inversion for all (Montgomery's trick). Returns 0 on
 * allocation failure. */
static int build_table(aff *tab, const aff *pt, int w, int nwin)
{
    int half = 1 << (w - 1);
    size_t count = (size_t)nwin * (size_t)half;
    jac *tmp = malloc(count * sizeof(jac));
    fe *pre = malloc(count * sizeof(fe));
    if (!tmp || !pre) {
        free(tmp);
        free(pre);
        return 0;
    }
    jac base = {pt->x, pt->y, FE_ONE};
    for (int i = 0; i < nwin; i++) {
        jac *row = tmp + (size_t)i * half;
        row[0] = base;
        for (int j = 1; j < half; j++) jac_add(&row[j], &row[j - 1], &base);
        jac_dbl(&base, &row[half - 1]); /* 2 * 2^(w-1) * B = 2^w * B */
    }
    /* every entry is finite: (j+1) 2^(wi) < n has no factor n, n is prime */
    pre[0] = tmp[0].Z;
    for (size_t k = 1; k < count; k++) fe_mul(&pre[k], &pre[k - 1], &tmp[k].Z);
    fe inv;
    fe_inv(&inv, &pre[count - 1]);
    for (size_t k = count; k-- > 0;) {
        fe zi, zi2, zi3;
        if (k > 0) {
            fe_mul(&zi, &inv, &pre[k - 1]);
            fe_mul(&inv, &inv, &tmp[k].Z);
        } else {
            zi = inv;
        }
        fe_sqr(&zi2, &zi);
        fe_mul(&zi3, &zi2, &zi);
        fe_mul(&tab[k].x, &tmp[k].X, &zi2);
        fe_mul(&tab[k].y, &tmp[k].Y, &zi3);
    }
    free(tmp);
    free(pre);
    return 1;
}

/* Tables are 64-byte aligned: one affine point, one cache line. */
static aff *table_alloc(size_t points)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, points * sizeof(aff)) != 0) return NULL;
    return p;
}

static inline u64 bits_at(const u64 k[4], int pos, int w)
{
    int limb = pos >> 6, off = pos & 63;
    if (limb >= 4) return 0;
    u64 v = k[limb] >> off;
    if (off + w > 64 && limb + 1 < 4) v |= k[limb + 1] << (64 - off);
    return v & ((1ULL << w) - 1);
}

/* signed base-2^w digits in [-2^(w-1) + 1, 2^(w-1)], least significant first */
static void recode_signed(int d[], const u64 k[4], int w, int nwin)
{
    int carry = 0, half = 1 << (w - 1);
    for (int i = 0; i < nwin; i++) {
        int v = (int)bits_at(k, i * w, w) + carry;
        if (v > half) {
            v -= 2 * half;
            carry = 1;
        } else {
            carry = 0;
        }
        d[i] = v;
    }
}

#define PREFETCH_AHEAD 6

static inline const aff *digit_entry(const aff *tab, int d, int i, int half)
{
    return &tab[(size_t)i * half + (size_t)((d < 0 ? -d : d) - 1)];
}

/* acc += sum of d[i] * tab row i. The digits are known up front, so the table line a few
 * additions ahead is prefetched: with many signers their tables do not all stay in cache,
 * and each addition would otherwise wait on a miss. */
static void add_digits(jac *acc, const aff *tab, const int d[], int half, int nwin)
{
    for (int i = 0; i < PREFETCH_AHEAD && i < nwin; i++)
        if (d[i]) __builtin_prefetch(digit_entry(tab, d[i], i, half));
    for (int i = 0; i < nwin; i++) {
        if (i + PREFETCH_AHEAD < nwin && d[i + PREFETCH_AHEAD])
            __builtin_prefetch(digit_entry(tab, d[i + PREFETCH_AHEAD], i + PREFETCH_AHEAD, half));
        int v = d[i];
        if (v == 0) continue;
        const aff *e = &tab[(size_t)i * half + (size_t)((v < 0 ? -v : v) - 1)];
        if (v > 0) {
            jac_add_aff(acc, acc, &e->x, &e->y);
        } else {
            fe ny;
            fe_neg(&ny, &e->y);
            jac_add_aff(acc, acc, &e->x, &ny);
        }
    }
}

static aff *g_table; /* G, GW-bit windows */
static sm3_ctx g_zprefix; /* SM3 state after ENTL || default ID || a || b || xG || yG */

/* ---- wNAF for keys without a table ----------------------------------------------------- */

#define NAFW 5

/* width-5 NAF of k < 2^256: at most 257 digits, odd digits in [-15, 15]. Returns length. */
static int wnaf(int out[260], const u64 k[4])
{
    u64 t[5] = {k[0], k[1], k[2], k[3], 0};
    int len = 0;
    while (t[0] | t[1] | t[2] | t[3] | t[4]) {
        int d = 0;
        if (t[0] & 1) {
            d = (int)(t[0] & ((1 << NAFW) - 1));
            if (d >= (1 << (NAFW - 1))) d -= 1 << NAFW;
            /* t -= d */
            if (d > 0) {
                u128 b = (u128)t[0] - (u64)d;
                t[0] = (u64)b;
                for (int i = 1; i < 5 && ((b >> 64) & 1); i++) {
                    b = (u128)t[i] - 1;
                    t[i] = (u64)b;
                }
            } else {
                u128 c = (u128)t[0] + (u64)(-d);
                t[0] = (u64)c;
                for (int i = 1; i < 5 && (c >> 64); i++) {
                    c = (u128)t[i] + 1;
                    t[i] = (u64)c;
                }
            }
        }
        out[len++] = d;
        for (int i = 0; i < 4; i++) t[i] = (t[i] >> 1) | (t[i + 1] << 63);
        t[4] >>= 1;
    }
    return len;
}

/* acc = k * Q by wNAF (acc starts at infinity) */
static void mul_wnaf(jac *acc, const aff *q, const u64 k[4])
{
    int d[260];
    int len = wnaf(d, k);
    jac odd[1 << (NAFW - 2)]; /* Q, 3Q, ..., 15Q */
    jac q2;
    odd[0].X = q->x;
    odd[0].Y = q->y;
    odd[0].Z = FE_ONE;
    jac_dbl(&q2, &odd[0]);
    for (int i = 1; i < (1 << (NAFW - 2)); i++) jac_add(&odd[i], &odd[i - 1], &q2);
    jac_set_inf(acc);
    for (int i = len - 1; i >= 0; i--) {
        if (!jac_is_inf(acc)) jac_dbl(acc, acc);
        int v = d[i];
        if (v > 0) {
            jac_add(acc, acc, &odd[v >> 1]);
        } else if (v < 0) {
            jac t = odd[(-v) >> 1];
            fe_neg(&t.Y, &t.Y);
            jac_add(acc, acc, &t);
        }
    }
}

/* ---- per-signer table cache ------------------------------------------------------------ */

typedef struct entry {
    u8 key[64];
    u8 z[32];
    aff *table; /* QWIN * QHALF points */
    int refs;
    int linked;
    struct entry *hnext, *prev, *next;
} entry;

#define NBUCKETS 1024
#define SEEN_SLOTS 4096
static entry *g_buckets[NBUCKETS];
static entry g_lru = {.prev = &g_lru, .next = &g_lru}; /* most recent first */
static size_t g_entries, g_max_entries = 256;
static unsigned g_table_after = 2;
static u8 g_seen[SEEN_SLOTS];
static u64 g_built, g_hits, g_cold;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static inline u64 key_hash(const u8 *k)
{
    u64 h;
    memcpy(&h, k + 24, 8); /* low bytes of x: a public key's x is uniform */
    u64 h2;
    memcpy(&h2, k + 56, 8);
    h ^= h2 * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

static void lru_unlink(entry *e)
{
    e->prev->next = e->next;
    e->next->prev = e->prev;
}
static void lru_push_front(entry *e)
{
    e->next = g_lru.next;
    e->prev = &g_lru;
    g_lru.next->prev = e;
    g_lru.next = e;
}

static void entry_free(entry *e)
{
    free(e->table);
    free(e);
}

/* caller holds g_mu */
static entry *cache_find(const u8 *key, u64 h)
{
    for (entry *e = g_buckets[h & (NBUCKETS - 1)]; e; e = e->hnext)
        if (memcmp(e->key, key, 64) == 0) return e;
    return NULL;
}

/* caller holds g_mu: remove from map and list; freed now or by its last user */
static void cache_drop(entry *e)
{
    u64 h = key_hash(e->key);
    entry **pp = &g_buckets[h & (NBUCKETS - 1)];
    while (*pp != e) pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    e->linked = 0;
    g_entries--;
    if (e->refs == 0) entry_free(e);
}

static void cache_release(entry *e)
{
    if (!e) return;
    pthread_mutex_lock(&g_mu);
    if (--e->refs == 0 && !e->linked) entry_free(e);
    pthread_mutex_unlock(&g_mu);
}

/* The signer's entry (a reference the caller releases), building it when the key has been
 * seen often enough; NULL: use the cold path. `pt` must be the validated point. */
static entry *cache_get(const u8 *key, int *validated, aff *pt)
{
    u64 h = key_hash(key);
    pthread_mutex_lock(&g_mu);
    entry *e = cache_find(key, h);
    if (e) {
        e->refs++;
        lru_unlink(e);
        lru_push_front(e);
        g_hits++;
        pthread_mutex_unlock(&g_mu);
        return e;
    }
    int build = 0;
    if (g_max_entries > 0) {
        u8 *seen = &g_seen[h & (SEEN_SLOTS - 1)];
        if (*seen < 255) (*seen)++;
        build = *seen >= g_table_after;
    }
    g_cold++;
    pthread_mutex_unlock(&g_mu);
    if (!build) return NULL;
    if (!*validated) {
        *validated = aff_from_bytes(pt, key) ? 1 : -1;
    }
    if (*validated < 0) return NULL;
    entry *n = calloc(1, sizeof(entry));
    if (!n) return NULL;
    n->table = table_alloc((size_t)QWIN * QHALF);
    if (!n->table || !build_table(n->table, pt, QW, QWIN)) {
        entry_free(n);
        return NULL;
    }
    memcpy(n->key, key, 64);
    sm3_ctx c = g_zprefix;
    sm3_update(&c, key, 64);
    sm3_final(&c, n->z);
    n->refs = 1;
    n->linked = 1;
    pthread_mutex_lock(&g_mu);
    e = cache_find(key, h);
    if (e) { /* another thread built it meanwhile */
        e->refs++;
        pthread_mutex_unlock(&g_mu);
        entry_free(n);
        return e;
    }
    while (g_entries >= g_max_entries && g_lru.prev != &g_lru) cache_drop(g_lru.prev);
    n->hnext = g_buckets[h & (NBUCKETS - 1)];
    g_buckets[h & (NBUCKETS - 1)] = n;
    lru_push_front(n);
    g_entries++;
    g_built++;
    g_seen[h & (SEEN_SLOTS - 1)] = 0;
    pthread_mutex_unlock(&g_mu);
    return n;
}

static void cache_clear_locked(void)
{
    while (g_lru.prev != &g_lru) cache_drop(g_lru.prev);
    memset(g_seen, 0, sizeof g_seen);
}

/* ---- verification ---------------------------------------------------------------------- */

enum { MODE_AUTO = 0, MODE_COLD = 1, MODE_TABLE = 2 };

/* GB/T 32918.2 verification of sig = r || s over digest value e for key = x || y.
 * table: the signer's table or NULL; pt/validated: the key point if already parsed. */
static int verify_core(const u8 *key, const u8 *e32, const u8 *sig, const aff *qtab,
                       const aff *pt_in, int validated)
{
    u64 r[4], s[4], t[4], e[4], c[4];
    limbs_from_be(r, sig);
    limbs_from_be(s, sig + 32);
    if (is_zero256(r) || !lt256(r, N) || is_zero256(s) || !lt256(s, N)) return 0;
    /* t = (r + s) mod n, 0 rejects */
    u64 carry = add256(t, r, s);
    if (carry || !lt256(t, N)) sub256(t, t, N);
    if (is_zero256(t)) return 0;
    jac acc;
    int ds[GWIN];
    recode_signed(ds, s, GW, GWIN);
    if (qtab) {
        int dt[QWIN];
        recode_signed(dt, t, QW, QWIN);
        jac_set_inf(&acc);
        add_digits(&acc, qtab, dt, QHALF, QWIN);
    } else {
        aff q;
        if (validated > 0) {
            q = *pt_in;
        } else if (validated < 0 || !aff_from_bytes(&q, key)) {
            return 0;
        }
        mul_wnaf(&acc, &q, t);
    }
    add_digits(&acc, g_table, ds, GHALF, GWIN);
    if (jac_is_inf(&acc)) return 0;
    /* (e + x1) mod n == r  <=>  x1 in {c, c + n} with c = (r - e mod n) mod n, x1 < p */
    limbs_from_be(e, e32);
    if (!lt256(e, N)) sub256(e, e, N);
    if (sub256(c, r, e)) add256(c, c, N);
    fe z2, cm, rhs;
    fe_sqr(&z2, &acc.Z);
    memcpy(cm.v, c, sizeof c);
    fe_to_mont(&cm, &cm);
    fe_mul(&rhs, &cm, &z2);
    if (fe_eq(&rhs, &acc.X)) return 1;
    u64 c2[4];
    if (!add256(c2, c, N) && lt256(c2, P)) {
        memcpy(cm.v, c2, sizeof c2);
        fe_to_mont(&cm, &cm);
        fe_mul(&rhs, &cm, &z2);
        if (fe_eq(&rhs, &acc.X)) return 1;
    }
    return 0;
}

/* Full verification over the 64 key bytes: mode picks the path (tests pin them equal).
 * msg == NULL: e32 is the digest; else e = SM3(Z(default ID) || msg) (z32 overrides Z). */
static int verify_full(const u8 *key, const u8 *e32, const u8 *z32, const u8 *msg,
                       size_t msglen, const u8 *sig, int mode)
{
    aff pt;
    int validated = 0;
    entry *ent = NULL;
    if (mode == MODE_AUTO) ent = cache_get(key, &validated, &pt);
    if (mode == MODE_TABLE) {
        if (!aff_from_bytes(&pt, key)) return 0;
        validated = 1;
    }
    if (!ent && validated == 0) {
        validated = aff_from_bytes(&pt, key) ? 1 : -1;
    }
    if (validated < 0) return 0;
    u8 e[32];
    if (msg) {
        sm3_ctx c;
        u8 zbuf[32];
        if (!z32) {
            if (ent) {
                z32 = ent->z;
            } else {
                c = g_zprefix;
                sm3_update(&c, key, 64);
                sm3_final(&c, zbuf);
                z32 = zbuf;
            }
        }
        sm3_init(&c);
        sm3_update(&c, z32, 32);
        sm3_update(&c, msg, msglen);
        sm3_final(&c, e);
        e32 = e;
    }
    int ok;
    if (mode == MODE_TABLE) {
        aff *tab = table_alloc((size_t)QWIN * QHALF);
        if (!tab || !build_table(tab, &pt, QW, QWIN)) {
            free(tab);
            return -1;
        }
        ok = verify_core(key, e32, sig, tab, &pt, 1);
        free(tab);
    } else {
        ok = verify_core(key, e32, sig, ent ? ent->table : NULL, &pt, validated);
    }
    cache_release(ent);
    return ok;
}

/* ---- Python API ------------------------------------------------------------------------ */

static int get_key(Py_buffer *b, const u8 **key)
{
    if (b->len == 65 && ((const u8 *)b->buf)[0] == 4) {
        *key = (const u8 *)b->buf + 1;
        return 1;
    }
    if (b->len == 64) {
        *key = (const u8 *)b->buf;
        return 1;
    }
    return 0;
}

static PyObject *py_verify_digest(PyObject *self, PyObject *args)
{
    Py_buffer kb, eb, sb;
    int mode = MODE_AUTO;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*|i", &kb, &eb, &sb, &mode)) return NULL;
    const u8 *key;
    int ok = 0;
    if (get_key(&kb, &key) && eb.len == 32 && sb.len == 64) {
        Py_BEGIN_ALLOW_THREADS;
        ok = verify_full(key, eb.buf, NULL, NULL, 0, sb.buf, mode);
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&kb);
    PyBuffer_Release(&eb);
    PyBuffer_Release(&sb);
    if (ok < 0) return PyErr_NoMemory();
    return PyBool_FromLong(ok);
}

/* verify(key, z_or_None, message, signature[, mode]) with e = SM3(Z || message) inside */
static PyObject *py_verify(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs < 4 || nargs > 5) {
        PyErr_SetString(PyExc_TypeError, "verify(key, z, message, signature[, mode])");
        return NULL;
    }
    int mode = MODE_AUTO;
    if (nargs == 5) {
        mode = (int)PyLong_AsLong(args[4]);
        if (mode == -1 && PyErr_Occurred()) return NULL;
    }
    Py_buffer kb, zb, mb, sb;
    int have_z = args[1] != Py_None;
    if (PyObject_GetBuffer(args[0], &kb, PyBUF_SIMPLE) < 0) return NULL;
    if (have_z && PyObject_GetBuffer(args[1], &zb, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&kb);
        return NULL;
    }
    if (PyObject_GetBuffer(args[2], &mb, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&kb);
        if (have_z) PyBuffer_Release(&zb);
        return NULL;
    }
    if (PyObject_GetBuffer(args[3], &sb, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&kb);
        if (have_z) PyBuffer_Release(&zb);
        PyBuffer_Release(&mb);
        return NULL;
    }
    const u8 *key;
    int ok = 0;
    if (get_key(&kb, &key) && sb.len == 64 && (!have_z || zb.len == 32)) {
        const u8 *z = have_z ? zb.buf : NULL;
        Py_BEGIN_ALLOW_THREADS;
        ok = verify_full(key, NULL, z, mb.buf, (size_t)mb.len, sb.buf, mode);
        Py_END_ALLOW_THREADS;
    }
    PyBuffer_Release(&kb);
    if (have_z) PyBuffer_Release(&zb);
    PyBuffer_Release(&mb);
    PyBuffer_Release(&sb);
    if (ok < 0) return PyErr_NoMemory();
    return PyBool_FromLong(ok);
}

/* ---- batch on threads ------------------------------------------------------------------ */

typedef struct {
    Py_buffer b[3];
    int ok; /* buffers held and lengths right */
    u8 result;
    entry *ent; /* the signer's table, referenced for the whole batch; NULL: not cached */
} item_t;

typedef struct {
    item_t *items;
    Py_ssize_t n;
    Py_ssize_t next; /* atomic */
} batch_t;

#define BATCH_GRAIN 4

static void verify_item(item_t *it)
{
    it->result = 0;
    if (!it->ok) return;
    const u8 *key = (const u8 *)it->b[0].buf + 1;
    const u8 *msg = it->b[1].buf, *sig = it->b[2].buf;
    size_t msglen = (size_t)it->b[1].len;
    int ok;
    if (it->ent) { /* no lock: the reference was taken for the batch */
        u8 e[32];
        sm3_ctx c;
        sm3_init(&c);
        sm3_update(&c, it->ent->z, 32);
        sm3_update(&c, msg, msglen);
        sm3_final(&c, e);
        ok = verify_core(key, e, sig, it->ent->table, NULL, 1);
    } else {
        ok = verify_full(key, NULL, NULL, msg, msglen, sig, MODE_AUTO);
    }
    it->result = ok > 0;
}

/* Look up every item's signer under one lock acquisition (and release them under one), so
 * the threads verify without touching the mutex: on a loaded machine a thread preempted
 * while holding it would stall the others for a whole time slice. */
static void batch_acquire(item_t *items, Py_ssize_t n)
{
    pthread_mutex_lock(&g_mu);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!items[i].ok) continue;
        const u8 *key = (const u8 *)items[i].b[0].buf + 1;
        entry *e = cache_find(key, key_hash(key));
        if (e) {
            e->refs++;
            lru_unlink(e);
            lru_push_front(e);
            g_hits++;
            items[i].ent = e;
        }
    }
    pthread_mutex_unlock(&g_mu);
}

static void batch_release(item_t *items, Py_ssize_t n)
{
    pthread_mutex_lock(&g_mu);
    for (Py_ssize_t i = 0; i < n; i++) {
        entry *e = items[i].ent;
        if (e && --e->refs == 0 && !e->linked) entry_free(e);
        items[i].ent = NULL;
    }
    pthread_mutex_unlock(&g_mu);
}

static void batch_work(batch_t *bt)
{
    for (;;) {
        Py_ssize_t i = __atomic_fetch_add(&bt->next, BATCH_GRAIN, __ATOMIC_RELAXED);
        if (i >= bt->n) break;
        Py_ssize_t end = i + BATCH_GRAIN < bt->n ? i + BATCH_GRAIN : bt->n;
        for (; i < end; i++) verify_item(&bt->items[i]);
    }
}

/* CPU nanoseconds the pool threads spent on batches (the caller's own thread measures
 * itself): the node's per-stage CPU accounting reads it through worker_cpu_ns. One add per
 * thread per batch. */
static u64 g_worker_cpu_ns;

/* ---- the helper pool: threads started once, reused by every batch ----------------------
 * A batch used to start and join its helpers: at 2,000 transactions a second a validator
 * started ~20 threads a second (strace: 204 clone3 in 10 s), each a clone, a stack, page
 * faults on it and a join (perf: clone3 alone 0.6% of the validator's CPU; a batch of 50
 * on 2 threads ~35 us). Now a batch posts `tickets` (helpers wanted) and wakes the pool; each
 * helper takes one ticket and shares the batch's items (batch_work's atomic cursor) with the
 * caller, which works too. When the caller's loop ends every item is taken: it withdraws
 * the tickets no helper took and waits for the helpers that did, so no thread touches the
 * batch (on the caller's stack) after it returns. Batches from several callers at once are
 * kept in a list, served in order. A child of fork() has none of the parent's threads: the
 * atfork handler empties the pool there, and a caller alone still finishes its batch. */
typedef struct pool_batch {
    batch_t *bt;
    int tickets; /* helpers wanted and not yet started */
    int running; /* helpers working on it */
    struct pool_batch *next;
} pool_batch;

#define POOL_MAX 64
static pthread_mutex_t g_pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_pool_work = PTHREAD_COND_INITIALIZER; /* a ticket was posted */
static pthread_cond_t g_pool_done = PTHREAD_COND_INITIALIZER; /* a helper finished */
static pool_batch *g_pool_head;                                /* batches with tickets */
static int g_pool_threads, g_pool_idle;

static void *pool_thread(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&g_pool_mu);
    for (;;) {
        pool_batch *pb = g_pool_head;
        while (pb && pb->tickets == 0) pb = pb->next;
        if (!pb) {
            g_pool_idle++;
            pthread_cond_wait(&g_pool_work, &g_pool_mu);
            g_pool_idle--;
            continue;
        }
        pb->tickets--;
        pb->running++;
        pthread_mutex_unlock(&g_pool_mu);
        struct timespec t0, t1;
        int timed = clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0) == 0;
        batch_work(pb->bt);
        if (timed && clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1) == 0) {
            int64_t ns = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
            if (ns > 0) __atomic_fetch_add(&g_worker_cpu_ns, (u64)ns, __ATOMIC_RELAXED);
        }
        pthread_mutex_lock(&g_pool_mu);
        if (--pb->running == 0) pthread_cond_broadcast(&g_pool_done);
    }
    return NULL;
}

/* caller holds g_pool_mu: start threads until `want` could serve at once (best effort: a
 * thread that cannot be started leaves the work to the others and the caller) */
static void pool_grow(int want)
{
    if (want > POOL_MAX) want = POOL_MAX;
    while (g_pool_threads < want) {
        pthread_t t;
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0) return;
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &attr, pool_thread, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0) return;
        g_pool_threads++;
    }
}

static void pool_atfork_child(void)
{
    pthread_mutex_init(&g_pool_mu, NULL);
    pthread_cond_init(&g_pool_work, NULL);
    pthread_cond_init(&g_pool_done, NULL);
    g_pool_head = NULL;
    g_pool_threads = g_pool_idle = 0;
}

/* Verify the batch's items with `helpers` pool threads beside the calling thread. */
static void pool_run(batch_t *bt, int helpers)
{
    if (helpers <= 0) {
        batch_work(bt);
        return;
    }
    pool_batch pb = {bt, helpers, 0, NULL};
    pthread_mutex_lock(&g_pool_mu);
    pool_grow(g_pool_threads - g_pool_idle + helpers);
    pool_batch **tail = &g_pool_head;
    while (*tail) tail = &(*tail)->next;
    *tail = &pb;
    if (helpers == 1)
        pthread_cond_signal(&g_pool_work);
    else
        pthread_cond_broadcast(&g_pool_work);
    pthread_mutex_unlock(&g_pool_mu);
    batch_work(bt);
    pthread_mutex_lock(&g_pool_mu);
    pb.tickets = 0; /* withdrawn: every item is taken */
    for (pool_batch **p = &g_pool_head; *p; p = &(*p)->next)
        if (*p == &pb) {
            *p = pb.next;
            break;
        }
    while (pb.running > 0) pthread_cond_wait(&g_pool_done, &g_pool_mu);
    pthread_mutex_unlock(&g_pool_mu);
}

static PyObject *py_pool_info(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    pthread_mutex_lock(&g_pool_mu);
    int threads = g_pool_threads, idle = g_pool_idle;
    pthread_mutex_unlock(&g_pool_mu);
    return Py_BuildValue("{sisi}", "threads", threads, "idle", idle);
}

static PyObject *py_worker_cpu_ns(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromUnsignedLongLong(__atomic_load_n(&g_worker_cpu_ns, __ATOMIC_RELAXED));
}

/* verify_batch(items, threads) -> list[bool]: each item (public key 65 bytes, message,
 * signature 64 bytes) under the default ID; anything malformed is False. The GIL is released
 * while `threads` threads (the caller's included) share the items. */
static PyObject *py_verify_batch(PyObject *self, PyObject *args)
{
    PyObject *seq;
    int threads = 1;
    (void)self;
    if (!PyArg_ParseTuple(args, "O|i", &seq, &threads)) return NULL;
    PyObject *fast = PySequence_Fast(seq, "verify_batch needs a sequence of items");
    if (!fast) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    item_t *items = calloc(n ? (size_t)n : 1, sizeof(item_t));
    if (!items) {
        Py_DECREF(fast);
        return PyErr_NoMemory();
    }
    PyObject **objs = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = objs[i];
        if (!PyTuple_Check(it) && !PyList_Check(it)) continue;
        if (PySequence_Fast_GET_SIZE(it) != 3) continue;
        PyObject **parts = PySequence_Fast_ITEMS(it);
        int got = 0;
        for (; got < 3; got++) {
            if (PyUnicode_Check(parts[got]) ||
                PyObject_GetBuffer(parts[got], &items[i].b[got], PyBUF_SIMPLE) < 0)
                break;
        }
        if (got < 3) {
            PyErr_Clear();
            for (int k = 0; k < got; k++) PyBuffer_Release(&items[i].b[k]);
            continue;
        }
        items[i].ok = items[i].b[0].len == 65 && ((const u8 *)items[i].b[0].buf)[0] == 4 &&
                      items[i].b[2].len == 64;
        if (!items[i].ok)
            for (int k = 0; k < 3; k++) PyBuffer_Release(&items[i].b[k]);
    }
    batch_t bt = {items, n, 0};
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    if ((Py_ssize_t)threads > (n + BATCH_GRAIN - 1) / BATCH_GRAIN)
        threads = (int)((n + BATCH_GRAIN - 1) / BATCH_GRAIN);
    if (threads < 1) threads = 1;
    Py_BEGIN_ALLOW_THREADS;
    batch_acquire(items, n);
    pool_run(&bt, threads - 1);
    batch_release(items, n);
    Py_END_ALLOW_THREADS;
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (items[i].ok)
            for (int k = 0; k < 3; k++) PyBuffer_Release(&items[i].b[k]);
        if (out) PyList_SET_ITEM(out, i, PyBool_FromLong(items[i].result));
    }
    free(items);
    Py_DECREF(fast);
    return out;
}

/* ---- introspection for tests and benchmarks -------------------------------------------- */

static PyObject *py_sm3(PyObject *self, PyObject *args)
{
    Py_buffer b;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    sm3_ctx c;
    u8 out[32];
    sm3_init(&c);
    sm3_update(&c, b.buf, (size_t)b.len);
    sm3_final(&c, out);
    PyBuffer_Release(&b);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

/* SM3 of a bytes-like object: crypto.sm3.digest when this module is available (twice the
 * speed of OpenSSL's SM3 where it was measured, and less call overhead than hashlib's).
 * Long inputs (a block's state-root preimage is ~1 MB) are hashed with the GIL released. */
static PyObject *py_sm3_digest(PyObject *self, PyObject *arg)
{
    Py_buffer b;
    (void)self;
    if (PyObject_GetBuffer(arg, &b, PyBUF_SIMPLE) < 0) return NULL;
    sm3_ctx c;
    u8 out[32];
    sm3_init(&c);
    if (b.len >= 4096) {
        Py_BEGIN_ALLOW_THREADS
        sm3_update(&c, b.buf, (size_t)b.len);
        Py_END_ALLOW_THREADS
    } else {
        sm3_update(&c, b.buf, (size_t)b.len);
    }
    sm3_final(&c, out);
    PyBuffer_Release(&b);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

/* ---- Merkle top node (crypto.merkle) ---------------------------------------------------- */

/* The top node of crypto.merkle's tree over `leaves` (a sequence of bytes, at least one):
 * leaf = SM3(0x00 || leaf), inner = SM3(0x01 || left || right), an odd last node promoted.
 * The root (count prefix) stays in Python. A block's receipts and tx hashes are hashed here
 * in one call, with the GIL released (the tuple made first holds every leaf). */
static PyObject *py_merkle_top(PyObject *self, PyObject *arg)
{
    (void)self;
    PyObject *items = PySequence_Tuple(arg);
    if (!items) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(items);
    if (n < 1) {
        Py_DECREF(items);
        PyErr_SetString(PyExc_ValueError, "merkle_top needs at least one leaf");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(items, i))) {
            Py_DECREF(items);
            PyErr_SetString(PyExc_TypeError, "merkle_top leaves must be bytes");
            return NULL;
        }
    }
    u8 *nodes = PyMem_Malloc((size_t)n * 32);
    if (!nodes) {
        Py_DECREF(items);
        return PyErr_NoMemory();
    }
    static const u8 leaf_tag = 0x00, inner_tag = 0x01;
    PyThreadState *ts = n >= 64 ? PyEval_SaveThread() : NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *leaf = PyTuple_GET_ITEM(items, i);
        sm3_ctx c;
        sm3_init(&c);
        sm3_update(&c, &leaf_tag, 1);
        sm3_update(&c, (const u8 *)PyBytes_AS_STRING(leaf), (size_t)PyBytes_GET_SIZE(leaf));
        sm3_final(&c, nodes + 32 * i);
    }
    Py_ssize_t m = n;
    while (m > 1) {
        Py_ssize_t k = 0;
        for (Py_ssize_t i = 0; i + 1 < m; i += 2, k++) {
            sm3_ctx c;
            u8 out[32];
            sm3_init(&c);
            sm3_update(&c, &inner_tag, 1);
            sm3_update(&c, nodes + 32 * i, 64); /* left || right, adjacent */
            sm3_final(&c, out);
            memcpy(nodes + 32 * k, out, 32); /* k <= i: nodes not read yet stay intact */
        }
        if (m & 1) {
            memmove(nodes + 32 * k, nodes + 32 * (m - 1), 32);
            k++;
        }
        m = k;
    }
    if (ts) PyEval_RestoreThread(ts);
    PyObject *top = PyBytes_FromStringAndSize((const char *)nodes, 32);
    PyMem_Free(nodes);
    Py_DECREF(items);
    return top;
}

static PyObject *fe_to_pybytes(const fe *a)
{
    fe t;
    u8 out[32];
    fe_from_mont(&t, a);
    limbs_to_be(out, t.v);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

/* _g_table_point(i, j) -> 64 bytes of (j + 1) * 2^(8 i) * G as the table holds it */
static PyObject *py_g_table_point(PyObject *self, PyObject *args)
{
    int i, j;
    (void)self;
    if (!PyArg_ParseTuple(args, "ii", &i, &j)) return NULL;
    if (i < 0 || i >= GWIN || j < 0 || j >= GHALF) {
        PyErr_SetString(PyExc_IndexError, "table index out of range");
        return NULL;
    }
    const aff *a = &g_table[(size_t)i * GHALF + (size_t)j];
    PyObject *x = fe_to_pybytes(&a->x), *y = fe_to_pybytes(&a->y);
    PyObject *out = NULL;
    if (x && y) {
        out = PyBytes_FromStringAndSize(NULL, 64);
        if (out) {
            memcpy(PyBytes_AS_STRING(out), PyBytes_AS_STRING(x), 32);
            memcpy(PyBytes_AS_STRING(out) + 32, PyBytes_AS_STRING(y), 32);
        }
    }
    Py_XDECREF(x);
    Py_XDECREF(y);
    return out;
}

/* _mul_add(k1, k2, key64) -> 64 bytes of k1 G + k2 Q (empty: infinity), both paths: the
 * table path when mode 2, else wNAF; scalars 32 bytes big-endian, any value < 2^256. */
static PyObject *py_mul_add(PyObject *self, PyObject *args)
{
    Py_buffer b1, b2, kb;
    int mode = MODE_COLD;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*|i", &b1, &b2, &kb, &mode)) return NULL;
    PyObject *out = NULL;
    aff q;
    u64 k1[4], k2[4];
    if (b1.len != 32 || b2.len != 32 || kb.len != 64) {
        PyErr_SetString(PyExc_ValueError, "need 32, 32 and 64 bytes");
        goto done;
    }
    if (!aff_from_bytes(&q, kb.buf)) {
        PyErr_SetString(PyExc_ValueError, "not a point on the curve");
        goto done;
    }
    limbs_from_be(k1, b1.buf);
    limbs_from_be(k2, b2.buf);
    jac acc;
    int d1[GWIN];
    recode_signed(d1, k1, GW, GWIN);
    if (mode == MODE_TABLE) {
        aff *tab = table_alloc((size_t)QWIN * QHALF);
        if (!tab || !build_table(tab, &q, QW, QWIN)) {
            free(tab);
            PyErr_NoMemory();
            goto done;
        }
        int d2[QWIN];
        recode_signed(d2, k2, QW, QWIN);
        jac_set_inf(&acc);
        add_digits(&acc, tab, d2, QHALF, QWIN);
        free(tab);
    } else {
        mul_wnaf(&acc, &q, k2);
    }
    add_digits(&acc, g_table, d1, GHALF, GWIN);
    if (jac_is_inf(&acc)) {
        out = PyBytes_FromStringAndSize("", 0);
        goto done;
    }
    fe zi, zi2, zi3, x, y;
    fe_inv(&zi, &acc.Z);
    fe_sqr(&zi2, &zi);
    fe_mul(&zi3, &zi2, &zi);
    fe_mul(&x, &acc.X, &zi2);
    fe_mul(&y, &acc.Y, &zi3);
    {
        fe tx, ty;
        u8 buf[64];
        fe_from_mont(&tx, &x);
        fe_from_mont(&ty, &y);
        limbs_to_be(buf, tx.v);
        limbs_to_be(buf + 32, ty.v);
        out = PyBytes_FromStringAndSize((const char *)buf, 64);
    }
done:
    PyBuffer_Release(&b1);
    PyBuffer_Release(&b2);
    PyBuffer_Release(&kb);
    return out;
}

/* _branch_counts([enable]) -> counts so far; enable turns counting on or off */
static PyObject *py_branch_counts(PyObject *self, PyObject *args)
{
    int enable = -1;
    (void)self;
    if (!PyArg_ParseTuple(args, "|p", &enable)) return NULL;
    if (enable >= 0) g_count_branches = enable;
    return Py_BuildValue("(KKKK)", (unsigned long long)g_branch[0],
                         (unsigned long long)g_branch[1], (unsigned long long)g_branch[2],
                         (unsigned long long)g_branch[3]);
}

static PyObject *py_configure_cache(PyObject *self, PyObject *args)
{
    Py_ssize_t max_entries;
    unsigned int after;
    (void)self;
    if (!PyArg_ParseTuple(args, "nI", &max_entries, &after)) return NULL;
    if (max_entries < 0 || after < 1 || after > 255) {
        PyErr_SetString(PyExc_ValueError, "max_entries >= 0 and 1 <= after <= 255");
        return NULL;
    }
    pthread_mutex_lock(&g_mu);
    g_max_entries = (size_t)max_entries;
    g_table_after = after;
    while (g_entries > g_max_entries && g_lru.prev != &g_lru) cache_drop(g_lru.prev);
    pthread_mutex_unlock(&g_mu);
    Py_RETURN_NONE;
}

static PyObject *py_clear_cache(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    pthread_mutex_lock(&g_mu);
    cache_clear_locked();
    pthread_mutex_unlock(&g_mu);
    Py_RETURN_NONE;
}

static PyObject *py_cache_info(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    pthread_mutex_lock(&g_mu);
    PyObject *out = Py_BuildValue(
        "{s:n,s:n,s:I,s:K,s:K,s:K,s:n}", "entries", (Py_ssize_t)g_entries, "max_entries",
        (Py_ssize_t)g_max_entries, "table_after", g_table_after, "built",
        (unsigned long long)g_built, "hits", (unsigned long long)g_hits, "cold",
        (unsigned long long)g_cold, "table_bytes", (Py_ssize_t)(QWIN * QHALF * sizeof(aff)));
    pthread_mutex_unlock(&g_mu);
    return out;
}

static const char *isa_name(void)
{
#ifdef SM2V_ADX
    if (g_adx) return "mulx/adx";
#endif
    return "portable (__int128)";
}

static int cpu_has_adx(void)
{
#ifdef SM2V_ADX
    unsigned a = 7, b = 0, c = 0, d = 0;
    unsigned max;
    __asm__ volatile("cpuid" : "=a"(max), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (max < 7) return 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    return ((b >> 8) & 1) && ((b >> 19) & 1); /* BMI2 (mulx) and ADX (adcx/adox) */
#else
    return 0;
#endif
}

static PyObject *py_isa(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyUnicode_FromString(isa_name());
}

/* _set_isa("portable" | "mulx/adx" | "best") -> the name now in use (tests run both). Tables
 * hold plain field elements, so they stay valid across a switch. */
static PyObject *py_set_isa(PyObject *self, PyObject *args)
{
    const char *name;
    (void)self;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
#ifdef SM2V_ADX
    if (strcmp(name, "portable") == 0) {
        g_adx = 0;
    } else if (strcmp(name, "mulx/adx") == 0 || strcmp(name, "best") == 0) {
        if (!cpu_has_adx() && strcmp(name, "best") != 0) {
            PyErr_SetString(PyExc_ValueError, "this CPU lacks BMI2/ADX");
            return NULL;
        }
        g_adx = cpu_has_adx();
    } else {
        PyErr_SetString(PyExc_ValueError, "isa must be portable, mulx/adx or best");
        return NULL;
    }
#else
    if (strcmp(name, "portable") != 0 && strcmp(name, "best") != 0) {
        PyErr_SetString(PyExc_ValueError, "only the portable arithmetic is built here");
        return NULL;
    }
#endif
    return PyUnicode_FromString(isa_name());
}

static PyObject *py_cpu_has_adx(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    return PyBool_FromLong(cpu_has_adx());
}

static void atfork_child(void) { pthread_mutex_init(&g_mu, NULL); }

static int sm2v_init(void)
{
    sm3_setup();
#ifdef SM2V_ADX
    g_adx = cpu_has_adx();
#endif
    FE_R2 = FE_ONE;
    for (int i = 0; i < 256; i++) fe_add(&FE_R2, &FE_R2, &FE_R2);
    static const u8 b_be[32] = {0x28, 0xE9, 0xFA, 0x9E, 0x9D, 0x9F, 0x5E, 0x34, 0x4D, 0x5A, 0x9E,
                                0x4B, 0xCF, 0x65, 0x09, 0xA7, 0xF3, 0x97, 0x89, 0xF5, 0x15, 0xAB,
                                0x8F, 0x92, 0xDD, 0xBC, 0xBD, 0x41, 0x4D, 0x94, 0x0E, 0x93};
    static const u8 g_be[64] = {
        0x32, 0xC4, 0xAE, 0x2C, 0x1F, 0x19, 0x81, 0x19, 0x5F, 0x99, 0x04, 0x46, 0x6A,
        0x39, 0xC9, 0x94, 0x8F, 0xE3, 0x0B, 0xBF, 0xF2, 0x66, 0x0B, 0xE1, 0x71, 0x5A,
        0x45, 0x89, 0x33, 0x4C, 0x74, 0xC7, 0xBC, 0x37, 0x36, 0xA2, 0xF4, 0xF6, 0x77,
        0x9C, 0x59, 0xBD, 0xCE, 0xE3, 0x6B, 0x69, 0x21, 0x53, 0xD0, 0xA9, 0x87, 0x7C,
        0xC6, 0x2A, 0x47, 0x40, 0x02, 0xDF, 0x32, 0xE5, 0x21, 0x39, 0xF0, 0xA0};
    fe b;
    limbs_from_be(b.v, b_be);
    fe_to_mont(&FE_B, &b);
    aff g;
    if (!aff_from_bytes(&g, g_be)) return -1; /* self-check of the field code */
    g_table = table_alloc((size_t)GWIN * GHALF);
    if (!g_table || !build_table(g_table, &g, GW, GWIN)) return -2;
    /* Z prefix: ENTL (128 bits) || "1234567812345678" || a || b || xG || yG */
    u8 a_be[32];
    {
        u64 a[4];
        u64 three[4] = {3, 0, 0, 0};
        sub256(a, P, three);
        limbs_to_be(a_be, a);
    }
    sm3_init(&g_zprefix);
    static const u8 entl_id[18] = {0x00, 0x80, '1', '2', '3', '4', '5', '6', '7',
                                   '8',  '1',  '2', '3', '4', '5', '6', '7', '8'};
    sm3_update(&g_zprefix, entl_id, sizeof entl_id);
    sm3_update(&g_zprefix, a_be, 32);
    sm3_update(&g_zprefix, b_be, 32);
    sm3_update(&g_zprefix, g_be, 64);
    pthread_atfork(NULL, NULL, atfork_child);
    return 0;
}

static PyMethodDef methods[] = {
    {"verify", (PyCFunction)(void (*)(void))py_verify, METH_FASTCALL,
     "verify(key, z|None, message, signature[, mode]) -> bool; e = SM3(Z || message)"},
    {"verify_digest", py_verify_digest, METH_VARARGS,
     "verify_digest(key, e, signature[, mode]) -> bool"},
    {"verify_batch", py_verify_batch, METH_VARARGS,
     "verify_batch(items, threads) -> list[bool]; default ID, GIL released"},
    {"configure_cache", py_configure_cache, METH_VARARGS,
     "configure_cache(max_entries, table_after): signer tables kept, and the verify count "
     "of a key at which its table is built"},
    {"clear_cache", py_clear_cache, METH_NOARGS, "drop every signer table"},
    {"cache_info", py_cache_info, METH_NOARGS, "signer-table cache counters"},
    {"pool_info", py_pool_info, METH_NOARGS,
     "pool_info() -> {threads, idle}: the batch helper threads started so far, idle now"},
    {"worker_cpu_ns", py_worker_cpu_ns, METH_NOARGS,
     "CPU ns the batch helper threads spent verifying (the caller's thread excluded)"},
    {"isa", py_isa, METH_NOARGS, "the arithmetic in use"},
    {"_set_isa", py_set_isa, METH_VARARGS, "switch the arithmetic (tests)"},
    {"cpu_has_adx", py_cpu_has_adx, METH_NOARGS, "whether this CPU has BMI2 and ADX"},
    {"_sm3", py_sm3, METH_VARARGS, "SM3 digest (tests pin it to hashlib)"},
    {"sm3_digest", py_sm3_digest, METH_O, "sm3_digest(data) -> the 32-byte SM3 of a buffer"},
    {"merkle_top", py_merkle_top, METH_O,
     "merkle_top(leaves) -> the top node of crypto.merkle's SM3 tree (GIL released)"},
    {"_g_table_point", py_g_table_point, METH_VARARGS, "(j+1) 2^(8i) G from the table"},
    {"_mul_add", py_mul_add, METH_VARARGS, "k1 G + k2 Q, affine bytes or b'' (tests)"},
    {"_branch_counts", py_branch_counts, METH_VARARGS,
     "_branch_counts([enable]) -> (P==Q doubling, P==-Q, inf+P, P+inf) counts of point "
     "additions while counting is enabled"},
    {NULL, NULL, 0, NULL}};

#else /* !SM2V_OK */

static PyMethodDef methods[] = {{NULL, NULL, 0, NULL}};

#endif

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "crypto._sm2verify",
                                    "SM2 verification on the recommended curve (native).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__sm2verify(void)
{
    PyObject *m = PyModule_Create(&moddef);
    if (!m) return NULL;
    int available = 0;
    const char *reason = "needs a 64-bit platform with unsigned __int128 and POSIX threads";
#ifdef SM2V_OK
    int rc = sm2v_init();
    if (rc == 0) {
        available = 1;
        reason = "";
        pthread_atfork(NULL, NULL, pool_atfork_child); /* a child starts with no helpers */
    } else {
        reason = rc == -1 ? "self-test failed: the generator is not on the curve"
                          : "out of memory building the generator table";
    }
    if (PyModule_AddIntConstant(m, "MODE_AUTO", MODE_AUTO) < 0 ||
        PyModule_AddIntConstant(m, "MODE_COLD", MODE_COLD) < 0 ||
        PyModule_AddIntConstant(m, "MODE_TABLE", MODE_TABLE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
#endif
    if (PyModule_AddObject(m, "AVAILABLE", PyBool_FromLong(available)) < 0 ||
        PyModule_AddObject(m, "REASON", PyUnicode_FromString(reason)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
