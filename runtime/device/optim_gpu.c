/*
 * optim_gpu.c: Adam and Muon on the device (see optim_gpu.h). What to
 * launch, in which order, with which kernel, and where the state lives all
 * come from the model build's optimizer plan (compiler/build.h), launched
 * under the build's one launch rule: this file only supplies each launch's
 * arguments.
 */
#include "runtime/device/optim_gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/util/bf16.h"
#include "runtime/ref/muon.h"
#include "runtime/ref/optim.h"

/* Every device array starts on this boundary (in floats: the kernels'
 * 16-byte promise, EMIT_ALIGN_BYTES). */
#define ALIGN_FLOATS (EMIT_ALIGN_BYTES / 4)
#define PLANE_ALIGN 256 /* bytes, between the planes of GpuParams */

struct OptimGpu {
    Gpu *g;
    const ModelBuild *b; /* the tensors, kernels, launches and layout */
    int n;
    size_t hoff[PARAMS_MAX]; /* host state, packed as optim_state's */
    size_t adam_total, muon_total;
    float *adam_m, *adam_v, *muon; /* device state, at the build's state_off */
    float *host[3];                /* optim_gpu_state's arrays */
    void *x, *a, *b2;              /* Newton-Schulz: bf16 X, A, B */
    float *t, *partial, *sumsq;    /* fp32 GEMM results, norm partials, sums */
    DevComm *comm; /* several ranks: Muon's tensors shared out among them */
};

static size_t round_up(size_t v, size_t to) { return (v + to - 1) / to * to; }

static bool is_head_copy(const ParamTensor *t) { return t->bf16_copy; }

/* ---- parameters on the device ---- */

int gpu_params_new(Gpu *g, const ParamTensor *meta, int n, GpuParams *out) {
    memset(out, 0, sizeof *out);
    size_t off[PARAMS_MAX][2], total = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = (size_t)meta[i].numel;
        /* Muon: hi and lo (2 bytes each); Adam: fp32, and the head's bf16. */
        size_t first = meta[i].opt == OPT_MUON ? 2 * numel : 4 * numel;
        off[i][0] = total;
        total = round_up(total + first, PLANE_ALIGN);
        off[i][1] = total;
        if (meta[i].opt == OPT_MUON || is_head_copy(&meta[i])) total = round_up(total + 2 * numel, PLANE_ALIGN);
    }
    char *base = g->alloc(g, total ? total : 1);
    if (!base) return -1;
    out->n = n;
    out->block = base;
    for (int i = 0; i < n; i++) {
        GpuParamTensor *t = &out->t[i];
        if (meta[i].opt == OPT_MUON) {
            t->hi = base + off[i][0];
            t->lo = base + off[i][1];
        } else {
            t->master = (float *)(base + off[i][0]);
            if (is_head_copy(&meta[i])) t->bf16 = base + off[i][1];
        }
    }
    return 0;
}

void gpu_params_free(Gpu *g, GpuParams *p) {
    if (p->block) g->free(g, p->block);
    memset(p, 0, sizeof *p);
}

/* A host staging buffer of `bytes`, or NULL with g->err set. */
static void *stage(Gpu *g, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) gpu_fail(g, "optim_gpu: out of host memory (%zu bytes)", bytes);
    return p;
}

static int upload_tensor(Gpu *g, GpuParamTensor *t, const ParamTensor *m, const float *w) {
    size_t n = (size_t)m->numel;
    if (m->opt == OPT_ADAM && g->copy_to_device(g, t->master, w, n * sizeof(float))) return -1;
    if (m->opt == OPT_ADAM && !t->bf16) return 0;
    uint16_t *a = stage(g, 2 * n * sizeof(uint16_t));
    if (!a) return -1;
    uint16_t *b = a + n;
    for (size_t j = 0; j < n; j++) {
        uint32_t u;
        memcpy(&u, &w[j], sizeof u);
        a[j] = m->opt == OPT_MUON ? (uint16_t)(u >> 16) : f32_to_bf16(w[j]);
        b[j] = (uint16_t)(u & 0xffffu);
    }
    int rc = m->opt == OPT_MUON ? (g->copy_to_device(g, t->hi, a, 2 * n) || g->copy_to_device(g, t->lo, b, 2 * n))
                                : g->copy_to_device(g, t->bf16, a, 2 * n);
    free(a);
    return rc ? -1 : 0;
}

int gpu_params_upload(Gpu *g, GpuParams *p, const ParamTensor *meta, const float *host) {
    size_t off = 0;
    for (int i = 0; i < p->n; i++) {
        if (upload_tensor(g, &p->t[i], &meta[i], host + off)) return -1;
        off += (size_t)meta[i].numel;
    }
    return 0;
}

