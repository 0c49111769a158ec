/*
 * spec_json.h: the fully resolved ModelSpec as one JSON object, one member
 * per key of the schema (dotted paths as in `gptc keys`), with derived
 * defaults filled in and list keys in their resolved form. It is how tools
 * outside C (the PyTorch reference in tests/reference/) read a model
 * exactly as gptc understood it.
 */
#ifndef GPTC_SPEC_JSON_H
#define GPTC_SPEC_JSON_H

#include <stdbool.h>
#include <stdio.h>

#include "compiler/lang/spec.h"

/* `pretty` puts each member on its own line; otherwise the object is one
 * line (for JSON Lines files). */
void spec_json(FILE *f, const ModelSpec *s, bool pretty);

/* Calls `each` for every key whose resolved value differs between `old`
 * and `now`, in schema order, with both values as the JSON text spec_json
 * prints for them; returns how many keys differ (-1 when out of memory). */
typedef void SpecDiffFn(void *ctx, const char *key, const char *old, const char *now);
int spec_diff(const ModelSpec *old, const ModelSpec *now, SpecDiffFn *each, void *ctx);

#endif
