/*
 * data.c: the token-shard loader and writer (see data.h).
 *
 * data_open expands the glob, maps every shard read-only and checks it in
 * full before any training starts: size against the 1024-byte header, magic,
 * version, the header's token count against the file size (before the count
 * is trusted for anything), every token id below the vocabulary, and enough
 * tokens for one batch. After that the loader only does arithmetic on
 * (shard, pos), which is also what a checkpoint stores.
 *
 * The walk is the recipe's distributed_data_generator, one epoch (data_wrap
 * starts another, for train.data.repeat): before each
 * batch, if pos + B + 1 >= len(shard), the next shard is opened at pos 0 and
 * the leftover of the old one is dropped. Note the >=: the recipe wants one
 * token to spare beyond the B + 1 a batch reads, so a shard must hold at
 * least B + 2 tokens to give one batch, and a batch that would end exactly
 * at the end of a shard is skipped, as in modded-nanogpt.
 *
 * Shards are mapped, not read, because the full recipe has 32 files of
 * 200 MB each; the kernel pages them in as batches touch them. A mapped file
 * cut short by another program mid-run would fault; shard_write never does
 * that, since it replaces a file by rename and old mappings keep the old one.
 */
#include "runtime/data/data.h"

#include "runtime/util/atomic_file.h"
#include "runtime/util/rng.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_BYTES (SHARD_HEADER_INTS * 4)

typedef struct {
    char *path;
    const unsigned char *map; /* the whole file, mapped read-only */
    size_t map_len;
    const unsigned char *tokens; /* map + HEADER_BYTES, little-endian uint16 */
    int64_t len;                 /* tokens in this shard */
} Shard;

struct DataLoader {
    Shard *shards;
    int nshards;
    int64_t batch; /* B = ranks x T */
    int32_t shard; /* current batch: shards[shard], tokens from pos */
    int64_t pos;
    int32_t epoch; /* passes over the data completed (data_wrap) */
    int64_t total;
    uint64_t order_seed;  /* data_shuffle; 0: the recipe's order */
    int64_t *order;       /* the shuffled batch slots of order_shard in order_epoch */
    int32_t order_shard, order_epoch;
};