static int download_tensor(Gpu *g, const GpuParamTensor *t, const ParamTensor *m, float *w) {
    size_t n = (size_t)m->numel;
    if (m->opt == OPT_ADAM) return g->copy_to_host(g, w, t->master, n * sizeof(float));
    uint16_t *hi = stage(g, 2 * n * sizeof(uint16_t));
    if (!hi) return -1;
    uint16_t *lo = hi + n;
    int rc = g->copy_to_host(g, hi, t->hi, 2 * n) || g->copy_to_host(g, lo, t->lo, 2 * n);
    for (size_t j = 0; j < n && !rc; j++) {
        uint32_t u = (uint32_t)hi[j] << 16 | lo[j];
        memcpy(&w[j], &u, sizeof u);
    }
    free(hi);
    return rc ? -1 : 0;
}

int gpu_params_download(Gpu *g, const GpuParams *p, const ParamTensor *meta, float *host) {
    size_t off = 0;
    for (int i = 0; i < p->n; i++) {
        if (download_tensor(g, &p->t[i], &meta[i], host + off)) return -1;
        off += (size_t)meta[i].numel;
    }
    return 0;
}

size_t optim_gpu_layout(const ParamTensor *meta, int n, size_t *offsets) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        offsets[i] = total;
        total = round_up(total + (size_t)meta[i].numel, ALIGN_FLOATS);
    }
    return total;
}

/* ---- the optimizer ---- */

/* Launches kernel r over n elements (or rows) under the build's launch
 * rule (build_blocks, the executor's too). */
static int launch(OptimGpu *o, KernelRef r, long long n, void **args) {
    const EmitInstance *in = &o->b->kernels.inst[r.inst];
    GpuLaunch l = {{(unsigned)build_blocks(in, 0, n), 1, 1}, {(unsigned)in->threads, 1, 1}, 0};
    return o->g->launch(o->g, in->kernels[r.k].name, &l, args);
}

static void *dev_alloc(OptimGpu *o, size_t bytes, int *bad) {
    void *p = o->g->alloc(o->g, bytes ? bytes : 1);
    if (!p) *bad = 1;
    return p;
}

/* The device state and scratch the build laid out, and the host arrays
 * of optim_gpu_state. */
static int setup(OptimGpu *o) {
    const OptimPlan *op = &o->b->optim;
    for (int i = 0; i < o->n; i++) {
        const ParamTensor *m = &o->b->tensors[i];
        size_t *total = m->opt == OPT_MUON ? &o->muon_total : &o->adam_total;
        o->hoff[i] = *total;
        *total += (size_t)m->numel;
    }
    int bad = 0;
    o->adam_m = dev_alloc(o, (size_t)op->adam_state * sizeof(float), &bad);
    o->adam_v = dev_alloc(o, (size_t)op->adam_state * sizeof(float), &bad);
    o->muon = dev_alloc(o, (size_t)op->muon_state * sizeof(float), &bad);
    o->x = dev_alloc(o, (size_t)op->x * 2, &bad);
    o->a = dev_alloc(o, (size_t)op->square * 2, &bad);
    o->b2 = dev_alloc(o, (size_t)op->square * 2, &bad);
    o->t = dev_alloc(o, (size_t)op->x * sizeof(float), &bad);
    o->partial = dev_alloc(o, (size_t)op->partials * sizeof(float), &bad);
    o->sumsq = dev_alloc(o, (size_t)op->count * sizeof(float), &bad);
    size_t counts[3] = {o->adam_total, o->adam_total, o->muon_total};
    for (int j = 0; j < 3 && !bad; j++)
        if (!(o->host[j] = calloc(counts[j] ? counts[j] : 1, sizeof(float))))
            return gpu_fail(o->g, "optim_gpu: out of host memory");
    return bad ? -1 : 0;
}

OptimGpu *optim_gpu_new(Gpu *g, const ModelBuild *b) {
    if (!b->has_plan) {
        gpu_fail(g, "optim_gpu: %s", b->plan_why);
        return NULL;
    }
    OptimGpu *o = calloc(1, sizeof *o);
    if (!o) {
        gpu_fail(g, "optim_gpu: out of host memory");
        return NULL;
    }
    o->g = g;
    o->b = b;
    o->n = b->ntensors;
    if (setup(o)) {
        char why[sizeof g->err];
        memcpy(why, g->err, sizeof why);
        optim_gpu_free(o);
        memcpy(g->err, why, sizeof why);
        return NULL;
    }
    return o;
}

