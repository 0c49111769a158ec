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

#include <stdbool.h>
#include <stdint.h>

#include "compiler/lang/spec.h"

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

/* What a tensor is in the model. Recorded here, once, so that no consumer
 * (the lowering, the ref model, the optimizers, the trainer's logs) works
 * it out again from names or shapes. */
typedef enum {
    ROLE_HEAD,        /* lm_head_w */
    ROLE_SCALARS,     /* the scalars vector */
    ROLE_INPUT_TABLE, /* x0k: `table` is k */
    ROLE_VALUE_TABLE, /* value embedding k: `table` is k */
    ROLE_QKVO,        /* a block's attention matrices */
    ROLE_FC,          /* a block's MLP input matrix */
    ROLE_PROJ         /* a block's MLP output matrix */
} ParamRole;

typedef struct {
    char name[64];    /* e.g. "blocks.3.attn.qkvo_w" */
    int ndim;
    int64_t shape[3];
    int64_t numel;
    DType dtype;
    Optimizer opt;
    ParamGroup group;
    ParamRole role;
    int layer;        /* -1 for tensors outside the blocks */
    int table;        /* ROLE_INPUT_TABLE, ROLE_VALUE_TABLE: k; else -1 */
    bool bf16_copy;   /* the device executors keep a bf16 copy of it for the
                       * head's GEMMs: lm_head_w, or x00's table when the
                       * head is tied to it */
} ParamTensor;

/* Upper bound on the number of tensors: head, scalars, tables, 3 per layer. */
#define PARAMS_MAX (2 + 2 * SPEC_MAX_TABLES + 3 * SPEC_MAX_LAYERS)

/* Fills `out` (PARAMS_MAX entries) in state_dict order; returns the count. */
int params_list(const ModelSpec *s, ParamTensor *out);

const char *params_group_name(ParamGroup g);

/* A Muon tensor as `count` matrices [rows, cols] (qkvo_w: 4 of [dim, dim]). */
void params_matrix_shape(const ParamTensor *p, int *rows, int *cols, int *count);

/* The first tensor of `role` (with `index`: the layer of a block matrix,
 * the k of a table; -1 for the others), or -1. */
int params_find(const ParamTensor *t, int n, ParamRole role, int index);

#endif
