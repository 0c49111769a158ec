/*
 * exec.c: the plan executor over a Gpu (see exec.h).
 */
#include "runtime/device/exec.h"

#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/util/strbuf.h"
#include "runtime/util/bf16.h"
#include "runtime/dist/devcomm.h"
#include "runtime/ref/ref.h"            /* ref_rotary_tables: cos/sin bit for bit as ref's */
#include "runtime/data/token_segments.h" /* the embedding gradients' segments of a step's ids */

struct Exec {
    Gpu *g;
    const ModelBuild *b;
    const Plan *plan;
    int max_T, T, step, nseg;
    bool validation;
    char err[512];
    void *arena;
    void *inputs[IN_COUNT];
    void *master[PARAMS_MAX], *hi[PARAMS_MAX], *lo[PARAMS_MAX], *bf16copy[PARAMS_MAX];
    float *grads;
    size_t total;      /* parameters, packed as params_list */
    size_t grad_total; /* the device gradients, each tensor 16-byte aligned (the build's grad_off) */
    size_t host_off[PARAMS_MAX];
    int head; /* the tensor the head's bf16 copy mirrors */
    int *host_i;
    DevComm *comm;          /* several ranks: the gradients are averaged during the backward */
    float comm_scale;
    int grad_last[PARAMS_MAX]; /* the step after which a tensor's gradient is final; -1: none */
    double *profile;        /* per step, ms summed over the runs profiled; NULL: off */
};

static int fail(Exec *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Exec *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->err, sizeof e->err, fmt, ap);
    va_end(ap);
    return -1;
}

const char *exec_error(const Exec *e) { return e->err; }
const Plan *exec_plan(const Exec *e) { return e->plan; }
size_t exec_num_params(const Exec *e) { return e->total; }
float *exec_grads(Exec *e) { return e->grads; }

void *exec_param(Exec *e, int t, ParamPlane plane) {
    if (t < 0 || t >= e->b->ntensors) return NULL;
    switch (plane) {
    case PLANE_MASTER: return e->master[t];
    case PLANE_HI: return e->hi[t];
    case PLANE_BF16COPY: return e->bf16copy[t];
    case PLANE_GRAD: return e->grads + e->b->grad_off[t];
    }
    return NULL;
}

static void *dev_alloc(Exec *e, size_t bytes, bool *ok) {
    void *p = e->g->alloc(e->g, bytes ? bytes : 1);
    if (!p && *ok) {
        fail(e, "%s", e->g->err);
        *ok = false;
    }
    return p;
}

static bool alloc_all(Exec *e) {
    const Plan *p = e->plan;
    const ModelBuild *mb = e->b;
    bool ok = true;
    int64_t T = e->max_T;
    e->arena = dev_alloc(e, (size_t)arena_bytes(mb->arena.arena_per_token, mb->arena.arena_fixed, T), &ok);
    for (int i = 0; i < p->nbufs; i++) {
        const PlanBuf *b = &p->bufs[i];
        if (b->cls == BUF_INPUT)
            e->inputs[b->input] = dev_alloc(e, (size_t)(plan_elems(b, T) * plan_dtype_bytes(b->dtype)), &ok);
    }
    for (int t = 0; t < mb->ntensors; t++) {
        size_t n = (size_t)mb->tensors[t].numel;
        e->host_off[t] = e->total;
        e->total += n;
        e->grad_total = (size_t)mb->grad_total;
        if (mb->tensors[t].opt == OPT_MUON) {
            e->hi[t] = dev_alloc(e, n * 2, &ok);
            e->lo[t] = dev_alloc(e, n * 2, &ok);
        } else {
            e->master[t] = dev_alloc(e, n * 4, &ok);
        }
    }
    e->bf16copy[e->head] = dev_alloc(e, (size_t)mb->tensors[e->head].numel * 2, &ok);
    e->grads = dev_alloc(e, e->grad_total * 4, &ok);
    e->host_i = malloc(sizeof(int) * ((size_t)e->max_T * 4 + 1));
    if (!e->host_i && ok) {
        fail(e, "out of memory");
        ok = false;
    }
    return ok;
}

