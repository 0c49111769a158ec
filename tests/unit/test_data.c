/*
 * test_data.c: the shard loader and writer (data.c), the byte tokenizer
 * (tokenize.c) and `gptc data` (cmd_data.c).
 *
 * Loader: a write/read round trip; the slices of 1 and 3 ranks against
 * hand-written token lists; the recipe's shard switch (pos + B + 1 >= len,
 * leftover dropped) at its boundary; exhaustion, rewind, tell and seek; the
 * order a data seed gives; and
 * every bad input, each with its message. Tokenizer: EOT placement and the
 * paragraph splitter. Command: the val/train split by documents and by
 * fraction, documents spilling over train shards, stale shards, a single
 * document, inputs named twice, train documents that repeat val ones (and
 * the set of texts that finds them, textset.c), and every refusal with its
 * message and exit status.
 *
 * Files live in a fresh mkdtemp directory per test, removed at its end.
 * Shard tokens are small numbers chosen so a slice shows where it came from
 * (token = position, or 100 + position in a second shard).
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cmd_data.h"
#include "runtime/data/data.h"
#include "tests/unit/test.h"
#include "runtime/data/textset.h"
#include "runtime/data/tokenize.h"

/* ---- helpers ---- */

static char terr[1024];     

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* A shard of n tokens first, first + 1, ... */
static void write_seq(const char *name, int n, int first) {
    uint16_t *t = malloc(sizeof *t * (size_t)n);
    for (int i = 0; i < n; i++) t[i] = (uint16_t)(first + i);
    if (!shard_write(tmp_path(name), t, n, terr, sizeof terr)) test_fail(__FILE__, __LINE__, terr);
    free(t);
}

/* A raw file: header fields magic, version, count, then n tokens 0..n-1,
 * then `extra` bytes of 0. */
static void write_raw(const char *name, int32_t magic, int32_t version, int32_t count, int n,
                      int extra) {
    FILE *f = fopen(tmp_path(name), "wb");
    int32_t head[SHARD_HEADER_INTS] = {magic, version, count};
    fwrite(head, sizeof head, 1, f);
    for (int i = 0; i < n; i++) {
        uint16_t t = (uint16_t)(i % 200);
        fwrite(&t, 2, 1, f);
    }
    for (int i = 0; i < extra; i++) fputc(0, f);
    fclose(f);
}

/* Opens tdir/pattern; NULL with the message in terr. */
static DataLoader *open_in(const char *pattern, int64_t batch, int vocab) {
    terr[0] = 0;
    return data_open(tmp_path(pattern), batch, vocab, terr, sizeof terr);
}

/* Checks rank r's slice of the current batch against tokens want[0..T]. */
static void check_slice(int line, DataLoader *d, int rank, int T, const int *want) {
    int in[64], tg[64];
    data_batch(d, rank, T, in, tg);
    for (int i = 0; i < T; i++) {
        if (in[i] != want[i] || tg[i] != want[i + 1]) {
            char m[160];
            snprintf(m, sizeof m, "rank %d token %d: input %d target %d, expected %d %d", rank, i,
                     in[i], tg[i], want[i], want[i + 1]);
            test_fail(__FILE__, line, m);
            return;
        }
    }
}
#define CHECK_SLICE(d, rank, T, ...)                                                    \
    do {                                                                                \
        const int want_[] = {__VA_ARGS__};                                              \
        check_slice(__LINE__, (d), (rank), (T), want_);                                 \
    } while (0)

/* The first input token of the current batch: where the loader stands. */
static int first_token(DataLoader *d) {
    int in[1], tg[1];
    data_batch(d, 0, 1, in, tg);
    return in[0];
}

/* ---- loader ---- */

TEST(data_round_trip) {
    tmp_setup("data");
    uint16_t t[300];
    for (int i = 0; i < 300; i++) t[i] = (uint16_t)((i * 7919) % 50257);
    CHECK(shard_write(tmp_path("a_000000.bin"), t, 300, terr, sizeof terr));
    CHECK(!exists(tmp_path("a_000000.bin.tmp")));
    struct stat st;
    CHECK(stat(tmp_path("a_000000.bin"), &st) == 0);
    CHECK_EQ_INT(st.st_size, 1024 + 2 * 300);
    /* The bytes themselves: little-endian header and tokens. */
    FILE *f = fopen(tmp_path("a_000000.bin"), "rb");
    unsigned char raw[1024 + 600];
    CHECK_EQ_INT(fread(raw, 1, sizeof raw, f), sizeof raw);
    fclose(f);
    CHECK_EQ_INT(raw[0] | raw[1] << 8 | raw[2] << 16 | raw[3] << 24, 20240520);
    CHECK_EQ_INT(raw[4], 1);
    CHECK_EQ_INT(raw[8] | raw[9] << 8, 300);
    CHECK_EQ_INT(raw[1024 + 2 * 5] | raw[1024 + 2 * 5 + 1] << 8, t[5]);

    DataLoader *d = open_in("a_*.bin", 298, 50257);
    CHECK(d);
    if (d) {
        CHECK_EQ_INT(data_total_tokens(d), 300);
        CHECK_EQ_INT(data_num_shards(d), 1);
        CHECK_EQ_INT(data_shard_tokens(d, 0), 300);
        CHECK_HAS(data_shard_path(d, 0), "a_000000.bin");
        CHECK(data_shard_path(d, 1) == NULL);
        int in[298], tg[298];
        data_batch(d, 0, 298, in, tg);
        bool same = true;
        for (int i = 0; i < 298; i++) same &= in[i] == t[i] && tg[i] == t[i + 1];
        CHECK(same);
        CHECK(!data_advance(d));
        data_close(d);
    }
    tmp_cleanup();
}

