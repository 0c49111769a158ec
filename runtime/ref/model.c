/*
 * model.c: the ref executor's forward and backward pass, interpreting the
 * ModelSpec directly (docs/recipe.md, from 'Forward pass' to 'Dtypes'; the
 * notation follows it).
 *
 * Forward, per rank, one packed sequence of T tokens:
 *   x0k = rmsnorm(embed_k[ids]) for every input table; x = x00
 *   for each layer i:
 *     xs = x + sum over skips (j -> i) of skip_w[j] out_j    (list order)
 *     xm = lx xs + sum_k lk x0k                               (the x0 mix)
 *     if attention: h = xm, or rmsnorm(xm) with pre-norm
 *        q, k, v = h Wq^T, h Wk^T, h Wv^T, per head: rmsnorm q and k (and
 *        v with qkv-norm), rotary on q and k, v = sa0 v + sa1 ve
 *        xa = xm + attention(q, k, v) Wo^T
 *     out_i = xa + relu(rmsnorm(xa) fc^T)^2 proj^T
 *   logits = rmsnorm(x) head^T, softcapped; loss = mean cross-entropy.
 * Backward walks the same steps in reverse, keeping gradients for the skip
 * sources until their layer is reached. Every scalar gets its gradient.
 *
 * Everything is stored for backward (no recomputation): the ref executor is
 * for models that fit a CPU, and plain storage keeps it easy to read.
 * Compiled twice, as float and as double (real.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/ref/elementwise.h"
#include "runtime/ref/ops.h"
#include "runtime/ref/reduce.h"
#include "runtime/ref/ref.h"
#include "runtime/util/rng.h"

#define Model RNAME(Model)

typedef struct {
    real *xs, *xm;                 /* after skips; after the x0 mix */
    real *hn, *rstd_h;             /* pre-norm attention input (ATTN_NORM_PRE) */
    real *qn, *kn, *vn;            /* per-head normed q, k (v: normed with qkv-norm) */
    real *rstd_q, *rstd_k, *rstd_v;/* [T, heads] */
    real *q, *k, *v;               /* rotated q, k; value-mixed v */
    real *y, *lse;                 /* attention output [T, D]; log-sum-exp [H, T] */
    real *xa;                      /* after the attention residual */
    real *n2, *rstd2, *pre, *act;  /* MLP: normed input, fc output, relu^2 */
    real *out;
} LayerActs;

struct Model {
    ModelSpec spec;
    int max_T, T, step;
    bool validation, have_forward;
    int ntensors;
    ParamTensor meta[PARAMS_MAX];
    size_t off[PARAMS_MAX], total;
    real *params, *grads;
    int t_head, t_scalars, t_x0[SPEC_MAX_TABLES], t_ve[SPEC_MAX_TABLES];
    int t_qkvo[SPEC_MAX_LAYERS], t_fc[SPEC_MAX_LAYERS], t_proj[SPEC_MAX_LAYERS];
    int *ids, *tgt, *doc_start;
    real *cosb, *sinb;
    LayerActs la[SPEC_MAX_LAYERS];
    real *x0n[SPEC_MAX_TABLES], *rstd0[SPEC_MAX_TABLES], *ve[SPEC_MAX_TABLES];
    real *xf, *rstdf, *z, *row_loss;
    real *dcur, *dxa, *dxm, *dh, *dq, *dk, *dv, *dy, *dact, *dn, *dz;
    real *dx0[SPEC_MAX_TABLES], *dve[SPEC_MAX_TABLES], *dskip[SPEC_MAX_LAYERS];
    real *scratch;
    void **bufs;
    int nbufs;
};

/* ---- allocation ---- */

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fprintf(stderr, "gptc: out of memory (ref executor, %zu bytes)\n", n * size);
        exit(1);
    }
    return p;
}

/* Every buffer is recorded so model_free releases them all. */
static real *buf(Model *m, size_t n) {
    m->bufs = realloc(m->bufs, sizeof(void *) * (size_t)(m->nbufs + 1));
    if (!m->bufs) {
        fputs("gptc: out of memory\n", stderr);
        exit(1);
    }
    return m->bufs[m->nbufs++] = xcalloc(n, sizeof(real));
}

