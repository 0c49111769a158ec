/*
 * atomic_file.h: replacing a file so that a reader sees either the old
 * contents or the complete new ones, never a mix, even across a crash.
 *
 * The data goes to PATH.tmp; commit flushes it, fsyncs it, closes it,
 * renames it over PATH and fsyncs the directory so that the rename itself
 * is durable. Any failure removes PATH.tmp and leaves PATH as it was.
 */
#ifndef GPTC_ATOMIC_FILE_H
#define GPTC_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;          /* write here, between open and commit */
    char *path;       /* the destination */
    char *tmp;        /* path + ".tmp" */
} AtomicFile;

/* Creates PATH.tmp. Messages start with "PATH: ". */
bool atomic_open(AtomicFile *a, const char *path, char *err, size_t errcap);

/* Makes the written data PATH. On failure PATH is untouched (unless the
 * rename succeeded and only the directory fsync failed, which the message
 * says). Either way `a` is released. */
bool atomic_commit(AtomicFile *a, char *err, size_t errcap);

/* Gives up: closes and removes PATH.tmp, releases `a`. */
void atomic_abort(AtomicFile *a);

#endif
