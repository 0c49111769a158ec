/* cli.c: see cli.h. */
#include "cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/lang/suggest.h"

int cli_usage(const CliCommand *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", c->prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help'.\n", c->prog);
    va_end(ap);
    return 2;
}

int cli_bad_value(const CliCommand *c, const char *option, const char *what, const char *value) {
    return cli_usage(c, "%s expects %s, found '%s'", option, what, value);
}

/* The option's value in words, for its messages. */
static const char *value_words(const CliOpt *o, char *buf, size_t cap) {
    if (o->what) return o->what;
    switch (o->kind) {
    case CLI_COUNT:
    case CLI_COUNT64:
        /* A bound that is only the type's own says nothing worth reading. */
        if (o->hi == (o->kind == CLI_COUNT ? INT_MAX : INT64_MAX))
            snprintf(buf, cap, "a whole number from %" PRId64 " up", o->lo);
        else
            snprintf(buf, cap, "a whole number from %" PRId64 " to %" PRId64, o->lo, o->hi);
        return buf;
    case CLI_SECONDS: return "seconds (0 < S <= 86400)";
    case CLI_POSITIVE: return "a number above 0";
    case CLI_FRACTION: return "a number from 0 up to (not including) 1";
    case CLI_SET: return "KEY=VALUE";
    default: return "a value";
    }
}

/* Whether `arg` is the option called `name`: exactly, as NAME=V, or for a
 * one-letter name as -xV. *value is then V, or NULL. */
static bool named(const char *arg, const char *name, const char **value) {
    size_t n = name ? strlen(name) : 0;
    if (!n || strncmp(arg, name, n)) return false;
    if (arg[n] == '\0') *value = NULL;
    else if (arg[n] == '=') *value = arg + n + 1;
    else if (n == 2) *value = arg + n;
    else return false;
    return true;
}

/* The table's option that `arg` names, with the name it was given by and
 * the value written into it (NULL if none); NULL for an unknown option. */
static const CliOpt *find(const CliCommand *c, const char *arg, const char **name, const char **value) {
    for (const CliOpt *o = c->opts; o->name; o++)
        for (int k = 0; k < 2; k++) {
            *name = k ? o->alias : o->name;
            if (named(arg, *name, value)) return o;
        }
    return NULL;
}

/* Whether the option takes the argument after it as its value. */
static bool takes_next(const CliOpt *o, const char *value) {
    return !value && o->kind != CLI_FLAG && !o->optional;
}

static int unknown(const CliCommand *c, const char *arg) {
    const char *names[128];
    int n = 0;
    for (const CliOpt *o = c->opts; o->name && n < 125; o++) {
        names[n++] = o->name;
        if (o->alias) names[n++] = o->alias;
    }
    names[n++] = "--help";
    names[n] = NULL;
    return cli_usage(c, "%s", suggest_unknown("option", arg, names));
}

static bool whole(const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool real(const char *s, CliKind kind, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v)) return false;
    bool ok = kind == CLI_SECONDS ? v > 0 && v <= 86400 : kind == CLI_POSITIVE ? v > 0 : v >= 0 && v < 1;
    if (ok) *out = v;
    return ok;
}

/* Stores the value of option o (given as `name`); CLI_GO or the exit status. */
static int take(const CliCommand *c, const CliOpt *o, const char *name, const char *value, CliArgs *out) {
    char words[96];
    int64_t n = 0;
    if (o->seen) *o->seen = true;
    if (o->kind == CLI_FLAG) {
        if (value) return cli_usage(c, "%s takes no value, found '%s'", name, value);
        *o->to.flag = true;
    } else if (!value) {
        return CLI_GO; /* an optional value left out */
    } else if (o->kind == CLI_STRING) {
        *o->to.str = value;
    } else if (o->kind == CLI_SET) {
        if (out->nsets == CLI_MAX_SETS) return cli_usage(c, "more than %d --set options", CLI_MAX_SETS);
        out->sets[out->nsets++] = value;
    } else if (o->kind == CLI_COUNT || o->kind == CLI_COUNT64) {
        if (!whole(value, o->lo, o->hi, &n)) return cli_bad_value(c, name, value_words(o, words, sizeof words), value);
        if (o->kind == CLI_COUNT) *o->to.count = (int)n;
        else *o->to.count64 = n;
    } else if (!real(value, o->kind, o->to.real)) {
        return cli_bad_value(c, name, value_words(o, words, sizeof words), value);
    }
    return CLI_GO;
}

static int positional(const CliCommand *c, char *arg, CliArgs *out) {
    if (!c->noun) return cli_usage(c, c->stray ? c->stray : "unexpected argument '%s'", arg);
    if (out->nargs == 1 && !c->many) return cli_usage(c, "one %s at a time; '%s' is a second", c->noun, arg);
    out->args[out->nargs++] = arg;
    return CLI_GO;
}

static int help(const CliCommand *c) {
    fputs(c->help, stdout);
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    fprintf(stderr, "%s: cannot write the output\n", c->prog);
    return 1;
}

int cli_parse(const CliCommand *c, int argc, char **argv, CliArgs *out) {
    memset(out, 0, sizeof *out);
    if (!(out->args = malloc(sizeof *out->args * (size_t)(argc > 0 ? argc : 1))))
        return fprintf(stderr, "%s: out of memory\n", c->prog), 1;
    bool options = true;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *name, *value;
        int rc = CLI_GO;
        if (options && !strcmp(a, "--")) {
            options = false;
            continue;
        }
        if (!options || a[0] != '-' || !a[1]) rc = positional(c, argv[i], out);
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) return help(c);
        else {
            const CliOpt *o = find(c, a, &name, &value);
            char words[96];
            if (!o) return unknown(c, a);
            if (takes_next(o, value) && i + 1 == argc)
                return cli_usage(c, "%s needs %s", name, value_words(o, words, sizeof words));
            rc = take(c, o, name, takes_next(o, value) ? argv[++i] : value, out);
        }
        if (rc != CLI_GO) return rc;
    }
    if (c->noun && !out->nargs) return cli_usage(c, "no %s given", c->noun);
    return CLI_GO;
}

void cli_free(CliArgs *a) {
    free(a->args);
    a->args = NULL;
    a->nargs = 0;
}

static bool listed(const char *name, const char *const *names) {
    for (int i = 0; names[i]; i++)
        if (!strcmp(name, names[i])) return true;
    return false;
}

int cli_without(const CliCommand *c, int argc, char **argv, const char *const *drop, char **out) {
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *name, *value;
        if (!strcmp(argv[i], "--")) {
            while (i < argc) out[n++] = argv[i++];
            break;
        }
        const CliOpt *o = argv[i][0] == '-' ? find(c, argv[i], &name, &value) : NULL;
        bool dropped = o && listed(o->name, drop);
        if (!dropped) out[n++] = argv[i];
        if (o && takes_next(o, value) && i + 1 < argc) {
            if (!dropped) out[n++] = argv[i + 1];
            i++;
        }
    }
    return n;
}
