/*
 * test_ckpt.c: checkpoints (ckpt.c), safetensors export (safetensors.c) and
 * `gptc export` (cmd_export.c).
 *
 * Checkpoints: a bit-exact round trip; the atomic write (no temporary file
 * left, an existing checkpoint intact after a failed write); every kind of
 * bad file (truncated at several points, a flipped byte, bad magic, another
 * version or build, other arrays, another model) refused with its exact
 * message and without touching the caller's buffers; files forged with a
 * valid checksum refused without a crash. The checksum is recomputed here
 * with a bit-at-a-time CRC-64/XZ, independent of crc64.c's tables.
 *
 * Safetensors: the file is parsed back here (header, names in order,
 * shapes, offsets, data) and bf16 rounding is checked on known values
 * (ties, overflow, NaN). If /usr/bin/python3 has torch, the file is also
 * checked by tests/reference/check_safetensors.py against PyTorch's own
 * bf16 conversion and load_state_dict(strict=True).
 *
 * Every file lives in a mkdtemp directory that each test removes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/train/ckpt.h"
#include "runtime/train/ckpt_spec.h"
#include "cli/cmd_export.h"
#include "runtime/util/crc64.h"
#include "compiler/lang/diag.h"
#include "compiler/plan/params.h"
#include "runtime/train/safetensors.h"
#include "compiler/lang/spec_json.h"
#include "tests/unit/test.h"
#include "compiler/lang/validate.h"

/* ---- files and directories --------------------------------------------- */

typedef struct {
    char dir[64];
    char buf[48][512]; /* paths handed out by at(), never reused */
    int next;
} Tmp;

static bool tmp_make(Tmp *t) {
    snprintf(t->dir, sizeof t->dir, "/tmp/gptc-test-ckpt-XXXXXX");
    t->next = 0;
    return mkdtemp(t->dir) != NULL;
}

/* DIR/NAME, valid for the whole test. */
static const char *at(Tmp *t, const char *name) {
    if (t->next == 48) test_fail(__FILE__, __LINE__, "too many paths in one test");
    char *p = t->buf[t->next < 47 ? t->next++ : 47];
    size_t k = strlen(t->dir), n = strlen(name);
    if (k + 1 + n >= sizeof t->buf[0]) n = sizeof t->buf[0] - k - 2;
    memcpy(p, t->dir, k);
    p[k] = '/';
    memcpy(p + k + 1, name, n);
    p[k + 1 + n] = 0;
    return p;
}

static void rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_tree(sub);
        }
        if (d) closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    *len = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

static bool write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(p, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

static bool exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- a small model ----------------------------------------------------- */

static const char model_yaml[] =
    "description: checkpoint test model\n"
    "vocab: {size: 37, eot: 36, pad_multiple: 8}\n"
    "model: {layers: 3, dim: 16, heads: 2, mlp_hidden: 32}\n"
    "attention:\n"
    "  off_layers: [1]\n"
    "  window: {block_size: 8, max_tokens: 16, schedule: constant}\n"
    "value_embeddings: {tables: 1}\n"
    "input_embeddings: {tables: 2}\n"
    "skips: {pairs: []}\n"
    "train: {ranks: 1, tokens_per_rank: 32, steps: 10,\n"
    "        val: {tokens: 32, tokens_per_rank: 32}}\n";

static bool load_spec(Tmp *t, const char *const *sets, int nsets, ModelSpec *s) {
    const char *path = at(t, "model.yaml");
    bool ok = write_all(path, model_yaml, sizeof model_yaml - 1) &&
              spec_load(path, sets, nsets, s);
    diag_reset();
    return ok;
}

/* Random values with the awkward ones mixed in: signed zero, infinities,
 * a NaN with a payload, denormals; a bit-exact round trip must keep all. */
static void fill(float *x, size_t n, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)rng_normal(&r);
    static const uint32_t odd[] = {0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc12345u,
                                   0x00000001u, 0x807fffffu};
    for (size_t i = 0; i < 6 && i < n; i++) memcpy(&x[i * 7 % n], &odd[i], 4);
}

/* A checkpoint's worth of state: params, two optimizer arrays and an empty
 * one, for the spec loaded in `t`. */
typedef struct {
    ModelSpec spec;
    CkptMeta meta;
    CkptArray a[4];
    size_t nparams;
} State;

/* Two run records, as a run started and resumed once would hold them. */
#define STATE_HISTORY "{\"kind\": \"run\", \"event\": \"start\"}\n{\"kind\": \"run\", \"event\": \"resume\"}\n"

static bool state_make(Tmp *t, State *st) {
    memset(st, 0, sizeof *st);
    if (!load_spec(t, NULL, 0, &st->spec)) return false;
    st->nparams = (size_t)ckpt_param_count(&st->spec);
    st->meta.step = 1234;
    st->meta.data = (DataPos){.shard = 3, .pos = 5000000000LL, .epoch = 7};
    rng_seed(&st->meta.rng, 99);
    st->meta.train_time = 61.25;
    st->meta.nranks = 4;
    st->meta.threads = 16;
    snprintf(st->meta.executor, sizeof st->meta.executor, "cuda");
    st->meta.data_tokens = 9876543210LL;
    st->meta.data_shards = 32;
    snprintf(st->meta.tuning, sizeof st->meta.tuning, "0f1e2d3c4b5a6978");
    st->meta.history = STATE_HISTORY;
    static const char *names[] = {"params", "adam_m", "momentum_buffer_31_chars_long__", "empty"};
    size_t counts[] = {st->nparams, st->nparams, 5, 0};
    for (int i = 0; i < 4; i++) {
        st->a[i] = (CkptArray){names[i], calloc(counts[i] + 1, sizeof(float)), counts[i]};
        fill(st->a[i].data, counts[i], 10 + (uint64_t)i);
    }
    return true;
}

static void state_free(State *st) {
    for (int i = 0; i < 4; i++) free(st->a[i].data);
}

/* Buffers of the same names and sizes, filled with 0xAB bytes so that any
 * write into them shows. */
static void blank_like(const State *st, CkptArray *out, int n) {
    for (int i = 0; i < n; i++) {
        out[i] = st->a[i];
        out[i].data = malloc((st->a[i].count + 1) * sizeof(float));
        memset(out[i].data, 0xab, (st->a[i].count + 1) * sizeof(float));
    }
}