TEST(data_empty_shard_round_trip) {
    tmp_setup("data");
    CHECK(shard_write(tmp_path("e.bin"), NULL, 0, terr, sizeof terr));
    struct stat st;
    CHECK(stat(tmp_path("e.bin"), &st) == 0 && st.st_size == 1024);
    /* A valid file, but it holds no batch. */
    CHECK(!open_in("e.bin", 1, 257));
    CHECK_HAS(terr, "0 tokens are too few for one batch of 1");
    tmp_cleanup();
}

TEST(data_shard_write_errors) {
    tmp_setup("data");
    uint16_t t[4] = {1, 2, 3, 4};
    CHECK(!shard_write(tmp_path("missing/dir/x.bin"), t, 4, terr, sizeof terr));
    CHECK_HAS(terr, "missing/dir/x.bin: cannot create ");
    CHECK_HAS(terr, "missing/dir/x.bin.tmp: No such file or directory");
    CHECK(!shard_write(tmp_path("x.bin"), t, -1, terr, sizeof terr));
    CHECK_HAS(terr, "x.bin: -1 tokens do not fit one shard");
    CHECK(!exists(tmp_path("x.bin")) && !exists(tmp_path("x.bin.tmp")));
    /* Rewriting replaces the old file whole. */
    CHECK(shard_write(tmp_path("x.bin"), t, 4, terr, sizeof terr));
    CHECK(shard_write(tmp_path("x.bin"), t, 2, terr, sizeof terr));
    struct stat st;
    CHECK(stat(tmp_path("x.bin"), &st) == 0 && st.st_size == 1024 + 4);
    tmp_cleanup();
}

/* One rank, T = 4 (B = 4), one shard of 14 tokens 0..13: batches at pos 0,
 * 4, 8 (8 + 5 < 14); pos 12 fails the rule, so three batches. */
TEST(data_batches_one_rank) {
    tmp_setup("data");
    write_seq("s_1.bin", 14, 0);
    DataLoader *d = open_in("s_*.bin", 4, 257);
    CHECK(d);
    if (d) {
        CHECK_SLICE(d, 0, 4, 0, 1, 2, 3, 4);
        CHECK(data_advance(d));
        CHECK_SLICE(d, 0, 4, 4, 5, 6, 7, 8);
        CHECK(data_advance(d));
        CHECK_SLICE(d, 0, 4, 8, 9, 10, 11, 12);
        CHECK(!data_advance(d));
        data_close(d);
    }
    tmp_cleanup();
}

/* Three ranks, T = 3 (B = 9), one shard of 30 tokens: rank r reads
 * tokens[pos + 3r, pos + 3r + 4). Batches at pos 0, 9, 18 (18 + 10 < 30);
 * pos 27 fails. */
TEST(data_batches_three_ranks) {
    tmp_setup("data");
    write_seq("s_1.bin", 30, 0);
    DataLoader *d = open_in("s_*.bin", 9, 257);
    CHECK(d);
    if (d) {
        CHECK_SLICE(d, 0, 3, 0, 1, 2, 3);
        CHECK_SLICE(d, 1, 3, 3, 4, 5, 6);
        CHECK_SLICE(d, 2, 3, 6, 7, 8, 9);
        CHECK(data_advance(d));
        CHECK_SLICE(d, 0, 3, 9, 10, 11, 12);
        CHECK_SLICE(d, 1, 3, 12, 13, 14, 15);
        CHECK_SLICE(d, 2, 3, 15, 16, 17, 18);
        CHECK(data_advance(d));
        CHECK_SLICE(d, 0, 3, 18, 19, 20, 21);
        CHECK_SLICE(d, 1, 3, 21, 22, 23, 24);
        CHECK_SLICE(d, 2, 3, 24, 25, 26, 27);
        CHECK_EQ_INT(data_tell(d).pos, 18);
        CHECK(!data_advance(d));
        data_close(d);
    }
    tmp_cleanup();
}

/* B = 4. Shard 1 has 13 tokens: pos 8 would read [8, 13), ending exactly at
 * the end, and the recipe's >= skips it, so shard 1 gives pos 0 and 4 and
 * drops 8..12. Shard 2 (tokens 100..) has 14 and gives 0, 4, 8. Shard 3 has
 * exactly B + 2 = 6, the least that gives one batch. */
TEST(data_shard_switch) {
    tmp_setup("data");
    write_seq("s_000001.bin", 13, 0);
    write_seq("s_000002.bin", 14, 100);
    write_seq("s_000003.bin", 6, 200);
    DataLoader *d = open_in("s_*.bin", 4, 257);
    CHECK(d);
    if (d) {
        CHECK_EQ_INT(data_num_shards(d), 3);
        CHECK_EQ_INT(data_total_tokens(d), 33);
        int want[][2] = {{0, 0}, {0, 4}, {1, 0}, {1, 4}, {1, 8}, {2, 0}};
        int firsts[] = {0, 4, 100, 104, 108, 200};
        for (int k = 0; k < 6; k++) {
            DataPos p = data_tell(d);
            CHECK_EQ_INT(p.shard, want[k][0]);
            CHECK_EQ_INT(p.pos, want[k][1]);
            CHECK_EQ_INT(first_token(d), firsts[k]);
            CHECK_EQ_INT(data_advance(d), k < 5);
        }
        CHECK_SLICE(d, 0, 4, 200, 201, 202, 203, 204);
        data_close(d);
    }
    tmp_cleanup();
}

