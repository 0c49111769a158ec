/*
 * cmd_train.c: `gptc train MODEL.yaml [options]` (help text below), and the
 * same command line for a generated trainer (`build/trainers/NAME/train
 * [options]`: cmd_train.h), which carries its model build instead of
 * reading a model file.
 */
#include "cli/cmd_train.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "cli/cli.h"
#include "runtime/dist/coll.h"
#include "runtime/device/cuda/gpu_cuda.h"
#include "runtime/dist/launch.h"
#include "runtime/train/manifest.h"
#include "compiler/lang/spec_json.h"
#include "runtime/train/train.h"
#include "compiler/lang/validate.h"
#include "cli/train_db.h"
#include "compiler/util/fsutil.h"

static const char help[] =
    "\n"
    "Trains the model on its data (train.data.train / train.data.val) and writes\n"
    "the run to a directory:\n"
    "  train.log       modded-nanogpt's lines: step:125/1200 val_loss:2.1234 ...\n"
    "  metrics.jsonl   one JSON record per step and per validation, with every\n"
    "                  lambda and skip weight per layer at each validation\n"
    "  ckpt.bin        the latest checkpoint (after each validation and at the end)\n"
    "\n"
    "Options:\n"
    "  --run-dir DIR     where the run goes (default: runs/NAME for models/NAME.yaml)\n"
    "  --steps N         stop once the run has taken N steps, counted from step 0,\n"
    "                    not from where --resume starts (the schedules still span\n"
    "                    train.steps; to change the schedule, use --set\n"
    "                    train.steps=N)\n"
    "  --resume          continue the run in --run-dir from its checkpoint,\n"
    "                    bit-identically to a run that never stopped. The model,\n"
    "                    schedule, data, seed and number of ranks must resolve as\n"
    "                    the run was made: any difference is listed and refused\n"
    "                    (a different executor or thread count is allowed and\n"
    "                    reported)\n"
    "  --accept-changes  with --resume: continue despite those differences; they\n"
    "                    are recorded in metrics.jsonl\n"
    "  --backend NAME    the executor: auto (the default: cuda when there is a GPU,\n"
    "                    else ref), ref (fp32 C on the CPU), sim (the generated\n"
    "                    kernels compiled for this CPU: slow, for checking) or cuda\n"
    "                    (the GPU; an error without one)\n"
    "  --threads N       CPU threads (default: all); with --ranks, split among the\n"
    "                    ranks\n"
    "  --ranks N         N processes share each step's global batch (train.ranks\n"
    "                    slices; N must divide it), started here on this machine\n"
    "                    (no MPI needed: this process sums their gradients and\n"
    "                    stops them all if one fails or hangs); under an mpirun or\n"
    "                    srun of your own (MPI, across machines), checks that N\n"
    "                    ranks started. Same global batch, same results\n"
    "  --gpus N          --ranks N on this machine's first N GPUs, one each\n"
    "                    (implies --backend cuda)\n"
    "  --rank-timeout S  seconds a rank waits for another before it stops the run\n"
    "                    (default 60; also covers rank 0 writing a checkpoint)\n"
    "  --seed N          the seed of the initialisation (--set train.seed=N)\n"
    "  --data-seed N     shuffle the order of the training batches with seed N\n"
    "                    (--set train.data.seed=N; 0, the default, keeps the\n"
    "                    recipe's fixed order)\n"
    "  --set KEY=VALUE   override a model key (repeatable), as in gptc check; a\n"
    "                    generated trainer takes only train.* keys that keep\n"
    "                    the build it carries (not train.tokens_per_rank)\n"
    "  --db FILE         the kernels' variants as chosen in this tuning database\n"
    "                    (gptc tune), if it holds for this gptc and executor;\n"
    "                    with several ranks, rank 0 reads it and sends it to\n"
    "                    every rank; not for a generated trainer (gptc compile --db)\n"
    "  --no-progress     no progress display on stderr\n"
    "\n"
    "A NaN or infinite loss stops the run with the last good checkpoint intact.\n"
    "Ctrl-C stops after the current step and writes a checkpoint first.\n"
    "\n"
    "Exit status: 0 done, 1 the run failed, 2 bad model, data, checkpoint or usage,\n"
    "130 interrupted.\n"
    "\n"
    "Example:\n"
    "  gptc data data/demo/corpus.txt -o data/demo --name demo --paragraphs\n"
    "  gptc train models/tiny.yaml --run-dir runs/tiny\n"
    "  gptc train models/tiny.yaml --run-dir runs/tiny4 --ranks 4\n"
    "  gptc train models/tiny.yaml --run-dir runs/tiny8 --gpus 8\n";

