/*
 * cmd_tune.c: `gptc tune MODEL.yaml`: one variant per kernel instance,
 * chosen in four stages, then written to the tuning database.
 *
 *   1. the spaces: every tuned instance's candidates (compiler/tune/space.h)
 *   2. static pruning: every candidate compiled by NVRTC (through its cache,
 *      in its thread pool); one that spills, uses local memory, exceeds
 *      shared memory or cannot launch its threads' registers is dropped
 *   3. the correctness gate (runtime/device/tune_gate.h): the candidates
 *      that keep the order of every sum go in rounds, one of each instance
 *      per round, and a round must give the rules' training step bit for
 *      bit (a failing round is retried candidate by candidate to find the
 *      culprit); those that reorder go one at a time, within tolerance
 *   4. the search (compiler/tune/search.h) on a timer, then a whole-step
 *      A/B of the choices against the rules: the choices are kept only if
 *      the step is faster
 *
 * The timer here is sim's cost model (compiler/tune/costmodel.h); the GPU's
 * (CUDA events) is not written yet, and says so.
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
#include "runtime/device/tune_gate.h"

static const char tune_help[] =
    "Usage: gptc tune MODEL.yaml --backend sim --cost-model [--db FILE]\n"
    "       gptc tune MODEL.yaml --prune-only [--only FAMILY,...]\n"
    "                 [--budget SECONDS] [--only FAMILY,...] [--rounds N]\n"
    "                 [--set KEY=VALUE]...\n"
    "\n"
    "Chooses, for each of the model's tunable kernels, one variant of its\n"
    "template (threads per block, vector width, rows per block; attention's\n"
    "query tile and its kernels' key and query tiles): every variant\n"
    "is compiled with NVRTC and dropped if it spills, uses local memory or\n"
    "exceeds shared memory; the rest must pass a correctness gate (a training\n"
    "step under the variant against the same step under the rules: bit for\n"
    "bit where the variant keeps the order of every sum, within 1e-5 of the\n"
    "loss and 1e-3 of the parameters where it does not); then each kernel's\n"
    "variants are timed, interleaved, and one wins only if it beats the rule\n"
    "by more than 2%. The choices, every variant's status and time, and what\n"
    "they were measured on go to the tuning database, which gptc compile --db\n"
    "and gptc train --db read.\n"
    "\n"
    "Tuning on a GPU (CUDA events) is not built yet. --backend sim --cost-model\n"
    "runs the same search on sim with a deterministic cost model instead of a\n"
    "clock (a fixed formula of grid shape and bytes, not a measurement): its\n"
    "database says \"sim cost model\" and holds for sim runs only.\n"
    "\n"
    "Options:\n"
    "  --db FILE         the tuning database (default runs/tune/NAME.db); one of\n"
    "                    the same device is updated, one of another refused\n"
    "  --budget SECONDS  stop timing once this much time has passed; the kernels\n"
    "                    not reached keep their rule\n"
    "  --only LIST       tune these template families only (e.g. relu2,rmsnorm)\n"
    "  --prune-only      list every variant and what static pruning says of it,\n"
    "                    then stop (any machine: no executor, no database)\n"
    "  --rounds N        timings per variant (default 20)\n"
    "  --set KEY=VALUE   override a model key (repeatable)\n"
    "\n"
    "Exit status: 0 on success; 2 for bad usage or an invalid model; 1 when\n"
    "NVRTC is missing, a step fails or the database cannot be written.\n";

typedef struct {
    const char *model, *db, *backend, *only;
    bool cost_model, prune_only;
    double budget;
    int rounds;
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
        {"--set", .kind = CLI_SET},
        {0},
    };
    const CliCommand cmd = {"gptc tune", "model file", .opts = opts, .help = tune_help};
    int rc = cli_parse(&cmd, argc, argv, &a->cli);
    if (rc != CLI_GO) return rc;
    a->model = a->cli.args[0];
    if (!a->prune_only && (strcmp(a->backend, "sim") || !a->cost_model))
        return fprintf(stderr, "gptc tune: tuning on a GPU is not built yet; run the search on sim's cost model "
                               "with --backend sim --cost-model\n"),
               2;
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
    TuneInstance ins[EMIT_MAX_INSTANCES];
    int n;
    struct timespec start;
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
    TuneChoices *c = calloc(1, sizeof *c);
    if (!c) return snprintf(err, errlen, "out of memory"), false;
    bool reorders = false;
    for (int i = 0; i < t->n; i++) {
        if (!j[i]) continue;
        const EmitInstance *in = rule_of(t, &t->ins[i]);
        TuneChoice *ch = &c->c[c->n++];
        snprintf(ch->family, sizeof ch->family, "%s", in->family);
        snprintf(ch->shape, sizeof ch->shape, "%s", in->suffix);
        ch->knobs = t->ins[i].v[j[i]].knobs;
        reorders = reorders || t->ins[i].v[j[i]].reorders;
    }
    ModelBuild *b = model_build_tuned(t->spec, c, err, errlen);
    GateStep got;
    bool ok = b && gate_step(b, "sim", T, &got, err, errlen);
    if (ok) *pass = gate_compare(want, &got, reorders, why, cap), gate_step_free(&got);
    model_build_free(b);
    free(c);
    return ok;
}

/* One candidate alone; marks it wrong if it fails. */
static bool gate_one(Tuning *t, int i, int j, int T, const GateStep *want, char *err, size_t errlen) {
    int pick[EMIT_MAX_INSTANCES] = {0};
    pick[i] = j;
    bool pass = false;
    TuneVariant *v = &t->ins[i].v[j];
    if (!gate_round(t, pick, T, want, &pass, v->why, sizeof v->why, err, errlen)) return false;
    if (!pass) v->status = TUNE_WRONG;
    return true;
}

