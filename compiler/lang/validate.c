/*
 * validate.c: reads the key tree into a ModelSpec (see validate.h).
 *
 * Two phases. First every key in the tree is matched against the schema and
 * converted on its own: type, range, enum choice (readers below). Then, only
 * if all of them were well formed, defaults are filled and the rules between
 * keys run (rules.c), so one mistake is reported once, not as a cascade.
 */
#include "compiler/lang/validate.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/lang/rules.h"
#include "compiler/lang/schema.h"

/* ---- messages ---- */

/* A short, printable rendering of what the user wrote. */
static const char *found(const YNode *n, char *buf, size_t cap) {
    if (n->kind != YNODE_SCALAR || ynode_is_null(n)) return ynode_kind_name(n);
    size_t j = 0;
    buf[j++] = n->plain ? '\'' : '"';
    for (const char *p = n->text; *p && j + 5 < cap; p++)
        buf[j++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
    if (strlen(n->text) + 5 > cap) buf[j++] = '.', buf[j++] = '.', buf[j++] = '.';
    buf[j++] = n->plain ? '\'' : '"';
    buf[j] = '\0';
    return buf;
}

void key_error(const KeyDef *k, const YNode *n, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(n->at, "%s: %s", k->path, msg);
}

static void expected(const KeyDef *k, const YNode *n, const char *what) {
    char buf[64];
    key_error(k, n, "expected %s, found %s", what, found(n, buf, sizeof buf));
}

static void range_text(const KeyDef *k, char *buf, size_t cap) {
    if (k->type == KEY_FLOAT)
        snprintf(buf, cap, "a number in %s%g, %g%s", k->lo_open ? "(" : "[", k->lo, k->hi,
                 k->hi_open ? ")" : "]");
    else
        snprintf(buf, cap, "an integer from %.0f to %.0f", k->lo, k->hi);
}

/* ---- scalar readers ---- */

/* Integers: decimal digits, optional sign, '_' between digits (65_536). */
static bool parse_int(const YNode *n, long long *out) {
    if (n->kind != YNODE_SCALAR || !n->plain) return false;
    const char *p = n->text;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+') p++;
    if (*p < '0' || *p > '9') return false;
    unsigned long long v = 0;
    for (; *p; p++) {
        if (*p == '_' && p[1] >= '0' && p[1] <= '9') continue;
        if (*p < '0' || *p > '9') return false;
        if (v > (ULLONG_MAX >> 2) / 10) v = ULLONG_MAX >> 2; /* saturate: out of range */
        else v = v * 10 + (unsigned long long)(*p - '0');
    }
    *out = neg ? -(long long)v : (long long)v;
    return true;
}

static bool parse_float(const YNode *n, double *out) {
    if (n->kind != YNODE_SCALAR || !n->plain || !*n->text) return false;
    char buf[128];
    size_t j = 0;
    for (const char *p = n->text; *p; p++) {
        if (*p == '_' && p > n->text && p[-1] >= '0' && p[-1] <= '9' && p[1] >= '0' && p[1] <= '9')
            continue;
        if (j + 1 >= sizeof buf) return false;
        buf[j++] = *p;
    }
    buf[j] = '\0';
    /* strtod would take hex floats, "inf" and "nan"; a model file means none. */
    for (const char *p = buf; *p; p++)
        if (!strchr("0123456789+-.eE", *p)) return false;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (*end || end == buf || !isfinite(v)) return false;
    *out = v;
    return true;
}

static bool in_range(const KeyDef *k, double v) {
    if (k->lo_open ? v <= k->lo : v < k->lo) return false;
    if (k->hi_open ? v >= k->hi : v > k->hi) return false;
    return true;
}

static void *field(ModelSpec *s, const KeyDef *k) { return (char *)s + k->offset; }

static bool out_of_range(const KeyDef *k, const YNode *n) {
    char want[96];
    range_text(k, want, sizeof want);
    expected(k, n, want);
    return false;
}

static bool read_number(const KeyDef *k, const YNode *n, ModelSpec *s) {
    if (k->type == KEY_FLOAT) {
        double v;
        if (!parse_float(n, &v) || !in_range(k, v)) return out_of_range(k, n);
        *(double *)field(s, k) = v;
        return true;
    }
    long long v;
    if (!parse_int(n, &v) || !in_range(k, (double)v)) return out_of_range(k, n);
    if (k->type == KEY_INT) *(int *)field(s, k) = (int)v;
    else *(int64_t *)field(s, k) = (int64_t)v;
    return true;
}

static bool read_bool(const KeyDef *k, const YNode *n, ModelSpec *s) {
    static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False", "FALSE"};
    for (int i = 0; n->kind == YNODE_SCALAR && n->plain && i < 3; i++) {
        if (!strcmp(n->text, yes[i])) return *(bool *)field(s, k) = true, true;
        if (!strcmp(n->text, no[i])) return *(bool *)field(s, k) = false, true;
    }
    expected(k, n, "true or false");
    return false;
}

static bool read_enum(const KeyDef *k, const YNode *n, ModelSpec *s) {
    if (n->kind == YNODE_SCALAR) {
        int idx = 0;
        size_t len = strlen(n->text);
        for (const char *c = k->choices; *c; idx++) {
            size_t clen = strcspn(c, "|");
            if (clen == len && !strncmp(c, n->text, len)) {
                *(int *)field(s, k) = idx;
                return true;
            }
            c += clen + (c[clen] == '|');
        }
    }
    char want[160];
    snprintf(want, sizeof want, "one of %s", k->choices);
    for (char *p = want; *p; p++)
        if (*p == '|') *p = '/';
    expected(k, n, want);
    return false;
}

static bool read_string(const KeyDef *k, const YNode *n, ModelSpec *s) {
    if (n->kind != YNODE_SCALAR || ynode_is_null(n)) return expected(k, n, "a string"), false;
    size_t len = strlen(n->text);
    if (len >= k->size) {
        key_error(k, n, "the text is %zu bytes long; at most %zu are allowed", len, k->size - 1);
        return false;
    }
    for (const char *p = n->text; *p; p++) {
        if ((unsigned char)*p < 0x20 && *p != '\t') {
            key_error(k, n, "control characters are not allowed in this text");
            return false;
        }
    }
    memcpy(field(s, k), n->text, len + 1);
    return true;
}

/* ---- list readers ---- */

static bool read_int_item(const KeyDef *k, const YNode *n, double *out) {
    long long v;
    if (!parse_int(n, &v) || v < -1000000 || v > 1000000) {
        expected(k, n, "a layer or table index");
        return false;
    }
    *out = (double)v;
    return true;
}

static bool read_list(const KeyDef *k, const YNode *n, ListValue *l) {
    const char *what = k->type == KEY_LAYERS ? "a list of layer indices like [0, 4]"
                       : k->type == KEY_LAYER_MAP ? "a list with one table index or null per layer"
                       : k->type == KEY_PAIRS ? "a list of [from, to] pairs like [[6, 9]]"
                                              : "a list of [a, b, c] triples";
    if (n->kind != YNODE_SEQ) return expected(k, n, what), false;
    if (n->n > LIST_MAX) {
        key_error(k, n, "the list has %d items; at most %d are allowed", n->n, LIST_MAX);
        return false;
    }
    l->n = n->n;
    bool ok = true;
    for (int i = 0; i < n->n; i++) {
        const YNode *it = n->items[i];
        l->at[i] = it->at;
        l->width[i] = 1;
        if (k->type == KEY_LAYER_MAP && ynode_is_null(it)) {
            l->v[i][0] = -1; /* null: this layer takes no table */
        } else if (k->type == KEY_LAYER_MAP) {
            long long v = 0;
            if (!parse_int(it, &v) || v < 0 || v > 1000000) {
                expected(k, it, "a table index (0 or more) or null");
                ok = false;
                v = 0;
            }
            l->v[i][0] = (double)v;
        } else if (k->type == KEY_LAYERS) {
            ok &= read_int_item(k, it, &l->v[i][0]);
        } else {
            int want = k->type == KEY_PAIRS ? 2 : 3;
            if (it->kind != YNODE_SEQ || it->n != want) {
                expected(k, it, want == 2 ? "a pair [from, to]" : "a triple [a, b, c]");
                ok = false;
                continue;
            }
            l->width[i] = want;
            for (int j = 0; j < want; j++) {
                if (k->type == KEY_PAIRS) {
                    ok &= read_int_item(k, it->items[j], &l->v[i][j]);
                } else if (!parse_float(it->items[j], &l->v[i][j]) || fabs(l->v[i][j]) > 1e6) {
                    expected(k, it->items[j], "a number between -1e6 and 1e6");
                    ok = false;
                }
            }
        }
    }
    return ok;
}

static bool read_key(Ctx *c, const KeyDef *k, const YNode *n) {
    int i = schema_index(k);
    c->node[i] = n;
    switch (k->type) {
    case KEY_INT:
    case KEY_INT64:
    case KEY_FLOAT: return read_number(k, n, c->spec);
    case KEY_BOOL: return read_bool(k, n, c->spec);
    case KEY_ENUM: return read_enum(k, n, c->spec);
    case KEY_STRING: return read_string(k, n, c->spec);
    default:
        c->list[i] = calloc(1, sizeof(ListValue));
        if (!c->list[i]) {
            fputs("gptc: out of memory\n", stderr);
            exit(1);
        }
        return read_list(k, n, c->list[i]);
    }
}

/* ---- the walk ---- */

static void unknown_key(const YNode *key, const char *path) {
    if (!strcmp(path, "extends")) {
        diag_error(key->at, "extends: only a model file read from disk may extend another");
        return;
    }
    const char *near = schema_suggest(path);
    if (near)
        diag_error(key->at, "unknown key '%s'; did you mean '%s'?", path, near);
    else
        diag_error(key->at, "unknown key '%s' (every key is listed in models/README.md)", path);
}

static bool walk(Ctx *c, const YNode *map, const char *prefix) {
    bool ok = true;
    for (int i = 0; i < map->n; i++) {
        const YNode *key = map->keys[i], *val = map->items[i];
        if (strchr(key->text, '.')) {
            diag_error(key->at, "'%s': a key may not contain '.'; nest it as a mapping "
                                "('model: {dim: ...}') or use --set for dotted paths",
                       key->text);
            ok = false;
            continue;
        }
        char path[256];
        int len = snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key->text);
        const KeyDef *k = len < (int)sizeof path ? schema_find(path) : NULL;
        if (k) {
            ok &= read_key(c, k, val);
        } else if (len < (int)sizeof path && schema_is_section(path)) {
            if (val->kind == YNODE_MAP) {
                ok &= walk(c, val, path);
            } else if (!ynode_is_null(val)) {
                char buf[64];
                diag_error(val->at, "%s: expected a mapping of keys, found %s", path,
                           found(val, buf, sizeof buf));
                ok = false;
            }
        } else {
            unknown_key(key, len < (int)sizeof path ? path : key->text);
            ok = false;
        }
    }
    return ok;
}

