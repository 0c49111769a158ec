/*
 * ytree.c: libyaml events -> a YNode tree with positions, under hard limits.
 *
 * The builder keeps an explicit stack of open collections (so depth is a
 * checked number, not C recursion driven by the input). Children are
 * collected in growable malloc'd vectors and copied into the arena when their
 * collection closes, so the arena never holds abandoned arrays. Every node
 * created, including those copied for an alias, counts against
 * YTREE_MAX_NODES; the arena as a whole is capped too.
 *
 * Model composition (extends, --set) lives in compose.c.
 */
#include "compiler/lang/ytree.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "compiler/lang/ytree_internal.h"

/* ---- arena ---- */

#define ARENA_CHUNK (64 * 1024)
#define ARENA_MAX_BYTES (64u << 20)

typedef struct Chunk Chunk;
struct Chunk {
    Chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

struct YArena {
    Chunk *chunks;
    size_t total;
    int nodes;
};

YArena *arena_new(void) {
    YArena *a = calloc(1, sizeof *a);
    if (!a) {
        fputs("gptc: out of memory\n", stderr);
        exit(1);
    }
    return a;
}

/* Returns NULL when the arena's cap is reached; callers report that. */
void *arena_alloc(YArena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!a->chunks || a->chunks->cap - a->chunks->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        if (a->total + cap > ARENA_MAX_BYTES) return NULL;
        Chunk *c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->chunks;
        c->used = 0;
        c->cap = cap;
        a->chunks = c;
        a->total += cap;
    }
    void *p = a->chunks->data + a->chunks->used;
    a->chunks->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(YArena *a) {
    if (!a) return;
    while (a->chunks) {
        Chunk *next = a->chunks->next;
        free(a->chunks);
        a->chunks = next;
    }
    free(a);
}

void ytree_free(YDoc *doc) {
    arena_free(doc->arena);
    doc->arena = NULL;
    doc->root = NULL;
}

char *arena_strndup(YArena *a, const char *s, size_t n) {
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* A new node, or NULL (after an error) when a budget is exhausted. */
YNode *ynode_new(YArena *a, YNodeKind kind, SrcLoc at) {
    if (a->nodes >= YTREE_MAX_NODES) {
        diag_error(at, "the document has more than %d nodes (after expanding "
                       "aliases); a model file is far smaller",
                   YTREE_MAX_NODES);
        return NULL;
    }
    YNode *n = arena_alloc(a, sizeof *n);
    if (!n) {
        diag_error(at, "the document needs more than %u MiB of memory; a model "
                       "file is far smaller",
                   ARENA_MAX_BYTES >> 20);
        return NULL;
    }
    a->nodes++;
    n->kind = kind;
    n->at = at;
    return n;
}

/* ---- queries ---- */

YNode *ynode_get(const YNode *map, const char *key) {
    if (!map || map->kind != YNODE_MAP) return NULL;
    for (int i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->text, key) == 0) return map->items[i];
    return NULL;
}

bool ynode_is_null(const YNode *n) {
    if (!n || n->kind != YNODE_SCALAR || !n->plain) return false;
    const char *t = n->text;
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") ||
           !strcmp(t, "NULL");
}

const char *ynode_kind_name(const YNode *n) {
    if (n->kind == YNODE_MAP) return "a mapping";
    if (n->kind == YNODE_SEQ) return "a sequence";
    if (ynode_is_null(n)) return "null";
    return n->plain ? "a plain scalar" : "a quoted string";
}

/* ---- builder ---- */

typedef struct {
    YNode *node;
    YNode **keys, **items;
    int n, cap;
    YNode *pending_key; /* mapping: a key waiting for its value */
    char *anchor;
} Frame;

typedef struct {
    char *name;
    YNode *node;
} Anchor;

typedef struct {
    YArena *arena;
    const char *file;
    int col_offset;
    Frame stack[YTREE_MAX_DEPTH + 1];
    int depth;
    Anchor *anchors;
    int nanchors, anchors_cap;
    YNode *root;
    int documents;
} Builder;

static SrcLoc mark_loc(const Builder *b, yaml_mark_t m) {
    SrcLoc at = {b->file, (int)m.line + 1, (int)m.column + 1};
    if (m.line == 0) at.col += b->col_offset;
    return at;
}

static bool grow(void **vec, int *cap, int need, size_t elem) {
    if (need <= *cap) return true;
    int ncap = *cap ? *cap * 2 : 8;
    while (ncap < need) ncap *= 2;
    void *p = realloc(*vec, (size_t)ncap * elem);
    if (!p) return false;
    *vec = p;
    *cap = ncap;
    return true;
}

static YNode *anchor_find(const Builder *b, const char *name) {
    for (int i = b->nanchors - 1; i >= 0; i--)
        if (!strcmp(b->anchors[i].name, name)) return b->anchors[i].node;
    return NULL;
}

static bool anchor_add(Builder *b, const char *name, YNode *node) {
    if (!grow((void **)&b->anchors, &b->anchors_cap, b->nanchors + 1,
              sizeof *b->anchors))
        return false;
    size_t len = strlen(name);
    char *copy = malloc(len + 1);
    if (!copy) return false;
    memcpy(copy, name, len + 1);
    b->anchors[b->nanchors].name = copy;
    b->anchors[b->nanchors].node = node;
    b->nanchors++;
    return true;
}

/* Deep copy for an alias; the copy's top node takes the alias position. */
YNode *ynode_copy(YArena *a, const YNode *src, SrcLoc at) {
    YNode *n = ynode_new(a, src->kind, at);
    if (!n) return NULL;
    n->text = src->text;
    n->plain = src->plain;
    n->n = src->n;
    if (src->kind == YNODE_SCALAR || src->n == 0) return n;
    n->items = arena_alloc(a, sizeof(YNode *) * (size_t)src->n);
    if (src->kind == YNODE_MAP) n->keys = arena_alloc(a, sizeof(YNode *) * (size_t)src->n);
    if (!n->items || (src->kind == YNODE_MAP && !n->keys)) {
        diag_error(at, "the document needs more than %u MiB of memory",
                   ARENA_MAX_BYTES >> 20);
        return NULL;
    }
    for (int i = 0; i < src->n; i++) {
        if (src->kind == YNODE_MAP) n->keys[i] = src->keys[i];
        n->items[i] = ynode_copy(a, src->items[i], src->items[i]->at);
        if (!n->items[i]) return NULL;
    }
    return n;
}

/* Attaches a finished node to the open collection, or makes it the root. */
static bool attach(Builder *b, YNode *node) {
    if (b->depth == 0) {
        b->root = node;
        return true;
    }
    Frame *f = &b->stack[b->depth - 1];
    if (f->node->kind == YNODE_MAP && !f->pending_key) {
        if (node->kind != YNODE_SCALAR) {
            diag_error(node->at, "mapping keys must be plain names, found %s",
                       ynode_kind_name(node));
            return false;
        }
        if (!strcmp(node->text, "<<")) {
            diag_error(node->at, "merge keys (<<) are not supported; use "
                                 "`extends: FILE` to build on another model");
            return false;
        }
        for (int i = 0; i < f->n; i++) {
            if (!strcmp(f->keys[i]->text, node->text)) {
                diag_error(node->at, "duplicate key '%s'", node->text);
                diag_note(f->keys[i]->at, "'%s' was first given here", node->text);
                return false;
            }
        }
        if (f->n >= YTREE_MAX_MAP_KEYS) {
            diag_error(node->at, "a mapping with more than %d keys", YTREE_MAX_MAP_KEYS);
            return false;
        }
        f->pending_key = node;
        return true;
    }
    if (!grow((void **)&f->items, &f->cap, f->n + 1, sizeof *f->items)) return false;
    if (f->node->kind == YNODE_MAP) {
        int kcap = f->cap;
        YNode **k = realloc(f->keys, (size_t)kcap * sizeof *k);
        if (!k) return false;
        f->keys = k;
        f->keys[f->n] = f->pending_key;
        f->pending_key = NULL;
    }
    f->items[f->n++] = node;
    return true;
}

static char *dup_anchor(const yaml_char_t *a) {
    if (!a) return NULL;
    size_t len = strlen((const char *)a);
    char *p = malloc(len + 1);
    if (p) memcpy(p, a, len + 1);
    return p;
}

static bool open_collection(Builder *b, YNodeKind kind, const yaml_event_t *ev) {
    SrcLoc at = mark_loc(b, ev->start_mark);
    if (b->depth >= YTREE_MAX_DEPTH) {
        diag_error(at, "nesting deeper than %d levels", YTREE_MAX_DEPTH);
        return false;
    }
    YNode *node = ynode_new(b->arena, kind, at);
    if (!node) return false;
    Frame *f = &b->stack[b->depth++];
    memset(f, 0, sizeof *f);
    f->node = node;
    f->anchor = dup_anchor(kind == YNODE_MAP ? ev->data.mapping_start.anchor
                                             : ev->data.sequence_start.anchor);
    return true;
}

static void frame_release(Frame *f) {
    free(f->keys);
    free(f->items);
    free(f->anchor);
    memset(f, 0, sizeof *f);
}

static bool close_collection(Builder *b) {
    Frame *f = &b->stack[b->depth - 1];
    YNode *node = f->node;
    node->n = f->n;
    if (f->n) {
        node->items = arena_alloc(b->arena, sizeof(YNode *) * (size_t)f->n);
        if (node->kind == YNODE_MAP)
            node->keys = arena_alloc(b->arena, sizeof(YNode *) * (size_t)f->n);
        if (!node->items || (node->kind == YNODE_MAP && !node->keys)) {
            diag_error(node->at, "the document needs more than %u MiB of memory",
                       ARENA_MAX_BYTES >> 20);
            return false;
        }
        memcpy(node->items, f->items, sizeof(YNode *) * (size_t)f->n);
        if (node->kind == YNODE_MAP)
            memcpy(node->keys, f->keys, sizeof(YNode *) * (size_t)f->n);
    }
    bool ok = !f->anchor || anchor_add(b, f->anchor, node);
    frame_release(f);
    b->depth--;
    return ok && attach(b, node);
}

static const char *const allowed_tags[] = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
};

