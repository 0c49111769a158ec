/*
 * train.c: the training loop (see train.h).
 *
 * Everything the run depends on is in the Trainer: the executor (which
 * owns the optimizer and its state), both loaders, the step and the clock.
 * A checkpoint saves exactly the parts that change (parameters, optimizer
 * state, step, data position, RNG), so a resumed run computes the same
 * numbers an uninterrupted one would: nothing else carries over between
 * steps. The trainer has one path for every executor (backend.h).
 *
 * The train loader stands on the batch of the last step taken, and moves
 * on just before the next step needs a batch: so a checkpoint's data
 * position is always that of a consumed batch, and running out of data is
 * an error only when a step actually needs more.
 *
 * Ranks (coll.h): the global batch is train.ranks slices of
 * train.tokens_per_rank tokens, whatever the number of processes N. Each
 * process takes train.ranks / N consecutive slices, one after the other
 * (gradient accumulation), sums their gradients in tree_sum.h's order, and
 * the processes sum those over coll.h's matching tree; every process then
 * takes the same optimizer step from the same numbers, so the parameters
 * stay identical without being sent. Decisions that end the loop are
 * either made from numbers every rank shares (the loss, the step, the
 * data) or agreed through a collective (a signal, a failed checkpoint), so
 * no rank is left waiting for one that has gone. Rank 0 alone writes the
 * logs and checkpoints; every rank reads the checkpoint to resume.
 */
#include "runtime/train/train.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/backend.h"
#include "runtime/train/ckpt.h"
#include "runtime/dist/coll.h"
#include "runtime/data/data.h"
#include "runtime/train/manifest.h"
#include "runtime/train/resume.h"
#include "runtime/train/runlog.h"
#include "runtime/dist/tree_sum.h"

#define CKPT_NAME "ckpt.bin"

typedef struct {
    const ModelBuild *mb;
    const ModelSpec *s; /* the build's */
    const TrainOptions *o;
    Backend be;
    DataLoader *train, *val;
    RunLog *log; /* rank 0's; NULL on the others */
    Coll *coll;
    int rank, nranks;
    int slices, first_slice; /* this rank's slices of the global batch */
    TreeSum gsum;
    double *slice_loss, *val_loss; /* per slice; per validation batch */
    bool stop_agreed;              /* a signal, as every rank has seen it */
    bool device_ranks;             /* the executor averages the gradients (join_ranks) */
    int *in, *tgt;
    int step, stop_at, saved_at;
    double train_ms, loss_sum;
    int loss_count;
    Rng rng;
    char ckpt_path[4096];
    bool made_dir;       /* this run created its directory */
    RunChanges changes;  /* --resume: how this run differs from the checkpoint's */
    DataPos resume_at;   /* --resume: the checkpoint's data position */
    char *history;       /* rank 0: the run records so far, one per line */
} Trainer;

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

/* Messages for people come from rank 0, which holds the log. */
#define SAY(t, ...) \
    do { \
        if ((t)->log) runlog_say((t)->log, __VA_ARGS__); \
    } while (0)

/* True on every rank when any rank's `failed` is true. */
static bool any_failed(Trainer *t, bool failed, const char *what) {
    double n = failed;
    coll_sum_f64(t->coll, &n, 1, what);
    return n > 0;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* ---- setup ---- */

/* Creates the run directory and its parents; *made tells whether the
 * directory itself is new (so that a run that fails to start can take it
 * back). */
static bool make_dir(const char *dir, bool *made, char *err, size_t errcap) {
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0777) && errno != EEXIST) break;
        *p = '/';
    }
    *made = mkdir(path, 0777) == 0;
    if (!*made && errno != EEXIST) {
        snprintf(err, errcap, "cannot create the run directory %s: %s", dir, strerror(errno));
        return false;
    }
    return true;
}

/* A new run that failed to start leaves nothing behind: the directory it
 * made goes, with the empty logs it may have opened. */
