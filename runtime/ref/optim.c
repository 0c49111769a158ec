/*
 * optim.c: Adam and Muon (see optim.h). Tensors are visited in params_list
 * order, each element in order, so an update is deterministic.
 */
#include "runtime/ref/optim.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Newton-Schulz's working matrices: the wide orientation x and its copy t
 * [r, c], the momentum's matrix u, and the [r, r] products a and b. */
typedef struct {
    float *u, *x, *t, *a, *b;
} NsScratch;

/* One Muon matrix: matrix k of tensor i. */
typedef struct {
    int i, k;
} MuonJob;

struct Optim {
    ModelSpec spec;
    int n;
    ParamTensor meta[PARAMS_MAX];
    size_t off[PARAMS_MAX];
    size_t state_off[PARAMS_MAX]; /* into adam_m/v or muon_buf */
    size_t adam_total, muon_total;
    float *adam_m, *adam_v, *muon_buf;
    NsScratch *ns; /* one per OpenMP thread */
    int nthreads;
    int njobs;
    MuonJob *jobs; /* every Muon matrix, biggest first */
};

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) {
        fputs("gptc: out of memory (optimizer)\n", stderr);
        exit(1);
    }
    return p;
}

static size_t matrix_numel(const ParamTensor *p) {
    int r, c, k;
    params_matrix_shape(p, &r, &c, &k);
    return (size_t)r * c;
}

/* The Muon matrices as independent jobs for the threads, biggest first so
 * that the last ones to start are the quick ones. */
static void muon_jobs(Optim *o) {
    int total = 0, r, c, k;
    for (int i = 0; i < o->n; i++)
        if (o->meta[i].opt == OPT_MUON) params_matrix_shape(&o->meta[i], &r, &c, &k), total += k;
    o->jobs = xcalloc((size_t)total, sizeof(MuonJob));
    for (int i = 0; i < o->n; i++) {
        if (o->meta[i].opt != OPT_MUON) continue;
        params_matrix_shape(&o->meta[i], &r, &c, &k);
        for (int j = 0; j < k; j++) o->jobs[o->njobs++] = (MuonJob){i, j};
    }
    for (int j = 1; j < o->njobs; j++) /* a stable insertion sort: a few dozen jobs */
        for (int at = j; at > 0 && matrix_numel(&o->meta[o->jobs[at].i]) > matrix_numel(&o->meta[o->jobs[at - 1].i]);
             at--) {
            MuonJob swap = o->jobs[at];
            o->jobs[at] = o->jobs[at - 1];
            o->jobs[at - 1] = swap;
        }
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
    o->nthreads = omp_get_max_threads();
    o->ns = xcalloc((size_t)o->nthreads, sizeof(NsScratch));
    for (int t = 0; t < o->nthreads; t++) {
        NsScratch *w = &o->ns[t];
        w->u = xcalloc(biggest, sizeof(float));
        w->x = xcalloc(biggest, sizeof(float));
        w->t = xcalloc(biggest, sizeof(float));
        w->a = xcalloc(square, sizeof(float));
        w->b = xcalloc(square, sizeof(float));
    }
    muon_jobs(o);
    return o;
}

void optim_free(Optim *o) {
    if (!o) return;
    free(o->adam_m);
    free(o->adam_v);
    free(o->muon_buf);
    for (int t = 0; t < o->nthreads; t++) {
        NsScratch *w = &o->ns[t];
        free(w->u), free(w->x), free(w->t), free(w->a), free(w->b);
    }
    free(o->ns);
    free(o->jobs);
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

/* a[n, n] <- its upper triangle, mirrored below the diagonal. */
static void mirror_upper(float *a, int n) {
    for (int i = 1; i < n; i++)
        for (int j = 0; j < i; j++) a[(size_t)i * n + j] = a[(size_t)j * n + i];
}

/* The recipe's quintic Newton-Schulz on u [rows, cols], into out: work on
 * the wide orientation, scale to unit Frobenius norm (+1e-7), then per
 * iteration A = X X^T, B = b A + (c A) A, X = a X + B X. A and B are
 * symmetric (A A = A A^T), so both come from SYRK, which computes one
 * triangle: a quarter of the work less than three GEMMs. */
static void newton_schulz(const SpecMuon *mu, NsScratch *w, float *out, const float *u, int rows, int cols) {
    bool tall = rows > cols;
    int r = tall ? cols : rows, c = tall ? rows : cols;
    size_t rc = (size_t)r * c;
    if (tall) transpose(w->x, u, rows, cols);
    else memcpy(w->x, u, rc * sizeof(float));
    double norm = 0;
    for (size_t j = 0; j < rc; j++) norm += (double)w->x[j] * w->x[j];
    float scale = (float)(1 / (sqrt(norm) + MUON_NS_EPS));
    for (size_t j = 0; j < rc; j++) w->x[j] *= scale;
    for (int it = 0; it < mu->ns_steps; it++) {
        float a = (float)mu->ns_coef[it][0], b = (float)mu->ns_coef[it][1], cc = (float)mu->ns_coef[it][2];
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, r, c, 1, w->x, c, 0, w->a, r);
        mirror_upper(w->a, r);
        memcpy(w->b, w->a, (size_t)r * r * sizeof(float));
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, r, r, cc, w->a, r, b, w->b, r);
        mirror_upper(w->b, r);
        memcpy(w->t, w->x, rc * sizeof(float));
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r, c, r, 1, w->b, r, w->t, c, a, w->x, c);
    }
    if (tall) transpose(out, w->x, r, c);
    else memcpy(out, w->x, rc * sizeof(float));
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

/* Matrix k of tensor i: momentum, Newton-Schulz, update. Touches only that
 * matrix's parameters and momentum, and the thread's own scratch. */
static void muon_update(Optim *o, const MuonJob *job, NsScratch *w, float *params, const float *grads, int step,
                        double mult) {
    const SpecMuon *mu = &o->spec.train.muon;
    const ParamTensor *p = &o->meta[job->i];
    int rows, cols, count;
    params_matrix_shape(p, &rows, &cols, &count);
    size_t rc = (size_t)rows * cols, base = (size_t)job->k * rc;
    MuonCoefs mc = optim_muon_coefs(&o->spec, p, step, mult);
    float *buf = o->muon_buf + o->state_off[job->i] + base;
    muon_momentum_apply(buf, w->u, grads + o->off[job->i] + base, rc, mc.momentum, mu->nesterov);
    newton_schulz(mu, w, w->u, w->u, rows, cols);
    muon_update_apply(params + o->off[job->i] + base, w->u, rc, mc.decay, mc.lr_eff);
}

/* Adam in tensor order; then the Muon matrices, one per thread at a time:
 * Newton-Schulz's products are small, and a whole matrix per thread keeps
 * both cores busy where splitting each product between them would not.
 * Each product runs inside the parallel region, so OpenBLAS keeps it on
 * one thread and its summation order does not depend on the thread
 * count. */
void optim_step(Optim *o, float *params, const float *grads, int step) {
    double mult = spec_lr_mult(&o->spec, step);
    for (int i = 0; i < o->n; i++)
        if (o->meta[i].opt == OPT_ADAM) adam_update(o, i, params + o->off[i], grads + o->off[i], step, mult);
#pragma omp parallel for schedule(dynamic) num_threads(o->nthreads)
    for (int j = 0; j < o->njobs; j++)
        muon_update(o, &o->jobs[j], &o->ns[omp_get_thread_num()], params, grads, step, mult);
}
