/* A transaction decoded from its wire bytes in one call: the fast path of
 * chainnode.model.types' Transaction.decode (issue 19).
 *
 * Why: every node decodes every transaction once (from a client or from gossip), and the
 * Python decode (msgpack's unpack, then pack again to prove the bytes canonical, a check per
 * field, then a dozen slot assignments) cost about 4 us of its 5; a 4-validator network on 2
 * cores does it four times a transaction.
 *
 * `decode(data, names)` accepts only what the plain decode (`Transaction.decode_plain`)
 * accepts and is in the one shape `pack` gives a transaction: a fixarray of 9 whose fields are
 * bin 8/16/32 and unsigned ints, each in its shortest form (what msgpack packs bytes and
 * non-negative ints to, so such bytes are exactly `pack` of their fields), whose sizes and
 * ranges are valid, and whose chain id, contract and method are a key of `names` (types.py's
 * cache of the name triples its patterns have accepted, bytes -> str). It then returns the
 * Transaction with every slot set but `hash` (the caller's suite hashes the payload), the
 * signing payload cut out of `data` (the first eight fields as a fixarray of 8). For anything
 * else it returns None and changes nothing: the Python decode runs and accepts, or refuses
 * with its own error, exactly as before. The limits, the class and its slots come from Python
 * at import (`init`), so they keep their one home in types.py.
 * tests/chainnode/ledger/test_txwire_native.py pins the two paths equal.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <structmember.h>
#include <string.h>

static Py_ssize_t max_tx_bytes = -1; /* -1 until init: decode refuses everything */
static Py_ssize_t max_args_bytes;
static uint64_t max_gas_limit;
static Py_ssize_t pubkey_len;
static Py_ssize_t sig_len;

/* The Transaction class and where its slots are, in SLOT order (set by init). */
static PyTypeObject *tx_type;
static const char *const SLOT[] = {"chain_id", "contract", "method", "sender", "nonce",
                                   "block_limit", "args", "gas_limit", "signature", "payload",
                                   "raw"};
#define NSLOTS ((int)(sizeof SLOT / sizeof SLOT[0]))
static Py_ssize_t offset[NSLOTS];

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} cursor;

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* A bin in its shortest form: 1 on success (*out, *len set), 0 otherwise. */
static int read_bin(cursor *c, const uint8_t **out, Py_ssize_t *len)
{
    if (c->p >= c->end) return 0;
    uint8_t tag = *c->p++;
    int width;
    uint64_t least;
    if (tag == 0xc4) {
        width = 1;
        least = 0;
    } else if (tag == 0xc5) {
        width = 2;
        least = 0x100;
    } else if (tag == 0xc6) {
        width = 4;
        least = 0x10000;
    } else {
        return 0;
    }
    if (c->end - c->p < width) return 0;
    uint64_t n = be(c->p, width);
    c->p += width;
    if (n < least || (uint64_t)(c->end - c->p) < n) return 0;
    *out = c->p;
    *len = (Py_ssize_t)n;
    c->p += n;
    return 1;
}

/* An unsigned int in its shortest form. */
static int read_uint(cursor *c, uint64_t *v)
{
    if (c->p >= c->end) return 0;
    uint8_t tag = *c->p++;
    if (tag <= 0x7f) {
        *v = tag;
        return 1;
    }
    int width;
    uint64_t least;
    switch (tag) {
    case 0xcc: width = 1; least = 0x80; break;
    case 0xcd: width = 2; least = 0x100; break;
    case 0xce: width = 4; least = 0x10000; break;
    case 0xcf: width = 8; least = 0x100000000ULL; break;
    default: return 0;
    }
    if (c->end - c->p < width) return 0;
    *v = be(c->p, width);
    c->p += width;
    return *v >= least;
}

typedef struct {
    const uint8_t *b[6]; /* chain_id, sender, contract, method, args, signature */
    Py_ssize_t n[6];
    uint64_t u[3]; /* nonce, block_limit, gas_limit */
} fields;

/* The fields in wire order: b = bin, u = uint. */
static const char ORDER[] = "bbuubbbub";

static int parse(const uint8_t *data, Py_ssize_t len, fields *f)
{
    if (max_tx_bytes < 0 || len > max_tx_bytes || len < 1 || data[0] != 0x99) return 0;
    cursor c = {data + 1, data + len};
    int nb = 0, nu = 0;
    for (const char *o = ORDER; *o; o++) {
        if (*o == 'b' ? !read_bin(&c, &f->b[nb], &f->n[nb]) : !read_uint(&c, &f->u[nu])) return 0;
        if (*o == 'b') nb++;
        else nu++;
    }
    return c.p == c.end && f->n[1] == pubkey_len && f->b[1][0] == 4 && f->n[4] <= max_args_bytes &&
           f->u[2] >= 1 && f->u[2] <= max_gas_limit && f->n[5] == sig_len;
}

static PyObject *bin(const fields *f, int i)
{
    return PyBytes_FromStringAndSize((const char *)f->b[i], f->n[i]);
}

