/*
 * cmd_tune.c: `gptc tune MODEL.yaml`: one variant per kernel instance,
 * chosen in four stages, then written to the tuning database.
 *
 *   1. the spaces: every tuned instance's candidates (compiler/tune/space.h)
 *   2. static pruning: every candidate compiled by NVRTC (through its cache,
 *      in its thread pool); one that spills, uses local memory, exceeds
 *      shared memory or cannot launch its threads' registers is dropped
 *   3. the correctness gate (runtime/device/tune_gate.h), on the executor
 *      being tuned: the candidates that keep the order of every sum go in
 *      rounds, one of each instance per round, and a round must give the
 *      rules' training step bit for bit (a failing round is retried
 *      candidate by candidate to find the culprit); those that reorder go
 *      one at a time, within tolerance
 *   4. the timing: on the executor (runtime/device/tune_bench.h: a GPU's
 *      events, or sim's host clock), or with --cost-model on sim's labelled
 *      cost model (compiler/tune/costmodel.h) through compiler/tune/search.h;
 *      then a whole-step A/B of the choices against the rules: the choices
 *      are kept only if the step is faster
 *
 * Every executor step (gate and timing) runs on one bench: the rules'
 * build carrying every surviving variant's kernels, switched from variant
 * to variant without a compile or an allocation.
 */
#include "cli/cmd_tune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "compiler/build.h"
#include "compiler/lang/diag.h"
#include "compiler/lang/validate.h"
#include "compiler/tune/costmodel.h"
#include "compiler/tune/db.h"
#include "compiler/tune/prune.h"
#include "compiler/tune/search.h"
#include "compiler/util/fsutil.h"
#include "compiler/util/strlist.h"
#include "runtime/backend.h"
#include "runtime/device/cuda/gpu_cuda.h"
#include "runtime/device/tune_bench.h"
#include "runtime/device/tune_gate.h"

static const char tune_help[] =
    "Usage: gptc tune MODEL.yaml [--backend auto|cuda|sim] [--cost-model] [--db FILE]\n"
    "                 [--budget SECONDS] [--only FAMILY,...] [--rounds N]\n"
    "                 [--tokens N] [--set KEY=VALUE]...\n"
    "       gptc tune MODEL.yaml --prune-only [--only FAMILY,...]\n"
    "\n"
    "Chooses, for each of the model's tunable kernels, one variant of its\n"
    "template (threads per block, vector width, rows per block; attention's\n"
    "query tile, its kernels' key and query tiles, the blocks per SM they\n"
    "ask for, the stages their tiles stream through and whether dQ is\n"
    "recomputed or read from the stored dS), and for each GEMM shape of the\n"
    "step and of Muon's Newton-Schulz products one of the device's\n"
    "algorithms (cuBLASLt's heuristic's first 16; on sim, split-K sums).\n"
    "Every kernel variant is compiled with NVRTC and dropped if it spills,\n"
    "uses local memory or exceeds shared memory; the rest must pass a\n"
    "correctness gate (a training step under the variant against the same\n"
    "step under the rules: bit for bit where the variant keeps the order of\n"
    "every sum, within 1e-5 of the loss and 1e-3 of the parameters where it\n"
    "does not; a GEMM's algorithm, its output against the default's over\n"
    "the operands the step gives it: 1e-5 for fp32, 4e-3 for bf16); then\n"
    "the variants are timed, interleaved, and\n"
    "one wins only if it beats the rule by more than 2%. A whole-step A/B\n"
    "keeps the choices only if the step is faster. The choices, every\n"
    "variant's status and time, and what they were measured on go to the\n"
    "tuning database, which gptc compile --db and gptc train --db read.\n"
    "\n"
    "On a GPU (the default when there is one) every launch of a training step\n"
    "is timed alone with CUDA events after a wipe of the L2 cache, at the\n"
    "schedule's early and final windows, after a warm-up; each variant's time\n"
    "is its median over the rounds, the windows weighted by the steps spent at\n"
    "each; after five rounds, a variant more than 1.25 times slower than the\n"
    "fastest is timed no more (\"slow\"). --backend sim times the same way\n"
    "by the host's clock on sim (a CPU: its choices say nothing of a GPU).\n"
    "--backend sim --cost-model runs the search on a deterministic cost model\n"
    "instead of a clock (a fixed formula of grid shape and bytes, not a\n"
    "measurement). The database says which, and holds only where it was\n"
    "measured.\n"
    "\n"
    "Options:\n"
    "  --db FILE         the tuning database (default runs/tune/NAME.db); one of\n"
    "                    the same device is updated, one of another refused\n"
    "  --budget SECONDS  stop timing once this much time has passed; the kernels\n"
    "                    not reached keep their rule\n"
    "  --only LIST       tune these template families only (e.g. relu2,rmsnorm;\n"
    "                    gemm for the GEMMs' algorithms)\n"
    "  --prune-only      list every variant and what static pruning says of it,\n"
    "                    then stop (any machine: no executor, no database)\n"
    "  --rounds N        timings per variant (default 20), and whole steps of\n"
    "                    each side in the closing A/B (at most 7)\n"
    "  --tokens N        tokens per timed step: a multiple of the window block\n"
    "                    up to the model's tokens per rank (the default)\n"
    "  --set KEY=VALUE   override a model key (repeatable)\n"
    "\n"
    "Exit status: 0 on success; 2 for bad usage or an invalid model; 1 when\n"
    "NVRTC is missing, a step fails or the database cannot be written.\n";

