/*
 * cmd_sweep.c: `gptc sweep SWEEP.yaml`: configurations times seeds, each
 * trained by `gptc train` in its own run directory under one sweep
 * directory, one after another. A run that finished is skipped, one that
 * stopped part way is resumed, and one that fails is reported without
 * stopping the others; the sweep ends with a table of every run and
 * DIR/sweep.json, which lists them for analysis.
 *
 * The sweep file (paths relative to it, as `extends` in a model file):
 *   dir: runs/x0-sweep          where the runs go (default runs/NAME)
 *   backend: ref                the executor of every run (default auto)
 *   ranks: 2                    gptc train --ranks of every run (default: one process)
 *   seeds: [0, 1, 2]            train.seed of each run
 *   runs:                       the configurations
 *     - name: baseline          a name of letters, digits, '-', '_' and '.'
 *       model: models/tiny.yaml
 *     - name: x02
 *       model: models/tiny.yaml
 *       set: {input_embeddings.tables: 3}   --set options (scalar values)
 * Run NAME with seed S lives in DIR/NAME-sS, its output in DIR/logs.
 * `--jobs N` runs N at a time on the CPU threads; `--gpus N` runs as many
 * at a time as N GPUs hold (ranks GPUs each), each seeing only its own
 * through CUDA_VISIBLE_DEVICES.
 */
#include "cli/cmd_sweep.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "compiler/lang/diag.h"
#include "compiler/lang/ytree.h"
#include "compiler/util/fsutil.h"
#include "compiler/util/json.h"
#include "runtime/train/ckpt.h"

#define SWEEP_MAX_RUNS 64
#define SWEEP_MAX_SEEDS 64
#define SWEEP_MAX_SETS 32

static const char sweep_help[] =
    "Usage: gptc sweep SWEEP.yaml [--dry-run] [--jobs N | --gpus N]\n"
    "\n"
    "Trains every configuration of SWEEP.yaml with every seed, one run after\n"
    "another, each with gptc train in its own run directory DIR/NAME-sSEED.\n"
    "Running the sweep again skips the runs that finished and resumes those\n"
    "that stopped; a run that fails is reported and the others go on. The\n"
    "sweep ends with a table of the runs and writes DIR/sweep.json.\n"
    "\n"
    "SWEEP.yaml:\n"
    "  dir: runs/x0-sweep        where the runs go (default runs/NAME)\n"
    "  backend: ref              every run's executor (default auto)\n"
    "  ranks: 2                  every run as gptc train --ranks 2 (default: one\n"
    "                            process; with --gpus: GPUs per run)\n"
    "  seeds: [0, 1, 2]          train.seed of each run\n"
    "  runs:\n"
    "    - name: baseline\n"
    "      model: models/tiny.yaml       (relative to SWEEP.yaml)\n"
    "    - name: x02\n"
    "      model: models/tiny.yaml\n"
    "      set: {input_embeddings.tables: 3}\n"
    "\n"
    "Options:\n"
    "  --dry-run   print what each run would do, and do nothing\n"
    "  --jobs N    N runs at a time, each with its share of the CPU threads\n"
    "              (default 1: one run at a time with every thread)\n"
    "  --gpus N    spread the runs over this machine's first N GPUs: N / ranks\n"
    "              runs at a time, each on its own GPUs (CUDA_VISIBLE_DEVICES)\n"
    "              with gptc train --gpus ranks; the backend must be auto or cuda\n"
    "\n"
    "Exit status: 0 when every run finished; 1 when one failed; 2 for a bad\n"
    "sweep file or bad usage.\n";

typedef struct {
    char name[64], model[4096];
    int nsets;
    char sets[SWEEP_MAX_SETS][512];
} SweepRun;

typedef struct {
    char dir[4096], backend[16];
    int ranks; /* gptc train --ranks (--gpus with the sweep's --gpus); 0: not given */
    int nseeds, nruns;
    long long seeds[SWEEP_MAX_SEEDS];
    SweepRun runs[SWEEP_MAX_RUNS];
} Sweep;

/* ---- the sweep file ---- */

static const YNode *scalar(const YNode *map, const char *key, bool required) {
    const YNode *n = ynode_get(map, key);
    if (!n && required) diag_error(map->at, "the sweep needs '%s'", key);
    else if (n && n->kind != YNODE_SCALAR) diag_error(n->at, "'%s' must be a scalar, not a %s", key, ynode_kind_name(n)), n = NULL;
    return n;
}

