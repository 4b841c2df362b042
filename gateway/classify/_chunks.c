/* The scorer's two per-request loops in C: a text's last token ids from a memo of whitespace-separated
 * chunks, and the family descent: the sum of those ids' rows of the token table, then the walk down
 * the family tree by its products with each level's centroids.
 *
 * Why C: in a busy server each of the ~90 chunks of a prompt cost a Python str (split), a hash and a
 * dictionary probe, and each numpy call ~3 us; here the chunks are hashed where they lie in the text
 * and the arithmetic and the walk are one call (no list of 57 products made for Python to read). embed.py keeps the pure-Python path (the reference, and the fallback
 * when this module is not built); tests/unit/classify/test_chunks.py holds the two to the same ids.
 *
 * Memo: a table of (hash, key, ids), the hash taken over the key's code points, so a chunk of a text
 * is looked up without making a str of it. Whitespace is Py_UNICODE_ISSPACE, as str.split() reads it.
 *
 * Each entry is one 64-byte cache line. A look-up reads two lines from memory (the index slot and the
 * entry) where it read four (the key's str and the ids' bytes too): in a busy server those reads are
 * cache misses, and they were most of the scorer's cost there. A key of at most SHORT_KEY code points
 * below 256 (nearly every word) and ids of at most SHORT_IDS bytes (4 ids) are kept in the entry
 * itself; longer ones in a str and a bytes object it holds. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define SHORT_KEY 19
#define SHORT_IDS 16
#define LONG_KEY 0xff /* klen of a key kept as a str */

typedef struct {
    uint64_t hash;
    PyObject *key; /* str, where the key is not short (klen LONG_KEY); else NULL */
    PyObject *ids; /* bytes of C ints, where longer than SHORT_IDS; else NULL */
    uint32_t nbytes; /* the ids' length in bytes */
    uint8_t klen; /* the short key's length, or LONG_KEY */
    uint8_t text[SHORT_KEY]; /* the short key's code points */
    char short_ids[SHORT_IDS];
} Entry;

_Static_assert(sizeof(Entry) == 64, "an entry is one cache line");

/* Compact, as CPython's dict: an index of int32 positions (-1: empty), at most half full, into the
 * entries in insertion order. Both grow with use, up to `limit` entries: a fresh memo (the
 * vocabulary's 16,408 words) takes ~0.5 MiB, a full one (65,536 chunks) ~2 MiB. */
typedef struct {
    PyObject_HEAD
    int32_t *index;
    Entry *entries; /* aligned to 64 bytes in `block` */
    void *block;
    Py_ssize_t mask; /* index slots - 1 (a power of two less one) */
    Py_ssize_t used;
    Py_ssize_t cap; /* entries allocated */
    Py_ssize_t limit; /* entries at most: setting one more raises OverflowError */
} Memo;

#define MIN_SLOTS 1024

static uint64_t
hash_span(int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    /* FNV-1a over code points, then a finaliser: short keys, one multiply a character. */
    uint64_t h = 1469598103934665603ULL;
    for (Py_ssize_t i = start; i < end; i++) {
        h ^= (uint64_t)PyUnicode_READ(kind, data, i);
        h *= 1099511628211ULL;
    }
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 32;
    return h;
}

static int
same_span(PyObject *key, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    Py_ssize_t n = end - start;
    if (PyUnicode_GET_LENGTH(key) != n)
        return 0;
    int kk = PyUnicode_KIND(key);
    const void *kd = PyUnicode_DATA(key);
    if (kk == kind)
        return memcmp(kd, (const char *)data + start * kind, (size_t)(n * kind)) == 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyUnicode_READ(kk, kd, i) != PyUnicode_READ(kind, data, start + i))
            return 0;
    }
    return 1;
}

