/*
 * template.c: the template engine (see template.h).
 *
 * One pass over the text: plain runs are copied, "{{NAME}}" is looked up
 * and replaced, and a line/column counter follows along for messages. After
 * the pass, every value that no placeholder used is an error too.
 */
#include "compiler/codegen/template.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void tpl_args_init(TplArgs *a) { memset(a, 0, sizeof *a); }

static void args_fail(TplArgs *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void args_fail(TplArgs *a, const char *fmt, ...) {
    if (a->err[0]) return; /* the first error is the one to fix */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->err, sizeof a->err, fmt, ap);
    va_end(ap);
}

static bool is_name_start(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9') || c == '_'; }

static bool valid_name(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n >= TPL_NAME_MAX || !is_name_start(name[0])) return false;
    for (size_t i = 1; i < n; i++)
        if (!is_name_char(name[i])) return false;
    return true;
}

static TplValue *lookup(TplArgs *a, const char *name, size_t len) {
    for (int i = 0; i < a->n; i++)
        if (strlen(a->v[i].name) == len && !memcmp(a->v[i].name, name, len)) return &a->v[i];
    return NULL;
}

static void set(TplArgs *a, const char *name, const char *value) {
    if (!valid_name(name)) return args_fail(a, "bad placeholder name '%.40s'", name);
    if (lookup(a, name, strlen(name))) return args_fail(a, "{{%s}} given twice", name);
    if (a->n == TPL_MAX_VALUES) return args_fail(a, "more than %d values", TPL_MAX_VALUES);
    if (strlen(value) >= TPL_VALUE_MAX) return args_fail(a, "value of {{%s}} too long", name);
    TplValue *v = &a->v[a->n++];
    snprintf(v->name, sizeof v->name, "%s", name);
    snprintf(v->value, sizeof v->value, "%s", value);
    v->used = false;
}

void tpl_set_int(TplArgs *a, const char *name, long long v) {
    char s[32];
    snprintf(s, sizeof s, v < 0 ? "(%lld)" : "%lld", v);
    set(a, name, s);
}

void tpl_set_float(TplArgs *a, const char *name, double v) {
    float f = (float)v;
    if (!isfinite(f)) return args_fail(a, "{{%s}}: %g is not a finite float", name, v);
    char num[32], s[40];
    snprintf(num, sizeof num, "%.9g", (double)f);
    const char *dot = strpbrk(num, ".e") ? "" : ".0";
    snprintf(s, sizeof s, f < 0 || (f == 0 && signbit(f)) ? "(%s%sf)" : "%s%sf", num, dot);
    set(a, name, s);
}

void tpl_set_ident(TplArgs *a, const char *name, const char *v) {
    size_t n = strlen(v);
    bool ok = n > 0;
    for (size_t i = 0; i < n; i++)
        ok = ok && ((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '_');
    if (!ok) return args_fail(a, "{{%s}}: '%.40s' is not an identifier fragment [a-z0-9_]", name, v);
    set(a, name, v);
}

/* ---- rendering ---- */

typedef struct {
    const char *tpl;  /* template name, for messages */
    const char *text; /* its start, for line/column */
    char *err;
    size_t errlen;
} Ctx;

static bool fail_at(const Ctx *c, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fail_at(const Ctx *c, const char *at, const char *fmt, ...) {
    int line = 1, col = 1;
    for (const char *p = c->text; p < at; p++) {
        col = *p == '\n' ? 1 : col + 1;
        line += *p == '\n';
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(c->err, c->errlen, "templates/%s:%d:%d: error: %s", c->tpl, line, col, msg);
    return false;
}

/* At "{{": substitutes the placeholder and returns the text after its "}}",
 * or NULL after reporting an error. */
static const char *placeholder(const Ctx *c, const char *at, TplArgs *a, StrBuf *out) {
    const char *name = at + 2, *end = name;
    while (is_name_char(*end)) end++;
    if (end == name || !is_name_start(*name) || end[0] != '}' || end[1] != '}') {
        fail_at(c, at, "malformed placeholder: '{{' must be followed by NAME'}}', NAME in [A-Z][A-Z0-9_]*");
        return NULL;
    }
    TplValue *v = lookup(a, name, (size_t)(end - name));
    if (!v) {
        fail_at(c, at, "placeholder {{%.*s}} has no value", (int)(end - name), name);
        return NULL;
    }
    v->used = true;
    sb_puts(out, v->value);
    return end + 2;
}

bool tpl_render(const char *tpl_name, const char *text, TplArgs *a, StrBuf *out, char *err, size_t errlen) {
    Ctx c = {tpl_name, text, err, errlen};
    if (a->err[0]) {
        snprintf(err, errlen, "templates/%s: error: %s", tpl_name, a->err);
        return false;
    }
    for (int i = 0; i < a->n; i++) a->v[i].used = false;
    const char *p = text;
    while (*p) {
        const char *open = strstr(p, "{{"), *close = strstr(p, "}}");
        if (close && (!open || close < open)) return fail_at(&c, close, "'}}' closes no placeholder");
        if (!open) {
            sb_puts(out, p);
            break;
        }
        sb_append(out, p, (size_t)(open - p));
        if (!(p = placeholder(&c, open, a, out))) return false;
    }
    for (int i = 0; i < a->n; i++)
        if (!a->v[i].used) {
            snprintf(err, errlen,
                     "templates/%s: error: a value was given for {{%s}}, which the template does not have",
                     tpl_name, a->v[i].name);
            return false;
        }
    return true;
}

const TplFile *tpl_find(const char *name) {
    for (int i = 0; i < tpl_file_count; i++)
        if (!strcmp(tpl_files[i].name, name)) return &tpl_files[i];
    return NULL;
}
