/*
 * diag.h: error messages that point at the source.
 *
 * Every message about a model file names file:line:column, then shows the
 * offending line with a caret under the column, the way a C compiler does:
 *
 *   models/x.yaml:12:9: error: model.dim: expected an integer, found "abc"
 *      12 |   dim: abc
 *         |        ^
 *
 * Sources are registered once (file text, or a --set argument) so that any
 * later stage can quote them. Messages go to the stream set with
 * diag_set_stream (stderr by default; NULL silences them, as the fuzzer
 * does). Nothing here exits: callers count errors and decide.
 */
#ifndef GPTC_DIAG_H
#define GPTC_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    const char *file; /* registered name; NULL when there is no position */
    int line, col;    /* 1-based; 0 when unknown */
} SrcLoc;

void diag_set_stream(FILE *f);

/* Keeps a copy of `text` under `name` for quoting; returns the stored name,
 * which stays valid until diag_reset. */
const char *diag_add_source(const char *name, const char *text, size_t len);

void diag_error(SrcLoc at, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void diag_note(SrcLoc at, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int diag_error_count(void);

/* Frees every registered source and zeroes the error count. */
void diag_reset(void);

#endif