static void fail(char *err, size_t errcap, const char *fmt, ...) {
    if (!err || !errcap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

static uint32_t read_u32le(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int32_t read_i32le(const unsigned char *p) {
    uint32_t u = read_u32le(p);
    int32_t v;
    memcpy(&v, &u, sizeof v); /* two's complement, without implementation-defined casts */
    return v;
}

static unsigned read_u16le(const unsigned char *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }

/* The recipe's switch rule: a batch at `pos` needs tokens [pos, pos + B + 1)
 * and, as in modded-nanogpt, one more token to spare. */
static bool batch_fits(int64_t pos, int64_t batch, int64_t len) { return pos + batch + 1 < len; }

static void shard_unmap(Shard *s) {
    if (s->map) munmap((void *)s->map, s->map_len);
    free(s->path);
    memset(s, 0, sizeof *s);
}

/* Checks the header and the size of a mapped file; fills s->tokens, s->len. */
static bool check_header(Shard *s, char *err, size_t errcap) {
    const char *path = s->path;
    int32_t magic = read_i32le(s->map), version = read_i32le(s->map + 4);
    int32_t count = read_i32le(s->map + 8);
    if (magic != SHARD_MAGIC) {
        fail(err, errcap, "%s: not a token shard: the magic number is %d, expected %d", path,
             (int)magic, SHARD_MAGIC);
        return false;
    }
    if (version != SHARD_VERSION) {
        fail(err, errcap, "%s: shard version %d is not supported (expected %d)", path,
             (int)version, SHARD_VERSION);
        return false;
    }
    if (count < 0) {
        fail(err, errcap, "%s: the header's token count is negative (%d); the file is corrupt",
             path, (int)count);
        return false;
    }
    size_t body = s->map_len - HEADER_BYTES;
    int64_t held = (int64_t)(body / 2);
    const char *stray = body % 2 ? " and a stray byte" : "";
    if (held < count) {
        fail(err, errcap, "%s: the header says %d tokens but the file holds %lld%s (truncated?)",
             path, (int)count, (long long)held, stray);
        return false;
    }
    if (held > count || body % 2) {
        fail(err, errcap,
             "%s: the header says %d tokens but the file holds %lld%s (extra bytes after the "
             "tokens?)",
             path, (int)count, (long long)held, stray);
        return false;
    }
    s->tokens = s->map + HEADER_BYTES;
    s->len = count;
    return true;
}

/* Every token id must index the embedding; a bad one found now is an error
 * at open rather than an out-of-bounds read mid-run. */
static bool check_tokens(const Shard *s, int vocab_size, char *err, size_t errcap) {
    for (int64_t i = 0; i < s->len; i++) {
        unsigned t = read_u16le(s->tokens + 2 * i);
        if (t >= (unsigned)vocab_size) {
            fail(err, errcap,
                 "%s: token %lld is %u, not below the vocabulary size %d (a shard made with "
                 "another tokenizer?)",
                 s->path, (long long)i, t, vocab_size);
            return false;
        }
    }
    return true;
}

static bool shard_map(Shard *s, const char *path, char *err, size_t errcap) {
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    if (!s->path) return fail(err, errcap, "%s: out of memory", path), false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, errcap, "%s: cannot open: %s", path, strerror(errno));
        return false;
    }
    struct stat st;
    bool ok = false;
    if (fstat(fd, &st) != 0) {
        fail(err, errcap, "%s: cannot stat: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        fail(err, errcap, "%s: is a directory, not a token shard", path);
    } else if (!S_ISREG(st.st_mode)) {
        fail(err, errcap, "%s: not a regular file", path);
    } else if (st.st_size < HEADER_BYTES) {
        fail(err, errcap,
             "%s: the file is %lld bytes, too short for the %d-byte shard header (truncated, or "
             "not a shard?)",
             path, (long long)st.st_size, HEADER_BYTES);
    } else if ((uint64_t)st.st_size > SIZE_MAX) {
        fail(err, errcap, "%s: too large to map", path);
    } else {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            fail(err, errcap, "%s: cannot map: %s", path, strerror(errno));
        } else {
            s->map = m;
            s->map_len = (size_t)st.st_size;
            ok = true;
        }
    }
    close(fd);
    return ok;
}

/* Maps and checks one shard: header, size, batch room and token ids. */
static bool shard_open(Shard *s, const char *path, int64_t batch, int vocab_size, char *err,
                       size_t errcap) {
    if (!shard_map(s, path, err, errcap) || !check_header(s, err, errcap)) return false;
    if (!batch_fits(0, batch, s->len)) {
        fail(err, errcap,
             "%s: %lld tokens are too few for one batch of %lld: the loader needs at least %lld "
             "(the batch, the target after it, and one to spare, as in the recipe)",
             path, (long long)s->len, (long long)batch, (long long)(batch + 2));
        return false;
    }
    return check_tokens(s, vocab_size, err, errcap);
}

static const char *glob_problem(int rc) {
    switch (rc) {
    case GLOB_NOSPACE: return "out of memory";
    case GLOB_ABORTED: return "a directory could not be read";
    default: return "glob failed";
    }
}

DataLoader *data_open(const char *pattern, int64_t batch_tokens, int vocab_size, char *err,
                      size_t errcap) {
    if (batch_tokens <= 0 || vocab_size <= 0 || vocab_size > 65536) {
        fail(err, errcap, "%s: bad loader settings (batch %lld tokens, vocabulary %d)", pattern,
             (long long)batch_tokens, vocab_size);
        return NULL;
    }
    glob_t g;
    int rc = glob(pattern, 0, NULL, &g); /* sorted, as the recipe's sorted(glob) */
    if (rc == GLOB_NOMATCH || (rc == 0 && g.gl_pathc == 0)) {
        fail(err, errcap, "%s: no file matches this pattern", pattern);
        if (rc == 0) globfree(&g);
        return NULL;
    }
    if (rc != 0) {
        fail(err, errcap, "%s: %s", pattern, glob_problem(rc));
        return NULL;
    }
    DataLoader *d = calloc(1, sizeof *d);
    if (g.gl_pathc > INT32_MAX) {
        fail(err, errcap, "%s: too many files", pattern);
    } else if (!d || !(d->shards = calloc(g.gl_pathc, sizeof *d->shards))) {
        fail(err, errcap, "%s: out of memory", pattern);
    } else {
        d->batch = batch_tokens;
        bool ok = true;
        for (size_t i = 0; ok && i < g.gl_pathc; i++) {
            d->nshards = (int)i + 1; /* so data_close frees a partly filled entry */
            ok = shard_open(&d->shards[i], g.gl_pathv[i], batch_tokens, vocab_size, err, errcap);
            d->total += d->shards[i].len;
        }
        globfree(&g);
        if (ok) return d;
        data_close(d);
        return NULL;
    }
    globfree(&g);
    data_close(d);
    return NULL;
}

void data_close(DataLoader *d) {
    if (!d) return;
    free(d->order);
    for (int i = 0; i < d->nshards; i++) shard_unmap(&d->shards[i]);
    free(d->shards);
    free(d);
}

/* The batches data_advance would reach in shard i from `pos` on, `pos`
 * included: those at pos + k B that still fit. */
static int64_t batches_in(const DataLoader *d, int i, int64_t pos) {
    int64_t room = d->shards[i].len - 1 - pos; /* a batch at p needs p + B < len - 1 */
    return room > d->batch ? (room - 1) / d->batch : 0;
}

void data_shuffle(DataLoader *d, uint64_t seed) {
    d->order_seed = seed;
    d->order_shard = -1;
}

/* The token where the current batch starts: the walk's own position, or
 * with a data seed the slot the shuffle gives it. The slots of a shard are
 * a Fisher-Yates permutation of its batch starts, drawn from the seed, the
 * shard and the epoch, so that it depends on nothing else (a resume
 * rebuilds it) and each pass over the data has an order of its own. */
static int64_t batch_start(DataLoader *d) {
    if (!d->order_seed) return d->pos;
    if (d->order_shard != d->shard || d->order_epoch != d->epoch) {
        int64_t n = batches_in(d, d->shard, 0);
        int64_t *slot = realloc(d->order, sizeof(int64_t) * (size_t)n);
        if (!slot) {
            fputs("gptc: out of memory (the shuffled batch order)\n", stderr);
            exit(1);
        }
        d->order = slot;
        Rng r;
        rng_seed(&r, d->order_seed ^ (uint64_t)d->shard << 32 ^ (uint64_t)d->epoch << 48);
        for (int64_t i = 0; i < n; i++) slot[i] = i * d->batch;
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)(rng_uniform(&r) * (double)(i + 1)); /* 0..i */
            int64_t swap = slot[i];
            slot[i] = slot[j];
            slot[j] = swap;
        }
        d->order_shard = d->shard, d->order_epoch = d->epoch;
    }
    return d->order[d->pos / d->batch];
}

