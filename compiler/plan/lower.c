/*
 * lower.c: a ModelSpec's training step as a plan (see lower.h).
 *
 * The walk is runtime/ref/model.c's, op for op; each group of ops one
 * kernel computes is one step, with its arguments bound by the kernel's
 * parameter names. Where the plan's order or grouping differs from the ref
 * code, the math is the same (rounding aside):
 *  - softcap_ce computes the loss gradient during the forward pass (one
 *    pass over the logits, written in place over them);
 *  - a U-net skip's gradient is applied when the backward pass reaches the
 *    source layer: skip_bwd adds w * d xs(target) into d out(source) and
 *    reduces dot(d xs(target), out(source)) for d w, where the ref code
 *    keeps a d skip buffer and adds it on arrival. d xs(target) stays
 *    stored until then;
 *  - d x00 = dx0[0] + d(layer 0 input) is never formed: the x00 table's
 *    rmsnorm backward runs twice, the second with accumulate (the norm's
 *    backward is linear in dy);
 *  - residual adds are GEMMs with beta = 1 into the residual's buffer
 *    (after a copy where the left side is still needed).
 * Weight gradients are GEMMs writing fp32 (beta 0: each block matrix gets
 * one contribution; the tied head's table then gets embed_bwd's sum).
 */
#include "compiler/plan/lower.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan/bind.h"
#include "compiler/build.h"

typedef struct {
    Plan *p;
    ModelBuild *b;
    const ModelSpec *s;
    bool ok;
    char *err;
    size_t errlen;
    bool backward;
    int layer;
    int in[IN_COUNT];
    int t_head, t_scalars, t_x0[SPEC_MAX_TABLES], t_ve[SPEC_MAX_TABLES];
    int t_qkvo[SPEC_MAX_LAYERS], t_fc[SPEC_MAX_LAYERS], t_proj[SPEC_MAX_LAYERS];
    int parts; /* partial rows of the two-stage reductions (x0_lambda_grad's PARTS) */
    /* forward buffers the backward pass reads */
    int x0, x0_rstd, ve[SPEC_MAX_TABLES];
    int xs[SPEC_MAX_LAYERS], xm[SPEC_MAX_LAYERS], out[SPEC_MAX_LAYERS];
    int hn[SPEC_MAX_LAYERS], rstd_h[SPEC_MAX_LAYERS], qkv[SPEC_MAX_LAYERS], qkv_rstd[SPEC_MAX_LAYERS];
    int q[SPEC_MAX_LAYERS], k[SPEC_MAX_LAYERS], v[SPEC_MAX_LAYERS], y[SPEC_MAX_LAYERS], lse[SPEC_MAX_LAYERS];
    int n2[SPEC_MAX_LAYERS], rstd2[SPEC_MAX_LAYERS], pre[SPEC_MAX_LAYERS], act[SPEC_MAX_LAYERS];
    int xf, rstdf, logits, row_loss;
    /* backward */
    int dx0, dve[SPEC_MAX_TABLES], dxs[SPEC_MAX_LAYERS];
} Lower;

static void fail(Lower *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(Lower *L, const char *fmt, ...) {
    if (!L->ok) return;
    L->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->errlen, fmt, ap);
    va_end(ap);
}

/* ---- buffers ---- */

static int new_buf(Lower *L, BufClass cls, PlanDtype dt, int64_t pt, int64_t fixed, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int new_buf(Lower *L, BufClass cls, PlanDtype dt, int64_t pt, int64_t fixed, const char *fmt, ...) {
    Plan *p = L->p;
    if (p->nbufs == PLAN_MAX_BUFS) {
        fail(L, "more than %d buffers", PLAN_MAX_BUFS);
        return 0;
    }
    PlanBuf *b = &p->bufs[p->nbufs];
    memset(b, 0, sizeof *b);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->name, sizeof b->name, fmt, ap);
    va_end(ap);
    b->cls = cls, b->dtype = dt, b->per_token = pt, b->fixed = fixed;
    b->tensor = -1;
    b->first = b->last = -1;
    return p->nbufs++;
}

/* An activation of `pt` elements per token, named "L<layer>.<name>" inside
 * a block. */
static int act(Lower *L, PlanDtype dt, int64_t pt, int64_t fixed, const char *name) {
    if (L->layer >= 0) return new_buf(L, BUF_ARENA, dt, pt, fixed, "L%d.%s", L->layer, name);
    return new_buf(L, BUF_ARENA, dt, pt, fixed, "%s", name);
}

static int internal(Lower *L, PlanDtype dt, int64_t pt, const char *name) {
    if (L->layer >= 0) return new_buf(L, BUF_INTERNAL, dt, pt, 0, "L%d.%s", L->layer, name);
    return new_buf(L, BUF_INTERNAL, dt, pt, 0, "%s", name);
}

/* A view of `n` elements of tensor t from element `off`, one entry per
 * distinct view. */
static int param(Lower *L, int t, ParamPlane plane, int64_t off, int64_t n) {
    static const char *const planes[] = {"fp32", "hi", "bf16", "grad"};
    Plan *p = L->p;
    for (int i = 0; i < p->nbufs; i++) {
        const PlanBuf *b = &p->bufs[i];
        if (b->cls == BUF_PARAM && b->tensor == t && b->plane == plane && b->tensor_off == off && b->fixed == n)
            return i;
    }
    PlanDtype dt = plane == PLANE_HI || plane == PLANE_BF16COPY ? PD_BF16 : PD_F32;
    const ParamTensor *pt = &L->b->tensors[t];
    int id = off || n != pt->numel ? new_buf(L, BUF_PARAM, dt, 0, n, "%s.%s[%lld:]", pt->name, planes[plane], (long long)off)
                                   : new_buf(L, BUF_PARAM, dt, 0, n, "%s.%s", pt->name, planes[plane]);
    p->bufs[id].tensor = t, p->bufs[id].plane = plane, p->bufs[id].tensor_off = off;
    return id;
}

static int whole(Lower *L, int t, ParamPlane plane) { return param(L, t, plane, 0, L->b->tensors[t].numel); }

/* ---- steps ---- */

static PlanStep *new_step(Lower *L, StepKind kind, const char *what) {
    Plan *p = L->p;
    if (p->nsteps == PLAN_MAX_STEPS) {
        fail(L, "more than %d steps", PLAN_MAX_STEPS);
        p->nsteps--;
    }
    PlanStep *st = &p->steps[p->nsteps++];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    st->layer = L->layer;
    st->backward = L->backward;
    if (L->layer >= 0) snprintf(st->what, sizeof st->what, "L%d %s", L->layer, what);
    else snprintf(st->what, sizeof st->what, "%s", what);
    return st;
}

static PlanStep *kernel(Lower *L, const char *stem, int width, const char *what) {
    PlanStep *st = new_step(L, STEP_KERNEL, what);
    if (!bind_kernel(&L->b->kernels, stem, width, st)) fail(L, "no kernel %s (width %d) for this model", stem, width);
    return st;
}

