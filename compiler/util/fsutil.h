/*
 * fsutil.h: the few file operations the compile stage needs: create a
 * directory with its parents, read a whole file, and replace a file
 * atomically.
 *
 * An atomic write goes to a fresh temporary file in the same directory
 * (mkstemp, so concurrent writers of the same path never share one) and is
 * renamed over the destination: a reader sees the old file or the new one,
 * never a mix. It is not fsync'ed: every reader of these files either
 * regenerates them (kernels.cu, kernels.h) or validates them (cache entries),
 * so a file cut short by a crash is harmless. Messages start with the path.
 */
#ifndef GPTC_FSUTIL_H
#define GPTC_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>

bool fs_mkdir_p(const char *path, char *err, size_t errlen);

/* PREFIX/NAME for a file .../NAME.yaml (or .yml, or no extension): where a
 * command puts what it makes for a model or sweep file by default. */
void fs_stem_path(const char *prefix, const char *file, char *out, size_t cap);

/* REL taken from the folder of FILE (as `extends` and a sweep's paths are),
 * or REL itself when absolute or FILE has no folder; false if it does not
 * fit in cap. */
bool fs_beside(const char *file, const char *rel, char *out, size_t cap);

/* PATH with each "NAME/.." and "." dropped, in place ("a/b/../../c" -> "c";
 * "a/.." -> "."): the path as a user would write it. Lexical: NAME is taken
 * as written, not as a link would lead. */
void fs_tidy(char *path);

/* The path of the running binary (/proc/self/exe); false if unknown. */
bool fs_self_exe(char *out, size_t cap);

/* The whole file, NUL-terminated (*len excludes the NUL); NULL on error,
 * with errno set. Free with free(). */
char *fs_read(const char *path, size_t *len);

/* Concatenates n pieces into PATH, atomically. */
bool fs_write_atomic(const char *path, const void *const *pieces, const size_t *lens, int n,
                     char *err, size_t errlen);

#endif