static bool good_name(const char *s) {
    if (!*s || strlen(s) >= 64) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || strchr("-_.", *s)))
            return false;
    return true;
}

/* path, relative to the sweep file's folder unless absolute, tidied. */
static void relative(const char *sweep_path, const char *path, char *out, size_t cap) {
    if (!fs_beside(sweep_path, path, out, cap)) out[0] = '\0';
    fs_tidy(out);
}

static void read_run(const char *path, const YNode *n, Sweep *w) {
    static const char *const keys[] = {"name", "model", "set"};
    if (n->kind != YNODE_MAP) {
        diag_error(n->at, "each run is a mapping (name, model, set)");
        return;
    }
    for (int i = 0; i < n->n; i++) {
        bool known = false;
        for (size_t k = 0; k < 3; k++) known = known || !strcmp(n->keys[i]->text, keys[k]);
        if (!known) diag_error(n->keys[i]->at, "unknown key '%s' in a run (name, model, set)", n->keys[i]->text);
    }
    const YNode *name = scalar(n, "name", true), *model = scalar(n, "model", true), *set = ynode_get(n, "set");
    if (!name || !model) return;
    if (!good_name(name->text)) {
        diag_error(name->at, "a run's name is letters, digits, '-', '_' and '.'");
        return;
    }
    for (int r = 0; r < w->nruns; r++)
        if (!strcmp(w->runs[r].name, name->text)) {
        diag_error(name->at, "a second run named '%s'", name->text);
        return;
    }
    if (w->nruns == SWEEP_MAX_RUNS) {
        diag_error(n->at, "more than %d runs", SWEEP_MAX_RUNS);
        return;
    }
    SweepRun *r = &w->runs[w->nruns++];
    snprintf(r->name, sizeof r->name, "%s", name->text);
    relative(path, model->text, r->model, sizeof r->model);
    if (set && set->kind != YNODE_MAP) {
        diag_error(set->at, "'set' is a mapping of model keys to values");
        return;
    }
    for (int i = 0; set && i < set->n; i++) {
        if (set->items[i]->kind != YNODE_SCALAR)
            {
        diag_error(set->items[i]->at, "a set value is a scalar (write a list as a string: '[1, 2]')");
        return;
    }
        if (r->nsets == SWEEP_MAX_SETS) {
        diag_error(set->at, "more than %d keys in 'set'", SWEEP_MAX_SETS);
        return;
    }
        snprintf(r->sets[r->nsets++], sizeof r->sets[0], "%s=%s", set->keys[i]->text, set->items[i]->text);
    }
}

static bool read_sweep(const char *path, Sweep *w) {
    size_t len;
    char *text = fs_read(path, &len);
    if (!text) return fprintf(stderr, "gptc sweep: %s: %s\n", path, strerror(errno)), false;
    YDoc doc;
    bool ok = ytree_parse(path, text, len, &doc);
    free(text);
    if (!ok) return false;
    const YNode *root = doc.root;
    static const char *const keys[] = {"dir", "backend", "ranks", "seeds", "runs"};
    for (int i = 0; i < root->n; i++) {
        bool known = false;
        for (size_t k = 0; k < 5; k++) known = known || !strcmp(root->keys[i]->text, keys[k]);
        if (!known)
            diag_error(root->keys[i]->at, "unknown key '%s' (dir, backend, ranks, seeds, runs)", root->keys[i]->text);
    }
    const YNode *dir = scalar(root, "dir", false), *backend = scalar(root, "backend", false),
                *ranks = scalar(root, "ranks", false), *seeds = ynode_get(root, "seeds"),
                *runs = ynode_get(root, "runs");
    if (ranks) {
        char *end;
        long v = strtol(ranks->text, &end, 10);
        if (*end || end == ranks->text || v < 1 || v > 1024) diag_error(ranks->at, "'ranks' is a whole number, 1 to 1024");
        else w->ranks = (int)v;
    }
    if (dir) relative(path, dir->text, w->dir, sizeof w->dir);
    else fs_stem_path("runs", path, w->dir, sizeof w->dir);
    snprintf(w->backend, sizeof w->backend, "%s", backend ? backend->text : "auto");
    if (!seeds || seeds->kind != YNODE_SEQ || !seeds->n)
        diag_error(seeds ? seeds->at : root->at, "'seeds' is a list of whole numbers, e.g. [0, 1, 2]");
    for (int i = 0; seeds && seeds->kind == YNODE_SEQ && i < seeds->n && i < SWEEP_MAX_SEEDS; i++) {
        char *end;
        const YNode *s = seeds->items[i];
        long long v = s->kind == YNODE_SCALAR ? strtoll(s->text, &end, 10) : -1;
        if (s->kind != YNODE_SCALAR || *end || end == s->text || v < 0) diag_error(s->at, "a seed is a whole number >= 0");
        w->seeds[w->nseeds++] = v;
    }
    if (!runs || runs->kind != YNODE_SEQ || !runs->n) diag_error(runs ? runs->at : root->at, "'runs' is a list of runs");
    for (int i = 0; runs && runs->kind == YNODE_SEQ && i < runs->n; i++) read_run(path, runs->items[i], w);
    ytree_free(&doc);
    return diag_error_count() == 0;
}

