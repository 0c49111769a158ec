/*
 * safetensors.h: exporting a model's parameters as a safetensors file
 * (https://github.com/huggingface/safetensors), the format PyTorch and the
 * Hugging Face tools load without running any code from the file.
 *
 * The file is an 8-byte little-endian header length N, N bytes of JSON
 *   {"lm_head_w":{"dtype":"F32","shape":[50304,1024],"data_offsets":[0,206045184]},
 *    ..., "__metadata__":{"format":"pt","source":"gptc","gptc.version":"0.1.0",
 *    "gptc.commit":"...","gptc.step":"1200","gptc.spec":"{\"description\": ...}"}}
 * padded with spaces so that the data starts at a multiple of 8, then the
 * tensors back to back. Names, order and shapes are params_list's, i.e.
 * modded-nanogpt's state_dict, so the result loads into the recipe's model
 * with load_state_dict(strict=True). The metadata carries the resolved
 * spec (spec_json.h's JSON, as a string: safetensors metadata values are
 * strings), so the file alone rebuilds the model: `gptc check
 * FILE.safetensors` reads it back.
 */
#ifndef GPTC_SAFETENSORS_H
#define GPTC_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler/lang/spec.h"

/* fp32 -> bf16, rounding to nearest with ties to even (as PyTorch does);
 * a NaN stays a NaN (quiet, sign kept) instead of rounding to infinity. */
uint16_t bf16_from_float(float x);

/* Writes `params` (`count` floats: the tensors of params_list(s) in order,
 * each starting where the previous one ends) to `path`, atomically. Each
 * tensor is stored in its dtype from params_list (bf16 or fp32), or every
 * one in fp32 when `all_fp32`. `file_bytes`, if not NULL, receives the
 * size written. Messages start with the path. */
bool safetensors_write(const char *path, const ModelSpec *s, int64_t step, const float *params,
                       size_t count, bool all_fp32, uint64_t *file_bytes, char *err, size_t errcap);

/* The metadata key that holds the spec. */
#define SAFETENSORS_SPEC_KEY "gptc.spec"

/* The string value of metadata `key` in the safetensors file at `path`, as
 * a new string; NULL with a message naming the file when the file is not
 * safetensors, has no such key, or is damaged. */
char *safetensors_metadata(const char *path, const char *key, char *err, size_t errcap);

#endif
