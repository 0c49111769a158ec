/* fixture.c: the fixture reader (see fixture.h). Every length read from the
 * file is checked against the bytes that remain before it is used. */
#include "tests/unit/fixture.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIX_MAX_FILE (64L << 20) /* far above any fixture; bounds the read */

typedef struct {
    const unsigned char *p;
    size_t len, pos;
} Cursor;

static void fail(char *err, size_t errlen, const char *path, const char *fmt, ...) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", path, msg);
}

static bool take(Cursor *c, size_t n, const unsigned char **at) {
    if (n > c->len - c->pos) return false;
    *at = c->p + c->pos;
    c->pos += n;
    return true;
}

static uint64_t le(const unsigned char *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

static bool u32(Cursor *c, uint32_t *v) {
    const unsigned char *b;
    if (!take(c, 4, &b)) return false;
    *v = (uint32_t)le(b, 4);
    return true;
}

static bool i64(Cursor *c, int64_t *v) {
    const unsigned char *b;
    if (!take(c, 8, &b)) return false;
    uint64_t u = le(b, 8);
    memcpy(v, &u, sizeof *v);
    return true;
}

static size_t elem_size(FixDType dt) { return dt == FIX_F64 ? 8 : 4; }

/* Decodes numel little-endian elements into host order. */
static void decode(FixTensor *t, const unsigned char *b) {
    size_t es = elem_size(t->dtype);
    for (int64_t i = 0; i < t->numel; i++, b += es) {
        uint64_t u = le(b, (int)es);
        if (es == 8) {
            memcpy((double *)t->data + i, &u, 8);
        } else {
            uint32_t w = (uint32_t)u;
            if (t->dtype == FIX_F32)
                memcpy((float *)t->data + i, &w, 4);
            else
                memcpy((int32_t *)t->data + i, &w, 4);
        }
    }
}

static bool parse(Cursor *c, Fixture *f, char *err, size_t errlen, const char *path) {
    const unsigned char *magic;
    if (!take(c, 8, &magic) || memcmp(magic, "GPTCFIX1", 8)) {
        fail(err, errlen, path, "not a fixture file (bad magic)");
        return false;
    }
    uint32_t count;
    if (!u32(c, &count)) {
        fail(err, errlen, path, "truncated header");
        return false;
    }
    if (count > FIX_MAX_TENSORS) {
        fail(err, errlen, path, "tensor count %u exceeds %d", count, FIX_MAX_TENSORS);
        return false;
    }
    f->t = calloc(count ? count : 1, sizeof *f->t);
    if (!f->t) {
        fail(err, errlen, path, "out of memory");
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        FixTensor *t = &f->t[i];
        uint32_t nlen, dt, ndim;
        const unsigned char *name, *data;
        if (!u32(c, &nlen)) goto truncated;
        if (nlen == 0 || nlen > FIX_MAX_NAME) {
            fail(err, errlen, path, "tensor %u: name length %u out of range 1..%d", i, nlen,
                 FIX_MAX_NAME);
            return false;
        }
        if (!take(c, nlen, &name)) goto truncated;
        memcpy(t->name, name, nlen);
        t->name[nlen] = 0;
        if (strlen(t->name) != nlen) {
            fail(err, errlen, path, "tensor %u: NUL byte in its name", i);
            return false;
        }
        for (int j = 0; j < f->n; j++)
            if (!strcmp(f->t[j].name, t->name)) {
                fail(err, errlen, path, "tensor '%s' appears twice", t->name);
                return false;
            }
        if (!u32(c, &dt) || !u32(c, &ndim)) goto truncated;
        if (dt > FIX_I32) {
            fail(err, errlen, path, "tensor '%s': unknown dtype %u", t->name, dt);
            return false;
        }
        if (ndim > FIX_MAX_DIMS) {
            fail(err, errlen, path, "tensor '%s': %u dims, at most %d", t->name, ndim,
                 FIX_MAX_DIMS);
            return false;
        }
        t->dtype = (FixDType)dt;
        t->ndim = (int)ndim;
        t->numel = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            if (!i64(c, &t->shape[d])) goto truncated;
            /* Each extent below the file size keeps numel from overflowing
             * before the byte count is checked against the file. */
            if (t->shape[d] < 0 || t->shape[d] > FIX_MAX_FILE) {
                fail(err, errlen, path, "tensor '%s': bad extent %lld", t->name,
                     (long long)t->shape[d]);
                return false;
            }
            t->numel *= t->shape[d];
            if (t->numel > FIX_MAX_FILE) {
                fail(err, errlen, path, "tensor '%s': too many elements", t->name);
                return false;
            }
        }
        f->n++; /* counted from here on, so fixture_free releases its data */
        size_t bytes = (size_t)t->numel * elem_size(t->dtype);
        if (!take(c, bytes, &data)) goto truncated;
        t->data = malloc(bytes ? bytes : 1);
        if (!t->data) {
            fail(err, errlen, path, "out of memory");
            return false;
        }
        decode(t, data);
        continue;
    truncated:
        fail(err, errlen, path, "truncated in tensor %u of %u", i, count);
        return false;
    }
    if (c->pos != c->len) {
        fail(err, errlen, path, "%zu stray bytes after the last tensor", c->len - c->pos);
        return false;
    }
    return true;
}

bool fixture_load(const char *path, Fixture *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fail(err, errlen, path, "cannot open");
        return false;
    }
    unsigned char *buf = NULL;
    long size = -1;
    if (fseek(fp, 0, SEEK_END) == 0) size = ftell(fp);
    if (size < 0 || size > FIX_MAX_FILE || fseek(fp, 0, SEEK_SET) != 0) {
        fail(err, errlen, path, "cannot size the file, or it is over %ld bytes", FIX_MAX_FILE);
        fclose(fp);
        return false;
    }
    buf = malloc(size ? (size_t)size : 1);
    bool ok = buf && fread(buf, 1, (size_t)size, fp) == (size_t)size;
    fclose(fp);
    if (!ok) {
        fail(err, errlen, path, buf ? "read error" : "out of memory");
        free(buf);
        return false;
    }
    Cursor c = {buf, (size_t)size, 0};
    ok = parse(&c, out, err, errlen, path);
    free(buf);
    if (!ok) fixture_free(out);
    return ok;
}

void fixture_free(Fixture *f) {
    for (int i = 0; i < f->n; i++) free(f->t[i].data);
    free(f->t);
    f->t = NULL;
    f->n = 0;
}

const FixTensor *fixture_find(const Fixture *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

const FixTensor *fixture_get(const Fixture *f, const char *name, FixDType dt) {
    const FixTensor *t = fixture_find(f, name);
    return t && t->dtype == dt ? t : NULL;
}
