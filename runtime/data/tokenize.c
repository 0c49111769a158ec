/*
 * tokenize.c: bytes to tokens and text to paragraphs (see tokenize.h).
 * Nothing here allocates: callers size the output from the input length.
 */
#include "runtime/data/tokenize.h"

size_t tokenize_document(const char *text, size_t len, uint16_t *out) {
    out[0] = BYTE_EOT;
    for (size_t i = 0; i < len; i++) out[i + 1] = (unsigned char)text[i];
    return len + 1;
}

/* The end of the line starting at i: the index of its '\n', or len. */
static size_t line_end(const char *text, size_t len, size_t i) {
    while (i < len && text[i] != '\n') i++;
    return i;
}

/* Blank means only spaces, tabs and '\r' (Windows line ends) between
 * from and to, so "  \r\n" separates paragraphs as "\n" does. */
static bool is_blank(const char *text, size_t from, size_t to) {
    for (size_t i = from; i < to; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r') return false;
    return true;
}

bool next_paragraph(const char *text, size_t len, size_t *pos, size_t *start, size_t *plen) {
    size_t i = *pos;
    /* Skip blank lines before the paragraph. */
    for (;;) {
        if (i >= len) {
            *pos = len;
            return false;
        }
        size_t e = line_end(text, len, i);
        if (!is_blank(text, i, e)) break;
        i = e + 1;
    }
    *start = i;
    size_t end = i; /* one past the last byte of the last non-blank line */
    while (i < len) {
        size_t e = line_end(text, len, i);
        if (is_blank(text, i, e)) break;
        end = e;
        i = e + 1;
    }
    *plen = end - *start;
    *pos = i < len ? i : len;
    return true;
}