typedef struct {
    const char *model, *db, *backend, *only;
    bool cost_model, prune_only;
    double budget;
    int rounds, tokens;
    CliArgs cli;
    char db_buf[4096];
} Args;

static int parse_args(int argc, char **argv, Args *a) {
    memset(a, 0, sizeof *a);
    a->backend = "auto";
    a->rounds = 20;
    const CliOpt opts[] = {
        {"--db", NULL, CLI_STRING, .to.str = &a->db, .what = "a file"},
        {"--backend", NULL, CLI_STRING, .to.str = &a->backend},
        {"--cost-model", NULL, CLI_FLAG, .to.flag = &a->cost_model},
        {"--prune-only", NULL, CLI_FLAG, .to.flag = &a->prune_only},
        {"--budget", NULL, CLI_SECONDS, .to.real = &a->budget},
        {"--only", NULL, CLI_STRING, .to.str = &a->only, .what = "a list of families"},
        {"--rounds", NULL, CLI_COUNT, .to.count = &a->rounds, .lo = 1, .hi = TUNE_MAX_ROUNDS},
        {"--tokens", NULL, CLI_COUNT, .to.count = &a->tokens, .lo = 1, .hi = 1 << 30},
        {"--set", .kind = CLI_SET},
        {0},
    };
    const CliCommand cmd = {"gptc tune", "model file", .opts = opts, .help = tune_help};
    int rc = cli_parse(&cmd, argc, argv, &a->cli);
    if (rc != CLI_GO) return rc;
    a->model = a->cli.args[0];
    if (a->cost_model && strcmp(a->backend, "sim"))
        return fprintf(stderr, "gptc tune: --cost-model is sim's: add --backend sim\n"), 2;
    if (!a->prune_only && !strcmp(a->backend, "ref"))
        return fprintf(stderr, "gptc tune: the ref executor runs no generated kernels to tune\n"), 2;
    if (!a->db) {
        fs_stem_path("runs/tune", a->model, a->db_buf, sizeof a->db_buf - 3);
        strcat(a->db_buf, ".db");
        a->db = a->db_buf;
    }
    return CLI_GO;
}

typedef struct {
    const ModelSpec *spec;
    const ModelBuild *rules;
    TuneInstance ins[TUNE_MAX_INSTANCES];
    int n;
    struct timespec start;
    const char *backend; /* the executor tuned: "sim" or "cuda" */
    bool cost_model;
    TuneValidator here[TUNE_MAX_VALIDATORS];
    int nhere;
    TuneBench *bench;
} Tuning;