static bool still_blank(const CkptArray *a, int n) {
    for (int i = 0; i < n; i++) {
        const unsigned char *p = (const unsigned char *)a[i].data;
        for (size_t k = 0; k < a[i].count * sizeof(float); k++)
            if (p[k] != 0xab) return false;
    }
    return true;
}

static void free_arrays(CkptArray *a, int n) {
    for (int i = 0; i < n; i++) free(a[i].data);
}

/* ---- checks ------------------------------------------------------------ */

#define CHECK_STR(got, want) check_str(__FILE__, __LINE__, got, want)

static void check_str(const char *file, int line, const char *got, const char *want) {
    if (strcmp(got, want)) {
        char m[9000];
        snprintf(m, sizeof m, "message\n    got:  %s\n    want: %s", got, want);
        test_fail(file, line, m);
    }
}

/* ckpt_read must fail with exactly "PATH: want", leaving the caller's
 * buffers and meta untouched. */
#define EXPECT_READ_FAIL(path, spec, st, n, want) \
    expect_read_fail(__FILE__, __LINE__, path, spec, st, n, want)

static void expect_read_fail(const char *file, int line, const char *path, const ModelSpec *s,
                             const State *st, int n, const char *want) {
    CkptArray got[4];
    blank_like(st, got, n);
    CkptMeta meta;
    memset(&meta, 0x5a, sizeof meta);
    CkptMeta before = meta;
    char err[1024] = "", full[1024];
    bool ok = ckpt_read(path, s, &meta, got, n, err, sizeof err);
    snprintf(full, sizeof full, "%s: %s", path, want);
    if (ok) test_fail(file, line, "ckpt_read accepted a bad file");
    check_str(file, line, err, full);
    if (!still_blank(got, n) || memcmp(&meta, &before, sizeof meta))
        test_fail(file, line, "a failed read changed the caller's buffers");
    free_arrays(got, n);
}

/* CRC-64/XZ one bit at a time, straight from the definition. */
static uint64_t crc_bitwise(const unsigned char *p, size_t n) {
    uint64_t c = ~0ULL;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xc96c5795d7870f42ULL : c >> 1;
    }
    return ~c;
}

static uint64_t le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Writes `b` with a correct trailing checksum, as a forger would. */
static bool write_forged(const char *path, unsigned char *b, size_t n) {
    put_le(b + n - 8, crc_bitwise(b, n - 8), 8);
    return write_all(path, b, n);
}

#define SPEC_AT 64
#define TABLE_AT (64 + sizeof(ModelSpec) + 128 + strlen(STATE_HISTORY))

/* ---- checkpoint tests -------------------------------------------------- */

TEST(ckpt_crc64_matches_definition) {
    const char *s = "123456789";
    CHECK(crc64_update(CRC64_INIT, s, 9) == 0x995dc9bbdf1939faULL);
    CHECK(crc_bitwise((const unsigned char *)s, 9) == 0x995dc9bbdf1939faULL);
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(i * 131 + 7);
    uint64_t whole = crc64_update(CRC64_INIT, buf, sizeof buf);
    CHECK(whole == crc_bitwise(buf, sizeof buf));
    uint64_t parts = crc64_update(CRC64_INIT, buf, 13);
    parts = crc64_update(parts, buf + 13, 500);
    parts = crc64_update(parts, buf + 513, sizeof buf - 513);
    CHECK(parts == whole);
}

TEST(ckpt_round_trip_is_bit_exact) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin");
    char err[1024] = "";
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 4, err, sizeof err));
    CHECK_STR(err, "");
    CHECK(!exists(at(&t, "ckpt.bin.tmp")));

    CkptArray got[4];
    blank_like(&st, got, 4);
    CkptMeta meta;
    memset(&meta, 0, sizeof meta);
    CHECK(ckpt_read(path, &st.spec, &meta, got, 4, err, sizeof err));
    CHECK_STR(err, "");
    for (int i = 0; i < 4; i++)
        CHECK(!memcmp(got[i].data, st.a[i].data, st.a[i].count * sizeof(float)));
    CHECK_EQ_INT(meta.step, 1234);
    CHECK_EQ_INT(meta.data.shard, 3);
    CHECK_EQ_INT(meta.data.pos, 5000000000LL);
    CHECK(!memcmp(meta.rng.s, st.meta.rng.s, sizeof meta.rng.s));
    CHECK(meta.train_time == 61.25);
    CHECK_EQ_INT(meta.data.epoch, 7);
    CHECK_EQ_INT(meta.nranks, 4);
    CHECK_EQ_INT(meta.threads, 16);
    CHECK_STR(meta.executor, "cuda");
    CHECK_EQ_INT(meta.data_tokens, 9876543210LL);
    CHECK_EQ_INT(meta.data_shards, 32);
    CHECK_STR(meta.tuning, "0f1e2d3c4b5a6978");
    CHECK(meta.history == NULL);
    char *h = ckpt_read_history(path, err, sizeof err);
    CHECK(h != NULL);
    if (h) CHECK_STR(h, STATE_HISTORY);
    free(h);
    ModelSpec *head = malloc(sizeof *head);
    CkptMeta hm;
    CHECK(head && ckpt_read_head(path, head, &hm, err, sizeof err));
    CHECK(head && !memcmp(head, &st.spec, sizeof *head));
    CHECK_EQ_INT(hm.step, 1234);
    CHECK_STR(hm.executor, "cuda");
    free(head);

    /* The layout ckpt.c documents: magic, sizes, and the CRC at the end. */
    size_t n = 0;
    unsigned char *b = read_all(path, &n);
    CHECK(b && !memcmp(b, "gptc", 4));
    CHECK_EQ_INT(le64(b + 40), n);
    CHECK_EQ_INT(le64(b + 48), strlen(STATE_HISTORY));
    CHECK(!memcmp(b + 64 + sizeof(ModelSpec) + 128, STATE_HISTORY, strlen(STATE_HISTORY)));
    CHECK_EQ_INT(le64(b + 32) % 64, 0);
    CHECK_EQ_INT(le64(b + 32) + (2 * st.nparams + 5) * 4 + 8, n);
    CHECK(le64(b + n - 8) == crc_bitwise(b, n - 8));
    free(b);
    free_arrays(got, 4);
    state_free(&st);
    rm_tree(t.dir);
}