int optim_gpu_use_build(OptimGpu *o, const ModelBuild *nb) {
    const OptimPlan *a = &o->b->optim, *b = &nb->optim;
    if (a->nlaunches != b->nlaunches || memcmp(a->launches, b->launches, sizeof a->launches[0] * (size_t)a->nlaunches) ||
        memcmp(a->state_off, b->state_off, sizeof a->state_off) || a->x != b->x || a->square != b->square ||
        a->partials != b->partials || a->count != b->count)
        return -1;
    o->b = nb;
    return 0;
}

void optim_gpu_free(OptimGpu *o) {
    if (!o) return;
    Gpu *g = o->g;
    void *dev[] = {o->adam_m, o->adam_v, o->muon, o->x, o->a, o->b2, o->t, o->partial, o->sumsq};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) g->free(g, dev[i]);
    for (int j = 0; j < 3; j++) free(o->host[j]);
    free(o);
}

/* ---- one step ---- */

static const ParamTensor *meta(const OptimGpu *o, int i) { return &o->b->tensors[i]; }
static const float *grad(const OptimGpu *o, const float *grads, int i) { return grads + o->b->grad_off[i]; }
static int64_t soff(const OptimGpu *o, int i) { return o->b->optim.state_off[i]; }

static int adam_step(OptimGpu *o, int i, GpuParamTensor *t, const float *grads, int step, double mult) {
    AdamCoefs c = optim_adam_coefs(&o->b->spec, meta(o, i)->group, step, mult);
    float *m = o->adam_m + soff(o, i), *v = o->adam_v + soff(o, i);
    const float *g = grad(o, grads, i);
    long long n = meta(o, i)->numel;
    void *args[] = {&t->master, &m, &v, &g, &n, &c.beta1, &c.beta2, &c.eps, &c.decay, &c.step_size, &c.rbc2};
    return launch(o, o->b->optim.adam, n, args);
}

static int cast(OptimGpu *o, int i, GpuParamTensor *t) {
    long long n = meta(o, i)->numel;
    void *args[] = {&t->bf16, &t->master, &n};
    return launch(o, o->b->optim.cast, n, args);
}

/* out = bf16(a x + b t) over n elements. */
static int combine(OptimGpu *o, void *out, const void *x, const float *t, float a, float b, long long n) {
    void *args[] = {&out, &x, &t, &a, &b, &n};
    return launch(o, o->b->optim.combine, n, args);
}

/* A batched bf16 x bf16 GEMM: C = op(A) op(B), count matrices. */
static GpuGemm batched(int count, int m, int n, int k, int ta, int tb, const void *a, const void *b, void *c,
                       GpuDtype ct) {
    return (GpuGemm){.m = m, .n = n, .k = k, .batch = count, .trans_a = ta, .trans_b = tb,
                     .a_type = GPU_BF16, .b_type = GPU_BF16, .c_type = ct, .a = a, .b = b, .c = c,
                     .lda = ta ? m : k, .ldb = tb ? k : n, .ldc = n,
                     .stride_a = (long long)m * k, .stride_b = (long long)k * n, .stride_c = (long long)m * n,
                     .alpha = 1, .beta = 0};
}

/* The three products of a Newton-Schulz iteration on `count` matrices
 * [rows, cols], A = X X^T, T = A A, T = B X, over the buffers. With r =
 * min(rows, cols) and c the other, the iteration runs on the wide r x c
 * orientation: for a tall matrix that is X^T, reached through the GEMMs'
 * trans flags (A = X^T X, and X = a X + X B^T, which is (a X^T + B
 * X^T)^T). */
static void ns_products(const OptimGpu *o, int count, int rows, int cols, GpuGemm mm[3]) {
    bool tall = rows > cols;
    int r = tall ? cols : rows, c = tall ? rows : cols;
    mm[0] = tall ? batched(count, r, r, c, 1, 0, o->x, o->x, o->a, GPU_BF16)
                 : batched(count, r, r, c, 0, 1, o->x, o->x, o->a, GPU_BF16);
    mm[1] = batched(count, r, r, r, 0, 0, o->a, o->a, o->t, GPU_F32);
    mm[2] = tall ? batched(count, c, r, r, 0, 1, o->x, o->b2, o->t, GPU_F32)
                 : batched(count, r, c, r, 0, 0, o->b2, o->x, o->t, GPU_F32);
}

/* Newton-Schulz iteration `it` of tensor i's matrices, up to (not
 * including) product `upto` (3: the whole iteration, X updated). */
