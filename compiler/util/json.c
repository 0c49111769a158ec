/*
 * json.c: the two JSON primitives gptc's reports need: strings that are
 * always valid JSON whatever bytes they hold, and numbers that print as
 * integers when they are integral.
 */
#include "compiler/util/json.h"

#include <math.h>
#include <string.h>

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    size_t len = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;
    if (len == 0 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    /* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
    if (len == 3 && s[0] == 0xe0 && s[1] < 0xa0) return 0;
    if (len == 3 && s[0] == 0xed && s[1] >= 0xa0) return 0;
    if (len == 4 && s[0] == 0xf0 && s[1] < 0x90) return 0;
    if (len == 4 && s[0] == 0xf4 && s[1] >= 0x90) return 0;
    return len;
}

/* A JSON string: quotes, backslashes and control characters escaped, and
 * bytes that are not valid UTF-8 replaced by U+FFFD, so that any path
 * yields valid JSON. */
void json_str(FILE *f, const char *str, size_t max) {
    const unsigned char *u = (const unsigned char *)str;
    size_t n = strnlen(str, max);
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            fprintf(f, "\\%c", c);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c < 0x20) {
            fprintf(f, "\\u%04x", c);
        } else if (c < 0x80) {
            fputc(c, f);
        } else {
            size_t len = utf8_len(u + i, n - i);
            if (len == 0) {
                fputs("\\ufffd", f);
            } else {
                fwrite(u + i, 1, len, f);
                i += len - 1;
            }
        }
    }
    fputc('"', f);
}

/* Integral values print as integers; FLOP counts always are in practice. */
void json_num(FILE *f, double v) {
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        fprintf(f, "%.0f", v);
    else
        fprintf(f, "%.17g", v);
}
