/*
 * runlog.h: what a training run writes for people and tools.
 *
 * - DIR/train.log: modded-nanogpt's lines, so existing scripts parse it:
 *     step:125/5960 val_loss:4.2345 train_time:12345ms step_avg:98.76ms
 *     step:126/5960 train_time:12444ms step_avg:98.76ms
 * - DIR/metrics.jsonl: one JSON object per line: a "run" record at every
 *   start and resume (how the run was made: its manifest, the resolved
 *   spec, and on a resume the changes it accepted or reported), a "train"
 *   record per step (loss, LR multiplier, time, tokens/s), a "val" record
 *   per validation with the mean train loss since the last one, the
 *   windows, and every scalar: skip weights, the per-layer x and x0k
 *   lambdas, and the value-embedding (sa) lambdas; and a "data" record
 *   each time train.data.repeat starts the training data again.
 * - stderr: one line per validation, and per-step progress: a bar on a
 *   terminal, a plain line every 5% of the run otherwise.
 * Both files are appended to on --resume, so a resumed run has one history.
 */
#ifndef GPTC_RUNLOG_H
#define GPTC_RUNLOG_H

#include <stdbool.h>
#include <stddef.h>

#include "runtime/train/manifest.h"
#include "runtime/train/resume.h"
#include "compiler/lang/spec.h"

typedef struct RunLog RunLog;

typedef struct {
    int step, steps;          /* steps done, steps in the schedule */
    int stop_at;              /* where this run stops (--steps), for the ETA */
    double loss;              /* this step's train loss (mean over ranks) */
    double lr_mult, step_ms, train_ms;
    double tokens_per_s;
} TrainPoint;

typedef struct {
    int step, steps;
    double val_loss, train_loss; /* train_loss: mean since the last validation */
    double train_ms;
    int long_blocks, short_blocks;
    const float *scalars;        /* the model's scalars vector */
    /* The RMS of x at each layer's mix [layers] and of each input table
     * after its norm [tables], over the last validation batch; NULL when
     * the executor does not report them. */
    const double *x_rms, *x0_rms;
} ValPoint;

/* `steps`: the schedule's length, for the progress display. */
RunLog *runlog_open(const char *dir, bool append, bool progress, int steps, char *err,
                    size_t errcap);
void runlog_close(RunLog *r);

typedef struct {
    bool resume;              /* a resume, or a start */
    int step;                 /* where it starts */
    size_t params;
    const ManifestRun *run;
    const RunChanges *changes; /* a resume's; NULL for a start */
    const ModelSpec *spec;
} RunRecord;

/* The "run" record as one line of JSON (no newline), a new string (the
 * checkpoint's history keeps it too); NULL when out of memory. */
char *runlog_record(const RunRecord *rec);

/* Appends a line (a run record) to metrics.jsonl. */
void runlog_line(RunLog *r, const char *line);

/* Another pass over the training data begins after `step`. */
void runlog_data_wrap(RunLog *r, int step, int epoch);
void runlog_train(RunLog *r, const TrainPoint *p);
void runlog_val(RunLog *r, const ModelSpec *s, const ValPoint *p);

/* Prints a message on its own line (clearing the progress bar first). */
void runlog_say(RunLog *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