static int
same_entry(const Entry *e, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    if (e->klen == LONG_KEY)
        return same_span(e->key, kind, data, start, end);
    Py_ssize_t n = end - start;
    if (e->klen != n)
        return 0;
    if (kind == PyUnicode_1BYTE_KIND)
        return memcmp(e->text, (const Py_UCS1 *)data + start, (size_t)n) == 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyUnicode_READ(kind, data, start + i) != e->text[i])
            return 0;
    }
    return 1;
}

static Py_ssize_t
find(Memo *m, uint64_t h, int kind, const void *data, Py_ssize_t start, Py_ssize_t end)
{
    /* The index slot holding this span, or the empty slot where it would go. */
    Py_ssize_t i = (Py_ssize_t)(h & (uint64_t)m->mask);
    for (;;) {
        int32_t e = m->index[i];
        if (e < 0 || (m->entries[e].hash == h && same_entry(&m->entries[e], kind, data, start, end)))
            return i;
        i = (i + 1) & m->mask;
    }
}

static const char *
ids_of(const Entry *e)
{
    return e->ids ? PyBytes_AS_STRING(e->ids) : e->short_ids;
}

static PyObject *
ids_object(const Entry *e)
{
    /* A new reference to the entry's ids as bytes. */
    return e->ids ? Py_NewRef(e->ids) : PyBytes_FromStringAndSize(e->short_ids, e->nbytes);
}

static int
set_ids(Entry *e, PyObject *ids)
{
    /* The entry's ids from a bytes object (kept short in the entry where they fit); -1 if too long. */
    Py_ssize_t n = PyBytes_GET_SIZE(ids);
    if (n > (Py_ssize_t)UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "ids too long");
        return -1;
    }
    Py_CLEAR(e->ids);
    e->nbytes = (uint32_t)n;
    if (n <= SHORT_IDS)
        memcpy(e->short_ids, PyBytes_AS_STRING(ids), (size_t)n);
    else
        e->ids = Py_NewRef(ids);
    return 0;
}

static void
set_key(Entry *e, PyObject *key)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    int kind = PyUnicode_KIND(key);
    const void *data = PyUnicode_DATA(key);
    e->key = NULL;
    if (n <= SHORT_KEY) {
        Py_ssize_t i = 0;
        for (; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c > 0xff)
                break;
            e->text[i] = (uint8_t)c;
        }
        if (i == n) {
            e->klen = (uint8_t)n;
            return;
        }
    }
    e->klen = LONG_KEY;
    e->key = Py_NewRef(key);
}

static Entry *
entry_at(Memo *m, Py_ssize_t slot)
{
    int32_t e = m->index[slot];
    return e < 0 ? NULL : &m->entries[e];
}

static int
reindex(Memo *m, Py_ssize_t slots)
{
    int32_t *index = PyMem_Malloc((size_t)slots * sizeof(int32_t));
    if (!index) {
        PyErr_NoMemory();
        return -1;
    }
    memset(index, 0xff, (size_t)slots * sizeof(int32_t)); /* -1 everywhere */
    PyMem_Free(m->index);
    m->index = index;
    m->mask = slots - 1;
    for (Py_ssize_t e = 0; e < m->used; e++) {
        Py_ssize_t i = (Py_ssize_t)(m->entries[e].hash & (uint64_t)m->mask);
        while (index[i] >= 0)
            i = (i + 1) & m->mask;
        index[i] = (int32_t)e;
    }
    return 0;
}

static void
drop_all(Memo *m)
{
    for (Py_ssize_t e = 0; e < m->used; e++) {
        Py_CLEAR(m->entries[e].key);
        Py_CLEAR(m->entries[e].ids);
    }
    m->used = 0;
    if (m->index)
        memset(m->index, 0xff, (size_t)(m->mask + 1) * sizeof(int32_t));
}