TEST(ckpt_read_spec_and_one_array) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin");
    char err[1024] = "", want[1024];
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 4, err, sizeof err));
    ModelSpec *s = malloc(sizeof *s);
    CHECK(ckpt_read_spec(path, s, err, sizeof err));
    CHECK(!memcmp(s, &st.spec, sizeof *s));
    size_t count = 0;
    float *m = ckpt_read_array(path, "adam_m", &count, err, sizeof err);
    CHECK(m && count == st.nparams && !memcmp(m, st.a[1].data, count * sizeof(float)));
    free(m);
    float *e = ckpt_read_array(path, "empty", &count, err, sizeof err);
    CHECK(e && count == 0);
    free(e);
    CHECK(!ckpt_read_array(path, "adam_v", &count, err, sizeof err));
    snprintf(want, sizeof want, "%s: no array named 'adam_v' (it holds: params, adam_m, "
             "momentum_buffer_31_chars_long__, empty)", path);
    CHECK_STR(err, want);
    free(s);
    state_free(&st);
    rm_tree(t.dir);
}

/* The metadata is written field by field: garbage in CkptMeta's padding
 * (after data.shard, data.epoch and data_shards, and after the executor's
 * name) must not reach the file. */
TEST(ckpt_meta_padding_never_written) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    char err[1024];
    unsigned char *files[2];
    size_t sizes[2];
    for (int k = 0; k < 2; k++) {
        CkptMeta m;
        memset(&m, k ? 0x55 : 0xaa, sizeof m);
        m.step = st.meta.step;
        m.data.shard = st.meta.data.shard;
        m.data.pos = st.meta.data.pos;
        m.data.epoch = 2;
        m.rng = st.meta.rng;
        m.train_time = st.meta.train_time;
        m.nranks = 4;
        m.threads = 3;
        snprintf(m.executor, sizeof m.executor, "sim");
        m.data_tokens = 12345;
        m.data_shards = 2;
        snprintf(m.tuning, sizeof m.tuning, "0123456789abcdef");
        m.history = "{\"kind\": \"run\"}\n";
        const char *path = at(&t, k ? "b.bin" : "a.bin");
        CHECK(ckpt_write(path, &st.spec, &m, st.a, 2, err, sizeof err));
        files[k] = read_all(path, &sizes[k]);
    }
    CHECK(files[0] && files[1] && sizes[0] == sizes[1]);
    CHECK(!memcmp(files[0], files[1], sizes[0]));
    free(files[0]);
    free(files[1]);
    state_free(&st);
    rm_tree(t.dir);
}

/* A write that fails at any point leaves the previous checkpoint as it was
 * and no temporary file behind. (The tests run as root here, so a
 * read-only directory would not fail; PATH.tmp is made unwritable instead.) */
TEST(ckpt_failed_write_keeps_old_checkpoint) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin"), *tmp = at(&t, "ckpt.bin.tmp");
    char err[1024] = "", want[1024];
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 4, err, sizeof err));
    size_t n0 = 0, n1 = 0;
    unsigned char *before = read_all(path, &n0);
    CkptMeta later = st.meta;
    later.step = 9999;

    /* The temporary file cannot be created: it is a directory. */
    CHECK(mkdir(tmp, 0700) == 0);
    CHECK(!ckpt_write(path, &st.spec, &later, st.a, 4, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot create %s: Is a directory", path, tmp);
    CHECK_STR(err, want);
    rmdir(tmp);

    /* The disk fills up mid-write: PATH.tmp leads to /dev/full. */
    bool linked = symlink("/dev/full", tmp) == 0;
    CHECK(linked);
    if (linked) {
        CHECK(!ckpt_write(path, &st.spec, &later, st.a, 4, err, sizeof err));
        CHECK(strstr(err, "No space left on device") != NULL);
        CHECK(!exists(tmp));
    }

    /* Arrays the format cannot hold are refused before anything is made. */
    CkptArray bad[2] = {st.a[0], st.a[1]};
    bad[1].name = "a_name_of_thirty_two_characters_";
    CHECK(!ckpt_write(path, &st.spec, &later, bad, 2, err, sizeof err));
    snprintf(want, sizeof want, "%s: array 1: name must be 1 to 31 characters", path);
    CHECK_STR(err, want);
    bad[1].name = "params";
    CHECK(!ckpt_write(path, &st.spec, &later, bad, 2, err, sizeof err));
    snprintf(want, sizeof want, "%s: two arrays named 'params'", path);
    CHECK_STR(err, want);
    CHECK(!exists(tmp));

    unsigned char *after = read_all(path, &n1);
    CHECK(before && after && n0 == n1 && !memcmp(before, after, n0));
    CkptArray got[4];
    blank_like(&st, got, 4);
    CkptMeta meta;
    CHECK(ckpt_read(path, &st.spec, &meta, got, 4, err, sizeof err));
    CHECK_EQ_INT(meta.step, 1234);
    free_arrays(got, 4);

    /* A missing directory: nothing is created anywhere. */
    const char *lost = at(&t, "missing/ckpt.bin");
    CHECK(!ckpt_write(lost, &st.spec, &later, st.a, 4, err, sizeof err));
    snprintf(want, sizeof want, "%s: cannot create %s.tmp: No such file or directory", lost,
             lost);
    CHECK_STR(err, want);
    CHECK(!exists(at(&t, "missing")));
    free(before);
    free(after);
    state_free(&st);
    rm_tree(t.dir);
}

TEST(ckpt_truncated_files_refused) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin"), *cut = at(&t, "cut.bin");
    char err[1024], want[512];
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 4, err, sizeof err));
    size_t n = 0;
    unsigned char *b = read_all(path, &n);
    /* In the header, in the spec, in the table, in the data, the checksum
     * missing entirely and missing one byte. */
    size_t cuts[] = {0, 3, 40, 64 + 100, TABLE_AT + 10, n - 1000, n - 8, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        CHECK(write_all(cut, b, cuts[i]));
        if (cuts[i] < 64)
            snprintf(want, sizeof want, "truncated: expected at least 64 bytes, found %zu",
                     cuts[i]);
        else
            snprintf(want, sizeof want, "truncated: expected %zu bytes, found %zu", n, cuts[i]);
        EXPECT_READ_FAIL(cut, &st.spec, &st, 4, want);
    }
    /* One byte too many is refused as well. */
    unsigned char *longer = malloc(n + 1);
    memcpy(longer, b, n);
    longer[n] = 0;
    CHECK(write_all(cut, longer, n + 1));
    snprintf(want, sizeof want, "%zu bytes where the header says %zu (extra data at the end)",
             n + 1, n);
    EXPECT_READ_FAIL(cut, &st.spec, &st, 4, want);
    free(longer);
    free(b);
    state_free(&st);
    rm_tree(t.dir);
}

