/* The canonical encoding of VM values in C: contracts.values.encode_value's common case.
 *
 * Why: every storage write, event and return value of a contract call is encoded (to charge
 * gas and to store it); for evidence.register that is five encodings per transaction, and
 * in Python (type checks, a tagged copy of each container, then msgpack) they were a sixth of
 * a block's execution. Here one pass writes the bytes. Measured in pairs against the Python
 * path: `python -m bench.vm` evidence.register 28.8 / 27.7 -> 19.9 / 19.9 us a call;
 * `python -m bench.ledger` build 65 / 59 -> 51 / 48 us a tx; `python -m bench.run`, 4
 * validators: the sweep's peak 2,690 / 2,681 -> 3,046 / 3,032 tx/s, 20,000 txs 3,564 / 3,678
 * -> 4,059 / 3,904 tx/s; 1 validator, 40,000 txs: 9,495 / 8,838 -> 10,189 / 9,785 tx/s.
 *
 * The bytes are contracts.values' canonical encoding: msgpack (with bin types, as
 * msgpack.Packer(use_bin_type=True) writes it: the shortest header for each length, the
 * shortest int), every container an array whose first element is its tag (list: 0, then
 * the items; map: 1, then key, value, ... in insertion order). This path takes only what it
 * can decide alone and answers None for everything else, which the Python paths then encode
 * or refuse with the exact error: a type that is not exactly a VM value's, an int outside
 * [-2^63, 2^64) (a big int's encoding) or a map key outside [-2^60, 2^60], a str that is
 * not valid UTF-8 (a lone surrogate), nesting at MAX_DEPTH, a container of more than
 * MAX_ITEMS items, or bytes past `cap`. With every str, bytes and the whole encoding within
 * `cap` (<= MAX_BYTES_LEN), no length limit can fail, so a value it encodes is one the
 * reference accepts. The Python code stays the reference; tests/contracts/test_fastpaths.py
 * pins the two equal. Consensus data: never change one alone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 32
#define MAX_ITEMS 4096
#define MAP_INT_LIMIT (1LL << 60)
#define TAG_LIST 0
#define TAG_MAP 1

typedef struct {
    uint8_t *buf;
    size_t len;
    size_t cap; /* the most bytes the encoding may take */
} out_t;

/* Every writer returns 0 (written), 1 (not this path's: the answer is None) or -1 (a Python
 * error is set). reserve: 1 when n more bytes would pass the cap. */
static int reserve(out_t *o, size_t n)
{
    return n > o->cap - o->len ? 1 : 0;
}

static void put_be(out_t *o, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) o->buf[o->len++] = (uint8_t)(v >> (8 * i));
}

/* A header byte, then `bytes` big-endian bytes of v (none: a fix-form header alone). */
static int put_head(out_t *o, uint8_t head, uint64_t v, int bytes)
{
    if (reserve(o, 1 + (size_t)bytes)) return 1;
    o->buf[o->len++] = head;
    put_be(o, v, bytes);
    return 0;
}

/* The header of length n: fix | n below fix_limit (fix_limit 0: no fix form), else the
 * 8-bit form (head8 0: none), the 16-bit or the 32-bit one. */
static int put_len(out_t *o, uint8_t fix, size_t fix_limit, uint8_t head8, uint8_t head16,
                   uint8_t head32, size_t n)
{
    if (n < fix_limit) return put_head(o, (uint8_t)(fix | n), 0, 0);
    if (head8 && n < 0x100) return put_head(o, head8, n, 1);
    if (n < 0x10000) return put_head(o, head16, n, 2);
    return put_head(o, head32, n, 4);
}

/* str (fix 0xa0 below 32, str8/16/32) or bin (bin8/16/32) header, then the bytes */
static int put_raw(out_t *o, int is_str, const char *src, size_t n)
{
    int r = is_str ? put_len(o, 0xa0, 32, 0xd9, 0xda, 0xdb, n)
                   : put_len(o, 0, 0, 0xc4, 0xc5, 0xc6, n);
    if (r != 0) return r;
    if (reserve(o, n)) return 1;
    if (n) memcpy(o->buf + o->len, src, n);
    o->len += n;
    return 0;
}

static int put_array(out_t *o, size_t n) { return put_len(o, 0x90, 16, 0, 0xdc, 0xdd, n); }

