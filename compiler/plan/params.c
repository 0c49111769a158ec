/*
 * params.c: lists the parameter tensors of a ModelSpec in the order of
 * modded-nanogpt's state_dict (docs/recipe.md, 'Parameter names and
 * order'): lm_head_w, scalars, the input tables, the value embeddings, then
 * per block qkvo_w (only where the layer has attention), fc_w and proj_w.
 * Names are the recipe's, so that a safetensors export loads into its
 * PyTorch model with strict=True. Block matrices go to Muon, everything
 * else to Adam.
 */
#include <stdio.h>

#include "compiler/plan/params.h"

static ParamTensor *add(ParamTensor *t, ParamGroup g, ParamRole role, Optimizer opt, DType dt,
                        int layer, int ndim, const int64_t *shape) {
    *t = (ParamTensor){.role = role, .table = -1};
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < 3; d++) {
        t->shape[d] = d < ndim ? shape[d] : 0;
        if (d < ndim) t->numel *= shape[d];
    }
    t->dtype = dt;
    t->opt = opt;
    t->group = g;
    t->layer = layer;
    return t;
}

/* The recipe named its tables differently as they multiplied: `embed` alone
 * (R8, R9), `embed1`/`embed2` in R10, and `embed0`.. in snimu's ablation
 * scripts (from two tables on). */
static void input_table_name(char *buf, size_t n, int k, int tables, TableNaming naming) {
    if (tables == 1)
        snprintf(buf, n, "embed.weight");
    else if (tables == 2 && naming == NAMING_RECORD)
        snprintf(buf, n, "embed%d.weight", k + 1);
    else
        snprintf(buf, n, "embed%d.weight", k);
}

static int add_blocks(const ModelSpec *s, ParamTensor *out, int n) {
    const SpecModel *m = &s->model;
    DType dt = s->dtypes.matrices;
    for (int i = 0; i < m->layers; i++) {
        ParamTensor *t;
        if (m->attention[i]) {
            /* The attention width heads*head_dim equals dim (validated), so
             * Q, K, V and O are all square [dim, dim]. */
            int64_t qkvo[3] = {4, m->dim, m->dim};
            t = add(&out[n++], GROUP_ATTN, ROLE_QKVO, OPT_MUON, dt, i, 3, qkvo);
            snprintf(t->name, sizeof t->name, "blocks.%d.attn.qkvo_w", i);
        }
        int64_t fc[2] = {m->mlp_hidden, m->dim};
        t = add(&out[n++], GROUP_MLP, ROLE_FC, OPT_MUON, dt, i, 2, fc);
        snprintf(t->name, sizeof t->name, "blocks.%d.mlp.fc_w", i);
        int64_t proj[2] = {m->dim, m->mlp_hidden};
        t = add(&out[n++], GROUP_MLP, ROLE_PROJ, OPT_MUON, dt, i, 2, proj);
        snprintf(t->name, sizeof t->name, "blocks.%d.mlp.proj_w", i);
    }
    return n;
}

int params_list(const ModelSpec *s, ParamTensor *out) {
    int n = 0;
    int64_t dim = s->model.dim;
    int64_t rows = s->vocab.pad_embeddings ? s->vocab.padded : s->vocab.size;
    ParamTensor *t;
    if (!s->head.tied) {
        int64_t head[2] = {s->vocab.padded, dim};
        t = add(&out[n++], GROUP_HEAD, ROLE_HEAD, OPT_ADAM, s->dtypes.head, -1, 2, head);
        snprintf(t->name, sizeof t->name, "lm_head_w");
        t->bf16_copy = true;
    }
    int64_t scalars[1] = {spec_scalars_len(s)};
    t = add(&out[n++], GROUP_SCALARS, ROLE_SCALARS, OPT_ADAM, s->dtypes.scalars, -1, 1, scalars);
    snprintf(t->name, sizeof t->name, "scalars");
    int64_t table[2] = {rows, dim};
    for (int k = 0; k < s->x0.tables; k++) {
        t = add(&out[n++], GROUP_INPUT_EMBED, ROLE_INPUT_TABLE, OPT_ADAM, s->dtypes.embeddings, -1, 2, table);
        input_table_name(t->name, sizeof t->name, k, s->x0.tables, s->x0.naming);
        t->table = k;
        t->bf16_copy = s->head.tied && k == 0;
    }
    for (int k = 0; k < s->ve.tables; k++) {
        t = add(&out[n++], GROUP_VALUE_EMBED, ROLE_VALUE_TABLE, OPT_ADAM, s->dtypes.embeddings, -1, 2, table);
        snprintf(t->name, sizeof t->name, "value_embeds.%d.weight", k);
        t->table = k;
    }
    return add_blocks(s, out, n);
}

const char *params_group_name(ParamGroup g) {
    switch (g) {
    case GROUP_HEAD: return "head";
    case GROUP_SCALARS: return "scalars";
    case GROUP_INPUT_EMBED: return "input_embed";
    case GROUP_VALUE_EMBED: return "value_embed";
    case GROUP_ATTN: return "attn";
    case GROUP_MLP: return "mlp";
    case GROUP_COUNT: break;
    }
    return "?";
}

int params_find(const ParamTensor *t, int n, ParamRole role, int index) {
    for (int i = 0; i < n; i++) {
        if (t[i].role != role) continue;
        int at = t[i].table >= 0 ? t[i].table : t[i].layer;
        if (index < 0 || at == index) return i;
    }
    return -1;
}

void params_matrix_shape(const ParamTensor *p, int *rows, int *cols, int *count) {
    *count = p->ndim == 3 ? (int)p->shape[0] : 1;
    *rows = (int)p->shape[p->ndim - 2];
    *cols = (int)p->shape[p->ndim - 1];
}
