/*
 * test_train.c: the training loop's handling of a non-finite loss and of a
 * device executor that fails (its error() says why). No valid model
 * produces one on demand (the softcap and the norms keep the recipe's
 * models finite), so an executor wraps ref's forward and poisons the loss
 * from a chosen step on: the run must stop with status 1 and leave the last
 * good checkpoint, which must load. The rest of the loop is tested end to
 * end by tests/run-train.sh.
 */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "runtime/train/ckpt.h"
#include "runtime/data/data.h"
#include "tests/unit/test.h"
#include "runtime/train/bench_profile.h"
#include "runtime/train/train.h"
#include "compiler/lang/validate.h"

#define NAN_STEP 7

/* ref's own forward, which the executors below wrap. */
static double (*ref_forward_fn)(void *impl, const int *in, const int *tgt, int T, int step, bool val);

static double poisoned_forward(void *m, const int *in, const int *tgt, int T, int step, bool val) {
    double loss = ref_forward_fn(m, in, tgt, T, step, val);
    return !val && step >= NAN_STEP ? NAN : loss;
}

/* An executor whose device fails at NAN_STEP: the loss is NaN, as the
 * device executors return, and error() says why. */
static char device_err[64];

static double failing_forward(void *m, const int *in, const int *tgt, int T, int step, bool val) {
    double loss = ref_forward_fn(m, in, tgt, T, step, val);
    if (val || step < NAN_STEP) return loss;
    snprintf(device_err, sizeof device_err, "launch of attn_fwd: CUDA_ERROR_ILLEGAL_ADDRESS");
    return NAN;
}

static const char *failing_error(void *m) {
    (void)m;
    return device_err;
}

static void write_shard(const char *path, int n, int vocab) {
    uint16_t *tok = malloc(sizeof(uint16_t) * (size_t)n);
    for (int i = 0; i < n; i++) tok[i] = (uint16_t)((i * 7 + i / 13) % vocab);
    char err[256];
    CHECK(shard_write(path, tok, n, err, sizeof err));
    free(tok);
}

/* A run that stops at NAN_STEP, from a NaN loss or a device failure (the
 * message says which), leaves the last good checkpoint, which loads. */
static void stops_and_keeps_the_checkpoint(bool device) {
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
    ModelBuild *mb = model_build(&s, err, sizeof err);
    CHECK(mb && backend_open(&be, "ref", mb, train_max_tokens(&s), err, sizeof err));
    ref_forward_fn = be.forward;
    be.forward = device ? failing_forward : poisoned_forward;
    if (device) be.error = failing_error;
    device_err[0] = '\0';
    TrainOptions o = {.run_dir = run, .backend = "ref"};
    /* What the run says on stderr, into a file beside it. */
    char log[8192];
    snprintf(log, sizeof log, "%s/stderr.txt", dir);
    fflush(stderr);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    CHECK_EQ_INT(train_with(mb, &o, &be), 1);
    model_build_free(mb);
    fflush(stderr);
    dup2(saved, 2);
    close(saved), close(fd);
    FILE *lf = fopen(log, "r");
    size_t got = lf ? fread(log, 1, sizeof log - 1, lf) : 0;
    log[got] = '\0';
    if (lf) fclose(lf);
    CHECK_HAS(log, device ? "the training of step 8 failed: launch of attn_fwd: CUDA_ERROR_ILLEGAL_ADDRESS"
                          : "the loss is nan at step 8");
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

TEST(train_stops_on_nan_and_keeps_the_checkpoint) { stops_and_keeps_the_checkpoint(false); }
TEST(train_stops_on_a_device_failure_and_keeps_the_checkpoint) { stops_and_keeps_the_checkpoint(true); }

/* gptc bench's count of attention's useful work, against every (query, key)
 * pair tested one by one with the mask rule: tiny.yaml at three steps of
 * its window schedule (windows of 1 block and of 0 short blocks included),
 * on documents of random lengths. */
TEST(bench_attention_pairs_brute_force) {
    ModelSpec s;
    CHECK(spec_load("models/tiny.yaml", NULL, 0, &s));
    diag_reset();
    enum { T = 512 };
    int ids[T], doc[T], d = 0;
    Rng r;
    rng_seed(&r, 11);
    for (int t = 0; t < T; t++) {
        ids[t] = t == 0 || rng_uniform(&r) < 0.02 ? s.vocab.eot : 1;
        d += ids[t] == s.vocab.eot;
        doc[t] = d;
    }
    const int steps[] = {0, 600, 1200};
    for (int k = 0; k < 3; k++) {
        int lw, sw, bs = s.attn.window.block_size;
        spec_window_blocks(&s, steps[k], false, &lw, &sw);
        double want = 0;
        for (int i = 0; i < s.model.layers; i++) {
            int W = s.attn.window.long_layer[i] ? lw : sw;
            W = W < 1 ? 1 : W;
            for (int t = 0; s.model.attention[i] && t < T; t++)
                for (int key = 0; key <= t; key++) want += doc[key] == doc[t] && key / bs >= t / bs - W + 1;
        }
        CHECK(bench_attention_pairs(&s, ids, T, steps[k]) == want * s.model.heads * s.model.head_dim);
    }
}