static void unmake_dir(const Trainer *t) {
    if (!t->made_dir) return;
    const char *names[] = {"train.log", "metrics.jsonl"};
    char path[4200];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", t->o->run_dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && st.st_size == 0) unlink(path);
    }
    rmdir(t->o->run_dir);
}

/* A new run never overwrites another run's checkpoint; --resume needs one. */
static bool check_run_dir(Trainer *t, char *err, size_t errcap) {
    struct stat st;
    bool exists = stat(t->ckpt_path, &st) == 0;
    if (t->o->resume && !exists) {
        snprintf(err, errcap, "--resume: %s holds no checkpoint (%s)", t->o->run_dir, CKPT_NAME);
        return false;
    }
    if (!t->o->resume && exists) {
        snprintf(err, errcap, "%s already holds a run (%s); continue it with --resume, or "
                              "choose another --run-dir", t->o->run_dir, CKPT_NAME);
        return false;
    }
    return true;
}

static bool open_data(Trainer *t, char *err, size_t errcap) {
    const SpecTrain *tr = &t->s->train;
    char why[1024];
    t->train = data_open(tr->train_glob, tr->ranks * tr->tokens_per_rank, t->s->vocab.size, why,
                         sizeof why);
    if (!t->train) {
        snprintf(err, errcap, "training data: %s", why);
        return false;
    }
    data_shuffle(t->train, tr->data_seed);
    t->val = data_open(tr->val_glob, tr->ranks * tr->val_tokens_per_rank, t->s->vocab.size, why,
                       sizeof why);
    if (!t->val) {
        snprintf(err, errcap, "validation data: %s", why);
        return false;
    }
    int64_t need = tr->val_tokens + 1;
    if (data_total_tokens(t->val) < need) {
        snprintf(err, errcap, "validation data: %s holds %lld tokens; train.val.tokens needs %lld",
                 tr->val_glob, (long long)data_total_tokens(t->val), (long long)need);
        return false;
    }
    return true;
}

/* The parameters and the optimizer's state, as the executor gives them
 * (a device's fetched now). -1 when it could not. */
static int state_arrays(Trainer *t, CkptArray *a, int max) {
    a[0] = (CkptArray){"params", t->be.params(t->be.impl), t->be.num_params(t->be.impl)};
    int n = t->be.state(t->be.impl, a + 1, max - 1);
    return n < 0 ? -1 : 1 + n;
}

/* The executor's name before it is open (--resume compares first). */
static const char *executor_name(const Trainer *t) { return t->be.impl ? t->be.name : t->o->backend; }

/* How this run is made, as a checkpoint records it (ckpt.h). */
static CkptMeta run_facts(const Trainer *t) {
    CkptMeta m = {.nranks = t->nranks, .threads = omp_get_max_threads(),
                  .data_tokens = data_total_tokens(t->train), .data_shards = data_num_shards(t->train)};
    snprintf(m.executor, sizeof m.executor, "%s", executor_name(t));
    snprintf(m.tuning, sizeof m.tuning, "%s", t->mb->tuning);
    return m;
}

/* Rank 0 writes; every rank learns whether that worked. */
static bool save(Trainer *t, char *err, size_t errcap) {
    if (t->saved_at == t->step) return true;
    t->saved_at = t->step;
    bool ok = true;
    if (t->rank == 0) {
        CkptArray a[8];
        int n = state_arrays(t, a, 8);
        CkptMeta meta = run_facts(t);
        meta.step = t->step;
        meta.data = data_tell(t->train);
        meta.rng = t->rng;
        meta.train_time = t->train_ms / 1000;
        meta.history = t->history;
        if (n < 0) {
            snprintf(err, errcap, "%s", t->be.error(t->be.impl));
            ok = false;
        } else {
            ok = ckpt_write(t->ckpt_path, t->s, &meta, a, n, err, errcap);
        }
    }
    char what[64];
    snprintf(what, sizeof what, "the checkpoint of step %d", t->step);
    bool failed = any_failed(t, !ok, what);
    if (failed && ok) snprintf(err, errcap, "rank 0 could not write %s", what);
    return !failed;
}

