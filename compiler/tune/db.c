/*
 * db.c: the tuning database's text format (db.h).
 */
#include "compiler/tune/db.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/util/fsutil.h"
#include "compiler/version.h"
#include "compiler/util/strbuf.h"

#define MAGIC "gptc-tune 1"

/* The next space-separated word of *p (advanced past it), NUL-terminated
 * in place; NULL at the end of the line. */
static char *word(char **p) {
    char *s = *p;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return NULL;
    char *w = s;
    while (*s && *s != ' ' && *s != '\t') s++;
    if (*s) *s++ = 0;
    *p = s;
    return w;
}

static bool copy(char *dst, size_t cap, const char *src) {
    if (!src || strlen(src) >= cap) return false;
    memcpy(dst, src, strlen(src) + 1);
    return true;
}

/* Whether the next word of p holds '=': a knob. */
static bool knob_next(const char *p) {
    p += strspn(p, " \t");
    return memchr(p, '=', strcspn(p, " \t")) != NULL;
}

/* FAMILY TPL SHAPE NAME=N..., the knobs (threads and vec at least; a
 * GEMM's, its algorithm alone). */
static bool variant(char **p, TuneChoice *c) {
    memset(c, 0, sizeof *c);
    if (!copy(c->family, sizeof c->family, word(p)) || !copy(c->tpl, sizeof c->tpl, word(p))) return false;
    if (!strcmp(c->tpl, "-")) c->tpl[0] = 0; /* not checked */
    if (!copy(c->shape, sizeof c->shape, word(p))) return false;
    while (knob_next(*p))
        if (!tune_knobs_parse(word(p), &c->knobs)) return false;
    if (!strcmp(c->family, TUNE_GEMM)) return c->knobs.algo.set && !c->knobs.threads && !c->knobs.vec;
    return c->knobs.threads > 0 && c->knobs.vec > 0 && !c->knobs.algo.set;
}

static const char *parse_line(char *line, TuneDb *db) {
    char *p = line, *kind = word(&p);
    if (!strcmp(kind, "validator")) {
        char *name = word(&p);
        while (*p == ' ' || *p == '\t') p++;
        if (!name || !*p) return "a validator needs a name and a value";
        if (strlen(name) >= sizeof db->v[0].name || strlen(p) >= sizeof db->v[0].value) return "validator too long";
        if (db->nrows || db->choices.n) return "validators come before every candidate and choice";
        for (int i = 0; i < db->nvalidators; i++)
            if (!strcmp(db->v[i].name, name)) return "this validator is given twice";
        if (db->nvalidators == TUNE_MAX_VALIDATORS) return "too many validators";
        tune_db_validator(db, name, p);
        return NULL;
    }
    if (!strcmp(kind, "candidate")) {
        if (db->nrows == TUNE_MAX_ROWS) return "too many candidate rows";
        TuneRow *r = &db->rows[db->nrows];
        if (!variant(&p, &r->c)) return "expected: candidate FAMILY TEMPLATE SHAPE threads=N vec=N [KNOB=N]... (a GEMM: algo=...) STATUS [MICROSECONDS]";
        const char *st = word(&p), *us = word(&p);
        if (!st || (strcmp(st, "ok") && strcmp(st, "pruned") && strcmp(st, "wrong") && strcmp(st, "untimed") &&
                    strcmp(st, "slow")))
            return "a candidate's status is ok, pruned, wrong, untimed or slow";
        snprintf(r->status, sizeof r->status, "%s", st);
        r->us = -1;
        if (us) {
            char *end;
            r->us = strtod(us, &end);
            if (*end || !(r->us >= 0)) return "a candidate's time is microseconds, a number >= 0";
        }
        if (word(&p)) return "unexpected words after the candidate";
        db->nrows++;
        return NULL;
    }
    if (!strcmp(kind, "choice")) {
        TuneChoices *t = &db->choices;
        if (t->n == (int)(sizeof t->c / sizeof t->c[0])) return "too many choices";
        if (!variant(&p, &t->c[t->n]) || word(&p)) return "expected: choice FAMILY TEMPLATE SHAPE threads=N vec=N [KNOB=N]...";
        for (int i = 0; i < t->n; i++)
            if (tune_same_key(&t->c[i], &t->c[t->n])) return "a second choice for the same family, template and shape";
        t->n++;
        return NULL;
    }
    return "expected validator, candidate or choice";
}