/* Files are taken in sorted order whatever order they were made in. */
TEST(data_sorted_glob) {
    tmp_setup("data");
    write_seq("s_000002.bin", 6, 100);
    write_seq("s_000001.bin", 6, 0);
    DataLoader *d = open_in("s_*.bin", 4, 257);
    CHECK(d);
    if (d) {
        CHECK_EQ_INT(first_token(d), 0);
        CHECK(data_advance(d));
        CHECK_EQ_INT(first_token(d), 100);
        data_close(d);
    }
    tmp_cleanup();
}

TEST(data_exhaustion_and_rewind) {
    tmp_setup("data");
    write_seq("s_1.bin", 10, 0);  /* pos 0, 4 */
    write_seq("s_2.bin", 10, 100); /* pos 0, 4 */
    DataLoader *d = open_in("s_*.bin", 4, 257);
    CHECK(d);
    if (d) {
        int n = 1;
        while (data_advance(d)) n++;
        CHECK_EQ_INT(n, 4);
        /* Exhausted: it stays on the last batch and keeps saying so. */
        CHECK(!data_advance(d));
        CHECK_EQ_INT(data_tell(d).shard, 1);
        CHECK_EQ_INT(data_tell(d).pos, 4);
        CHECK_EQ_INT(first_token(d), 104);
        data_rewind(d);
        CHECK_EQ_INT(data_tell(d).shard, 0);
        CHECK_EQ_INT(data_tell(d).pos, 0);
        CHECK_SLICE(d, 0, 4, 0, 1, 2, 3, 4);
        /* The second walk is the same as the first. */
        n = 1;
        while (data_advance(d)) n++;
        CHECK_EQ_INT(n, 4);
        data_close(d);
    }
    tmp_cleanup();
}

TEST(data_tell_seek) {
    tmp_setup("data");
    write_seq("s_1.bin", 10, 0);
    write_seq("s_2.bin", 14, 100);
    DataLoader *d = open_in("s_*.bin", 4, 257);
    CHECK(d);
    if (d) {
        data_advance(d);
        data_advance(d);
        data_advance(d);
        DataPos p = data_tell(d);
        CHECK_EQ_INT(p.shard, 1);
        CHECK_EQ_INT(p.pos, 4);
        data_rewind(d);
        CHECK(data_seek(d, p, terr, sizeof terr));
        CHECK_SLICE(d, 0, 4, 104, 105, 106, 107, 108);
        /* The walk goes on from there as it would have. */
        CHECK(data_advance(d));
        CHECK_EQ_INT(first_token(d), 108);
        CHECK(!data_advance(d));

        /* Positions that no walk over these shards reaches. */
        CHECK(!data_seek(d, (DataPos){2, 0, 0}, terr, sizeof terr));
        CHECK_HAS(terr, "shard 2 does not exist (there are 2)");
        CHECK(!data_seek(d, (DataPos){-1, 0, 0}, terr, sizeof terr));
        CHECK_HAS(terr, "shard -1 does not exist");
        CHECK(!data_seek(d, (DataPos){1, 6, 0}, terr, sizeof terr));
        CHECK_HAS(terr, "token 6 of ");
        CHECK_HAS(terr, "s_2.bin is not a batch start (batches are 4 tokens");
        CHECK(!data_seek(d, (DataPos){1, -4, 0}, terr, sizeof terr));
        CHECK_HAS(terr, "token -4 of");
        CHECK(!data_seek(d, (DataPos){0, 8, 0}, terr, sizeof terr));
        CHECK_HAS(terr, "s_1.bin leaves no room for a batch (the shard holds 10");
        /* A refused seek leaves the loader where it was. */
        CHECK_EQ_INT(data_tell(d).shard, 1);
        CHECK_EQ_INT(data_tell(d).pos, 8);
        data_close(d);
    }
    tmp_cleanup();
}

/* The first tokens of one epoch's batches, in the order the walk gives
 * them; their count. */
static int walk_firsts(DataLoader *d, int *firsts) {
    int n = 0;
    do firsts[n++] = first_token(d);
    while (data_advance(d));
    return n;
}

/* A data seed reorders the batches within each shard and nothing else:
 * every batch once per epoch, shards in order, the same order for the same
 * seed (after a seek, too), another for another seed or another epoch, and
 * seed 0 is the recipe's walk. */