static bool restore(Trainer *t, char *err, size_t errcap) {
    CkptArray a[8];
    int n = state_arrays(t, a, 8);
    CkptMeta meta;
    if (n < 0) return snprintf(err, errcap, "%s", t->be.error(t->be.impl)), false;
    if (!ckpt_read(t->ckpt_path, t->s, &meta, a, n, err, errcap)) return false;
    t->be.params_changed(t->be.impl);
    if (t->be.set_state(t->be.impl, a + 1, n - 1)) return snprintf(err, errcap, "%s", t->be.error(t->be.impl)), false;
    if (!data_seek(t->train, meta.data, err, errcap)) return false;
    t->step = (int)meta.step;
    t->saved_at = t->step;
    t->rng = meta.rng;
    t->train_ms = meta.train_time * 1000;
    return true;
}

static int64_t val_batches(const ModelSpec *s) {
    return s->train.val_tokens / (s->train.ranks * s->train.val_tokens_per_rank);
}

bool train_ranks_fit(const ModelSpec *s, int nranks, char *err, size_t errcap) {
    int R = s->train.ranks;
    if (R % nranks == 0) return true;
    snprintf(err, errcap, "%d ranks cannot share the global batch evenly: it is train.ranks = %d "
                          "slices of %lld tokens; use a number of ranks that divides %d",
             nranks, R, (long long)s->train.tokens_per_rank, R);
    return false;
}

/* This process's share of the global batch. */
static bool split_batch(Trainer *t, char *err, size_t errcap) {
    if (!train_ranks_fit(t->s, t->nranks, err, errcap)) return false;
    int R = t->s->train.ranks;
    t->slices = R / t->nranks;
    t->first_slice = t->rank * t->slices;
    return true;
}

/* --resume: the run in the checkpoint against this command's (resume.h);
 * refused changes are an error unless accepted. Also reads the history the
 * run records of this resume will extend. */
static bool compare_with_checkpoint(Trainer *t, char *err, size_t errcap) {
    ModelSpec *old = malloc(sizeof *old);
    CkptMeta was, now = run_facts(t);
    bool ok = old && ckpt_read_head(t->ckpt_path, old, &was, err, errcap);
    if (!old) snprintf(err, errcap, "out of memory");
    if (ok && !resume_compare(old, &was, t->s, &now, &t->changes)) {
        snprintf(err, errcap, "out of memory");
        ok = false;
    }
    free(old);
    if (!ok) return false;
    t->resume_at = was.data;
    t->step = (int)was.step;
    if (resume_refused(&t->changes) && !t->o->accept_changes) {
        fputs("gptc train: ", stderr);
        resume_refusal(stderr, &t->changes, t->o->run_dir);
        fputc('\n', stderr);
        err[0] = '\0'; /* said already */
        return false;
    }
    return (t->history = ckpt_read_history(t->ckpt_path, err, errcap)) != NULL;
}

/* Training data that cannot feed the run is found before step 1, unless
 * train.data.repeat starts it again at its end. */
static bool data_suffices(Trainer *t, char *err, size_t errcap) {
    const SpecTrain *tr = &t->s->train;
    if (tr->data_repeat) return true;
    if (t->o->resume && !data_seek(t->train, t->resume_at, err, errcap)) return false;
    /* The loader stands on the batch of the last step taken (train.c's
     * header): the first step takes the one it stands on. */
    int64_t holds = data_batches_left(t->train) - (t->step > 0);
    int64_t need = t->stop_at - t->step;
    if (holds >= need) return true;
    snprintf(err, errcap,
             "the training data (%s: %d shard%s, %lld tokens) holds %lld steps of %d x %lld tokens "
             "%s step %d; this run needs %lld (to step %d). Give it more data, fewer steps "
             "(--set train.steps=N, or --steps N to stop early), or --set train.data.repeat=true "
             "to start the data again at its end",
             tr->train_glob, data_num_shards(t->train), data_num_shards(t->train) == 1 ? "" : "s",
             (long long)data_total_tokens(t->train), (long long)(holds < 0 ? 0 : holds), tr->ranks,
             (long long)tr->tokens_per_rank, t->step ? "after" : "from", t->step, (long long)need,
             t->stop_at);
    return false;
}

