/*
 * cmd_eval.c: `gptc eval CKPT`: the validation loss of a checkpoint on any
 * token shards, computed as training computes it (runtime/train/train.c's
 * validate: batches of train.ranks slices of val.tokens_per_rank tokens,
 * each batch's slice losses summed in tree order, the mean over them all),
 * so that on the run's own validation data at the checkpoint's step it
 * gives the run's last val_loss to the bit.
 */
#include "cli/cmd_eval.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ckpt_cmd.h"
#include "cli/cli.h"
#include "compiler/build.h"
#include "compiler/util/json.h"
#include "runtime/backend.h"
#include "runtime/data/data.h"
#include "runtime/dist/tree_sum.h"
#include "runtime/train/ckpt.h"

static const char eval_help[] =
    "Usage: gptc eval CKPT [--data GLOB] [--tokens N] [--step S] [--backend B]\n"
    "                 [--json FILE]\n"
    "\n"
    "The validation loss of a checkpoint (a run's ckpt.bin) on any token shards\n"
    "(gptc data writes them), computed as training computes it: batches of\n"
    "train.ranks slices of train.val.tokens_per_rank tokens, the attention\n"
    "windows of the checkpoint's step. On the run's own validation data at its\n"
    "step, it is the run's last val_loss. No model file is needed: the\n"
    "checkpoint holds the model it was trained with.\n"
    "\n"
    "Options:\n"
    "  --data GLOB     the shards (default the run's train.data.val)\n"
    "  --tokens N      how many tokens (default the run's train.val.tokens); a\n"
    "                  multiple of one batch\n"
    "  --step S        the attention windows of step S (default the checkpoint's)\n"
    "  --backend B     auto (default), ref, sim or cuda, as gptc train\n"
    "  --json FILE     also write the result as one JSON object\n"
    "\n"
    "Exit status: 0 on success; 2 for bad usage, a bad checkpoint or data that\n"
    "holds too few tokens; 1 when the executor fails or FILE cannot be written.\n"
    "\n"
    "Example:\n"
    "  gptc eval runs/tiny/ckpt.bin --data 'data/other/*_val_*.bin'\n";

typedef struct {
    const char *ckpt, *data, *backend, *json;
    int64_t tokens;
    int step;
    bool step_given;
    CliArgs cli;
} EvalArgs;

static int parse_args(int argc, char **argv, EvalArgs *a) {
    memset(a, 0, sizeof *a);
    a->backend = "auto";
    const CliOpt opts[] = {
        {"--data", NULL, CLI_STRING, .to.str = &a->data, .what = "a file pattern"},
        {"--tokens", NULL, CLI_COUNT64, .to.count64 = &a->tokens, .lo = 1, .hi = INT64_C(1) << 40},
        {"--step", NULL, CLI_COUNT, .to.count = &a->step, .lo = 0, .hi = 1 << 30, .seen = &a->step_given},
        {"--backend", NULL, CLI_STRING, .to.str = &a->backend},
        {"--json", NULL, CLI_STRING, .to.str = &a->json, .what = "a file name"},
        {0},
    };
    const CliCommand cmd = {"gptc eval", "checkpoint", .opts = opts, .help = eval_help};
    int rc = cli_parse(&cmd, argc, argv, &a->cli);
    if (rc == CLI_GO) a->ckpt = a->cli.args[0];
    return rc;
}

typedef struct {
    const ModelSpec *s;
    Backend *be;
    DataLoader *data;
    int step;
    int64_t batches;
} Eval;

/* The mean loss, as train.c's validate on one process. */
static double mean_loss(const Eval *e) {
    const SpecTrain *tr = &e->s->train;
    int T = (int)tr->val_tokens_per_rank, R = tr->ranks;
    int *in = malloc(sizeof(int) * (size_t)T), *tgt = malloc(sizeof(int) * (size_t)T);
    double *slice = malloc(sizeof(double) * (size_t)R), sum = 0;
    for (int64_t b = 0; in && tgt && slice && b < e->batches; b++) {
        for (int k = 0; k < R; k++) {
            data_batch(e->data, k, T, in, tgt);
            slice[k] = e->be->forward(e->be->impl, in, tgt, T, e->step, true);
        }
        sum += tree_sum_f64(slice, R);
        data_advance(e->data);
    }
    double loss = in && tgt && slice ? sum / (double)(e->batches * R) : NAN;
    free(in), free(tgt), free(slice);
    return loss;
}