TEST(ckpt_flipped_bytes_fail_the_checksum) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin"), *bad = at(&t, "bad.bin");
    char err[1024];
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 4, err, sizeof err));
    size_t n = 0;
    unsigned char *b = read_all(path, &n);
    /* In the spec, the meta, the table, the data and the checksum itself. */
    size_t where[] = {SPEC_AT + 200, TABLE_AT - 20, TABLE_AT + 33, n / 2, n - 9, n - 1};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        b[where[i]] ^= 0x10;
        CHECK(write_all(bad, b, n));
        EXPECT_READ_FAIL(bad, &st.spec, &st, 4, "checksum mismatch (file corrupt or truncated)");
        ModelSpec s;
        CHECK(!ckpt_read_spec(bad, &s, err, sizeof err));
        b[where[i]] ^= 0x10;
    }
    free(b);
    state_free(&st);
    rm_tree(t.dir);
}

/* A forged meta (valid checksum) with values the trainer cannot use. */
TEST(ckpt_forged_meta_refused) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin"), *bad = at(&t, "bad.bin");
    char err[1024];
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 4, err, sizeof err));
    size_t n = 0;
    unsigned char *b = read_all(path, &n), *meta = b + SPEC_AT + sizeof(ModelSpec);
    put_le(meta, (uint64_t)-5, 8);
    CHECK(write_forged(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 4, "damaged run position: step -5");
    put_le(meta, 1234, 8);
    put_le(meta + 64, (uint64_t)-1, 4);
    CHECK(write_forged(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 4, "damaged run position: a negative count (ranks -1, threads 16, "
                                            "shards 32, tokens 9876543210, epoch 7)");
    put_le(meta + 64, 4, 4);
    meta[73] = '\n';
    CHECK(write_forged(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 4, "damaged run position: an executor name with byte 0x0a");
    free(b);
    state_free(&st);
    rm_tree(t.dir);
}

TEST(ckpt_header_problems_named) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin"), *bad = at(&t, "bad.bin");
    char err[1024], want[512];
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 4, err, sizeof err));
    size_t n = 0;
    unsigned char *b = read_all(path, &n);

    b[0] = 'G';
    CHECK(write_all(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 4, "not a gptc checkpoint (bad magic)");
    b[0] = 'g';
    const char text[] = "step:125/5960 val_loss:4.1 train_time:1000ms\n";
    CHECK(write_all(bad, text, sizeof text - 1));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 4, "not a gptc checkpoint (bad magic)");

    put_le(b + 4, 1, 4);
    CHECK(write_all(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 4,
                     "checkpoint format version 1; this gptc reads version 2");
    put_le(b + 4, CKPT_VERSION, 4);

    /* Another build: the ModelSpec grew, or its fields moved. */
    put_le(b + 12, sizeof(ModelSpec) + 8, 4);
    CHECK(write_all(bad, b, n));
    snprintf(want, sizeof want, "written by a gptc build with another ModelSpec layout "
             "(%zu bytes, fingerprint %016llx; this build: %zu bytes, %016llx); read it with "
             "the gptc that wrote it", sizeof(ModelSpec) + 8,
             (unsigned long long)ckpt_spec_layout_hash(), sizeof(ModelSpec),
             (unsigned long long)ckpt_spec_layout_hash());
    EXPECT_READ_FAIL(bad, &st.spec, &st, 4, want);
    put_le(b + 12, sizeof(ModelSpec), 4);
    b[16] ^= 1;
    CHECK(write_all(bad, b, n));
    ModelSpec s;
    CHECK(!ckpt_read_spec(bad, &s, err, sizeof err));
    CHECK(strstr(err, "written by a gptc build with another ModelSpec layout") != NULL);
    b[16] ^= 1;

    /* An array count far beyond anything real is refused before use. */
    put_le(b + 28, 0xffffffffu, 4);
    CHECK(write_all(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 4, "damaged header (4294967295 arrays; at most 256)");
    put_le(b + 28, 4, 4);
    /* A claimed size of 2^64 - 1 is a truncation, with no allocation. */
    put_le(b + 40, UINT64_MAX, 8);
    CHECK(write_all(bad, b, n));
    snprintf(want, sizeof want, "truncated: expected %llu bytes, found %zu",
             (unsigned long long)UINT64_MAX, n);
    EXPECT_READ_FAIL(bad, &st.spec, &st, 4, want);
    free(b);
    state_free(&st);
    rm_tree(t.dir);
}

TEST(ckpt_wrong_arrays_named) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin");
    char err[1024], want[512];
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 3, err, sizeof err));

    EXPECT_READ_FAIL(path, &st.spec, &st, 2,
                     "holds 3 arrays (params, adam_m, momentum_buffer_31_chars_long__), "
                     "expected 2 (params, adam_m)");
    EXPECT_READ_FAIL(path, &st.spec, &st, 4,
                     "holds 3 arrays (params, adam_m, momentum_buffer_31_chars_long__), "
                     "expected 4 (params, adam_m, momentum_buffer_31_chars_long__, empty)");
    State other = st;
    other.a[1].name = "adam_v";
    EXPECT_READ_FAIL(path, &st.spec, &other, 3, "array 1 is 'adam_m', expected 'adam_v'");
    other = st;
    other.a[2].count = 6;
    snprintf(want, sizeof want,
             "array 'momentum_buffer_31_chars_long__' holds 5 floats, expected 6");
    EXPECT_READ_FAIL(path, &st.spec, &other, 3, want);
    state_free(&st);
    rm_tree(t.dir);
}