static void index_tensors(Model *m) {
    m->t_head = -1;
    for (int i = 0; i < m->ntensors; i++) {
        const ParamTensor *p = &m->meta[i];
        switch (p->role) {
        case ROLE_HEAD: m->t_head = i; break;
        case ROLE_SCALARS: m->t_scalars = i; break;
        case ROLE_INPUT_TABLE: m->t_x0[p->table] = i; break;
        case ROLE_VALUE_TABLE: m->t_ve[p->table] = i; break;
        case ROLE_QKVO: m->t_qkvo[p->layer] = i; break;
        case ROLE_FC: m->t_fc[p->layer] = i; break;
        case ROLE_PROJ: m->t_proj[p->layer] = i; break;
        }
    }
}

static void alloc_layer(Model *m, LayerActs *a, bool attention) {
    size_t TD = (size_t)m->max_T * m->spec.model.dim, T = (size_t)m->max_T;
    size_t TH = T * m->spec.model.heads, TM = T * m->spec.model.mlp_hidden;
    a->xs = buf(m, TD);
    a->xm = buf(m, TD);
    if (attention) {
        if (m->spec.attn.norm == ATTN_NORM_PRE) a->hn = buf(m, TD), a->rstd_h = buf(m, T);
        a->qn = buf(m, TD), a->kn = buf(m, TD), a->vn = buf(m, TD);
        a->rstd_q = buf(m, TH), a->rstd_k = buf(m, TH), a->rstd_v = buf(m, TH);
        a->q = buf(m, TD), a->k = buf(m, TD), a->v = buf(m, TD);
        a->y = buf(m, TD), a->lse = buf(m, TH);
    }
    a->xa = buf(m, TD);
    a->n2 = buf(m, TD), a->rstd2 = buf(m, T), a->pre = buf(m, TM), a->act = buf(m, TM);
    a->out = buf(m, TD);
}

void RNAME(rotary_tables)(const ModelSpec *s, int T, real *cosb, real *sinb) {
    rotary_tables(cosb, sinb, T, s->model.head_dim / 2, s->attn.rotary_pairs, s->attn.rotary_base);
}

Model *RNAME(model_new)(const ModelSpec *s, int max_T) {
    Model *m = xcalloc(1, sizeof *m);
    m->spec = *s;
    m->max_T = max_T;
    m->ntensors = params_list(s, m->meta);
    for (int i = 0; i < m->ntensors; i++) {
        m->off[i] = m->total;
        m->total += (size_t)m->meta[i].numel;
    }
    m->params = buf(m, m->total);
    m->grads = buf(m, m->total);
    index_tensors(m);
    const SpecModel *sm = &s->model;
    size_t T = (size_t)max_T, TD = T * sm->dim;
    m->ids = xcalloc(T, sizeof(int));
    m->tgt = xcalloc(T, sizeof(int));
    m->doc_start = xcalloc(T, sizeof(int));
    m->cosb = buf(m, T * sm->head_dim / 2);
    m->sinb = buf(m, T * sm->head_dim / 2);
    RNAME(rotary_tables)(s, max_T, m->cosb, m->sinb);
    for (int i = 0; i < sm->layers; i++) alloc_layer(m, &m->la[i], sm->attention[i]);
    for (int k = 0; k < s->x0.tables; k++)
        m->x0n[k] = buf(m, TD), m->rstd0[k] = buf(m, T), m->dx0[k] = buf(m, TD);
    for (int k = 0; k < s->ve.tables; k++) m->ve[k] = buf(m, TD), m->dve[k] = buf(m, TD);
    for (int j = 0; j < s->skips.count; j++)
        if (!m->dskip[s->skips.from[j]]) m->dskip[s->skips.from[j]] = buf(m, TD);
    m->xf = buf(m, TD), m->rstdf = buf(m, T);
    m->z = buf(m, T * s->vocab.padded), m->dz = buf(m, T * s->vocab.padded);
    m->row_loss = buf(m, T);
    m->dcur = buf(m, TD), m->dxa = buf(m, TD), m->dxm = buf(m, TD), m->dh = buf(m, TD);
    m->dq = buf(m, TD), m->dk = buf(m, TD), m->dv = buf(m, TD), m->dy = buf(m, TD);
    m->dn = buf(m, TD), m->dact = buf(m, T * sm->mlp_hidden);
    m->scratch = buf(m, attention_scratch(T) * (size_t)omp_get_max_threads());
    return m;
}

