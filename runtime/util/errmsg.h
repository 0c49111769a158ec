/*
 * errmsg.h: the runtime's error messages about files, all of the form
 * "PATH: what went wrong", written into a caller's buffer.
 */
#ifndef GPTC_ERRMSG_H
#define GPTC_ERRMSG_H

#include <stdbool.h>
#include <stddef.h>

/* Writes "PATH: " and the formatted message into err (errcap bytes,
 * truncated if need be). Returns false, so a check can end with
 * `return path_error(...)`. */
bool path_error(char *err, size_t errcap, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