TEST(ckpt_other_model_refused_with_tensor_named) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin");
    char err[1024];
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 2, err, sizeof err));
    ModelSpec wider, dense, deeper;
    const char *w[] = {"model.dim=32", "model.mlp_hidden=64"};
    const char *d[] = {"attention.off_layers=[]"};
    const char *l[] = {"model.layers=4"};
    CHECK(load_spec(&t, w, 2, &wider) && load_spec(&t, d, 1, &dense) &&
          load_spec(&t, l, 1, &deeper));
    EXPECT_READ_FAIL(path, &wider, &st, 2, "checkpoint holds lm_head_w [40, 16], the model has "
                     "[40, 32]: this checkpoint is of another model");
    EXPECT_READ_FAIL(path, &dense, &st, 2, "checkpoint holds blocks.1.mlp.fc_w [32, 16] where "
                     "the model has blocks.1.attn.qkvo_w [4, 16, 16] (tensor 8): this checkpoint "
                     "is of another model");
    EXPECT_READ_FAIL(path, &deeper, &st, 2, "checkpoint holds scalars [18], the model has [24]: "
                     "this checkpoint is of another model");
    state_free(&st);
    rm_tree(t.dir);
}

/* A resumed run may change hyper-parameters (learning rate, steps, the
 * description): only the parameter layout has to match. */
TEST(ckpt_same_layout_new_hyperparameters_accepted) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin");
    char err[1024] = "";
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 2, err, sizeof err));
    ModelSpec resumed;
    const char *sets[] = {"train.muon.lr=0.01", "train.steps=20", "description=longer run",
                          "dtypes.matrices=fp32"};
    CHECK(load_spec(&t, sets, 4, &resumed));
    CHECK(resumed.train.muon.lr == 0.01);
    CkptArray got[2];
    blank_like(&st, got, 2);
    CkptMeta meta;
    CHECK(ckpt_read(path, &resumed, &meta, got, 2, err, sizeof err));
    CHECK_STR(err, "");
    CHECK(!memcmp(got[0].data, st.a[0].data, st.nparams * sizeof(float)));
    free_arrays(got, 2);
    state_free(&st);
    rm_tree(t.dir);
}

/* Files with a valid checksum but impossible contents, as only a forger or
 * a bug would make them: refused, with no crash and no undefined
 * behaviour (the ASan/UBSan build checks the bool and enum loads). */
TEST(ckpt_forged_files_refused) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *path = at(&t, "ckpt.bin"), *bad = at(&t, "bad.bin");
    char err[1024];
    CHECK(ckpt_write(path, &st.spec, &st.meta, st.a, 2, err, sizeof err));
    size_t n = 0;
    unsigned char *b = read_all(path, &n), *orig = malloc(n);
    memcpy(orig, b, n);
    ModelSpec s;

    b[SPEC_AT + offsetof(ModelSpec, model.attention) + 2] = 2;
    CHECK(write_forged(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 2,
                     "stored model is damaged: invalid value in field model.attention");
    CHECK(!ckpt_read_spec(bad, &s, err, sizeof err));
    memcpy(b, orig, n);

    put_le(b + SPEC_AT + offsetof(ModelSpec, dtypes.head), 7, 4);
    CHECK(write_forged(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 2,
                     "stored model is damaged: invalid value in field dtypes.head");
    memcpy(b, orig, n);

    put_le(b + SPEC_AT + offsetof(ModelSpec, model.layers), 100000, 4);
    CHECK(write_forged(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 2,
                     "stored model is damaged: model.layers = 100000 is out of range");
    memcpy(b, orig, n);

    memset(b + SPEC_AT + offsetof(ModelSpec, description), 'x', SPEC_TEXT_MAX);
    CHECK(write_forged(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 2,
                     "stored model is damaged: invalid value in field description");
    memcpy(b, orig, n);

    /* Array 1 claims more floats than the file holds. */
    put_le(b + TABLE_AT + 48 + 32, (uint64_t)1 << 60, 8);
    CHECK(write_forged(bad, b, n));
    char want[256];
    snprintf(want, sizeof want, "damaged array table ('adam_m': %llu floats at %llu)",
             1ULL << 60, (unsigned long long)le64(orig + TABLE_AT + 48 + 40));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 2, want);
    memcpy(b, orig, n);

    put_le(b + TABLE_AT + 48 + 40, 64, 8);
    CHECK(write_forged(bad, b, n));
    snprintf(want, sizeof want, "damaged array table ('adam_m': %zu floats at 64)", st.nparams);
    EXPECT_READ_FAIL(bad, &st.spec, &st, 2, want);
    memcpy(b, orig, n);

    memcpy(b + TABLE_AT + 48, "params", 7);
    CHECK(write_forged(bad, b, n));
    EXPECT_READ_FAIL(bad, &st.spec, &st, 2, "damaged array table (two arrays named 'params')");

    /* The untouched bytes, forged the same way, still read. */
    CHECK(write_forged(bad, orig, n));
    CHECK(ckpt_read_spec(bad, &s, err, sizeof err));
    free(b);
    free(orig);
    state_free(&st);
    rm_tree(t.dir);
}

TEST(ckpt_unreadable_paths) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    char want[512];
    const char *none = at(&t, "none.bin");
    EXPECT_READ_FAIL(none, &st.spec, &st, 1, "cannot open: No such file or directory");
    EXPECT_READ_FAIL(t.dir, &st.spec, &st, 1, "not a regular file");
    snprintf(want, sizeof want, "truncated: expected at least 64 bytes, found 0");
    CHECK(write_all(none, "", 0));
    EXPECT_READ_FAIL(none, &st.spec, &st, 1, want);
    state_free(&st);
    rm_tree(t.dir);
}

/* ---- safetensors ------------------------------------------------------- */

static uint16_t bf16_of_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return bf16_from_float(f);
}

