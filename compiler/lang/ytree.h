/*
 * ytree.h: a small YAML document tree with source positions, built on libyaml.
 *
 * libyaml does the parsing; this layer keeps what the validator needs and
 * refuses what a model file has no business containing:
 *   - every node remembers file:line:column, for error messages;
 *   - duplicate keys, non-scalar keys and merge keys (<<) are errors;
 *   - aliases are expanded by copying, under a budget on the total number of
 *     nodes, so a "billion laughs" file is an error, not an allocation;
 *   - nesting deeper than YTREE_MAX_DEPTH, files larger than YTREE_MAX_BYTES,
 *     empty files and bytes that are not UTF-8 are errors.
 * All nodes of one load live in one arena, freed with ytree_free.
 *
 * ytree_load_model adds the two ways a model is composed:
 *   - `extends: other.yaml` (relative to the file) loads the parent first and
 *     merges the child over it: mappings merge key by key, recursively;
 *     scalars and sequences replace. Cycles and missing files are errors.
 *   - `--set a.b.c=VALUE` overrides one key after extends; VALUE is read as
 *     YAML (so `[1, 2]` and `null` work) and a numeric path segment indexes a
 *     sequence. Missing mappings on the path are created, so a misspelt key
 *     is reported by the validator like any unknown key.
 */
#ifndef GPTC_YTREE_H
#define GPTC_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/lang/diag.h"

#define YTREE_MAX_BYTES (1 << 20)
#define YTREE_MAX_DEPTH 32
#define YTREE_MAX_NODES 100000
#define YTREE_MAX_EXTENDS 16

typedef enum { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ } YNodeKind;

typedef struct YNode YNode;
typedef struct YArena YArena;

struct YNode {
    YNodeKind kind;
    SrcLoc at;
    const char *text;  /* scalar: its value */
    bool plain;        /* scalar: written without quotes or block style */
    int n;             /* map: entries; seq: items */
    YNode **keys;      /* map: key scalars (their text is the key) */
    YNode **items;     /* map: values; seq: items */
};

typedef struct {
    YArena *arena;
    YNode *root;       /* always a mapping when the load succeeded */
} YDoc;

/* Loads `path`, follows `extends`, applies the `nsets` overrides in order.
 * Returns false after reporting errors through diag. */
bool ytree_load_model(const char *path, const char *const *sets, int nsets,
                     YDoc *out);

/* Loads a model given as one mapping of dotted key paths to values, as
 * `gptc check --json` prints its "spec" (a safetensors file carries one):
 * each key is set as --set would set it, the derived keys that spec_json
 * adds are skipped, then the `nsets` overrides apply. */
bool ytree_load_flat(const char *name, const char *text, size_t len, const char *const *sets,
                     int nsets, YDoc *out);

/* True when `at` is in a --set argument (whose source ytree_load_model
 * names "--set #N"), not in a file. */
bool ytree_from_set(SrcLoc at);

/* Parses one in-memory document registered under `name`; used by
 * ytree_load_model, the tests and the fuzzer. */
bool ytree_parse(const char *name, const char *text, size_t len, YDoc *out);

void ytree_free(YDoc *doc);

/* The value under `key` in mapping `map`, or NULL. */
YNode *ynode_get(const YNode *map, const char *key);

/* True when the scalar is YAML's null: ~, null, Null, NULL or empty. */
bool ynode_is_null(const YNode *n);

const char *ynode_kind_name(const YNode *n);

#endif