static int ns_iteration(OptimGpu *o, int i, int it, int upto) {
    const SpecMuon *mu = &o->b->spec.train.muon;
    int rows, cols, count;
    params_matrix_shape(meta(o, i), &rows, &cols, &count);
    GpuGemm mm[3];
    ns_products(o, count, rows, cols, mm);
    long long nx = (long long)count * rows * cols, na = (long long)count * mm[1].m * mm[1].m;
    float a = (float)mu->ns_coef[it][0], b = (float)mu->ns_coef[it][1], c = (float)mu->ns_coef[it][2];
    if ((upto > 0 && o->g->gemm(o->g, &mm[0])) || (upto > 1 && o->g->gemm(o->g, &mm[1])) ||
        (upto > 1 && combine(o, o->b2, o->a, o->t, b, c, na)) || (upto > 2 && o->g->gemm(o->g, &mm[2])) ||
        (upto > 2 && combine(o, o->x, o->x, o->t, a, 1.0f, nx)))
        return -1;
    return 0;
}

/* The recipe's quintic iterations on X (normalised). */
static int newton_schulz(OptimGpu *o, int i) {
    for (int it = 0; it < o->b->spec.train.muon.ns_steps; it++)
        if (ns_iteration(o, i, it, 3)) return -1;
    return 0;
}

/* Muon's momentum update of tensor i, which also leaves the Nesterov
 * direction in o->x and its norm's partials in o->partial. */
static int muon_momentum(OptimGpu *o, int i, const float *grads, int step) {
    int rows, cols, count;
    params_matrix_shape(meta(o, i), &rows, &cols, &count);
    MuonCoefs mc = optim_muon_coefs(&o->b->spec, meta(o, i), step, spec_lr_mult(&o->b->spec, step));
    float *buf = o->muon + soff(o, i);
    const float *g = grad(o, grads, i);
    long long per = (long long)rows * cols;
    void *mom[] = {&buf, &o->x, &o->partial, &g, &mc.momentum, &per, &count};
    return launch(o, o->b->optim.momentum, meta(o, i)->numel, mom);
}

/* X / max(||X||, eps) per matrix: the sums of squares' second stage, then
 * the scaling. */
static int muon_normalize(OptimGpu *o, int i) {
    int rows, cols, count;
    params_matrix_shape(meta(o, i), &rows, &cols, &count);
    long long per = (long long)rows * cols, n = meta(o, i)->numel;
    const EmitInstance *mom = &o->b->kernels.inst[o->b->optim.momentum.inst];
    int zero = 0, parts = mom->grid_blocks;
    float unit = 1.0f, eps = (float)MUON_NS_EPS;
    void *sum[] = {&o->sumsq, &zero, &o->partial, &parts, &count, &unit, &zero};
    void *norm[] = {&o->x, &o->sumsq, &eps, &per, &n};
    return launch(o, o->b->optim.colsum, count, sum) || launch(o, o->b->optim.normalize, n, norm) ? -1 : 0;
}

static int muon_update(OptimGpu *o, int i, GpuParamTensor *t, int step, double mult) {
    MuonCoefs mc = optim_muon_coefs(&o->b->spec, meta(o, i), step, mult);
    long long n = meta(o, i)->numel;
    void *args[] = {&t->hi, &t->lo, &o->x, &mc.decay, &mc.lr_eff, &n};
    return launch(o, o->b->optim.update, n, args);
}

int optim_gpu_direction(OptimGpu *o, int i, const float *grads, int step, const void **x) {
    if (i < 0 || i >= o->n || meta(o, i)->opt != OPT_MUON) return gpu_fail(o->g, "optim_gpu: tensor %d is not Muon's", i);
    if (muon_momentum(o, i, grads, step) || muon_normalize(o, i) || newton_schulz(o, i)) return -1;
    *x = o->x;
    return 0;
}

int optim_gpu_ns_gemm(OptimGpu *o, int i, int j, const float *grads, int step, GpuGemm *out) {
    if (i < 0 || i >= o->n || meta(o, i)->opt != OPT_MUON || j < 0 || j > 2) return 1;
    int rows, cols, count;
    params_matrix_shape(meta(o, i), &rows, &cols, &count);
    GpuGemm mm[3];
    ns_products(o, count, rows, cols, mm);
    *out = mm[j];
    if (grads && (muon_momentum(o, i, grads, step) || muon_normalize(o, i) || ns_iteration(o, i, 0, j))) return -1;
    return 0;
}

void optim_gpu_set_comm(OptimGpu *o, DevComm *comm) { o->comm = comm && comm->size > 1 ? comm : NULL; }

