/*
 * fuzz_shard.c: libFuzzer target for the token-shard loader (data.h), used
 * as `gptc train` uses it.
 *
 * Each input is the loader's settings, then one shard file:
 *   byte 0      ranks - 1, mod 4
 *   byte 1      T - 1, mod 64 (tokens per rank)
 *   bytes 2-3   vocabulary size - 1, little-endian (1 to 65536)
 *   byte 4      the shard of a saved data position (signed)
 *   bytes 5-8   its token (signed, little-endian)
 *   bytes 9..   the shard
 * data_open checks the shard. When it accepts it, the target seeks to the
 * saved position as a resumed run does, then walks the epoch from the
 * start as training does, taking every rank's batch at every step. Besides
 * never crashing, leaking, hanging or allocating without bound, the loader
 * must keep its promises: a message starts with the file's path (or says
 * which data position), an accepted file is exactly the header and its
 * count of tokens, every batch holds the file's tokens at the position the
 * loader reports (targets one token on), each below the vocabulary, every
 * position it stands at seeks back, and the walk ends.
 *
 * Seeds (--seeds=DIR): shards written by shard_write, each with settings
 * that the loader accepts.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/data/data.h"
#include "compiler/util/fsutil.h"
#include "tests/fuzz/fuzz.h"

#define SETTINGS 9
#define HEADER_BYTES (SHARD_HEADER_INTS * 4)
#define MAX_T 64

typedef struct {
    int ranks, T, vocab;
    DataPos saved;
} Settings;

static FuzzFile in;

static Settings settings(const uint8_t *p) {
    uint32_t pos = (uint32_t)p[5] | (uint32_t)p[6] << 8 | (uint32_t)p[7] << 16 |
                   (uint32_t)p[8] << 24;
    int32_t spos;
    memcpy(&spos, &pos, sizeof spos);
    return (Settings){.ranks = 1 + p[0] % 4,
                      .T = 1 + p[1] % MAX_T,
                      .vocab = 1 + (p[2] | p[3] << 8),
                      .saved = {.shard = (int8_t)p[4], .pos = spos}};
}

static unsigned token_at(const uint8_t *shard, int64_t i) {
    const uint8_t *p = shard + HEADER_BYTES + 2 * i;
    return p[0] | (unsigned)p[1] << 8;
}

static void check_message(const char *what, const char *err, const char *start) {
    if (strncmp(err, start, strlen(start)))
        fuzz_fail("%s: the message does not start with '%s': %s", what, start, err);
}

/* Every rank's slice of the batch the loader stands at. */
static void check_batch(DataLoader *d, const Settings *c, const uint8_t *shard) {
    int inputs[MAX_T], targets[MAX_T];
    DataPos at = data_tell(d);
    for (int r = 0; r < c->ranks; r++) {
        data_batch(d, r, c->T, inputs, targets);
        for (int i = 0; i < c->T; i++) {
            int64_t k = at.pos + (int64_t)r * c->T + i;
            if (inputs[i] != (int)token_at(shard, k) || targets[i] != (int)token_at(shard, k + 1))
                fuzz_fail("rank %d, token %d of the batch at %lld is not the file's", r, i,
                          (long long)at.pos);
            if (inputs[i] >= c->vocab || targets[i] >= c->vocab)
                fuzz_fail("a token at %lld is not below the vocabulary %d", (long long)k,
                          c->vocab);
        }
    }
}

