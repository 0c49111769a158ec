/*
 * test_kernels.c: every kernel of one generated model, run on the sim
 * executor and compared with the ref executor's own code on the same random
 * inputs. tests/run-kernels.sh builds it once per model, with -I on the
 * model's generated folder (plan.h: the kernels, their parameters and their
 * launch rule) and linked with that folder's kernels_sim.cc and
 * runtime/sim/cuda_emu.cc; each kernel is found by its exported name,
 * gptc_sim_NAME. Usage: test_kernels MODEL_NAME [SEED]; the name is only for
 * the messages.
 *
 * Each kernel family has a Kind below: the parameters it expects (plan.h
 * must agree, so a changed template cannot be called with stale arguments),
 * its tolerance, its shapes, how to build a case's buffers and how the ref
 * code computes the expected result. Every case is built three times from
 * one seed:
 *   got    launched as the runtime will: plan.h's threads and blocks;
 *   want   the same inputs through the ref code (runtime/ref/elementwise.h,
 *          runtime/adam.h) in fp32, outputs then rounded to the buffer's
 *          dtype (bf16: to nearest even);
 *   again  launched with the emulator's random thread and block order and
 *          poisoned shared memory.
 got's outputs must match want's within the tolerance in every element
 * (one the kernel must leave alone, such as the gap between two tables, is
 * expected unchanged), its inputs must be unchanged bit for bit, again must
 * equal got byte for byte, and the guard bytes around each buffer must be
 * intact. Under ASan the buffers end exactly where the data ends, so that
 * the sanitizer catches reads past the end as well as writes. The worst
 * error printed is over the outputs.
 *
 * Tolerances are in units in the last place of the output's dtype, 0 for
 * every kernel today: the templates promise the ref executor's fp32
 * operation order and one rounding per output, and both sides are built
 * without FMA contraction (-ffp-contract=off here, --fmad=false in NVRTC),
 * so any difference is a bug, not noise.
 *
 * Prints one "ok ..." or "FAIL ..." line per kernel and check, with the
 * worst error; exits 1 if any failed, 2 on bad usage.
 */
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adam.h"
#include "elementwise.h"
#include "plan.h"
#include "sim.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define UNDER_ASAN 1
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define UNDER_ASAN 0
#endif

#define MAX_TABLES 16
#define MAX_BUFS 6
#define MAX_ARGS 12
#define NSCALARS 64 /* the scalars vector the x0 mix reads its lambdas from */

/* ---- random numbers (splitmix64: the same inputs on every machine) ---- */

typedef struct {
    uint64_t s;
} Rng;