/* With several ranks, Muon tensor number k (in params_list order) is
 * updated by rank k % ranks, as the recipe shares out Newton-Schulz; the
 * others only advance its momentum, so that every rank holds the whole
 * state (a checkpoint is rank 0's), then take the owner's new weights. */
static int muon_owner(const OptimGpu *o, int i) {
    int k = 0;
    for (int j = 0; j < i; j++) k += meta(o, j)->opt == OPT_MUON;
    return o->comm ? k % o->comm->size : 0;
}

static int share(OptimGpu *o, int i, GpuParams *p) {
    size_t bytes = (size_t)meta(o, i)->numel * 2;
    int root = muon_owner(o, i);
    if (o->comm->bcast(o->comm, o->g, p->t[i].hi, bytes, root) || o->comm->bcast(o->comm, o->g, p->t[i].lo, bytes, root))
        return gpu_fail(o->g, "sharing Muon's weights over the ranks: %s", o->comm->err);
    return 0;
}

/* One launch of the build's optimizer plan. The steps after the momentum
 * belong to the tensor's owner; the sharing happens only over ranks. */
static int run_launch(OptimGpu *o, const OptimLaunch *l, GpuParams *p, const float *grads, int step, double mult) {
    int i = l->tensor, rank = o->comm ? o->comm->rank : 0;
    bool owner = muon_owner(o, i) == rank;
    switch (l->op) {
    case OL_ADAM: return adam_step(o, i, &p->t[i], grads, step, mult);
    case OL_CAST: return cast(o, i, &p->t[i]);
    case OL_MOMENTUM: return muon_momentum(o, i, grads, step);
    case OL_NORM: return owner ? muon_normalize(o, i) : 0;
    case OL_NEWTON_SCHULZ: return owner ? newton_schulz(o, i) : 0;
    case OL_UPDATE: return owner ? muon_update(o, i, &p->t[i], step, mult) : 0;
    case OL_SHARE: return o->comm ? share(o, i, p) : 0;
    }
    return 0;
}

int optim_gpu_step(OptimGpu *o, GpuParams *p, const float *grads, int step) {
    if (p->n != o->n) return gpu_fail(o->g, "optim_gpu: %d parameter tensors, the optimizer has %d", p->n, o->n);
    double mult = spec_lr_mult(&o->b->spec, step);
    const OptimPlan *op = &o->b->optim;
    for (int k = 0; k < op->nlaunches; k++)
        if (run_launch(o, &op->launches[k], p, grads, step, mult)) return -1;
    if (o->comm && o->comm->wait(o->comm, o->g))
        return gpu_fail(o->g, "sharing Muon's weights over the ranks: %s", o->comm->err);
    return 0;
}

/* ---- state ---- */

static const char *const state_names[3] = {"adam_m", "adam_v", "muon_momentum"};

/* Device array j of the state and whether tensor i has its values there. */
static float *state_dev(OptimGpu *o, int j, int i, bool *has) {
    *has = (meta(o, i)->opt == OPT_MUON) == (j == 2);
    return (j == 0 ? o->adam_m : j == 1 ? o->adam_v : o->muon) + soff(o, i);
}

int optim_gpu_state(OptimGpu *o, CkptArray *out, int max) {
    int n = max < 3 ? max : 3;
    for (int j = 0; j < n; j++) {
        for (int i = 0; i < o->n; i++) {
            bool has;
            float *d = state_dev(o, j, i, &has);
            if (has && o->g->copy_to_host(o->g, o->host[j] + o->hoff[i], d, sizeof(float) * (size_t)meta(o, i)->numel))
                return -1;
        }
        out[j] = (CkptArray){state_names[j], o->host[j], j == 2 ? o->muon_total : o->adam_total};
    }
    return n;
}

int optim_gpu_set_state(OptimGpu *o, const CkptArray *in, int n) {
    for (int k = 0; k < n; k++) {
        int j = 0;
        while (j < 3 && strcmp(in[k].name, state_names[j])) j++;
        size_t want = j == 2 ? o->muon_total : o->adam_total;
        if (j == 3) return gpu_fail(o->g, "optim_gpu: no optimizer state named '%s'", in[k].name);
        if (in[k].count != want)
            return gpu_fail(o->g, "optim_gpu: %s has %zu values, the model needs %zu", in[k].name, in[k].count, want);
        for (int i = 0; i < o->n; i++) {
            bool has;
            float *d = state_dev(o, j, i, &has);
            if (has && o->g->copy_to_device(o->g, d, in[k].data + o->hoff[i], sizeof(float) * (size_t)meta(o, i)->numel))
                return -1;
        }
    }
    return 0;
}