static bool upload_rotary(Exec *e) {
    const ModelSpec *s = &e->b->spec;
    int half = s->model.head_dim / 2;
    size_t n = (size_t)e->max_T * half;
    float *c = malloc(n * sizeof *c), *sn = malloc(n * sizeof *sn);
    bool ok = c && sn;
    if (!ok) fail(e, "out of memory");
    if (ok) {
        ref_rotary_tables(s, e->max_T, c, sn);
        ok = e->g->copy_to_device(e->g, e->inputs[IN_COS], c, n * 4) == 0 &&
             e->g->copy_to_device(e->g, e->inputs[IN_SIN], sn, n * 4) == 0;
        if (!ok) fail(e, "%s", e->g->err);
    }
    free(c);
    free(sn);
    return ok;
}

Exec *exec_new(const ModelBuild *b, Gpu *g, int max_T, char *err, size_t errlen) {
    if (!b->has_plan) return snprintf(err, errlen, "%s", b->plan_why), NULL;
    Exec *e = calloc(1, sizeof *e);
    if (!e) return snprintf(err, errlen, "out of memory"), NULL;
    e->g = g;
    e->b = b;
    e->plan = &b->plan;
    e->max_T = max_T;
    if (max_T < 1 || max_T % b->plan.block_size) {
        snprintf(err, errlen, "max_T %d is not a positive multiple of the block size %d", max_T, b->plan.block_size);
        exec_free(e);
        return NULL;
    }
    e->head = -1;
    for (int t = 0; t < b->ntensors && e->head < 0; t++)
        if (b->tensors[t].bf16_copy) e->head = t;
    if (!alloc_all(e) || !upload_rotary(e)) {
        snprintf(err, errlen, "%s", e->err);
        exec_free(e);
        return NULL;
    }
    return e;
}

void exec_free(Exec *e) {
    if (!e) return;
    Gpu *g = e->g;
    if (g && e->plan) {
        if (e->arena) g->free(g, e->arena);
        for (int i = 0; i < IN_COUNT; i++)
            if (e->inputs[i]) g->free(g, e->inputs[i]);
        for (int t = 0; t < PARAMS_MAX; t++) {
            void *ps[] = {e->master[t], e->hi[t], e->lo[t], e->bf16copy[t]};
            for (int k = 0; k < 4; k++)
                if (ps[k]) g->free(g, ps[k]);
        }
        if (e->grads) g->free(g, e->grads);
    }
    free(e->host_i);
    free(e->profile);
    free(e);
}

/* ---- parameters ---- */

int exec_upload_params(Exec *e, const float *host) {
    const ModelBuild *b = e->b;
    Gpu *g = e->g;
    int rc = 0;
    for (int t = 0; t < b->ntensors && rc == 0; t++) {
        size_t n = (size_t)b->tensors[t].numel;
        const float *src = host + e->host_off[t];
        if (e->master[t]) rc = g->copy_to_device(g, e->master[t], src, n * 4);
        if ((e->hi[t] || t == e->head) && rc == 0) {
            uint16_t *hi = malloc(n * 2), *lo = malloc(n * 2);
            if (!hi || !lo) rc = fail(e, "out of memory");
            for (size_t i = 0; i < n && rc == 0; i++) {
                uint32_t u;
                memcpy(&u, &src[i], 4);
                hi[i] = (uint16_t)(u >> 16), lo[i] = (uint16_t)u;
            }
            if (rc == 0 && e->hi[t])
                rc = g->copy_to_device(g, e->hi[t], hi, n * 2) || g->copy_to_device(g, e->lo[t], lo, n * 2) ? -1 : 0;
            for (size_t i = 0; i < n && rc == 0 && t == e->head; i++) hi[i] = f32_to_bf16(src[i]);
            if (rc == 0 && t == e->head) rc = g->copy_to_device(g, e->bf16copy[t], hi, n * 2);
            free(hi);
            free(lo);
        }
    }
    return rc ? (e->err[0] ? -1 : fail(e, "%s", g->err)) : 0;
}