TEST(data_shuffle_order) {
    tmp_setup("data");
    write_seq("s_1.bin", 42, 0);   /* batches at 0, 4, ..., 36: ten */
    write_seq("s_2.bin", 22, 100); /* batches at 0, 4, ..., 16: five */
    DataLoader *d = open_in("s_*.bin", 4, 257);
    CHECK(d);
    if (d) {
        int plain[32], a[32], b[32], other[32], again[32];
        CHECK_EQ_INT(walk_firsts(d, plain), 15);
        data_rewind(d);
        data_shuffle(d, 7);
        CHECK_EQ_INT(walk_firsts(d, a), 15);
        bool moved = false, same_set = true;
        for (int i = 0; i < 15; i++) {
            moved |= a[i] != plain[i];
            bool found = false;
            for (int j = 0; j < 15; j++) found |= a[j] == plain[i];
            same_set &= found;
            if (i < 10) same_set &= a[i] < 100; /* the first shard's batches first */
        }
        CHECK(moved);
        CHECK(same_set);
        /* A resume: seek to the fourth batch, and the walk goes on as before. */
        data_rewind(d);
        for (int i = 0; i < 3; i++) data_advance(d);
        DataPos p = data_tell(d);
        DataLoader *e = open_in("s_*.bin", 4, 257);
        data_shuffle(e, 7);
        CHECK(data_seek(e, p, terr, sizeof terr));
        CHECK_EQ_INT(walk_firsts(e, b), 12);
        CHECK(!memcmp(b, a + 3, sizeof(int) * 12));
        /* Another seed, another order; another epoch, another order. */
        data_rewind(e);
        data_shuffle(e, 8);
        walk_firsts(e, other);
        CHECK(memcmp(other, a, sizeof(int) * 15) != 0);
        data_rewind(d);
        data_wrap(d);
        walk_firsts(d, again);
        CHECK(memcmp(again, a, sizeof(int) * 15) != 0);
        /* Seed 0: the recipe's order again. */
        data_rewind(d);
        data_shuffle(d, 0);
        walk_firsts(d, other);
        CHECK(!memcmp(other, plain, sizeof(int) * 15));
        data_close(e);
        data_close(d);
    }
    tmp_cleanup();
}

/* ---- bad shards: every one refused at open, with the file named ---- */

TEST(data_bad_magic_and_version) {
    tmp_setup("data");
    write_raw("m.bin", 12345, 1, 10, 10, 0);
    CHECK(!open_in("m.bin", 4, 257));
    CHECK_HAS(terr, "/m.bin: not a token shard: the magic number is 12345, expected 20240520");
    write_raw("v.bin", SHARD_MAGIC, 2, 10, 10, 0);
    CHECK(!open_in("v.bin", 4, 257));
    CHECK_HAS(terr, "/v.bin: shard version 2 is not supported (expected 1)");
    tmp_cleanup();
}