/* Rank 0's checks before anything is made or loaded: the run directory,
 * what a resume would change, whether the data suffices; then the
 * directory. */
static bool check_run(Trainer *t, char *err, size_t errcap) {
    return check_run_dir(t, err, errcap) &&
           (!t->o->resume || compare_with_checkpoint(t, err, errcap)) &&
           data_suffices(t, err, errcap) && make_dir(t->o->run_dir, &t->made_dir, err, errcap);
}

static bool setup(Trainer *t, char *err, size_t errcap) {
    const ModelSpec *s = t->s;
    snprintf(t->ckpt_path, sizeof t->ckpt_path, "%s/%s", t->o->run_dir, CKPT_NAME);
    if (!split_batch(t, err, errcap)) return false;
    if (!open_data(t, err, errcap)) return false;
    /* Rank 0 owns the run directory; the others only read its checkpoint. */
    if (t->rank == 0 && !check_run(t, err, errcap)) return false;
    int max_T = train_max_tokens(s);
    if (!t->be.impl && !backend_open(&t->be, t->o->backend, t->mb, max_T, err, errcap)) return false;
    if (t->nranks > 1 && t->slices == 1 && t->be.join_ranks) {
        if (t->be.join_ranks(t->be.impl, t->coll, train_rank_timeout(t->o))) {
            snprintf(err, errcap, "%s", t->be.error(t->be.impl));
            return false;
        }
        t->device_ranks = true;
    }
    tree_sum_init(&t->gsum, t->be.num_params(t->be.impl));
    t->slice_loss = calloc((size_t)t->slices, sizeof(double));
    t->val_loss = calloc((size_t)val_batches(s), sizeof(double));
    t->in = calloc((size_t)max_T, sizeof(int));
    t->tgt = calloc((size_t)max_T, sizeof(int));
    if (!t->slice_loss || !t->val_loss || !t->in || !t->tgt) {
        snprintf(err, errcap, "out of memory");
        return false;
    }
    rng_seed(&t->rng, s->train.seed);
    if (t->o->resume) return restore(t, err, errcap);
    t->be.init(t->be.impl, s->train.seed);
    return true;
}

static void teardown(Trainer *t) {
    runlog_close(t->log);
    resume_free(&t->changes);
    free(t->history);
    data_close(t->train);
    data_close(t->val);
    backend_close(&t->be);
    tree_sum_free(&t->gsum);
    if (t->coll != t->o->coll) coll_close(t->coll);
    free(t->slice_loss);
    free(t->val_loss);
    free(t->in);
    free(t->tgt);
}

/* ---- steps ---- */

/* The mean loss over the validation tokens: each batch's slices summed in
 * tree order across the ranks, the batches one after the other. */
static double validate(Trainer *t) {
    const SpecTrain *tr = &t->s->train;
    int T = (int)tr->val_tokens_per_rank;
    int64_t batches = val_batches(t->s);
    data_rewind(t->val);
    for (int64_t b = 0; b < batches; b++) {
        for (int k = 0; k < t->slices; k++) {
            data_batch(t->val, t->first_slice + k, T, t->in, t->tgt);
            t->slice_loss[k] = t->be.forward(t->be.impl, t->in, t->tgt, T, t->step, true);
        }
        t->val_loss[b] = tree_sum_f64(t->slice_loss, t->slices);
        if (b + 1 < batches) data_advance(t->val);
    }
    char what[64];
    snprintf(what, sizeof what, "the validation losses of step %d", t->step);
    coll_sum_f64(t->coll, t->val_loss, (size_t)batches, what);
    double sum = 0;
    for (int64_t b = 0; b < batches; b++) sum += t->val_loss[b];
    return sum / (double)(batches * tr->ranks);
}