static bool check_tag(const Builder *b, const yaml_char_t *tag, SrcLoc at) {
    (void)b;
    if (!tag) return true;
    for (size_t i = 0; i < sizeof allowed_tags / sizeof *allowed_tags; i++)
        if (!strcmp((const char *)tag, allowed_tags[i])) return true;
    diag_error(at, "unsupported YAML tag '%.60s'", (const char *)tag);
    return false;
}

static bool on_scalar(Builder *b, const yaml_event_t *ev) {
    SrcLoc at = mark_loc(b, ev->start_mark);
    if (!check_tag(b, ev->data.scalar.tag, at)) return false;
    YNode *node = ynode_new(b->arena, YNODE_SCALAR, at);
    if (!node) return false;
    node->text = arena_strndup(b->arena, (const char *)ev->data.scalar.value,
                               ev->data.scalar.length);
    if (!node->text) {
        diag_error(at, "the document needs more than %u MiB of memory",
                   ARENA_MAX_BYTES >> 20);
        return false;
    }
    if (strlen(node->text) != ev->data.scalar.length) {
        diag_error(at, "a scalar contains a NUL character");
        return false;
    }
    const char *tag = (const char *)ev->data.scalar.tag;
    node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                  !(tag && !strcmp(tag, "tag:yaml.org,2002:str"));
    if (ev->data.scalar.anchor && !anchor_add(b, (const char *)ev->data.scalar.anchor, node))
        return false;
    return attach(b, node);
}