TEST(ckpt_bf16_rounds_to_nearest_even) {
    CHECK_EQ_INT(bf16_of_bits(0x3f800000u), 0x3f80);   /* 1.0 exact */
    CHECK_EQ_INT(bf16_of_bits(0x3f808000u), 0x3f80);   /* tie, even below */
    CHECK_EQ_INT(bf16_of_bits(0x3f818000u), 0x3f82);   /* tie, even above */
    CHECK_EQ_INT(bf16_of_bits(0x3f808001u), 0x3f81);   /* just above the tie */
    CHECK_EQ_INT(bf16_of_bits(0x3f817fffu), 0x3f81);   /* just below the tie */
    CHECK_EQ_INT(bf16_of_bits(0xc0200000u), 0xc020);   /* -2.5 */
    CHECK_EQ_INT(bf16_of_bits(0x80000000u), 0x8000);   /* -0 */
    CHECK_EQ_INT(bf16_of_bits(0x000116c2u), 0x0001);   /* denormal */
    CHECK_EQ_INT(bf16_of_bits(0x7f7fffffu), 0x7f80);   /* FLT_MAX overflows to inf */
    CHECK_EQ_INT(bf16_of_bits(0x7f7f7fffu), 0x7f7f);   /* the largest that does not */
    CHECK_EQ_INT(bf16_of_bits(0xff800000u), 0xff80);   /* -inf */
    CHECK_EQ_INT(bf16_of_bits(0x7fc00000u), 0x7fc0);   /* quiet NaN */
    CHECK_EQ_INT(bf16_of_bits(0x7f800001u), 0x7fc0);   /* NaN whose payload is all rounded off */
    CHECK_EQ_INT(bf16_of_bits(0xffffffffu), 0xffff);   /* NaN with all bits set */
    CHECK_EQ_INT(bf16_from_float(3.14159265f), 0x4049);
}

/* Params for the test model with known values at the start of lm_head_w
 * (fp32) and embed1.weight (bf16). */
static const uint32_t probe_bits[] = {0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f808001u,
                                      0x80000000u, 0x7f7fffffu, 0x7fc00000u, 0x7f800001u};
static const uint16_t probe_bf16[] = {0x3f80, 0x3f80, 0x3f82, 0x3f81,
                                      0x8000, 0x7f80, 0x7fc0, 0x7fc0};
#define NPROBE 8

static float *probe_params(const ModelSpec *s, size_t *count, size_t *embed_at) {
    ParamTensor p[PARAMS_MAX];
    int n = params_list(s, p);
    *count = (size_t)ckpt_param_count(s);
    float *x = malloc(*count * sizeof *x);
    fill(x, *count, 5);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(p[i].name, "embed1.weight")) *embed_at = off;
        off += (size_t)p[i].numel;
    }
    memcpy(x, probe_bits, sizeof probe_bits);
    memcpy(x + *embed_at, probe_bits, sizeof probe_bits);
    return x;
}

/* Checks the file against params_list and the source values: header
 * length, JSON entries in order, data size and every stored element. */
static void check_safetensors_file(const char *path, const ModelSpec *s, const float *x,
                                   bool all_fp32) {
    size_t n = 0;
    unsigned char *b = read_all(path, &n);
    CHECK(b && n > 8);
    if (!b || n <= 8) {
        free(b);
        return;
    }
    uint64_t hlen = le64(b);
    CHECK_EQ_INT(hlen % 8, 0);
    CHECK(8 + hlen <= n);
    char *json = strndup((const char *)b + 8, (size_t)hlen);
    CHECK(json[0] == '{');
    char *close = strrchr(json, '}');
    CHECK(close && strspn(close + 1, " ") == strlen(close + 1));
    ParamTensor p[PARAMS_MAX];
    int nt = params_list(s, p);
    const char *pos = json;
    uint64_t off = 0;
    size_t src = 0;
    const unsigned char *data = b + 8 + hlen;
    for (int i = 0; i < nt; i++) {
        bool bf = !all_fp32 && p[i].dtype == DTYPE_BF16;
        uint64_t end = off + (uint64_t)p[i].numel * (bf ? 2 : 4);
        char want[256], shape[64] = "";
        for (int d = 0; d < p[i].ndim; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "," : "",
                     (long long)p[i].shape[d]);
        snprintf(want, sizeof want, "\"%.63s\":{\"dtype\":\"%s\",\"shape\":[%.63s],"
                 "\"data_offsets\":[%llu,%llu]}", p[i].name, bf ? "BF16" : "F32", shape,
                 (unsigned long long)off, (unsigned long long)end);
        const char *hit = strstr(pos, want);
        if (!hit) test_fail(__FILE__, __LINE__, want);
        else pos = hit + strlen(want);
        for (int64_t k = 0; k < p[i].numel && 8 + hlen + end <= n; k++) {
            const unsigned char *e = data + off + (uint64_t)k * (bf ? 2 : 4);
            uint32_t got = bf ? (uint32_t)(e[0] | e[1] << 8)
                              : (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 |
                                    (uint32_t)e[3] << 24;
            uint32_t expect;
            memcpy(&expect, &x[src + (size_t)k], 4);
            if (bf) expect = bf16_from_float(x[src + (size_t)k]);
            if (got != expect) {
                test_fail(__FILE__, __LINE__, p[i].name);
                break;
            }
        }
        src += (size_t)p[i].numel;
        off = end;
    }
    CHECK(strstr(pos, "\"__metadata__\":{\"format\":\"pt\",\"source\":\"gptc\",\"gptc.version\":") != NULL);
    CHECK(strstr(pos, "\"gptc.step\":\"0\",\"gptc.spec\":\"{\\\"description\\\": ") != NULL);
    CHECK_EQ_INT(n, 8 + hlen + off);
    free(json);
    free(b);
}

/* Two specs are the same model when they differ at most in the file they
 * were read from. */
static bool same_model(const ModelSpec *a, const ModelSpec *b) {
    ModelSpec x = *a, y = *b;
    memset(x.source, 0, sizeof x.source);
    memset(y.source, 0, sizeof y.source);
    return !memcmp(&x, &y, sizeof x);
}

/* The export carries its model: the metadata's spec rebuilds the same
 * ModelSpec, and the step is the checkpoint's. */
TEST(ckpt_export_carries_the_model) {
    Tmp t;
    ModelSpec s, back;
    const char *sets[] = {"input_embeddings.tables=3", "skips.pairs=[[0, 2]]", "train.seed=77"};
    CHECK(tmp_make(&t) && load_spec(&t, sets, 3, &s));
    size_t count = 0, embed_at = 0;
    float *x = probe_params(&s, &count, &embed_at);
    const char *path = at(&t, "model.safetensors");
    char err[1024] = "";
    CHECK(safetensors_write(path, &s, 4321, x, count, false, NULL, err, sizeof err));
    char *spec = safetensors_metadata(path, SAFETENSORS_SPEC_KEY, err, sizeof err);
    char *step = safetensors_metadata(path, "gptc.step", err, sizeof err);
    CHECK(spec && step);
    if (step) CHECK_STR(step, "4321");
    CHECK(spec && spec_load_flat(path, spec, strlen(spec), NULL, 0, &back));
    CHECK(same_model(&s, &back));
    /* --set applies on top of the carried spec, as on a model file. */
    const char *longer[] = {"train.steps=99"};
    CHECK(spec && spec_load_flat(path, spec, strlen(spec), longer, 1, &back));
    CHECK_EQ_INT(back.train.steps, 99);
    free(spec);
    free(step);

    CHECK(!safetensors_metadata(path, "gptc.nothing", err, sizeof err));
    char want[1200];
    snprintf(want, sizeof want, "%s: no metadata 'gptc.nothing' (was it written by gptc export?)", path);
    CHECK_STR(err, want);
    const char *bad = at(&t, "bad.safetensors");
    diag_set_stream(NULL);
    CHECK(write_all(bad, "\x10\0\0\0\0\0\0\0{\"a\": [1, 2}    ", 24));
    CHECK(!safetensors_metadata(bad, SAFETENSORS_SPEC_KEY, err, sizeof err));
    CHECK(strstr(err, "its header is not valid JSON") != NULL);
    CHECK(write_all(bad, "\xff\xff\xff\xff\0\0\0\0{}", 10));
    CHECK(!safetensors_metadata(bad, SAFETENSORS_SPEC_KEY, err, sizeof err));
    CHECK(strstr(err, "not a safetensors file (a header of 4294967295 bytes in a file of 10)") != NULL);
    diag_set_stream(stderr);
    diag_reset();
    free(x);
    rm_tree(t.dir);
}

/* Every shipped model survives the trip through its flat JSON. */
TEST(ckpt_spec_json_round_trip_every_model) {
    DIR *d = opendir("models");
    CHECK(d != NULL);
    int checked = 0;
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n < 6 || strcmp(e->d_name + n - 5, ".yaml")) continue;
        char path[512], *text = NULL;
        size_t len = 0;
        snprintf(path, sizeof path, "models/%s", e->d_name);
        ModelSpec a, b;
        CHECK(spec_load(path, NULL, 0, &a));
        FILE *f = open_memstream(&text, &len);
        spec_json(f, &a, false);
        fclose(f);
        CHECK(spec_load_flat("flat.json", text, len, NULL, 0, &b));
        if (!same_model(&a, &b)) test_fail(__FILE__, __LINE__, path);
        free(text);
        checked++;
    }
    if (d) closedir(d);
    CHECK(checked >= 12);
    diag_reset();
}

