/*
 * fuzz_ckpt.c: libFuzzer target for the checkpoint reader (ckpt.h), used
 * as `gptc train --resume` and `gptc export` use it.
 *
 * Each input is one checkpoint file. Before the reader sees it, its last 8
 * bytes become the CRC-64 of the bytes before them: a checkpoint ends with
 * that checksum, and without the repair nearly every mutation would stop
 * there, so the checks behind it (the stored ModelSpec, the meta, the array
 * table, the arrays) would never run. The checksum's own check is covered
 * by tests/unit/test_ckpt.c and tests/run-train.sh.
 *
 * Then every reader runs on it: ckpt_read_spec; ckpt_read_array for each of
 * the trainer's array names; ckpt_read into those arrays against the stored
 * model and against another one (the layout comparison and its message);
 * and, when the params fit the stored model, the safetensors export. Besides
 * never crashing, leaking, hanging or allocating without bound, the readers
 * must keep their promises: every message starts with the file's path, a
 * refused ckpt_read leaves the caller's arrays and meta untouched, and an
 * accepted one gives the same floats as ckpt_read_array.
 *
 * Seeds (--seeds=DIR): checkpoints of two small models written by
 * ckpt_write. Writing them also checks that a checkpoint still ends with
 * the CRC-64 of everything before it, so that this target says so when the
 * format moves the checksum rather than quietly fuzzing the header alone.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/train/ckpt.h"
#include "runtime/train/ckpt_spec.h"
#include "runtime/util/crc64.h"
#include "compiler/util/fsutil.h"
#include "tests/fuzz/fuzz.h"
#include "runtime/train/safetensors.h"
#include "compiler/lang/validate.h"

/* The model a resumed run reads into; its checkpoints are seeds. */
static const char model_a[] =
    "vocab: {size: 16, eot: 15, pad_multiple: 8}\n"
    "model: {layers: 3, dim: 8, heads: 1, mlp_hidden: 16}\n"
    "attention: {off_layers: [1], window: {block_size: 8, max_tokens: 16}}\n"
    "value_embeddings: {tables: 1}\n"
    "input_embeddings: {tables: 2}\n"
    "skips: {pairs: [[0, 2]]}\n"
    "train: {ranks: 1, tokens_per_rank: 16, steps: 2,\n"
    "        val: {tokens: 16, tokens_per_rank: 16}}\n";

/* Another model, so that some seeds differ from the one read into. */
static const char model_b[] =
    "description: another model\n"
    "vocab: {size: 12, eot: 11, pad_multiple: 4}\n"
    "model: {layers: 2, dim: 8, heads: 2, mlp_hidden: 8}\n"
    "attention: {window: {block_size: 8, max_tokens: 8}}\n"
    "value_embeddings: {tables: 0}\n"
    "input_embeddings: {tables: 1}\n"
    "skips: {pairs: []}\n"
    "train: {ranks: 1, tokens_per_rank: 8, steps: 2,\n"
    "        val: {tokens: 8, tokens_per_rank: 8}}\n";

/* The arrays gptc train writes (train.c, optim.c), in its order. */
static const char *const names[] = {"params", "adam_m", "adam_v", "muon_momentum"};
#define NNAMES 4

static FuzzFile in;
static ModelSpec model;

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static bool load_model(const char *yaml, ModelSpec *s) {
    YDoc doc;
    bool ok = ytree_parse("fuzz.yaml", yaml, strlen(yaml), &doc) &&
              spec_validate(doc.root, "fuzz.yaml", s);
    ytree_free(&doc);
    diag_reset();
    return ok;
}

static void check_message(const char *what, const char *err) {
    size_t n = strlen(in.path);
    if (strncmp(err, in.path, n) || strncmp(err + n, ": ", 2))
        fuzz_fail("%s: the message does not start with the path: %s", what, err);
}

static void free_arrays(CkptArray *a, int n) {
    for (int i = 0; i < n; i++) free(a[i].data);
}

/* ckpt_read against `s` into fresh buffers shaped like `whole`, which
 * ckpt_read_array gave; true when it accepted the file. */
static bool read_into(const ModelSpec *s, const CkptArray *whole, int n) {
    CkptArray a[NNAMES];
    CkptMeta meta, before;
    memset(&meta, 0x5a, sizeof meta);
    before = meta;
    for (int i = 0; i < n; i++) {
        size_t bytes = whole[i].count * sizeof(float);
        a[i] = (CkptArray){whole[i].name, malloc(bytes ? bytes : 1), whole[i].count};
        if (!a[i].data) fuzz_fail("out of memory");
        memset(a[i].data, 0xab, bytes);
    }
    char err[1024];
    bool ok = ckpt_read(in.path, s, &meta, a, n, err, sizeof err);
    for (int i = 0; i < n; i++) {
        size_t bytes = a[i].count * sizeof(float);
        const unsigned char *p = (const unsigned char *)a[i].data;
        if (ok && memcmp(a[i].data, whole[i].data, bytes))
            fuzz_fail("ckpt_read and ckpt_read_array disagree on '%s'", a[i].name);
        for (size_t k = 0; !ok && k < bytes; k++)
            if (p[k] != 0xab) fuzz_fail("a refused ckpt_read wrote into '%s'", a[i].name);
    }
    if (!ok) {
        check_message("ckpt_read", err);
        if (memcmp(&meta, &before, sizeof meta)) fuzz_fail("a refused ckpt_read wrote the meta");
    }
    free_arrays(a, n);
    return ok;
}