static bool write_json(const EvalArgs *a, const char *data, int step, int64_t tokens, const char *backend,
                       double loss) {
    FILE *f = fopen(a->json, "w");
    if (!f) return false;
    fputs("{\"checkpoint\": ", f);
    json_str(f, a->ckpt, strlen(a->ckpt));
    fputs(", \"data\": ", f);
    json_str(f, data, strlen(data));
    fprintf(f, ", \"step\": %d, \"tokens\": %" PRId64 ", \"executor\": \"%s\", \"val_loss\": %.9g}\n", step, tokens,
            backend, loss);
    return fclose(f) == 0;
}

/* Opens the executor with the checkpoint's parameters. */
static bool open_model(const EvalArgs *a, const ModelBuild *mb, const char *backend, Backend *be, char *err,
                       size_t errlen) {
    if (!backend_open(be, backend, mb, (int)mb->spec.train.val_tokens_per_rank, err, errlen)) return false;
    size_t count = 0;
    float *params = ckpt_read_array(a->ckpt, "params", &count, err, errlen);
    bool ok = params && count == be->num_params(be->impl);
    if (params && !ok) snprintf(err, errlen, "%s: %zu parameters, its model has %zu", a->ckpt, count, be->num_params(be->impl));
    if (ok) memcpy(be->params(be->impl), params, count * sizeof(float)), be->params_changed(be->impl);
    free(params);
    if (!ok) backend_close(be);
    return ok;
}

static int eval(const EvalArgs *a, const ModelSpec *s, const CkptMeta *meta) {
    char err[1024], note[1024];
    const SpecTrain *tr = &s->train;
    const char *glob = a->data ? a->data : tr->val_glob, *backend;
    int64_t batch = (int64_t)tr->ranks * tr->val_tokens_per_rank, tokens = a->tokens ? a->tokens : tr->val_tokens;
    Eval e = {.s = s, .step = a->step_given ? a->step : (int)meta->step, .batches = tokens / batch};
    if (tokens % batch) {
        fprintf(stderr, "gptc eval: --tokens %" PRId64 " is not a multiple of the batch, %d x %" PRId64 " = %" PRId64
                " tokens\n", tokens, tr->ranks, tr->val_tokens_per_rank, batch);
        return 2;
    }
    if (!(backend = backend_resolve(a->backend, note, sizeof note, err, sizeof err)))
        return fprintf(stderr, "gptc eval: %s\n", err), 2;
    fprintf(stderr, "gptc eval: %s\n", note);
    if (!(e.data = data_open(glob, batch, s->vocab.size, err, sizeof err)))
        return fprintf(stderr, "gptc eval: %s\n", err), 2;
    if (data_batches_total(e.data) < e.batches) {
        fprintf(stderr, "gptc eval: %s holds %" PRId64 " batches of %" PRId64 " tokens; %" PRId64 " tokens need %" PRId64
                "\n", glob, data_batches_total(e.data), batch, tokens, e.batches);
        data_close(e.data);
        return 2;
    }
    ModelBuild *mb = model_build(s, err, sizeof err);
    Backend be;
    int rc = 0;
    if (!mb || !open_model(a, mb, backend, &be, err, sizeof err)) {
        fprintf(stderr, "gptc eval: %s\n", err);
        rc = 1;
    } else {
        e.be = &be;
        double loss = mean_loss(&e);
        int lb, sb;
        spec_window_blocks(s, e.step, true, &lb, &sb);
        printf("gptc eval: %s at step %d (windows: %d and %d blocks) on %s: val_loss %.6f over %" PRId64
               " tokens (%s)\n", a->ckpt, e.step, lb, sb, glob, loss, tokens, backend);
        if (a->json && !write_json(a, glob, e.step, tokens, backend, loss))
            fprintf(stderr, "gptc eval: cannot write %s\n", a->json), rc = 1;
        backend_close(&be);
    }
    model_build_free(mb);
    data_close(e.data);
    return rc;
}

static int run(const void *args, const ModelSpec *s, const CkptMeta *meta) { return eval(args, s, meta); }

int cmd_eval(int argc, char **argv) {
    EvalArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc == CLI_GO) rc = ckpt_cmd_run("gptc eval", a.ckpt, run, &a);
    cli_free(&a.cli);
    return rc;
}
