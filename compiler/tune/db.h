/*
 * db.h: the tuning database, a text file of tuning choices and the
 * conditions they hold under.
 *
 *   gptc-tune 1
 *   # comments and blank lines are ignored
 *   validator NAME VALUE...          what the choices were measured on
 *   candidate FAMILY TPL SHAPE threads=N vec=N STATUS [MICROSECONDS]
 *   choice FAMILY TPL SHAPE threads=N vec=N
 *
 * Validators come first: gptc's version, the device (a GPU's name, or
 * "sim cost model"), and for a GPU its compute capability, SM count, L2
 * size, clocks, driver, NVRTC and cuBLASLt versions. A database is used
 * only where every validator it names has the same value: any difference
 * means "tune again", said with both values; nothing is reused silently.
 * TPL is the hash of the family's template (tune_template_hash): a choice
 * made for another version of it is refused when applied. A candidate row
 * records one variant's status (ok; pruned, wrong: dropped before timing;
 * untimed: the budget ran out; slow: timed for the first rounds only,
 * search.h's cut) and time; a choice is
 * the one variant used for its (family, template, shape), at most one.
 * Written atomically (a temporary file, then rename); a file that does not
 * parse is an error at FILE:LINE.
 */
#ifndef GPTC_TUNE_DB_H
#define GPTC_TUNE_DB_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/tune/space.h"

#define TUNE_MAX_VALIDATORS 16
#define TUNE_MAX_ROWS 1024

typedef struct {
    char name[24];
    char value[128];
} TuneValidator;

typedef struct {
    TuneChoice c;       /* the variant: family, template hash, shape, knobs */
    char status[16];    /* ok, pruned, wrong */
    double us;          /* its time, < 0 when not timed */
} TuneRow;

typedef struct {
    int nvalidators;
    TuneValidator v[TUNE_MAX_VALIDATORS];
    int nrows;
    TuneRow rows[TUNE_MAX_ROWS];
    TuneChoices choices;
} TuneDb;

/* Reads PATH into *db (overwritten). False with "PATH:LINE: why" in err. */
bool tune_db_read(const char *path, TuneDb *db, char *err, size_t errlen);

/* The same for a database's bytes text[0..len), read from PATH (which
 * messages name), with text[len] == 0 as fs_read leaves it. Its lines are
 * cut in place. */
bool tune_db_parse(const char *path, char *text, size_t len, TuneDb *db, char *err, size_t errlen);

/* Writes db to PATH atomically. */
bool tune_db_write(const char *path, const TuneDb *db, char *err, size_t errlen);

/* Sets validator `name` to value (adds it, or replaces its value). */
void tune_db_validator(TuneDb *db, const char *name, const char *value);

/* Whether db holds where `here` was measured: every validator of here
 * must be in db with the same value and, when `every`, every validator of
 * db in here (a run that cannot check one cannot trust it). False with the
 * first difference ("PATH was tuned for device X; here it is Y: tune
 * again") in err. */
bool tune_db_holds(const TuneDb *db, const char *path, const TuneValidator *here, int nhere, bool every, char *err,
                   size_t errlen);

/* Whether two choices are for the same (family, template, shape). */
bool tune_same_key(const TuneChoice *a, const TuneChoice *b);

/* The value of db's validator `name`, or NULL. */
const char *tune_db_value(const TuneDb *db, const char *name);

#endif