TEST(data_bad_sizes) {
    tmp_setup("data");
    /* The recipe's example: one token missing at the end. */
    write_raw("t.bin", SHARD_MAGIC, 1, 1000, 999, 0);
    CHECK(!open_in("t.bin", 4, 257));
    CHECK_HAS(terr, "/t.bin: the header says 1000 tokens but the file holds 999 (truncated?)");
    write_raw("odd.bin", SHARD_MAGIC, 1, 10, 9, 1);
    CHECK(!open_in("odd.bin", 4, 257));
    CHECK_HAS(terr, "the header says 10 tokens but the file holds 9 and a stray byte (truncated?)");
    /* A count far beyond the file is refused before it is used for anything. */
    write_raw("big.bin", SHARD_MAGIC, 1, INT32_MAX, 10, 0);
    CHECK(!open_in("big.bin", 4, 257));
    CHECK_HAS(terr, "the header says 2147483647 tokens but the file holds 10 (truncated?)");
    write_raw("neg.bin", SHARD_MAGIC, 1, -5, 10, 0);
    CHECK(!open_in("neg.bin", 4, 257));
    CHECK_HAS(terr, "/neg.bin: the header's token count is negative (-5)");
    write_raw("extra.bin", SHARD_MAGIC, 1, 10, 12, 0);
    CHECK(!open_in("extra.bin", 4, 257));
    CHECK_HAS(terr,
              "the header says 10 tokens but the file holds 12 (extra bytes after the tokens?)");
    /* Shorter than the header itself. */
    FILE *f = fopen(tmp_path("short.bin"), "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    CHECK(!open_in("short.bin", 4, 257));
    CHECK_HAS(terr, "/short.bin: the file is 3 bytes, too short for the 1024-byte shard header");
    f = fopen(tmp_path("zero.bin"), "wb");
    fclose(f);
    CHECK(!open_in("zero.bin", 4, 257));
    CHECK_HAS(terr, "/zero.bin: the file is 0 bytes");
    tmp_cleanup();
}

TEST(data_bad_token_id) {
    tmp_setup("data");
    uint16_t t[10] = {1, 2, 3, 4, 5, 256, 300, 7, 8, 9};
    CHECK(shard_write(tmp_path("id.bin"), t, 10, terr, sizeof terr));
    CHECK(!open_in("id.bin", 4, 257));
    CHECK_HAS(terr, "/id.bin: token 6 is 300, not below the vocabulary size 257");
    /* 256 is fine for 257 and not for 256: the bound is strict. */
    CHECK(!open_in("id.bin", 4, 256));
    CHECK_HAS(terr, "token 5 is 256, not below the vocabulary size 256");
    t[6] = 0;
    CHECK(shard_write(tmp_path("id.bin"), t, 10, terr, sizeof terr));
    DataLoader *d = open_in("id.bin", 4, 257);
    CHECK(d);
    data_close(d);
    tmp_cleanup();
}

TEST(data_too_few_tokens) {
    tmp_setup("data");
    write_seq("s_1.bin", 100, 0);
    write_seq("s_2.bin", 5, 0); /* B + 1: one short of what the recipe needs */
    CHECK(!open_in("s_*.bin", 4, 257));
    CHECK_HAS(terr,
              "/s_2.bin: 5 tokens are too few for one batch of 4: the loader needs at least 6");
    tmp_cleanup();
}

TEST(data_bad_files) {
    tmp_setup("data");
    CHECK(!open_in("none_*.bin", 4, 257));
    CHECK_HAS(terr, "/none_*.bin: no file matches this pattern");
    CHECK(!open_in("plain.bin", 4, 257));
    CHECK_HAS(terr, "/plain.bin: no file matches this pattern");
    /* A dangling link matches the glob but cannot be opened (as root too). */
    CHECK(symlink(tmp_path("nowhere.bin"), tmp_path("l_1.bin")) == 0);
    CHECK(!open_in("l_*.bin", 4, 257));
    CHECK_HAS(terr, "/l_1.bin: cannot open: No such file or directory");
    if (geteuid() != 0) { /* root reads files whatever their mode */
        write_seq("p_1.bin", 10, 0);
        chmod(tmp_path("p_1.bin"), 0);
        CHECK(!open_in("p_*.bin", 4, 257));
        CHECK_HAS(terr, "/p_1.bin: cannot open: Permission denied");
    }
    CHECK(mkdir(tmp_path("d_1.bin"), 0755) == 0);
    CHECK(!open_in("d_*.bin", 4, 257));
    CHECK_HAS(terr, "/d_1.bin: is a directory, not a token shard");
    CHECK(!open_in("s_*.bin", 0, 257));
    CHECK_HAS(terr, "bad loader settings (batch 0 tokens, vocabulary 257)");
    tmp_cleanup();
}

/* ---- tokenizer ---- */

TEST(tokenize_eot_first) {
    uint16_t out[8];
    CHECK_EQ_INT(tokenize_document("hi\n\xff", 4, out), 5);
    CHECK_EQ_INT(out[0], BYTE_EOT);
    CHECK_EQ_INT(out[1], 'h');
    CHECK_EQ_INT(out[2], 'i');
    CHECK_EQ_INT(out[3], '\n');
    CHECK_EQ_INT(out[4], 255); /* bytes are unsigned */
    CHECK_EQ_INT(tokenize_document("", 0, out), 1);
    CHECK_EQ_INT(out[0], 256);
    CHECK_EQ_INT(BYTE_VOCAB, 257);
}

/* Splits text into paragraphs joined by '|' for comparison. */
static void paragraphs(const char *text, char *out, size_t cap) {
    size_t pos = 0, start, len, n = 0;
    out[0] = 0;
    while (next_paragraph(text, strlen(text), &pos, &start, &len))
        n += (size_t)snprintf(out + n, cap - n, "%s%.*s", n ? "|" : "", (int)len, text + start);
}

TEST(tokenize_paragraphs) {
    char got[256];
    paragraphs("one\ntwo\n\nthree\n", got, sizeof got);
    CHECK(!strcmp(got, "one\ntwo|three"));
    paragraphs("\n\n  \nfirst\n \t \n\n\nsecond", got, sizeof got);
    CHECK(!strcmp(got, "first|second"));
    paragraphs("a\r\n\r\nb\r\n", got, sizeof got);
    CHECK(!strcmp(got, "a\r|b\r"));
    paragraphs("  indented\n  more\n", got, sizeof got);
    CHECK(!strcmp(got, "  indented\n  more"));
    paragraphs("", got, sizeof got);
    CHECK(!strcmp(got, ""));
    paragraphs("\n \n", got, sizeof got);
    CHECK(!strcmp(got, ""));
}

/* ---- gptc data ---- */

static char cout[8192], cerr[8192]; /* the command's stdout and stderr */
#define run_data(...) test_run(cmd_data, cout, sizeof cout, cerr, sizeof cerr, __VA_ARGS__)

static void write_text(const char *name, const char *text) {
    FILE *f = fopen(tmp_path(name), "wb");
    fputs(text, f);
    fclose(f);
}

/* The tokens of shard tdir/name as text: EOT as '#', so "#ab#cd" is two
 * documents. Empty when the file is missing. */
static void shard_text(const char *name, char *out, size_t cap) {
    unsigned char buf[4096];
    out[0] = 0;
    FILE *f = fopen(tmp_path(name), "rb");
    if (!f) return;
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    size_t k = 0;
    for (size_t i = 1024; i + 1 < n && k + 1 < cap; i += 2) {
        unsigned t = buf[i] | buf[i + 1] << 8;
        out[k++] = t == BYTE_EOT ? '#' : (char)t;
    }
    out[k] = 0;
}

TEST(cmd_data_files_val_docs) {
    tmp_setup("data");
    write_text("a.txt", "alpha\n");
    write_text("b.txt", "beta\n\ngamma\n");
    int rc = run_data("@a.txt", "@b.txt", "-o", "@out", "--name", "t", "--val-docs", "1", NULL);
    CHECK_EQ_INT(rc, 0);
    char s[512];
    shard_text("out/t_val_000000.bin", s, sizeof s);
    CHECK(!strcmp(s, "#alpha\n"));
    shard_text("out/t_train_000001.bin", s, sizeof s);
    CHECK(!strcmp(s, "#beta\n\ngamma\n")); /* a whole file is one document */
    CHECK_HAS(cout, "2 documents, 20 tokens");
    CHECK_HAS(cout, "val:   1 document, 7 tokens in 1 shard");
    CHECK_HAS(cout, "train: 1 document, 13 tokens in 1 shard");
    CHECK_EQ_INT(cerr[0], 0);
    /* The shards open with the loader at the tiny model's vocabulary. */
    DataLoader *d = open_in("out/t_train_*.bin", 4, BYTE_VOCAB);
    CHECK(d);
    data_close(d);
    tmp_cleanup();
}

/* --paragraphs and --val-fraction: 4 documents of 4 tokens each (16 in
 * all); 0.3 asks for ceil(4.8) = 5 tokens, so val takes whole documents
 * until it holds 5 or more: two of them. */
TEST(cmd_data_paragraphs_fraction) {
    tmp_setup("data");
    write_text("p.txt", "aaa\n\nbbb\n\n\nccc\n  \nddd\n");
    int rc = run_data("@p.txt", "-o", "@out", "--name", "p", "--paragraphs", "--val-fraction",
                      "0.3", "--quiet", NULL);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(cout[0], 0); /* --quiet */
    char s[512];
    shard_text("out/p_val_000000.bin", s, sizeof s);
    CHECK(!strcmp(s, "#aaa#bbb"));
    shard_text("out/p_train_000001.bin", s, sizeof s);
    CHECK(!strcmp(s, "#ccc#ddd"));
    /* 0.25 asks for exactly 4: one document. */
    rc = run_data("@p.txt", "-o", "@out", "--name", "q", "--paragraphs", "--val-fraction=0.25",
                  NULL);
    CHECK_EQ_INT(rc, 0);
    shard_text("out/q_val_000000.bin", s, sizeof s);
    CHECK(!strcmp(s, "#aaa"));
    shard_text("out/q_train_000001.bin", s, sizeof s);
    CHECK(!strcmp(s, "#bbb#ccc#ddd"));
    tmp_cleanup();
}

/* Train shards of 5 tokens: the stream "#bbb#ccc#ddd" (12 tokens) is cut
 * at 5 and 10, documents continuing across the cuts. */
TEST(cmd_data_shard_spill) {
    tmp_setup("data");
    write_text("p.txt", "aaa\n\nbbb\n\nccc\n\nddd\n");
    int rc = run_data("@p.txt", "-o", "@out/deep", "--name", "s", "--paragraphs", "--val-docs",
                      "1", "--shard-tokens", "5", NULL);
    CHECK_EQ_INT(rc, 0);
    char s[512];
    shard_text("out/deep/s_val_000000.bin", s, sizeof s);
    CHECK(!strcmp(s, "#aaa"));
    shard_text("out/deep/s_train_000001.bin", s, sizeof s);
    CHECK(!strcmp(s, "#bbb#"));
    shard_text("out/deep/s_train_000002.bin", s, sizeof s);
    CHECK(!strcmp(s, "ccc#d"));
    shard_text("out/deep/s_train_000003.bin", s, sizeof s);
    CHECK(!strcmp(s, "dd"));
    CHECK(!exists(tmp_path("out/deep/s_train_000004.bin")));
    CHECK_HAS(cout, "train: 3 documents, 12 tokens in 3 shards: ");
    CHECK_HAS(cout, "s_train_000001.bin .. s_train_000003.bin");

    /* A shorter rerun removes the shards the glob would still pick up. */
    rc = run_data("@p.txt", "-o", "@out/deep", "--name", "s", "--paragraphs", "--val-docs", "0",
                  "--shard-tokens", "100", NULL);
    CHECK_EQ_INT(rc, 0);
    shard_text("out/deep/s_train_000001.bin", s, sizeof s);
    CHECK(!strcmp(s, "#aaa#bbb#ccc#ddd"));
    CHECK(!exists(tmp_path("out/deep/s_train_000002.bin")));
    CHECK(!exists(tmp_path("out/deep/s_train_000003.bin")));
    CHECK(!exists(tmp_path("out/deep/s_val_000000.bin"))); /* it now overlaps train */
    CHECK_HAS(cout, "val:   none");
    CHECK_HAS(cout, "removed 3 stale shards of an earlier run");
    tmp_cleanup();
}

TEST(cmd_data_usage_errors) {
    tmp_setup("data");
    write_text("a.txt", "alpha\n");
    CHECK_EQ_INT(run_data("--help", NULL), 0);
    CHECK_HAS(cout, "Usage: gptc data TEXT... -o DIR");
    CHECK_EQ_INT(run_data("-o", "@out", NULL), 2);
    CHECK_HAS(cerr, "gptc data: no input files given\nTry 'gptc data --help'.");
    CHECK_EQ_INT(run_data("@a.txt", NULL), 2);
    CHECK_HAS(cerr, "no output directory given (-o DIR)");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "", NULL), 2);
    CHECK_HAS(cerr, "no output directory given (-o DIR)");
    CHECK_EQ_INT(run_data("@a.txt", "-o", NULL), 2);
    CHECK_HAS(cerr, "-o needs a directory");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--bogus", NULL), 2);
    CHECK_HAS(cerr, "unknown option '--bogus'");
    CHECK_EQ_INT(
        run_data("@a.txt", "-o", "@out", "--val-docs", "1", "--val-fraction", "0.1", NULL), 2);
    CHECK_HAS(cerr, "give --val-docs or --val-fraction, not both");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--val-fraction", "1", NULL), 2);
    CHECK_HAS(cerr, "--val-fraction expects a number from 0 up to (not including) 1, found '1'");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--val-docs", "-1", NULL), 2);
    CHECK_HAS(cerr, "--val-docs expects a whole number from 0 up, found '-1'");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--shard-tokens", "0", NULL), 2);
    CHECK_HAS(cerr, "--shard-tokens expects a whole number from 1 to 2147483647, found '0'");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--shard-tokens", "12x", NULL), 2);
    CHECK_HAS(cerr, "--shard-tokens expects a whole number from 1 to 2147483647, found '12x'");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--name", "a/b", NULL), 2);
    CHECK_HAS(cerr, "--name expects a file name prefix without '/', found 'a/b'");
    CHECK(!exists(tmp_path("out"))); /* nothing made on bad usage */
    tmp_cleanup();
}