static PlanArg *arg(PlanStep *st, const char *name, ArgKind kind) {
    PlanArg *a = &st->args[st->nargs < PLAN_MAX_ARGS ? st->nargs++ : PLAN_MAX_ARGS - 1];
    memset(a, 0, sizeof *a);
    a->name = name, a->kind = kind;
    return a;
}

static void bind_at(PlanStep *st, const char *name, int buf, int64_t off_pt, int64_t off) {
    PlanArg *a = arg(st, name, ARG_BUF);
    a->id = buf, a->off_pt = off_pt, a->off = off;
}

static void bind(PlanStep *st, const char *name, int buf) { bind_at(st, name, buf, 0, 0); }

/* A buffer, or NULL when buf < 0 (an absent optional tensor). */
static void bind_opt(PlanStep *st, const char *name, int buf) {
    if (buf >= 0) bind(st, name, buf);
    else arg(st, name, ARG_NULL);
}

static void bind_int(PlanStep *st, const char *name, long long v) { arg(st, name, ARG_INT)->ival = v; }
static void bind_float(PlanStep *st, const char *name, double v) { arg(st, name, ARG_FLOAT)->fval = v; }
static void bind_rows(PlanStep *st, const char *name, long long mult) { arg(st, name, ARG_ROWS)->ival = mult; }

/* ---- elementary ops ---- */

/* A step's ops follow each other in the plan's ops: they are added while
 * the step is the last one. */
static PlanOp *op(Lower *L, PlanStep *st, const char *kind) {
    Plan *p = L->p;
    if (st != &p->steps[p->nsteps - 1]) fail(L, "step %s: an op added after the next step", st->what);
    if (st->nops == PLAN_MAX_OPS) {
        fail(L, "step %s: more than %d ops", st->what, PLAN_MAX_OPS);
        st->nops--, p->nops--;
    }
    if (!st->nops) st->first_op = p->nops;
    st->nops++;
    PlanOp *o = &p->ops[p->nops++];
    memset(o, 0, sizeof *o);
    o->kind = kind;
    return o;
}

static OpRef ref(const Lower *L, int buf) {
    const PlanBuf *b = &L->p->bufs[buf];
    return (OpRef){buf, b->per_token, b->fixed};
}

static OpRef part(int buf, int64_t pt, int64_t fixed) { return (OpRef){buf, pt, fixed}; }

static void in(PlanOp *o, OpRef r) {
    if (o->nin < PLAN_MAX_REFS) o->in[o->nin++] = r;
}
static void out(PlanOp *o, OpRef r) {
    if (o->nout < PLAN_MAX_REFS) o->out[o->nout++] = r;
}

/* ---- the building blocks ---- */

/* C (+)= op(A) op(B) over parts of buffers; a, b, c with element offsets
 * (per token and fixed). */
typedef struct {
    int buf;
    int64_t off_pt, off;
    long long ld;
} Mat;

/* c = A B + beta c_in, c_in (a buffer laid out as c) or, when -1, c
 * itself. */
static void gemm_into(Lower *L, const char *what, Mat a, Mat b, Mat c, int c_in, PlanDim m, PlanDim n, PlanDim k,
                      int ta, int tb, float beta) {
    PlanStep *st = new_step(L, STEP_GEMM, what);
    st->gemm = (PlanGemm){m, n, k, ta, tb, a.ld, b.ld, c.ld, 1.0f, beta};
    bind_at(st, "a", a.buf, a.off_pt, a.off);
    bind_at(st, "b", b.buf, b.off_pt, b.off);
    bind_at(st, "c", c.buf, c.off_pt, c.off);
    if (c_in >= 0) bind_at(st, "c_in", c_in, c.off_pt, c.off);
    else arg(st, "c_in", ARG_NULL);
    /* Traffic per token: each operand's elements as a size rule. */
    PlanDim mk = {m.per_token * k.fixed + k.per_token * m.fixed, m.fixed * k.fixed};
    PlanDim kn = {k.per_token * n.fixed + n.per_token * k.fixed, k.fixed * n.fixed};
    PlanDim mn = {m.per_token * n.fixed + n.per_token * m.fixed, m.fixed * n.fixed};
    PlanOp *o = op(L, st, "matmul");
    in(o, part(a.buf, mk.per_token, mk.fixed));
    in(o, part(b.buf, kn.per_token, kn.fixed));
    if (beta != 0) in(o, part(c_in >= 0 ? c_in : c.buf, mn.per_token, mn.fixed));
    out(o, part(c.buf, mn.per_token, mn.fixed));
}

static void gemm(Lower *L, const char *what, Mat a, Mat b, Mat c, PlanDim m, PlanDim n, PlanDim k, int ta,
                 int tb, float beta) {
    gemm_into(L, what, a, b, c, -1, m, n, k, ta, tb, beta);
}

static const PlanDim TOK = {1, 0};
static PlanDim fixed_dim(int64_t n) { return (PlanDim){0, n}; }

/* y[T, out] (+)= x[T, in] W^T with W [out, in] stored at a bf16 view. */
static void linear_fwd(Lower *L, const char *what, int y, int x, int W, int in_w, int out_w, float beta) {
    gemm(L, what, (Mat){x, 0, 0, in_w}, (Mat){W, 0, 0, in_w}, (Mat){y, 0, 0, out_w}, TOK, fixed_dim(out_w),
         fixed_dim(in_w), 0, 1, beta);
}

/* dW[out, in] = dy^T x (fp32 gradient view). */
static void linear_dw(Lower *L, const char *what, int dW, int dy, int x, int in_w, int out_w, float beta) {
    gemm(L, what, (Mat){dy, 0, 0, out_w}, (Mat){x, 0, 0, in_w}, (Mat){dW, 0, 0, in_w}, fixed_dim(out_w),
         fixed_dim(in_w), TOK, 1, 0, beta);
}

/* dx[T, in] (+)= dy W. */
static void linear_dx(Lower *L, const char *what, int dx, int dy, int W, int in_w, int out_w, float beta) {
    gemm(L, what, (Mat){dy, 0, 0, out_w}, (Mat){W, 0, 0, in_w}, (Mat){dx, 0, 0, in_w}, TOK, fixed_dim(in_w),
         fixed_dim(out_w), 0, 0, beta);
}

static void copy(Lower *L, const char *what, int dst, int src) {
    PlanStep *st = new_step(L, STEP_COPY, what);
    bind(st, "dst", dst);
    bind(st, "src", src);
    const PlanBuf *b = &L->p->bufs[src];
    int es = plan_dtype_bytes(b->dtype);
    st->bytes = (PlanDim){b->per_token * es, b->fixed * es};
    PlanOp *o = op(L, st, "copy");
    in(o, ref(L, src));
    out(o, ref(L, dst));
}