/* msgpack's shortest int, as its packer picks it */
static int put_int(out_t *o, PyObject *v, int map_key)
{
    int overflow = 0;
    long long d = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (d == -1 && PyErr_Occurred()) return -1;
    if (overflow != 0) {
        if (overflow < 0 || map_key) return 1;
        unsigned long long u = PyLong_AsUnsignedLongLong(v);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear(); /* past 2^64: a big int's encoding */
            return 1;
        }
        return put_head(o, 0xcf, u, 8);
    }
    if (map_key && (d < -MAP_INT_LIMIT || d > MAP_INT_LIMIT)) return 1;
    if (d >= -(1LL << 5) && d < (1LL << 7)) return put_head(o, (uint8_t)d, 0, 0); /* fixint */
    if (d < 0) {
        if (d >= -(1LL << 7)) return put_head(o, 0xd0, (uint64_t)d, 1);
        if (d >= -(1LL << 15)) return put_head(o, 0xd1, (uint64_t)d, 2);
        if (d >= -(1LL << 31)) return put_head(o, 0xd2, (uint64_t)d, 4);
        return put_head(o, 0xd3, (uint64_t)d, 8);
    }
    if (d < (1LL << 8)) return put_head(o, 0xcc, (uint64_t)d, 1);
    if (d < (1LL << 16)) return put_head(o, 0xcd, (uint64_t)d, 2);
    if (d < (1LL << 32)) return put_head(o, 0xce, (uint64_t)d, 4);
    return put_head(o, 0xcf, (uint64_t)d, 8);
}

static int put_str(out_t *o, PyObject *v)
{
    if (PyUnicode_IS_ASCII(v)) /* its characters are its UTF-8 */
        return put_raw(o, 1, (const char *)PyUnicode_DATA(v), (size_t)PyUnicode_GET_LENGTH(v));
    /* at least a byte a character: one that cannot fit is known before the copy */
    if ((size_t)PyUnicode_GET_LENGTH(v) > o->cap - o->len) return 1;
    /* a temporary copy, not PyUnicode_AsUTF8's: that one stays cached in the str */
    PyObject *utf8 = PyUnicode_AsUTF8String(v);
    if (utf8 == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
        PyErr_Clear(); /* a lone surrogate: the reference names the error */
        return 1;
    }
    int r = put_raw(o, 1, PyBytes_AS_STRING(utf8), (size_t)PyBytes_GET_SIZE(utf8));
    Py_DECREF(utf8);
    return r;
}

static int put_value(out_t *o, PyObject *v, int depth);

static int put_key(out_t *o, PyObject *k)
{
    if (PyUnicode_CheckExact(k)) return put_str(o, k);
    if (PyBytes_CheckExact(k))
        return put_raw(o, 0, PyBytes_AS_STRING(k), (size_t)PyBytes_GET_SIZE(k));
    if (PyLong_CheckExact(k)) return put_int(o, k, 1);
    return 1;
}

static int put_value(out_t *o, PyObject *v, int depth)
{
    int r;
    if (v == Py_None || v == Py_True || v == Py_False)
        return put_head(o, v == Py_None ? 0xc0 : v == Py_True ? 0xc3 : 0xc2, 0, 0);
    if (PyUnicode_CheckExact(v)) return put_str(o, v);
    if (PyBytes_CheckExact(v))
        return put_raw(o, 0, PyBytes_AS_STRING(v), (size_t)PyBytes_GET_SIZE(v));
    if (PyLong_CheckExact(v)) return put_int(o, v, 0);
    if (PyList_CheckExact(v)) {
        Py_ssize_t n = PyList_GET_SIZE(v);
        if (depth >= MAX_DEPTH || n > MAX_ITEMS) return 1;
        if ((r = put_array(o, (size_t)n + 1)) != 0 || (r = put_head(o, TAG_LIST, 0, 0)) != 0)
            return r;
        /* the list cannot change meanwhile: nothing here runs Python code */
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(v); i++)
            if ((r = put_value(o, PyList_GET_ITEM(v, i), depth + 1)) != 0) return r;
        return 0;
    }
    if (PyDict_CheckExact(v)) {
        Py_ssize_t n = PyDict_GET_SIZE(v), pos = 0;
        PyObject *key, *item;
        if (depth >= MAX_DEPTH || n > MAX_ITEMS) return 1;
        if ((r = put_array(o, 2 * (size_t)n + 1)) != 0 || (r = put_head(o, TAG_MAP, 0, 0)) != 0)
            return r;
        while (PyDict_Next(v, &pos, &key, &item)) {
            if ((r = put_key(o, key)) != 0) return r;
            if ((r = put_value(o, item, depth + 1)) != 0) return r;
        }
        return 0;
    }
    return 1;
}

