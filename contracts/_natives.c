/* The common case of the VM's hottest natives in C, for translated programs.
 *
 * Why: a standard contract call is mostly natives (string concatenation, storage keys and
 * access, map displays, events, len/hex/unhex/lower), each a few dozen Python bytecodes that
 * account memory and gas: `python -m bench.vm` evidence.register spent ~65% of its time in
 * contracts/natives.py, machine.py and values.py. Here each one is a single C call.
 *
 * How it stays exact: every function first decides, without changing anything, whether the
 * call is the common case AND will succeed (the types it handles, every limit, enough gas
 * and memory). Only then does it act, with the same gas, memory, writes and events as the
 * Python function. Anything else, including every failure, is handed to the Python function
 * itself (contracts.natives, the reference) with the untouched machine, so each error, its
 * message and the gas it leaves are the reference's by construction. The limits and prices
 * come from Python at `init` (their one home); this file holds none. The interpreter keeps
 * calling the Python natives, so the differential tests of translated programs against the
 * interpreter (tests/contracts/test_translate.py) and tests/contracts/test_native_natives.py
 * pin the two equal. Consensus data: never change one alone.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* ---- configuration (set once by init) ---------------------------------------------------- */

static PyObject *S_gas, *S_mem, *S_writes, *S_readonly, *S_host, *S_events, *S_storage_get,
    *S_storage_has;

enum {
    R_ADD, R_SSTORE, R_SGET, R_SHAS, R_NEW_MAP, R_NEW_LIST, R_EMIT, R_DECODED,
    R_LEN, R_STR, R_HEX, R_UNHEX, R_LOWER, R_STARTSWITH, R_COUNT
};
static const char *const REF_NAMES[R_COUNT] = {
    "add", "sstore", "sget", "shas", "new_map", "new_list", "emit", "_decoded",
    "b_len", "b_str", "b_hex", "b_unhex", "b_lower", "b_startswith",
};
static PyObject *refs[R_COUNT];
static PyObject *encode_fn;  /* contracts._values.encode */
static PyObject *event_type; /* contracts.machine.Event */
static PyObject *store_cap, *event_cap; /* the caps encode_value passes it, as ints */

enum {
    C_MEM_STR, C_MEM_BYTES, C_MEM_INT, C_MEM_LIST, C_MEM_SLOT, C_MEM_MAP, C_MEM_ENTRY,
    C_MAX_MEMORY, C_MAX_BYTES_LEN, C_SMALL_INT, C_GAS_SREAD_BYTE, C_GAS_SWRITE_BYTE,
    C_GAS_EMIT_BYTE, C_GAS_CMP_WORD, C_MAX_EVENT_NAME, C_MAX_EVENTS, C_COUNT
};
static const char *const CONST_NAMES[C_COUNT] = {
    "MEM_STR", "MEM_BYTES", "MEM_INT", "MEM_LIST", "MEM_LIST_SLOT", "MEM_MAP",
    "MEM_MAP_ENTRY", "MAX_MEMORY", "MAX_BYTES_LEN", "SMALL_INT", "GAS_SREAD_BYTE",
    "GAS_SWRITE_BYTE", "GAS_EMIT_BYTE", "GAS_CMP_WORD", "MAX_EVENT_NAME", "MAX_EVENTS",
};
static long long K[C_COUNT];
static int ready;

/* ---- the machine's budget ---------------------------------------------------------------- */

/* An int attribute of m as a C value; 0 (no error set) when it is not an exact int within
 * [0, 2^62): the caller then takes the reference path. */
static int get_count(PyObject *m, PyObject *name, long long *out)
{
    PyObject *v = PyObject_GetAttr(m, name);
    if (v == NULL) {
        PyErr_Clear();
        return 0;
    }
    int overflow = 0;
    long long x = PyLong_CheckExact(v) ? PyLong_AsLongLongAndOverflow(v, &overflow) : -1;
    Py_DECREF(v);
    if (x == -1 && PyErr_Occurred()) PyErr_Clear();
    if (overflow || x < 0 || x >= (1LL << 62)) return 0;
    *out = x;
    return 1;
}

