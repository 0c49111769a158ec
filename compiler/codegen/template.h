/*
 * template.h: the kernel-template engine and the templates built into gptc.
 *
 * A template is CUDA source from templates/ with placeholders {{NAME}}, NAME
 * an upper-case identifier ([A-Z][A-Z0-9_]*). Rendering replaces each one
 * with a value set on a TplArgs. Values are only ever validated numbers, or
 * identifier suffixes that an emitter builds from numbers (kernel names such
 * as "t2_d128"): nothing read from a YAML file can reach generated source,
 * and every value is a single token (negative numbers are parenthesised), so
 * a substitution cannot change how the code around it parses.
 *
 * Rendering fails, with a message naming template:line:column, on:
 *   - a placeholder that has no value;
 *   - a value for a NAME the template does not contain (a stale emitter);
 *   - malformed braces: "{{" not followed by NAME"}}", or a "}}" that closes
 *     nothing. "{{" and "}}" are reserved for placeholders: templates write
 *     nested braces with a space ("} }").
 * A setter that is given a bad name or value does not fail by itself: the
 * first such error sticks to the TplArgs and rendering reports it, so an
 * emitter can set all its values and check once.
 *
 * The templates (the .cu and .cuh files of templates/) are compiled into the
 * binary by scripts/embed.c, so gptc needs no files beside it at run time.
 */
#ifndef GPTC_TEMPLATE_H
#define GPTC_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/util/strbuf.h"

#define TPL_MAX_VALUES 32
#define TPL_NAME_MAX 32
#define TPL_VALUE_MAX 64

typedef struct {
    char name[TPL_NAME_MAX];
    char value[TPL_VALUE_MAX];
    bool used; /* set by tpl_render */
} TplValue;

typedef struct {
    int n;
    TplValue v[TPL_MAX_VALUES];
    char err[192]; /* the first setter error; "" when none */
} TplArgs;

void tpl_args_init(TplArgs *a);

/* An integer, printed with %lld ("(-3)" when negative). */
void tpl_set_int(TplArgs *a, const char *name, long long v);

/* A float constant: v is rounded to float, then printed with %.9g (which
 * gives the float back exactly) plus ".0" if it has neither '.' nor an
 * exponent, plus 'f': 0.5 -> "0.5f", 1 -> "1.0f", -0.25 -> "(-0.25f)", 0.1 -> "0.100000001f".
 * Infinities and NaN are refused. */
void tpl_set_float(TplArgs *a, const char *name, double v);

/* An identifier fragment made of [a-z0-9_] (a kernel-name suffix the caller
 * built from numbers); anything else is refused. */
void tpl_set_ident(TplArgs *a, const char *name, const char *v);

/* Renders `text` (named `tpl_name` in messages) into `out` (appended).
 * Returns false with a message in err; `out` may then hold a partial
 * rendering, which the caller discards. */
bool tpl_render(const char *tpl_name, const char *text, TplArgs *a, StrBuf *out, char *err,
                size_t errlen);

/* ---- the templates built into the binary (build/gen/templates_data.c) ---- */

typedef struct {
    const char *name; /* file name in templates/, e.g. "x0_mix.cu" */
    const char *text; /* NUL-terminated */
    size_t len;
} TplFile;

extern const TplFile tpl_files[];
extern const int tpl_file_count;

/* The built-in template called `name`, or NULL. */
const TplFile *tpl_find(const char *name);

#endif
