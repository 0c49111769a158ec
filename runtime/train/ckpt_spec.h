/*
 * ckpt_spec.h: what a checkpoint needs to know about the ModelSpec it
 * stores: a fingerprint of the struct's layout in this build, structural
 * checks on the stored bytes, and the comparison of parameter layouts.
 *
 * A checkpoint stores the ModelSpec as raw bytes, which is only meaningful
 * to a build with the same struct layout; the fingerprint lets a reader
 * refuse any other clearly. The stored bytes come from a file, so before
 * they are used as a ModelSpec every bool, enum, string and index in them
 * is checked, which keeps even a hand-made file from crashing a reader.
 */
#ifndef GPTC_CKPT_SPEC_H
#define GPTC_CKPT_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler/lang/spec.h"

/* FNV-1a 64 over every field's offset, size and kind (and each enum's
 * largest value), so reordering, resizing or renumbering changes it. */
uint64_t ckpt_spec_layout_hash(void);

/* Checks `bytes` (sizeof(ModelSpec) of them) before they become a
 * ModelSpec: bools are 0 or 1, enums in range, strings terminated, and the
 * sizes and indices params_list and the reports use are in bounds. On
 * failure writes the first problem to `why`. */
bool ckpt_spec_bytes_ok(const unsigned char *bytes, char *why, size_t cap);

/* True when both specs imply the same parameter tensors (count, names,
 * shapes). Otherwise `why` names the first difference, e.g.
 * "checkpoint holds blocks.3.attn.qkvo_w [4, 128, 128], the model has
 * [4, 256, 256]: this checkpoint is of another model". */
bool ckpt_same_layout(const ModelSpec *stored, const ModelSpec *model, char *why, size_t cap);

/* Sum of the parameter tensors' element counts; -1 when out of memory. */
int64_t ckpt_param_count(const ModelSpec *s);

#endif
