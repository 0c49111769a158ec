/*
 * test_train.c: the training loop's handling of a non-finite loss. No
 * valid model produces one on demand (the softcap and the norms keep the
 * recipe's models finite), so an executor wraps ref and poisons the loss
 * from a chosen step on: the run must stop with status 1 and leave the last
 * good checkpoint, which must load. The rest of the loop is tested end to
 * end by tests/run-train.sh.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "ckpt.h"
#include "data.h"
#include "ref.h"
#include "test.h"
#include "train.h"
#include "validate.h"

#define NAN_STEP 7

static double poisoned_forward(void *m, const int *in, const int *tgt, int T, int step, bool val) {
    double loss = ref_forward(m, in, tgt, T, step, val);
    return !val && step >= NAN_STEP ? NAN : loss;
}

static void write_shard(const char *path, int n, int vocab) {
    uint16_t *tok = malloc(sizeof(uint16_t) * (size_t)n);
    for (int i = 0; i < n; i++) tok[i] = (uint16_t)((i * 7 + i / 13) % vocab);
    char err[256];
    CHECK(shard_write(path, tok, n, err, sizeof err));
    free(tok);
}

TEST(train_stops_on_nan_and_keeps_the_checkpoint) {
    char dir[] = "/tmp/gptc-test-train-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char yaml[4096], train[4200], val[4200], run[4200], ckpt[4300];
    snprintf(train, sizeof train, "%s/d_train_000001.bin", dir);
    snprintf(val, sizeof val, "%s/d_val_000000.bin", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", run);
    write_shard(train, 4000, 50);
    write_shard(val, 1000, 50);
    snprintf(yaml, sizeof yaml, "%s/m.yaml", dir);
    FILE *f = fopen(yaml, "w");
    fprintf(f, "vocab: {size: 50, eot: 49, pad_multiple: 8}\n"
               "model: {layers: 2, dim: 16, heads: 2}\n"
               "attention: {window: {block_size: 8, max_tokens: 16}}\n"
               "value_embeddings: {tables: 1}\n"
               "train: {ranks: 1, tokens_per_rank: 32, steps: 20,\n"
               "        val: {interval: 5, tokens: 64, tokens_per_rank: 32},\n"
               "        data: {train: '%s/d_train_*.bin', val: '%s/d_val_*.bin'}}\n",
            dir, dir);
    fclose(f);
    ModelSpec s;
    CHECK(spec_load(yaml, NULL, 0, &s));
    Backend be;
    char err[512];
    CHECK(backend_open(&be, "ref", &s, train_max_tokens(&s), err, sizeof err));
    be.forward = poisoned_forward;
    TrainOptions o = {.run_dir = run, .backend = "ref"};
    CHECK_EQ_INT(train_with(&s, &o, &be), 1);
    /* The last validation before the NaN was at step 5: its checkpoint. */
    CHECK(ckpt_read_spec(ckpt, &s, err, sizeof err));
    size_t count = 0;
    float *params = ckpt_read_array(ckpt, "params", &count, err, sizeof err);
    CHECK(params != NULL);
    bool finite = params != NULL;
    for (size_t i = 0; params && i < count; i++) finite &= isfinite(params[i]) != 0;
    CHECK(finite);
    free(params);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "grep -q '^step:5/20 val_loss' %s/train.log && "
                              "! grep -q '^step:%d/20' %s/train.log",
             run, NAN_STEP + 1, run);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    diag_reset();
}