void RNAME(model_free)(Model *m) {
    if (!m) return;
    for (int i = 0; i < m->nbufs; i++) free(m->bufs[i]);
    free(m->bufs);
    free(m->ids);
    free(m->tgt);
    free(m->doc_start);
    free(m);
}

real *RNAME(params)(Model *m) { return m->params; }
real *RNAME(grads)(Model *m) { return m->grads; }
size_t RNAME(num_params)(const Model *m) { return m->total; }
const real *RNAME(logits)(const Model *m) { return m->z; }


int RNAME(tensors)(const Model *m, const ParamTensor **meta, const size_t **offsets) {
    *meta = m->meta;
    *offsets = m->off;
    return m->ntensors;
}

/* ---- parameter access ---- */

static real *P(Model *m, int t) { return m->params + m->off[t]; }
static real *G(Model *m, int t) { return m->grads + m->off[t]; }

/* The head's weight: its own tensor, or x00's table when tied. */
static int head_tensor(const Model *m) { return m->t_head >= 0 ? m->t_head : m->t_x0[0]; }

/* ---- initialisation (docs/recipe.md, 'Initialisation') ---- */

static void fill_uniform(real *w, size_t n, double bound, Rng *r) {
    for (size_t i = 0; i < n; i++) w[i] = (real)((2 * rng_uniform(r) - 1) * bound);
}

static void fill_normal(real *w, size_t n, double std, Rng *r) {
    for (size_t i = 0; i < n; i++) w[i] = (real)(std * rng_normal(r));
}

/* uniform(-b, b) with std = scale / sqrt(fan_in), so b = sqrt(3) std. */
static double linear_bound(const ModelSpec *s, int64_t fan_in) {
    return sqrt(3.0) * s->init.linear_std_scale / sqrt((double)fan_in);
}

static void init_scalars(Model *m, real *sc) {
    const ModelSpec *s = &m->spec;
    for (int i = 0; i < s->model.layers; i++) {
        sc[spec_skip_index(&m->spec, i)] = (real)s->skips.init;
        sc[spec_lambda_index(&m->spec, i, 0)] = (real)s->x0.lambda_x;
        sc[spec_lambda_index(&m->spec, i, 1)] = (real)s->x0.lambda_x0;
        for (int k = 1; k < s->x0.tables; k++) sc[spec_lambda_index(&m->spec, i, k + 1)] = (real)s->x0.lambda_x0_extra;
        sc[spec_sa_index(&m->spec, i, 0)] = (real)s->ve.lambda_v;
        sc[spec_sa_index(&m->spec, i, 1)] = (real)s->ve.lambda_ve;
    }
}

void RNAME(init)(Model *m, uint64_t seed) {
    const ModelSpec *s = &m->spec;
    Rng r;
    rng_seed(&r, seed);
    for (int t = 0; t < m->ntensors; t++) {
        const ParamTensor *p = &m->meta[t];
        real *w = P(m, t);
        size_t n = (size_t)p->numel;
        memset(w, 0, n * sizeof(real));
        switch (p->group) {
        case GROUP_HEAD:
            if (s->head.init == INIT_NORMAL) fill_normal(w, n, s->head.init_std, &r);
            break;
        case GROUP_SCALARS: init_scalars(m, w); break;
        case GROUP_INPUT_EMBED: fill_normal(w, n, s->x0.init_std, &r); break;
        case GROUP_VALUE_EMBED:
            if (s->ve.init == INIT_NORMAL) fill_normal(w, n, s->ve.init_std, &r);
            break;
        case GROUP_ATTN: {
            size_t DD = n / 4;
            double b = linear_bound(s, s->model.dim);
            fill_uniform(w, 3 * DD, b, &r);
            if (!s->init.zero_out_proj) fill_uniform(w + 3 * DD, DD, b, &r);
            break;
        }
        case GROUP_MLP:
            if (t == m->t_fc[p->layer]) fill_uniform(w, n, linear_bound(s, s->model.dim), &r);
            else if (!s->init.zero_out_proj)
                fill_uniform(w, n, linear_bound(s, s->model.mlp_hidden), &r);
            break;
        case GROUP_COUNT: break;
        }
    }
}

