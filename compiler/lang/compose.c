/*
 * compose.c: builds one model tree from a file, its `extends` chain and the
 * command line's --set overrides (see ytree.h for the rules).
 *
 * The chain is loaded child first: the child names its parent, the parent is
 * loaded (recursively), then the child is merged over it. Each file's real
 * path is kept on a stack to catch cycles. All files share one arena, so a
 * merged tree may point into any of them, and one ytree_free releases all.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/util/fsutil.h"
#include "compiler/lang/ytree_internal.h"

typedef struct {
    YArena *arena;
    char *chain[YTREE_MAX_EXTENDS + 1];
    int depth;
} Composer;

/* Reads a whole file, refusing anything larger than YTREE_MAX_BYTES. */
static char *read_file(const char *path, size_t *len, SrcLoc at, const char *what) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_error(at, "cannot open %s '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(YTREE_MAX_BYTES + 1);
    size_t n = buf ? fread(buf, 1, YTREE_MAX_BYTES + 1, f) : 0;
    bool bad = !buf || ferror(f);
    int err = errno;
    fclose(f);
    if (bad) {
        diag_error(at, "cannot read %s '%s': %s", what, path,
                   buf ? strerror(err) : "out of memory");
        free(buf);
        return NULL;
    }
    if (n > YTREE_MAX_BYTES) {
        diag_error(at, "%s '%s' is larger than %d bytes; model files are small",
                   what, path, YTREE_MAX_BYTES);
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* True when the text holds nothing but blanks and comments. */
static bool only_blank(const char *t, size_t len) {
    bool comment = false;
    for (size_t i = 0; i < len; i++) {
        if (t[i] == '\n') comment = false;
        else if (t[i] == '#') comment = true;
        else if (!comment && t[i] != ' ' && t[i] != '\t' && t[i] != '\r') return false;
    }
    return true;
}

/* Merges `src` over `dst` (both mappings): maps merge, the rest replaces. */
static bool merge(YArena *a, YNode *dst, const YNode *src) {
    int cap = dst->n + src->n;
    YNode **keys = arena_alloc(a, sizeof(YNode *) * (size_t)(cap ? cap : 1));
    YNode **items = arena_alloc(a, sizeof(YNode *) * (size_t)(cap ? cap : 1));
    if (!keys || !items) {
        diag_error(src->at, "out of memory while merging `extends`");
        return false;
    }
    if (dst->n) {
        memcpy(keys, dst->keys, sizeof(YNode *) * (size_t)dst->n);
        memcpy(items, dst->items, sizeof(YNode *) * (size_t)dst->n);
    }
    int n = dst->n;
    for (int i = 0; i < src->n; i++) {
        int j = 0;
        while (j < n && strcmp(keys[j]->text, src->keys[i]->text)) j++;
        if (j < n && items[j]->kind == YNODE_MAP && src->items[i]->kind == YNODE_MAP) {
            if (!merge(a, items[j], src->items[i])) return false;
            continue;
        }
        keys[j] = src->keys[i];
        items[j] = src->items[i];
        if (j == n) n++;
    }
    dst->keys = keys;
    dst->items = items;
    dst->n = n;
    return true;
}

static void remove_key(YNode *map, const char *key) {
    for (int i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->text, key)) continue;
        memmove(&map->keys[i], &map->keys[i + 1], sizeof(YNode *) * (size_t)(map->n - i - 1));
        memmove(&map->items[i], &map->items[i + 1], sizeof(YNode *) * (size_t)(map->n - i - 1));
        map->n--;
        return;
    }
}

static YNode *load_file(Composer *c, const char *path, SrcLoc from);

static YNode *load_parent(Composer *c, const char *child, YNode *ext) {
    if (ext->kind != YNODE_SCALAR || ynode_is_null(ext) || !*ext->text) {
        diag_error(ext->at, "extends: expected the path of a model file, found %s",
                   ext->kind == YNODE_SCALAR && !ext->plain ? "an empty string"
                                                            : ynode_kind_name(ext));
        return NULL;
    }
    char path[PATH_MAX];
    if (!fs_beside(child, ext->text, path, sizeof path)) {
        diag_error(ext->at, "extends: the path is too long");
        return NULL;
    }
    return load_file(c, path, ext->at);
}

static bool in_chain(Composer *c, const char *real, SrcLoc from, const char *path) {
    for (int i = 0; i < c->depth; i++) {
        if (strcmp(c->chain[i], real)) continue;
        diag_error(from, "extends: '%s' is already being loaded: the chain of "
                         "`extends` forms a cycle",
                   path);
        return true;
    }
    return false;
}

