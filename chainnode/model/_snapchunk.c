/* Snapshot chunks in C: the cut, the bytes and the SM3 hash of chainnode.model.snapshot's
 * chunks, for the background checkpoint computation (issue 19).
 *
 * Why: a checkpoint of a big state is hundreds of thousands of entries; in Python the
 * per-entry work (the cut rule, building [k, v] lists, msgpack, the hash's copy) held the GIL
 * for about a microsecond an entry, and for those seconds the node's event loop (consensus,
 * execution, HTTP) got about half of it. Here the GIL is held only to read each entry's two
 * buffer pointers and lengths and to cut (a few ns an entry; the entries and their bytes
 * objects stay referenced); the encoding and SM3 of each closed chunk run without it.
 *
 * The bytes are exactly `chainnode.model.snapshot.encode_chunk` (msgpack with bin types: a
 * fixarray/array16/array32 header, then per entry 0x92 and each of key and value as bin
 * 8/16/32) and the hash `chunk_hash_of_bytes` (SM3(domain || bytes)); the cut is
 * `chunks_of`'s (a chunk closes at max_entries entries or once its keys' and values' bytes
 * reach max_bytes). The Python code stays the reference; tests/chainnode/ledger/
 * test_snapshot_native.py pins the two equal. Consensus data: never change one alone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_msgpack_out.h"
#include "_sm3.h"

typedef struct {
    const uint8_t *k;
    const uint8_t *v;
    size_t klen;
    size_t vlen;
} ent;

typedef struct {
    size_t first; /* index of its first entry */
    size_t count;
    size_t nbytes; /* its encoding's length */
    PyObject *data; /* bytes of nbytes, filled without the GIL */
    uint8_t hash[32];
} chunk;

/* Cut ents[0..n) into chunks: the closed ones, and the open tail too when
 * `final`. Returns the number of chunks written to `out` (room for n); *tail_bytes gets the
 * keys' and values' bytes of the entries after the last chunk. */
static size_t cut(const ent *ents, size_t n, size_t max_entries, size_t max_bytes, int final,
                  chunk *out, size_t *tail_bytes)
{
    size_t nchunks = 0, first = 0, size = 0, enc = 0;
    for (size_t i = 0; i < n; i++) {
        size += ents[i].klen + ents[i].vlen;
        enc += 1 + bin_header_len(ents[i].klen) + ents[i].klen + bin_header_len(ents[i].vlen) +
               ents[i].vlen;
        size_t count = i + 1 - first;
        if (count >= max_entries || size >= max_bytes) {
            out[nchunks++] = (chunk){first, count, array_header_len(count) + enc, NULL, {0}};
            first = i + 1;
            size = enc = 0;
        }
    }
    if (final && first < n) {
        size_t count = n - first;
        out[nchunks++] = (chunk){first, count, array_header_len(count) + enc, NULL, {0}};
        size = 0;
    }
    *tail_bytes = size;
    return nchunks;
}

/* Encode each chunk into its bytes object and hash it (GIL released). */
static void fill(const ent *ents, chunk *chunks, size_t nchunks, const uint8_t *domain,
                 size_t domain_len)
{
    for (size_t c = 0; c < nchunks; c++) {
        chunk *ch = &chunks[c];
        uint8_t *start = (uint8_t *)PyBytes_AS_STRING(ch->data);
        uint8_t *p = put_array(start, ch->count);
        for (size_t i = ch->first; i < ch->first + ch->count; i++) {
            *p++ = 0x92;
            p = put_bin(p, ents[i].k, ents[i].klen);
            p = put_bin(p, ents[i].v, ents[i].vlen);
        }
        sm3_ctx h;
        sm3_init(&h);
        sm3_update(&h, domain, domain_len);
        sm3_update(&h, start, (size_t)(p - start));
        sm3_final(&h, ch->hash);
    }
}

/* Read each entry's buffers (GIL held). Returns 0, or -1 with an exception set. */
static int gather(PyObject *seq, Py_ssize_t n, Py_ssize_t strip, ent *ents)
{
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = items[i];
        PyObject *k, *v;
        if (PyTuple_CheckExact(pair) && PyTuple_GET_SIZE(pair) == 2) {
            k = PyTuple_GET_ITEM(pair, 0);
            v = PyTuple_GET_ITEM(pair, 1);
        } else {
            PyErr_Format(PyExc_TypeError, "entry %zd is not a (key, value) tuple", i);
            return -1;
        }
        if (!PyBytes_CheckExact(k) || !PyBytes_CheckExact(v)) {
            PyErr_Format(PyExc_TypeError, "entry %zd is not two bytes objects", i);
            return -1;
        }
        Py_ssize_t klen = PyBytes_GET_SIZE(k);
        if (klen < strip) {
            PyErr_Format(PyExc_ValueError, "entry %zd: key shorter than the %zd bytes to strip", i,
                         strip);
            return -1;
        }
        if ((uint64_t)(klen - strip) > 0xffffffffu || (uint64_t)PyBytes_GET_SIZE(v) > 0xffffffffu) {
            PyErr_Format(PyExc_ValueError, "entry %zd: a key or value over 4 GiB", i);
            return -1;
        }
        ents[i].k = (const uint8_t *)PyBytes_AS_STRING(k) + strip;
        ents[i].klen = (size_t)(klen - strip);
        ents[i].v = (const uint8_t *)PyBytes_AS_STRING(v);
        ents[i].vlen = (size_t)PyBytes_GET_SIZE(v);
    }
    return 0;
}