static void zero(Lower *L, const char *what, int dst) {
    PlanStep *st = new_step(L, STEP_ZERO, what);
    bind(st, "dst", dst);
    const PlanBuf *b = &L->p->bufs[dst];
    int es = plan_dtype_bytes(b->dtype);
    st->bytes = (PlanDim){b->per_token * es, b->fixed * es};
    out(op(L, st, "zero"), ref(L, dst));
}

static void rmsnorm_fwd(Lower *L, const char *what, int y, int rstd, int x) {
    int D = L->s->model.dim;
    PlanStep *st = kernel(L, "rmsnorm_fwd", D, what);
    bind(st, "y", y);
    bind(st, "rstd", rstd);
    bind(st, "x", x);
    bind_rows(st, "rows", 1);
    PlanOp *o = op(L, st, "rmsnorm");
    in(o, ref(L, x));
    out(o, ref(L, y));
    out(o, ref(L, rstd));
}

static void rmsnorm_bwd(Lower *L, const char *what, int dx, int dy, int y, int rstd, int accumulate) {
    int D = L->s->model.dim;
    PlanStep *st = kernel(L, "rmsnorm_bwd", D, what);
    bind(st, "dx", dx);
    bind(st, "dy", dy);
    bind(st, "y", y);
    bind(st, "rstd", rstd);
    bind_int(st, "accumulate", accumulate);
    bind_rows(st, "rows", 1);
    PlanOp *o = op(L, st, "rmsnorm_bwd");
    in(o, ref(L, dy));
    in(o, ref(L, y));
    in(o, ref(L, rstd));
    if (accumulate) in(o, ref(L, dx));
    out(o, ref(L, dx));
}

/* out[col_off ..] (+)= column sums of a [parts, cols] partial. */
static void colsum(Lower *L, const char *what, int outb, int out_off, int partial, int n, int cols, bool mean) {
    PlanStep *st = kernel(L, "colsum", 0, what);
    bind(st, "out", outb);
    bind_int(st, "out_off", out_off);
    bind(st, "in", partial);
    if (mean) {
        bind_rows(st, "n", 1);
        arg(st, "scale", ARG_INV_ROWS);
        bind_int(st, "accumulate", 0);
    } else {
        bind_int(st, "n", n);
        bind_float(st, "scale", 1.0);
        bind_int(st, "accumulate", 1);
    }
    bind_int(st, "cols", cols);
    PlanOp *o = op(L, st, "sum");
    in(o, ref(L, partial));
    out(o, part(outb, 0, cols));
}

static int scalars(Lower *L) { return whole(L, L->t_scalars, PLANE_MASTER); }
static int dscalars(Lower *L) { return whole(L, L->t_scalars, PLANE_GRAD); }

/* ---- forward ---- */

static void embed_forward(Lower *L) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, K = s->x0.tables;
    L->x0 = act(L, PD_BF16, (int64_t)K * D, 0, "x0");
    L->p->x0_buf = L->x0;
    L->x0_rstd = act(L, PD_F32, K, 0, "x0.rstd");
    for (int k = 0; k < K; k++) {
        PlanStep *st = kernel(L, "embed_fwd", 0, "embed x0");
        bind_at(st, "y", L->x0, (int64_t)k * D, 0);
        bind_at(st, "rstd", L->x0_rstd, k, 0);
        bind(st, "table", whole(L, L->t_x0[k], PLANE_MASTER));
        bind(st, "ids", L->in[IN_IDS]);
        bind_int(st, "norm", 1);
        bind_rows(st, "rows", 1);
        char raw_name[24];
        snprintf(raw_name, sizeof raw_name, "x0.raw%d", k);
        int raw = internal(L, PD_F32, D, raw_name);
        PlanOp *o = op(L, st, "gather");
        in(o, part(whole(L, L->t_x0[k], PLANE_MASTER), D, 0));
        in(o, ref(L, L->in[IN_IDS]));
        out(o, ref(L, raw));
        o = op(L, st, "rmsnorm");
        in(o, ref(L, raw));
        out(o, part(L->x0, D, 0));
        out(o, part(L->x0_rstd, 1, 0));
    }
    for (int k = 0; k < s->ve.tables; k++) {
        char name[24];
        snprintf(name, sizeof name, "ve%d", k);
        L->ve[k] = act(L, PD_BF16, D, 0, name);
        PlanStep *st = kernel(L, "embed_fwd", 0, "embed ve");
        bind(st, "y", L->ve[k]);
        arg(st, "rstd", ARG_NULL);
        bind(st, "table", whole(L, L->t_ve[k], PLANE_MASTER));
        bind(st, "ids", L->in[IN_IDS]);
        bind_int(st, "norm", 0);
        bind_rows(st, "rows", 1);
        PlanOp *o = op(L, st, "gather");
        in(o, part(whole(L, L->t_ve[k], PLANE_MASTER), D, 0));
        in(o, ref(L, L->in[IN_IDS]));
        out(o, ref(L, L->ve[k]));
    }
}

/* The skip feeding layer i (-1 for none); lower_plan allows one per layer. */
static int skip_into(const ModelSpec *s, int i) {
    for (int j = 0; j < s->skips.count; j++)
        if (s->skips.to[j] == i) return j;
    return -1;
}

static void mix_op(Lower *L, PlanStep *st, int xm, int xs) {
    PlanOp *o = op(L, st, "x0_mix");
    in(o, xs == L->x0 ? part(xs, L->s->model.dim, 0) : ref(L, xs)); /* layer 0: x00 */
    in(o, ref(L, L->x0));
    in(o, ref(L, scalars(L)));
    out(o, ref(L, xm));
}

/* xs (after the skip) and xm (after the x0 mix) of layer i. Without a skip,
 * xs is the layer's input itself. */
static void mix_forward(Lower *L, int i, int x_in) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, j = skip_into(s, i);
    /* Without attention, the MLP's residual add overwrites xm in place: the
     * backward pass never reads it (only an attention block's weight
     * gradient does). */
    bool keep = s->model.attention[i];
    L->xm[i] = act(L, PD_BF16, D, 0, keep ? "xm" : "xm=out");
    PlanStep *st;
    if (j >= 0) {
        int from = s->skips.from[j];
        L->xs[i] = act(L, PD_BF16, D, 0, "xs");
        st = kernel(L, "x0_skip_fwd", 0, "skip + x0 mix");
        bind(st, "xs", L->xs[i]);
        bind(st, "xm", L->xm[i]);
        bind(st, "x", x_in);
        bind(st, "src", L->out[from]);
        bind_int(st, "skip_off", spec_skip_index(s, from));
        PlanOp *o = op(L, st, "axpy");
        in(o, ref(L, x_in));
        in(o, ref(L, L->out[from]));
        in(o, ref(L, scalars(L)));
        out(o, ref(L, L->xs[i]));
    } else {
        L->xs[i] = x_in;
        st = kernel(L, "x0_mix_fwd", 0, "x0 mix");
        bind(st, "xm", L->xm[i]);
        bind(st, "xs", x_in);
    }
    bind(st, "x0", L->x0);
    bind_rows(st, "table_stride", D);
    bind(st, "scalars", scalars(L));
    bind_int(st, "lambda_off", spec_lambda_index(s, i, 0));
    bind_rows(st, "rows", 1);
    mix_op(L, st, L->xm[i], L->xs[i]);
    L->p->xs_buf[i] = L->xs[i];
}

