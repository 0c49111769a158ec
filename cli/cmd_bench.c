/*
 * cmd_bench.c: `gptc bench`, the speed of whole training steps on one
 * executor: forward, backward and the optimizer on synthetic tokens (the
 * data loader and checkpoints are left out, so that what is timed is the
 * executor), after warm-up steps that absorb compilation and allocation.
 * Each phase is timed between device syncs; MFU counts the model's FLOPs
 * per token from `gptc check` (matmuls and attention at the final window,
 * forward + backward) against the given peak. The forward pass runs with
 * the attention windows of the schedule's last step, the widest, which is
 * what those FLOPs count (and what tests/reference/bench_gpu.py times).
 */
#include "cli/cmd_bench.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/backend.h"
#include "runtime/train/bench_profile.h"
#include "cli/cli.h"
#include "cli/train_db.h"
#include "compiler/version.h"
#include "compiler/lang/diag.h"
#include "runtime/util/rng.h"
#include "compiler/report/stats.h"
#include "compiler/lang/validate.h"

static const char help[] =
    "Usage: gptc bench MODEL.yaml [options]\n"
    "\n"
    "Times whole training steps (forward, backward, optimizer) of the model on\n"
    "synthetic tokens, after warm-up steps, and prints ms/step, tokens/s, MFU\n"
    "and peak device memory.\n"
    "\n"
    "Options:\n"
    "  --backend NAME   auto (default), ref, sim or cuda\n"
    "  --tokens N       tokens per step (default train.tokens_per_rank; a\n"
    "                   multiple of the attention block size)\n"
    "  --steps N        timed steps (default 20)\n"
    "  --warmup N       untimed steps first (default 3)\n"
    "  --peak-tflops X  the device's dense bf16 peak for MFU (default 989: H100 SXM)\n"
    "  --json FILE      also write the result as one JSON object\n"
    "  --profile N      then N more steps with each step of the plan timed on\n"
    "                   its own: time by kernel family and the slowest steps\n"
    "                   (sim and cuda)\n"
    "  --db FILE        the kernels' variants as chosen in this tuning database\n"
    "                   (gptc tune; of this gptc version, from any device:\n"
    "                   e.g. one written by hand to time chosen variants\n"
    "                   against the rules)\n"
    "  --set KEY=VALUE  override a model key (repeatable)\n"
    "\n"
    "Exit status: 0 done, 1 a step failed, 2 bad model or usage.\n";

typedef struct {
    const char *backend, *json, *db;
    int tokens, steps, warmup, profile;
    double peak_tflops;
} BenchOptions;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Random ids with an EOT every ~1024 tokens: documents as in the data. */
static void tokens(const ModelSpec *s, int T, uint64_t seed, int *ids, int *tgt) {
    Rng r;
    rng_seed(&r, seed);
    for (int t = 0; t < T; t++) {
        ids[t] = rng_uniform(&r) < 1.0 / 1024 ? s->vocab.eot : (int)(rng_uniform(&r) * (s->vocab.size - 1));
        tgt[t] = (int)(rng_uniform(&r) * (s->vocab.size - 1));
    }
    ids[0] = s->vocab.eot;
}

typedef struct {
    double fwd_bwd, opt, total, loss;
} StepTime;