static PyObject *encode(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "encode(value, cap)");
        return NULL;
    }
    Py_ssize_t cap = PyLong_AsSsize_t(args[1]);
    if (cap == -1 && PyErr_Occurred()) return NULL;
    if (cap < 0) Py_RETURN_NONE;
    uint8_t small[512];
    out_t o = {small, 0, (size_t)cap};
    uint8_t *heap = NULL;
    if ((size_t)cap > sizeof small) {
        /* a first try in the stack buffer: most values are small */
        o.cap = sizeof small;
        int r = put_value(&o, args[0], 0);
        if (r < 0) return NULL;
        if (r == 0) return PyBytes_FromStringAndSize((const char *)small, (Py_ssize_t)o.len);
        heap = PyMem_Malloc((size_t)cap);
        if (heap == NULL) return PyErr_NoMemory();
        o.buf = heap;
        o.len = 0;
        o.cap = (size_t)cap;
    }
    int r = put_value(&o, args[0], 0);
    PyObject *res = NULL;
    if (r == 0)
        res = PyBytes_FromStringAndSize((const char *)o.buf, (Py_ssize_t)o.len);
    else if (r == 1)
        res = Py_NewRef(Py_None);
    PyMem_Free(heap);
    return res;
}

/* ---- decoding ------------------------------------------------------------------------------
 *
 * decode(data) -> (value,) | None: contracts.values.decode_value's common case. It parses
 * what the encoder above writes (scalars, and arrays tagged list or map) and then encodes the
 * value it built: only when that gives back exactly `data` is the value the answer. The
 * encoding is canonical and one-to-one, so a value whose encoding is `data` is the value
 * `data` encodes, whatever the parser did; anything else (non-canonical bytes, a big int, a
 * duplicate key, a limit, bytes past the end, invalid UTF-8, more than MAX_BYTES_LEN bytes)
 * answers None and the Python reference decodes it or names the error. The bounds of msgpack's unpacker in the reference
 * (bin, str and array lengths) are kept here too: past them it fails, so this path must not
 * answer. */

#define MAX_BYTES_LEN 65536 /* contracts.values.MAX_BYTES_LEN */

typedef struct {
    const uint8_t *p;
    size_t n, pos;
} in_t;

/* 0: `len` big-endian bytes read into *v; 1: past the end */
static int take_be(in_t *in, int len, uint64_t *v)
{
    if ((size_t)len > in->n - in->pos) return 1;
    uint64_t x = 0;
    for (int i = 0; i < len; i++) x = x << 8 | in->p[in->pos++];
    *v = x;
    return 0;
}

static int get_value(in_t *in, int depth, PyObject **out);