/* ---- running ---- */

typedef enum { RUN_START, RUN_RESUME, RUN_DONE, RUN_STUCK } RunState;

/* Where run directory `dir` stands: no run yet, a checkpoint before the
 * end, the end, or a directory with no checkpoint gptc can resume. */
static RunState state_of(const char *dir, int *step, int *steps) {
    char ckpt[4400];
    struct stat st;
    snprintf(ckpt, sizeof ckpt, "%s/ckpt.bin", dir);
    *step = *steps = 0;
    if (stat(dir, &st) != 0) return RUN_START;
    ModelSpec *s = malloc(sizeof *s);
    CkptMeta meta;
    char err[512];
    bool ok = s && ckpt_read_head(ckpt, s, &meta, err, sizeof err);
    if (ok) *step = (int)meta.step, *steps = s->train.steps;
    free(s);
    diag_reset();
    return !ok ? RUN_STUCK : *step >= *steps ? RUN_DONE : RUN_RESUME;
}

/* The last val_loss in dir/metrics.jsonl, or -1. */
static double last_val_loss(const char *dir) {
    char path[4400], line[8192];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    double loss = -1;
    while (f && fgets(line, sizeof line, f)) {
        const char *v = strstr(line, "\"val_loss\": ");
        if (strstr(line, "\"kind\": \"val\"") && v) loss = strtod(v + 12, NULL);
    }
    if (f) fclose(f);
    return loss;
}

/* How the runs share the machine: `threads` CPU threads each (0: gptc
 * train's default), or with `gpus` GPUs in all, `ranks` of them each. */
typedef struct {
    int threads, gpus, ranks;
} Share;

/* CUDA_VISIBLE_DEVICES for the run in GPU slot `slot`: its ranks GPUs. */
static void slot_gpus(const Share *sh, int slot, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (int g = slot * sh->ranks; g < (slot + 1) * sh->ranks && n < cap; g++)
        n += (size_t)snprintf(out + n, cap - n, "%s%d", n ? "," : "", g);
}

/* Starts gptc train for one run, its output appended to log, on the share
 * of the machine `sh` gives it (with GPUs: GPU slot `slot`); its pid, or
 * -1. */