static void log_validation(Trainer *t, double val_loss) {
    const ParamTensor *meta;
    const size_t *off;
    int n = t->be.tensors(t->be.impl, &meta, &off);
    const float *scalars = NULL;
    for (int i = 0; i < n; i++)
        if (meta[i].role == ROLE_SCALARS) scalars = t->be.params(t->be.impl) + off[i];
    ValPoint p = {t->step, t->s->train.steps, val_loss,
                  t->loss_count ? t->loss_sum / t->loss_count : NAN, t->train_ms, 0, 0, scalars, NULL, NULL};
    double x_rms[SPEC_MAX_LAYERS], x0_rms[SPEC_MAX_TABLES];
    if (t->be.norms && !t->be.norms(t->be.impl, x_rms, x0_rms)) p.x_rms = x_rms, p.x0_rms = x0_rms;
    spec_window_blocks(t->s, t->step, true, &p.long_blocks, &p.short_blocks);
    runlog_val(t->log, t->s, &p);
    t->loss_sum = 0;
    t->loss_count = 0;
}

/* Forward and backward on this rank's slices, one after the other; with
 * several, their gradients are summed in tree order as they come. */
static void local_slices(Trainer *t) {
    int T = (int)t->s->train.tokens_per_rank;
    for (int k = 0; k < t->slices; k++) {
        data_batch(t->train, t->first_slice + k, T, t->in, t->tgt);
        t->slice_loss[k] = t->be.forward(t->be.impl, t->in, t->tgt, T, t->step, false);
        t->be.backward(t->be.impl);
        if (t->slices > 1 && !tree_sum_add(&t->gsum, t->be.grads(t->be.impl)))
            coll_abort(t->coll, 1, "out of memory for the gradient sums");
    }
}

/* Whether backward leaves the executor with the mean gradients of the
 * global batch: it is one slice, or the executor averages over the ranks
 * itself (join_ranks). Then nothing is summed or fetched, and a device
 * executor's gradients stay on the device. */
static bool grads_averaged(const Trainer *t) { return t->s->train.ranks == 1 || t->device_ranks; }

/* This rank's gradients (its slices' sum) summed over the ranks in tree
 * order, divided by the global batch's slices and written back to the
 * executor. */
static void average_on_host(Trainer *t) {
    size_t n = t->be.num_params(t->be.impl);
    float *g = t->be.grads(t->be.impl), *sum = t->slices > 1 ? tree_sum_finish(&t->gsum) : g;
    if (!sum) coll_abort(t->coll, 1, "out of memory for the gradient sums");
    char what[64];
    snprintf(what, sizeof what, "the gradients of step %d", t->step + 1);
    coll_sum_f32(t->coll, sum, n, what);
    float inv = 1.0f / (float)t->s->train.ranks;
    for (size_t i = 0; i < n; i++) g[i] = sum[i] * inv;
    t->be.grads_changed(t->be.impl);
}

/* One step on every rank: the mean over the global batch's slices of the
 * loss and the gradients, then the executor's optimizer. Also agrees on a
 * pending signal (stop_agreed), carried with the loss. */
static double train_step(Trainer *t) {
    local_slices(t);
    if (!grads_averaged(t)) average_on_host(t);
    double shared[2] = {tree_sum_f64(t->slice_loss, t->slices), interrupted};
    char what[64];
    snprintf(what, sizeof what, "the loss of step %d", t->step + 1);
    coll_sum_f64(t->coll, shared, 2, what);
    t->stop_agreed = shared[1] > 0;
    double loss = shared[0] / t->s->train.ranks;
    if (!isfinite(loss)) return loss;
    return t->be.step(t->be.impl, t->step) ? NAN : loss;
}

/* One process reads its own signals; several act on the signals every rank
 * has seen by the last step, so that all stop at the same step. */
static bool stop_requested(const Trainer *t) {
    return t->nranks == 1 ? interrupted : t->stop_agreed;
}

