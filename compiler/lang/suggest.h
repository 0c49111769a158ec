/*
 * suggest.h: "did you mean ...?" for a misspelt name: a model key, a
 * command or an option. Keys, commands and options share one measure and
 * one idea of "close", so that every part of gptc suggests alike, and stays
 * quiet rather than suggest something unrelated.
 */
#ifndef GPTC_SUGGEST_H
#define GPTC_SUGGEST_H

#include <stdbool.h>
#include <stddef.h>

/* Edits (insertions, deletions, substitutions) that turn a into b; 99 when
 * either is longer than 63 bytes, too long to be a misspelling. */
int suggest_distance(const char *a, const char *b);

/* True when `d` edits make a plausible typo of a word of `len` characters:
 * 1 edit under 4 characters, 2 under 8, else 3, and never the whole word. */
bool suggest_close(int d, size_t len);

/* The name in `names` (NULL-terminated) nearest to `word`, or NULL when none
 * is close. Leading dashes and an "=VALUE" tail are not counted, so that
 * "-json" finds "--json" and "--setp=3" finds "--steps". */
const char *suggest_name(const char *word, const char *const *names);

/* "unknown WHAT 'WORD'", with "; did you mean 'NAME'?" when a name of
 * `names` is close, in a static buffer that the next call reuses. */
const char *suggest_unknown(const char *what, const char *word, const char *const *names);

#endif