static pid_t start_train(const Sweep *w, const SweepRun *r, long long seed, const char *dir, bool resume,
                         const char *log, const Share *sh, int slot) {
    char seed_text[32], threads_text[32], ranks_text[32], gpus[256] = "";
    char *argv[20 + 2 * SWEEP_MAX_SETS];
    int n = 0;
    snprintf(seed_text, sizeof seed_text, "%lld", seed);
    snprintf(threads_text, sizeof threads_text, "%d", sh->threads);
    snprintf(ranks_text, sizeof ranks_text, "%d", sh->ranks);
    argv[n++] = "gptc", argv[n++] = "train", argv[n++] = (char *)r->model;
    argv[n++] = "--run-dir", argv[n++] = (char *)dir, argv[n++] = "--seed", argv[n++] = seed_text;
    argv[n++] = "--backend", argv[n++] = (char *)w->backend, argv[n++] = "--no-progress";
    if (sh->threads) argv[n++] = "--threads", argv[n++] = threads_text;
    if (sh->gpus) argv[n++] = "--gpus", argv[n++] = ranks_text, slot_gpus(sh, slot, gpus, sizeof gpus);
    else if (w->ranks) argv[n++] = "--ranks", argv[n++] = ranks_text;
    if (resume) argv[n++] = "--resume";
    for (int i = 0; i < r->nsets; i++) argv[n++] = "--set", argv[n++] = (char *)r->sets[i];
    argv[n] = NULL;
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = fopen(log, "a");
        if (!f || dup2(fileno(f), 1) < 0 || dup2(fileno(f), 2) < 0) _exit(127);
        if (gpus[0]) {
            printf("gptc sweep: this run's GPUs: CUDA_VISIBLE_DEVICES=%s\n", gpus);
            fflush(stdout);
            if (setenv("CUDA_VISIBLE_DEVICES", gpus, 1)) _exit(127);
        }
        /* The binary this sweep runs, by its kernel handle rather than its
         * path: a gptc rebuilt in the middle of a sweep must not change the
         * later runs (or, half written, fail them). */
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    return pid;
}

typedef struct {
    const char *what;
    double val_loss;
    pid_t pid;       /* while it trains */
    int slot;        /* its GPU slot, with --gpus */
    bool resume;
    char dir[4300], log[4400];
} Outcome;

static Outcome out[SWEEP_MAX_RUNS][SWEEP_MAX_SEEDS];

/* Waits for one run to end, records how and frees its GPU slot. */
static int reap(const Sweep *w, bool *busy) {
    int status = 0;
    pid_t pid = wait(&status);
    for (int i = 0; pid > 0 && i < w->nruns; i++)
        for (int j = 0; j < w->nseeds; j++) {
            Outcome *o = &out[i][j];
            if (o->pid != pid) continue;
            int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            o->pid = 0;
            busy[o->slot] = false;
            o->what = rc ? "FAILED" : o->resume ? "resumed" : "done";
            o->val_loss = last_val_loss(o->dir);
            if (rc) printf("gptc sweep: %s: gptc train exited with status %d (see %s)\n", o->dir, rc, o->log);
            else printf("gptc sweep: %s: %s\n", o->dir, o->what);
            return rc != 0;
        }
    return 0;
}