/* Height of the tree under n (n itself is level `level`); adds its node
 * count to *size. Trees here are at most YTREE_MAX_DEPTH high. */
static int tree_shape(const YNode *n, int level, int *size) {
    int height = level;
    (*size)++;
    for (int i = 0; n->kind != YNODE_SCALAR && i < n->n; i++) {
        int h = tree_shape(n->items[i], level + 1, size);
        if (h > height) height = h;
    }
    return height;
}

static bool on_alias(Builder *b, const yaml_event_t *ev) {
    SrcLoc at = mark_loc(b, ev->start_mark);
    const char *name = (const char *)ev->data.alias.anchor;
    YNode *target = anchor_find(b, name);
    if (!target) {
        diag_error(at, "alias '*%.60s' names no earlier complete anchor", name);
        return false;
    }
    int size = 0, height = tree_shape(target, 1, &size);
    if (b->depth + height > YTREE_MAX_DEPTH) {
        diag_error(at, "alias '*%.60s' nests its anchor deeper than %d levels", name,
                   YTREE_MAX_DEPTH);
        return false;
    }
    if (b->arena->nodes + size > YTREE_MAX_NODES) {
        diag_error(at, "alias '*%.60s' expands the document to more than %d nodes; a model file is "
                       "far smaller", name, YTREE_MAX_NODES);
        return false;
    }
    YNode *copy = ynode_copy(b->arena, target, at);
    return copy && attach(b, copy);
}

static bool on_event(Builder *b, const yaml_event_t *ev) {
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1) {
            diag_error(mark_loc(b, ev->start_mark),
                       "a model file holds one YAML document; found a second");
            return false;
        }
        return true;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_MAPPING_START_EVENT:
        return check_tag(b, ev->data.mapping_start.tag, mark_loc(b, ev->start_mark)) &&
               open_collection(b, YNODE_MAP, ev);
    case YAML_SEQUENCE_START_EVENT:
        return check_tag(b, ev->data.sequence_start.tag, mark_loc(b, ev->start_mark)) &&
               open_collection(b, YNODE_SEQ, ev);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        return close_collection(b);
    default:
        return true;
    }
}