/* Reads every default the tree did not give, from its YAML text. Plain
 * scalars skip the parser: validation runs once per fuzzer input, and
 * seventy parser runs per call would dominate it. */
static bool apply_defaults(Ctx *c) {
    bool ok = true;
    for (int i = 0; i < schema_nkeys; i++) {
        const KeyDef *k = &schema_keys[i];
        if (c->node[i] || !k->def) continue;
        if (k->type < KEY_LAYERS && k->def[0] != '"') {
            YNode plain = {.kind = YNODE_SCALAR, .at = c->file, .text = k->def, .plain = true};
            ok &= read_key(c, k, &plain);
        } else {
            YDoc d;
            char name[160];
            snprintf(name, sizeof name, "<default of %s>", k->path);
            if (ytree_parse(name, k->def, strlen(k->def), &d)) ok &= read_key(c, k, d.root);
            else ok = false;
            ytree_free(&d);
        }
        c->node[i] = NULL; /* defaults have no place in the user's file */
    }
    return ok;
}

static void ctx_release(Ctx *c) {
    for (int i = 0; i < SCHEMA_MAX_KEYS; i++) free(c->list[i]);
}

bool spec_validate(const YNode *root, const char *source, ModelSpec *out) {
    static Ctx zero;
    Ctx *c = malloc(sizeof *c);
    if (!c) {
        fputs("gptc: out of memory\n", stderr);
        exit(1);
    }
    *c = zero;
    memset(out, 0, sizeof *out);
    c->spec = out;
    c->file = (SrcLoc){source, 0, 0};
    snprintf(out->source, sizeof out->source, "%s", source);
    bool ok = root->kind == YNODE_MAP;
    if (!ok) diag_error(root->at, "the top level must be a mapping of keys");
    ok = ok && walk(c, root, "");
    ok = ok && apply_defaults(c);
    ok = ok && rules_check(c);
    ctx_release(c);
    free(c);
    return ok;
}

bool spec_load_flat(const char *name, const char *text, size_t len, const char *const *sets, int nsets,
                    ModelSpec *out) {
    YDoc doc;
    bool ok = ytree_load_flat(name, text, len, sets, nsets, &doc) && spec_validate(doc.root, name, out);
    ytree_free(&doc);
    return ok;
}

bool spec_load(const char *path, const char *const *sets, int nsets, ModelSpec *out) {
    YDoc doc;
    bool ok = ytree_load_model(path, sets, nsets, &doc) && spec_validate(doc.root, path, out);
    ytree_free(&doc);
    return ok;
}
