/*
 * json.h: writing JSON values (strings and numbers) to a stream.
 */
#ifndef GPTC_JSON_H
#define GPTC_JSON_H

#include <stddef.h>
#include <stdio.h>

/* A JSON string of at most `max` bytes of str: quotes, backslashes and
 * control characters escaped, invalid UTF-8 replaced by U+FFFD. */
void json_str(FILE *f, const char *str, size_t max);

/* Integral values as integers, others with 17 significant digits. */
void json_num(FILE *f, double v);

#endif
