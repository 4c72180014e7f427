/*
 * Optional C accelerator for anchoring.merkle (RFC 9162 §2.1.1 hashing).
 *
 * build_levels(digests) -> list[bytes]
 *     `digests` is the concatenation of n 32-byte leaf data values. Returns the
 *     levels of the tree, bottom first: level 0 is the n leaf hashes
 *     SHA-256(0x00 || d), each next level hashes adjacent pairs as
 *     SHA-256(0x01 || left || right) and carries an odd last node up unchanged
 *     (the same tree as RFC 6962's split at the largest power of two). The last
 *     level holds the root alone. An empty input gives an empty list.
 *
 * fold_path(seed, left_mask, path) -> bytes
 *     Folds a tuple of 32-byte hashes into `seed`: path[k] is hashed in on the
 *     left when bit k of `left_mask` is set, else on the right. The caller has
 *     already checked the path length against (index, size).
 *
 * The low-level SHA256_* calls are used on purpose: per-call EVP dispatch costs
 * more than the hash of 65 bytes itself. The GIL is released while hashing.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED
#include <Python.h>
#include <openssl/sha.h>
#include <string.h>

#define HASH_SIZE 32

static inline void
hash_prefixed(unsigned char prefix, const unsigned char *data, size_t len,
              unsigned char *out)
{
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, &prefix, 1);
    SHA256_Update(&ctx, data, len);
    SHA256_Final(out, &ctx);
}

static void
hash_leaves(const unsigned char *in, Py_ssize_t n, unsigned char *out)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        hash_prefixed(0x00, in + i * HASH_SIZE, HASH_SIZE, out + i * HASH_SIZE);
    }
}

/* Children of a parent are adjacent in the level below: hash 64 bytes at once. */
static void
hash_level(const unsigned char *in, Py_ssize_t width, unsigned char *out)
{
    Py_ssize_t pairs = width / 2;
    for (Py_ssize_t i = 0; i < pairs; i++) {
        hash_prefixed(0x01, in + 2 * i * HASH_SIZE, 2 * HASH_SIZE, out + i * HASH_SIZE);
    }
    if (width % 2) {
        memcpy(out + pairs * HASH_SIZE, in + (width - 1) * HASH_SIZE, HASH_SIZE);
    }
}

static PyObject *
build_levels(PyObject *module, PyObject *arg)
{
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (view.len % HASH_SIZE != 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "digests must be a concatenation of 32-byte values");
        return NULL;
    }
    Py_ssize_t width = view.len / HASH_SIZE;
    PyObject *levels = PyList_New(0);
    if (levels == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (width == 0) {
        PyBuffer_Release(&view);
        return levels;
    }
    PyObject *level = PyBytes_FromStringAndSize(NULL, width * HASH_SIZE);
    if (level == NULL) {
        goto fail;
    }
    Py_BEGIN_ALLOW_THREADS
    hash_leaves((const unsigned char *)view.buf, width, (unsigned char *)PyBytes_AS_STRING(level));
    Py_END_ALLOW_THREADS
    for (;;) {
        int rc = PyList_Append(levels, level);
        Py_DECREF(level);
        if (rc < 0) {
            goto fail;
        }
        if (width == 1) {
            break;
        }
        Py_ssize_t parent_width = (width + 1) / 2;
        PyObject *parent = PyBytes_FromStringAndSize(NULL, parent_width * HASH_SIZE);
        if (parent == NULL) {
            goto fail;
        }
        const unsigned char *below = (const unsigned char *)PyBytes_AS_STRING(level);
        Py_BEGIN_ALLOW_THREADS
        hash_level(below, width, (unsigned char *)PyBytes_AS_STRING(parent));
        Py_END_ALLOW_THREADS
        level = parent;
        width = parent_width;
    }
    PyBuffer_Release(&view);
    return levels;
fail:
    PyBuffer_Release(&view);
    Py_DECREF(levels);
    return NULL;
}

static PyObject *
fold_path(PyObject *module, PyObject *args)
{
    const char *seed;
    Py_ssize_t seed_len;
    unsigned long long left_mask;
    PyObject *path;
    if (!PyArg_ParseTuple(args, "y#KO!", &seed, &seed_len, &left_mask, &PyTuple_Type, &path)) {
        return NULL;
    }
    if (seed_len != HASH_SIZE) {
        PyErr_SetString(PyExc_ValueError, "seed must be 32 bytes");
        return NULL;
    }
    Py_ssize_t length = PyTuple_GET_SIZE(path);
    if (length > 64) {
        PyErr_SetString(PyExc_ValueError, "a path has at most 64 hashes");
        return NULL;
    }
    unsigned char buf[2 * HASH_SIZE];
    unsigned char acc[HASH_SIZE];
    memcpy(acc, seed, HASH_SIZE);
    for (Py_ssize_t k = 0; k < length; k++) {
        PyObject *item = PyTuple_GET_ITEM(path, k);
        if (!PyBytes_Check(item) || PyBytes_GET_SIZE(item) != HASH_SIZE) {
            PyErr_SetString(PyExc_ValueError, "every path element must be 32 bytes");
            return NULL;
        }
        const char *sibling = PyBytes_AS_STRING(item);
        if ((left_mask >> k) & 1ULL) {
            memcpy(buf, sibling, HASH_SIZE);
            memcpy(buf + HASH_SIZE, acc, HASH_SIZE);
        } else {
            memcpy(buf, acc, HASH_SIZE);
            memcpy(buf + HASH_SIZE, sibling, HASH_SIZE);
        }
        hash_prefixed(0x01, buf, sizeof buf, acc);
    }
    return PyBytes_FromStringAndSize((const char *)acc, HASH_SIZE);
}

static PyMethodDef methods[] = {
    {"build_levels", build_levels, METH_O,
     "build_levels(digests) -> list[bytes]: the RFC 6962 tree levels of 32-byte leaf data."},
    {"fold_path", fold_path, METH_VARARGS,
     "fold_path(seed, left_mask, path) -> bytes: fold an audit path into seed."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "anchoring._merkle_c",
    "C accelerator for the RFC 6962 Merkle engine (libcrypto SHA-256).", -1, methods,
};

PyMODINIT_FUNC
PyInit__merkle_c(void)
{
    return PyModule_Create(&module);
}