static void qkv_ops(Lower *L, PlanStep *st, int i, int qkv, int rstd, int ve) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, H = s->model.heads;
    const char *names[3] = {"q", "k", "v"};
    int outs[3] = {L->q[i], L->k[i], L->v[i]};
    for (int c = 0; c < 3; c++) {
        bool norm = c < 2 || s->attn.norm == ATTN_NORM_QKV;
        int normed = qkv;
        if (norm) {
            char nm[8];
            snprintf(nm, sizeof nm, "%sn", names[c]);
            normed = internal(L, PD_BF16, D, nm);
            PlanOp *o = op(L, st, "rmsnorm_heads");
            in(o, part(qkv, D, 0));
            out(o, ref(L, normed));
            out(o, part(rstd, H, 0));
        }
        PlanOp *o = op(L, st, c < 2 ? "rotary" : "v_mix");
        in(o, part(normed, D, 0));
        if (c < 2) {
            in(o, ref(L, L->in[IN_COS]));
            in(o, ref(L, L->in[IN_SIN]));
        } else {
            in(o, ref(L, scalars(L)));
            if (ve >= 0) in(o, ref(L, ve));
        }
        out(o, ref(L, outs[c]));
    }
}

static void attention_forward(Lower *L, int i) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, H = s->model.heads, t = L->t_qkvo[i];
    int64_t DD = (int64_t)D * D;
    int h = L->xm[i];
    L->hn[i] = L->rstd_h[i] = -1;
    if (s->attn.norm == ATTN_NORM_PRE) {
        L->hn[i] = act(L, PD_BF16, D, 0, "hn");
        L->rstd_h[i] = act(L, PD_F32, 1, 0, "rstd_h");
        rmsnorm_fwd(L, "attn pre-norm", L->hn[i], L->rstd_h[i], L->xm[i]);
        h = L->hn[i];
    }
    L->qkv[i] = act(L, PD_BF16, 3 * D, 0, "qkv");
    linear_fwd(L, "qkv = h Wqkv^T", L->qkv[i], h, param(L, t, PLANE_HI, 0, 3 * DD), D, 3 * D, 0);
    L->qkv_rstd[i] = act(L, PD_F32, 3 * H, 0, "qkv.rstd");
    L->q[i] = act(L, PD_BF16, D, 0, "q");
    L->k[i] = act(L, PD_BF16, D, 0, "k");
    L->v[i] = act(L, PD_BF16, D, 0, "v");
    int table = s->ve.layer_table[i], ve = table >= 0 ? L->ve[table] : -1;
    PlanStep *st = kernel(L, "qkv_fwd", 0, "q k v norms, rotary, ve");
    bind(st, "q", L->q[i]);
    bind(st, "k", L->k[i]);
    bind(st, "v", L->v[i]);
    bind(st, "rstd", L->qkv_rstd[i]);
    bind(st, "qkv", L->qkv[i]);
    bind_opt(st, "ve", ve);
    bind(st, "cos", L->in[IN_COS]);
    bind(st, "sin", L->in[IN_SIN]);
    bind(st, "scalars", scalars(L));
    bind_int(st, "sa_off", spec_sa_index(s, i, 0));
    bind_rows(st, "rows", 1);
    qkv_ops(L, st, i, L->qkv[i], L->qkv_rstd[i], ve);
    L->y[i] = act(L, PD_BF16, D, 0, "y");
    L->lse[i] = act(L, PD_F32, H, 0, "lse");
    st = kernel(L, "attn_fwd", 0, "attention");
    bind(st, "y", L->y[i]);
    bind(st, "lse", L->lse[i]);
    bind(st, "q", L->q[i]);
    bind(st, "k", L->k[i]);
    bind(st, "v", L->v[i]);
    bind(st, "doc_start", L->in[IN_DOC_START]);
    arg(st, "window_blocks", ARG_WINDOW)->ival = i;
    bind_rows(st, "rows", 1);
    PlanOp *o = op(L, st, "attention");
    in(o, ref(L, L->q[i]));
    in(o, ref(L, L->k[i]));
    in(o, ref(L, L->v[i]));
    in(o, ref(L, L->in[IN_DOC_START]));
    out(o, ref(L, L->y[i]));
    out(o, ref(L, L->lse[i]));
    /* xa = xm + y Wo^T: xm is kept for the weight gradient, so the GEMM
     * reads it as C and writes xa (which the MLP's residual then
     * overwrites) instead of adding into a copy of it. */
    L->out[i] = act(L, PD_BF16, D, 0, "xa=out");
    gemm_into(L, "xa = xm + y Wo^T", (Mat){L->y[i], 0, 0, D}, (Mat){param(L, t, PLANE_HI, 3 * DD, DD), 0, 0, D},
              (Mat){L->out[i], 0, 0, D}, L->xm[i], TOK, fixed_dim(D), fixed_dim(D), 0, 1, 1);
}

static void mlp_forward(Lower *L, int i) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, M = s->model.mlp_hidden;
    int xa = L->out[i];
    L->n2[i] = act(L, PD_BF16, D, 0, "n2");
    L->rstd2[i] = act(L, PD_F32, 1, 0, "rstd2");
    rmsnorm_fwd(L, "mlp norm", L->n2[i], L->rstd2[i], xa);
    L->pre[i] = act(L, PD_BF16, M, 0, "pre");
    linear_fwd(L, "pre = n2 fc^T", L->pre[i], L->n2[i], whole(L, L->t_fc[i], PLANE_HI), D, M, 0);
    L->act[i] = act(L, PD_BF16, M, 0, "act");
    PlanStep *st = kernel(L, "relu2_fwd", 0, "relu^2");
    bind(st, "act", L->act[i]);
    bind(st, "pre", L->pre[i]);
    bind_rows(st, "rows", 1);
    PlanOp *o = op(L, st, "relu2");
    in(o, ref(L, L->pre[i]));
    out(o, ref(L, L->act[i]));
    /* out = xa + act proj^T, in place: the backward pass never reads xa. */
    linear_fwd(L, "out = xa + act proj^T", xa, L->act[i], whole(L, L->t_proj[i], PLANE_HI), M, D, 1);
}