TEST(ckpt_safetensors_layout_and_values) {
    Tmp t;
    ModelSpec s;
    CHECK(tmp_make(&t) && load_spec(&t, NULL, 0, &s));
    size_t count = 0, embed_at = 0;
    float *x = probe_params(&s, &count, &embed_at);
    const char *path = at(&t, "model.safetensors");
    char err[1024] = "";
    uint64_t bytes = 0;
    CHECK(safetensors_write(path, &s, 0, x, count, false, &bytes, err, sizeof err));
    CHECK_STR(err, "");
    CHECK(!exists(at(&t, "model.safetensors.tmp")));
    check_safetensors_file(path, &s, x, false);

    /* The known values, read straight from the file. */
    size_t n = 0;
    unsigned char *b = read_all(path, &n);
    CHECK_EQ_INT(n, bytes);
    const unsigned char *data = b + 8 + le64(b);
    ParamTensor p[PARAMS_MAX];
    params_list(&s, p);
    CHECK(!strcmp(p[0].name, "lm_head_w") && p[0].dtype == DTYPE_FP32);
    CHECK(!memcmp(data, probe_bits, sizeof probe_bits)); /* fp32 as is */
    /* embed1.weight follows lm_head_w [40,16] and scalars [18], in fp32. */
    CHECK_EQ_INT(embed_at, 40 * 16 + 18);
    const unsigned char *e = data + embed_at * 4;
    for (int i = 0; i < NPROBE; i++) CHECK_EQ_INT(e[2 * i] | e[2 * i + 1] << 8, probe_bf16[i]);
    free(b);

    CHECK(safetensors_write(path, &s, 0, x, count, true, &bytes, err, sizeof err));
    check_safetensors_file(path, &s, x, true);
    CHECK_EQ_INT(bytes % 8, 0); /* 8 + padded header + 4-byte elements, 7554 of them */

    char want[512];
    CHECK(!safetensors_write(path, &s, 0, x, count - 1, false, NULL, err, sizeof err));
    snprintf(want, sizeof want, "%s: %zu parameters given, the model's 13 tensors hold %zu",
             path, count - 1, count);
    CHECK_STR(err, want);
    free(x);
    rm_tree(t.dir);
}

/* ---- gptc export ------------------------------------------------------- */

/* Runs cmd_export with stdout and stderr captured into `out`. */
static int run_export(const char *const *args, int n, char *out, size_t cap) {
    char *argv[8];
    for (int i = 0; i < n; i++) argv[i] = (char *)args[i];
    return test_capture(cmd_export, n, argv, out, cap, NULL, 0);
}