/* encode_chunks(entries, strip, domain, max_entries, max_bytes, final)
 *   -> ([chunk bytes], [chunk hash], consumed, tail_bytes) */
static PyObject *py_encode_chunks(PyObject *self, PyObject *args)
{
    PyObject *entries, *seq = NULL, *datas = NULL, *hashes = NULL, *result = NULL;
    Py_ssize_t strip, max_entries, max_bytes;
    Py_buffer domain;
    int final;
    ent *ents = NULL;
    chunk *chunks = NULL;
    size_t nchunks = 0, tail_bytes = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "Ony*nnp", &entries, &strip, &domain, &max_entries, &max_bytes,
                          &final))
        return NULL;
    if (strip < 0 || max_entries < 1 || max_bytes < 1) {
        PyErr_SetString(PyExc_ValueError, "strip >= 0, max_entries >= 1, max_bytes >= 1");
        goto done;
    }
    /* a tuple (a list is copied: pointers only): it, so every (immutable) entry and bytes
     * object, stays referenced and unchanged while the GIL is released */
    if (!PyList_Check(entries) && !PyTuple_Check(entries)) {
        PyErr_SetString(PyExc_TypeError, "entries: expected a list or tuple of (key, value)");
        goto done;
    }
    seq = PySequence_Tuple(entries);
    if (seq == NULL) goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    ents = PyMem_Malloc(sizeof(ent) * (size_t)(n ? n : 1));
    chunks = PyMem_Malloc(sizeof(chunk) * (size_t)(n ? n : 1));
    if (ents == NULL || chunks == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    if (gather(seq, n, strip, ents) < 0) goto done;
    /* the cut keeps the GIL: ~1 ns an entry, less than a release and re-acquire (which,
     * beside a busy event loop, waits up to the switch interval) */
    nchunks = cut(ents, (size_t)n, (size_t)max_entries, (size_t)max_bytes, final, chunks,
                  &tail_bytes);
    datas = PyList_New((Py_ssize_t)nchunks);
    hashes = PyList_New((Py_ssize_t)nchunks);
    if (datas == NULL || hashes == NULL) goto done;
    for (size_t c = 0; c < nchunks; c++) {
        chunks[c].data = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)chunks[c].nbytes);
        if (chunks[c].data == NULL) goto done;
        PyList_SET_ITEM(datas, (Py_ssize_t)c, chunks[c].data); /* the list owns it */
    }
    if (nchunks) { /* most steps close no chunk: they never let the GIL go */
        Py_BEGIN_ALLOW_THREADS;
        fill(ents, chunks, nchunks, (const uint8_t *)domain.buf, (size_t)domain.len);
        Py_END_ALLOW_THREADS;
    }
    for (size_t c = 0; c < nchunks; c++) {
        PyObject *h = PyBytes_FromStringAndSize((const char *)chunks[c].hash, 32);
        if (h == NULL) goto done;
        PyList_SET_ITEM(hashes, (Py_ssize_t)c, h);
    }
    size_t consumed = nchunks ? chunks[nchunks - 1].first + chunks[nchunks - 1].count : 0;
    result = Py_BuildValue("(OOnn)", datas, hashes, (Py_ssize_t)consumed, (Py_ssize_t)tail_bytes);
done:
    PyBuffer_Release(&domain);
    Py_XDECREF(datas);
    Py_XDECREF(hashes);
    Py_XDECREF(seq);
    PyMem_Free(ents);
    PyMem_Free(chunks);
    return result;
}

static PyObject *py_sm3(PyObject *self, PyObject *args)
{
    Py_buffer b;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    sm3_ctx c;
    uint8_t out[32];
    sm3_init(&c);
    Py_BEGIN_ALLOW_THREADS;
    sm3_update(&c, b.buf, (size_t)b.len);
    sm3_final(&c, out);
    Py_END_ALLOW_THREADS;
    PyBuffer_Release(&b);
    return PyBytes_FromStringAndSize((const char *)out, 32);
}

static PyMethodDef methods[] = {
    {"encode_chunks", py_encode_chunks, METH_VARARGS,
     "encode_chunks(entries, strip, domain, max_entries, max_bytes, final) -> (chunk bytes, "
     "chunk hashes, entries consumed, bytes of the entries left); GIL released but to read"},
    {"_sm3", py_sm3, METH_VARARGS, "SM3 digest (tests pin it to hashlib)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "chainnode.model._snapchunk",
                                    "Snapshot chunks' bytes and hashes in C.", -1, methods};

PyMODINIT_FUNC PyInit__snapchunk(void)
{
    sm3_setup();
    return PyModule_Create(&module);
}