/* The loader on the file in `in`; true when data_open accepted it. */
static bool load(const Settings *c, const uint8_t *shard, size_t size) {
    char err[1024];
    DataLoader *d = data_open(in.path, (int64_t)c->ranks * c->T, c->vocab, err, sizeof err);
    if (!d) {
        check_message("data_open", err, in.path);
        return false;
    }
    int64_t len = data_shard_tokens(d, 0);
    if (data_num_shards(d) != 1 || data_total_tokens(d) != len || size != HEADER_BYTES + 2 * (size_t)len)
        fuzz_fail("accepted a shard of %zu bytes as %lld tokens", size, (long long)len);
    if (!data_seek(d, c->saved, err, sizeof err)) check_message("data_seek", err, "data position: ");
    else check_batch(d, c, shard);
    data_rewind(d);
    int64_t steps = 0, total = data_batches_total(d);
    do {
        DataPos at = data_tell(d);
        if (!data_seek(d, at, err, sizeof err)) fuzz_fail("the loader stood where it cannot seek: %s", err);
        check_batch(d, c, shard);
        /* The count the trainer checks before step 1 is the walk's own. */
        if (data_batches_left(d) != total - steps)
            fuzz_fail("at batch %lld of %lld, data_batches_left says %lld", (long long)steps,
                      (long long)total, (long long)data_batches_left(d));
        if (++steps > len) fuzz_fail("the walk over %lld tokens does not end", (long long)len);
    } while (data_advance(d));
    if (steps != total) fuzz_fail("the walk took %lld batches; data_batches_total says %lld", (long long)steps,
                                  (long long)total);
    if (data_advance(d)) fuzz_fail("data_advance went on after the end");
    data_wrap(d);
    if (data_tell(d).pos != 0 || data_tell(d).epoch != 1 || data_batches_left(d) != total)
        fuzz_fail("data_wrap did not start a second pass at the first batch");
    data_close(d);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < SETTINGS) return 0;
    Settings c = settings(data);
    fuzz_file_put(&in, data + SETTINGS, size - SETTINGS);
    load(&c, data + SETTINGS, size - SETTINGS);
    return 0;
}

/* ---- seeds ------------------------------------------------------------- */

/* A shard of n tokens (each below vocab) behind settings the loader takes. */
static void write_seed(const char *dir, const char *name, int ranks, int T, int vocab,
                       DataPos saved, int64_t n) {
    uint16_t *tokens = malloc((size_t)n * sizeof *tokens);
    if (!tokens) fuzz_fail("out of memory");
    for (int64_t i = 0; i < n; i++) tokens[i] = (uint16_t)((i * 7919 + i / 5) % vocab);
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s.shard", dir, name);
    if (!shard_write(path, tokens, n, err, sizeof err)) fuzz_fail("%s", err);
    free(tokens);
    size_t len;
    char *shard = fs_read(path, &len);
    if (!shard) fuzz_fail("%s: cannot read back", path);
    unlink(path);
    uint8_t *b = malloc(SETTINGS + len);
    if (!b) fuzz_fail("out of memory");
    uint32_t v = (uint32_t)(vocab - 1), pos = (uint32_t)saved.pos;
    uint8_t head[SETTINGS] = {(uint8_t)(ranks - 1), (uint8_t)(T - 1), (uint8_t)v,
                              (uint8_t)(v >> 8), (uint8_t)saved.shard, (uint8_t)pos,
                              (uint8_t)(pos >> 8), (uint8_t)(pos >> 16), (uint8_t)(pos >> 24)};
    memcpy(b, head, SETTINGS);
    memcpy(b + SETTINGS, shard, len);
    free(shard);
    Settings c = settings(b);
    fuzz_file_put(&in, b + SETTINGS, len);
    if (!load(&c, b + SETTINGS, len)) fuzz_fail("%s: the seed is refused", name);
    fuzz_seed_file(dir, name, b, SETTINGS + len);
    free(b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fuzz_file_open(&in);
    const char *dir = fuzz_seed_dir(*argc, *argv);
    if (!dir) return 0;
    /* Bytes with EOT (257) over several batches, resumed mid-shard; GPT-2's
     * vocabulary on one rank; and the fewest tokens one batch allows. */
    write_seed(dir, "bytes", 2, 8, 257, (DataPos){0, 32, 0}, 300);
    write_seed(dir, "gpt2", 1, 16, 50257, (DataPos){0, 0, 0}, 100);
    write_seed(dir, "smallest", 4, 4, 65536, (DataPos){0, 0, 0}, 4 * 4 + 2);
    exit(0);
}