bool tune_db_parse(const char *path, char *text, size_t len, TuneDb *db, char *err, size_t errlen) {
    memset(db, 0, sizeof *db);
    const char *why = NULL, *nul = memchr(text, 0, len);
    int lineno = 0;
    for (char *line = text, *next; !why && line < text + len; line = next) {
        char *eol = memchr(line, '\n', (size_t)(text + len - line));
        const char *end = eol ? eol : text + len, *first = line + strspn(line, " \t");
        next = eol ? eol + 1 : text + len;
        if (eol) *eol = 0;
        lineno++;
        if (nul && nul >= line && nul < end) why = "a NUL byte in the line";
        else if (lineno == 1 && strcmp(line, MAGIC)) why = "not a gptc tuning database (line 1 must be " MAGIC ")";
        else if (lineno > 1 && *first && *first != '#') why = parse_line(line, db);
    }
    if (!why && lineno == 0) why = "empty file", lineno = 1;
    if (why) snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
    return !why;
}

bool tune_db_read(const char *path, TuneDb *db, char *err, size_t errlen) {
    size_t len;
    char *text = fs_read(path, &len);
    if (!text) return snprintf(err, errlen, "%s: %s", path, strerror(errno)), false;
    bool ok = tune_db_parse(path, text, len, db, err, errlen);
    free(text);
    return ok;
}

static void put_variant(StrBuf *o, const char *kind, const TuneChoice *c) {
    char knobs[TUNE_KNOBS_TEXT];
    tune_knobs_format(c->knobs, knobs, sizeof knobs);
    sb_printf(o, "%s %s %s %s %s", kind, c->family, c->tpl[0] ? c->tpl : "-", c->shape, knobs);
}

bool tune_db_write(const char *path, const TuneDb *db, char *err, size_t errlen) {
    StrBuf o = {0};
    sb_puts(&o, MAGIC "\n# gptc tuning database: what the choices were measured on, each variant, the choices\n");
    for (int i = 0; i < db->nvalidators; i++) sb_printf(&o, "validator %s %s\n", db->v[i].name, db->v[i].value);
    for (int i = 0; i < db->nrows; i++) {
        const TuneRow *r = &db->rows[i];
        put_variant(&o, "candidate", &r->c);
        sb_printf(&o, " %s", r->status);
        if (r->us >= 0) sb_printf(&o, " %.3f", r->us);
        sb_puts(&o, "\n");
    }
    for (int i = 0; i < db->choices.n; i++) {
        put_variant(&o, "choice", &db->choices.c[i]);
        sb_puts(&o, "\n");
    }
    const void *pieces[1] = {sb_str(&o)};
    size_t lens[1] = {o.len};
    bool ok = fs_write_atomic(path, pieces, lens, 1, err, errlen);
    sb_free(&o);
    return ok;
}

void tune_db_validator(TuneDb *db, const char *name, const char *value) {
    int i = 0;
    while (i < db->nvalidators && strcmp(db->v[i].name, name)) i++;
    if (i == TUNE_MAX_VALIDATORS) return;
    if (i == db->nvalidators) db->nvalidators++;
    snprintf(db->v[i].name, sizeof db->v[i].name, "%s", name);
    snprintf(db->v[i].value, sizeof db->v[i].value, "%s", value);
}

static const char *value_of(const TuneValidator *v, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i].name, name)) return v[i].value;
    return NULL;
}

bool tune_db_holds(const TuneDb *db, const char *path, const TuneValidator *here, int nhere, bool every, char *err,
                   size_t errlen) {
    for (int i = 0; i < nhere; i++) {
        const char *was = value_of(db->v, db->nvalidators, here[i].name);
        if (!was || strcmp(was, here[i].value)) {
            snprintf(err, errlen, "%s was tuned for %s %s; here it is %s: tune again (gptc tune)", path,
                     here[i].name, was ? was : "(not recorded)", here[i].value);
            return false;
        }
    }
    for (int i = 0; every && i < db->nvalidators; i++)
        if (!value_of(here, nhere, db->v[i].name)) {
            snprintf(err, errlen, "%s was tuned for %s %s, which this run cannot check: tune again (gptc tune)",
                     path, db->v[i].name, db->v[i].value);
            return false;
        }
    return true;
}

const char *tune_db_value(const TuneDb *db, const char *name) { return value_of(db->v, db->nvalidators, name); }

bool tune_same_key(const TuneChoice *a, const TuneChoice *b) {
    return !strcmp(a->family, b->family) && !strcmp(a->shape, b->shape) && !strcmp(a->tpl, b->tpl);
}
