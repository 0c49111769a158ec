/*
 * train.h: the training loop, the same for every executor.
 *
 * A step runs forward and backward on each rank's slice of the global batch
 * (train.ranks slices of train.tokens_per_rank tokens: the global batch
 * never depends on how many processes share it), the gradients are
 * averaged over the slices (summed in tree_sum.h's fixed order), then the
 * optimizers. One process computes every slice in turn; N processes
 * started by MPI (coll.h) take train.ranks / N slices each.
 * Validation runs at step 0, every train.val.interval steps and after the
 * last step, with the step's window, and its time is not counted as
 * training time. A checkpoint is written after each validation and when
 * the run stops; --resume continues from it bit-identically.
 */
#ifndef GPTC_TRAIN_H
#define GPTC_TRAIN_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/build.h"
#include "compiler/lang/spec.h"

typedef struct {
    int stop_at;          /* stop after this many steps; 0: train.steps. The
                           * schedules always run over train.steps. */
    const char *run_dir;
    bool resume;
    bool accept_changes;  /* --resume may change what resume.h refuses */
    const char *backend;
    int threads;          /* 0: OpenMP's default */
    bool progress;        /* a progress display on stderr */
    int ranks;            /* 0: as many ranks as the launcher started (one
                           * without a launcher); else that many must run */
    double rank_timeout;  /* seconds any rank waits for another; 0: the
                           * default, TRAIN_RANK_TIMEOUT */
    struct Coll *coll;    /* the ranks' collectives, opened (and closed)
                           * by the caller; NULL: the trainer's own */
} TrainOptions;

/* How long a rank waits for another by default before it stops the run:
 * it also covers rank 0 writing a checkpoint while the others wait. */
#define TRAIN_RANK_TIMEOUT 60.0

/* o->rank_timeout, or the default when it is 0. */
static inline double train_rank_timeout(const TrainOptions *o) {
    return o->rank_timeout > 0 ? o->rank_timeout : TRAIN_RANK_TIMEOUT;
}

/* Trains the model of build mb (compiler/build.h) and returns the exit
 * status: 0 done, 1 the run failed (a NaN loss, an I/O error), 2 bad input
 * (data, checkpoint, run directory), 130 interrupted (a checkpoint was
 * written first). */
int train_run(const ModelBuild *mb, const TrainOptions *o);

/* The same with an executor the caller opened (the trainer closes it), for
 * executors built outside backend_open, such as the tests' fault
 * injectors. */
struct Backend;
int train_with(const ModelBuild *mb, const TrainOptions *o, const struct Backend *be);

/* Whether nranks processes can share the global batch (train.ranks slices)
 * evenly; false with a message. */
bool train_ranks_fit(const ModelSpec *s, int nranks, char *err, size_t errcap);

/* The longest sequence the executor must take: training or validation. */
int train_max_tokens(const ModelSpec *s);

#endif