TEST(cmd_data_input_errors) {
    tmp_setup("data");
    write_text("a.txt", "alpha\n");
    write_text("b.txt", "beta\n");
    write_text("blank.txt", "\n  \n");
    CHECK_EQ_INT(run_data("@a.txt", "@missing.txt", "-o", "@out", NULL), 2);
    CHECK_HAS(cerr, "/missing.txt: cannot open: No such file or directory");
    CHECK(mkdir(tmp_path("dir.txt"), 0755) == 0);
    CHECK_EQ_INT(run_data("@dir.txt", "-o", "@out", NULL), 2);
    CHECK_HAS(cerr, "/dir.txt: is a directory, not a text file");
    CHECK_EQ_INT(run_data("@blank.txt", "-o", "@out", "--paragraphs", NULL), 2);
    CHECK_HAS(cerr, "the input holds no documents (only blank lines?)");
    CHECK_EQ_INT(run_data("@a.txt", "@b.txt", "-o", "@out", "--val-docs", "2", NULL), 2);
    CHECK_HAS(cerr, "--val-docs 2 leaves nothing to train on: the input holds 2 documents");
    /* Two documents of 7 and 6 tokens; val-fraction 0.9 wants 12 tokens: both. */
    CHECK_EQ_INT(run_data("@a.txt", "@b.txt", "-o", "@out", "--val-fraction", "0.9", NULL), 2);
    CHECK_HAS(cerr, "the val share takes every document; nothing is left to train on (without "
                    "--paragraphs each file is one document; --paragraphs cuts files into one "
                    "per paragraph)");
    CHECK(!exists(tmp_path("out/data_val_000000.bin"))); /* a refused split writes nothing */
    /* Val must fit one shard: 2 docs of 7 and 6 tokens, val 1 doc of 7 > 6. */
    CHECK_EQ_INT(run_data("@a.txt", "@b.txt", "-o", "@out", "--val-docs", "1", "--shard-tokens",
                          "6", NULL), 2);
    CHECK_HAS(cerr, "the val share needs more than --shard-tokens 6 tokens");
    CHECK(!exists(tmp_path("out/data_val_000000.bin")));
    /* An output directory that cannot be made: a file is in the way. */
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@a.txt/sub", "--val-fraction", "0", NULL), 2);
    CHECK_HAS(cerr, "/a.txt: cannot create the output directory: ");
    CHECK_EQ_INT(run_data("@a.txt", "@b.txt", "-o", "@a.txt", NULL), 2);
    CHECK_HAS(cerr,
              "/a.txt: cannot create the output directory: a file of that name is in the way");
    tmp_cleanup();
}