int exec_download_params(Exec *e, float *host) {
    const ModelBuild *b = e->b;
    Gpu *g = e->g;
    for (int t = 0; t < b->ntensors; t++) {
        size_t n = (size_t)b->tensors[t].numel;
        float *dst = host + e->host_off[t];
        if (e->master[t]) {
            if (g->copy_to_host(g, dst, e->master[t], n * 4)) return fail(e, "%s", g->err);
            continue;
        }
        uint16_t *hi = malloc(n * 2), *lo = malloc(n * 2);
        int rc = !hi || !lo ? fail(e, "out of memory") : 0;
        if (rc == 0 && (g->copy_to_host(g, hi, e->hi[t], n * 2) || g->copy_to_host(g, lo, e->lo[t], n * 2)))
            rc = fail(e, "%s", g->err);
        for (size_t i = 0; i < n && rc == 0; i++) {
            uint32_t u = (uint32_t)hi[i] << 16 | lo[i];
            memcpy(&dst[i], &u, 4);
        }
        free(hi);
        free(lo);
        if (rc) return rc;
    }
    return 0;
}

int exec_download_grads(Exec *e, float *host) {
    const ModelBuild *b = e->b;
    for (int t = 0; t < b->ntensors; t++)
        if (e->g->copy_to_host(e->g, host + e->host_off[t], e->grads + b->grad_off[t], (size_t)b->tensors[t].numel * 4))
            return fail(e, "%s", e->g->err);
    return 0;
}

int exec_upload_grads(Exec *e, const float *host) {
    const ModelBuild *b = e->b;
    for (int t = 0; t < b->ntensors; t++)
        if (e->g->copy_to_device(e->g, e->grads + b->grad_off[t], host + e->host_off[t],
                                 (size_t)b->tensors[t].numel * 4))
            return fail(e, "%s", e->g->err);
    return 0;
}

int exec_zero_grads(Exec *e) {
    return e->g->memset_zero(e->g, e->grads, e->grad_total * 4) ? fail(e, "%s", e->g->err) : 0;
}

void exec_gpu_params(Exec *e, GpuParams *out) {
    memset(out, 0, sizeof *out);
    out->n = e->b->ntensors;
    for (int t = 0; t < out->n; t++)
        out->t[t] = (GpuParamTensor){e->hi[t], e->lo[t], e->master[t], e->bf16copy[t]};
}

void exec_grad_offsets(const Exec *e, size_t *offsets) {
    for (int t = 0; t < e->b->ntensors; t++) offsets[t] = (size_t)e->b->grad_off[t];
}

/* ---- buffers and arguments ---- */

static char *buf_ptr(Exec *e, const PlanBuf *b, int64_t off_pt, int64_t off) {
    int64_t T = e->T, es = plan_dtype_bytes(b->dtype), elem = off_pt * T + off;
    switch (b->cls) {
    case BUF_ARENA: return (char *)e->arena + b->off_per_token * T + b->off_fixed + elem * es;
    case BUF_INPUT: return (char *)e->inputs[b->input] + elem * es;
    case BUF_PARAM: {
        char *base = exec_param(e, b->tensor, b->plane);
        return base ? base + (b->tensor_off + elem) * es : NULL;
    }
    case BUF_INTERNAL: return NULL;
    }
    return NULL;
}

void *exec_buffer(Exec *e, const char *name) {
    for (int i = 0; i < e->plan->nbufs; i++)
        if (!strcmp(e->plan->bufs[i].name, name)) return buf_ptr(e, &e->plan->bufs[i], 0, 0);
    return NULL;
}

static void *arg_ptr(Exec *e, const PlanArg *a) { return buf_ptr(e, &e->plan->bufs[a->id], a->off_pt, a->off); }

