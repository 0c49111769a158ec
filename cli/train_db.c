/*
 * train_db.c: the tuning choices `gptc train --db FILE` runs with
 * (train_db.h).
 */
#include "cli/train_db.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/tune/db.h"
#include "compiler/util/fsutil.h"
#include "runtime/device/tune_bench.h"

/* The choices of a database's bytes (text[len] == 0, cut in place), read
 * from path, if it holds for executor `backend` here. */
static bool holding_choices(const char *path, char *text, size_t len, const char *backend, TuneChoices *out,
                            char *err, size_t errlen) {
    TuneValidator here[TUNE_MAX_VALIDATORS];
    TuneDb *db = malloc(sizeof *db);
    if (!db) return snprintf(err, errlen, "out of memory"), false;
    bool ok = tune_db_parse(path, text, len, db, err, errlen);
    const char *device = ok ? tune_db_value(db, "device") : NULL;
    int nhere = ok ? tune_validators(backend, device && !strcmp(device, "sim cost model"), here,
                                     TUNE_MAX_VALIDATORS, err, errlen)
                   : 0;
    ok = ok && nhere > 0 && tune_db_holds(db, path, here, nhere, true, err, errlen);
    if (ok) *out = db->choices;
    free(db);
    return ok;
}

/* The choices of the file at path, read here. */
static bool file_choices(const char *path, const char *backend, TuneChoices *out, char *err, size_t errlen) {
    size_t len;
    char *text = fs_read(path, &len);
    if (!text) return snprintf(err, errlen, "%s: %s", path, strerror(errno)), false;
    bool ok = holding_choices(path, text, len, backend, out, err, errlen);
    free(text);
    return ok;
}

/* Rank 0 reads and checks the file first, so that an error of the file is
 * said once; then it sends the bytes (a size of -1: it could not), and the
 * other ranks check them on their own devices. */
static bool rank_choices(const char *prog, const char *path, const char *backend, Coll *coll, TuneChoices *out) {
    int rank = coll_rank(coll);
    char err[1024];
    size_t len = 0;
    char *text = rank == 0 ? fs_read(path, &len) : NULL, *mine = NULL;
    bool ok = true;
    if (rank == 0) {
        if (!text) snprintf(err, sizeof err, "%s: %s", path, strerror(errno));
        else if ((mine = malloc(len + 1))) memcpy(mine, text, len + 1);
        else snprintf(err, sizeof err, "out of memory");
        ok = mine && holding_choices(path, mine, len, backend, out, err, sizeof err);
        free(mine);
    }
    int64_t size = ok && rank == 0 ? (int64_t)len : -1;
    coll_bcast(coll, &size, sizeof size, 0, "the tuning database's size");
    if (size >= 0 && rank != 0) {
        len = (size_t)size;
        if (!(text = malloc(len + 1))) coll_abort(coll, 1, "out of memory for the tuning database");
        text[len] = 0;
    }
    if (size >= 0) coll_bcast(coll, text, len, 0, "the tuning database");
    if (size >= 0 && rank != 0) ok = holding_choices(path, text, len, backend, out, err, sizeof err);
    free(text);
    if (!ok) fprintf(stderr, "%s: rank %d: --db: %s\n", prog, rank, err);
    double failed = !ok;
    coll_sum_f64(coll, &failed, 1, "the tuning database's check");
    return failed == 0;
}

TuneChoices *train_db_choices(const char *prog, const char *path, const char *backend, Coll *coll) {
    TuneChoices *t = malloc(sizeof *t);
    char err[1024];
    if (!t) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return NULL;
    }
    if (coll && coll_size(coll) > 1) {
        if (rank_choices(prog, path, backend, coll, t)) return t;
    } else if (file_choices(path, backend, t, err, sizeof err)) {
        return t;
    } else {
        fprintf(stderr, "%s: --db: %s\n", prog, err);
    }
    free(t);
    return NULL;
}

TuneDb *build_db_read(const char *prog, const char *path, const char *version) {
    TuneDb *db = malloc(sizeof *db);
    char err[1024];
    TuneValidator here = {"gptc", ""};
    snprintf(here.value, sizeof here.value, "%s", version);
    if (db && tune_db_read(path, db, err, sizeof err) && tune_db_holds(db, path, &here, 1, false, err, sizeof err)) {
        const char *device = tune_db_value(db, "device");
        printf("%s: kernel variants as tuned in %s (on %s)\n", prog, path, device ? device : "an unnamed device");
        return db;
    }
    fprintf(stderr, "%s: %s\n", prog, db ? err : "out of memory");
    free(db);
    return NULL;
}