void data_batch(DataLoader *d, int rank, int T, int *inputs, int *targets) {
    /* Callers pass rank and T from the spec that set the batch; a slice past
     * the batch would read another rank's tokens, so it is a bug, not data. */
    if (rank < 0 || T <= 0 || (int64_t)(rank + 1) * T > d->batch) {
        fprintf(stderr, "data_batch: rank %d x T %d lies outside the batch of %lld tokens\n", rank,
                T, (long long)d->batch);
        abort();
    }
    const Shard *s = &d->shards[d->shard];
    const unsigned char *p = s->tokens + 2 * (batch_start(d) + (int64_t)rank * T);
    for (int i = 0; i < T; i++) {
        inputs[i] = (int)read_u16le(p + 2 * i);
        targets[i] = (int)read_u16le(p + 2 * (i + 1));
    }
}

bool data_advance(DataLoader *d) {
    int64_t next = d->pos + d->batch;
    if (batch_fits(next, d->batch, d->shards[d->shard].len)) {
        d->pos = next;
        return true;
    }
    /* The rest of this shard is dropped. Every shard holds one batch (checked
     * at open), so the next one, if any, starts a batch at 0. */
    if (d->shard + 1 >= d->nshards) return false; /* stays on the last batch */
    d->shard++;
    d->pos = 0;
    return true;
}