static bool due_for_validation(const Trainer *t, bool first) {
    int every = t->s->train.val_interval;
    if (t->step == t->s->train.steps) return true;
    if (first && t->o->resume) return false; /* the run that saved it validated already */
    return t->step == 0 || (every > 0 && t->step % every == 0);
}

static int fail_save(Trainer *t, const char *what) {
    char err[1024];
    if (!save(t, err, sizeof err)) {
        SAY(t, "gptc train: %s, and the checkpoint failed: %s", what, err);
        return 1;
    }
    return 0;
}

/* An executor that failed (a launch, a copy, memory) says why; the run
 * stops as for a bad loss, with the last checkpoint intact. */
static bool executor_failed(Trainer *t, const char *during) {
    if (!t->be.error(t->be.impl)[0]) return false;
    SAY(t, "gptc train: %s of step %d failed: %s. Stopping; the last good checkpoint, %s, is intact", during,
        t->step + 1, t->be.error(t->be.impl), t->ckpt_path);
    return true;
}

/* Moves the train loader on; at the end of the data, train.data.repeat
 * starts it again (logged), else false. */
static bool next_batch(Trainer *t) {
    if (data_advance(t->train)) return true;
    if (!t->s->train.data_repeat) return false;
    data_wrap(t->train);
    if (t->log) runlog_data_wrap(t->log, t->step, data_tell(t->train).epoch);
    return true;
}

static int loop(Trainer *t) {
    const ModelSpec *s = t->s;
    double tokens = (double)s->train.ranks * s->train.tokens_per_rank;
    for (bool first = true;; first = false) {
        if (due_for_validation(t, first)) {
            double val_loss = validate(t);
            if (executor_failed(t, "the validation")) return 1;
            if (t->log) log_validation(t, val_loss);
            if (fail_save(t, "validation done")) return 1;
        }
        if (t->step >= t->stop_at) break;
        if (stop_requested(t)) {
            SAY(t, "gptc train: interrupted after step %d; resume with --resume",
                       t->step);
            return fail_save(t, "interrupted") ? 1 : 130;
        }
        if (t->step > 0 && !next_batch(t)) {
            SAY(t, "gptc train: the training data (%s) ran out after step %d",
                       s->train.train_glob, t->step);
            return fail_save(t, "out of data") ? 1 : 2;
        }
        double t0 = now_ms();
        double loss = train_step(t);
        if (executor_failed(t, "the training")) return 1;
        if (!isfinite(loss)) {
            SAY(t, "gptc train: the loss is %g at step %d; stopping. The last good "
                               "checkpoint, %s, is intact", loss, t->step + 1, t->ckpt_path);
            return 1;
        }
        double ms = now_ms() - t0;
        t->step++;
        t->train_ms += ms;
        t->loss_sum += loss;
        t->loss_count++;
        TrainPoint p = {t->step, s->train.steps, t->stop_at, loss, spec_lr_mult(s, t->step - 1),
                        ms, t->train_ms, tokens / (ms / 1000)};
        if (t->log) runlog_train(t->log, &p);
    }
    char err[1024];
    if (!save(t, err, sizeof err)) {
        SAY(t, "gptc train: %s", err);
        return 1;
    }
    return 0;
}

/* Rank 0: this start or resume as a run record, in metrics.jsonl and in
 * the history every later checkpoint carries; a resume's changes are
 * reported first. */
static bool record_run(Trainer *t, char *err, size_t errcap) {
    ManifestRun run = {executor_name(t), omp_get_max_threads(), t->nranks, t->slices, &t->be};
    RunRecord rec = {t->o->resume, t->step, t->be.num_params(t->be.impl), &run,
                     t->o->resume ? &t->changes : NULL, t->s};
    char *line = runlog_record(&rec);
    size_t had = t->history ? strlen(t->history) : 0;
    char *h = line ? realloc(t->history, had + strlen(line) + 2) : NULL;
    if (!h) {
        free(line);
        snprintf(err, errcap, "out of memory");
        return false;
    }
    sprintf(h + had, "%s\n", line);
    t->history = h;
    if (t->o->resume) resume_report(stderr, &t->changes, t->o->accept_changes);
    runlog_line(t->log, line);
    free(line);
    return true;
}