static int set_count(PyObject *m, PyObject *name, long long value)
{
    PyObject *v = PyLong_FromLongLong(value);
    if (v == NULL) return -1;
    int r = PyObject_SetAttr(m, name, v);
    Py_DECREF(v);
    return r;
}

/* Machine.alloc(size) when it succeeds: the new (gas, mem) after `gas_before`; 0 when it
 * would fail (the reference then raises its error). */
static int alloc_fits(long long gas_before, long long mem_before, long long size, long long *gas,
                      long long *mem)
{
    long long m2 = mem_before + size, g2 = gas_before - ((size + 7) >> 3);
    if (m2 > K[C_MAX_MEMORY] || g2 < 0) return 0;
    *gas = g2;
    *mem = m2;
    return 1;
}

static int set_budget(PyObject *m, long long gas, long long mem)
{
    if (set_count(m, S_mem, mem) < 0) return -1;
    return set_count(m, S_gas, gas);
}

static PyObject *reference(int which, PyObject *const *args, Py_ssize_t nargs)
{
    if (refs[which] == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "contracts._natives used before init");
        return NULL;
    }
    return PyObject_Vectorcall(refs[which], args, nargs, NULL);
}

/* `made` (a new reference, handed over) once Machine.alloc(size) has succeeded on args[0];
 * when it would fail, `made` is dropped and the reference answers (and raises) instead */
static PyObject *allocated(int which, PyObject *const *args, Py_ssize_t nargs, PyObject *made,
                           long long size)
{
    PyObject *m = args[0];
    long long gas, mem, g2, m2;
    if (get_count(m, S_gas, &gas) && get_count(m, S_mem, &mem) &&
        alloc_fits(gas, mem, size, &g2, &m2)) {
        if (set_budget(m, g2, m2) < 0) {
            Py_DECREF(made);
            return NULL;
        }
        return made;
    }
    Py_DECREF(made);
    return reference(which, args, nargs);
}

/* natives.held(x) for an exact int x */
static long long held_int(PyObject *x)
{
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
    if (v == -1 && PyErr_Occurred()) PyErr_Clear();
    if (!overflow && v >= -K[C_SMALL_INT] && v < K[C_SMALL_INT]) return K[C_MEM_INT];
    return 2 * K[C_MEM_INT];
}

/* natives.text_size of an exact str */
static long long str_size(PyObject *s)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    return K[C_MEM_STR] + (PyUnicode_IS_ASCII(s) ? (long long)n : 4 * (long long)n);
}

/* ---- storage keys ------------------------------------------------------------------------ */

/* Machine.key's common case: an ASCII str of under 256 characters is its msgpack str (a
 * header byte or two, then the characters). NULL, no error set, for any other key. */
static PyObject *ascii_key(PyObject *k)
{
    if (!PyUnicode_CheckExact(k) || !PyUnicode_IS_ASCII(k)) return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(k);
    if (n >= 256) return NULL;
    Py_ssize_t head = n < 32 ? 1 : 2;
    PyObject *b = PyBytes_FromStringAndSize(NULL, head + n);
    if (b == NULL) {
        PyErr_Clear();
        return NULL;
    }
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(b);
    if (n < 32) {
        p[0] = (unsigned char)(0xA0 | n);
    } else {
        p[0] = 0xD9;
        p[1] = (unsigned char)n;
    }
    memcpy(p + head, PyUnicode_1BYTE_DATA(k), (size_t)n);
    return b;
}

/* ---- the natives ------------------------------------------------------------------------- */

#define ARGS(n)                                                                              \
    if (nargs != (n) || !ready) return reference(WHICH, args, nargs)