/* "gptc train", or a generated trainer's own name, for messages. */
static const char *prog = "gptc train";

/* The ranks' own arguments: ours without --ranks, --gpus and --threads,
 * which the launcher sets for each rank, then the executor resolved here,
 * so that every rank runs the same one. */
static int rank_args(const CliCommand *c, int argc, char **argv, const char *backend, char **out) {
    static const char *const own[] = {"--ranks", "--gpus", "--threads", NULL};
    int n = cli_without(c, argc, argv, own, out);
    out[n++] = "--backend";
    out[n++] = (char *)backend;
    return n;
}

/* Starts the ranks and serves them (launch.h), unless this process is a
 * rank already: one that launch_ranks or an MPI launcher started. */
static int train_ranks(const ModelBuild *mb, const TrainOptions *o, const CliCommand *c, const char *command, int argc,
                       char **argv) {
    char err[512];
    if (!train_ranks_fit(&mb->spec, o->ranks, err, sizeof err)) {
        fprintf(stderr, "gptc train: %s\n", err);
        return 2;
    }
    if (o->ranks <= 1 || coll_launcher_size() > 0 || coll_hub_started()) return train_run(mb, o);
    char **args = malloc(sizeof *args * (size_t)(argc + 3));
    if (!args) return fputs("gptc: out of memory\n", stderr), 1;
    /* The ranks run with arguments of their own; their run records name
     * the command the user typed. */
    setenv(MANIFEST_COMMAND_ENV, manifest_command(), 1);
    int rc = launch_ranks(o->ranks, o->threads, command, rank_args(c, argc, argv, o->backend, args), args,
                          train_rank_timeout(o));
    free(args);
    return rc;
}

/* --gpus N: the cuda executor on N ranks, when the driver sees N GPUs.
 * 0, or the exit status of the error. */
static int check_gpus(int gpus, TrainOptions *o) {
    if (!gpus) return 0;
    if (strcmp(o->backend, "auto") && strcmp(o->backend, "cuda")) {
        fprintf(stderr, "gptc train: --gpus %d runs the cuda executor, not --backend %s\n", gpus,
                o->backend);
        return 2;
    }
    if (o->ranks && o->ranks != gpus) {
        fprintf(stderr, "gptc train: --gpus %d and --ranks %d disagree (--gpus N is --ranks N)\n",
                gpus, o->ranks);
        return 2;
    }
    char why[800];
    int have = cuda_device_count(why, sizeof why);
    if (have == 0) {
        fprintf(stderr, "gptc train: --gpus %d: %s\n", gpus, why);
        return 2;
    }
    if (have < gpus) {
        fprintf(stderr, "gptc train: --gpus %d: the driver sees only %d GPU%s\n", gpus, have,
                have == 1 ? "" : "s");
        return 2;
    }
    o->backend = "cuda";
    o->ranks = gpus;
    return 0;
}

typedef struct {
    TrainOptions o;
    const char *model; /* the model file; a generated trainer's: its model's name */
    CliArgs cli;       /* the model file and the --set options */
    int gpus;
    bool no_progress;
    const char *db;    /* gptc train's --db: a tuning database */
    int64_t seed, data_seed; /* --seed: train.seed; --data-seed: train.data.seed */
    bool seed_given, data_seed_given;
    char seed_set[48], data_seed_set[48];
    CliOpt opts[15];
    CliCommand cmd;
    char help[sizeof help + 8192];
    char run_dir[4096];
} TrainArgs;

/* Appends KEY=VALUE (written into `text`) to the --set options; false when
 * they are full. */
static bool add_set(TrainArgs *a, char *text, size_t cap, const char *key, int64_t value) {
    if (a->cli.nsets == CLI_MAX_SETS) return false;
    snprintf(text, cap, "%s=%" PRId64, key, value);
    a->cli.sets[a->cli.nsets++] = text;
    return true;
}

/* The arguments after "train" (gptc) or the program's name (a generated
 * trainer, which takes no model file: want_model false). CLI_GO when they
 * are good, else the exit status (0 after --help). */
