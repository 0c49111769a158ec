/*
 * params.h: the parameter tensors a ModelSpec implies, in modded-nanogpt's
 * names, shapes and state_dict order (docs/recipe.md, 'Parameter names and
 * order'), with each tensor's dtype, optimizer and parameter group.
 *
 * This list is the single source of truth for parameter counts (gptc
 * check), for the checkpoint layout and for safetensors export.
 */
#ifndef GPTC_PARAMS_H
#define GPTC_PARAMS_H

#include <stdint.h>

#include "spec.h"

typedef enum {
    GROUP_HEAD,       /* lm_head_w */
    GROUP_SCALARS,    /* the fp32 scalars vector */
    GROUP_INPUT_EMBED,/* x00..x0K tables */
    GROUP_VALUE_EMBED,/* value-embedding tables */
    GROUP_ATTN,       /* qkvo_w */
    GROUP_MLP,        /* fc_w and proj_w */
    GROUP_COUNT
} ParamGroup;

typedef enum { OPT_ADAM, OPT_MUON } Optimizer;

typedef struct {
    char name[64];    /* e.g. "blocks.3.attn.qkvo_w" */
    int ndim;
    int64_t shape[3];
    int64_t numel;
    DType dtype;
    Optimizer opt;
    ParamGroup group;
    int layer;        /* -1 for tensors outside the blocks */
} ParamTensor;

/* Upper bound on the number of tensors: head, scalars, tables, 3 per layer. */
#define PARAMS_MAX (2 + 2 * SPEC_MAX_TABLES + 3 * SPEC_MAX_LAYERS)

/* Fills `out` (PARAMS_MAX entries) in state_dict order; returns the count. */
int params_list(const ModelSpec *s, ParamTensor *out);

const char *params_group_name(ParamGroup g);

#endif
