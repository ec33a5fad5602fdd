/* The bytes a block's state root hashes, in C: the fast path of
 * chainnode.ledger.executor.state_root_nested (issue 19).
 *
 * Why: every node computes the state root of every block it executes, over all of the block's
 * writes (four a transaction for the evidence workload): sorting them and building a list
 * per write for msgpack cost ~3 us a transaction in Python, as much as hashing the bytes.
 *
 * `pack_writes(prev, height, writes)` returns exactly `pack([prev, height, items])` of
 * `executor._pack_writes_plain`: `writes` maps namespace -> {key: value or None}; items are
 * `[ns, key]` (a delete) or `[ns, key, value]`, namespaces in byte order, then each one's keys.
 * msgpack with bin types (written by chainnode/model/_msgpack_out.h): fixarray(3), prev, the
 * height, the items' array header, then per item 0x92 or 0x93 and its bins. It returns
 * None, having read nothing it cannot, for anything but exact dicts of exact bytes (and None
 * values) with a non-negative height below 2**64: the Python path then decides. No Python code
 * runs while it reads the dicts (no callbacks, bytes compare with memcmp), so the borrowed
 * references stay valid. tests/chainnode/ledger/test_stateroot_native.py pins the two equal.
 * Consensus data: never change one alone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_msgpack_out.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} span;

typedef struct {
    uint64_t head; /* the key's first 8 bytes, big-endian, zero-padded: most compares end here */
    span key;
    span value; /* p == NULL: a delete */
} entry;

typedef struct {
    span ns;
    PyObject *kv; /* the namespace's dict (borrowed) */
} space;

static int span_cmp(const span *a, const span *b)
{
    size_t n = a->n < b->n ? a->n : b->n;
    int c = n ? memcmp(a->p, b->p, n) : 0;
    if (c) return c;
    return (a->n > b->n) - (a->n < b->n); /* a prefix sorts first, as bytes do */
}

static int space_cmp(const void *a, const void *b)
{
    return span_cmp(&((const space *)a)->ns, &((const space *)b)->ns);
}

static int write_cmp(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    /* Padded heads that differ order the keys as bytes do (a shorter key's padding, 0, is
     * below any byte that differs there); equal heads leave it to the whole keys. */
    if (x->head != y->head) return x->head < y->head ? -1 : 1;
    return span_cmp(&x->key, &y->key);
}

static uint64_t head_of(span s)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8; i++) v = (v << 8) | (i < s.n ? s.p[i] : 0);
    return v;
}

static int as_span(PyObject *o, span *s)
{
    if (!PyBytes_CheckExact(o)) return 0;
    s->p = (const uint8_t *)PyBytes_AS_STRING(o);
    s->n = (size_t)PyBytes_GET_SIZE(o);
    return 1;
}

static size_t bin_len(size_t n) { return bin_header_len(n) + n; }

/* The writes of every namespace, sorted: 1 on success, 0 to leave it to Python (*out NULL),
 * -1 on MemoryError. */
static int collect(PyObject *writes, space **spaces_out, Py_ssize_t *nspaces, entry **out,
                   size_t *nwrites)
{
    Py_ssize_t ns_count = PyDict_GET_SIZE(writes), total = 0, pos = 0, i = 0;
    PyObject *k, *v;
    space *spaces = PyMem_Malloc(sizeof(space) * (size_t)(ns_count ? ns_count : 1));
    if (!spaces) return -1;
    while (PyDict_Next(writes, &pos, &k, &v)) {
        if (!as_span(k, &spaces[i].ns) || !PyDict_CheckExact(v)) goto leave;
        spaces[i++].kv = v;
        total += PyDict_GET_SIZE(v);
    }
    qsort(spaces, (size_t)ns_count, sizeof(space), space_cmp);
    entry *ws = PyMem_Malloc(sizeof(entry) * (size_t)(total ? total : 1));
    if (!ws) {
        PyMem_Free(spaces);
        return -1;
    }
    size_t n = 0;
    for (i = 0; i < ns_count; i++) {
        size_t first = n;
        pos = 0;
        while (PyDict_Next(spaces[i].kv, &pos, &k, &v)) {
            if (!as_span(k, &ws[n].key)) goto leave_ws;
            ws[n].head = head_of(ws[n].key);
            if (v == Py_None) ws[n].value.p = NULL, ws[n].value.n = 0;
            else if (!as_span(v, &ws[n].value)) goto leave_ws;
            n++;
        }
        qsort(ws + first, n - first, sizeof(entry), write_cmp);
    }
    *spaces_out = spaces;
    *nspaces = ns_count;
    *out = ws;
    *nwrites = n;
    return 1;
leave_ws:
    PyMem_Free(ws);
leave:
    PyMem_Free(spaces);
    *out = NULL;
    return 0;
}

static PyObject *py_pack_writes(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "pack_writes(prev, height, writes)");
        return NULL;
    }
    span prev;
    if (!as_span(args[0], &prev) || !PyLong_CheckExact(args[1]) || !PyDict_CheckExact(args[2]))
        Py_RETURN_NONE;
    uint64_t height = PyLong_AsUnsignedLongLong(args[1]);
    if (height == (uint64_t)-1 && PyErr_Occurred()) { /* negative or too big */
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    space *spaces;
    Py_ssize_t nspaces;
    entry *ws;
    size_t n;
    int got = collect(args[2], &spaces, &nspaces, &ws, &n);
    if (got < 0) return PyErr_NoMemory();
    if (got == 0) Py_RETURN_NONE;

    size_t size = 1 + bin_len(prev.n) + 9 + 5, w = 0;
    for (Py_ssize_t i = 0; i < nspaces; i++) {
        size_t count = (size_t)PyDict_GET_SIZE(spaces[i].kv), ns_bytes = bin_len(spaces[i].ns.n);
        for (size_t j = 0; j < count; j++, w++)
            size += 1 + ns_bytes + bin_len(ws[w].key.n) +
                    (ws[w].value.p ? bin_len(ws[w].value.n) : 0);
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (out) {
        uint8_t *p = (uint8_t *)PyBytes_AS_STRING(out);
        *p++ = 0x93;
        p = put_bin(p, prev.p, prev.n);
        p = put_uint(p, height);
        p = put_array(p, n);
        w = 0;
        for (Py_ssize_t i = 0; i < nspaces; i++) {
            size_t count = (size_t)PyDict_GET_SIZE(spaces[i].kv);
            for (size_t j = 0; j < count; j++, w++) {
                *p++ = ws[w].value.p ? 0x93 : 0x92;
                p = put_bin(p, spaces[i].ns.p, spaces[i].ns.n);
                p = put_bin(p, ws[w].key.p, ws[w].key.n);
                if (ws[w].value.p) p = put_bin(p, ws[w].value.p, ws[w].value.n);
            }
        }
        _PyBytes_Resize(&out, (Py_ssize_t)(p - (uint8_t *)PyBytes_AS_STRING(out)));
    }
    PyMem_Free(ws);
    PyMem_Free(spaces);
    return out;
}

static PyMethodDef methods[] = {
    {"pack_writes", (PyCFunction)(void (*)(void))py_pack_writes, METH_FASTCALL,
     "pack_writes(prev, height, writes) -> the bytes the state root hashes, or None where the "
     "Python path must decide"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "chainnode.ledger._stateroot",
                                    "The bytes of a block's state root in C.", -1, methods};

PyMODINIT_FUNC PyInit__stateroot(void) { return PyModule_Create(&module); }