typedef union {
    void *p;
    int i;
    long long ll;
    float f;
} ArgVal;

/* An argument's value, as its parameter's C type; false with a message for
 * a value the step cannot have (a pointer to nothing, no segments). */
static bool arg_value(Exec *e, const PlanStep *st, const PlanArg *a, ArgVal *v) {
    long long n = 0;
    switch (a->kind) {
    case ARG_BUF:
        v->p = arg_ptr(e, a);
        if (!v->p) return fail(e, "step %s: %s has no device memory", st->what, e->plan->bufs[a->id].name), false;
        return true;
    case ARG_NULL: v->p = NULL; return true;
    case ARG_FLOAT: v->f = (float)a->fval; return true;
    case ARG_INV_ROWS: v->f = (float)(1.0 / e->T); return true;
    case ARG_INT: n = a->ival; break;
    case ARG_ROWS: n = (long long)e->T * a->ival; break;
    case ARG_WINDOW: {
        int lw, sw;
        spec_window_blocks(&e->b->spec, e->step, e->validation, &lw, &sw);
        n = e->b->spec.attn.window.long_layer[a->ival] ? lw : sw;
        break;
    }
    case ARG_NSEG: n = e->nseg; break;
    case ARG_DS_SLOTS: {
        int lw, sw, bs = e->b->spec.attn.window.block_size;
        spec_window_blocks(&e->b->spec, e->step, e->validation, &lw, &sw);
        long long need = plan_ds_slots(bs, e->b->spec.attn.window.long_layer[a->id] ? lw : sw, e->T);
        if (a->ival && need > a->ival)
            return fail(e, "step %s: a window of %lld tokens at %d tokens needs %lld stored-dS slots, the plan has %lld "
                           "(sized for the training schedule's widest window)",
                        st->what, need * 16, e->T, need, a->ival),
                   false;
        n = a->ival;
        break;
    }
    }
    if (a->type == PT_LL) v->ll = n;
    else v->i = (int)n;
    return true;
}

/* An integer argument's value, for the grid. */
static long long int_value(const PlanStep *st, const ArgVal *vals, int i) {
    return i < 0 ? 0 : st->args[i].type == PT_LL ? vals[i].ll : vals[i].i;
}

static int run_kernel(Exec *e, const PlanStep *st) {
    ArgVal vals[PLAN_MAX_ARGS];
    void *args[PLAN_MAX_ARGS];
    for (int i = 0; i < st->nargs; i++) {
        if (!arg_value(e, st, &st->args[i], &vals[i])) return -1;
        args[i] = &vals[i];
    }
    const EmitInstance *in = &e->b->kernels.inst[st->kinst];
    long long blocks = build_blocks(in, int_value(st, vals, st->rows_arg), int_value(st, vals, st->n_arg));
    GpuLaunch l = {{(unsigned)blocks, in->grid_y > 0 ? (unsigned)in->grid_y : 1u, 1}, {(unsigned)in->threads, 1, 1},
                   (size_t)in->kernels[st->kidx].smem_bytes};
    if (e->g->launch(e->g, st->kernel, &l, args))
        return fail(e, "step %s: %s", st->what, e->g->err);
    return 0;
}

static GpuDtype gpu_dtype(PlanDtype d) { return d == PD_BF16 ? GPU_BF16 : GPU_F32; }

