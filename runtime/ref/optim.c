/*
 * optim.c: Adam and Muon (see optim.h). Tensors are visited in params_list
 * order, each element in order, so an update is deterministic.
 */
#include "runtime/ref/optim.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct Optim {
    ModelSpec spec;
    int n;
    ParamTensor meta[PARAMS_MAX];
    size_t off[PARAMS_MAX];
    size_t state_off[PARAMS_MAX]; /* into adam_m/v or muon_buf */
    size_t adam_total, muon_total;
    float *adam_m, *adam_v, *muon_buf;
    float *u, *x, *a, *b, *t; /* Newton-Schulz scratch */
};

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fputs("gptc: out of memory (optimizer)\n", stderr);
        exit(1);
    }
    return p;
}

Optim *optim_new(const ModelSpec *s, const ParamTensor *meta, const size_t *offsets, int n) {
    Optim *o = xcalloc(1, sizeof *o);
    o->spec = *s;
    o->n = n;
    size_t biggest = 1, square = 1;
    for (int i = 0; i < n; i++) {
        o->meta[i] = meta[i];
        o->off[i] = offsets[i];
        size_t *total = meta[i].opt == OPT_MUON ? &o->muon_total : &o->adam_total;
        o->state_off[i] = *total;
        *total += (size_t)meta[i].numel;
        if (meta[i].opt == OPT_MUON) {
            int r, c, k;
            params_matrix_shape(&meta[i], &r, &c, &k);
            int small = r < c ? r : c;
            if ((size_t)r * c > biggest) biggest = (size_t)r * c;
            if ((size_t)small * small > square) square = (size_t)small * small;
        }
    }
    o->adam_m = xcalloc(o->adam_total, sizeof(float));
    o->adam_v = xcalloc(o->adam_total, sizeof(float));
    o->muon_buf = xcalloc(o->muon_total, sizeof(float));
    o->u = xcalloc(biggest, sizeof(float));
    o->x = xcalloc(biggest, sizeof(float));
    o->t = xcalloc(biggest, sizeof(float));
    o->a = xcalloc(square, sizeof(float));
    o->b = xcalloc(square, sizeof(float));
    return o;
}

void optim_free(Optim *o) {
    if (!o) return;
    free(o->adam_m);
    free(o->adam_v);
    free(o->muon_buf);
    free(o->u);
    free(o->x);
    free(o->t);
    free(o->a);
    free(o->b);
    free(o);
}

int optim_state(Optim *o, CkptArray *out, int max) {
    CkptArray all[3] = {{"adam_m", o->adam_m, o->adam_total},
                        {"adam_v", o->adam_v, o->adam_total},
                        {"muon_momentum", o->muon_buf, o->muon_total}};
    int n = max < 3 ? max : 3;
    memcpy(out, all, sizeof(CkptArray) * (size_t)n);
    return n;
}

bool optim_set_state(Optim *o, const CkptArray *in, int n, char *err, size_t errcap) {
    CkptArray own[3];
    optim_state(o, own, 3);
    for (int k = 0; k < n; k++) {
        int j = 0;
        while (j < 3 && strcmp(in[k].name, own[j].name)) j++;
        if (j == 3) return snprintf(err, errcap, "no optimizer state named '%s'", in[k].name), false;
        if (in[k].count != own[j].count)
            return snprintf(err, errcap, "%s has %zu values, the model needs %zu", in[k].name, in[k].count,
                            own[j].count), false;
        if (own[j].count && in[k].data != own[j].data) memcpy(own[j].data, in[k].data, own[j].count * sizeof(float));
    }
    return true;
}

/* ---- Adam ---- */

static double adam_lr(const ModelSpec *s, ParamGroup g) {
    if (g == GROUP_HEAD) return s->train.adam.lr_head;
    if (g == GROUP_SCALARS) return s->train.adam.lr_scalars;
    return s->train.adam.lr_embed;
}

AdamCoefs optim_adam_coefs(const ModelSpec *s, ParamGroup g, int step, double mult) {
    const SpecAdam *ad = &s->train.adam;
    return adam_coefs(adam_lr(s, g) * mult, ad->beta1, ad->beta2, ad->eps, ad->weight_decay, step);
}