static int parse(int argc, char **argv, bool want_model, TrainArgs *a) {
    TrainOptions *o = &a->o;
    const CliOpt opts[] = {
        {"--run-dir", NULL, CLI_STRING, .to.str = &o->run_dir, .what = "a directory"},
        {"--steps", NULL, CLI_COUNT, .to.count = &o->stop_at, .lo = 1, .hi = INT_MAX},
        {"--resume", NULL, CLI_FLAG, .to.flag = &o->resume},
        {"--backend", NULL, CLI_STRING, .to.str = &o->backend},
        {"--threads", NULL, CLI_COUNT, .to.count = &o->threads, .lo = 1, .hi = INT_MAX},
        {"--ranks", NULL, CLI_COUNT, .to.count = &o->ranks, .lo = 1, .hi = INT_MAX},
        {"--gpus", NULL, CLI_COUNT, .to.count = &a->gpus, .lo = 1, .hi = INT_MAX},
        {"--rank-timeout", NULL, CLI_SECONDS, .to.real = &o->rank_timeout},
        {"--set", .kind = CLI_SET},
        {"--no-progress", NULL, CLI_FLAG, .to.flag = &a->no_progress},
        {"--accept-changes", NULL, CLI_FLAG, .to.flag = &o->accept_changes},
        {"--seed", NULL, CLI_COUNT64, .to.count64 = &a->seed, .lo = 0, .hi = INT64_C(9007199254740991),
         .seen = &a->seed_given},
        {"--data-seed", NULL, CLI_COUNT64, .to.count64 = &a->data_seed, .lo = 0,
         .hi = INT64_C(9007199254740991), .seen = &a->data_seed_given},
        /* NULL ends the table for a generated trainer: its kernels are
         * chosen when it is made (gptc compile --db). */
        {want_model ? "--db" : NULL, NULL, CLI_STRING, .to.str = &a->db, .what = "a file"},
        {0},
    };
    /* Kept beside the options: the ranks' command line (rank_args) is read
     * with the same table after the parse. */
    _Static_assert(sizeof opts == sizeof a->opts, "TrainArgs.opts holds the table");
    memcpy(a->opts, opts, sizeof opts);
    if (want_model)
        snprintf(a->help, sizeof a->help, "Usage: gptc train MODEL.yaml [options]\n%s", help);
    else
        snprintf(a->help, sizeof a->help,
                 "Usage: %s [options]\n\nThe trainer gptc generated for %s (no model file needed).\n%s", prog,
                 a->model, help);
    a->cmd = (CliCommand){prog, want_model ? "model file" : NULL,
                          .stray = want_model ? NULL : "'%s': this trainer carries its model; it takes no model file",
                          .opts = a->opts, .help = a->help};
    int rc = cli_parse(&a->cmd, argc, argv, &a->cli);
    if (rc != CLI_GO) return rc;
    if (want_model) a->model = a->cli.args[0];
    /* --seed N is --set train.seed=N, --data-seed N --set train.data.seed=N,
     * after the other --set options. */
    if (a->seed_given && !add_set(a, a->seed_set, sizeof a->seed_set, "train.seed", a->seed))
        return cli_usage(&a->cmd, "more than %d --set options", CLI_MAX_SETS);
    if (a->data_seed_given &&
        !add_set(a, a->data_seed_set, sizeof a->data_seed_set, "train.data.seed", a->data_seed))
        return cli_usage(&a->cmd, "more than %d --set options", CLI_MAX_SETS);
    o->progress = !a->no_progress;
    if (o->accept_changes && !o->resume) return cli_usage(&a->cmd, "--accept-changes goes with --resume");
    return CLI_GO;
}

/* The executor (said on stderr) and the run directory; CLI_GO, or the
 * exit status of a refusal. */
static int settle(TrainArgs *a) {
    int bad = check_gpus(a->gpus, &a->o);
    if (bad) return bad;
    char note[1024], why[1024];
    if (!(a->o.backend = backend_resolve(a->o.backend, note, sizeof note, why, sizeof why))) {
        fprintf(stderr, "%s: %s\n", prog, why);
        return 2;
    }
    fprintf(stderr, "%s: %s\n", prog, note);
    if (!a->o.run_dir) {
        fs_stem_path("runs", a->model, a->run_dir, sizeof a->run_dir);
        a->o.run_dir = a->run_dir;
    }
    return CLI_GO;
}

static int start(TrainArgs *a, const ModelBuild *mb, const char *command, int argc, char **argv) {
    return a->o.ranks ? train_ranks(mb, &a->o, &a->cmd, command, argc, argv) : train_run(mb, &a->o);
}

/* --db's choices (train_db.h) for this process: none for the process that
 * starts the ranks (they read the database, rank 0 alone), on a rank with
 * the collectives that the run then uses (a->o.coll). False, said, if the
 * choices cannot be had. */
