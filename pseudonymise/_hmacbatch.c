/* HMAC-SHA256 of many messages under one key, the token text encoder and the check that a column's
 * texts are canonical token texts, for pseudonymise.tokens.
 *
 * Python's hmac and hashlib cost about a microsecond per message in interpreter overhead, three
 * times what SHA-256 itself costs. Here the key's padded blocks (and an optional message prefix)
 * are hashed once and the SHA-256 state is copied per message, with the GIL released.
 *
 * Messages come as an Arrow-style variable-size column: offsets (count + 1 little-endian integers
 * of 4 or 8 bytes) and one data buffer, so a pyarrow string or binary column passes straight in.
 * Every argument is checked before it is used: no call from Python can read out of bounds.
 * pseudonymise/tokens.py is the only caller.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX: deprecated in OpenSSL 3, still the fastest route */
#include <Python.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#define BLOCK 64
#define DIGEST 32
#define MIN_KEY 16
#define DIGEST_TEXT 43 /* unpadded base64 of 32 bytes */

static int64_t offset_at(const unsigned char *offsets, int width, Py_ssize_t i)
{
    if (width == 4) {
        int32_t value;
        memcpy(&value, offsets + i * 4, 4);
        return value;
    }
    int64_t value;
    memcpy(&value, offsets + i * 8, 8);
    return value;
}

/* Where message i ends (it starts at START): sets *end, or returns why the offsets are unusable. Each
 * offset is read once and checked before use, so even a buffer that another thread changes meanwhile
 * cannot lead outside the data. */
static const char *message_end(const Py_buffer *offsets, int width, Py_ssize_t i, int64_t start,
                               Py_ssize_t data_len, int64_t *end)
{
    *end = offset_at(offsets->buf, width, i + 1);
    if (*end < start)
        return "offsets must not decrease";
    if (*end > data_len)
        return "offsets point past the data buffer";
    return NULL;
}

/* Checked before anything is hashed: what the offsets buffer must look like. */
static const char *check_shape(const Py_buffer *offsets, int width)
{
    if (width != 4 && width != 8)
        return "offset width must be 4 or 8";
    if (offsets->len < width || offsets->len % width)
        return "offsets must hold count + 1 integers";
    if (offset_at(offsets->buf, width, 0) < 0)
        return "offsets must not be negative";
    return NULL;
}

static PyObject *hmac_sha256(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"key", "prefix", "offsets", "width", "data", "keep", NULL};
    Py_buffer key, prefix, offsets, data;
    int width, keep = DIGEST;
    PyObject *out = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*y*iy*|i:hmac_sha256", keywords, &key, &prefix,
                                     &offsets, &width, &data, &keep))
        return NULL;
    const char *problem = key.len < MIN_KEY             ? "key must be at least 16 bytes"
                          : keep < 1 || keep > DIGEST ? "keep must be 1 to 32 bytes"
                                                      : check_shape(&offsets, width);
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        goto done;
    }
    Py_ssize_t count = offsets.len / width - 1;
    if (count > PY_SSIZE_T_MAX / DIGEST) {
        PyErr_NoMemory();
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, count * keep);
    if (!out)
        goto done;
    unsigned char *digests = (unsigned char *)PyBytes_AS_STRING(out);
    const unsigned char *messages = data.buf;
    Py_BEGIN_ALLOW_THREADS
    unsigned char block[BLOCK] = {0}, pad[BLOCK], inner_digest[DIGEST], digest[DIGEST];
    SHA256_CTX inner_keyed, outer_keyed, ctx;
    if (key.len > BLOCK) /* RFC 2104: a key longer than the block is hashed first */
        SHA256(key.buf, (size_t)key.len, block);
    else
        memcpy(block, key.buf, (size_t)key.len);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(&inner_keyed);
    SHA256_Update(&inner_keyed, pad, BLOCK);
    SHA256_Update(&inner_keyed, prefix.buf, (size_t)prefix.len);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&outer_keyed);
    SHA256_Update(&outer_keyed, pad, BLOCK);
    int64_t start = offset_at(offsets.buf, width, 0), end;
    for (Py_ssize_t i = 0; i < count; i++) {
        if ((problem = message_end(&offsets, width, i, start, data.len, &end)))
            break;
        ctx = inner_keyed;
        SHA256_Update(&ctx, messages + start, (size_t)(end - start));
        SHA256_Final(inner_digest, &ctx);
        ctx = outer_keyed;
        SHA256_Update(&ctx, inner_digest, DIGEST);
        SHA256_Final(digest, &ctx);
        memcpy(digests + i * keep, digest, (size_t)keep);
        start = end;
    }
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner_digest, sizeof inner_digest);
    OPENSSL_cleanse(&inner_keyed, sizeof inner_keyed);
    OPENSSL_cleanse(&outer_keyed, sizeof outer_keyed);
    OPENSSL_cleanse(&ctx, sizeof ctx);
    Py_END_ALLOW_THREADS
    if (problem) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_ValueError, problem);
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return out;
}

