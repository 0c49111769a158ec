/*
 * ckpt.c: the checkpoint file (see ckpt.h).
 *
 * Layout, version 2. Integers are little-endian; offsets are bytes from the
 * start of the file.
 *
 *    0  header, 64 bytes:
 *         0  u8[4]   magic "gptc" (CKPT_MAGIC, most significant byte first,
 *                    so that the file visibly starts with the name)
 *         4  u32     format version (CKPT_VERSION)
 *         8  u32     header size, 64
 *        12  u32     sizeof(ModelSpec) in the writing build
 *        16  u64     ModelSpec layout fingerprint (ckpt_spec_layout_hash)
 *        24  u32     meta size, 64
 *        28  u32     number of arrays A, at most CKPT_MAX_ARRAYS
 *        32  u64     data offset D
 *        40  u64     file size F, checksum included
 *        48  u64     history length H in bytes, at most CKPT_MAX_HISTORY
 *        56  u8[8]   zero
 *   64  the ModelSpec, sizeof(ModelSpec) bytes as held in memory (it has
 *       no pointers, and spec_validate zeroes it first, so no padding
 *       garbage is written)
 *   ..  meta, 128 bytes, field by field so that CkptMeta's own padding
 *       never reaches the file:
 *         0  i64 step          8  i32 data.shard     12  i32 data.epoch
 *        16  i64 data.pos     24  u64 rng.s[0..3]    56  f64 train_time
 *        64  i32 nranks       68  i32 threads        72  char executor[16]
 *        88  i64 data_tokens  96  i32 data_shards   100  char tuning[17]
 *       117  zeros (a checkpoint of a run without tuning has zeros from 100)
 *   ..  the run history, H bytes of text without NUL (one JSON run record
 *       per line: how each start and resume of the run was made)
 *   ..  array table, A entries of 48 bytes: char name[32] (at most 31
 *       characters, NUL-padded), u64 count of floats, u64 byte offset
 *   ..  zeros up to D, the next multiple of 64 (so the data can be mapped
 *       and read aligned)
 *    D  the arrays' floats (IEEE binary32, little-endian), in table order,
 *       back to back: each offset is the previous one plus 4 x its count
 *  F-8  u64 CRC-64/XZ of bytes [0, F-8) (crc64.h says why this checksum)
 *
 * Reading trusts nothing before it is checked: the fixed header first
 * (before anything is allocated from its numbers), then the size the header
 * claims against the real one, then the checksum over the whole file
 * (streamed through a small buffer), and only then the contents. The data
 * is read a second time into the caller's arrays, from the page cache in
 * practice, so that a bad file never leaves a half-filled model behind.
 */
#include "runtime/util/errmsg.h"
#include "runtime/train/ckpt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/util/atomic_file.h"
#include "runtime/train/ckpt_spec.h"
#include "runtime/util/crc64.h"

/* Floats go to and from the file as they lie in memory. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoints assume a little-endian host"
#endif

#define HEADER_SIZE 64
#define META_SIZE 128
#define ENTRY_SIZE 48
#define NAME_FIELD 32
#define NAME_MAX_LEN (NAME_FIELD - 1)
#define DATA_ALIGN 64
#define CKPT_MAX_ARRAYS 256
#define CHUNK (1u << 20)

/* ---- little-endian fields ---------------------------------------------- */

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put_magic(unsigned char *p) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(CKPT_MAGIC >> (24 - 8 * i));
}

static bool magic_ok(const unsigned char *p) {
    unsigned char m[4];
    put_magic(m);
    return !memcmp(p, m, 4);
}

/* ---- the shape of a file ----------------------------------------------- */

/* Where the history starts, and where the array table starts after it. */
#define HISTORY_OFFSET (HEADER_SIZE + sizeof(ModelSpec) + META_SIZE)

static uint64_t table_offset(uint64_t history) { return HISTORY_OFFSET + history; }

static uint64_t table_end(uint32_t narrays, uint64_t history) {
    return table_offset(history) + (uint64_t)narrays * ENTRY_SIZE;
}

