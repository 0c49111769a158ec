/*
 * diag.c: error messages with the source line and a caret.
 *
 * Sources are kept in a small list of (name, text) pairs. Quoting a line
 * scans its source from the start; that is cheap at the sizes the loader
 * allows (YTREE_MAX_BYTES) and keeps the store trivial. Control characters in
 * a quoted line are shown as '?' so a hostile file cannot drive the terminal.
 */
#include "compiler/lang/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct Source Source;
struct Source {
    Source *next;
    char *name;
    char *text;
    size_t len;
};

static Source *sources;
static FILE *stream;
static bool stream_set;
static int errors;

void diag_set_stream(FILE *f) {
    stream = f;
    stream_set = true;
}

static FILE *out(void) { return stream_set ? stream : stderr; }

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("gptc: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

const char *diag_add_source(const char *name, const char *text, size_t len) {
    Source *s = xmalloc(sizeof *s);
    size_t nlen = strlen(name);
    s->name = xmalloc(nlen + 1);
    memcpy(s->name, name, nlen + 1);
    s->text = xmalloc(len + 1);
    memcpy(s->text, text, len);
    s->text[len] = '\0';
    s->len = len;
    s->next = sources;
    sources = s;
    return s->name;
}

static const Source *find_source(const char *name) {
    for (const Source *s = sources; s; s = s->next)
        if (s->name == name || strcmp(s->name, name) == 0) return s;
    return NULL;
}

/* Prints line `line` of the source and a caret under column `col`. Columns
 * count bytes, as libyaml's marks do for the ASCII that model files hold. */
static void quote_line(FILE *f, const Source *s, int line, int col) {
    const char *p = s->text, *end = s->text + s->len;
    for (int l = 1; l < line && p < end; p++)
        if (*p == '\n') l++;
    if (p >= end && line > 1) return;
    const char *eol = p;
    while (eol < end && *eol != '\n' && *eol != '\r') eol++;
    int width = (int)(eol - p) > 160 ? 160 : (int)(eol - p);
    fprintf(f, "%6d | ", line);
    for (int i = 0; i < width; i++) {
        unsigned char c = (unsigned char)p[i];
        fputc(c == '\t' ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : c, f);
    }
    fputs("\n       | ", f);
    for (int i = 1; i < col && i <= width; i++) fputc(' ', f);
    fputs("^\n", f);
}

static void report(const char *kind, SrcLoc at, const char *fmt, va_list ap) {
    FILE *f = out();
    if (!f) return;
    if (at.file && at.line > 0)
        fprintf(f, "%s:%d:%d: %s: ", at.file, at.line, at.col, kind);
    else if (at.file)
        fprintf(f, "%s: %s: ", at.file, kind);
    else
        fprintf(f, "gptc: %s: ", kind);
    /* Messages quote the user's bytes; control characters must not reach
     * the terminal, and every message must stay on one line. */
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *p = msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    fputs(msg, f);
    fputc('\n', f);
    const Source *s = at.file && at.line > 0 ? find_source(at.file) : NULL;
    if (s) quote_line(f, s, at.line, at.col);
}

void diag_error(SrcLoc at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report("error", at, fmt, ap);
    va_end(ap);
    errors++;
}

void diag_note(SrcLoc at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    report("note", at, fmt, ap);
    va_end(ap);
}

int diag_error_count(void) { return errors; }

void diag_reset(void) {
    while (sources) {
        Source *next = sources->next;
        free(sources->name);
        free(sources->text);
        free(sources);
        sources = next;
    }
    errors = 0;
}