void data_rewind(DataLoader *d) {
    d->shard = 0;
    d->pos = 0;
}

void data_wrap(DataLoader *d) {
    data_rewind(d);
    d->epoch++;
}

int64_t data_batches_left(const DataLoader *d) {
    int64_t n = batches_in(d, d->shard, d->pos);
    for (int i = d->shard + 1; i < d->nshards; i++) n += batches_in(d, i, 0);
    return n;
}

int64_t data_batches_total(const DataLoader *d) {
    int64_t n = 0;
    for (int i = 0; i < d->nshards; i++) n += batches_in(d, i, 0);
    return n;
}

DataPos data_tell(const DataLoader *d) {
    return (DataPos){.shard = d->shard, .epoch = d->epoch, .pos = d->pos};
}

bool data_seek(DataLoader *d, DataPos p, char *err, size_t errcap) {
    if (p.shard < 0 || p.shard >= d->nshards) {
        fail(err, errcap, "data position: shard %d does not exist (there are %d)", (int)p.shard,
             d->nshards);
        return false;
    }
    if (p.epoch < 0) {
        fail(err, errcap, "data position: epoch %d is negative", (int)p.epoch);
        return false;
    }
    const Shard *s = &d->shards[p.shard];
    if (p.pos < 0 || p.pos % d->batch != 0) {
        fail(err, errcap,
             "data position: token %lld of %s is not a batch start (batches are %lld tokens; "
             "was it saved with another batch size?)",
             (long long)p.pos, s->path, (long long)d->batch);
        return false;
    }
    if (!batch_fits(p.pos, d->batch, s->len)) {
        fail(err, errcap,
             "data position: token %lld of %s leaves no room for a batch (the shard holds %lld; "
             "were the shards rewritten?)",
             (long long)p.pos, s->path, (long long)s->len);
        return false;
    }
    d->shard = p.shard;
    d->pos = p.pos;
    d->epoch = p.epoch;
    return true;
}

int64_t data_total_tokens(const DataLoader *d) { return d->total; }

int data_num_shards(const DataLoader *d) { return d->nshards; }

const char *data_shard_path(const DataLoader *d, int i) {
    return i >= 0 && i < d->nshards ? d->shards[i].path : NULL;
}

int64_t data_shard_tokens(const DataLoader *d, int i) {
    return i >= 0 && i < d->nshards ? d->shards[i].len : -1;
}

/* ---- writing ---- */

/* Header and tokens, byte by byte little-endian so the file is the same on
 * any host; tokens go out in chunks to keep the copy small. */
static void write_shard_body(FILE *f, const uint16_t *tokens, int64_t n) {
    unsigned char head[HEADER_BYTES] = {0};
    uint32_t fields[3] = {SHARD_MAGIC, SHARD_VERSION, (uint32_t)n};
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 4; b++) head[4 * k + b] = (unsigned char)(fields[k] >> (8 * b));
    fwrite(head, 1, sizeof head, f);
    enum { CHUNK = 1 << 14 };
    unsigned char out[2 * CHUNK];
    for (int64_t i = 0; i < n; i += CHUNK) {
        int64_t m = n - i < CHUNK ? n - i : CHUNK;
        for (int64_t k = 0; k < m; k++) {
            out[2 * k] = (unsigned char)(tokens[i + k] & 0xff);
            out[2 * k + 1] = (unsigned char)(tokens[i + k] >> 8);
        }
        fwrite(out, 1, (size_t)(2 * m), f); /* errors surface in atomic_commit */
    }
}

bool shard_write(const char *path, const uint16_t *tokens, int64_t n, char *err, size_t errcap) {
    if (n < 0 || n > INT32_MAX) {
        fail(err, errcap, "%s: %lld tokens do not fit one shard (at most %d)", path, (long long)n,
             INT32_MAX);
        return false;
    }
    AtomicFile a;
    if (!atomic_open(&a, path, err, errcap)) return false;
    write_shard_body(a.f, tokens, n);
    return atomic_commit(&a, err, errcap);
}