void RNAME(init_params)(const ModelSpec *s, real *params, uint64_t seed) {
    Model *m = xcalloc(1, sizeof *m);
    m->spec = *s;
    m->ntensors = params_list(s, m->meta);
    for (int i = 0; i < m->ntensors; i++) {
        m->off[i] = m->total;
        m->total += (size_t)m->meta[i].numel;
    }
    m->params = params;
    index_tensors(m);
    RNAME(init)(m, seed);
    free(m);
}

/* ---- forward ---- */

static void layer_windows(const Model *m, int *lw, int *sw) {
    spec_window_blocks(&m->spec, m->step, m->validation, lw, sw);
}

static void attention_block_fwd(Model *m, int i, const real *sc) {
    const ModelSpec *s = &m->spec;
    LayerActs *a = &m->la[i];
    int T = m->T, D = s->model.dim, H = s->model.heads, hd = s->model.head_dim;
    size_t TD = (size_t)T * D, DD = (size_t)D * D;
    const real *W = P(m, m->t_qkvo[i]);
    const real *h = a->xm;
    if (s->attn.norm == ATTN_NORM_PRE) {
        rmsnorm_fwd(a->hn, a->rstd_h, a->xm, T, D);
        h = a->hn;
    }
    linear_fwd(a->qn, h, W, T, D, D);
    linear_fwd(a->kn, h, W + DD, T, D, D);
    linear_fwd(a->vn, h, W + 2 * DD, T, D, D);
    rmsnorm_fwd(a->qn, a->rstd_q, a->qn, T * H, hd);
    rmsnorm_fwd(a->kn, a->rstd_k, a->kn, T * H, hd);
    if (s->attn.norm == ATTN_NORM_QKV) rmsnorm_fwd(a->vn, a->rstd_v, a->vn, T * H, hd);
    bool inter = s->attn.rotary_convention == ROTARY_INTERLEAVED;
    memcpy(a->q, a->qn, TD * sizeof(real));
    memcpy(a->k, a->kn, TD * sizeof(real));
    rotary_apply(a->q, m->cosb, m->sinb, T, H, hd, inter, false);
    rotary_apply(a->k, m->cosb, m->sinb, T, H, hd, inter, false);
    real sa0 = sc[spec_sa_index(&m->spec, i, 0)], sa1 = sc[spec_sa_index(&m->spec, i, 1)];
    int table = s->ve.layer_table[i];
    scale(a->v, sa0, a->vn, TD);
    if (table >= 0) axpy(a->v, sa1, m->ve[table], TD);
    int lw, sw;
    layer_windows(m, &lw, &sw);
    int Wb = s->attn.window.long_layer[i] ? lw : sw;
    attention_fwd(a->y, a->lse, a->q, a->k, a->v, m->doc_start, T, H, hd, Wb,
                  s->attn.window.block_size, (real)s->attn.scale, m->scratch);
    linear_fwd(a->xa, a->y, W + 3 * DD, T, D, D);
    axpy(a->xa, 1, a->xm, TD);
}