/* The k-th OK candidate of instance i that keeps (or, reorders, changes)
 * the order of the sums; 0 when none. */
static int nth(const TuneInstance *ti, int k, bool reorders) {
    for (int j = 1; j < ti->n; j++)
        if (ti->v[j].status == TUNE_OK && ti->v[j].reorders == reorders && k-- == 0) return j;
    return 0;
}

static bool gate(Tuning *t, int T, char *err, size_t errlen) {
    GateStep want;
    if (!gate_step(t->rules, "sim", T, &want, err, errlen)) return false;
    bool ok = true;
    for (int k = 0; ok; k++) {
        int pick[EMIT_MAX_INSTANCES] = {0}, any = 0;
        for (int i = 0; i < t->n; i++) any += (pick[i] = nth(&t->ins[i], k, false)) != 0;
        if (!any) break;
        bool pass = false;
        char why[128];
        ok = gate_round(t, pick, T, &want, &pass, why, sizeof why, err, errlen);
        for (int i = 0; ok && !pass && i < t->n; i++)
            if (pick[i]) ok = gate_one(t, i, pick[i], T, &want, err, errlen);
    }
    for (int i = 0; ok && i < t->n; i++)
        for (int j = 1; ok && j < t->ins[i].n; j++)
            if (t->ins[i].v[j].status == TUNE_OK && t->ins[i].v[j].reorders) ok = gate_one(t, i, j, T, &want, err, errlen);
    gate_step_free(&want);
    return ok;
}

/* ---- 4. the search, on sim's cost model -------------------------------- */

static double model_time(void *ctx, int inst, TuneKnobs k) {
    const Tuning *t = ctx;
    return tune_cost_us(t->rules, inst, k, t->spec->train.tokens_per_rank);
}

static double model_elapsed(void *ctx) { return seconds_since(&((Tuning *)ctx)->start); }

/* The whole step's tuned instances, under their choices or their rules. */
static double step_us(const Tuning *t, bool chosen) {
    double us = 0;
    for (int i = 0; i < t->n; i++) {
        const TuneInstance *ti = &t->ins[i];
        us += tune_cost_us(t->rules, ti->inst, ti->v[chosen ? ti->chosen : 0].knobs, t->spec->train.tokens_per_rank);
    }
    return us;
}

/* ---- the database ------------------------------------------------------ */

static const char *const status_names[] = {[TUNE_OK] = "ok", [TUNE_PRUNED] = "pruned", [TUNE_WRONG] = "wrong",
                                           [TUNE_UNTIMED] = "untimed"};


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
static bool open_db(const char *path, TuneDb *db, char *err, size_t errlen) {
    TuneValidator v[2];
    tune_db_here("sim", v);
    struct stat st;
    memset(db, 0, sizeof *db);
    return stat(path, &st) != 0 || (tune_db_read(path, db, err, errlen) && tune_db_holds(db, path, v, 2, true, err, errlen));
}