static bool same_file(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    unsigned char *x = read_all(a, &na), *y = read_all(b, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

TEST(ckpt_export_command) {
    Tmp t;
    State st;
    CHECK(tmp_make(&t) && state_make(&t, &st));
    const char *ckpt = at(&t, "ckpt.bin"), *out = at(&t, "model.safetensors");
    const char *direct = at(&t, "direct.safetensors");
    char err[1024], text[4096], want[1024];
    CHECK(ckpt_write(ckpt, &st.spec, &st.meta, st.a, 3, err, sizeof err));

    const char *ok[] = {ckpt, "-o", out};
    CHECK_EQ_INT(run_export(ok, 3, text, sizeof text), 0);
    uint64_t bytes = 0;
    CHECK(safetensors_write(direct, &st.spec, st.meta.step, st.a[0].data, st.nparams, false, &bytes, err,
                            sizeof err));
    CHECK(same_file(out, direct));
    snprintf(want, sizeof want, "wrote %s: 13 tensors, 7554 parameters (6896 bf16, 658 fp32), "
             "%llu bytes, from %s\n", out, (unsigned long long)bytes, ckpt);
    CHECK_STR(text, want);

    const char *fp32[] = {"--fp32", ckpt, "--output", out, "--quiet"};
    CHECK_EQ_INT(run_export(fp32, 5, text, sizeof text), 0);
    CHECK_STR(text, "");
    CHECK(safetensors_write(direct, &st.spec, st.meta.step, st.a[0].data, st.nparams, true, NULL, err,
                            sizeof err));
    CHECK(same_file(out, direct));

    const char *help[] = {"--help"};
    CHECK_EQ_INT(run_export(help, 1, text, sizeof text), 0);
    const char *usage_line = "Usage: gptc export CHECKPOINT -o FILE.safetensors";
    CHECK(!strncmp(text, usage_line, strlen(usage_line)));

    struct {
        const char *args[4];
        int n;
        const char *want;
    } usage[] = {
        {{""}, 0, "gptc export: no checkpoint given\n"},
        {{ckpt}, 1, "gptc export: no output given (-o FILE.safetensors)\n"},
        {{ckpt, "-o"}, 2, "gptc export: -o needs a file name\n"},
        {{ckpt, "--bf16", "-o", out}, 4, "gptc export: unknown option '--bf16'\n"},
        {{ckpt, ckpt, "-o", out}, 4, NULL},
        {{ckpt, "-o", ckpt}, 3, NULL},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        CHECK_EQ_INT(run_export(usage[i].args, usage[i].n, text, sizeof text), 2);
        CHECK(strstr(text, "Try 'gptc export --help'.\n") != NULL);
        if (usage[i].want) CHECK(!strncmp(text, usage[i].want, strlen(usage[i].want)));
    }

    /* Bad checkpoints: exit 2 with the reader's message. */
    const char *bad = at(&t, "bad.bin");
    CHECK(write_all(bad, "not a checkpoint", 16));
    const char *badargs[] = {bad, "-o", out};
    CHECK_EQ_INT(run_export(badargs, 3, text, sizeof text), 2);
    snprintf(want, sizeof want, "gptc export: %s: not a gptc checkpoint (bad magic)\n", bad);
    CHECK_STR(text, want);
    CHECK(ckpt_write(bad, &st.spec, &st.meta, st.a + 1, 2, err, sizeof err));
    CHECK_EQ_INT(run_export(badargs, 3, text, sizeof text), 2);
    snprintf(want, sizeof want, "gptc export: %s: no array named 'params' (it holds: adam_m, "
             "momentum_buffer_31_chars_long__)\n", bad);
    CHECK_STR(text, want);
    CkptArray shortp = st.a[0];
    shortp.count = 100;
    CHECK(ckpt_write(bad, &st.spec, &st.meta, &shortp, 1, err, sizeof err));
    CHECK_EQ_INT(run_export(badargs, 3, text, sizeof text), 2);
    snprintf(want, sizeof want, "gptc export: %s: the params array holds 100 floats, its model "
             "needs 7554 (damaged checkpoint)\n", bad);
    CHECK_STR(text, want);

    /* An output that cannot be written: exit 1. */
    const char *nowhere = at(&t, "missing/model.safetensors");
    const char *noargs[] = {ckpt, "-o", nowhere};
    CHECK_EQ_INT(run_export(noargs, 3, text, sizeof text), 1);
    snprintf(want, sizeof want, "gptc export: %s: cannot create %s.tmp: No such file or "
             "directory\n", nowhere, nowhere);
    CHECK_STR(text, want);
    state_free(&st);
    rm_tree(t.dir);
}

/* ---- the PyTorch check ------------------------------------------------- */

#define PYTHON "/usr/bin/python3"
#define CHECKER "tests/reference/check_safetensors.py"

static void write_manifest(const char *path, const ModelSpec *s, bool all_fp32) {
    FILE *f = fopen(path, "w");
    ParamTensor p[PARAMS_MAX];
    int n = params_list(s, p);
    for (int i = 0; f && i < n; i++) {
        fprintf(f, "%s %s", p[i].name, !all_fp32 && p[i].dtype == DTYPE_BF16 ? "BF16" : "F32");
        for (int d = 0; d < p[i].ndim; d++) fprintf(f, " %lld", (long long)p[i].shape[d]);
        fputc('\n', f);
    }
    if (f) fclose(f);
}

static void ckpt_safetensors_torch(void) {
    if (access(CHECKER, R_OK) != 0) {
        test_fail(__FILE__, __LINE__, CHECKER " not found: run the tests from the repository root");
        return;
    }
    Tmp t;
    ModelSpec s;
    CHECK(tmp_make(&t) && load_spec(&t, NULL, 0, &s));
    size_t count = 0, embed_at = 0;
    float *x = probe_params(&s, &count, &embed_at);
    const char *raw = at(&t, "params.f32");
    CHECK(write_all(raw, x, count * sizeof *x));
    for (int fp32 = 0; fp32 < 2; fp32++) {
        const char *st = at(&t, "model.safetensors"), *man = at(&t, "manifest.txt");
        char err[1024], cmd[2048];
        CHECK(safetensors_write(st, &s, 0, x, count, fp32, NULL, err, sizeof err));
        write_manifest(man, &s, fp32);
        snprintf(cmd, sizeof cmd, PYTHON " " CHECKER " %s %s %s > %s 2>&1", st, raw, man,
                 at(&t, "python.txt"));
        int rc = system(cmd);
        size_t n = 0;
        unsigned char *o = read_all(at(&t, "python.txt"), &n);
        bool passed = rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
        if (!passed) {
            fprintf(stderr, "%.*s", (int)n, o ? (const char *)o : "");
            test_fail(__FILE__, __LINE__, fp32 ? "check_safetensors.py (--fp32)"
                                               : "check_safetensors.py");
        }
        free(o);
    }
    free(x);
    rm_tree(t.dir);
}

/* Registered only where PyTorch is importable, so that a machine without
 * it shows the test as skipped rather than passed (under CI: failed).
 * find_spec looks for the package without importing it, which keeps this
 * probe to a few tens of milliseconds at start-up. */
__attribute__((constructor)) static void ckpt_safetensors_torch_register(void) {
    int rc = system(PYTHON " -c \"import importlib.util, sys; "
                    "sys.exit(importlib.util.find_spec('torch') is None)\" >/dev/null 2>&1");
    if (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0)
        test_register("ckpt_safetensors_torch", ckpt_safetensors_torch);
    else
        test_register_missing("ckpt_safetensors_torch",
                              "no torch for " PYTHON " (make test-deps installs Debian's python3-torch)");
}