static void head_forward(Lower *L) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, V = s->vocab.padded, ht = L->t_head;
    L->layer = -1;
    L->xf = act(L, PD_BF16, D, 0, "xf");
    L->rstdf = act(L, PD_F32, 1, 0, "rstdf");
    rmsnorm_fwd(L, "final norm", L->xf, L->rstdf, L->out[s->model.layers - 1]);
    L->logits = act(L, PD_BF16, V, 0, "logits=dlogits");
    linear_fwd(L, "logits = xf head^T", L->logits, L->xf, whole(L, ht, PLANE_BF16COPY), D, V, 0);
    L->row_loss = act(L, PD_F32, 1, 0, "row_loss");
    PlanStep *st = kernel(L, "softcap_ce", 0, "softcap + cross-entropy");
    bind(st, "row_loss", L->row_loss);
    bind(st, "dlogits", L->logits);
    bind(st, "logits", L->logits);
    bind(st, "targets", L->in[IN_TARGETS]);
    bind_rows(st, "count", 1);
    bind_rows(st, "rows", 1);
    int z = internal(L, PD_F32, V, "z");
    PlanOp *o = op(L, st, "softcap");
    in(o, ref(L, L->logits));
    out(o, ref(L, z));
    o = op(L, st, "cross_entropy");
    in(o, ref(L, z));
    in(o, ref(L, L->in[IN_TARGETS]));
    out(o, ref(L, L->row_loss));
    o = op(L, st, "cross_entropy_bwd");
    in(o, ref(L, z));
    in(o, ref(L, L->in[IN_TARGETS]));
    out(o, ref(L, L->logits));
    L->p->loss_buf = act(L, PD_F32, 0, 1, "loss");
    L->p->bufs[L->p->loss_buf].output = true;
    colsum(L, "mean loss", L->p->loss_buf, 0, L->row_loss, 0, 1, true);
}

/* ---- backward ---- */

/* dtable rows += the rows of drows, token by token (embed_bwd). */
static void embed_backward(Lower *L, const char *what, int dtable, int drows) {
    int D = L->s->model.dim;
    PlanStep *st = kernel(L, "embed_bwd", 0, what);
    bind(st, "dtable", dtable);
    bind(st, "drows", drows);
    bind(st, "order", L->in[IN_SEG_ORDER]);
    bind(st, "seg_start", L->in[IN_SEG_START]);
    bind(st, "seg_token", L->in[IN_SEG_TOKEN]);
    arg(st, "rows", ARG_NSEG);
    PlanOp *o = op(L, st, "scatter_add");
    in(o, ref(L, drows));
    in(o, ref(L, L->in[IN_IDS]));
    in(o, part(dtable, D, 0));
    out(o, part(dtable, D, 0));
}

/* The value table's gradient rows, summed over its layers in fp32 by
 * qkv_bwd, rounded once to bf16: embed_bwd reads activation gradients in
 * bf16, as it does for the input tables. */
static int dve_bf16(Lower *L, int k) {
    int D = L->s->model.dim;
    char name[32];
    snprintf(name, sizeof name, "dve%d.bf16", k);
    int rows = act(L, PD_BF16, D, 0, name);
    PlanStep *st = kernel(L, "cast_bf16", 0, "value table gradient rows to bf16");
    bind(st, "out", rows);
    bind(st, "in", L->dve[k]);
    bind_rows(st, "n", D);
    PlanOp *o = op(L, st, "cast");
    in(o, ref(L, L->dve[k]));
    out(o, ref(L, rows));
    return rows;
}

/* The skips whose source is layer i, applied to d out_i (see the top). */
static void skips_backward(Lower *L, int i, int dout) {
    const ModelSpec *s = L->s;
    for (int j = s->skips.count - 1; j >= 0; j--) {
        if (s->skips.from[j] != i) continue;
        int to = s->skips.to[j];
        int partial = act(L, PD_F32, 0, L->parts, "skip.partial");
        PlanStep *st = kernel(L, "skip_bwd", 0, "skip gradient");
        bind(st, "dsrc", dout);
        bind(st, "partial", partial);
        bind(st, "dxs", L->dxs[to]);
        bind(st, "src", L->out[i]);
        bind(st, "scalars", scalars(L));
        bind_int(st, "skip_off", spec_skip_index(s, i));
        bind_rows(st, "rows", 1);
        PlanOp *o = op(L, st, "dot");
        in(o, ref(L, L->dxs[to]));
        in(o, ref(L, L->out[i]));
        out(o, ref(L, partial));
        o = op(L, st, "axpy");
        in(o, ref(L, L->dxs[to]));
        in(o, ref(L, dout));
        out(o, ref(L, dout));
        colsum(L, "skip weight gradient", dscalars(L), spec_skip_index(s, i), partial, L->parts, 1, false);
    }
}

static void mlp_backward(Lower *L, int i, int dout) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, M = s->model.mlp_hidden;
    linear_dw(L, "d proj = dout^T act", whole(L, L->t_proj[i], PLANE_GRAD), dout, L->act[i], M, D, 0);
    int dact = act(L, PD_BF16, M, 0, "dact=dpre");
    linear_dx(L, "dact = dout proj", dact, dout, whole(L, L->t_proj[i], PLANE_HI), M, D, 0);
    PlanStep *st = kernel(L, "relu2_bwd", 0, "relu^2 backward");
    bind(st, "dpre", dact);
    bind(st, "dact", dact);
    bind(st, "pre", L->pre[i]);
    bind_rows(st, "rows", 1);
    PlanOp *o = op(L, st, "relu2_bwd");
    in(o, ref(L, dact));
    in(o, ref(L, L->pre[i]));
    out(o, ref(L, dact));
    linear_dw(L, "d fc = dpre^T n2", whole(L, L->t_fc[i], PLANE_GRAD), dact, L->n2[i], D, M, 0);
    int dn = act(L, PD_BF16, D, 0, "dn2");
    linear_dx(L, "dn2 = dpre fc", dn, dact, whole(L, L->t_fc[i], PLANE_HI), D, M, 0);
    /* dxa = dout + the norm's backward, in place over dout. */
    rmsnorm_bwd(L, "mlp norm backward", dout, dn, L->n2[i], L->rstd2[i], 1);
}

/* The stored-dS slots per 16 queries of layer i (templates/attention.cu,
 * dQ's two sources): its widest window over the training schedule in
 * 16-key granules, at most the tokens' granules; 0 where the window block
 * is not whole granules (dQ is then always recomputed). Sized for the
 * worst case, one document as long as the window: the kernels write only
 * the granules with a visible pair. */
static long long ds_slots(const ModelSpec *s, int i) {
    int bs = s->attn.window.block_size, widest = 1;
    if (bs % 16) return 0;
    for (int step = 0; step <= s->train.steps; step++) {
        int lw, sw;
        spec_window_blocks(s, step, false, &lw, &sw);
        int w = s->attn.window.long_layer[i] ? lw : sw;
        widest = w > widest ? w : widest;
    }
    return plan_ds_slots(bs, widest, s->train.tokens_per_rank);
}