static int gemm_of(Exec *e, const PlanStep *st, GpuGemm *out) {
    const PlanGemm *m = &st->gemm;
    const PlanArg *a = &st->args[0], *b = &st->args[1], *c = &st->args[2];
    GpuGemm g = {0};
    g.m = (int)plan_dim(m->m, e->T), g.n = (int)plan_dim(m->n, e->T), g.k = (int)plan_dim(m->k, e->T);
    g.batch = 1;
    g.trans_a = m->trans_a, g.trans_b = m->trans_b;
    g.a_type = gpu_dtype(e->plan->bufs[a->id].dtype);
    g.b_type = gpu_dtype(e->plan->bufs[b->id].dtype);
    g.c_type = gpu_dtype(e->plan->bufs[c->id].dtype);
    g.a = arg_ptr(e, a), g.b = arg_ptr(e, b), g.c = arg_ptr(e, c);
    if (st->nargs > 3 && st->args[3].kind == ARG_BUF && !(g.c_in = arg_ptr(e, &st->args[3])))
        return fail(e, "step %s: C has no device memory", st->what);
    g.lda = m->lda, g.ldb = m->ldb, g.ldc = m->ldc;
    g.alpha = m->alpha, g.beta = m->beta;
    if (!g.a || !g.b || !g.c) return fail(e, "step %s: an operand has no device memory", st->what);
    *out = g;
    return 0;
}

static int run_gemm(Exec *e, const PlanStep *st) {
    GpuGemm g;
    if (gemm_of(e, st, &g)) return -1;
    if (e->g->gemm(e->g, &g)) return fail(e, "step %s: %s", st->what, e->g->err);
    return 0;
}

int exec_gemm(Exec *e, int step, GpuGemm *out) {
    if (e->T < 1) return fail(e, "no step prepared (exec_prepare)");
    if (step < 0 || step >= e->plan->nsteps || e->plan->steps[step].kind != STEP_GEMM)
        return fail(e, "step %d is not a GEMM", step);
    return gemm_of(e, &e->plan->steps[step], out);
}

int exec_step_class(Exec *e, int step, char *out, size_t cap) {
    if (e->T < 1) return fail(e, "no step prepared (exec_prepare)");
    if (step < 0 || step >= e->plan->nsteps) return fail(e, "no step %d", step);
    const PlanStep *st = &e->plan->steps[step];
    StrBuf k = {0};
    if (st->kind == STEP_GEMM) {
        GpuGemm g;
        char key[64];
        if (gemm_of(e, st, &g)) return -1;
        gpu_gemm_key(&g, key, sizeof key);
        sb_printf(&k, "gemm %s%s", key, g.c_in ? " c_in" : "");
    } else if (st->kind == STEP_KERNEL) {
        sb_puts(&k, st->kernel);
        for (int i = 0; i < st->nargs; i++) {
            const PlanArg *a = &st->args[i];
            ArgVal v;
            if (a->kind == ARG_BUF || a->kind == ARG_NULL) {
                sb_puts(&k, a->kind == ARG_BUF ? " p" : " 0");
                continue;
            }
            if (!arg_value(e, st, a, &v)) return sb_free(&k), -1;
            if (a->kind == ARG_FLOAT || a->kind == ARG_INV_ROWS) sb_printf(&k, " %a", (double)v.f);
            else sb_printf(&k, " %lld", a->type == PT_LL ? v.ll : (long long)v.i);
        }
    } else {
        sb_printf(&k, "%s %lld", st->kind == STEP_COPY ? "copy" : "zero", (long long)plan_dim(st->bytes, e->T));
    }
    snprintf(out, cap, "%s", k.data ? k.data : "");
    sb_free(&k);
    return 0;
}