#undef WHICH
#define WHICH R_ADD
/* add(m, a, b): str + str */
static PyObject *n_add(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(3);
    PyObject *a = args[1], *b = args[2];
    if (PyUnicode_CheckExact(a) && PyUnicode_CheckExact(b) &&
        PyUnicode_GET_LENGTH(a) + PyUnicode_GET_LENGTH(b) <= K[C_MAX_BYTES_LEN]) {
        PyObject *r = PyUnicode_Concat(a, b);
        if (r == NULL) return NULL;
        return allocated(WHICH, args, nargs, r, str_size(r));
    }
    return reference(WHICH, args, nargs);
}

#undef WHICH
#define WHICH R_SSTORE
/* sstore(m, k, value): a key as above, a value _values.encode takes, not read-only */
static PyObject *n_sstore(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(3);
    PyObject *m = args[0];
    PyObject *key = ascii_key(args[1]);
    if (key == NULL) return reference(WHICH, args, nargs);
    PyObject *data = NULL, *writes = NULL, *ro = NULL;
    long long gas;
    ro = PyObject_GetAttr(m, S_readonly);
    if (ro == NULL || ro != Py_False) goto slow;
    PyObject *eargs[2] = {args[2], store_cap};
    data = PyObject_Vectorcall(encode_fn, eargs, 2, NULL);
    if (data == NULL || !PyBytes_CheckExact(data) || !get_count(m, S_gas, &gas)) goto slow;
    long long g = gas - (PyBytes_GET_SIZE(key) + PyBytes_GET_SIZE(data)) * K[C_GAS_SWRITE_BYTE];
    if (g < 0) goto slow;
    writes = PyObject_GetAttr(m, S_writes);
    if (writes == NULL || !PyDict_CheckExact(writes)) goto slow;
    int err = set_count(m, S_gas, g) < 0 || PyDict_SetItem(writes, key, data) < 0;
    Py_DECREF(writes);
    Py_DECREF(data);
    Py_DECREF(key);
    Py_DECREF(ro);
    if (err) return NULL;
    Py_RETURN_NONE;
slow:
    PyErr_Clear();
    Py_XDECREF(writes);
    Py_XDECREF(data);
    Py_XDECREF(ro);
    Py_DECREF(key);
    return reference(WHICH, args, nargs);
}

/* The write buffer's entry for key: 1 and *v (a new reference; None for a buffered delete),
 * 0 when the key is not buffered, -1 when it cannot tell (no error set: the reference
 * decides). Machine.read and Machine.has look here first. */
static int buffered(PyObject *m, PyObject *key, PyObject **v)
{
    PyObject *writes = PyObject_GetAttr(m, S_writes);
    if (writes == NULL || !PyDict_CheckExact(writes)) {
        Py_XDECREF(writes);
        PyErr_Clear();
        return -1;
    }
    PyObject *x = PyDict_GetItemWithError(writes, key);
    Py_XINCREF(x);
    Py_DECREF(writes);
    if (x == NULL) {
        if (!PyErr_Occurred()) return 0;
        PyErr_Clear();
        return -1;
    }
    *v = x;
    return 1;
}

/* m.host.<method>(key), a new reference; NULL, no error set, when the host raises (the
 * reference asks again and raises its HostFault) */