static uint64_t rng_next(Rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(Rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

/* ---- bf16, written here rather than taken from the emulator, so that its
 * conversions are checked too ---- */

static float bf16_to_float(uint16_t b) {
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest even; every NaN becomes 0x7FFF, as on the GPU. */
static uint16_t float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFF;
    u += 0x7FFFu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

/* ---- buffers ---- */

typedef enum { BF16, F32 } DType;

static const char *dtype_name(DType t) { return t == BF16 ? "bf16" : "fp32"; }
static size_t dtype_size(DType t) { return t == BF16 ? 2 : 4; }

typedef struct {
    const char *name;
    DType dtype;
    size_t n;
    bool output;        /* written by the kernel; an input must come back unchanged */
    unsigned char *mem; /* the allocation */
    void *p;            /* the data, LEAD bytes into it */
} Buf;

/* The data starts 3 * ALIGN bytes into a block aligned to 4 * ALIGN: aligned
 * to exactly plan.h's promise and no more, so that a kernel relying on more
 * alignment would fault (the vector types are over-aligned). */
#define ALIGN GPTC_PLAN_ALIGN_BYTES
#define LEAD (3 * ALIGN)
#define TRAIL (UNDER_ASAN ? 0 : 64)
#define GUARD 0xA5

static void buf_alloc(Buf *b, const char *name, DType t, size_t n, bool output) {
    size_t bytes = n * dtype_size(t);
    void *mem;
    if (posix_memalign(&mem, 4 * ALIGN, LEAD + bytes + TRAIL)) {
        fprintf(stderr, "test_kernels: out of memory\n");
        exit(2);
    }
    *b = (Buf){name, t, n, output, mem, (unsigned char *)mem + LEAD};
    memset(b->mem, GUARD, LEAD);
    memset(b->mem + LEAD + bytes, GUARD, TRAIL);
    ASAN_POISON_MEMORY_REGION(b->mem, LEAD);
}

static void buf_free(Buf *b) {
    ASAN_UNPOISON_MEMORY_REGION(b->mem, LEAD);
    free(b->mem);
}

static bool guards_intact(const Buf *b) {
#if UNDER_ASAN
    (void)b; /* the lead is poisoned and there is no trail: ASan reports any access */
    return true;
#else
    const unsigned char *tail = b->mem + LEAD + b->n * dtype_size(b->dtype);
    for (size_t i = 0; i < LEAD; i++)
        if (b->mem[i] != GUARD) return false;
    for (size_t i = 0; i < TRAIL; i++)
        if (tail[i] != GUARD) return false;
    return true;
#endif
}

static float buf_get(const Buf *b, size_t i) {
    return b->dtype == BF16 ? bf16_to_float(((const uint16_t *)b->p)[i]) : ((const float *)b->p)[i];
}

static void buf_set(Buf *b, size_t i, float v) {
    if (b->dtype == BF16) ((uint16_t *)b->p)[i] = float_to_bf16(v);
    else ((float *)b->p)[i] = v;
}

/* The buffer's values in fp32 (exact for bf16), in a new array. */
static float *buf_floats(const Buf *b) {
    float *f = malloc(sizeof(float) * b->n);
    if (!f) {
        fprintf(stderr, "test_kernels: out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < b->n; i++) f[i] = buf_get(b, i);
    return f;
}

static void buf_store(Buf *b, const float *f) {
    for (size_t i = 0; i < b->n; i++) buf_set(b, i, f[i]);
}

/* Random values rounded to the buffer's dtype: magnitudes 2^lo .. 2^hi of
 * either sign (only positive when `positive`), 1 in 32 an exact zero of
 * either sign, and a NaN with probability nan_rate. */
static void fill(Buf *b, Rng *r, int lo, int hi, bool positive, double nan_rate) {
    for (size_t i = 0; i < b->n; i++) {
        double u = rng_unit(r), v;
        if (u < 1.0 / 64) v = 0.0;
        else if (u < 1.0 / 32) v = positive ? 0.0 : -0.0;
        else {
            v = exp2(lo + (hi - lo) * rng_unit(r)) * (1 + rng_unit(r)) / 2;
            if (!positive && rng_unit(r) < 0.5) v = -v;
        }
        if (nan_rate > 0 && rng_unit(r) < nan_rate) v = NAN;
        buf_set(b, i, (float)v);
    }
}

/* ---- one case: the buffers and arguments of one launch ---- */

typedef struct {
    int rows;      /* row kernels: the rows argument */
    int pad_vecs;  /* x0 mix: table_stride - rows * WIDTH, in vectors */
    bool inplace;  /* the output is written over its input */
    long long n;   /* flat kernels: the size argument */
    int hyper;     /* Adam: which hyperparameters */
    int step;      /* Adam: the training step */
} Shape;

typedef struct {
    int nbufs;
    Buf b[MAX_BUFS];
    void *ptr[MAX_BUFS]; /* the pointer arguments' values */
    long long ll;        /* table_stride or n */
    int ints[2];         /* lambda_off, rows */
    AdamCoefs coefs;
    void *args[MAX_ARGS]; /* as cuLaunchKernel's kernelParams */
} Case;

static Buf *add_buf(Case *c, const char *name, DType t, size_t n, bool output) {
    Buf *b = &c->b[c->nbufs];
    buf_alloc(b, name, t, n, output);
    c->ptr[c->nbufs++] = b->p;
    return b;
}

static void case_free(Case *c) {
    for (int i = 0; i < c->nbufs; i++) buf_free(&c->b[i]);
}

static long long kconst(const GptcPlanKernel *k, const char *name) {
    for (int i = 0; i < k->nconsts; i++)
        if (!strcmp(k->consts[i].name, name)) return k->consts[i].value;
    return -1;
}

/* ---- the x0 mix (templates/x0_mix.cu) ---- */

/* Buffers: 0 the rows input, 1 the tables, 2 the scalars, 3 the rows
 * output unless in place. */
static void x0_setup(Case *c, const GptcPlanKernel *k, const Shape *s, Rng *r, bool fwd) {
    int tables = (int)kconst(k, "TABLES");
    size_t n = (size_t)s->rows * k->row_elems;
    c->ll = (long long)n + (long long)s->pad_vecs * k->elems_per_thread;
    fill(add_buf(c, fwd ? "xs" : "dxm", BF16, n, s->inplace), r, -8, 3, false, 0);
    fill(add_buf(c, fwd ? "x0" : "dx0", BF16, (size_t)tables * c->ll, !fwd), r, -8, 3, false, 0);
    fill(add_buf(c, "scalars", F32, NSCALARS, false), r, -3, 1, false, 0);
    int out = 0;
    if (!s->inplace) {
        fill(add_buf(c, fwd ? "xm" : "dxs", BF16, n, true), r, -8, 3, false, 0);
        out = 3;
    }
    c->ints[0] = 1 + s->rows % 7; /* lambda_off: not the vector's start */
    c->ints[1] = s->rows;
    void **a = c->args;
    if (fwd) a[0] = &c->ptr[out], a[1] = &c->ptr[0], a[2] = &c->ptr[1], a[3] = &c->ll;
    else a[0] = &c->ptr[out], a[1] = &c->ptr[1], a[2] = &c->ll, a[3] = &c->ptr[0];
    a[4] = &c->ptr[2], a[5] = &c->ints[0], a[6] = &c->ints[1];
}

static void x0_fwd_setup(Case *c, const GptcPlanKernel *k, const Shape *s, Rng *r) {
    x0_setup(c, k, s, r, true);
}

static void x0_bwd_setup(Case *c, const GptcPlanKernel *k, const Shape *s, Rng *r) {
    x0_setup(c, k, s, r, false);
}

/* Both directions: in = buffer 0, tables = buffer 1, out = 3 or 0. */
static void x0_reference(Case *c, const GptcPlanKernel *k, const Shape *s, bool fwd) {
    int tables = (int)kconst(k, "TABLES");
    size_t n = c->b[0].n;
    float *in = buf_floats(&c->b[0]), *tab = buf_floats(&c->b[1]);
    float *out = s->inplace ? in : buf_floats(&c->b[3]);
    const float *lam = (const float *)c->b[2].p + c->ints[0];
    float *t[MAX_TABLES];
    const float *ct[MAX_TABLES];
    for (int i = 0; i < tables; i++) ct[i] = t[i] = tab + (size_t)i * c->ll;
    if (fwd) x0_mix_fwd(out, in, ct, lam, tables, n);
    else x0_mix_bwd(out, t, in, lam, tables, n);
    buf_store(&c->b[s->inplace ? 0 : 3], out);
    buf_store(&c->b[1], tab);
    free(in);
    free(tab);
    if (!s->inplace) free(out);
}

static void x0_fwd_reference(Case *c, const GptcPlanKernel *k, const Shape *s) {
    x0_reference(c, k, s, true);
}

static void x0_bwd_reference(Case *c, const GptcPlanKernel *k, const Shape *s) {
    x0_reference(c, k, s, false);
}

/* ---- relu^2 (templates/relu2.cu) ---- */

/* Buffers: 0 pre, 1 act unless in place. pre holds a few NaNs: the
 * contract maps them to 0, as the ref code does. */
static void relu2_fwd_setup(Case *c, const GptcPlanKernel *k, const Shape *s, Rng *r) {
    size_t n = (size_t)s->rows * k->row_elems;
    fill(add_buf(c, "pre", BF16, n, s->inplace), r, -8, 3, false, 1.0 / 128);
    if (!s->inplace) fill(add_buf(c, "act", BF16, n, true), r, -8, 3, false, 0);
    c->ints[1] = s->rows;
    c->args[0] = &c->ptr[s->inplace ? 0 : 1], c->args[1] = &c->ptr[0], c->args[2] = &c->ints[1];
}

static void relu2_fwd_reference(Case *c, const GptcPlanKernel *k, const Shape *s) {
    (void)k;
    float *pre = buf_floats(&c->b[0]), *act = s->inplace ? pre : buf_floats(&c->b[1]);
    relu2_fwd(act, pre, c->b[0].n);
    buf_store(&c->b[s->inplace ? 0 : 1], act);
    free(pre);
    if (!s->inplace) free(act);
}

/* Buffers: 0 dact, 1 pre, 2 dpre unless in place. */
static void relu2_bwd_setup(Case *c, const GptcPlanKernel *k, const Shape *s, Rng *r) {
    size_t n = (size_t)s->rows * k->row_elems;
    fill(add_buf(c, "dact", BF16, n, s->inplace), r, -8, 3, false, 0);
    fill(add_buf(c, "pre", BF16, n, false), r, -8, 3, false, 1.0 / 128);
    if (!s->inplace) fill(add_buf(c, "dpre", BF16, n, true), r, -8, 3, false, 0);
    c->ints[1] = s->rows;
    c->args[0] = &c->ptr[s->inplace ? 0 : 2], c->args[1] = &c->ptr[0], c->args[2] = &c->ptr[1];
    c->args[3] = &c->ints[1];
}

static void relu2_bwd_reference(Case *c, const GptcPlanKernel *k, const Shape *s) {
    (void)k;
    float *dact = buf_floats(&c->b[0]), *pre = buf_floats(&c->b[1]);
    float *dpre = s->inplace ? dact : buf_floats(&c->b[2]);
    relu2_bwd(dpre, dact, pre, c->b[0].n);
    buf_store(&c->b[s->inplace ? 0 : 2], dpre);
    free(dact);
    free(pre);
    if (!s->inplace) free(dpre);
}

/* ---- Adam (templates/adam.cu) ---- */

static const struct {
    double lr, beta1, beta2, eps, weight_decay;
} hypers[] = {
    {0.3, 0.8, 0.95, 1e-10, 0},           /* the recipe's embeddings */
    {0.003125 * 0.37, 0.8, 0.95, 1e-10, 0}, /* its head, in the cooldown */
    {0.015, 0.8, 0.95, 1e-10, 0},         /* its scalars */
    {1e-3, 0.9, 0.999, 1e-8, 0.1},        /* torch's defaults, with decay */
};

/* Buffers: p, m, v, g, all fp32. The moments are random too: any step's
 * state is a valid start. */
static void adam_setup(Case *c, const GptcPlanKernel *k, const Shape *s, Rng *r) {
    (void)k;
    size_t n = (size_t)s->n;
    fill(add_buf(c, "p", F32, n, true), r, -8, 1, false, 0);
    fill(add_buf(c, "m", F32, n, true), r, -20, -2, false, 0);
    fill(add_buf(c, "v", F32, n, true), r, -40, -4, true, 0);
    fill(add_buf(c, "g", F32, n, false), r, -20, 0, false, 0);
    c->ll = s->n;
    c->coefs = adam_coefs(hypers[s->hyper].lr, hypers[s->hyper].beta1, hypers[s->hyper].beta2,
                          hypers[s->hyper].eps, hypers[s->hyper].weight_decay, s->step);
    void **a = c->args;
    for (int i = 0; i < 4; i++) a[i] = &c->ptr[i];
    a[4] = &c->ll;
    a[5] = &c->coefs.beta1, a[6] = &c->coefs.beta2, a[7] = &c->coefs.eps;
    a[8] = &c->coefs.decay, a[9] = &c->coefs.step_size, a[10] = &c->coefs.rbc2;
}

static void adam_reference(Case *c, const GptcPlanKernel *k, const Shape *s) {
    (void)k;
    adam_apply(c->b[0].p, c->b[1].p, c->b[2].p, c->b[3].p, (size_t)s->n, &c->coefs);
}

/* ---- the kinds ---- */

/* Row counts: 1 (one partial block), 37 (several blocks, the last partly
 * empty, for every width here), 64 (whole blocks for widths of 128 and
 * 512), 515 and 2051 (many blocks, for the random block order, and enough
 * values that a different fp32 rounding somewhere shows in the bf16
 * results); some with gaps between the tables and some in place. */
static const Shape row_shapes[] = {
    {.rows = 1, .pad_vecs = 1},  {.rows = 37, .pad_vecs = 3},
    {.rows = 37, .pad_vecs = 3, .inplace = true}, {.rows = 64},
    {.rows = 515, .inplace = true}, {.rows = 2051, .pad_vecs = 2},
};

/* Sizes that end inside a vector (1, 3, 30, 1027, 32899), below one
 * vector (1, 3), exactly one block of 256 x 4 (1024); 30 is tiny.yaml's
 * scalars, 32899 about its input table (32896) with a tail. */
static const Shape adam_shapes[] = {
    {.n = 1, .hyper = 0, .step = 0},      {.n = 3, .hyper = 1, .step = 1},
    {.n = 4, .hyper = 2, .step = 7},      {.n = 30, .hyper = 2, .step = 0},
    {.n = 1024, .hyper = 3, .step = 0},   {.n = 1027, .hyper = 0, .step = 99},
    {.n = 32899, .hyper = 3, .step = 2999},
};

typedef struct {
    const char *prefix; /* the kernel's name before its suffix */
    const char *args;   /* the parameters this file passes; plan.h must agree */
    DType dtype;        /* of its outputs, for the tolerance's unit */
    int tol_ulps;
    const Shape *shapes;
    int nshapes;
    void (*setup)(Case *, const GptcPlanKernel *, const Shape *, Rng *);
    void (*reference)(Case *, const GptcPlanKernel *, const Shape *);
} Kind;

#define SHAPES(a) a, (int)(sizeof a / sizeof a[0])

static const Kind kinds[] = {
    {"x0_mix_fwd_",
     "__nv_bfloat16 *xm, const __nv_bfloat16 *xs, const __nv_bfloat16 *x0, long long table_stride, "
     "const float *scalars, int lambda_off, int rows",
     BF16, 0, SHAPES(row_shapes), x0_fwd_setup, x0_fwd_reference},
    {"x0_mix_bwd_",
     "__nv_bfloat16 *dxs, __nv_bfloat16 *dx0, long long table_stride, const __nv_bfloat16 *dxm, "
     "const float *scalars, int lambda_off, int rows",
     BF16, 0, SHAPES(row_shapes), x0_bwd_setup, x0_bwd_reference},
    {"relu2_fwd_", "__nv_bfloat16 *act, const __nv_bfloat16 *pre, int rows", BF16, 0, SHAPES(row_shapes),
     relu2_fwd_setup, relu2_fwd_reference},
    {"relu2_bwd_", "__nv_bfloat16 *dpre, const __nv_bfloat16 *dact, const __nv_bfloat16 *pre, int rows",
     BF16, 0, SHAPES(row_shapes), relu2_bwd_setup, relu2_bwd_reference},
    {"adam_",
     "float *p, float *m, float *v, const float *g, long long n, float beta1, float beta2, float eps, "
     "float decay, float step_size, float rbc2",
     F32, 0, SHAPES(adam_shapes), adam_setup, adam_reference},
};

static const Kind *find_kind(const GptcPlanKernel *k) {
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strncmp(k->name, kinds[i].prefix, strlen(kinds[i].prefix))) return &kinds[i];
    return NULL;
}

/* ---- comparing ---- */

/* Position on the number line, so that neighbouring values of the dtype
 * differ by 1; -0 sits one below +0, so that a tolerance of 0 means the
 * same bits (the ref code's sign of zero is part of the contract). */
static long long ordered(uint32_t bits, int width) {
    uint32_t sign = 1u << (width - 1);
    return bits & sign ? -(long long)(bits & (sign - 1)) - 1 : (long long)bits;
}

static uint32_t raw(const Buf *b, size_t i) {
    if (b->dtype == BF16) return ((const uint16_t *)b->p)[i];
    uint32_t u;
    memcpy(&u, (const float *)b->p + i, sizeof u);
    return u;
}

typedef struct {
    long long worst_ulps;
    double worst_abs;
    int cases;
    bool failed;
    char first[256]; /* the first failure */
} Stats;

static void note_failure(Stats *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_failure(Stats *st, const char *fmt, ...) {
    if (st->failed) return;
    st->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->first, sizeof st->first, fmt, ap);
    va_end(ap);
}

static void describe(char *out, size_t len, const Shape *s, bool flat) {
    if (flat) snprintf(out, len, "n=%lld step=%d", s->n, s->step);
    else snprintf(out, len, "rows=%d pad=%d%s", s->rows, s->pad_vecs, s->inplace ? " in place" : "");
}

static void compare(const Case *got, const Case *want, const Kind *kind, const char *shape, Stats *st) {
    for (int bi = 0; bi < got->nbufs; bi++) {
        const Buf *g = &got->b[bi], *w = &want->b[bi];
        int width = g->dtype == BF16 ? 16 : 32;
        if (!guards_intact(g)) note_failure(st, "%s: write outside buffer %s", shape, g->name);
        for (size_t i = 0; i < g->n; i++) {
            if (!g->output) {
                if (raw(g, i) != raw(w, i))
                    note_failure(st, "%s: input %s[%zu] changed to %.9g", shape, g->name, i, buf_get(g, i));
                continue;
            }
            float a = buf_get(g, i), b = buf_get(w, i);
            long long d;
            if (isnan(a) || isnan(b)) d = isnan(a) && isnan(b) ? 0 : LLONG_MAX;
            else d = llabs(ordered(raw(g, i), width) - ordered(raw(w, i), width));
            if (d > st->worst_ulps) st->worst_ulps = d;
            double e = isfinite(a) && isfinite(b) ? fabs((double)a - b) : 0;
            if (e > st->worst_abs) st->worst_abs = e;
            if (d > kind->tol_ulps)
                note_failure(st, "%s: %s[%zu] = %.9g, the ref code gives %.9g", shape, g->name, i, a, b);
        }
    }
}

static bool same_bytes(const Case *a, const Case *b) {
    for (int i = 0; i < a->nbufs; i++) {
        size_t span = a->b[i].n * dtype_size(a->b[i].dtype);
        /* Under ASan the guard lead is poisoned: compare the data only. */
        bool differ = UNDER_ASAN ? memcmp(a->b[i].p, b->b[i].p, span) != 0
                                 : memcmp(a->b[i].mem, b->b[i].mem, LEAD + span + TRAIL) != 0;
        if (differ) return false;
    }
    return true;
}

/* ---- running ---- */

static void *self; /* this executable, whose gptc_sim_* symbols are the kernels */

/* plan.h's launch rule: N = rows * row_elems for a row kernel, else n. */
static int launch(const GptcPlanKernel *k, GptcSimKernelFn fn, Case *c, const Shape *s,
                  const GptcSimOptions *opt) {
    long long n = k->row_elems > 0 ? (long long)s->rows * k->row_elems : s->n;
    long long per_block = (long long)k->threads * k->elems_per_thread;
    GptcSimLaunch l = {{(unsigned)((n + per_block - 1) / per_block), 1, 1}, {(unsigned)k->threads, 1, 1},
                       (size_t)k->dyn_smem_bytes, *opt};
    return fn(&l, c->args);
}

static int passed, failed;

static void result(bool ok, const char *model, const char *kernel, const char *what) {
    printf("%s %s: %s %s\n", ok ? "ok" : "FAIL", model, kernel, what);
    if (ok) passed++;
    else failed++;
}

/* Whatever in plan.h this file does not expect; empty if nothing. */
static void check_plan(const GptcPlanKernel *k, const Kind *kind, char *why, size_t len) {
    why[0] = '\0';
    long long width = kconst(k, "WIDTH"), tables = kconst(k, "TABLES");
    if (strcmp(k->args, kind->args))
        snprintf(why, len, "has parameters (%s), this test passes (%s)", k->args, kind->args);
    else if (kconst(k, "VEC") != k->elems_per_thread || kconst(k, "THREADS") != k->threads)
        snprintf(why, len, "VEC and THREADS differ from the launch shape");
    else if (k->row_elems > 0 && (width != k->row_elems || k->row_elems % k->elems_per_thread))
        snprintf(why, len, "WIDTH %lld, row_elems %d, VEC %d do not fit", width, k->row_elems,
                 k->elems_per_thread);
    else if (!strncmp(kind->prefix, "x0_mix", 6) && (tables < 1 || tables > MAX_TABLES))
        snprintf(why, len, "TABLES %lld out of 1..%d", tables, MAX_TABLES);
    else if ((kind->shapes[0].rows > 0) != (k->row_elems > 0))
        snprintf(why, len, "row_elems %d: not the launch rule this kind expects", k->row_elems);
}

static void test_kernel(const char *model, const GptcPlanKernel *k, uint64_t seed) {
    const Kind *kind = find_kind(k);
    char why[1024], line[1400];
    if (!kind) {
        snprintf(line, sizeof line, "(family %s): no test in tests/kernels/test_kernels.c", k->family);
        result(false, model, k->name, line);
        return;
    }
    check_plan(k, kind, why, sizeof why);
    char sym[128];
    snprintf(sym, sizeof sym, "gptc_sim_%s", k->name);
    void *addr = dlsym(self, sym);
    if (!why[0] && !addr) snprintf(why, sizeof why, "%s is not in kernels_sim.cc", sym);
    if (why[0]) {
        result(false, model, k->name, why);
        return;
    }
    GptcSimKernelFn fn;
    memcpy(&fn, &addr, sizeof fn);
    /* Nonzero order_seed: random thread order at every scheduling point and
     * random block order; poisoned smem: what nobody wrote reads as NaN. */
    GptcSimOptions plain = {0}, shuffled = {.order_seed = seed | 1, .poison_smem = 1};
    Stats st = {0};
    bool same = true;
    for (int si = 0; si < kind->nshapes; si++) {
        const Shape *s = &kind->shapes[si];
        char shape[96];
        describe(shape, sizeof shape, s, k->row_elems == 0);
        uint64_t case_seed = seed ^ (0x100000001B3ull * (uint64_t)(si + 1));
        for (const char *c = k->name; *c; c++) case_seed = (case_seed ^ (uint8_t)*c) * 0x100000001B3ull;
        Case got = {0}, want = {0}, again = {0};
        Rng r1 = {case_seed}, r2 = {case_seed}, r3 = {case_seed};
        kind->setup(&got, k, s, &r1);
        kind->setup(&want, k, s, &r2);
        kind->setup(&again, k, s, &r3);
        if (launch(k, fn, &got, s, &plain) != GPTC_SIM_OK ||
            launch(k, fn, &again, s, &shuffled) != GPTC_SIM_OK) {
            note_failure(&st, "%s: %s", shape, gptc_sim_last_error());
        } else {
            kind->reference(&want, k, s);
            compare(&got, &want, kind, shape, &st);
            if (!same_bytes(&got, &again)) {
                if (same) snprintf(why, sizeof why, "differs at %s", shape);
                same = false;
            }
            st.cases++;
        }
        case_free(&got);
        case_free(&want);
        case_free(&again);
    }
    if (st.failed) snprintf(line, sizeof line, "vs ref: %s", st.first);
    else
        snprintf(line, sizeof line, "vs ref: %d cases, worst %lld %s ulp (|err| %.3g), tolerance %d ulp",
                 st.cases, st.worst_ulps, dtype_name(kind->dtype), st.worst_abs, kind->tol_ulps);
    result(!st.failed, model, k->name, line);
    snprintf(line, sizeof line, "random thread/block order + poisoned smem: %s (%d cases)",
             same ? "bit-identical" : why, st.cases);
    result(same, model, k->name, line);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s MODEL_NAME [SEED]\n", argv[0]);
        return 2;
    }
    uint64_t seed = argc == 3 ? strtoull(argv[2], NULL, 10) : 20240520;
    self = dlopen(NULL, RTLD_NOW);
    if (!self) {
        fprintf(stderr, "test_kernels: %s\n", dlerror());
        return 2;
    }
    for (int i = 0; i < GPTC_PLAN_KERNEL_COUNT; i++) test_kernel(argv[1], &gptc_plan_kernels[i], seed);
    printf("%s: %d kernels, seed %llu: %d checks passed, %d failed\n", argv[1], GPTC_PLAN_KERNEL_COUNT,
           (unsigned long long)seed, passed, failed);
    return failed ? 1 : 0;
}