/* What gptc export does once the checkpoint is read. The file goes to a
 * folder of its own, made and removed here (the export writes PATH.tmp
 * beside PATH, so it needs a real folder), in /dev/shm when there is one. */
static void export(const ModelSpec *s, const CkptArray *params) {
    int64_t need = ckpt_param_count(s);
    if (need < 0 || (uint64_t)need != params->count) return;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    char dir[512], path[600], err[1024];
    snprintf(dir, sizeof dir, "%s/gptc-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) fuzz_fail("cannot make a folder like %s", dir);
    snprintf(path, sizeof path, "%s/params.safetensors", dir);
    if (!safetensors_write(path, s, 0, params->data, params->count, false, NULL, err, sizeof err))
        fuzz_fail("the export of a checkpoint that fits its model failed: %s", err);
    unlink(path);
    rmdir(dir);
}

/* Every reader on the file in `in`; true when all of them accepted it. */
static bool read_checkpoint(void) {
    ModelSpec stored;
    CkptMeta head;
    char err[1024];
    if (!ckpt_read_head(in.path, &stored, &head, err, sizeof err)) {
        check_message("ckpt_read_head", err);
        return false;
    }
    char *history = ckpt_read_history(in.path, err, sizeof err);
    if (!history) check_message("ckpt_read_history", err);
    else if (strlen(history) > CKPT_MAX_HISTORY) fuzz_fail("a run history over its bound");
    free(history);
    CkptArray whole[NNAMES];
    int n = 0;
    for (int i = 0; i < NNAMES; i++) {
        size_t count = 0;
        float *x = ckpt_read_array(in.path, names[i], &count, err, sizeof err);
        if (x) whole[n++] = (CkptArray){names[i], x, count};
        else check_message("ckpt_read_array", err);
    }
    if (n && !strcmp(whole[0].name, "params")) export(&stored, &whole[0]);
    bool ok = read_into(&stored, whole, n);
    read_into(&model, whole, n);
    free_arrays(whole, n);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned char *b = malloc(size ? size : 1);
    if (!b) fuzz_fail("out of memory");
    memcpy(b, data, size);
    if (size >= 8) put_u64(b + size - 8, crc64_update(CRC64_INIT, b, size - 8));
    fuzz_file_put(&in, b, size);
    free(b);
    read_checkpoint();
    return 0;
}

/* ---- seeds ------------------------------------------------------------- */

static void write_seed(const char *dir, const char *name, const ModelSpec *s, const size_t *counts,
                       int n) {
    CkptArray a[NNAMES];
    for (int i = 0; i < n; i++) {
        a[i] = (CkptArray){names[i], malloc((counts[i] + 1) * sizeof(float)), counts[i]};
        if (!a[i].data) fuzz_fail("out of memory");
        for (size_t k = 0; k < counts[i]; k++) a[i].data[k] = (float)(k % 97) / 64 - 0.75f;
    }
    CkptMeta meta = {.step = 2, .data = {.shard = 0, .pos = 16}, .train_time = 1.5, .nranks = 1,
                     .threads = 2, .executor = "ref", .data_tokens = 4096, .data_shards = 1,
                     .history = "{\"kind\": \"run\", \"event\": \"start\"}\n"};
    rng_seed(&meta.rng, 7);
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (!ckpt_write(path, s, &meta, a, n, err, sizeof err)) fuzz_fail("%s", err);
    free_arrays(a, n);
    size_t len;
    unsigned char *b = (unsigned char *)fs_read(path, &len);
    if (!b) fuzz_fail("%s: cannot read back", path);
    if (len < 8 || get_u64(b + len - 8) != crc64_update(CRC64_INIT, b, len - 8))
        fuzz_fail("%s does not end with the CRC-64 of the bytes before it: the checkpoint format "
                  "has changed, and %s must change with it", path, __FILE__);
    fuzz_file_put(&in, b, len);
    free(b);
    if (!read_checkpoint()) fuzz_fail("%s: the seed is refused", path);
}

static void write_seeds(const char *dir) {
    ModelSpec other;
    if (!load_model(model_b, &other)) fuzz_fail("model_b does not validate");
    size_t pa = (size_t)ckpt_param_count(&model), pb = (size_t)ckpt_param_count(&other);
    /* As the trainer writes them: Adam's state for some tensors, Muon's
     * for the rest (the exact split does not matter to the reader). */
    size_t trained[] = {pa, pa / 3, pa / 3, pa - pa / 3};
    write_seed(dir, "a-trained.ckpt", &model, trained, 4);
    write_seed(dir, "a-params.ckpt", &model, &pa, 1);
    write_seed(dir, "a-empty.ckpt", &model, NULL, 0);
    size_t small[] = {pb, 3, 0};
    write_seed(dir, "b-small.ckpt", &other, small, 3);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    diag_set_stream(NULL);
    if (!load_model(model_a, &model)) fuzz_fail("model_a does not validate");
    fuzz_file_open(&in);
    const char *dir = fuzz_seed_dir(*argc, *argv);
    if (dir) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}