static PyObject *py_decode(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyDict_CheckExact(args[1])) {
        PyErr_SetString(PyExc_TypeError, "decode(data, names: dict)");
        return NULL;
    }
    PyObject *data = args[0];
    if (tx_type == NULL || !PyBytes_CheckExact(data)) Py_RETURN_NONE;
    const uint8_t *raw = (const uint8_t *)PyBytes_AS_STRING(data);
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    fields f;
    if (!parse(raw, len, &f)) Py_RETURN_NONE;

    PyObject *key = PyTuple_New(3);
    if (!key) return NULL;
    static const int name_field[3] = {0, 2, 3}; /* chain_id, contract, method */
    for (int i = 0; i < 3; i++) {
        PyObject *b = bin(&f, name_field[i]);
        if (!b) {
            Py_DECREF(key);
            return NULL;
        }
        PyTuple_SET_ITEM(key, i, b);
    }
    PyObject *names = PyDict_GetItemWithError(args[1], key); /* borrowed */
    Py_DECREF(key);
    if (names == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE; /* names not vetted yet: the Python decode checks them */
    }
    if (!PyTuple_CheckExact(names) || PyTuple_GET_SIZE(names) != 3) Py_RETURN_NONE;

    /* The payload: fixarray(8), then the bytes of the first eight fields (the signature, a
     * bin 8 of sig_len bytes, is the last 2 + sig_len bytes). */
    Py_ssize_t body = len - 1 - (2 + sig_len);
    PyObject *value[NSLOTS];
    value[0] = PyTuple_GET_ITEM(names, 0);
    value[1] = PyTuple_GET_ITEM(names, 1);
    value[2] = PyTuple_GET_ITEM(names, 2);
    Py_INCREF(value[0]);
    Py_INCREF(value[1]);
    Py_INCREF(value[2]);
    value[3] = bin(&f, 1);
    value[4] = PyLong_FromUnsignedLongLong(f.u[0]);
    value[5] = PyLong_FromUnsignedLongLong(f.u[1]);
    value[6] = bin(&f, 4);
    value[7] = PyLong_FromUnsignedLongLong(f.u[2]);
    value[8] = bin(&f, 5);
    value[9] = PyBytes_FromStringAndSize(NULL, 1 + body);
    value[10] = data;
    Py_INCREF(data);
    PyObject *tx = NULL;
    for (int i = 0; i < NSLOTS; i++)
        if (value[i] == NULL) goto fail;
    char *pp = PyBytes_AS_STRING(value[9]);
    pp[0] = (char)0x98;
    memcpy(pp + 1, raw + 1, (size_t)body);
    tx = tx_type->tp_alloc(tx_type, 0);
    if (tx == NULL) goto fail;
    for (int i = 0; i < NSLOTS; i++) /* the slots of a new object are NULL: nothing to drop */
        *(PyObject **)((char *)tx + offset[i]) = value[i];
    return tx;
fail:
    for (int i = 0; i < NSLOTS; i++) Py_XDECREF(value[i]);
    return NULL;
}

static PyObject *py_init(PyObject *self, PyObject *args)
{
    Py_ssize_t tx, a, pk, sig;
    unsigned long long gas;
    PyTypeObject *cls;
    if (!PyArg_ParseTuple(args, "nnKnnO!", &tx, &a, &gas, &pk, &sig, &PyType_Type, &cls))
        return NULL;
    if (tx < 0 || a < 0 || pk < 1 || sig < 0 || sig > 255) {
        PyErr_SetString(PyExc_ValueError, "_txwire.init: limits out of range");
        return NULL;
    }
    /* Each slot must be a writable object member of the class itself: the member descriptor
     * __slots__ makes, whose setter stores the reference at its offset (what is done here). */
    for (int i = 0; i < NSLOTS; i++) {
        PyObject *d = PyDict_GetItemString(cls->tp_dict, SLOT[i]);
        PyMemberDef *m = d && Py_IS_TYPE(d, &PyMemberDescr_Type)
                             ? ((PyMemberDescrObject *)d)->d_member
                             : NULL;
        if (!m || m->type != T_OBJECT_EX || (m->flags & READONLY)) {
            PyErr_Format(PyExc_TypeError, "_txwire.init: %s is not a slot", SLOT[i]);
            return NULL;
        }
        offset[i] = m->offset;
    }
    max_tx_bytes = tx;
    max_args_bytes = a;
    max_gas_limit = gas;
    pubkey_len = pk;
    sig_len = sig;
    Py_INCREF(cls);
    Py_XSETREF(tx_type, cls);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"decode", (PyCFunction)(void (*)(void))py_decode, METH_FASTCALL,
     "decode(data, names) -> the Transaction but its hash, or None where the Python decode "
     "must decide"},
    {"init", py_init, METH_VARARGS,
     "init(max_tx_bytes, max_args_bytes, max_gas_limit, pubkey_len, sig_len, cls)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "chainnode.model._txwire",
                                    "A transaction decoded from its wire bytes in C.", -1, methods};

PyMODINIT_FUNC PyInit__txwire(void) { return PyModule_Create(&module); }