/* torch.optim.AdamW: p *= 1 - lr wd; p -= lr / bc1 m / (sqrt(v) / sqrt(bc2) + eps)
 * (adam.h, shared with the kernel tests). */
static void adam_update(Optim *o, int i, float *w, const float *g, int step, double mult) {
    AdamCoefs c = optim_adam_coefs(&o->spec, o->meta[i].group, step, mult);
    adam_apply(w, o->adam_m + o->state_off[i], o->adam_v + o->state_off[i], g,
               (size_t)o->meta[i].numel, &c);
}

/* ---- Muon ---- */

/* x[r, c] <- its transpose [c, r]. */
static void transpose(float *dst, const float *src, int r, int c) {
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) dst[(size_t)j * r + i] = src[(size_t)i * c + j];
}

/* The recipe's quintic Newton-Schulz on u [rows, cols], into out: work on
 * the wide orientation, scale to unit Frobenius norm (+1e-7), then per
 * iteration A = X X^T, B = b A + (c A) A, X = a X + B X. */
static void newton_schulz(Optim *o, float *out, const float *u, int rows, int cols) {
    const SpecMuon *mu = &o->spec.train.muon;
    bool tall = rows > cols;
    int r = tall ? cols : rows, c = tall ? rows : cols;
    size_t rc = (size_t)r * c;
    if (tall) transpose(o->x, u, rows, cols);
    else memcpy(o->x, u, rc * sizeof(float));
    double norm = 0;
    for (size_t j = 0; j < rc; j++) norm += (double)o->x[j] * o->x[j];
    float scale = (float)(1 / (sqrt(norm) + MUON_NS_EPS));
    for (size_t j = 0; j < rc; j++) o->x[j] *= scale;
    for (int it = 0; it < mu->ns_steps; it++) {
        float a = (float)mu->ns_coef[it][0], b = (float)mu->ns_coef[it][1], cc = (float)mu->ns_coef[it][2];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, r, r, c, 1, o->x, c, o->x, c, 0, o->a, r);
        memcpy(o->b, o->a, (size_t)r * r * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, r, r, cc, o->a, r, o->a, r, b, o->b, r);
        memcpy(o->t, o->x, rc * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, c, r, 1, o->b, r, o->t, c, a, o->x, c);
    }
    if (tall) transpose(out, o->x, r, c);
    else memcpy(out, o->x, rc * sizeof(float));
}

MuonCoefs optim_muon_coefs(const ModelSpec *s, const ParamTensor *p, int step, double mult) {
    const SpecMuon *mu = &s->train.muon;
    int rows, cols, count;
    params_matrix_shape(p, &rows, &cols, &count);
    double lr = mu->lr * mult;
    double wd_mul = p->role == ROLE_QKVO ? mu->attn_wd_mul : mu->mlp_wd_mul;
    return (MuonCoefs){(float)spec_muon_momentum(s, step), (float)(1 - lr * mu->weight_decay * wd_mul),
                       (float)(lr * sqrt(rows > cols ? (double)rows / cols : 1.0))};
}

static void muon_update(Optim *o, int i, float *w, const float *g, int step, double mult) {
    const SpecMuon *mu = &o->spec.train.muon;
    int rows, cols, count;
    params_matrix_shape(&o->meta[i], &rows, &cols, &count);
    size_t rc = (size_t)rows * cols;
    MuonCoefs mc = optim_muon_coefs(&o->spec, &o->meta[i], step, mult);
    float m = mc.momentum, decay = mc.decay, lr_eff = mc.lr_eff;
    float *buf = o->muon_buf + o->state_off[i];
    for (int k = 0; k < count; k++) {
        size_t base = (size_t)k * rc;
        muon_momentum_apply(buf + base, o->u, g + base, rc, m, mu->nesterov);
        newton_schulz(o, o->u, o->u, rows, cols);
        muon_update_apply(w + base, o->u, rc, decay, lr_eff);
    }
}

void optim_step(Optim *o, float *params, const float *grads, int step) {
    double mult = spec_lr_mult(&o->spec, step);
    for (int i = 0; i < o->n; i++) {
        float *w = params + o->off[i];
        const float *g = grads + o->off[i];
        if (o->meta[i].opt == OPT_ADAM) adam_update(o, i, w, g, step, mult);
        else muon_update(o, i, w, g, step, mult);
    }
}