/* One step; false with the reason printed when the executor failed. */
static bool step(Backend *b, const int *ids, const int *tgt, int T, int k, int window_step, StepTime *st) {
    double t0 = now_ms();
    st->loss = b->forward(b->impl, ids, tgt, T, window_step, false);
    b->backward(b->impl);
    if (b->sync(b->impl)) return false;
    double t1 = now_ms();
    if (b->step(b->impl, k) || b->sync(b->impl)) return false;
    double t2 = now_ms();
    st->fwd_bwd = t1 - t0, st->opt = t2 - t1, st->total = t2 - t0;
    if (b->error(b->impl)[0]) return false; /* a step that failed part way times nothing */
    if (!isfinite(st->loss)) {
        fprintf(stderr, "gptc bench: the loss is %g at step %d\n", st->loss, k);
        return false;
    }
    return true;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Steps after the timed ones, so that their waits perturb nothing timed;
 * their classes into *pc. */
static int profile(Backend *b, const ModelSpec *s, const BenchOptions *o, int T, int *ids, int *tgt,
                   ProfileClasses *pc) {
    if (b->set_profile(b->impl, true)) return fprintf(stderr, "gptc bench: %s\n", b->error(b->impl)), 1;
    StepTime st;
    double pairs = 0;
    for (int k = 0; k < o->profile; k++) {
        tokens(s, T, 5000 + (uint64_t)k, ids, tgt);
        pairs += bench_attention_pairs(s, ids, T, s->train.steps) / o->profile;
        if (!step(b, ids, tgt, T, o->warmup + o->steps + k, s->train.steps, &st)) {
            fprintf(stderr, "gptc bench: profiled step %d failed: %s\n", k, b->error(b->impl));
            return 1;
        }
    }
    const ModelBuild *mb;
    const double *ms;
    b->profile(b->impl, &mb, &ms);
    bench_profile_print(stdout, mb, ms, o->profile, T, pairs, 20);
    bench_profile_classes(mb, ms, o->profile, T, pairs, pc);
    return b->set_profile(b->impl, false) ? 1 : 0;
}

/* What the timed steps measured, per step. */
typedef struct {
    const char *model, *backend;
    int tokens, steps;
    double mean, median, fwd_bwd, opt, tokens_per_s, mfu, flops_per_token, last_loss;
    size_t peak;
} BenchResult;

/* The result as one JSON object; with --profile, its classes too. */
static int write_json(const char *path, const BenchResult *r, const ProfileClasses *pc) {
    FILE *f = fopen(path, "w");
    if (!f) return fprintf(stderr, "gptc bench: %s: cannot write\n", path), 1;
    fprintf(f,
            "{\"model\": \"%s\", \"backend\": \"%s\", \"tokens\": %d, \"steps\": %d, \"ms_per_step\": %.4f, "
            "\"median_ms\": %.4f, \"fwd_bwd_ms\": %.4f, \"opt_ms\": %.4f, \"tokens_per_s\": %.1f, "
            "\"mfu\": %.5f, \"flops_per_token\": %.6g, \"peak_bytes\": %zu, \"last_loss\": %.6f",
            r->model, r->backend, r->tokens, r->steps, r->mean, r->median, r->fwd_bwd, r->opt, r->tokens_per_s,
            r->mfu, r->flops_per_token, r->peak, r->last_loss);
    for (int c = 0; pc && c < NCLASSES; c++)
        fprintf(f, "%s\"%s\": {\"ms\": %.4f, \"bytes\": %.6g, \"flops\": %.6g}", c ? ", " : ", \"profile\": {",
                profile_class_names[c], pc->ms[c], pc->bytes[c], pc->flops[c]);
    fputs(pc ? "}}\n" : "}\n", f);
    return fclose(f) ? fprintf(stderr, "gptc bench: %s: cannot write\n", path), 1 : 0;
}

static int run(const ModelBuild *mb, const char *model, const BenchOptions *o) {
    const ModelSpec *s = &mb->spec;
    char note[1024], err[4096];
    const char *name = backend_resolve(o->backend, note, sizeof note, err, sizeof err);
    if (!name) return fprintf(stderr, "gptc bench: %s\n", err), 2;
    if (o->db && !strcmp(name, "ref"))
        return fprintf(stderr, "gptc bench: --db: the ref executor runs no generated kernels to tune\n"), 2;
    int T = o->tokens ? o->tokens : (int)s->train.tokens_per_rank;
    if (T % s->attn.window.block_size)
        return fprintf(stderr, "gptc bench: --tokens %d is not a multiple of the block size %d\n", T,
                       s->attn.window.block_size), 2;
    printf("gptc bench: %s, %s, %d tokens per step, %d warm-up + %d timed steps\n", model, note, T, o->warmup,
           o->steps);
    fflush(stdout);
    double t_open = now_ms();
    Backend b;
    if (!backend_open(&b, name, mb, T, err, sizeof err)) return fprintf(stderr, "gptc bench: %s\n", err), 1;
    if (o->profile && !b.set_profile) {
        fprintf(stderr, "gptc bench: --profile: the %s executor has no plan to profile (sim and cuda do)\n", name);
        backend_close(&b);
        return 2;
    }
    b.init(b.impl, s->train.seed);
    int *ids = malloc(sizeof(int) * (size_t)T), *tgt = malloc(sizeof(int) * (size_t)T);
    double *total = calloc((size_t)o->steps, sizeof(double)), fwd = 0, optms = 0, last = NAN;
    int rc = ids && tgt && total ? 0 : 1;
    double open_s = (now_ms() - t_open) / 1e3;
    StepTime st;
    for (int k = 0; k < o->warmup + o->steps && rc == 0; k++) {
        tokens(s, T, 1000 + (uint64_t)k, ids, tgt);
        if (!step(&b, ids, tgt, T, k, s->train.steps, &st)) {
            const char *why = b.error(b.impl);
            fprintf(stderr, "gptc bench: step %d failed%s%s\n", k, why[0] ? ": " : "", why);
            rc = 1;
            break;
        }
        if (k == 0) printf("  first step %.1f ms (compiles, allocations), loss %.4f\n", st.total, st.loss);
        if (k < o->warmup) continue;
        total[k - o->warmup] = st.total, fwd += st.fwd_bwd, optms += st.opt, last = st.loss;
    }
    if (rc == 0) {
        ModelStats ms;
        stats_compute(s, &ms);
        BenchResult r = {model, name, T, o->steps, .fwd_bwd = fwd / o->steps, .opt = optms / o->steps,
                         .flops_per_token = ms.flops_total, .last_loss = last};
        for (int k = 0; k < o->steps; k++) r.mean += total[k];
        r.mean /= o->steps;
        r.median = median(total, o->steps), r.tokens_per_s = T / (r.mean / 1e3);
        r.mfu = ms.flops_total * r.tokens_per_s / (o->peak_tflops * 1e12);
        size_t now = 0;
        b.memory(b.impl, &now, &r.peak);
        printf("  ms/step %.2f (median %.2f), forward+backward %.2f, optimizer %.2f\n", r.mean, r.median, r.fwd_bwd,
               r.opt);
        printf("  tokens/s %.0f, MFU %.1f%% of %.0f TFLOP/s (%.3g FLOPs/token), peak device memory %.2f GiB\n",
               r.tokens_per_s, 100 * r.mfu, o->peak_tflops, ms.flops_total, r.peak / 1073741824.0);
        printf("  setup %.1f s, last loss %.4f\n", open_s, last);
        ProfileClasses pc;
        if (o->profile) rc = profile(&b, s, o, T, ids, tgt, &pc);
        if (rc == 0 && o->json) rc = write_json(o->json, &r, o->profile ? &pc : NULL);
    }
    free(ids);
    free(tgt);
    free(total);
    backend_close(&b);
    return rc;
}

/* The model and the timing as the command line gives them; CLI_GO, or
 * the exit status. */
static int parse(int argc, char **argv, BenchOptions *o, CliArgs *a) {
    const CliOpt opts[] = {
        {"--backend", NULL, CLI_STRING, .to.str = &o->backend},
        {"--tokens", NULL, CLI_COUNT, .to.count = &o->tokens, .lo = 1, .hi = INT_MAX},
        {"--steps", NULL, CLI_COUNT, .to.count = &o->steps, .lo = 1, .hi = INT_MAX},
        {"--warmup", NULL, CLI_COUNT, .to.count = &o->warmup, .lo = 0, .hi = INT_MAX},
        {"--peak-tflops", NULL, CLI_POSITIVE, .to.real = &o->peak_tflops},
        {"--json", NULL, CLI_STRING, .to.str = &o->json, .what = "a file name"},
        {"--db", NULL, CLI_STRING, .to.str = &o->db, .what = "a file"},
        {"--set", .kind = CLI_SET},
        {"--profile", NULL, CLI_COUNT, .to.count = &o->profile, .lo = 1, .hi = INT_MAX},
        {0},
    };
    const CliCommand cmd = {"gptc bench", "model file", .opts = opts, .help = help};
    return cli_parse(&cmd, argc, argv, a);
}

static int bench(const char *model, const CliArgs *a, const BenchOptions *o) {
    ModelSpec s;
    if (!spec_load(model, a->sets, a->nsets, &s)) {
        diag_reset();
        return 2;
    }
    char err[1024];
    TuneDb *db = o->db ? build_db_read("gptc bench", o->db, GPTC_VERSION) : NULL;
    if (o->db && !db) return 2;
    ModelBuild *mb = db ? model_build_tuned(&s, &db->choices, err, sizeof err) : model_build(&s, err, sizeof err);
    bool tuned = db != NULL;
    free(db);
    if (!mb) return fprintf(stderr, "gptc bench: %s: %s\n", model, err), tuned ? 2 : 1;
    int rc = run(mb, model, o);
    model_build_free(mb);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    BenchOptions o = {.backend = "auto", .steps = 20, .warmup = 3, .peak_tflops = 989};
    CliArgs a;
    int rc = parse(argc, argv, &o, &a);
    if (rc == CLI_GO) rc = bench(a.args[0], &a, &o);
    cli_free(&a);
    return rc;
}