static uint64_t data_offset(uint32_t narrays, uint64_t history) {
    return (table_end(narrays, history) + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
}

static void encode_meta(unsigned char *p, const CkptMeta *m) {
    memset(p, 0, META_SIZE);
    put_u64(p, (uint64_t)m->step);
    put_u32(p + 8, (uint32_t)m->data.shard);
    put_u32(p + 12, (uint32_t)m->data.epoch);
    put_u64(p + 16, (uint64_t)m->data.pos);
    for (int i = 0; i < 4; i++) put_u64(p + 24 + 8 * i, m->rng.s[i]);
    uint64_t bits;
    memcpy(&bits, &m->train_time, sizeof bits);
    put_u64(p + 56, bits);
    put_u32(p + 64, (uint32_t)m->nranks);
    put_u32(p + 68, (uint32_t)m->threads);
    memcpy(p + 72, m->executor, strnlen(m->executor, sizeof m->executor - 1));
    put_u64(p + 88, (uint64_t)m->data_tokens);
    put_u32(p + 96, (uint32_t)m->data_shards);
    memcpy(p + 100, m->tuning, strnlen(m->tuning, sizeof m->tuning - 1));
}

static void decode_meta(const unsigned char *p, CkptMeta *m) {
    memset(m, 0, sizeof *m);
    m->step = (int64_t)get_u64(p);
    m->data.shard = (int32_t)get_u32(p + 8);
    m->data.epoch = (int32_t)get_u32(p + 12);
    m->data.pos = (int64_t)get_u64(p + 16);
    for (int i = 0; i < 4; i++) m->rng.s[i] = get_u64(p + 24 + 8 * i);
    uint64_t bits = get_u64(p + 56);
    memcpy(&m->train_time, &bits, sizeof bits);
    m->nranks = (int32_t)get_u32(p + 64);
    m->threads = (int32_t)get_u32(p + 68);
    memcpy(m->executor, p + 72, sizeof m->executor - 1);
    m->data_tokens = (int64_t)get_u64(p + 88);
    m->data_shards = (int32_t)get_u32(p + 96);
    memcpy(m->tuning, p + 100, sizeof m->tuning - 1);
}

/* ---- writing ----------------------------------------------------------- */

static bool check_history(const char *path, const char *h, char *err, size_t errcap) {
    if (h && strlen(h) > CKPT_MAX_HISTORY)
        return path_error(err, errcap, path, "a run history of %zu bytes; a checkpoint holds at most %d",
                          strlen(h), CKPT_MAX_HISTORY);
    return true;
}

static bool check_arrays(const char *path, const CkptArray *a, int n, char *err, size_t errcap) {
    if (n < 0 || n > CKPT_MAX_ARRAYS)
        return path_error(err, errcap, path, "%d arrays; a checkpoint holds 0 to %d", n,
                    CKPT_MAX_ARRAYS);
    for (int i = 0; i < n; i++) {
        size_t len = a[i].name ? strlen(a[i].name) : 0;
        if (len == 0 || len > NAME_MAX_LEN)
            return path_error(err, errcap, path, "array %d: name must be 1 to %d characters", i,
                        NAME_MAX_LEN);
        if (!a[i].data && a[i].count)
            return path_error(err, errcap, path, "array '%s' has no data", a[i].name);
        for (int j = 0; j < i; j++)
            if (!strcmp(a[i].name, a[j].name))
                return path_error(err, errcap, path, "two arrays named '%s'", a[i].name);
    }
    return true;
}

typedef struct {
    AtomicFile af;
    uint64_t crc;
} Out;

static bool emit(Out *o, const void *p, size_t n) {
    o->crc = crc64_update(o->crc, p, n);
    return fwrite(p, 1, n, o->af.f) == n;
}

/* In chunks, so the checksum reads each chunk while it is still in cache. */
static bool emit_floats(Out *o, const float *x, size_t count) {
    const unsigned char *p = (const unsigned char *)x;
    size_t left = count * sizeof(float);
    while (left) {
        size_t k = left < CHUNK ? left : CHUNK;
        if (!emit(o, p, k)) return false;
        p += k;
        left -= k;
    }
    return true;
}

static bool emit_front(Out *o, const ModelSpec *s, const CkptMeta *meta, const CkptArray *a,
                       int n, uint64_t file_size) {
    unsigned char h[HEADER_SIZE] = {0}, m[META_SIZE], e[ENTRY_SIZE];
    uint64_t hlen = meta->history ? strlen(meta->history) : 0;
    uint64_t off = data_offset((uint32_t)n, hlen);
    put_magic(h);
    put_u32(h + 4, CKPT_VERSION);
    put_u32(h + 8, HEADER_SIZE);
    put_u32(h + 12, sizeof(ModelSpec));
    put_u64(h + 16, ckpt_spec_layout_hash());
    put_u32(h + 24, META_SIZE);
    put_u32(h + 28, (uint32_t)n);
    put_u64(h + 32, off);
    put_u64(h + 40, file_size);
    put_u64(h + 48, hlen);
    encode_meta(m, meta);
    if (!emit(o, h, sizeof h) || !emit(o, s, sizeof *s) || !emit(o, m, sizeof m) ||
        !emit(o, meta->history ? meta->history : "", (size_t)hlen))
        return false;
    for (int i = 0; i < n; i++) {
        memset(e, 0, sizeof e);
        memcpy(e, a[i].name, strlen(a[i].name));
        put_u64(e + NAME_FIELD, a[i].count);
        put_u64(e + NAME_FIELD + 8, off);
        off += (uint64_t)a[i].count * sizeof(float);
        if (!emit(o, e, sizeof e)) return false;
    }
    static const unsigned char zeros[DATA_ALIGN];
    return emit(o, zeros, (size_t)(data_offset((uint32_t)n, hlen) - table_end((uint32_t)n, hlen)));
}

bool ckpt_write(const char *path, const ModelSpec *s, const CkptMeta *meta,
                const CkptArray *arrays, int n, char *err, size_t errcap) {
    if (!check_arrays(path, arrays, n, err, errcap) || !check_history(path, meta->history, err, errcap))
        return false;
    uint64_t size = data_offset((uint32_t)n, meta->history ? strlen(meta->history) : 0) + 8;
    for (int i = 0; i < n; i++) size += (uint64_t)arrays[i].count * sizeof(float);
    Out o = {.crc = CRC64_INIT};
    if (!atomic_open(&o.af, path, err, errcap)) return false;
    bool ok = emit_front(&o, s, meta, arrays, n, size);
    for (int i = 0; ok && i < n; i++) ok = emit_floats(&o, arrays[i].data, arrays[i].count);
    if (ok) {
        unsigned char c[8];
        put_u64(c, o.crc);
        ok = fwrite(c, 1, sizeof c, o.af.f) == sizeof c;
    }
    if (!ok) {
        path_error(err, errcap, path, "cannot write %s: %s", o.af.tmp, strerror(errno));
        atomic_abort(&o.af);
        return false;
    }
    return atomic_commit(&o.af, err, errcap);
}

/* ---- reading ----------------------------------------------------------- */

typedef struct {
    char name[NAME_FIELD];
    uint64_t count, offset;
} Entry;

typedef struct {
    const char *path;
    FILE *f;
    uint64_t size;
    uint32_t narrays;
    uint64_t history; /* its length */
    ModelSpec spec;
    CkptMeta meta;
    Entry table[CKPT_MAX_ARRAYS];
} Reader;

/* Reads exactly n bytes at `offset`; a short read means the file changed
 * under us or the disk failed, and is reported as such. */
static bool read_at(Reader *r, uint64_t offset, void *buf, size_t n, char *err, size_t errcap) {
    if (fseeko(r->f, (off_t)offset, SEEK_SET) != 0)
        return path_error(err, errcap, r->path, "cannot seek: %s", strerror(errno));
    if (fread(buf, 1, n, r->f) != n)
        return path_error(err, errcap, r->path, "cannot read %zu bytes at offset %" PRIu64 ": %s", n,
                    offset, ferror(r->f) ? strerror(errno) : "file shrank while being read");
    return true;
}

static bool open_file(Reader *r, char *err, size_t errcap) {
    r->f = fopen(r->path, "rb");
    if (!r->f) return path_error(err, errcap, r->path, "cannot open: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(r->f), &st) != 0)
        return path_error(err, errcap, r->path, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(st.st_mode)) return path_error(err, errcap, r->path, "not a regular file");
    r->size = (uint64_t)st.st_size;
    return true;
}

/* Everything in the fixed header that can be checked without the rest. */
static bool check_header(Reader *r, const unsigned char *h, char *err, size_t errcap) {
    const char *p = r->path;
    uint32_t version = get_u32(h + 4);
    if (version != CKPT_VERSION)
        return path_error(err, errcap, p, "checkpoint format version %" PRIu32
                    "; this gptc reads version %d", version, CKPT_VERSION);
    if (get_u32(h + 8) != HEADER_SIZE || get_u32(h + 24) != META_SIZE)
        return path_error(err, errcap, p, "damaged header (header size %" PRIu32 ", meta size %" PRIu32
                    "; expected %d and %d)", get_u32(h + 8), get_u32(h + 24), HEADER_SIZE,
                    META_SIZE);
    uint32_t spec_size = get_u32(h + 12);
    uint64_t hash = get_u64(h + 16);
    if (spec_size != sizeof(ModelSpec) || hash != ckpt_spec_layout_hash())
        return path_error(err, errcap, p, "written by a gptc build with another ModelSpec layout "
                    "(%" PRIu32 " bytes, fingerprint %016" PRIx64 "; this build: %zu bytes, %016"
                    PRIx64 "); read it with the gptc that wrote it", spec_size, hash,
                    sizeof(ModelSpec), ckpt_spec_layout_hash());
    r->narrays = get_u32(h + 28);
    if (r->narrays > CKPT_MAX_ARRAYS)
        return path_error(err, errcap, p, "damaged header (%" PRIu32 " arrays; at most %d)",
                    r->narrays, CKPT_MAX_ARRAYS);
    r->history = get_u64(h + 48);
    if (r->history > CKPT_MAX_HISTORY)
        return path_error(err, errcap, p, "damaged header (a run history of %" PRIu64
                          " bytes; at most %d)", r->history, CKPT_MAX_HISTORY);
    uint64_t want = data_offset(r->narrays, r->history);
    if (get_u64(h + 32) != want)
        return path_error(err, errcap, p, "damaged header (data offset %" PRIu64 ", expected %" PRIu64
                    ")", get_u64(h + 32), want);
    return true;
}

/* The size the header claims, against the real one. */
static bool check_size(Reader *r, uint64_t claimed, char *err, size_t errcap) {
    uint64_t least = data_offset(r->narrays, r->history) + 8;
    if (claimed < least)
        return path_error(err, errcap, r->path, "damaged header (file size %" PRIu64 ", at least %"
                    PRIu64 " needed)", claimed, least);
    if (r->size < claimed)
        return path_error(err, errcap, r->path, "truncated: expected %" PRIu64 " bytes, found %" PRIu64,
                    claimed, r->size);
    if (r->size > claimed)
        return path_error(err, errcap, r->path, "%" PRIu64 " bytes where the header says %" PRIu64
                    " (extra data at the end)", r->size, claimed);
    return true;
}

static bool read_header(Reader *r, char *err, size_t errcap) {
    unsigned char h[HEADER_SIZE];
    size_t got = r->size < HEADER_SIZE ? (size_t)r->size : HEADER_SIZE;
    if (!read_at(r, 0, h, got, err, errcap)) return false;
    if (got >= 4 && !magic_ok(h)) return path_error(err, errcap, r->path, "not a gptc checkpoint (bad magic)");
    if (got < HEADER_SIZE)
        return path_error(err, errcap, r->path, "truncated: expected at least %d bytes, found %zu",
                    HEADER_SIZE, got);
    return check_header(r, h, err, errcap) && check_size(r, get_u64(h + 40), err, errcap);
}

static bool verify_checksum(Reader *r, char *err, size_t errcap) {
    unsigned char *buf = malloc(CHUNK), stored[8];
    if (!buf) return path_error(err, errcap, r->path, "out of memory");
    uint64_t crc = CRC64_INIT, left = r->size - 8, at = 0;
    bool ok = true;
    while (ok && left) {
        size_t k = left < CHUNK ? (size_t)left : CHUNK;
        ok = read_at(r, at, buf, k, err, errcap);
        crc = crc64_update(crc, buf, k);
        at += k;
        left -= k;
    }
    free(buf);
    if (!ok || !read_at(r, at, stored, 8, err, errcap)) return false;
    if (get_u64(stored) != crc)
        return path_error(err, errcap, r->path, "checksum mismatch (file corrupt or truncated)");
    return true;
}

/* The meta is covered by the checksum, but a file can be made by hand:
 * what the trainer casts or prints must be in range. */
static bool meta_ok(const CkptMeta *m, char *why, size_t cap) {
    for (const char *c = m->executor; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return snprintf(why, cap, "an executor name with byte 0x%02x", (unsigned char)*c), false;
    for (const char *c = m->tuning; *c; c++)
        if (!((*c >= 'a' && *c <= 'f') || (*c >= '0' && *c <= '9')))
            return snprintf(why, cap, "a tuning hash with byte 0x%02x", (unsigned char)*c), false;
    if (m->step < 0 || m->step > INT32_MAX) return snprintf(why, cap, "step %" PRId64, m->step), false;
    if (!(m->train_time >= 0 && m->train_time < 1e12))
        return snprintf(why, cap, "a training time of %g s", m->train_time), false;
    if (m->nranks < 0 || m->threads < 0 || m->data_shards < 0 || m->data_tokens < 0 || m->data.epoch < 0)
        return snprintf(why, cap, "a negative count (ranks %d, threads %d, shards %d, tokens %" PRId64
                        ", epoch %d)", m->nranks, m->threads, m->data_shards, m->data_tokens, m->data.epoch),
               false;
    return true;
}

static bool read_spec_and_meta(Reader *r, char *err, size_t errcap) {
    unsigned char raw[sizeof(ModelSpec)], m[META_SIZE];
    char why[160];
    if (!read_at(r, HEADER_SIZE, raw, sizeof raw, err, errcap)) return false;
    if (!ckpt_spec_bytes_ok(raw, why, sizeof why))
        return path_error(err, errcap, r->path, "stored model is damaged: %s", why);
    memcpy(&r->spec, raw, sizeof raw);
    if (!read_at(r, HEADER_SIZE + sizeof raw, m, sizeof m, err, errcap)) return false;
    decode_meta(m, &r->meta);
    if (!meta_ok(&r->meta, why, sizeof why))
        return path_error(err, errcap, r->path, "damaged run position: %s", why);
    return true;
}

/* Names are terminated and unique, and the arrays tile [D, F-8) in order. */
static bool check_entry(Reader *r, uint32_t i, uint64_t expect, char *err, size_t errcap) {
    Entry *e = &r->table[i];
    size_t len = strnlen(e->name, NAME_FIELD);
    if (len == 0 || len == NAME_FIELD)
        return path_error(err, errcap, r->path, "damaged array table (entry %" PRIu32 ": bad name)", i);
    for (uint32_t j = 0; j < i; j++)
        if (!strcmp(r->table[j].name, e->name))
            return path_error(err, errcap, r->path, "damaged array table (two arrays named '%s')",
                        e->name);
    if (e->offset != expect || e->count > (r->size - 8 - expect) / sizeof(float))
        return path_error(err, errcap, r->path, "damaged array table ('%s': %" PRIu64 " floats at %"
                    PRIu64 ")", e->name, e->count, e->offset);
    return true;
}

static bool read_table(Reader *r, char *err, size_t errcap) {
    uint64_t at = table_offset(r->history), expect = data_offset(r->narrays, r->history);
    for (uint32_t i = 0; i < r->narrays; i++, at += ENTRY_SIZE) {
        unsigned char e[ENTRY_SIZE];
        if (!read_at(r, at, e, sizeof e, err, errcap)) return false;
        memcpy(r->table[i].name, e, NAME_FIELD);
        r->table[i].count = get_u64(e + NAME_FIELD);
        r->table[i].offset = get_u64(e + NAME_FIELD + 8);
        if (!check_entry(r, i, expect, err, errcap)) return false;
        expect += r->table[i].count * sizeof(float);
    }
    if (expect != r->size - 8)
        return path_error(err, errcap, r->path, "damaged array table (arrays end at %" PRIu64
                    ", the checksum starts at %" PRIu64 ")", expect, r->size - 8);
    return true;
}

static void reader_close(Reader *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    free(r);
}

/* Opens and verifies the whole file; NULL (with the message) if anything
 * is wrong. */
static Reader *reader_open(const char *path, char *err, size_t errcap) {
    Reader *r = calloc(1, sizeof *r);
    if (!r) return path_error(err, errcap, path, "out of memory"), NULL;
    r->path = path;
    if (open_file(r, err, errcap) && read_header(r, err, errcap) &&
        verify_checksum(r, err, errcap) && read_spec_and_meta(r, err, errcap) &&
        read_table(r, err, errcap))
        return r;
    reader_close(r);
    return NULL;
}

/* "params, adam_m, adam_v" */
static void list_names(char *buf, size_t cap, const char *const *names, int n) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%s", i ? ", " : "", names[i]);
}

static bool arrays_match(Reader *r, const CkptArray *a, int n, char *err, size_t errcap) {
    if ((uint32_t)n != r->narrays || n < 0) {
        const char *have[CKPT_MAX_ARRAYS], *want[CKPT_MAX_ARRAYS];
        char hs[512], ws[512];
        int nw = n < 0 ? 0 : n > CKPT_MAX_ARRAYS ? CKPT_MAX_ARRAYS : n;
        for (uint32_t i = 0; i < r->narrays; i++) have[i] = r->table[i].name;
        for (int i = 0; i < nw; i++) want[i] = a[i].name ? a[i].name : "?";
        list_names(hs, sizeof hs, have, (int)r->narrays);
        list_names(ws, sizeof ws, want, nw);
        return path_error(err, errcap, r->path, "holds %" PRIu32 " arrays (%s), expected %d (%s)",
                    r->narrays, hs, n, ws);
    }
    for (int i = 0; i < n; i++) {
        const Entry *e = &r->table[i];
        if (!a[i].name || strcmp(e->name, a[i].name))
            return path_error(err, errcap, r->path, "array %d is '%s', expected '%s'", i, e->name,
                        a[i].name ? a[i].name : "?");
        if (e->count != a[i].count)
            return path_error(err, errcap, r->path, "array '%s' holds %" PRIu64 " floats, expected %zu",
                        e->name, e->count, a[i].count);
        if (!a[i].data && a[i].count)
            return path_error(err, errcap, r->path, "array '%s': no buffer to read into", e->name);
    }
    return true;
}

bool ckpt_read(const char *path, const ModelSpec *s, CkptMeta *meta, CkptArray *arrays, int n,
               char *err, size_t errcap) {
    Reader *r = reader_open(path, err, errcap);
    if (!r) return false;
    char why[512];
    bool ok = true;
    if (!ckpt_same_layout(&r->spec, s, why, sizeof why)) ok = path_error(err, errcap, path, "%s", why);
    if (ok) ok = arrays_match(r, arrays, n, err, errcap);
    for (int i = 0; ok && i < n; i++)
        ok = read_at(r, r->table[i].offset, arrays[i].data, arrays[i].count * sizeof(float), err,
                     errcap);
    if (ok) *meta = r->meta;
    reader_close(r);
    return ok;
}

bool ckpt_read_head(const char *path, ModelSpec *s, CkptMeta *meta, char *err, size_t errcap) {
    Reader *r = reader_open(path, err, errcap);
    if (!r) return false;
    *s = r->spec;
    *meta = r->meta;
    reader_close(r);
    return true;
}

bool ckpt_read_spec(const char *path, ModelSpec *s, char *err, size_t errcap) {
    Reader *r = reader_open(path, err, errcap);
    if (!r) return false;
    *s = r->spec;
    reader_close(r);
    return true;
}

char *ckpt_read_history(const char *path, char *err, size_t errcap) {
    Reader *r = reader_open(path, err, errcap);
    if (!r) return NULL;
    char *h = malloc((size_t)r->history + 1);
    if (!h) path_error(err, errcap, path, "out of memory for the run history");
    else if (!read_at(r, HISTORY_OFFSET, h, (size_t)r->history, err, errcap)) h = (free(h), NULL);
    else if (memchr(h, 0, (size_t)r->history)) {
        path_error(err, errcap, path, "damaged run history (a NUL byte)");
        h = (free(h), NULL);
    } else {
        h[r->history] = '\0';
    }
    reader_close(r);
    return h;
}

static const Entry *find(const Reader *r, const char *name) {
    for (uint32_t i = 0; i < r->narrays; i++)
        if (!strcmp(r->table[i].name, name)) return &r->table[i];
    return NULL;
}

float *ckpt_read_array(const char *path, const char *name, size_t *count, char *err,
                       size_t errcap) {
    Reader *r = reader_open(path, err, errcap);
    if (!r) return NULL;
    const Entry *e = find(r, name);
    float *x = NULL;
    if (!e) {
        const char *have[CKPT_MAX_ARRAYS];
        char hs[512];
        for (uint32_t i = 0; i < r->narrays; i++) have[i] = r->table[i].name;
        list_names(hs, sizeof hs, have, (int)r->narrays);
        path_error(err, errcap, path, "no array named '%s' (it holds: %s)", name,
             r->narrays ? hs : "none");
    } else if (!(x = malloc(e->count ? e->count * sizeof(float) : 1))) {
        path_error(err, errcap, path, "out of memory for '%s' (%" PRIu64 " floats)", name, e->count);
    } else if (!read_at(r, e->offset, x, e->count * sizeof(float), err, errcap)) {
        free(x);
        x = NULL;
    } else {
        *count = e->count;
    }
    reader_close(r);
    return x;
}
