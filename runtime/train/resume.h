/*
 * resume.h: what `gptc train --resume` compares before it continues a run.
 *
 * A resumed run must be the run its checkpoint began, or say how it is not.
 * The checkpoint holds the resolved ModelSpec and how the run was made
 * (ckpt.h's CkptMeta); this command gives a spec (the YAML file with its
 * --set options) and a way to run it. Every key of the spec whose resolved
 * value differs (the model, the schedule, the optimizers, the data globs,
 * the seed), a different number of processes, other training data (its
 * shard and token counts) and other kernel tuning choices (ModelBuild's
 * tuning hash) would change the run silently, so each is
 * refused unless --accept-changes says to go on. A different executor or
 * thread count, or another description, is allowed, because a checkpoint
 * moves between executors, but is reported. Accepted or reported, every
 * change lands in the run record of the resume (runlog.h).
 */
#ifndef GPTC_RESUME_H
#define GPTC_RESUME_H

#include <stdbool.h>
#include <stdio.h>

#include "runtime/train/ckpt.h"
#include "compiler/lang/spec.h"

typedef struct {
    char *key;       /* a spec key ("train.steps"), or "ranks", "executor", ... */
    char *old, *now; /* as JSON values */
    bool refused;    /* continues only with --accept-changes */
} RunChange;

typedef struct {
    RunChange *v;
    int n, cap;
    bool oom;
} RunChanges;

/* Everything that differs between the run the checkpoint holds (old_spec,
 * old) and this command's (now_spec, now: nranks, threads, executor and the
 * data counts filled in). False when out of memory. */
bool resume_compare(const ModelSpec *old_spec, const CkptMeta *old, const ModelSpec *now_spec,
                    const CkptMeta *now, RunChanges *out);

/* How many of the changes need --accept-changes. */
int resume_refused(const RunChanges *c);

/* The error of a refused resume: every change as `key: old -> new`, the
 * flag that accepts them, and the options that would undo them. */
void resume_refusal(FILE *f, const RunChanges *c, const char *run_dir);

/* One line per change, for the start of a resume that goes on. */
void resume_report(FILE *f, const RunChanges *c, bool accepted);

/* The changes of a resume that went on, as a JSON array of {"key", "old",
 * "new", "how"}: "accepted" for those --accept-changes let through,
 * "reported" for the others. */
void resume_changes_json(FILE *f, const RunChanges *c);

void resume_free(RunChanges *c);

#endif