/* One input without --paragraphs is one document: a val share cannot be cut
 * from it, and the error says how to get more documents; without a val
 * share it trains, with a note. */
TEST(cmd_data_one_document) {
    tmp_setup("data");
    write_text("a.txt", "alpha\n\nbeta\n");
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", NULL), 2);
    CHECK_HAS(cerr, "gptc data: the input is one document (without --paragraphs each file is "
                    "one), so the val share (--val-fraction 0.1) leaves nothing to train on; add "
                    "--paragraphs to cut it into one per paragraph, or give --val-fraction 0 for "
                    "no validation\n");
    CHECK(!exists(tmp_path("out"))); /* refused before anything is made */
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--val-docs", "1", NULL), 2);
    CHECK_HAS(cerr, "--val-docs 1 leaves nothing to train on: the input holds 1 document "
                    "(without --paragraphs");

    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--val-fraction", "0", NULL), 0);
    CHECK_HAS(cerr, "gptc data: note: the input is one document: without --paragraphs each file "
                    "is one; --paragraphs would cut it into one per paragraph\n");
    char t[512];
    shard_text("out/data_train_000001.bin", t, sizeof t);
    CHECK(!strcmp(t, "#alpha\n\nbeta\n"));
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--val-fraction", "0", "--quiet", NULL), 0);
    CHECK_EQ_INT(cerr[0], 0);

    /* --paragraphs: two documents, a split, no note. */
    CHECK_EQ_INT(run_data("@a.txt", "-o", "@out", "--paragraphs", "--val-docs", "1", NULL), 0);
    CHECK_EQ_INT(cerr[0], 0);
    /* One paragraph: one document still, and nothing to add about --paragraphs. */
    write_text("one.txt", "alpha\n");
    CHECK_EQ_INT(run_data("@one.txt", "-o", "@out", "--paragraphs", NULL), 2);
    CHECK_HAS(cerr, "the input is one document, so the val share (--val-fraction 0.1) leaves "
                    "nothing to train on; give --val-fraction 0 for no validation\n");
    tmp_cleanup();
}

/* A file named again, through a symbolic or hard link, or by another path,
 * is read once, with a note for each repeat. */