/* dxm (= the buffer dxa) += the attention block's input gradient. */
static void attention_backward(Lower *L, int i, int dxm) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, H = s->model.heads, t = L->t_qkvo[i];
    int64_t DD = (int64_t)D * D;
    linear_dw(L, "d Wo = dxa^T y", param(L, t, PLANE_GRAD, 3 * DD, DD), dxm, L->y[i], D, D, 0);
    int dy = act(L, PD_BF16, D, 0, "dy");
    linear_dx(L, "dy = dxa Wo", dy, dxm, param(L, t, PLANE_HI, 3 * DD, DD), D, D, 0);
    int delta = act(L, PD_F32, H, 0, "delta");
    PlanStep *st = kernel(L, "attn_bwd_pre", 0, "attention delta");
    bind(st, "delta", delta);
    bind(st, "dy", dy);
    bind(st, "y", L->y[i]);
    bind_rows(st, "rows", 1);
    PlanOp *o = op(L, st, "attention_delta");
    in(o, ref(L, dy));
    in(o, ref(L, L->y[i]));
    out(o, ref(L, delta));
    int dq = act(L, PD_BF16, D, 0, "dq"), dk = act(L, PD_BF16, D, 0, "dk"), dv = act(L, PD_BF16, D, 0, "dv");
    long long slots = ds_slots(s, i);
    int ds = slots ? act(L, PD_BF16, (int64_t)H * slots * 16, 0, "ds") : -1;
    for (int pass = 0; pass < 2; pass++) {
        st = kernel(L, pass ? "attn_bwd_dq" : "attn_bwd_dkdv", 0, pass ? "attention dq" : "attention dk dv");
        if (pass) bind(st, "dq", dq);
        else bind(st, "dk", dk), bind(st, "dv", dv);
        bind_opt(st, "ds", ds);
        PlanArg *a = arg(st, "ds_slots", ARG_DS_SLOTS);
        a->id = i, a->ival = slots;
        bind(st, "dy", dy);
        bind(st, "lse", L->lse[i]);
        bind(st, "delta", delta);
        bind(st, "q", L->q[i]);
        bind(st, "k", L->k[i]);
        bind(st, "v", L->v[i]);
        bind(st, "doc_start", L->in[IN_DOC_START]);
        arg(st, "window_blocks", ARG_WINDOW)->ival = i;
        bind_rows(st, "rows", 1);
        o = op(L, st, pass ? "attention_bwd_dq" : "attention_bwd_dkdv");
        int ins[] = {dy, L->lse[i], delta, L->q[i], L->k[i], L->v[i], L->in[IN_DOC_START]};
        for (int k = 0; k < 7; k++) in(o, ref(L, ins[k]));
        if (pass && ds >= 0) in(o, ref(L, ds));
        if (pass) out(o, ref(L, dq));
        else out(o, ref(L, dk)), out(o, ref(L, dv));
        if (!pass && ds >= 0) out(o, ref(L, ds));
    }
    int table = s->ve.layer_table[i];
    int dqkv = act(L, PD_BF16, 3 * D, 0, "dqkv");
    int partial = act(L, PD_F32, 0, (int64_t)L->parts * 2, "sa.partial");
    st = kernel(L, "qkv_bwd", 0, "q k v backward");
    bind(st, "dqkv", dqkv);
    bind(st, "partial", partial);
    bind_opt(st, "dve", table >= 0 ? L->dve[table] : -1);
    bind(st, "dq", dq);
    bind(st, "dk", dk);
    bind(st, "dv", dv);
    bind(st, "qkv", L->qkv[i]);
    bind(st, "rstd", L->qkv_rstd[i]);
    bind_opt(st, "ve", table >= 0 ? L->ve[table] : -1);
    bind(st, "cos", L->in[IN_COS]);
    bind(st, "sin", L->in[IN_SIN]);
    bind(st, "scalars", scalars(L));
    bind_int(st, "sa_off", spec_sa_index(s, i, 0));
    bind_rows(st, "rows", 1);
    o = op(L, st, "v_mix_bwd");
    in(o, ref(L, dv));
    in(o, part(L->qkv[i], D, 0));
    if (table >= 0) in(o, ref(L, L->ve[table])), in(o, ref(L, L->dve[table])), out(o, ref(L, L->dve[table]));
    out(o, ref(L, partial));
    int dvn = internal(L, PD_BF16, D, "dvn");
    out(o, ref(L, dvn));
    const char *kinds[] = {"rotary_bwd", "rotary_bwd", "rmsnorm_heads_bwd", "rmsnorm_heads_bwd",
                           "rmsnorm_heads_bwd"};
    int srcs[] = {dq, dk, -1, -1, dvn};
    int dqr = internal(L, PD_BF16, D, "dq.unrotated"), dkr = internal(L, PD_BF16, D, "dk.unrotated");
    int dsts[] = {dqr, dkr, -1, -1, -1};
    srcs[2] = dqr, srcs[3] = dkr;
    int nsteps = s->attn.norm == ATTN_NORM_QKV ? 5 : 4;
    for (int c = 0; c < nsteps; c++) {
        o = op(L, st, kinds[c]);
        in(o, ref(L, srcs[c]));
        if (c < 2) in(o, ref(L, L->in[IN_COS])), in(o, ref(L, L->in[IN_SIN])), out(o, ref(L, dsts[c]));
        else in(o, part(L->qkv[i], D, 0)), in(o, part(L->qkv_rstd[i], H, 0)), out(o, part(dqkv, D, 0));
    }
    colsum(L, "sa gradients", dscalars(L), spec_sa_index(s, i, 0), partial, L->parts, 2, false);
    int h = s->attn.norm == ATTN_NORM_PRE ? L->hn[i] : L->xm[i];
    linear_dw(L, "d Wqkv = dqkv^T h", param(L, t, PLANE_GRAD, 0, 3 * DD), dqkv, h, D, 3 * D, 0);
    int Wqkv = param(L, t, PLANE_HI, 0, 3 * DD);
    if (s->attn.norm == ATTN_NORM_PRE) {
        int dh = act(L, PD_BF16, D, 0, "dh");
        linear_dx(L, "dh = dqkv Wqkv", dh, dqkv, Wqkv, D, 3 * D, 0);
        rmsnorm_bwd(L, "attn pre-norm backward", dxm, dh, L->hn[i], L->rstd_h[i], 1);
    } else {
        linear_dx(L, "dxm += dqkv Wqkv", dxm, dqkv, Wqkv, D, 3 * D, 1);
    }
}

/* d xs of layer i into a new buffer (returned): d out of layer i - 1, or of
 * the embedding for layer 0. */
/* The mix's backward in one pass over dxm (templates/x0_lambda_grad.cu):
 * d xs, d x0 (accumulated) and the lambdas' partial sums; then their
 * second stage. Returns d xs. */