static PyObject *ask_host(PyObject *m, PyObject *method, PyObject *key)
{
    PyObject *host = PyObject_GetAttr(m, S_host);
    if (host == NULL) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *cargs[3] = {NULL, host, key}; /* cargs[0]: the slot the offset flag lends */
    PyObject *r =
        PyObject_VectorcallMethod(method, cargs + 1, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(host);
    if (r == NULL) PyErr_Clear();
    return r;
}

/* Machine.read(key) when it succeeds and gives bytes or None (a new reference); NULL, no
 * error set, otherwise. */
static PyObject *read_key(PyObject *m, PyObject *key)
{
    PyObject *data = NULL;
    int b = buffered(m, key, &data);
    if (b < 0 || (b == 0 && (data = ask_host(m, S_storage_get, key)) == NULL)) return NULL;
    if (data != Py_None && !PyBytes_CheckExact(data)) {
        Py_DECREF(data);
        return NULL;
    }
    return data;
}

#undef WHICH
#define WHICH R_SGET
/* sget(m, k, default) */
static PyObject *n_sget(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(3);
    PyObject *m = args[0];
    long long gas;
    PyObject *key = ascii_key(args[1]);
    if (key == NULL) return reference(WHICH, args, nargs);
    PyObject *data = get_count(m, S_gas, &gas) ? read_key(m, key) : NULL;
    if (data == NULL) {
        Py_DECREF(key);
        return reference(WHICH, args, nargs);
    }
    long long bytes = PyBytes_GET_SIZE(key) + (data == Py_None ? 0 : PyBytes_GET_SIZE(data));
    Py_DECREF(key);
    long long g = gas - bytes * K[C_GAS_SREAD_BYTE];
    if (g < 0) {
        Py_DECREF(data);
        return reference(WHICH, args, nargs);
    }
    if (set_count(m, S_gas, g) < 0) {
        Py_DECREF(data);
        return NULL;
    }
    if (data == Py_None) {
        Py_DECREF(data);
        return Py_NewRef(args[2]);
    }
    PyObject *dargs[2] = {m, data};
    PyObject *value = reference(R_DECODED, dargs, 2);
    Py_DECREF(data);
    return value;
}

#undef WHICH
#define WHICH R_SHAS
/* shas(m, k) */
static PyObject *n_shas(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(2);
    PyObject *m = args[0];
    long long gas;
    PyObject *key = ascii_key(args[1]);
    if (key == NULL) return reference(WHICH, args, nargs);
    long long g = -1;
    if (get_count(m, S_gas, &gas)) g = gas - PyBytes_GET_SIZE(key) * K[C_GAS_SREAD_BYTE];
    int found = -1; /* Machine.has: the buffer's entry is not None, or the host says so */
    PyObject *v = NULL;
    int b = g >= 0 ? buffered(m, key, &v) : -1;
    if (b == 0) v = ask_host(m, S_storage_has, key);
    if (b >= 0 && v != NULL) {
        found = b ? v != Py_None : PyObject_IsTrue(v);
        Py_DECREF(v);
        if (found < 0) PyErr_Clear();
    }
    Py_DECREF(key);
    if (found < 0) return reference(WHICH, args, nargs);
    if (set_count(m, S_gas, g) < 0) return NULL;
    return PyBool_FromLong(found);
}

/* new_map / new_list: the size of a container just built from stack values, allocated */
static PyObject *container(int which, PyObject *const *args, Py_ssize_t nargs, long long size)
{
    return allocated(which, args, nargs, Py_NewRef(args[1]), size);
}

#undef WHICH
#define WHICH R_NEW_MAP
static PyObject *n_new_map(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(2);
    PyObject *d = args[1];
    if (!PyDict_CheckExact(d)) return reference(WHICH, args, nargs);
    long long size = K[C_MEM_MAP] + K[C_MEM_ENTRY] * (long long)PyDict_GET_SIZE(d);
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(d, &pos, &k, &v)) {
        if (PyLong_CheckExact(k)) size += held_int(k);
        if (PyLong_CheckExact(v)) size += held_int(v);
    }
    return container(WHICH, args, nargs, size);
}

#undef WHICH
#define WHICH R_NEW_LIST
static PyObject *n_new_list(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(2);
    PyObject *items = args[1];
    if (!PyList_CheckExact(items)) return reference(WHICH, args, nargs);
    Py_ssize_t n = PyList_GET_SIZE(items);
    long long size = K[C_MEM_LIST] + K[C_MEM_SLOT] * (long long)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyList_GET_ITEM(items, i);
        if (PyLong_CheckExact(x)) size += held_int(x);
    }
    return container(WHICH, args, nargs, size);
}

static int is_scalar(PyObject *v)
{
    return v == Py_None || PyBool_Check(v) || PyLong_CheckExact(v) || PyUnicode_CheckExact(v) ||
           PyBytes_CheckExact(v);
}