TEST(cmd_data_inputs_read_once) {
    tmp_setup("data");
    write_text("a.txt", "alpha\n");
    write_text("b.txt", "beta\n");
    CHECK(symlink(tmp_path("a.txt"), tmp_path("sym.txt")) == 0);
    CHECK(link(tmp_path("a.txt"), tmp_path("hard.txt")) == 0);
    CHECK(mkdir(tmp_path("sub"), 0755) == 0);
    int rc = run_data("@a.txt", "@b.txt", "@a.txt", "@sym.txt", "@hard.txt", "@sub/../a.txt", "-o",
                      "@out", "--val-docs", "1", NULL);
    CHECK_EQ_INT(rc, 0);
    CHECK_HAS(cout, "gptc data: 2 documents, 13 tokens");
    char t[512], want[PATH_MAX * 2 + 64];
    shard_text("out/data_val_000000.bin", t, sizeof t);
    CHECK(!strcmp(t, "#alpha\n"));
    shard_text("out/data_train_000001.bin", t, sizeof t);
    CHECK(!strcmp(t, "#beta\n"));
    snprintf(want, sizeof want, "gptc data: note: %s is given again; it is read once\n",
             tmp_path("a.txt"));
    CHECK_HAS(cerr, want);
    const char *same[] = {"sym.txt", "hard.txt", "sub/../a.txt"};
    for (int i = 0; i < 3; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", tmp_path(same[i]));
        snprintf(want, sizeof want,
                 "gptc data: note: %s is the same file as %s; it is read once\n", path,
                 tmp_path("a.txt"));
        CHECK_HAS(cerr, want);
    }
    /* A missing file named twice is still an error. */
    CHECK_EQ_INT(run_data("@b.txt", "@none.txt", "@none.txt", "-o", "@out", NULL), 2);
    CHECK_HAS(cerr, "/none.txt: cannot open: No such file or directory");
    tmp_cleanup();
}

/* A train document with the text of a val document is dropped and counted:
 * validation never scores text that training saw. Repeats within one
 * split stay. */
TEST(cmd_data_val_text_not_in_train) {
    tmp_setup("data");
    char t[512];
    write_text("p.txt", "aaa\n\nbbb\n\naaa\n\nccc\n\nbbb\n\nddd\n\naab\n");
    int rc = run_data("@p.txt", "-o", "@out", "--paragraphs", "--val-docs", "2", NULL);
    CHECK_EQ_INT(rc, 0);
    shard_text("out/data_val_000000.bin", t, sizeof t);
    CHECK(!strcmp(t, "#aaa#bbb"));
    shard_text("out/data_train_000001.bin", t, sizeof t);
    CHECK(!strcmp(t, "#ccc#ddd#aab")); /* "aab" differs by one byte: kept */
    CHECK_HAS(cout, "gptc data: 7 documents, 28 tokens");
    CHECK_HAS(cout, "train: 3 documents, 12 tokens in 1 shard");
    CHECK_HAS(cout, "dropped 2 train documents whose text the val shard holds\n");

    /* By fraction: 16 tokens, 0.25 asks for 4, so val is "#aaa". */
    write_text("f.txt", "aaa\n\nbbb\n\naaa\n\nccc\n");
    CHECK_EQ_INT(run_data("@f.txt", "-o", "@out", "--name", "f", "--paragraphs",
                          "--val-fraction", "0.25", NULL), 0);
    shard_text("out/f_val_000000.bin", t, sizeof t);
    CHECK(!strcmp(t, "#aaa"));
    shard_text("out/f_train_000001.bin", t, sizeof t);
    CHECK(!strcmp(t, "#bbb#ccc"));
    CHECK_HAS(cout, "dropped 1 train document whose text the val shard holds\n");

    /* Repeats inside val, or inside train, are no overlap. */
    write_text("r.txt", "aaa\n\naaa\n\nccc\n\nccc\n");
    CHECK_EQ_INT(run_data("@r.txt", "-o", "@out", "--name", "r", "--paragraphs", "--val-docs",
                          "2", NULL), 0);
    shard_text("out/r_val_000000.bin", t, sizeof t);
    CHECK(!strcmp(t, "#aaa#aaa"));
    shard_text("out/r_train_000001.bin", t, sizeof t);
    CHECK(!strcmp(t, "#ccc#ccc"));
    CHECK(!strstr(cout, "dropped"));

    /* Two files with the same text (not the same file): the second is a copy. */
    write_text("x.txt", "same\n");
    write_text("y.txt", "same\n");
    write_text("z.txt", "other\n");
    CHECK_EQ_INT(run_data("@x.txt", "@y.txt", "@z.txt", "-o", "@out", "--name", "xyz",
                          "--val-docs", "1", NULL), 0);
    shard_text("out/xyz_train_000001.bin", t, sizeof t);
    CHECK(!strcmp(t, "#other\n"));
    CHECK_HAS(cout, "dropped 1 train document");

    /* Nothing but copies after the val share: refused, nothing written. */
    write_text("c.txt", "aaa\n\nbbb\n\naaa\n\nbbb\n");
    CHECK_EQ_INT(run_data("@c.txt", "-o", "@out", "--name", "c", "--paragraphs", "--val-docs",
                          "2", NULL), 2);
    CHECK_HAS(cerr, "every document after the val share has the text of one in it; nothing is "
                    "left to train on");
    CHECK(!exists(tmp_path("out/c_val_000000.bin")));
    tmp_cleanup();
}

/* The set behind it: members by content, through growth. */
TEST(textset_members) {
    TextSet s = {0};
    CHECK(!textset_has(&s, text_key("a", 1)));
    char buf[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(buf, sizeof buf, "doc %d", i);
        CHECK(textset_add(&s, text_key(buf, (size_t)n)));
    }
    CHECK(textset_add(&s, text_key("doc 7", 5))); /* again: no second member */
    CHECK_EQ_INT(s.n, 5000);
    int found = 0;
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(buf, sizeof buf, "doc %d", i);
        found += textset_has(&s, text_key(buf, (size_t)n));
    }
    CHECK_EQ_INT(found, 5000);
    CHECK(!textset_has(&s, text_key("doc 7 ", 6)));
    CHECK(textset_has(&s, text_key("doc 7", 5)));
    CHECK(!textset_has(&s, text_key("", 0)));
    textset_free(&s);
    CHECK_EQ_INT(s.cap, 0);
}