static int
insert(Memo *m, Py_ssize_t slot, uint64_t h, PyObject *key, PyObject *ids)
{
    /* A new entry at `slot` (found empty by find); the index doubles first if it would pass half. */
    if (m->used >= m->limit) {
        PyErr_SetString(PyExc_OverflowError, "the memo is full");
        return -1;
    }
    if (m->used == m->cap) {
        Py_ssize_t cap = m->cap ? 2 * m->cap : MIN_SLOTS;
        if (cap > m->limit)
            cap = m->limit;
        /* A fresh block, aligned by hand (an entry must not straddle two lines); only the entries in
         * use are copied, so the rest is not touched until used. */
        void *block = PyMem_Malloc((size_t)cap * sizeof(Entry) + 63);
        if (!block) {
            PyErr_NoMemory();
            return -1;
        }
        Entry *grown = (Entry *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
        if (m->used)
            memcpy(grown, m->entries, (size_t)m->used * sizeof(Entry));
        PyMem_Free(m->block);
        m->block = block;
        m->entries = grown;
        m->cap = cap;
    }
    if (2 * (m->used + 1) > m->mask + 1) {
        if (reindex(m, 2 * (m->mask + 1)) < 0)
            return -1;
        slot = (Py_ssize_t)(h & (uint64_t)m->mask);
        while (m->index[slot] >= 0)
            slot = (slot + 1) & m->mask;
    }
    Entry *e = &m->entries[m->used];
    memset(e, 0, sizeof(Entry));
    if (set_ids(e, ids) < 0)
        return -1;
    e->hash = h;
    set_key(e, key);
    m->index[slot] = (int32_t)m->used;
    m->used++;
    return 0;
}

static int
Memo_init(Memo *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"limit", NULL};
    Py_ssize_t limit;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n", kwlist, &limit))
        return -1;
    if (limit < 1 || limit > ((Py_ssize_t)1 << 28)) {
        PyErr_SetString(PyExc_ValueError, "limit out of range");
        return -1;
    }
    if (self->index)
        drop_all(self);
    self->limit = limit;
    return reindex(self, MIN_SLOTS);
}

static void
Memo_dealloc(Memo *self)
{
    if (self->index)
        drop_all(self);
    PyMem_Free(self->index);
    PyMem_Free(self->block);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static Py_ssize_t
find_key(Memo *m, PyObject *key, uint64_t *h)
{
    int kind = PyUnicode_KIND(key);
    const void *data = PyUnicode_DATA(key);
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    *h = hash_span(kind, data, 0, n);
    return find(m, *h, kind, data, 0, n);
}

static PyObject *
lookup(Memo *self, PyObject *key, PyObject *missing)
{
    /* A new reference to the chunk's ids; `missing` (a new reference too) where it is not known, or
     * NULL with KeyError set. */
    if (!PyUnicode_Check(key)) {
        PyErr_SetString(PyExc_TypeError, "keys are str");
        return NULL;
    }
    uint64_t h;
    Entry *e = entry_at(self, find_key(self, key, &h));
    if (e)
        return ids_object(e);
    if (!missing)
        PyErr_SetObject(PyExc_KeyError, key);
    return missing ? Py_NewRef(missing) : NULL;
}

static PyObject *
Memo_get(Memo *self, PyObject *key)
{
    return lookup(self, key, Py_None);
}

static PyObject *
Memo_clear(Memo *self, PyObject *Py_UNUSED(ignored))
{
    drop_all(self);
    Py_RETURN_NONE;
}

static Py_ssize_t
Memo_len(Memo *self)
{
    return self->used;
}

static int
Memo_contains(Memo *self, PyObject *key)
{
    if (!PyUnicode_Check(key))
        return 0;
    uint64_t h;
    return entry_at(self, find_key(self, key, &h)) != NULL;
}

static PyObject *
Memo_subscript(Memo *self, PyObject *key)
{
    return lookup(self, key, NULL);
}

static int
Memo_ass_subscript(Memo *self, PyObject *key, PyObject *ids)
{
    if (!ids) {
        PyErr_SetString(PyExc_TypeError, "chunks are forgotten all at once (clear)");
        return -1;
    }
    if (!PyUnicode_Check(key) || !PyBytes_Check(ids)) {
        PyErr_SetString(PyExc_TypeError, "str keys, bytes values");
        return -1;
    }
    uint64_t h;
    Py_ssize_t slot = find_key(self, key, &h);
    Entry *e = entry_at(self, slot);
    if (e)
        return set_ids(e, ids);
    return insert(self, slot, h, key, ids);
}

typedef struct {
    const char *ids; /* in the memo: nothing runs that could change it before they are copied */
    Py_ssize_t n;
} Kept;

/* The chunks are scanned and hashed up to AHEAD ahead of the one looked up, and the memory each look-up
 * will read is asked for early: its index slot when the chunk is scanned, its entry NEAR chunks later.
 * In a busy server both are cache misses, and one chunk's no longer waits for the one before. Reading
 * ahead past where the scan stops only costs those prefetches. */
#define AHEAD 8
#define NEAR 4
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

typedef struct {
    Py_ssize_t start, end;
    uint64_t hash;
} Span;

static int
next_span(int kind, const void *data, Py_ssize_t *i, Span *span)
{
    /* The chunk before position *i (its start then in *i); 0 when only whitespace is left. */
    Py_ssize_t at = *i;
    while (at > 0 && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, at - 1)))
        at--;
    if (at == 0) {
        *i = 0;
        return 0;
    }
    span->end = at;
    while (at > 0 && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, at - 1)))
        at--;
    span->start = *i = at;
    span->hash = hash_span(kind, data, at, span->end);
    return 1;
}