static int mix_backward(Lower *L, int i, int dxm) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, K = s->x0.tables;
    int partial = act(L, PD_F32, 0, (int64_t)L->parts * (1 + K), "lambda.partial");
    int dxs = act(L, PD_BF16, D, 0, "dxs");
    PlanStep *st = kernel(L, "x0_lambda_grad", 0, "x0 mix backward");
    bind(st, "partial", partial);
    bind(st, "dxs", dxs);
    bind(st, "dx0", L->dx0);
    bind(st, "dxm", dxm);
    bind(st, "xs", L->xs[i]);
    bind(st, "x0", L->x0);
    bind(st, "scalars", scalars(L));
    bind_rows(st, "table_stride", D);
    bind_int(st, "lambda_off", spec_lambda_index(s, i, 0));
    bind_rows(st, "rows", 1);
    PlanOp *o = op(L, st, "dot");
    in(o, ref(L, dxm));
    in(o, ref(L, L->xs[i]));
    in(o, ref(L, L->x0));
    out(o, ref(L, partial));
    o = op(L, st, "x0_mix_bwd");
    in(o, ref(L, dxm));
    in(o, ref(L, scalars(L)));
    in(o, ref(L, L->dx0));
    out(o, ref(L, dxs));
    out(o, ref(L, L->dx0));
    colsum(L, "lambda gradients", dscalars(L), spec_lambda_index(s, i, 0), partial, L->parts, 1 + K, false);
    return dxs;
}

static void backward(Lower *L) {
    const ModelSpec *s = L->s;
    int D = s->model.dim, V = s->vocab.padded, K = s->x0.tables, NL = s->model.layers, ht = L->t_head;
    L->backward = true;
    L->layer = -1;
    L->dx0 = act(L, PD_BF16, (int64_t)K * D, 0, "dx0");
    zero(L, "dx0 = 0", L->dx0);
    for (int k = 0; k < s->ve.tables; k++) {
        char name[24];
        snprintf(name, sizeof name, "dve%d", k);
        L->dve[k] = act(L, PD_F32, D, 0, name);
        zero(L, "dve = 0", L->dve[k]);
    }
    /* The recipe's bf16 head matmuls: bf16 logit gradients (softcap_ce)
     * with the head's bf16 copy and with xf, accumulated in fp32. */
    int dn = act(L, PD_BF16, D, 0, "dxf");
    gemm(L, "dxf = dlogits head", (Mat){L->logits, 0, 0, V}, (Mat){whole(L, ht, PLANE_BF16COPY), 0, 0, D},
         (Mat){dn, 0, 0, D}, TOK, fixed_dim(D), fixed_dim(V), 0, 0, 0);
    gemm(L, "d head = dlogits^T xf", (Mat){L->logits, 0, 0, V}, (Mat){L->xf, 0, 0, D},
         (Mat){whole(L, ht, PLANE_GRAD), 0, 0, D}, fixed_dim(V), fixed_dim(D), TOK, 1, 0, 0);
    int dout = act(L, PD_BF16, D, 0, "dout");
    rmsnorm_bwd(L, "final norm backward", dout, dn, L->xf, L->rstdf, 0);
    for (int i = NL - 1; i >= 0; i--) {
        L->layer = i;
        skips_backward(L, i, dout);
        mlp_backward(L, i, dout);
        if (s->model.attention[i]) attention_backward(L, i, dout);
        L->dxs[i] = mix_backward(L, i, dout);
        dout = L->dxs[i];
        if (i > 0 && skip_into(s, i) >= 0) {
            /* d xs stays for the skip's source layer; d out(i - 1) is its
             * own buffer that the skip gradient then adds to. */
            dout = act(L, PD_BF16, D, 0, "dout");
            copy(L, "dout = dxs", dout, L->dxs[i]);
        }
    }
    L->layer = -1;
    for (int k = 0; k < K; k++) {
        char drows[24];
        snprintf(drows, sizeof drows, "x0.drows%d", k);
        int dtab = act(L, PD_BF16, D, 0, drows);
        PlanStep *st = kernel(L, "rmsnorm_bwd", D, "x0 norm backward");
        bind(st, "dx", dtab);
        bind_at(st, "dy", L->dx0, (int64_t)k * D, 0);
        bind_at(st, "y", L->x0, (int64_t)k * D, 0);
        bind_at(st, "rstd", L->x0_rstd, k, 0);
        bind_int(st, "accumulate", 0);
        bind_rows(st, "rows", 1);
        PlanOp *o = op(L, st, "rmsnorm_bwd");
        in(o, part(L->dx0, D, 0));
        in(o, part(L->x0, D, 0));
        in(o, part(L->x0_rstd, 1, 0));
        out(o, ref(L, dtab));
        if (k == 0) {
            st = kernel(L, "rmsnorm_bwd", D, "x00 input norm backward");
            bind(st, "dx", dtab);
            bind(st, "dy", dout);
            bind(st, "y", L->x0);
            bind(st, "rstd", L->x0_rstd);
            bind_int(st, "accumulate", 1);
            bind_rows(st, "rows", 1);
            o = op(L, st, "rmsnorm_bwd");
            in(o, ref(L, dout));
            in(o, part(L->x0, D, 0));
            in(o, part(L->x0_rstd, 1, 0));
            in(o, ref(L, dtab));
            out(o, ref(L, dtab));
        }
        embed_backward(L, "x0 table gradient", whole(L, L->t_x0[k], PLANE_GRAD), dtab);
    }
    for (int k = 0; k < s->ve.tables; k++)
        embed_backward(L, "value table gradient", whole(L, L->t_ve[k], PLANE_GRAD), dve_bf16(L, k));
}

/* ---- the plan ---- */

static void index_tensors(Lower *L) {
    ModelBuild *b = L->b;
    L->t_head = -1;
    int64_t off = 0;
    for (int i = 0; i < b->ntensors; i++) {
        const ParamTensor *t = &b->tensors[i];
        /* Each tensor's gradient starts on a 16-byte boundary: the device
         * optimizer reads them as float4 (runtime/device/optim_gpu.h). */
        b->grad_off[i] = off;
        off = (off + t->numel + 3) / 4 * 4;
        switch (t->role) {
        case ROLE_HEAD: break;
        case ROLE_SCALARS: L->t_scalars = i; break;
        case ROLE_INPUT_TABLE: L->t_x0[t->table] = i; break;
        case ROLE_VALUE_TABLE: L->t_ve[t->table] = i; break;
        case ROLE_QKVO: L->t_qkvo[t->layer] = i; break;
        case ROLE_FC: L->t_fc[t->layer] = i; break;
        case ROLE_PROJ: L->t_proj[t->layer] = i; break;
        }
        if (t->bf16_copy) L->t_head = i; /* lm_head_w, or the table a tied head reads */
    }
    b->grad_total = off;
}