static void builder_release(Builder *b) {
    while (b->depth > 0) frame_release(&b->stack[--b->depth]);
    for (int i = 0; i < b->nanchors; i++) free(b->anchors[i].name);
    free(b->anchors);
}

/* libyaml's reader reports a byte offset, not a mark: count lines to it. */
static SrcLoc offset_loc(const Builder *b, const char *text, size_t len, size_t offset) {
    SrcLoc at = {b->file, 1, 1 + b->col_offset};
    for (size_t i = 0; i < offset && i < len; i++) {
        if (text[i] == '\n') at.line++, at.col = 1;
        else if (((unsigned char)text[i] & 0xc0) != 0x80) at.col++;
    }
    return at;
}

/* Errors found at the end of the input (an unclosed bracket) come with a
 * mark past the last character; point at that character instead, so the
 * message can quote the line. */
static SrcLoc clamp_to_text(const Builder *b, SrcLoc at, const char *text, size_t len) {
    size_t n = len;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) n--;
    SrcLoc end = offset_loc(b, text, len, n);
    if (at.line > end.line || (at.line == end.line && at.col > end.col)) return end;
    return at;
}

/* The byte at a libyaml mark (which counts lines and characters), or -1
 * past the end of the text. */
static int byte_at_mark(const char *text, size_t len, yaml_mark_t m) {
    size_t i = 0;
    for (size_t line = 0; line < m.line && i < len; i++)
        if (text[i] == '\n') line++;
    for (size_t col = 0; i < len && text[i] != '\n'; i++) {
        if (((unsigned char)text[i] & 0xc0) == 0x80) continue;
        if (col++ == m.column) return (unsigned char)text[i];
    }
    return -1;
}

static void syntax_error(const Builder *b, const yaml_parser_t *p, const char *text, size_t len) {
    SrcLoc at = clamp_to_text(b, mark_loc(b, p->problem_mark), text, len);
    const char *problem = p->problem ? p->problem : "malformed YAML";
    /* libyaml words a tab by where it stopped ("cannot start any token",
     * "violates indentation"); the fix is always the same. */
    if (p->error == YAML_SCANNER_ERROR && byte_at_mark(text, len, p->problem_mark) == '\t')
        diag_error(at, "a tab character; YAML indents with spaces");
    else if (p->error == YAML_READER_ERROR)
        diag_error(offset_loc(b, text, len, p->problem_offset),
                   "the file is not valid UTF-8 (%s)", problem);
    else if (p->context)
        diag_error(at, "YAML syntax error: %s %s", problem, p->context);
    else
        diag_error(at, "YAML syntax error: %s", problem);
}

/* Parses `len` bytes of `text`; `name` must already be registered with diag.
 * Column numbers on the first line are shifted by `col_offset`, for values
 * cut out of a longer line (--set). Returns the root, or NULL after an
 * error. An empty document gives a null scalar. */
YNode *ytree_parse_into(YArena *arena, const char *name, const char *text,
                       size_t len, int col_offset) {
    SrcLoc start = {name, 1, 1 + col_offset};
    if (memchr(text, '\0', len)) {
        const char *z = memchr(text, '\0', len);
        int line = 1, col = 1;
        for (const char *p = text; p < z; p++, col++)
            if (*p == '\n') line++, col = 0;
        diag_error((SrcLoc){name, line, col}, "the file contains a NUL byte; "
                                              "it is not a text file");
        return NULL;
    }
    Builder b = {.arena = arena, .file = name, .col_offset = col_offset};
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        diag_error(start, "cannot start the YAML parser (out of memory)");
        return NULL;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    bool ok = true, done = false;
    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&b, &parser, text, len);
            ok = false;
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        ok = on_event(&b, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    builder_release(&b);
    if (!ok) return NULL;
    if (!b.root) {
        YNode *null = ynode_new(arena, YNODE_SCALAR, start);
        if (null) null->text = "", null->plain = true;
        return null;
    }
    return b.root;
}

bool ytree_parse(const char *name, const char *text, size_t len, YDoc *out) {
    out->arena = arena_new();
    out->root = NULL;
    if (len > YTREE_MAX_BYTES) {
        diag_error((SrcLoc){name, 0, 0}, "the file is %zu bytes; model files are "
                                         "limited to %d",
                   len, YTREE_MAX_BYTES);
        return false;
    }
    const char *stored = diag_add_source(name, text, len);
    out->root = ytree_parse_into(out->arena, stored, text, len, 0);
    return out->root != NULL;
}