#undef WHICH
#define WHICH R_EMIT
/* emit(m, name, fields): str keys and scalar values (a shallow copy is its snapshot) */
static PyObject *n_emit(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(3);
    PyObject *m = args[0], *name = args[1], *fields = args[2];
    PyObject *ro = NULL, *events = NULL, *data = NULL, *snapshot = NULL, *ev = NULL;
    long long gas, mem, g2, m2;
    if (!PyUnicode_CheckExact(name) || PyUnicode_GET_LENGTH(name) < 1 ||
        PyUnicode_GET_LENGTH(name) > K[C_MAX_EVENT_NAME] || !PyDict_CheckExact(fields))
        return reference(WHICH, args, nargs);
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (PyDict_Next(fields, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k) || !is_scalar(v)) return reference(WHICH, args, nargs);
    }
    ro = PyObject_GetAttr(m, S_readonly);
    if (ro == NULL || ro != Py_False) goto slow;
    events = PyObject_GetAttr(m, S_events);
    if (events == NULL || !PyList_CheckExact(events) ||
        PyList_GET_SIZE(events) >= K[C_MAX_EVENTS])
        goto slow;
    PyObject *eargs[2] = {fields, event_cap};
    data = PyObject_Vectorcall(encode_fn, eargs, 2, NULL);
    if (data == NULL || !PyBytes_CheckExact(data) || !get_count(m, S_gas, &gas) ||
        !get_count(m, S_mem, &mem))
        goto slow;
    long long g1 =
        gas - (PyUnicode_GET_LENGTH(name) + PyBytes_GET_SIZE(data)) * K[C_GAS_EMIT_BYTE];
    long long size = K[C_MEM_MAP] + K[C_MEM_ENTRY] * (long long)PyDict_GET_SIZE(fields) +
                     K[C_MEM_BYTES] + PyBytes_GET_SIZE(data);
    if (g1 < 0 || !alloc_fits(g1, mem, size, &g2, &m2)) goto slow;
    snapshot = PyDict_Copy(fields);
    if (snapshot == NULL) goto fail;
    PyObject *cargs[3] = {name, snapshot, data};
    ev = PyObject_Vectorcall(event_type, cargs, 3, NULL);
    if (ev == NULL || set_budget(m, g2, m2) < 0 || PyList_Append(events, ev) < 0) goto fail;
    Py_DECREF(ev);
    Py_DECREF(snapshot);
    Py_DECREF(data);
    Py_DECREF(events);
    Py_DECREF(ro);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(ev);
    Py_XDECREF(snapshot);
    Py_XDECREF(data);
    Py_XDECREF(events);
    Py_XDECREF(ro);
    return NULL;
slow:
    PyErr_Clear();
    Py_XDECREF(data);
    Py_XDECREF(events);
    Py_XDECREF(ro);
    return reference(WHICH, args, nargs);
}

/* ---- builtins ---------------------------------------------------------------------------- */

#undef WHICH
#define WHICH R_LEN
static PyObject *b_len(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(2);
    PyObject *x = args[1];
    if (PyUnicode_CheckExact(x)) return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(x));
    if (PyBytes_CheckExact(x)) return PyLong_FromSsize_t(PyBytes_GET_SIZE(x));
    if (PyList_CheckExact(x)) return PyLong_FromSsize_t(PyList_GET_SIZE(x));
    if (PyDict_CheckExact(x)) return PyLong_FromSsize_t(PyDict_GET_SIZE(x));
    return reference(WHICH, args, nargs);
}