static const char URLSAFE[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static PyObject *token_texts(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"prefix", "digests", NULL};
    Py_buffer prefix, digests;
    PyObject *out = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*:token_texts", keywords, &prefix, &digests))
        return NULL;
    if (digests.len % DIGEST) {
        PyErr_SetString(PyExc_ValueError, "digests must be a whole number of 32-byte digests");
        goto done;
    }
    Py_ssize_t count = digests.len / DIGEST;
    if (prefix.len > PY_SSIZE_T_MAX - DIGEST_TEXT || count > PY_SSIZE_T_MAX / (prefix.len + DIGEST_TEXT)) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t width = prefix.len + DIGEST_TEXT;
    out = PyBytes_FromStringAndSize(NULL, count * width);
    if (!out)
        goto done;
    unsigned char *text = (unsigned char *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < count; i++) {
        const unsigned char *d = (const unsigned char *)digests.buf + i * DIGEST;
        unsigned char *t = text + i * width;
        memcpy(t, prefix.buf, (size_t)prefix.len);
        t += prefix.len;
        for (int j = 0; j < 30; j += 3, t += 4) {
            uint32_t group = (uint32_t)d[j] << 16 | (uint32_t)d[j + 1] << 8 | d[j + 2];
            t[0] = URLSAFE[group >> 18];
            t[1] = URLSAFE[group >> 12 & 63];
            t[2] = URLSAFE[group >> 6 & 63];
            t[3] = URLSAFE[group & 63];
        }
        uint32_t last = (uint32_t)d[30] << 16 | (uint32_t)d[31] << 8; /* 2 bytes: 3 characters */
        t[0] = URLSAFE[last >> 18];
        t[1] = URLSAFE[last >> 12 & 63];
        t[2] = URLSAFE[last >> 6 & 63];
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&digests);
    return out;
}

/* Canonical token texts: head || 42 URL-safe base64 characters || one whose low two bits are zero (32
 * bytes are 256 bits, 43 characters carry 258). LAST marks the 16 characters allowed last. */
static unsigned char LAST[256]; /* filled when the module is created */

/* 0 for a URL-safe base64 character, else 1; branch-free so the compiler vectorises the loop over a
 * digest's characters. c & 0xDF upper-cases a letter and moves no other byte into 'A'..'Z'. */
static inline unsigned char not_urlsafe(unsigned char c)
{
    return !((unsigned char)((c & 0xDF) - 'A') < 26 || (unsigned char)(c - '0') < 10 || c == '-' || c == '_');
}

static PyObject *canonical_tokens(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"head", "offsets", "width", "data", NULL};
    Py_buffer head, offsets, data;
    int width;
    PyObject *out = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*iy*:canonical_tokens", keywords, &head, &offsets,
                                     &width, &data))
        return NULL;
    const char *problem = check_shape(&offsets, width);
    if (problem) {
        PyErr_SetString(PyExc_ValueError, problem);
        goto done;
    }
    Py_ssize_t count = offsets.len / width - 1;
    out = PyBytes_FromStringAndSize(NULL, count);
    if (!out)
        goto done;
    unsigned char *canonical = (unsigned char *)PyBytes_AS_STRING(out);
    const unsigned char *text = data.buf, *expected = head.buf;
    const int64_t length = (int64_t)head.len + DIGEST_TEXT;
    Py_BEGIN_ALLOW_THREADS
    int64_t start = offset_at(offsets.buf, width, 0), end;
    for (Py_ssize_t i = 0; i < count; i++) {
        if ((problem = message_end(&offsets, width, i, start, data.len, &end)))
            break;
        const unsigned char *t = text + start;
        unsigned char ok = end - start == length && memcmp(t, expected, (size_t)head.len) == 0;
        if (ok) {
            unsigned char bad = 0;
            t += head.len;
            for (int j = 0; j < DIGEST_TEXT - 1; j++)
                bad |= not_urlsafe(t[j]);
            ok = !bad && LAST[t[DIGEST_TEXT - 1]];
        }
        canonical[i] = ok;
        start = end;
    }
    Py_END_ALLOW_THREADS
    if (problem) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_ValueError, problem);
    }
done:
    PyBuffer_Release(&head);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return out;
}

static PyMethodDef methods[] = {
    {"hmac_sha256", (PyCFunction)(void (*)(void))hmac_sha256, METH_VARARGS | METH_KEYWORDS,
     "hmac_sha256(key, prefix, offsets, width, data, keep=32) -> bytes\n\n"
     "HMAC-SHA256(key, prefix || message) of each message of an Arrow-style column, the first keep\n"
     "bytes of each, concatenated."},
    {"token_texts", (PyCFunction)(void (*)(void))token_texts, METH_VARARGS | METH_KEYWORDS,
     "token_texts(prefix, digests) -> bytes\n\n"
     "prefix || unpadded base64url(digest) for each 32-byte digest, concatenated (fixed width)."},
    {"canonical_tokens", (PyCFunction)(void (*)(void))canonical_tokens, METH_VARARGS | METH_KEYWORDS,
     "canonical_tokens(head, offsets, width, data) -> bytes\n\n"
     "1 for each message of an Arrow-style column that is head || canonical unpadded base64url of 32\n"
     "bytes, else 0: one byte per message."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_hmacbatch", .m_size = 0, .m_methods = methods};

PyMODINIT_FUNC PyInit__hmacbatch(void)
{
    for (int i = 0; i < 64; i += 4)
        LAST[(unsigned char)URLSAFE[i]] = 1;
    return PyModule_Create(&module);
}
