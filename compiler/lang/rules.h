/*
 * rules.h: the validator's working state, shared by validate.c (reading
 * keys) and rules.c (defaults that depend on other keys, and the rules
 * between keys).
 */
#ifndef GPTC_RULES_H
#define GPTC_RULES_H

#include "compiler/lang/schema.h"
#include "compiler/lang/spec.h"
#include "compiler/lang/ytree.h"

#define SCHEMA_MAX_KEYS 128
#define LIST_MAX (SPEC_MAX_LAYERS > 64 ? SPEC_MAX_LAYERS : 64)

/* A list key as read: up to three numbers per item, and where each was. */
typedef struct {
    int n;
    double v[LIST_MAX][3];
    int width[LIST_MAX];
    SrcLoc at[LIST_MAX];
} ListValue;

typedef struct {
    ModelSpec *spec;
    SrcLoc file;                          /* for problems with no better place */
    const YNode *node[SCHEMA_MAX_KEYS];   /* the user's value, NULL if defaulted */
    ListValue *list[SCHEMA_MAX_KEYS];     /* list keys, given or defaulted */
} Ctx;

/* Reports `fmt` as a problem with key `k` at node `n`. */
void key_error(const KeyDef *k, const YNode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Derives the dependent defaults and checks every rule between keys. */
bool rules_check(Ctx *c);

#endif