static void mlp_fwd(Model *m, int i) {
    LayerActs *a = &m->la[i];
    int T = m->T, D = m->spec.model.dim, M = m->spec.model.mlp_hidden;
    size_t TM = (size_t)T * M;
    rmsnorm_fwd(a->n2, a->rstd2, a->xa, T, D);
    linear_fwd(a->pre, a->n2, P(m, m->t_fc[i]), T, D, M);
    relu2_fwd(a->act, a->pre, TM);
    linear_fwd(a->out, a->act, P(m, m->t_proj[i]), T, M, D);
    axpy(a->out, 1, a->xa, (size_t)T * D);
}

static void layer_fwd(Model *m, int i, const real *x_in) {
    const ModelSpec *s = &m->spec;
    LayerActs *a = &m->la[i];
    size_t TD = (size_t)m->T * s->model.dim;
    const real *sc = P(m, m->t_scalars);
    memcpy(a->xs, x_in, TD * sizeof(real));
    for (int j = 0; j < s->skips.count; j++)
        if (s->skips.to[j] == i) axpy(a->xs, sc[spec_skip_index(&m->spec, s->skips.from[j])], m->la[s->skips.from[j]].out, TD);
    /* The layer's block lambdas sit together in the scalars, lx first and
     * then one per table, as the x0-mix kernel reads them. */
    const real *x0[SPEC_MAX_TABLES];
    for (int k = 0; k < s->x0.tables; k++) x0[k] = m->x0n[k];
    x0_mix_fwd(a->xm, a->xs, x0, sc + spec_lambda_index(&m->spec, i, 0), s->x0.tables, TD);
    if (s->model.attention[i]) attention_block_fwd(m, i, sc);
    else memcpy(a->xa, a->xm, TD * sizeof(real));
    mlp_fwd(m, i);
}

/* Each token's document starts at the last EOT at or before it (an EOT
 * opens the document it belongs to: docs/recipe.md, 'Document mask'). */
static void find_documents(Model *m) {
    int start = 0;
    for (int t = 0; t < m->T; t++) {
        if (m->ids[t] == m->spec.vocab.eot) start = t;
        m->doc_start[t] = start;
    }
}

double RNAME(forward)(Model *m, const int *inputs, const int *targets, int T, int step,
                      bool validation) {
    const ModelSpec *s = &m->spec;
    if (T < 1 || T > m->max_T || T % s->attn.window.block_size) {
        fprintf(stderr, "gptc: internal error: ref forward of %d tokens (max %d, block %d)\n", T,
                m->max_T, s->attn.window.block_size);
        abort();
    }
    int D = s->model.dim, V = s->vocab.padded, L = s->model.layers;
    m->T = T, m->step = step, m->validation = validation, m->have_forward = true;
    memcpy(m->ids, inputs, sizeof(int) * T);
    memcpy(m->tgt, targets, sizeof(int) * T);
    find_documents(m);
    for (int k = 0; k < s->x0.tables; k++) {
        embed_gather(m->x0n[k], P(m, m->t_x0[k]), m->ids, T, D);
        rmsnorm_fwd(m->x0n[k], m->rstd0[k], m->x0n[k], T, D);
    }
    for (int k = 0; k < s->ve.tables; k++) embed_gather(m->ve[k], P(m, m->t_ve[k]), m->ids, T, D);
    for (int i = 0; i < L; i++) layer_fwd(m, i, i ? m->la[i - 1].out : m->x0n[0]);
    rmsnorm_fwd(m->xf, m->rstdf, m->la[L - 1].out, T, D);
    linear_fwd(m->z, m->xf, P(m, head_tensor(m)), T, D, V);
    softcap_fwd(m->z, (size_t)T * V, s->head.softcap, (real)s->head.cap, (real)s->head.divisor,
                (real)s->head.offset);
    return cross_entropy_fwd(m->row_loss, m->z, m->tgt, T, V);
}

/* ---- the logit lens (ref_api.h) ---- */

const real *RNAME(stream)(const Model *m, int layer) {
    int L = m->spec.model.layers;
    if (!m->have_forward || layer < 0 || layer > L) return NULL;
    return layer ? m->la[layer - 1].out : m->x0n[0];
}

const real *RNAME(input_table)(const Model *m, int k) {
    return m->have_forward && k >= 0 && k < m->spec.x0.tables ? m->x0n[k] : NULL;
}