#undef WHICH
#define WHICH R_STR
/* str(str), str(int), str(bool), str(None) */
static PyObject *b_str(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(2);
    PyObject *x = args[1];
    if (PyUnicode_CheckExact(x)) return Py_NewRef(x);
    if (PyBool_Check(x) || x == Py_None) return PyObject_Str(x); /* a constant: not charged */
    if (!PyLong_CheckExact(x)) return reference(WHICH, args, nargs);
    PyObject *s = PyObject_Str(x);
    if (s == NULL) return NULL;
    if (PyUnicode_GET_LENGTH(s) > K[C_MAX_BYTES_LEN]) {
        Py_DECREF(s);
        return reference(WHICH, args, nargs);
    }
    return allocated(WHICH, args, nargs, s, str_size(s));
}

#undef WHICH
#define WHICH R_HEX
/* hex(bytes) */
static PyObject *b_hex(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(2);
    PyObject *x = args[1];
    if (!PyBytes_CheckExact(x) || 2 * PyBytes_GET_SIZE(x) > K[C_MAX_BYTES_LEN])
        return reference(WHICH, args, nargs);
    static const char digits[] = "0123456789abcdef";
    Py_ssize_t n = PyBytes_GET_SIZE(x);
    PyObject *s = PyUnicode_New(2 * n, 127);
    if (s == NULL) return NULL;
    const unsigned char *src = (const unsigned char *)PyBytes_AS_STRING(x);
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(s);
    for (Py_ssize_t i = 0; i < n; i++) {
        out[2 * i] = (Py_UCS1)digits[src[i] >> 4];
        out[2 * i + 1] = (Py_UCS1)digits[src[i] & 15];
    }
    return allocated(WHICH, args, nargs, s, K[C_MEM_STR] + 2 * (long long)n);
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

#undef WHICH
#define WHICH R_UNHEX
/* unhex(str): ASCII hex digits in pairs, after an optional 0x or 0X */
static PyObject *b_unhex(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(2);
    PyObject *x = args[1];
    if (!PyUnicode_CheckExact(x) || !PyUnicode_IS_ASCII(x)) return reference(WHICH, args, nargs);
    const unsigned char *text = PyUnicode_1BYTE_DATA(x);
    Py_ssize_t n = PyUnicode_GET_LENGTH(x);
    if (n >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        text += 2;
        n -= 2;
    }
    if (n % 2 || n / 2 > K[C_MAX_BYTES_LEN]) return reference(WHICH, args, nargs);
    PyObject *b = PyBytes_FromStringAndSize(NULL, n / 2);
    if (b == NULL) return NULL;
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(b);
    for (Py_ssize_t i = 0; i < n / 2; i++) {
        int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            Py_DECREF(b);
            return reference(WHICH, args, nargs);
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return allocated(WHICH, args, nargs, b, K[C_MEM_BYTES] + n / 2);
}

#undef WHICH
#define WHICH R_LOWER
/* lower(str) of ASCII text */
static PyObject *b_lower(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(2);
    PyObject *x = args[1];
    if (!PyUnicode_CheckExact(x) || !PyUnicode_IS_ASCII(x) ||
        PyUnicode_GET_LENGTH(x) > K[C_MAX_BYTES_LEN])
        return reference(WHICH, args, nargs);
    Py_ssize_t n = PyUnicode_GET_LENGTH(x);
    PyObject *s = PyUnicode_New(n, 127);
    if (s == NULL) return NULL;
    const Py_UCS1 *src = PyUnicode_1BYTE_DATA(x);
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(s);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS1 c = src[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (Py_UCS1)(c + 32) : c;
    }
    return allocated(WHICH, args, nargs, s, K[C_MEM_STR] + n);
}

#undef WHICH
#define WHICH R_STARTSWITH
/* startswith(str, str) */
static PyObject *b_startswith(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    ARGS(3);
    PyObject *m = args[0], *a = args[1], *b = args[2];
    if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b))
        return reference(WHICH, args, nargs);
    Py_ssize_t la = PyUnicode_GET_LENGTH(a), lb = PyUnicode_GET_LENGTH(b);
    if (lb >= 8) {
        long long gas, n = la < lb ? la : lb;
        long long words = PyUnicode_IS_ASCII(a) && PyUnicode_IS_ASCII(b) ? n >> 7 : n >> 3;
        long long g = -1;
        if (get_count(m, S_gas, &gas)) g = gas - words * K[C_GAS_CMP_WORD];
        if (g < 0) return reference(WHICH, args, nargs);
        if (words && set_count(m, S_gas, g) < 0) return NULL;
    }
    Py_ssize_t r = PyUnicode_Tailmatch(a, b, 0, PY_SSIZE_T_MAX, -1);
    if (r < 0) return NULL;
    return PyBool_FromLong((long)r);
}