static void
prefetch_entry(const Memo *m, uint64_t h)
{
    int32_t e = m->index[h & (uint64_t)m->mask];
    if (e >= 0)
        PREFETCH(&m->entries[e]);
}

/* tail(text, max_bytes) -> (ids: bytes, chars: int) | list[str]
 *
 * The ids of the text's last chunks, in order: chunks are read from the end until they hold at least
 * max_bytes of ids (or the text ends); chars counts their characters and one space each. Where a
 * chunk read is not in the memo, the list of every such chunk read (the scan goes on past them, as if
 * they held nothing) is returned instead, for the caller to learn and ask again. */
static PyObject *
Memo_tail(Memo *self, PyObject *args)
{
    PyObject *text;
    Py_ssize_t max_bytes;
    if (!PyArg_ParseTuple(args, "Un", &text, &max_bytes))
        return NULL;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t i = PyUnicode_GET_LENGTH(text);

    Kept stack[256];
    Kept *kept = stack;
    Py_ssize_t cap = 256, nkept = 0, held = 0, chars = 0;
    PyObject *missing = NULL;
    PyObject *result = NULL;

    Span ring[AHEAD];
    Py_ssize_t scanned = 0, taken = 0; /* chunks scanned, and looked up, so far */
    int more = 1;
    while (held < max_bytes) {
        while (more && scanned - taken < AHEAD) {
            Span *next = &ring[scanned % AHEAD];
            if (!(more = next_span(kind, data, &i, next)))
                break;
            PREFETCH(&self->index[next->hash & (uint64_t)self->mask]);
            scanned++;
            if (scanned - taken > NEAR)
                prefetch_entry(self, ring[(scanned - 1 - NEAR) % AHEAD].hash);
        }
        if (taken == scanned)
            break;
        const Span span = ring[taken++ % AHEAD];
        Py_ssize_t start = span.start, end = span.end;
        Entry *s = entry_at(self, find(self, span.hash, kind, data, start, end));
        if (!s) {
            if (!missing && !(missing = PyList_New(0)))
                goto done;
            PyObject *chunk = PyUnicode_Substring(text, start, end);
            if (!chunk || PyList_Append(missing, chunk) < 0) {
                Py_XDECREF(chunk);
                goto done;
            }
            Py_DECREF(chunk);
            continue;
        }
        if (nkept == cap) {
            Kept *grown = PyMem_Malloc((size_t)(2 * cap) * sizeof(Kept));
            if (!grown) {
                PyErr_NoMemory();
                goto done;
            }
            memcpy(grown, kept, (size_t)nkept * sizeof(Kept));
            if (kept != stack)
                PyMem_Free(kept);
            kept = grown;
            cap *= 2;
        }
        kept[nkept].ids = ids_of(s);
        kept[nkept++].n = s->nbytes;
        held += s->nbytes;
        chars += end - start + 1;
    }
    if (missing) {
        result = Py_NewRef(missing);
        goto done;
    }
    PyObject *joined = PyBytes_FromStringAndSize(NULL, held);
    if (!joined)
        goto done;
    char *out = PyBytes_AS_STRING(joined);
    for (Py_ssize_t k = nkept - 1; k >= 0; k--) { /* kept from the end: lay them out in text order */
        Py_ssize_t n = kept[k].n;
        memcpy(out, kept[k].ids, (size_t)n);
        out += n;
    }
    result = Py_BuildValue("(Nn)", joined, chars);
done:
    Py_XDECREF(missing);
    if (kept != stack)
        PyMem_Free(kept);
    return result;
}