int train_max_tokens(const ModelSpec *s) {
    int64_t T = s->train.tokens_per_rank, Tv = s->train.val_tokens_per_rank;
    return (int)(T > Tv ? T : Tv);
}

/* Every rank runs the kernels rank 0 runs: rank 0 sends the hash of its
 * tuning choices, and each rank compares its own. gptc train's ranks build
 * from the database rank 0 sent them (cli/train_db.h); generated trainers
 * started apart, or a build that went otherwise, are caught here. */
static bool same_tuning(Trainer *t, char *err, size_t errcap) {
    char root[sizeof t->mb->tuning];
    memcpy(root, t->mb->tuning, sizeof root);
    coll_bcast(t->coll, root, sizeof root, 0, "the kernel tuning");
    root[sizeof root - 1] = 0;
    if (!strcmp(root, t->mb->tuning)) return true;
    snprintf(err, errcap, "its kernel tuning (%s) is not rank 0's (%s): every rank must use the same tuning database",
             t->mb->tuning[0] ? t->mb->tuning : "the rules", root[0] ? root : "the rules");
    return false;
}

int train_run(const ModelBuild *mb, const TrainOptions *o) { return train_with(mb, o, NULL); }

int train_with(const ModelBuild *mb, const TrainOptions *o, const Backend *be) {
    const ModelSpec *s = &mb->spec;
    Trainer t = {.mb = mb, .s = s, .o = o, .saved_at = -1};
    if (be) t.be = *be;
    t.stop_at = o->stop_at > 0 && o->stop_at < s->train.steps ? o->stop_at : s->train.steps;
    if (o->threads > 0) {
        omp_set_num_threads(o->threads);
        openblas_set_num_threads(o->threads);
    }
    char err[2048];
    if (!(t.coll = o->coll ? o->coll : coll_open(train_rank_timeout(o), err, sizeof err))) {
        fprintf(stderr, "gptc train: %s\n", err);
        teardown(&t);
        return 2;
    }
    t.rank = coll_rank(t.coll);
    t.nranks = coll_size(t.coll);
    bool ok = true;
    if (o->ranks > 0 && o->ranks != t.nranks) {
        snprintf(err, sizeof err, "--ranks %d, but the launcher started %d", o->ranks, t.nranks);
        ok = false;
    }
    ok = ok && same_tuning(&t, err, sizeof err) && setup(&t, err, sizeof err) &&
         (t.rank || ((t.log = runlog_open(o->run_dir, o->resume, o->progress, s->train.steps, err,
                                          sizeof err)) &&
                     record_run(&t, err, sizeof err)));
    if (!ok && err[0]) {
        if (t.nranks > 1) fprintf(stderr, "gptc train: rank %d: %s\n", t.rank, err);
        else fprintf(stderr, "gptc train: %s\n", err);
    }
    if (any_failed(&t, !ok, "the start of the run")) {
        if (t.rank == 0 && !o->resume) unmake_dir(&t);
        teardown(&t);
        return 2;
    }
    SAY(&t, "gptc train: %s on %s, %zu parameters, %s step %d of %d (%d x %lld tokens)",
        s->source, t.be.name, t.be.num_params(t.be.impl), o->resume ? "resuming at" : "from",
        t.step, s->train.steps, s->train.ranks, (long long)s->train.tokens_per_rank);
    if (t.nranks > 1)
        SAY(&t, "gptc train: %d ranks, %d slice%s of the global batch each; gradients averaged %s", t.nranks,
            t.slices, t.slices > 1 ? "s (accumulated)" : "",
            t.device_ranks ? "on the device during the backward pass, Muon's work shared" : "on the host");
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int rc = t.step > t.stop_at ? 0 : loop(&t);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (rc == 0) SAY(&t, "gptc train: done at step %d; checkpoint %s", t.step, t.ckpt_path);
    teardown(&t);
    return rc;
}