static bool save(const Tuning *t, const char *path, char *err, size_t errlen) {
    TuneDb *db = malloc(sizeof *db);
    if (!db) return snprintf(err, errlen, "out of memory"), false;
    TuneValidator v[2];
    tune_db_here("sim", v);
    bool ok = open_db(path, db, err, errlen);
    for (int i = 0; i < 2; i++) tune_db_validator(db, v[i].name, v[i].value);
    for (int i = 0; ok && i < t->n; i++) {
        const TuneInstance *ti = &t->ins[i];
        const EmitInstance *in = rule_of(t, ti);
        TuneChoice key = {.knobs = ti->v[ti->chosen].knobs};
        snprintf(key.family, sizeof key.family, "%s", in->family);
        snprintf(key.shape, sizeof key.shape, "%s", in->suffix);
        tune_template_hash(in->tpl, key.tpl);
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
    printf("%-16s %-22s %8s %6s %5s  %-20s %s\n", "family", "shape", "variants", "pruned", "wrong", "chosen",
           "speed-up (cost model)");
    for (int i = 0; i < t->n; i++) {
        const TuneInstance *ti = &t->ins[i];
        int pruned = 0, wrong = 0;
        for (int j = 0; j < ti->n; j++) pruned += ti->v[j].status == TUNE_PRUNED, wrong += ti->v[j].status == TUNE_WRONG;
        const TuneVariant *c = &ti->v[ti->chosen];
        char knobs[TUNE_KNOBS_TEXT];
        tune_knobs_format(c->knobs, knobs, sizeof knobs);
        printf("%-16s %-22s %8d %6d %5d  %-20s%s ", rule_of(t, ti)->family, rule_of(t, ti)->suffix, ti->n, pruned, wrong,
               knobs, ti->chosen ? "" : " (rule)");
        if (c->median_us > 0 && ti->v[0].median_us > 0) printf("%.3fx\n", ti->v[0].median_us / c->median_us);
        else puts("-");
        for (int j = 0; j < ti->n; j++)
            if (ti->v[j].status == TUNE_PRUNED || ti->v[j].status == TUNE_WRONG) {
                tune_knobs_format(ti->v[j].knobs, knobs, sizeof knobs);
                printf("    %s %s: %s\n", knobs, status_names[ti->v[j].status], ti->v[j].why);
            }
    }
}

/* --prune-only: every variant, kept or why not. */
static void list_pruned(const Tuning *t) {
    int kept = 0, all = 0;
    for (int i = 0; i < t->n; i++) {
        const TuneInstance *ti = &t->ins[i];
        printf("%s %s:\n", rule_of(t, ti)->family, rule_of(t, ti)->suffix);
        for (int j = 0; j < ti->n; j++) {
            char knobs[TUNE_KNOBS_TEXT];
            tune_knobs_format(ti->v[j].knobs, knobs, sizeof knobs);
            bool ok = ti->v[j].status == TUNE_OK;
            printf("  %-48s %s%s%s\n", knobs, j ? (ok ? "kept" : "pruned: ") : "the rule", ok ? "" : ti->v[j].why,
                   ti->v[j].reorders ? " (reorders sums)" : "");
            kept += ok, all++;
        }
    }
    printf("gptc tune: %d of %d variants kept by static pruning (sm_90a)\n", kept, all);
}

static int tune(const Args *a, const ModelSpec *spec) {
    char err[1024];
    static Tuning t;
    memset(&t, 0, sizeof t);
    clock_gettime(CLOCK_MONOTONIC, &t.start);
    t.spec = spec;
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
    if (!rc && !t.n) fprintf(stderr, "gptc tune: %s: no kernel to tune%s\n", a->model, a->only ? " in --only" : ""), rc = 2;
    /* The gate's tokens: a few window blocks, as few as cover a document end. */
    int bs = spec->attn.window.block_size, T = (int)(spec->train.tokens_per_rank < 256 ? spec->train.tokens_per_rank : 256);
    T = T / bs * bs;
    if (!rc && a->prune_only) {
        if (!tune_prune(&rules->kernels, t.ins, t.n, "sm_90a", err, sizeof err))
            fprintf(stderr, "gptc tune: static pruning: %s\n", err), rc = 1;
        else list_pruned(&t);
        model_build_free(rules);
        return rc;
    }
    /* A database that cannot take the result is said before the work. */
    TuneDb *db = rc ? NULL : malloc(sizeof *db);
    if (!rc && (!db || !open_db(a->db, db, err, sizeof err)))
        fprintf(stderr, "gptc tune: %s\n", db ? err : "out of memory"), rc = 1;
    free(db);
    if (!rc && !tune_prune(&rules->kernels, t.ins, t.n, "sm_90a", err, sizeof err)) fprintf(stderr, "gptc tune: static pruning: %s\n", err), rc = 1;
    if (!rc && !gate(&t, T, err, sizeof err)) fprintf(stderr, "gptc tune: the correctness gate: %s\n", err), rc = 1;
    if (!rc) {
        TuneTimer timer = {model_time, model_elapsed, &t};
        TuneSearch cfg = {a->rounds, 0.02, a->budget};
        int timed = tune_search(t.ins, t.n, &timer, &cfg);
        if (timed < t.n) printf("gptc tune: the budget ran out: %d of %d kernels keep their rule\n", t.n - timed, t.n);
        double before = step_us(&t, false), after = step_us(&t, true);
        if (!(after < before))
            for (int i = 0; i < t.n; i++) t.ins[i].chosen = 0;
        report(&t);
        printf("gptc tune: the tuned kernels' step on the cost model: %.1f us with the rules, %.1f us tuned (%.3fx)%s\n",
               before, after, after > 0 ? before / after : 0, after < before ? "" : "; no faster, so the rules are kept");
        if (!save(&t, a->db, err, sizeof err)) fprintf(stderr, "gptc tune: %s\n", err), rc = 1;
        else printf("gptc tune: wrote %s (%d kernels, %.1f s)\n", a->db, t.n, seconds_since(&t.start));
    }
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