/* descend(table, ids, centroids, out, starts, at, to, radii, unknown) -> (norm, node)
 *
 * The family descent of family_scorer.py in one call. out[:] = the sum of table[ids] (float32, rows
 * added in order) and norm = |out| (double over the float32 sum). Then the tree, from node 0 (the
 * root): node n's children are entries starts[n] .. starts[n+1] - 1 of `at` (their centroid's row),
 * `to` (their node) and `radii` (float64; -inf: none). At each node the child whose centroid has the
 * largest product with out (float32 products summed in order; the first of equals) is entered if it
 * has no radius or the product reaches float32(radius * norm); else the walk stops there, or, at the
 * root, goes to `unknown` (a node index; -1: none). The root with no children goes to `unknown` too.
 * table is V x k and centroids C x k, C-contiguous float32; out a writable float32 buffer of k;
 * starts, at and to int32. node: where the walk ended (0 when norm is 0: nothing to walk). */
static PyObject *
descend(PyObject *Py_UNUSED(module), PyObject *args)
{
    Py_buffer table, ids, cent, out, starts, at, to, radii;
    int unknown;
    if (!PyArg_ParseTuple(args, "y*y*y*w*y*y*y*y*i", &table, &ids, &cent, &out, &starts, &at, &to, &radii,
                          &unknown))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t f = (Py_ssize_t)sizeof(float), i32 = (Py_ssize_t)sizeof(int32_t);
    Py_ssize_t k = out.len / f;
    Py_ssize_t nodes = starts.len / i32 - 1, kids = at.len / i32;
    if (k <= 0 || table.len % (k * f) || cent.len % (k * f) || ids.len % (Py_ssize_t)sizeof(int)
        || starts.len % i32 || nodes < 1 || at.len % i32 || to.len != at.len
        || radii.len != kids * (Py_ssize_t)sizeof(double) || unknown == 0 || unknown >= nodes) {
        PyErr_SetString(PyExc_ValueError, "buffer sizes do not match");
        goto done;
    }
    Py_ssize_t rows = table.len / (k * f), c = cent.len / (k * f);
    const int32_t *first = starts.buf, *row_of = at.buf, *node_of = to.buf;
    for (Py_ssize_t n = 0; n < nodes; n++) {
        if (first[n] < 0 || first[n] > first[n + 1] || first[n + 1] > kids) {
            PyErr_SetString(PyExc_ValueError, "starts out of order");
            goto done;
        }
    }
    for (Py_ssize_t q = 0; q < kids; q++) {
        if (row_of[q] < 0 || row_of[q] >= c || node_of[q] <= 0 || node_of[q] >= nodes) {
            PyErr_SetString(PyExc_ValueError, "a child out of the tree");
            goto done;
        }
    }
    const float *t = table.buf, *cv = cent.buf;
    const int *id = ids.buf;
    float *v = out.buf;
    Py_ssize_t n = ids.len / (Py_ssize_t)sizeof(int);
    memset(v, 0, (size_t)k * sizeof(float));
    for (Py_ssize_t r = 0; r < n; r++) {
        if (id[r] < 0 || id[r] >= rows) {
            PyErr_SetString(PyExc_IndexError, "token id out of the table");
            goto done;
        }
        const float *row = t + (Py_ssize_t)id[r] * k;
        for (Py_ssize_t j = 0; j < k; j++)
            v[j] += row[j];
    }
    float sq = 0.0f;
    for (Py_ssize_t j = 0; j < k; j++)
        sq += v[j] * v[j];
    double norm = sqrt((double)sq);
    const double *radius = radii.buf;
    Py_ssize_t node = 0;
    if (norm > 0.0 || isnan(norm)) { /* as `norm <= 0.0` in Python: a NaN walks on */
        /* Each level enters a node further from the root (a child's index is checked above, and the
         * weights' tree has no cycles; `steps` bounds a file that would). */
        for (Py_ssize_t steps = 0; steps <= nodes; steps++) {
            if (first[node] == first[node + 1]) {
                if (node == 0 && unknown >= 0)
                    node = unknown;
                break;
            }
            Py_ssize_t best = -1;
            float top = 0.0f;
            for (Py_ssize_t q = first[node]; q < first[node + 1]; q++) {
                const float *cr = cv + (Py_ssize_t)row_of[q] * k;
                float dot = 0.0f;
                for (Py_ssize_t j = 0; j < k; j++)
                    dot += cr[j] * v[j];
                if (best < 0 || dot > top) {
                    best = q;
                    top = dot;
                }
            }
            double r = radius[best];
            if (r == -INFINITY || (double)top >= (double)(float)(r * norm))
                node = node_of[best];
            else if (node == 0 && unknown >= 0)
                node = unknown; /* and on from there, as from any node */
            else
                break;
        }
    }
    result = Py_BuildValue("(dn)", norm, node);
done:
    PyBuffer_Release(&table);
    PyBuffer_Release(&ids);
    PyBuffer_Release(&cent);
    PyBuffer_Release(&out);
    PyBuffer_Release(&starts);
    PyBuffer_Release(&at);
    PyBuffer_Release(&to);
    PyBuffer_Release(&radii);
    return result;
}