static bool db_choices(TrainArgs *a, TuneChoices **out) {
    *out = NULL;
    if (!a->db) return true;
    if (!strcmp(a->o.backend, "ref")) {
        fprintf(stderr, "%s: --db: the ref executor runs no generated kernels to tune\n", prog);
        return false;
    }
    bool rank = coll_launcher_size() > 0 || coll_hub_started();
    if (a->o.ranks > 1 && !rank) return true;
    char err[1024];
    if (rank && !(a->o.coll = coll_open(train_rank_timeout(&a->o), err, sizeof err))) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return false;
    }
    return (*out = train_db_choices(prog, a->db, a->o.backend, a->o.coll));
}

int cmd_train(int argc, char **argv) {
    TrainArgs *a = calloc(1, sizeof *a);
    ModelSpec *spec = malloc(sizeof *spec);
    if (!a || !spec) return free(a), free(spec), fputs("gptc: out of memory\n", stderr), 1;
    a->o = (TrainOptions){.backend = "auto", .progress = true};
    int rc = parse(argc, argv, true, a);
    if (rc == CLI_GO) rc = settle(a);
    ModelBuild *mb = NULL;
    TuneChoices *choices = NULL;
    char why[1024];
    if (rc != CLI_GO) {
    } else if (!spec_load(a->model, a->cli.sets, a->cli.nsets, spec)) {
        fprintf(stderr, "gptc train: %s is not a valid model\n", a->model);
        rc = 2;
    } else if (!db_choices(a, &choices)) {
        rc = 2;
    } else if (!(mb = model_build_tuned(spec, choices, why, sizeof why))) {
        fprintf(stderr, "gptc train: %s: %s\n", a->model, why);
        rc = choices ? 2 : 1;
    } else {
        rc = start(a, mb, "train", argc, argv);
    }
    coll_close(a->o.coll);
    model_build_free(mb);
    free(choices);
    diag_reset();
    cli_free(&a->cli);
    free(spec);
    free(a);
    return rc;
}

/* --set on a generated trainer: the build it carries holds for train.*
 * keys (the schedule, data, seed and optimizers are read at run time),
 * unless one sizes its kernels (build_kernels_fit); another key would
 * need another build. */
typedef struct {
    const char *outside; /* the first key outside train.* */
    char sets[256];      /* the train.* keys set, for messages */
} Changes;

static void changed_key(void *ctx, const char *key, const char *old, const char *now) {
    (void)old, (void)now;
    Changes *c = ctx;
    if (!strncmp(key, "train.", 6)) {
        size_t n = strlen(c->sets);
        snprintf(c->sets + n, sizeof c->sets - n, "%s%s", n ? ", " : "", key);
    } else if (!c->outside && strcmp(key, "description")) {
        c->outside = key;
    }
}

/* Whether spec, the carried one with the --set keys, fits the build. */
static bool fits_build(const ModelBuild *b, const ModelSpec *carried, const ModelSpec *spec) {
    Changes c = {0};
    char which[300];
    spec_diff(carried, spec, changed_key, &c);
    if (c.outside) {
        fprintf(stderr, "%s: --set %s: this trainer was generated for %s and carries its build; a key "
                        "outside train.* changes the model: compile it again with gptc compile\n",
                prog, c.outside, b->model_name);
        return false;
    }
    if (!build_kernels_fit(b, spec, which, sizeof which)) {
        fprintf(stderr, "%s: --set %s: changes the kernels this trainer carries (%s): put the keys in a model "
                        "file that extends %s and make its trainer\n",
                prog, c.sets, which, b->model_name);
        return false;
    }
    return true;
}

int cmd_train_generated(int argc, char **argv, const char *name, ModelBuild *b, const char *spec_json) {
    TrainArgs *a = calloc(1, sizeof *a);
    ModelSpec *carried = malloc(sizeof *carried), *spec = malloc(sizeof *spec);
    if (!a || !carried || !spec) return free(a), free(carried), free(spec), fputs("out of memory\n", stderr), 1;
    prog = name;
    a->o = (TrainOptions){.backend = "auto", .progress = true};
    a->model = b->model_name;
    int rc = parse(argc, argv, false, a);
    if (rc == CLI_GO) rc = settle(a);
    if (rc != CLI_GO) {
    } else if (!spec_load_flat(b->model_name, spec_json, strlen(spec_json), NULL, 0, carried) ||
               !spec_load_flat(b->model_name, spec_json, strlen(spec_json), a->cli.sets, a->cli.nsets, spec) ||
               !fits_build(b, carried, spec)) {
        rc = 2;
    } else {
        b->spec = *spec;
        rc = start(a, b, NULL, argc, argv);
    }
    diag_reset();
    cli_free(&a->cli);
    free(carried);
    free(spec);
    free(a);
    return rc;
}
