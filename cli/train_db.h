/*
 * train_db.h: the tuning choices `gptc train --db FILE` runs with, and the
 * database that `gptc compile --db` and `gptc bench --db` build from.
 */
#ifndef GPTC_TRAIN_DB_H
#define GPTC_TRAIN_DB_H

#include "compiler/tune/db.h"
#include "compiler/tune/space.h"
#include "runtime/dist/coll.h"

/* The choices of the database at `path` if it holds for executor
 * `backend` (not ref, which runs no generated kernels) here: every
 * validator that tuning there writes (tune_validators; on sim, by the cost
 * model or by the host's clock, as the database says).
 * On one rank of several (coll with more than one rank), rank 0 alone
 * reads the file and sends its bytes to every rank, and each rank checks
 * them against its own device: every rank runs rank 0's choices, whatever
 * the other machines' files say. NULL, said on stderr by `prog` (and the
 * rank), when the database does not hold; with several ranks, NULL on
 * every rank when any rank's check fails. */
TuneChoices *train_db_choices(const char *prog, const char *path, const char *backend, Coll *coll);

/* The database at `path` for building kernels from its choices (gptc
 * compile --db, gptc bench --db): of this gptc `version`, its device not
 * checked (compile builds for any GPU; a benchmark measures whatever it
 * runs), which is said on stdout with the device it was tuned on. NULL,
 * said on stderr by `prog`, when it cannot be read or is of another
 * version. The caller frees it. */
TuneDb *build_db_read(const char *prog, const char *path, const char *version);

#endif