/* Every run, `jobs` at a time (with GPUs: one per GPU slot). */
static int sweep(const Sweep *w, bool dry, int jobs, int gpus) {
    char logs[4200], err[4400];
    snprintf(logs, sizeof logs, "%s/logs", w->dir);
    if (!dry && !fs_mkdir_p(logs, err, sizeof err)) return fprintf(stderr, "gptc sweep: %s\n", err), 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    Share sh = {0, gpus, w->ranks ? w->ranks : 1};
    if (gpus) jobs = gpus / sh.ranks;
    else if (jobs > 1) sh.threads = (int)(cores / (jobs * sh.ranks) > 1 ? cores / (jobs * sh.ranks) : 1);
    bool busy[256] = {false};
    int failed = 0, running = 0;
    for (int i = 0; i < w->nruns; i++)
        for (int j = 0; j < w->nseeds; j++) {
            const SweepRun *r = &w->runs[i];
            Outcome *o = &out[i][j];
            snprintf(o->dir, sizeof o->dir, "%s/%s-s%lld", w->dir, r->name, w->seeds[j]);
            snprintf(o->log, sizeof o->log, "%s/%s-s%lld.log", logs, r->name, w->seeds[j]);
            int step, steps;
            RunState st = state_of(o->dir, &step, &steps);
            o->val_loss = last_val_loss(o->dir);
            o->resume = st == RUN_RESUME;
            if (st == RUN_DONE) {
                o->what = "done before";
                printf("gptc sweep: %s: finished (step %d of %d), skipped\n", o->dir, step, steps);
            } else if (st == RUN_STUCK) {
                o->what = "FAILED";
                failed++;
                printf("gptc sweep: %s: a run directory without a checkpoint to resume: remove it to start again\n",
                       o->dir);
            } else if (dry) {
                o->what = o->resume ? "would resume" : "would start";
                printf("gptc sweep: %s: %s\n", o->dir, o->what);
            } else {
                for (; running >= jobs; running--) failed += reap(w, busy);
                for (o->slot = 0; busy[o->slot]; o->slot++) continue;
                busy[o->slot] = true;
                printf("gptc sweep: %s: %s (output in %s)\n", o->dir, o->resume ? "resuming" : "starting", o->log);
                o->pid = start_train(w, r, w->seeds[j], o->dir, o->resume, o->log, &sh, o->slot);
                if (o->pid > 0) running++;
                else busy[o->slot] = false, o->what = "FAILED", failed++, printf("gptc sweep: %s: cannot start gptc train\n", o->dir);
            }
        }
    for (; running > 0; running--) failed += reap(w, busy);
    printf("\n%-24s %8s  %-12s %s\n", "run", "seed", "status", "last val_loss");
    for (int i = 0; i < w->nruns; i++)
        for (int j = 0; j < w->nseeds; j++) {
            printf("%-24s %8lld  %-12s ", w->runs[i].name, w->seeds[j], out[i][j].what);
            if (out[i][j].val_loss >= 0) printf("%.4f\n", out[i][j].val_loss);
            else puts("-");
        }
    if (dry) return 0;
    char path[4300];
    snprintf(path, sizeof path, "%s/sweep.json", w->dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; f && i < w->nruns; i++)
        for (int j = 0; j < w->nseeds; j++) {
            fprintf(f, "%s{\"name\": ", i || j ? ",\n " : "{\"runs\": [");
            json_str(f, w->runs[i].name, strlen(w->runs[i].name));
            fprintf(f, ", \"seed\": %lld, \"dir\": \"%s-s%lld\", \"status\": \"%s\", \"val_loss\": ", w->seeds[j],
                    w->runs[i].name, w->seeds[j], out[i][j].what);
            if (out[i][j].val_loss >= 0) fprintf(f, "%.9g}", out[i][j].val_loss);
            else fputs("null}", f);
        }
    if (!f || (fputs("]}\n", f), fclose(f) != 0)) return fprintf(stderr, "gptc sweep: cannot write %s\n", path), 1;
    printf("gptc sweep: %d of %d runs failed; %s lists them\n", failed, w->nruns * w->nseeds, path);
    return failed ? 1 : 0;
}

/* --gpus against the rest: not with --jobs, a GPU backend, whole runs. */
static bool gpus_fit(const Sweep *w, int gpus, bool jobs_given) {
    int ranks = w->ranks ? w->ranks : 1;
    if (!gpus) return true;
    if (jobs_given) fputs("gptc sweep: --gpus sets how many runs go at once; it does not go with --jobs\n", stderr);
    else if (strcmp(w->backend, "auto") && strcmp(w->backend, "cuda"))
        fprintf(stderr, "gptc sweep: --gpus runs on GPUs, and the sweep's backend is '%s' (use auto or cuda)\n",
                w->backend);
    else if (gpus < ranks)
        fprintf(stderr, "gptc sweep: --gpus %d holds no run of %d ranks (the sweep's 'ranks')\n", gpus, ranks);
    else return true;
    return false;
}

int cmd_sweep(int argc, char **argv) {
    bool dry = false;
    int jobs = 1, gpus = 0;
    bool jobs_given = false;
    const CliOpt opts[] = {{"--dry-run", NULL, CLI_FLAG, .to.flag = &dry},
                           {"--jobs", NULL, CLI_COUNT, .to.count = &jobs, .lo = 1, .hi = 256, .seen = &jobs_given},
                           {"--gpus", NULL, CLI_COUNT, .to.count = &gpus, .lo = 1, .hi = 256},
                           {0}};
    const CliCommand cmd = {"gptc sweep", "sweep file", .opts = opts, .help = sweep_help};
    CliArgs args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc != CLI_GO) return rc;
    Sweep *w = calloc(1, sizeof *w);
    if (!w) rc = 1, fputs("gptc: out of memory\n", stderr);
    else if (!read_sweep(args.args[0], w)) rc = 2, fprintf(stderr, "gptc sweep: %s is not a valid sweep\n", args.args[0]);
    else if (!gpus_fit(w, gpus, jobs_given)) rc = 2;
    else rc = sweep(w, dry, jobs, gpus);
    free(w);
    diag_reset();
    cli_free(&args);
    return rc;
}