const real *RNAME(value_table)(const Model *m, int k) {
    return m->have_forward && k >= 0 && k < m->spec.ve.tables ? m->ve[k] : NULL;
}

static double rms(const real *x, size_t n) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    return n ? sqrt(ss / (double)n) : 0;
}

void RNAME(norms)(const Model *m, double *x_rms, double *x0_rms) {
    size_t TD = (size_t)m->T * m->spec.model.dim;
    for (int i = 0; i < m->spec.model.layers; i++) x_rms[i] = rms(m->la[i].xs, TD);
    for (int k = 0; k < m->spec.x0.tables; k++) x0_rms[k] = rms(m->x0n[k], TD);
}

const real *RNAME(decode)(Model *m, const real *x) {
    const ModelSpec *s = &m->spec;
    int T = m->T, D = s->model.dim, V = s->vocab.padded;
    rmsnorm_fwd(m->xf, m->rstdf, x, T, D);
    linear_fwd(m->z, m->xf, P(m, head_tensor(m)), T, D, V);
    softcap_fwd(m->z, (size_t)T * V, s->head.softcap, (real)s->head.cap, (real)s->head.divisor, (real)s->head.offset);
    return m->z;
}

/* ---- backward ---- */

static void attention_block_bwd(Model *m, int i, const real *sc, real *dsc) {
    const ModelSpec *s = &m->spec;
    LayerActs *a = &m->la[i];
    int T = m->T, D = s->model.dim, H = s->model.heads, hd = s->model.head_dim;
    size_t TD = (size_t)T * D, DD = (size_t)D * D;
    const real *W = P(m, m->t_qkvo[i]);
    real *dW = G(m, m->t_qkvo[i]);
    linear_bwd(m->dy, false, dW + 3 * DD, m->dxa, a->y, W + 3 * DD, T, D, D);
    int lw, sw;
    layer_windows(m, &lw, &sw);
    int Wb = s->attn.window.long_layer[i] ? lw : sw;
    attention_bwd(m->dq, m->dk, m->dv, m->dy, a->y, a->lse, a->q, a->k, a->v, m->doc_start, T, H,
                  hd, Wb, s->attn.window.block_size, (real)s->attn.scale, m->scratch);
    real sa0 = sc[spec_sa_index(&m->spec, i, 0)], sa1 = sc[spec_sa_index(&m->spec, i, 1)];
    int table = s->ve.layer_table[i];
    dsc[spec_sa_index(&m->spec, i, 0)] += dot(m->dv, a->vn, TD);
    if (table >= 0) {
        dsc[spec_sa_index(&m->spec, i, 1)] += dot(m->dv, m->ve[table], TD);
        axpy(m->dve[table], sa1, m->dv, TD);
    }
    scale(m->dv, sa0, m->dv, TD);
    if (s->attn.norm == ATTN_NORM_QKV) rmsnorm_bwd(m->dv, false, m->dv, a->vn, a->rstd_v, T * H, hd);
    bool inter = s->attn.rotary_convention == ROTARY_INTERLEAVED;
    rotary_apply(m->dq, m->cosb, m->sinb, T, H, hd, inter, true);
    rotary_apply(m->dk, m->cosb, m->sinb, T, H, hd, inter, true);
    rmsnorm_bwd(m->dq, false, m->dq, a->qn, a->rstd_q, T * H, hd);
    rmsnorm_bwd(m->dk, false, m->dk, a->kn, a->rstd_k, T * H, hd);
    const real *h = s->attn.norm == ATTN_NORM_PRE ? a->hn : a->xm;
    linear_bwd(m->dh, false, dW, m->dq, h, W, T, D, D);
    linear_bwd(m->dh, true, dW + DD, m->dk, h, W + DD, T, D, D);
    linear_bwd(m->dh, true, dW + 2 * DD, m->dv, h, W + 2 * DD, T, D, D);
    if (s->attn.norm == ATTN_NORM_PRE) rmsnorm_bwd(m->dxm, true, m->dh, a->hn, a->rstd_h, T, D);
    else axpy(m->dxm, 1, m->dh, TD);
}