/* ---- init -------------------------------------------------------------------------------- */

static PyObject *init(PyObject *self, PyObject *config)
{
    if (!PyDict_Check(config)) {
        PyErr_SetString(PyExc_TypeError, "init takes a dict");
        return NULL;
    }
    for (int i = 0; i < C_COUNT; i++) {
        PyObject *v = PyDict_GetItemString(config, CONST_NAMES[i]);
        if (v == NULL || !PyLong_CheckExact(v)) {
            PyErr_Format(PyExc_KeyError, "init: int %s missing", CONST_NAMES[i]);
            return NULL;
        }
        K[i] = PyLong_AsLongLong(v);
        if (K[i] == -1 && PyErr_Occurred()) return NULL;
    }
    for (int i = 0; i < R_COUNT; i++) {
        PyObject *f = PyDict_GetItemString(config, REF_NAMES[i]);
        if (f == NULL || !PyCallable_Check(f)) {
            PyErr_Format(PyExc_KeyError, "init: function %s missing", REF_NAMES[i]);
            return NULL;
        }
        Py_XSETREF(refs[i], Py_NewRef(f));
    }
    const char *objs[] = {"encode", "Event", "store_cap", "event_cap"};
    PyObject **slots[] = {&encode_fn, &event_type, &store_cap, &event_cap};
    for (int i = 0; i < 4; i++) {
        PyObject *o = PyDict_GetItemString(config, objs[i]);
        if (o == NULL) {
            PyErr_Format(PyExc_KeyError, "init: %s missing", objs[i]);
            return NULL;
        }
        Py_XSETREF(*slots[i], Py_NewRef(o));
    }
    ready = 1;
    Py_RETURN_NONE;
}

#define FAST(name, fn, doc) {name, (PyCFunction)(void (*)(void))fn, METH_FASTCALL, doc}
static PyMethodDef methods[] = {
    {"init", init, METH_O,
     "init(config): the limits, prices and reference functions (contracts.natives)."},
    FAST("add", n_add, "natives.add"),
    FAST("sstore", n_sstore, "natives.sstore"),
    FAST("sget", n_sget, "natives.sget"),
    FAST("shas", n_shas, "natives.shas"),
    FAST("new_map", n_new_map, "natives.new_map"),
    FAST("new_list", n_new_list, "natives.new_list"),
    FAST("emit", n_emit, "natives.emit"),
    FAST("b_len", b_len, "natives.b_len"),
    FAST("b_str", b_str, "natives.b_str"),
    FAST("b_hex", b_hex, "natives.b_hex"),
    FAST("b_unhex", b_unhex, "natives.b_unhex"),
    FAST("b_lower", b_lower, "natives.b_lower"),
    FAST("b_startswith", b_startswith, "natives.b_startswith"),
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_natives", "The VM natives' common case in C (see _natives.c).",
    -1, methods,
};

PyMODINIT_FUNC PyInit__natives(void)
{
    PyObject **names[] = {&S_gas, &S_mem, &S_writes, &S_readonly, &S_host, &S_events,
                          &S_storage_get, &S_storage_has};
    const char *texts[] = {"gas", "mem", "writes", "readonly", "host", "events",
                           "storage_get", "storage_has"};
    for (int i = 0; i < 8; i++) {
        *names[i] = PyUnicode_InternFromString(texts[i]);
        if (*names[i] == NULL) return NULL;
    }
    return PyModule_Create(&module);
}