static int run_step(Exec *e, const PlanStep *st) {
    size_t bytes = (size_t)plan_dim(st->bytes, e->T);
    switch (st->kind) {
    case STEP_KERNEL: return run_kernel(e, st);
    case STEP_GEMM: return run_gemm(e, st);
    case STEP_COPY:
        if (e->g->copy_device(e->g, arg_ptr(e, &st->args[0]), arg_ptr(e, &st->args[1]), bytes))
            return fail(e, "step %s: %s", st->what, e->g->err);
        return 0;
    case STEP_ZERO:
        if (e->g->memset_zero(e->g, arg_ptr(e, &st->args[0]), bytes))
            return fail(e, "step %s: %s", st->what, e->g->err);
        return 0;
    }
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* A profiled step waits for the device before and after, so that its time
 * is its own. */
static int run_profiled(Exec *e, int i) {
    if (e->g->sync(e->g)) return fail(e, "%s", e->g->err);
    double t0 = now_ms();
    if (run_step(e, &e->plan->steps[i])) return -1;
    if (e->g->sync(e->g)) return fail(e, "step %s: %s", e->plan->steps[i].what, e->g->err);
    e->profile[i] += now_ms() - t0;
    return 0;
}

int exec_run(Exec *e, int from, int to) {
    const Plan *p = e->plan;
    if (e->T < 1) return fail(e, "no step prepared (exec_prepare)");
    for (int i = from; i < to && i < p->nsteps; i++)
        if (e->profile ? run_profiled(e, i) : run_step(e, &p->steps[i])) return -1;
    return 0;
}

int exec_set_profile(Exec *e, bool on) {
    free(e->profile);
    e->profile = NULL;
    if (on && !(e->profile = calloc((size_t)e->plan->nsteps, sizeof *e->profile))) return fail(e, "out of memory");
    return 0;
}

const double *exec_profile(const Exec *e) { return e->profile; }

int exec_use_build(Exec *e, const ModelBuild *nb) {
    const ModelBuild *b = e->b;
    const Plan *p = &b->plan, *q = &nb->plan;
    bool same = nb->has_plan && q->nsteps == p->nsteps && q->nbufs == p->nbufs && q->nforward == p->nforward &&
                nb->ntensors == b->ntensors && nb->grad_total == b->grad_total &&
                !memcmp(&nb->arena, &b->arena, sizeof b->arena) &&
                !memcmp(nb->grad_off, b->grad_off, sizeof b->grad_off[0] * (size_t)b->ntensors);
    for (int i = 0; same && i < p->nbufs; i++)
        same = p->bufs[i].per_token == q->bufs[i].per_token && p->bufs[i].fixed == q->bufs[i].fixed &&
               p->bufs[i].off_per_token == q->bufs[i].off_per_token && p->bufs[i].off_fixed == q->bufs[i].off_fixed;
    if (!same) return fail(e, "another build's buffers: not a variant of this one");
    e->b = nb;
    e->plan = q;
    return 0;
}

/* ---- gradients over the ranks ---- */

/* The gradient views of the backward pass tell when each tensor's
 * gradient is complete: after the last step that touches it. */
static void find_grad_last(Exec *e) {
    const Plan *p = e->plan;
    for (int t = 0; t < e->b->ntensors; t++) e->grad_last[t] = -1;
    for (int i = p->nforward; i < p->nsteps; i++)
        for (int a = 0; a < p->steps[i].nargs; a++) {
            const PlanArg *arg = &p->steps[i].args[a];
            if (arg->kind != ARG_BUF) continue;
            const PlanBuf *b = &p->bufs[arg->id];
            if (b->cls == BUF_PARAM && b->plane == PLANE_GRAD) e->grad_last[b->tensor] = i;
        }
}

void exec_set_comm(Exec *e, DevComm *comm, float scale) {
    e->comm = comm;
    e->comm_scale = scale;
    if (comm) find_grad_last(e);
}

/* Averages the gradients completed by step `step` (-1: those no step
 * touches) while the backward pass goes on, neighbours in one call. */
static int average_done(Exec *e, int step) {
    const ModelBuild *b = e->b;
    for (int t = 0; t < b->ntensors; t++) {
        if (e->grad_last[t] != step) continue;
        int u = t;
        while (u + 1 < b->ntensors && e->grad_last[u + 1] == step) u++;
        size_t from = (size_t)b->grad_off[t], to = (size_t)(b->grad_off[u] + b->tensors[u].numel);
        if (e->comm->sum_f32(e->comm, e->g, e->grads + from, to - from, e->comm_scale))
            return fail(e, "averaging the gradients over the ranks: %s", e->comm->err);
        t = u;
    }
    return 0;
}

/* ---- a step ---- */

static int upload(Exec *e, PlanInput in, const int *src, size_t n) {
    return e->g->copy_to_device(e->g, e->inputs[in], src, n * sizeof(int)) ? fail(e, "%s", e->g->err) : 0;
}

int exec_prepare(Exec *e, const int *ids, const int *targets, int T, int step, bool validation) {
    const ModelSpec *s = &e->b->spec;
    if (T < 1 || T > e->max_T || T % s->attn.window.block_size)
        return fail(e, "%d tokens: not a positive multiple of %d up to %d", T, s->attn.window.block_size, e->max_T);
    e->T = T, e->step = step, e->validation = validation;
    int *doc = e->host_i, start = 0;
    /* As the ref executor: a token's document starts at the last EOT at
     * or before it. */
    for (int t = 0; t < T; t++) {
        if (ids[t] == s->vocab.eot) start = t;
        doc[t] = start;
    }
    if (upload(e, IN_IDS, ids, (size_t)T) || upload(e, IN_TARGETS, targets, (size_t)T) ||
        upload(e, IN_DOC_START, doc, (size_t)T))
        return -1;
    int *order = e->host_i, *seg_start = order + T, *seg_token = seg_start + T + 1;
    e->nseg = token_segments(ids, T, s->vocab.size, order, seg_start, seg_token);
    if (upload(e, IN_SEG_ORDER, order, (size_t)T) || upload(e, IN_SEG_START, seg_start, (size_t)e->nseg + 1) ||
        upload(e, IN_SEG_TOKEN, seg_token, (size_t)e->nseg))
        return -1;
    return 0;
}

int exec_forward(Exec *e, const int *ids, const int *targets, int T, int step, bool validation, double *loss) {
    if (exec_prepare(e, ids, targets, T, step, validation) || exec_run(e, 0, e->plan->nforward)) return -1;
    float l;
    const PlanBuf *b = &e->plan->bufs[e->plan->loss_buf];
    if (e->g->copy_to_host(e->g, &l, buf_ptr(e, b, 0, 0), sizeof l)) return fail(e, "%s", e->g->err);
    *loss = l;
    return 0;
}

/* The RMS of n bf16 values at device address p, read in pieces. */
static int rms_bf16(Exec *e, const void *p, size_t n, double *out) {
    enum { CHUNK = 1 << 16 };
    static uint16_t host[CHUNK];
    double ss = 0;
    for (size_t i = 0; i < n; i += CHUNK) {
        size_t m = n - i < CHUNK ? n - i : CHUNK;
        if (e->g->copy_to_host(e->g, host, (const uint16_t *)p + i, m * sizeof *host)) return fail(e, "%s", e->g->err);
        for (size_t j = 0; j < m; j++) ss += (double)bf16_to_f32(host[j]) * bf16_to_f32(host[j]);
    }
    *out = n ? sqrt(ss / (double)n) : 0;
    return 0;
}

int exec_norms(Exec *e, double *x_rms, double *x0_rms) {
    const ModelSpec *s = &e->b->spec;
    size_t TD = (size_t)e->T * s->model.dim;
    for (int i = 0; i < s->model.layers; i++)
        if (rms_bf16(e, buf_ptr(e, &e->plan->bufs[e->plan->xs_buf[i]], 0, 0), TD, &x_rms[i])) return -1;
    const char *x0 = buf_ptr(e, &e->plan->bufs[e->plan->x0_buf], 0, 0);
    for (int k = 0; k < s->x0.tables; k++)
        if (rms_bf16(e, x0 + (size_t)k * TD * 2, TD, &x0_rms[k])) return -1;
    return 0;
}

int exec_backward(Exec *e) {
    const Plan *p = e->plan;
    if (exec_zero_grads(e)) return -1;
    if (!e->comm) return exec_run(e, p->nforward, p->nsteps);
    for (int i = p->nforward; i < p->nsteps; i++)
        if (exec_run(e, i, i + 1) || average_done(e, i)) return -1;
    if (average_done(e, -1)) return -1;
    if (e->comm->wait(e->comm, e->g)) return fail(e, "averaging the gradients over the ranks: %s", e->comm->err);
    return 0;
}