/* A container's items after its tag: n values into a list, or n/2 pairs into a dict. */
static int get_items(in_t *in, int depth, size_t n, int is_map, PyObject **out)
{
    if (n > in->n - in->pos) return 1; /* each item takes a byte at least */
    if (is_map) {
        if (n % 2) return 1;
        PyObject *d = PyDict_New();
        if (d == NULL) return -1;
        for (size_t i = 0; i < n; i += 2) {
            PyObject *k, *v;
            int r = get_value(in, depth + 1, &k);
            if (r != 0) {
                Py_DECREF(d);
                return r;
            }
            if (!(PyUnicode_CheckExact(k) || PyBytes_CheckExact(k) || PyLong_CheckExact(k))) {
                Py_DECREF(k);
                Py_DECREF(d);
                return 1;
            }
            r = get_value(in, depth + 1, &v);
            if (r == 0) {
                int dup = PyDict_Contains(d, k);
                r = dup < 0 ? -1 : dup ? 1 : PyDict_SetItem(d, k, v) < 0 ? -1 : 0;
                Py_DECREF(v);
            }
            Py_DECREF(k);
            if (r != 0) {
                Py_DECREF(d);
                return r;
            }
        }
        *out = d;
        return 0;
    }
    PyObject *list = PyList_New((Py_ssize_t)n);
    if (list == NULL) return -1;
    for (size_t i = 0; i < n; i++) {
        PyObject *v;
        int r = get_value(in, depth + 1, &v);
        if (r != 0) {
            Py_DECREF(list);
            return r;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    *out = list;
    return 0;
}

/* 0: *out is a new reference; 1: not this path's; -1: a Python error is set */
static int get_value(in_t *in, int depth, PyObject **out)
{
    uint64_t u;
    if (in->pos >= in->n) return 1;
    uint8_t h = in->p[in->pos++];
    if (h < 0x80 || h >= 0xe0) {
        *out = PyLong_FromLong(h < 0x80 ? (long)h : (long)(int8_t)h);
        return *out ? 0 : -1;
    }
    if (h == 0xc0 || h == 0xc2 || h == 0xc3) {
        *out = Py_NewRef(h == 0xc0 ? Py_None : h == 0xc3 ? Py_True : Py_False);
        return 0;
    }
    if (h >= 0xcc && h <= 0xcf) {
        if (take_be(in, 1 << (h - 0xcc), &u)) return 1;
        *out = PyLong_FromUnsignedLongLong(u);
        return *out ? 0 : -1;
    }
    if (h >= 0xd0 && h <= 0xd3) {
        int len = 1 << (h - 0xd0);
        if (take_be(in, len, &u)) return 1;
        int64_t v = len == 8 ? (int64_t)u : (int64_t)(u ^ (1ULL << (8 * len - 1))) -
                                                 (int64_t)(1ULL << (8 * len - 1));
        *out = PyLong_FromLongLong(v);
        return *out ? 0 : -1;
    }
    int is_str = (h >= 0xa0 && h <= 0xbf) || (h >= 0xd9 && h <= 0xdb);
    if (is_str || (h >= 0xc4 && h <= 0xc6)) {
        if (h >= 0xa0 && h <= 0xbf) {
            u = h & 0x1f;
        } else if (take_be(in, 1 << (is_str ? h - 0xd9 : h - 0xc4), &u)) {
            return 1;
        }
        if (u > (is_str ? 4 * (uint64_t)MAX_BYTES_LEN : (uint64_t)MAX_BYTES_LEN) ||
            u > in->n - in->pos)
            return 1;
        const char *src = (const char *)in->p + in->pos;
        in->pos += (size_t)u;
        if (!is_str) {
            *out = PyBytes_FromStringAndSize(src, (Py_ssize_t)u);
            return *out ? 0 : -1;
        }
        *out = PyUnicode_DecodeUTF8(src, (Py_ssize_t)u, "strict");
        if (*out != NULL) return 0;
        if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return -1;
        PyErr_Clear();
        return 1;
    }
    if ((h >= 0x90 && h <= 0x9f) || h == 0xdc || h == 0xdd) {
        if (h <= 0x9f) {
            u = h & 0x0f;
        } else if (take_be(in, h == 0xdc ? 2 : 4, &u)) {
            return 1;
        }
        /* a tag (0 list, 1 map, as one fixint byte), then the items; at most MAX_ITEMS
         * entries (the reference's unpacker refuses longer arrays) */
        if (depth >= MAX_DEPTH || u < 1 || u > 2 * MAX_ITEMS + 1 || in->pos >= in->n) return 1;
        uint8_t tag = in->p[in->pos++];
        if (tag != TAG_LIST && tag != TAG_MAP) return 1;
        return get_items(in, depth, (size_t)u - 1, tag == TAG_MAP, out);
    }
    return 1;
}

static PyObject *decode(PyObject *self, PyObject *data)
{
    /* past MAX_BYTES_LEN the encoder's guarantee (a value it writes within its cap is one
     * the reference accepts) does not hold: the reference decides */
    if (!PyBytes_CheckExact(data) || PyBytes_GET_SIZE(data) > MAX_BYTES_LEN) Py_RETURN_NONE;
    in_t in = {(const uint8_t *)PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data), 0};
    PyObject *value = NULL;
    int r = get_value(&in, 0, &value);
    if (r < 0) return NULL;
    if (r > 0 || in.pos != in.n) {
        Py_XDECREF(value);
        Py_RETURN_NONE;
    }
    /* the proof: its encoding is `data` */
    uint8_t small[512];
    uint8_t *buf = in.n <= sizeof small ? small : PyMem_Malloc(in.n);
    if (buf == NULL) {
        Py_DECREF(value);
        return PyErr_NoMemory();
    }
    out_t o = {buf, 0, in.n};
    r = put_value(&o, value, 0);
    int same = r == 0 && o.len == in.n && memcmp(buf, in.p, in.n) == 0;
    if (buf != small) PyMem_Free(buf);
    if (r < 0 || !same) {
        Py_DECREF(value);
        if (r < 0) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *one = PyTuple_New(1);
    if (one == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    PyTuple_SET_ITEM(one, 0, value);
    return one;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_O,
     "decode(data) -> (value,) | None: the value `data` encodes when this path can decide it "
     "alone (its encoding is exactly `data`); None otherwise."},
    {"encode", (PyCFunction)(void (*)(void))encode, METH_FASTCALL,
     "encode(value, cap) -> bytes | None: the canonical encoding of a VM value when this "
     "path can decide it alone and it fits in cap bytes; None otherwise."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_values", "VM values' canonical encoding (see _values.c).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__values(void) { return PyModule_Create(&module); }
