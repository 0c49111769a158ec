/*
 * schema.h: every key a model file may hold, in one table.
 *
 * The table drives the validator (types, ranges, defaults, unknown keys and
 * their suggestions) and the documentation (`gptc keys`, which writes the
 * key reference in models/README.md), so the two cannot drift apart.
 *
 * Scalars land in the ModelSpec at `offset`. List keys (layer lists, pairs,
 * triples) are read into the validator's own storage and turned into spec
 * fields by the rules in validate.c, which also fill the derived defaults.
 */
#ifndef GPTC_SCHEMA_H
#define GPTC_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    KEY_INT,        /* int */
    KEY_INT64,      /* int64_t */
    KEY_FLOAT,      /* double */
    KEY_BOOL,       /* bool */
    KEY_ENUM,       /* int holding the index of the choice */
    KEY_STRING,     /* char[size] */
    KEY_LAYERS,     /* list of distinct layer indices */
    KEY_LAYER_MAP,  /* one table index or null per layer */
    KEY_PAIRS,      /* list of [from, to] layer pairs */
    KEY_TRIPLES,    /* list of [a, b, c] numbers */
} KeyType;

typedef struct {
    const char *path;    /* dotted, e.g. "model.dim" */
    KeyType type;
    size_t offset;       /* into ModelSpec, for scalar types */
    size_t size;         /* KEY_STRING: buffer size */
    double lo, hi;       /* numbers: allowed range */
    bool lo_open, hi_open;
    const char *choices; /* KEY_ENUM: names separated by '|' */
    const char *def;     /* default, as YAML text; NULL when derived */
    const char *derived; /* how a derived default is computed */
    const char *doc;
} KeyDef;

extern const KeyDef schema_keys[];
extern const int schema_nkeys;

/* The key with this exact path, or NULL. */
const KeyDef *schema_find(const char *path);

/* Index of the key, for the validator's per-key arrays. */
int schema_index(const KeyDef *k);

/* True when `path` is a section (a prefix of some key, ending at a dot). */
bool schema_is_section(const char *path);

/* The known key or section nearest to an unknown `path` (by edit distance
 * on the whole path and on its last segment), or NULL if none is close. */
const char *schema_suggest(const char *path);

/* The key reference as Markdown tables, one per section. */
void schema_print_markdown(FILE *f);

/* The key reference as plain text, one key per line with its type and
 * default, for a terminal. */
void schema_print_text(FILE *f);

#endif