static void inputs(Lower *L) {
    int half = L->s->model.head_dim / 2;
    L->in[IN_IDS] = new_buf(L, BUF_INPUT, PD_I32, 1, 0, "ids");
    L->in[IN_TARGETS] = new_buf(L, BUF_INPUT, PD_I32, 1, 0, "targets");
    L->in[IN_DOC_START] = new_buf(L, BUF_INPUT, PD_I32, 1, 0, "doc_start");
    L->in[IN_COS] = new_buf(L, BUF_INPUT, PD_F32, half, 0, "cos");
    L->in[IN_SIN] = new_buf(L, BUF_INPUT, PD_F32, half, 0, "sin");
    L->in[IN_SEG_ORDER] = new_buf(L, BUF_INPUT, PD_I32, 1, 0, "seg.order");
    L->in[IN_SEG_START] = new_buf(L, BUF_INPUT, PD_I32, 1, 1, "seg.start");
    L->in[IN_SEG_TOKEN] = new_buf(L, BUF_INPUT, PD_I32, 1, 0, "seg.token");
    for (int i = 0; i < IN_COUNT; i++) L->p->bufs[L->in[i]].input = (PlanInput)i;
}

/* Tests find buffers by name (exec_buffer): one name, one buffer. */
static void unique_names(Lower *L) {
    const Plan *p = L->p;
    for (int i = 0; i < p->nbufs; i++)
        for (int j = i + 1; j < p->nbufs; j++)
            if (!strcmp(p->bufs[i].name, p->bufs[j].name)) fail(L, "two buffers named %s", p->bufs[i].name);
}

bool lower_supported(const ModelSpec *s, char *err, size_t errlen) {
    for (int i = 0; i < s->model.layers; i++) {
        int into = 0;
        for (int j = 0; j < s->skips.count; j++) into += s->skips.to[j] == i;
        if (into > 1)
            return snprintf(err, errlen, "layer %d receives %d skips; the fused plan adds one per layer", i, into),
                   false;
    }
    bool attention = false;
    for (int i = 0; i < s->model.layers; i++) attention = attention || s->model.attention[i];
    int hd = s->model.head_dim;
    if (attention && (hd % 16 || hd > 256))
        return snprintf(err, errlen,
                        "model.head_dim %d: the attention kernels need a multiple of 16 (the mma k-step) up to 256",
                        hd),
               false;
    return true;
}

/* Room for the largest plan while lowering; trimmed to size after. */
static bool plan_alloc(Plan *p) {
    p->bufs = calloc(PLAN_MAX_BUFS, sizeof *p->bufs);
    p->steps = calloc(PLAN_MAX_STEPS, sizeof *p->steps);
    p->ops = calloc((size_t)PLAN_MAX_STEPS * PLAN_MAX_OPS, sizeof *p->ops);
    return p->bufs && p->steps && p->ops;
}

static void *trim(void *a, size_t n, size_t size) {
    void *t = realloc(a, (n ? n : 1) * size);
    return t ? t : a;
}

void plan_free(Plan *p) {
    free(p->bufs);
    free(p->steps);
    free(p->ops);
    memset(p, 0, sizeof *p);
}

bool lower_plan(ModelBuild *b, char *err, size_t errlen) {
    Plan *p = &b->plan;
    const ModelSpec *s = &b->spec;
    memset(p, 0, sizeof *p);
    if (!lower_supported(s, err, errlen)) return false;
    if (!plan_alloc(p)) {
        plan_free(p);
        return snprintf(err, errlen, "out of memory"), false;
    }
    p->block_size = s->attn.window.block_size;
    Lower *L = &(Lower){.p = p, .b = b, .s = s, .ok = true, .err = err, .errlen = errlen, .layer = -1};
    PlanStep probe;
    if (!bind_kernel(&b->kernels, "x0_lambda_grad", 0, &probe)) fail(L, "no x0_lambda_grad kernel");
    else L->parts = b->kernels.inst[probe.kinst].grid_blocks;
    index_tensors(L);
    inputs(L);
    embed_forward(L);
    int x = L->x0; /* x00: the first table of the stacked x0 */
    for (int i = 0; i < s->model.layers && L->ok; i++) {
        L->layer = i;
        mix_forward(L, i, x);
        if (s->model.attention[i]) attention_forward(L, i);
        else L->out[i] = L->xm[i];
        mlp_forward(L, i);
        x = L->out[i];
    }
    if (L->ok) head_forward(L);
    p->nforward = p->nsteps;
    if (L->ok) backward(L);
    if (L->ok) unique_names(L);
    if (L->ok && bind_plan(p, &b->kernels, err, errlen)) {
        p->bufs = trim(p->bufs, (size_t)p->nbufs, sizeof *p->bufs);
        p->steps = trim(p->steps, (size_t)p->nsteps, sizeof *p->steps);
        p->ops = trim(p->ops, (size_t)p->nops, sizeof *p->ops);
        return true;
    }
    plan_free(p);
    return false;
}

/* ---- sizes and printing ---- */

int64_t plan_dim(PlanDim d, int64_t T) { return d.per_token * T + d.fixed; }
int64_t plan_elems(const PlanBuf *b, int64_t T) { return b->per_token * T + b->fixed; }

long long plan_ds_slots(int block_size, long long window_blocks, long long T) {
    long long slots = window_blocks * block_size / 16, most = (T + 15) / 16;
    return slots < most ? slots : most;
}

int plan_dtype_bytes(PlanDtype d) { return d == PD_BF16 || d == PD_U16 ? 2 : 4; }

const char *plan_dtype_name(PlanDtype d) {
    switch (d) {
    case PD_BF16: return "bf16";
    case PD_F32: return "fp32";
    case PD_I32: return "i32";
    case PD_U16: return "u16";
    }
    return "?";
}

static void print_ref(const Plan *p, OpRef r, StrBuf *out) {
    const PlanBuf *b = &p->bufs[r.buf];
    sb_printf(out, " %s%s[", b->name, b->cls == BUF_INTERNAL ? "*" : "");
    if (r.per_token) sb_printf(out, "T*%lld%s", (long long)r.per_token, r.fixed ? "+" : "");
    if (r.fixed || !r.per_token) sb_printf(out, "%lld", (long long)r.fixed);
    sb_printf(out, " %s]", plan_dtype_name(b->dtype));
}

void lower_print_graph(const Plan *p, StrBuf *out) {
    sb_printf(out, "# %d steps (%d forward), %d buffers; * = not stored by the fused kernel\n", p->nsteps,
              p->nforward, p->nbufs);
    for (int i = 0; i < p->nsteps; i++) {
        const PlanStep *st = &p->steps[i];
        const char *k = st->kind == STEP_KERNEL ? st->kernel : st->kind == STEP_GEMM ? "gemm"
                                                          : st->kind == STEP_COPY ? "copy"
                                                                                  : "zero";
        sb_printf(out, "%4d %s %-28s %s\n", i, st->backward ? "B" : "F", st->what, k);
        for (int j = 0; j < st->nops && p->ops; j++) {
            const PlanOp *o = &p->ops[st->first_op + j];
            sb_printf(out, "       %-18s", o->kind);
            for (int r = 0; r < o->nout; r++) print_ref(p, o->out[r], out);
            sb_puts(out, " <-");
            for (int r = 0; r < o->nin; r++) print_ref(p, o->in[r], out);
            sb_puts(out, "\n");
        }
    }
}