static double seconds_since(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

static const EmitInstance *rule_of(const Tuning *t, const TuneInstance *ti) { return &t->rules->kernels.inst[ti->inst]; }

/* ---- 3. the correctness gate ------------------------------------------- */

/* The step under one candidate of each instance (j[i] > 0; 0: the rule),
 * compared with the rules'. */
static bool gate_round(const Tuning *t, const int *j, int T, const GateStep *want, bool *pass, char *why, size_t cap,
                       char *err, size_t errlen) {
    bool reorders = false;
    for (int i = 0; i < t->n; i++) reorders = reorders || (j[i] && t->ins[i].v[j[i]].reorders);
    GateStep got;
    if (!tune_bench_gate_step(t->bench, j, T, &got, err, errlen)) return false;
    *pass = gate_compare(want, &got, reorders, why, cap);
    gate_step_free(&got);
    return true;
}

/* One candidate alone; marks it wrong if it fails. */
static bool gate_one(Tuning *t, int i, int j, int T, const GateStep *want, char *err, size_t errlen) {
    int pick[TUNE_MAX_INSTANCES] = {0};
    pick[i] = j;
    bool pass = false;
    TuneVariant *v = &t->ins[i].v[j];
    if (!gate_round(t, pick, T, want, &pass, v->why, sizeof v->why, err, errlen)) return false;
    if (!pass) v->status = TUNE_WRONG;
    return true;
}

/* The k-th OK candidate of kernel instance i that keeps (or, reorders,
 * changes) the order of the sums; 0 when none (and for a GEMM, which has
 * a gate of its own: tune_bench_gemm_gate). */
static int nth(const TuneInstance *ti, int k, bool reorders) {
    for (int j = 1; ti->inst >= 0 && j < ti->n; j++)
        if (ti->v[j].status == TUNE_OK && ti->v[j].reorders == reorders && k-- == 0) return j;
    return 0;
}

/* Rounds of one variant of each instance (its k-th that keeps, or with
 * `reorders` changes, the order of the sums), until none is left; a round
 * that fails is retried variant by variant to find the culprits. */
static bool gate_rounds(Tuning *t, bool reorders, int T, const GateStep *want, char *err, size_t errlen) {
    bool ok = true;
    for (int k = 0; ok; k++) {
        int pick[TUNE_MAX_INSTANCES] = {0}, any = 0;
        for (int i = 0; i < t->n; i++) any += (pick[i] = nth(&t->ins[i], k, reorders)) != 0;
        if (!any) break;
        bool pass = false;
        char why[128];
        ok = gate_round(t, pick, T, want, &pass, why, sizeof why, err, errlen);
        for (int i = 0; ok && !pass && i < t->n; i++)
            if (pick[i]) ok = gate_one(t, i, pick[i], T, want, err, errlen);
    }
    return ok;
}

static bool gate(Tuning *t, int T, int gemm_T, char *err, size_t errlen) {
    GateStep want;
    if (!tune_bench_gate_step(t->bench, NULL, T, &want, err, errlen)) return false;
    bool ok = gate_rounds(t, false, T, &want, err, errlen) && gate_rounds(t, true, T, &want, err, errlen);
    gate_step_free(&want);
    return ok && tune_bench_gemm_gate(t->bench, t->ins, t->n, gemm_T, err, errlen);
}

/* ---- 4. the timing ----------------------------------------------------- */

static double model_time(void *ctx, int inst, TuneKnobs k) {
    const Tuning *t = ctx;
    return tune_cost_us(t->rules, inst, k, t->spec->train.tokens_per_rank);
}

static double model_elapsed(void *ctx) { return seconds_since(&((Tuning *)ctx)->start); }

/* The tuned instances' modelled step, under their choices or their rules. */
static double model_step_us(const Tuning *t, bool chosen) {
    double us = 0;
    for (int i = 0; i < t->n; i++) {
        const TuneInstance *ti = &t->ins[i];
        us += tune_cost_us(t->rules, ti->inst, ti->v[chosen ? ti->chosen : 0].knobs, t->spec->train.tokens_per_rank);
    }
    return us;
}

/* Times the variants and, by a whole-step A/B, keeps the choices only if
 * the step is faster; before and after are the A/B's sides. */
static bool timing(Tuning *t, const Args *a, int T, double *before, double *after, char *err, size_t errlen) {
    if (t->cost_model) {
        TuneTimer timer = {model_time, model_elapsed, t};
        TuneSearch cfg = {a->rounds, 0.02, a->budget};
        int timed = tune_search(t->ins, t->n, &timer, &cfg);
        if (timed < t->n) printf("gptc tune: the budget ran out: %d of %d kernels keep their rule\n", t->n - timed, t->n);
        *before = model_step_us(t, false), *after = model_step_us(t, true);
    } else {
        double left = a->budget > 0 ? a->budget - seconds_since(&t->start) : 0;
        TuneBenchTiming cfg = {a->rounds, strcmp(t->backend, "cuda") ? 0 : 1.0, a->budget > 0 ? (left > 0 ? left : 1e-9) : 0,
                               0.02, T};
        int rounds = tune_bench_time(t->bench, t->ins, &cfg, err, errlen);
        if (rounds < 0) return false;
        if (rounds < a->rounds)
            printf("gptc tune: the budget ran out after %d of %d rounds%s\n", rounds, a->rounds,
                   rounds ? "" : ": every kernel keeps its rule");
        if (!rounds) return *before = *after = 0, true;
        int ab = a->rounds < TUNE_AB_ROUNDS ? a->rounds : TUNE_AB_ROUNDS;
        if (!tune_bench_ab(t->bench, t->ins, ab, T, before, after, err, errlen)) return false;
        *before *= 1e3, *after *= 1e3;
    }
    if (!(*after < *before))
        for (int i = 0; i < t->n; i++) t->ins[i].chosen = 0;
    return true;
}

/* ---- the database ------------------------------------------------------ */

static const char *const status_names[] = {[TUNE_OK] = "ok", [TUNE_PRUNED] = "pruned", [TUNE_WRONG] = "wrong",
                                           [TUNE_UNTIMED] = "untimed", [TUNE_SLOW] = "slow"};


/* Drops db's rows and choice for key's (family, template, shape). */
static void forget(TuneDb *db, const TuneChoice *key) {
    int n = 0;
    for (int r = 0; r < db->nrows; r++)
        if (!tune_same_key(&db->rows[r].c, key)) db->rows[n++] = db->rows[r];
    db->nrows = n;
    n = 0;
    for (int r = 0; r < db->choices.n; r++)
        if (!tune_same_key(&db->choices.c[r], key)) db->choices.c[n++] = db->choices.c[r];
    db->choices.n = n;
}

/* The database at path, read into db if it exists: it must hold here,
 * since tuning adds to it. */
static bool open_db(const Tuning *t, const char *path, TuneDb *db, char *err, size_t errlen) {
    struct stat st;
    memset(db, 0, sizeof *db);
    return stat(path, &st) != 0 ||
           (tune_db_read(path, db, err, errlen) && tune_db_holds(db, path, t->here, t->nhere, true, err, errlen));
}

static bool save(const Tuning *t, const char *path, char *err, size_t errlen) {
    TuneDb *db = malloc(sizeof *db);
    if (!db) return snprintf(err, errlen, "out of memory"), false;
    bool ok = open_db(t, path, db, err, errlen);
    for (int i = 0; i < t->nhere; i++) tune_db_validator(db, t->here[i].name, t->here[i].value);
    for (int i = 0; ok && i < t->n; i++) {
        const TuneInstance *ti = &t->ins[i];
        TuneChoice key = {.knobs = ti->v[ti->chosen].knobs};
        snprintf(key.family, sizeof key.family, "%s", ti->family);
        snprintf(key.shape, sizeof key.shape, "%s", ti->shape);
        if (ti->inst >= 0) tune_template_hash(rule_of(t, ti)->tpl, key.tpl);
        forget(db, &key);
        for (int j = 0; j < ti->n && db->nrows < TUNE_MAX_ROWS; j++) {
            TuneRow *r = &db->rows[db->nrows++];
            r->c = key;
            r->c.knobs = ti->v[j].knobs;
            snprintf(r->status, sizeof r->status, "%s", status_names[ti->v[j].status]);
            r->us = ti->v[j].median_us;
        }
        if (db->choices.n < (int)(sizeof db->choices.c / sizeof db->choices.c[0])) db->choices.c[db->choices.n++] = key;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    ok = ok && (!slash || fs_mkdir_p(dir, err, errlen)) && tune_db_write(path, db, err, errlen);
    free(db);
    return ok;
}

/* ---- the command ------------------------------------------------------- */

static void report(const Tuning *t) {
    printf("%-16s %-22s %8s %6s %5s %4s  %-20s %s\n", "family", "shape", "variants", "pruned", "wrong", "slow",
           "chosen", t->cost_model ? "speed-up (cost model)" : "speed-up (measured)");
    for (int i = 0; i < t->n; i++) {
        const TuneInstance *ti = &t->ins[i];
        int pruned = 0, wrong = 0, slow = 0;
        for (int j = 0; j < ti->n; j++)
            pruned += ti->v[j].status == TUNE_PRUNED, wrong += ti->v[j].status == TUNE_WRONG,
                slow += ti->v[j].status == TUNE_SLOW;
        const TuneVariant *c = &ti->v[ti->chosen];
        char knobs[TUNE_KNOBS_TEXT];
        tune_knobs_format(c->knobs, knobs, sizeof knobs);
        printf("%-16s %-22s %8d %6d %5d %4d  %-20s%s ", ti->family, ti->shape, ti->n, pruned, wrong, slow, knobs,
               ti->chosen ? "" : " (rule)");
        if (c->median_us > 0 && ti->v[0].median_us > 0)
            printf("%.3fx (%.1f us -> %.1f us)\n", ti->v[0].median_us / c->median_us, ti->v[0].median_us, c->median_us);
        else puts("-");
        for (int j = 0; j < ti->n; j++)
            if (ti->v[j].status == TUNE_PRUNED || ti->v[j].status == TUNE_WRONG) {
                tune_knobs_format(ti->v[j].knobs, knobs, sizeof knobs);
                printf("    %s %s: %s\n", knobs, status_names[ti->v[j].status], ti->v[j].why);
            }
    }
}

/* --prune-only: every variant, kept or why not. */
static void list_pruned(const Tuning *t, const char *arch) {
    int kept = 0, all = 0;
    for (int i = 0; i < t->n; i++) {
        const TuneInstance *ti = &t->ins[i];
        printf("%s %s:\n", ti->family, ti->shape);
        for (int j = 0; j < ti->n; j++) {
            char knobs[TUNE_KNOBS_TEXT];
            tune_knobs_format(ti->v[j].knobs, knobs, sizeof knobs);
            bool ok = ti->v[j].status == TUNE_OK;
            printf("  %-48s %s%s%s\n", knobs, j ? (ok ? "kept" : "pruned: ") : "the rule", ok ? "" : ti->v[j].why,
                   ti->v[j].reorders ? " (reorders sums)" : "");
            kept += ok, all++;
        }
    }
    printf("gptc tune: %d of %d variants kept by static pruning (%s)\n", kept, all, arch);
}

/* The executor to tune and the architecture to prune for: a GPU's own, or
 * sm_90a (the GPUs the project targets) for sim. */
static bool resolve(Tuning *t, const Args *a, char *arch, size_t cap) {
    char note[1024], err[1024];
    if (!strcmp(a->backend, "auto") && a->prune_only) t->backend = "sim";
    else if (!(t->backend = backend_resolve(a->backend, note, sizeof note, err, sizeof err))) {
        fprintf(stderr, "gptc tune: %s\n", err);
        return false;
    } else if (!strcmp(t->backend, "ref")) {
        fprintf(stderr, "gptc tune: no GPU here (%s): time on sim's clock with --backend sim, or run the search on "
                        "sim's cost model with --backend sim --cost-model\n", note);
        return false;
    }
    snprintf(arch, cap, "sm_90a");
    GpuCudaInfo info;
    if (!strcmp(t->backend, "cuda") && gpu_cuda_describe(0, &info, err, sizeof err) == 0) snprintf(arch, cap, "%s", info.arch);
    t->cost_model = a->cost_model;
    if (a->prune_only) return true;
    t->nhere = tune_validators(t->backend, t->cost_model, t->here, TUNE_MAX_VALIDATORS, err, sizeof err);
    if (t->nhere < 0) fprintf(stderr, "gptc tune: %s\n", err);
    return t->nhere > 0;
}

static int tune(const Args *a, const ModelSpec *spec) {
    char err[1024], arch[16];
    static Tuning t;
    memset(&t, 0, sizeof t);
    clock_gettime(CLOCK_MONOTONIC, &t.start);
    t.spec = spec;
    if (!resolve(&t, a, arch, sizeof arch)) return 2;
    ModelBuild *rules = model_build(spec, err, sizeof err);
    if (!rules) return fprintf(stderr, "gptc tune: internal error: %s\n", err), 1;
    t.rules = rules;
    int rc = 0;
    if (!rules->has_plan) {
        fprintf(stderr, "gptc tune: %s: sim cannot run this model: %s\n", a->model, rules->plan_why);
        rc = 2;
    }
    for (int i = 0; !rc && i < rules->kernels.n; i++) {
        TuneInstance *ti = &t.ins[t.n];
        tune_instance_init(ti, i, &rules->kernels.inst[i]);
        /* An instance the step never launches (a norm the plan fuses away) is not worth a variant. */
        if (ti->n > 1 && build_launches(rules, i) && (!a->only || str_listed(a->only, rules->kernels.inst[i].family))) t.n++;
    }
    bool gemms = !a->cost_model && !a->prune_only && (!a->only || str_listed(a->only, TUNE_GEMM));
    if (!rc && !t.n && !gemms)
        fprintf(stderr, "gptc tune: %s: no kernel to tune%s\n", a->model, a->only ? " in --only" : ""), rc = 2;
    if (!rc && a->tokens && (a->tokens > spec->train.tokens_per_rank || a->tokens % spec->attn.window.block_size)) {
        fprintf(stderr, "gptc tune: --tokens %d: a multiple of the window block (%d) up to train.tokens_per_rank (%lld)\n",
                a->tokens, spec->attn.window.block_size, (long long)spec->train.tokens_per_rank);
        rc = 2;
    }
    int timed_T = a->tokens ? a->tokens : (int)spec->train.tokens_per_rank;
    /* The gate's tokens: a few window blocks, as few as cover a document
     * end (the gate's are 97 tokens long), and no more than a timed step's. */
    int bs = spec->attn.window.block_size, T = (int)(spec->train.tokens_per_rank < 256 ? spec->train.tokens_per_rank : 256);
    if (timed_T < T) T = timed_T;
    T = T / bs * bs;
    if (!rc && a->prune_only) {
        if (!tune_prune(&rules->kernels, t.ins, t.n, arch, err, sizeof err))
            fprintf(stderr, "gptc tune: static pruning: %s\n", err), rc = 1;
        else list_pruned(&t, arch);
        model_build_free(rules);
        return rc;
    }
    /* A database that cannot take the result is said before the work. */
    TuneDb *db = rc ? NULL : malloc(sizeof *db);
    if (!rc && (!db || !open_db(&t, a->db, db, err, sizeof err)))
        fprintf(stderr, "gptc tune: %s\n", db ? err : "out of memory"), rc = 1;
    free(db);
    if (!rc && !tune_prune(&rules->kernels, t.ins, t.n, arch, err, sizeof err)) fprintf(stderr, "gptc tune: static pruning: %s\n", err), rc = 1;
    double pruned_s = seconds_since(&t.start);
    const char *bench_on = t.cost_model ? "sim" : t.backend;
    if (!rc && !(t.bench = tune_bench_open(rules, t.ins, t.n, bench_on, (int)spec->train.tokens_per_rank, err, sizeof err)))
        fprintf(stderr, "gptc tune: %s: %s\n", bench_on, err), rc = 1;
    /* GEMM shapes join on the executor (their algorithms are the device's); the cost model has none. */
    if (!rc && !t.cost_model && (!a->only || str_listed(a->only, TUNE_GEMM)) &&
        tune_bench_gemms(t.bench, t.ins, &t.n, TUNE_MAX_INSTANCES, timed_T, err, sizeof err) < 0)
        fprintf(stderr, "gptc tune: the GEMMs' algorithms: %s\n", err), rc = 1;
    double opened_s = seconds_since(&t.start);
    if (!rc && !gate(&t, T, timed_T, err, sizeof err)) fprintf(stderr, "gptc tune: the correctness gate: %s\n", err), rc = 1;
    double gated_s = seconds_since(&t.start), before = 0, after = 0;
    if (!rc && !timing(&t, a, timed_T, &before, &after, err, sizeof err)) fprintf(stderr, "gptc tune: timing: %s\n", err), rc = 1;
    if (!rc) {
        report(&t);
        if (before > 0)
            printf("gptc tune: %s: %.1f us with the rules, %.1f us tuned (%.3fx)%s\n",
                   t.cost_model ? "the tuned kernels' step on the cost model" : "the whole step, A/B (median)", before,
                   after, after > 0 ? before / after : 0, after < before ? "" : "; no faster, so the rules are kept");
        printf("gptc tune: %.1f s: pruning %.1f s, opening %s %.1f s, gate %.1f s, timing %.1f s\n", seconds_since(&t.start),
               pruned_s, bench_on, opened_s - pruned_s, gated_s - opened_s, seconds_since(&t.start) - gated_s);
        if (!save(&t, a->db, err, sizeof err)) fprintf(stderr, "gptc tune: %s\n", err), rc = 1;
        else printf("gptc tune: wrote %s (%d kernels, %.1f s)\n", a->db, t.n, seconds_since(&t.start));
    }
    tune_bench_close(t.bench);
    model_build_free(rules);
    return rc;
}

int cmd_tune(int argc, char **argv) {
    static Args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != CLI_GO) return cli_free(&a.cli), rc;
    ModelSpec *spec = malloc(sizeof *spec);
    if (!spec) rc = 1, fputs("gptc: out of memory\n", stderr);
    else if (!spec_load(a.model, a.cli.sets, a.cli.nsets, spec))
        rc = 2, fprintf(stderr, "gptc tune: %s is not a valid model\n", a.model);
    else rc = tune(&a, spec);
    free(spec);
    diag_reset();
    cli_free(&a.cli);
    return rc;
}