static YNode *load_file(Composer *c, const char *path, SrcLoc from) {
    const char *what = from.file ? "extended file" : "model file";
    if (c->depth >= YTREE_MAX_EXTENDS) {
        diag_error(from, "extends: more than %d files deep", YTREE_MAX_EXTENDS);
        return NULL;
    }
    char *real = realpath(path, NULL);
    if (!real) {
        diag_error(from, "cannot open %s '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    if (in_chain(c, real, from, path)) {
        free(real);
        return NULL;
    }
    c->chain[c->depth++] = real;
    size_t len = 0;
    char *text = read_file(path, &len, from, what);
    YNode *root = NULL;
    if (text) {
        const char *name = diag_add_source(path, text, len);
        SrcLoc top = {name, 1, 1};
        if (len == 0 || only_blank(text, len))
            diag_error(top, "the file is empty: a model file is a mapping of "
                            "keys (see models/README.md)");
        else
            root = ytree_parse_into(c->arena, name, text, len, 0);
        if (root && root->kind != YNODE_MAP) {
            diag_error(root->at, "the top level of a model file must be a mapping "
                                 "of keys, found %s",
                       ynode_kind_name(root));
            root = NULL;
        }
        free(text);
    }
    YNode *ext = root ? ynode_get(root, "extends") : NULL;
    if (ext) {
        YNode *parent = load_parent(c, path, ext);
        remove_key(root, "extends");
        root = parent && merge(c->arena, parent, root) ? parent : NULL;
    }
    free(c->chain[--c->depth]);
    return root;
}

/* ---- --set ---- */

#define SET_SOURCE "--set #"

bool ytree_from_set(SrcLoc at) {
    return at.file && !strncmp(at.file, SET_SOURCE, strlen(SET_SOURCE));
}

static bool is_index(const char *s) {
    if (!*s || strlen(s) > 6) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

/* Walks `path` (a.b.c) from `root`, creating mappings, and stores `value`. */
static bool set_path(YArena *a, YNode *root, char *path, YNode *value, SrcLoc at,
                     const char *arg) {
    YNode *cur = root;
    char *seg = path;
    const char *holder = "the top level";
    int segments = 0;
    for (;;) {
        char *dot = strchr(seg, '.');
        if (dot) *dot = '\0';
        if (!*seg || ++segments > YTREE_MAX_DEPTH) {
            diag_error(at, "--set: '%s' is not a key path like model.dim", arg);
            return false;
        }
        if (cur->kind == YNODE_SEQ) {
            if (cur->n == 0) {
                diag_error(at, "--set %s: '%s' is an empty sequence; there is no item %s to set",
                           arg, holder, seg);
                return false;
            }
            if (!is_index(seg) || atoi(seg) >= cur->n) {
                diag_error(at, "--set %s: '%s' indexes a sequence of %d items; "
                               "expected an index from 0 to %d",
                           arg, seg, cur->n, cur->n - 1);
                return false;
            }
            int i = atoi(seg);
            if (!dot) {
                cur->items[i] = value;
                return true;
            }
            cur = cur->items[i];
        } else if (cur->kind == YNODE_MAP) {
            YNode *next = ynode_get(cur, seg);
            if (next && dot && ynode_is_null(next)) next = NULL; /* `train:` is an empty section */
            if (!next && dot && is_index(dot + 1)) {
                diag_error(at, "--set %s: '%s' is not in the file (it has its default), so it "
                               "has no item %s to set; set the whole list instead",
                           arg, seg, dot + 1);
                return false;
            }
            if (!next || !dot) {
                YNode *key = ynode_new(a, YNODE_SCALAR, at);
                YNode *made = dot ? ynode_new(a, YNODE_MAP, at) : value;
                if (!key || !made) return false;
                key->text = arena_strndup(a, seg, strlen(seg));
                key->plain = true;
                YNode one = {.kind = YNODE_MAP, .at = at, .n = 1, .keys = &key, .items = &made};
                if (!key->text || !merge(a, cur, &one)) return false;
                if (!dot) return true;
                next = made;
            }
            cur = next;
        } else {
            diag_error(at, "--set %s: '%s' holds a value, not a mapping or sequence, so it "
                           "has no '%s'",
                       arg, holder, seg);
            return false;
        }
        holder = seg;
        seg = dot + 1;
    }
}

static bool apply_set(YArena *a, YNode *root, const char *arg, int index) {
    char name[48];
    snprintf(name, sizeof name, SET_SOURCE "%d", index + 1);
    const char *src = diag_add_source(name, arg, strlen(arg));
    const char *eq = strchr(arg, '=');
    SrcLoc at = {src, 1, 1};
    if (!eq || eq == arg) {
        diag_error(at, "--set expects KEY=VALUE (for example model.dim=256), found '%s'", arg);
        return false;
    }
    int off = (int)(eq - arg) + 1;
    YNode *value = ytree_parse_into(a, src, eq + 1, strlen(eq + 1), off);
    if (!value) return false;
    char *path = arena_strndup(a, arg, (size_t)(eq - arg));
    return path && set_path(a, root, path, value, at, arg);
}

/* A key spec_json prints that is derived, not given: reading one back
 * would be an unknown key. */
static bool derived_key(const char *key) {
    return !strcmp(key, "vocab.padded") || !strcmp(key, "scalars.length");
}

bool ytree_load_flat(const char *name, const char *text, size_t len, const char *const *sets, int nsets,
                     YDoc *out) {
    if (!ytree_parse(name, text, len, out)) return false;
    const YNode *flat = out->root;
    out->root = NULL;
    if (flat->kind != YNODE_MAP) {
        diag_error(flat->at, "expected a mapping of key paths to values, found a %s", ynode_kind_name(flat));
        return false;
    }
    YNode *root = ynode_new(out->arena, YNODE_MAP, flat->at);
    bool ok = root != NULL;
    for (int i = 0; ok && i < flat->n; i++) {
        const YNode *key = flat->keys[i];
        if (derived_key(key->text)) continue;
        char *path = arena_strndup(out->arena, key->text, strlen(key->text));
        ok = path && set_path(out->arena, root, path, flat->items[i], key->at, key->text);
    }
    for (int i = 0; ok && i < nsets; i++) ok = apply_set(out->arena, root, sets[i], i);
    out->root = ok ? root : NULL;
    return ok;
}

bool ytree_load_model(const char *path, const char *const *sets, int nsets, YDoc *out) {
    Composer c = {.arena = arena_new()};
    out->arena = c.arena;
    out->root = load_file(&c, path, (SrcLoc){NULL, 0, 0});
    for (int i = 0; out->root && i < nsets; i++)
        if (!apply_set(c.arena, out->root, sets[i], i)) out->root = NULL;
    return out->root != NULL;
}
