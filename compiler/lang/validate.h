/*
 * validate.h: YAML tree -> ModelSpec.
 *
 * spec_validate reads the tree against the key table (schema.h), applies
 * defaults, derives the dependent values and checks every rule between keys.
 * Each problem is reported through diag with the file, line, column and key
 * path; the function reports as many independent problems as it can find and
 * returns false if there was any. On success `out` is complete.
 */
#ifndef GPTC_VALIDATE_H
#define GPTC_VALIDATE_H

#include "compiler/lang/spec.h"
#include "compiler/lang/ytree.h"

/* Model size above which a configuration is refused outright: no single
 * accelerator comes near it, so such a file is a typo, not a plan. */
#define SPEC_MAX_GPU_BYTES (1024LL << 30)

bool spec_validate(const YNode *root, const char *source, ModelSpec *out);

/* Loads the file with its extends chain and --set overrides, validates it,
 * and frees the tree. */
bool spec_load(const char *path, const char *const *sets, int nsets, ModelSpec *out);

/* The same from a spec given as one mapping of dotted key paths (the
 * "spec" of `gptc check --json`, as a safetensors export carries it),
 * registered under `name` for messages. */
bool spec_load_flat(const char *name, const char *text, size_t len, const char *const *sets, int nsets,
                    ModelSpec *out);

#endif
