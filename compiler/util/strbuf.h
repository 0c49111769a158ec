/*
 * strbuf.h: a growable, always NUL-terminated text buffer for the emitters
 * (template rendering, kernels.cu, kernels.h, reports).
 *
 * Running out of memory is not an error callers handle: it prints a message
 * and exits, as the rest of gptc does for allocations of this size.
 */
#ifndef GPTC_STRBUF_H
#define GPTC_STRBUF_H

#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len, cap;
} StrBuf;

void sb_append(StrBuf *b, const char *s, size_t n);
void sb_puts(StrBuf *b, const char *s);
void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text so far ("" for an empty buffer). */
const char *sb_str(const StrBuf *b);

void sb_free(StrBuf *b);

#endif