static PyMethodDef Memo_methods[] = {
    {"get", (PyCFunction)Memo_get, METH_O, "The ids of a chunk, or None."},
    {"clear", (PyCFunction)Memo_clear, METH_NOARGS, "Forget every chunk."},
    {"tail", (PyCFunction)Memo_tail, METH_VARARGS, "The text's last ids, or the chunks not known."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Memo_as_sequence = {
    .sq_length = (lenfunc)Memo_len,
    .sq_contains = (objobjproc)Memo_contains,
};

static PyMappingMethods Memo_as_mapping = {
    .mp_length = (lenfunc)Memo_len,
    .mp_subscript = (binaryfunc)Memo_subscript,
    .mp_ass_subscript = (objobjargproc)Memo_ass_subscript,
};

static PyTypeObject MemoType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gateway.classify._chunks.Memo",
    .tp_basicsize = sizeof(Memo),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Whitespace-separated chunks and their token ids, looked up where they lie in a text.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Memo_init,
    .tp_dealloc = (destructor)Memo_dealloc,
    .tp_methods = Memo_methods,
    .tp_as_sequence = &Memo_as_sequence,
    .tp_as_mapping = &Memo_as_mapping,
};

static PyMethodDef module_methods[] = {
    {"descend", descend, METH_VARARGS, "The slice's summed vector, its norm, and its family."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef chunks_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "gateway.classify._chunks",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__chunks(void)
{
    if (PyType_Ready(&MemoType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&chunks_module);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "Memo", (PyObject *)&MemoType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