/* m->dcur holds d loss / d out_i on entry, d loss / d (layer input) on exit. */
static void layer_bwd(Model *m, int i) {
    const ModelSpec *s = &m->spec;
    LayerActs *a = &m->la[i];
    int T = m->T, D = s->model.dim, M = s->model.mlp_hidden;
    size_t TD = (size_t)T * D, TM = (size_t)T * M;
    const real *sc = P(m, m->t_scalars);
    real *dsc = G(m, m->t_scalars);
    if (m->dskip[i]) axpy(m->dcur, 1, m->dskip[i], TD);
    memcpy(m->dxa, m->dcur, TD * sizeof(real));
    linear_bwd(m->dact, false, G(m, m->t_proj[i]), m->dcur, a->act, P(m, m->t_proj[i]), T, M, D);
    relu2_bwd(m->dact, m->dact, a->pre, TM);
    linear_bwd(m->dn, false, G(m, m->t_fc[i]), m->dact, a->n2, P(m, m->t_fc[i]), T, D, M);
    rmsnorm_bwd(m->dxa, true, m->dn, a->n2, a->rstd2, T, D);
    memcpy(m->dxm, m->dxa, TD * sizeof(real));
    if (s->model.attention[i]) attention_block_bwd(m, i, sc, dsc);
    dsc[spec_lambda_index(&m->spec, i, 0)] += dot(m->dxm, a->xs, TD);
    for (int k = 0; k < s->x0.tables; k++)
        dsc[spec_lambda_index(&m->spec, i, k + 1)] += dot(m->dxm, m->x0n[k], TD);
    x0_mix_bwd(m->dcur, m->dx0, m->dxm, sc + spec_lambda_index(&m->spec, i, 0), s->x0.tables, TD);
    for (int j = s->skips.count - 1; j >= 0; j--) {
        if (s->skips.to[j] != i) continue;
        int from = s->skips.from[j];
        dsc[spec_skip_index(&m->spec, from)] += dot(m->dcur, m->la[from].out, TD);
        axpy(m->dskip[from], sc[spec_skip_index(&m->spec, from)], m->dcur, TD);
    }
}

void RNAME(backward)(Model *m) {
    const ModelSpec *s = &m->spec;
    if (!m->have_forward) {
        fputs("gptc: internal error: ref backward without a forward\n", stderr);
        abort();
    }
    int T = m->T, D = s->model.dim, V = s->vocab.padded, L = s->model.layers;
    size_t TD = (size_t)T * D;
    memset(m->grads, 0, m->total * sizeof(real));
    for (int k = 0; k < s->x0.tables; k++) memset(m->dx0[k], 0, TD * sizeof(real));
    for (int k = 0; k < s->ve.tables; k++) memset(m->dve[k], 0, TD * sizeof(real));
    for (int i = 0; i < L; i++)
        if (m->dskip[i]) memset(m->dskip[i], 0, TD * sizeof(real));
    cross_entropy_bwd(m->dz, m->z, m->tgt, T, V, s->head.softcap, (real)s->head.cap,
                      (real)s->head.divisor);
    int ht = head_tensor(m);
    linear_bwd(m->dn, false, G(m, ht), m->dz, m->xf, P(m, ht), T, D, V);
    rmsnorm_bwd(m->dcur, false, m->dn, m->xf, m->rstdf, T, D);
    for (int i = L - 1; i >= 0; i--) layer_bwd(m, i);
    axpy(m->dx0[0], 1, m->dcur, TD);
    for (int k = 0; k < s->x0.tables; k++) {
        rmsnorm_bwd(m->dn, false, m->dx0[k], m->x0n[k], m->rstd0[k], T, D);
        embed_scatter_add(G(m, m->t_x0[k]), m->dn, m->ids, T, D);
    }
    for (int k = 0; k < s->ve.tables; k++) embed_scatter_add(G(m, m->t_ve[k]), m->dve[k], m->ids, T, D);
}
