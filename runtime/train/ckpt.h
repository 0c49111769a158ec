/*
 * ckpt.h: checkpoints (docs/design.md, 'Files').
 *
 * One file holds a header, the ModelSpec it was trained with, the training
 * position (step, data position, RNG state), how the run was made (its
 * executor, ranks and run history) and named float arrays
 * (parameters, then optimizer state), and ends with a checksum of everything
 * before it. It is written to PATH.tmp, flushed, then renamed over PATH, so a
 * crash mid-write leaves the previous checkpoint intact.
 *
 * Reading checks the magic, version, sizes, checksum and that the stored
 * model has the same parameter layout as the one being trained; any problem
 * is an error message naming the file, never a partial load.
 */
#ifndef GPTC_CKPT_H
#define GPTC_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime/data/data.h"
#include "runtime/util/rng.h"
#include "compiler/lang/spec.h"

#define CKPT_MAGIC 0x67707463u /* "gptc" */
#define CKPT_VERSION 2
#define CKPT_MAX_HISTORY (16 << 20)

typedef struct {
    int64_t step;      /* steps completed */
    DataPos data;      /* where the train loader stands */
    Rng rng;           /* the trainer's RNG after `step` steps */
    double train_time; /* seconds of training so far, for the logs */
    /* How the run was made when it wrote the checkpoint, for --resume to
     * compare (resume.h): processes, CPU threads, the executor's name, and
     * the training data's size as a cheap fingerprint of which data it is. */
    int32_t nranks, threads;
    char executor[16];
    int64_t data_tokens;
    int32_t data_shards;
    /* The kernels' tuning choices (ModelBuild.tuning): "" for the rules. */
    char tuning[17];
    /* The run's history: one JSON run record per line, one per start and
     * resume (runlog.h). Written when not NULL; ckpt_read leaves it NULL
     * (ckpt_read_history reads it). */
    const char *history;
} CkptMeta;

typedef struct {
    const char *name; /* e.g. "params", "adam_m" */
    float *data;
    size_t count;
} CkptArray;

bool ckpt_write(const char *path, const ModelSpec *s, const CkptMeta *meta,
                const CkptArray *arrays, int n, char *err, size_t errcap);

/* Reads into `arrays`, whose names and counts must match the file's exactly.
 * `s` is the model being trained: its parameter layout must match. */
bool ckpt_read(const char *path, const ModelSpec *s, CkptMeta *meta, CkptArray *arrays, int n,
               char *err, size_t errcap);

/* The run history, as a new string (the caller frees it); NULL with a
 * message on error. */
char *ckpt_read_history(const char *path, char *err, size_t errcap);

/* Reads the stored ModelSpec and meta, not the arrays (for --resume's
 * comparison, before anything is loaded). */
bool ckpt_read_head(const char *path, ModelSpec *s, CkptMeta *meta, char *err, size_t errcap);

/* Reads only the stored ModelSpec (for export, which needs no YAML). */
bool ckpt_read_spec(const char *path, ModelSpec *s, char *err, size_t errcap);

/* Reads the array named `name` whole into a new buffer (for export). */
float *ckpt_read_array(const char *path, const char *name, size_t *count, char *err,
                       size_t errcap);

#endif
