/*
 * strbuf.c: the growable text buffer (see strbuf.h). Capacity doubles, so
 * building a file of n bytes costs O(n) copies.
 */
#include "compiler/util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void reserve(StrBuf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        fputs("gptc: out of memory\n", stderr);
        exit(1);
    }
    b->data = p;
    b->cap = cap;
}

void sb_append(StrBuf *b, const char *s, size_t n) {
    reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sb_puts(StrBuf *b, const char *s) { sb_append(b, s, strlen(s)); }

/* Formats into a stack buffer first: most pieces fit, and only the long
 * ones are formatted twice. */
void sb_printf(StrBuf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    if ((size_t)n < sizeof small) return sb_append(b, small, (size_t)n);
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *sb_str(const StrBuf *b) { return b->data ? b->data : ""; }

void sb_free(StrBuf *b) {
    free(b->data);
    *b = (StrBuf){0};
}
