/*
 * test_kernels.c: every kernel of one generated model, run on the sim
 * executor and compared with the ref executor's own code on the same random
 * inputs. tests/run-kernels.sh builds it once per model, with -I on the
 * model's generated folder (kernels.h: the kernels, their parameters and their
 * launch rule) and linked with that folder's kernels_sim.cc and
 * runtime/device/sim/cuda_emu.cc; each kernel is found by its exported name,
 * gptc_sim_NAME. Usage: test_kernels MODEL_NAME [SEED [FAMILY,...]]; the
 * name is only for the messages, and a list of families tests only those
 * kernels (run-kernels.sh's variant builds).
 *
 * Each kernel family has a Kind below: the parameters it expects (kernels.h
 * must agree, so a changed template cannot be called with stale arguments),
 * its tolerance, its shapes, how to build a case's buffers and how the ref
 * code computes the expected result. Every case is built three times from
 * one seed:
 *   got    launched as the runtime will: kernels.h's threads and blocks;
 *   want   the same inputs through the ref code (runtime/ref/elementwise.h,
 *          runtime/ref/reduce.h, runtime/ref/adam.h) in fp32, outputs then
 *          rounded to the buffer's dtype (bf16: to nearest even);
 *   again  launched with the emulator's random thread and block order,
 *          poisoned shared memory, and cp.async copies and warpgroup
 *          products completing as late as their waits allow.
 got's outputs must match want's within the tolerance in every element
 * (one the kernel must leave alone, such as the gap between two tables, is
 * expected unchanged), its inputs must be unchanged bit for bit, again must
 * equal got byte for byte, and the guard bytes around each buffer must be
 * intact. Under ASan the buffers end exactly where the data ends, so that
 * the sanitizer catches reads past the end as well as writes. The worst
 * error printed is over the outputs. A reduction that spans blocks runs as
 * the runtime will run it, both stages (the Kind's `then`): its partial
 * sums are checked for reproducibility, its result against the ref code.
 *
 * Tolerances are in units in the last place of the output's dtype. 0 for
 * the elementwise kernels: the templates promise the ref executor's fp32
 * operation order and one rounding per output, and both sides are built
 * without FMA contraction (-ffp-contract=off here, --fmad=false in NVRTC),
 * so any difference is a bug, not noise. The reductions sum in fp32 in
 * their own fixed order where the ref code sums in double, so each of their
 * references also sets a bound per element, derived from the kernel's
 * summation depth and the roundings that follow (each kind says how); an
 * element passes within the ulps or, both sides finite, within its bound
 * plus one ulp (the output's own rounding). The line printed gives each output's worst ulps,
 * worst absolute error and the largest fraction of its bound used.
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

#include "runtime/ref/adam.h"
#include "runtime/ref/muon.h"

#include "runtime/ref/attention.h"
#include "runtime/ref/elementwise.h"
#include "kernels.h"
#include "runtime/ref/reduce.h"
#include "runtime/ref/rotary.h"
#include "runtime/device/sim/sim.h"
#include "runtime/data/token_segments.h"
#include "compiler/util/strlist.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define UNDER_ASAN 1
#else
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define UNDER_ASAN 0
#endif

#ifdef GPTC_KERNELS_GPU
#if UNDER_ASAN
#error "the GPU mode is not built under ASan: its device copies include the poisoned guards"
#endif
/* Passed as a launch's options, sends the launch to the GPU (gpu_mode.h). */
static const GptcSimOptions on_gpu;
static int gpu_launch(const GptcKernel *k, const GptcSimLaunch *l, void **args);
#endif

#define MAX_TABLES 16
#define MAX_BUFS 16
#define MAX_ARGS 16
#define U32 0x1p-24 /* fp32 unit roundoff */
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

typedef enum { BF16, F32, I32, U16 } BufType; /* U16: raw 16-bit words (Muon's low plane) */

static const char *dtype_name(BufType t) {
    return t == BF16 ? "bf16" : t == F32 ? "fp32" : t == U16 ? "uint16" : "int32";
}
static size_t dtype_size(BufType t) { return t == BF16 || t == U16 ? 2 : 4; }

typedef struct {
    const char *name;
    BufType dtype;
    size_t n;
    bool output;        /* written by the kernel; an input must come back unchanged */
    bool scratch;       /* an output with no ref value (a reduction's partial sums):
                           only checked for bitwise reproducibility and bounds */
    unsigned char *mem; /* the allocation */
    void *p;            /* the data, LEAD bytes into it */
} Buf;

/* The data starts 3 * ALIGN bytes into a block aligned to 4 * ALIGN: aligned
 * to exactly kernels.h's promise and no more, so that a kernel relying on more
 * alignment would fault (the vector types are over-aligned). */
#define ALIGN GPTC_KERNELS_ALIGN_BYTES
#define LEAD (3 * ALIGN)
#define TRAIL (UNDER_ASAN ? 0 : 64)
#define GUARD 0xA5

static void buf_alloc(Buf *b, const char *name, BufType t, size_t n, bool output) {
    size_t bytes = n * dtype_size(t);
    void *mem;
    if (posix_memalign(&mem, 4 * ALIGN, LEAD + bytes + TRAIL)) {
        fprintf(stderr, "test_kernels: out of memory\n");
        exit(2);
    }
    *b = (Buf){name, t, n, output, false, mem, (unsigned char *)mem + LEAD};
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
    if (b->dtype == I32) return (float)((const int *)b->p)[i];
    if (b->dtype == U16) return (float)((const uint16_t *)b->p)[i];
    return b->dtype == BF16 ? bf16_to_float(((const uint16_t *)b->p)[i]) : ((const float *)b->p)[i];
}

static void buf_set(Buf *b, size_t i, float v) {
    if (b->dtype == BF16) ((uint16_t *)b->p)[i] = float_to_bf16(v);
    else if (b->dtype == I32) ((int *)b->p)[i] = (int)v;
    else if (b->dtype == U16) ((uint16_t *)b->p)[i] = (uint16_t)v;
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
    int rows;        /* row kernels: the rows argument */
    int pad_vecs;    /* x0 mix: table_stride - rows * WIDTH, in vectors */
    bool inplace;    /* the output is written over its input */
    long long n;     /* flat kernels: the size argument */
    int hyper;       /* Adam: which hyperparameters */
    int step;        /* Adam: the training step */
    bool accumulate; /* RMS norm backward, column sums: add into the output */
    bool special;    /* a few rows of edge cases (each kind says which) */
    int cols;        /* column sums: the cols argument */
    int window;      /* attention: window_blocks (rows = T) */
} Shape;

typedef struct {
    int nbufs;
    Buf b[MAX_BUFS];
    /* The pointer arguments' values: the buffers', and one more that may be
     * NULL (softcap_ce's dlogits for the loss alone). */
    void *ptr[MAX_BUFS + 1];
    long long ll;        /* table_stride or n */
    int ints[4];         /* lambda_off / out_off, rows / n, accumulate / cols, count */
    float scale;         /* column sums */
    AdamCoefs coefs;
    float f[2];          /* Muon: the kernel's float arguments */
    long long n2;        /* Muon normalize: n (ll is per_matrix) */
    void *args[MAX_ARGS]; /* as cuLaunchKernel's kernelParams */
    /* Set by a kind's reference where an output may differ from the ref
     * code by more than the kind's tolerance in ulps: the absolute error
     * allowed per element (a bound derived from the two summation orders;
     * see each kind). */
    double *bound[MAX_BUFS];
    /* Pointer arguments that a case may set to NULL (qkv's ve and dve, embed's
     * rstd), beside ptr[MAX_BUFS]. */
    void *maybe[2];
} Case;

static Buf *add_buf(Case *c, const char *name, BufType t, size_t n, bool output) {
    Buf *b = &c->b[c->nbufs];
    buf_alloc(b, name, t, n, output);
    c->ptr[c->nbufs++] = b->p;
    return b;
}

static void case_free(Case *c) {
    for (int i = 0; i < c->nbufs; i++) buf_free(&c->b[i]), free(c->bound[i]);
}

static void *xmalloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) {
        fprintf(stderr, "test_kernels: out of memory\n");
        exit(2);
    }
    return p;
}

/* Buffer i's per-element bounds, zeroed, for a reference to fill. */
static double *new_bound(Case *c, int i) {
    return c->bound[i] = xmalloc(sizeof(double) * c->b[i].n);
}

/* The spacing of bf16 values at |v| (the smallest subnormal's at 0 or
 * NaN). */
static double bf16_ulp(double v) {
    v = fabs(v);
    return !(v >= 0x1p-126) ? 0x1p-133 : isinf(v) ? INFINITY : ldexp(1.0, ilogb(v) - 7);
}

/* The spacing of fp32 values at |v| (as bf16_ulp). */
static double f32_ulp(double v) {
    v = fabs(v);
    return !(v >= 0x1p-126) ? 0x1p-149 : isinf(v) ? INFINITY : ldexp(1.0, ilogb(v) - 23);
}

/* ceil(log2(n)) for n >= 1: the depth of a butterfly or tree over n. */
static int log2_ceil(long long n) {
    int l = 0;
    while ((1LL << l) < n) l++;
    return l;
}

static long long kconst(const GptcKernel *k, const char *name) {
    for (int i = 0; i < k->nconsts; i++)
        if (!strcmp(k->consts[i].name, name)) return k->consts[i].value;
    return -1;
}

/* ---- the x0 mix (templates/x0_mix.cu) ---- */

/* Buffers: 0 xs, 1 the tables, 2 the scalars, 3 xm unless in place. */
static void x0_fwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    int tables = (int)kconst(k, "TABLES");
    size_t n = (size_t)s->rows * k->row_elems;
    c->ll = (long long)n + (long long)s->pad_vecs * k->elems_per_thread;
    fill(add_buf(c, "xs", BF16, n, s->inplace), r, -8, 3, false, 0);
    fill(add_buf(c, "x0", BF16, (size_t)tables * c->ll, false), r, -8, 3, false, 0);
    fill(add_buf(c, "scalars", F32, NSCALARS, false), r, -3, 1, false, 0);
    int out = 0;
    if (!s->inplace) {
        fill(add_buf(c, "xm", BF16, n, true), r, -8, 3, false, 0);
        out = 3;
    }
    c->ints[0] = 1 + s->rows % 7; /* lambda_off: not the vector's start */
    c->ints[1] = s->rows;
    void **a = c->args;
    a[0] = &c->ptr[out], a[1] = &c->ptr[0], a[2] = &c->ptr[1], a[3] = &c->ll;
    a[4] = &c->ptr[2], a[5] = &c->ints[0], a[6] = &c->ints[1];
}

/* xm = buffer 3 (or 0 in place) from xs = 0 and the tables = 1. */
static void x0_fwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    int tables = (int)kconst(k, "TABLES");
    size_t n = c->b[0].n;
    float *in = buf_floats(&c->b[0]), *tab = buf_floats(&c->b[1]);
    float *out = s->inplace ? in : buf_floats(&c->b[3]);
    const float *lam = (const float *)c->b[2].p + c->ints[0];
    const float *ct[MAX_TABLES];
    for (int i = 0; i < tables; i++) ct[i] = tab + (size_t)i * c->ll;
    x0_mix_fwd(out, in, ct, lam, tables, n);
    buf_store(&c->b[s->inplace ? 0 : 3], out);
    free(in);
    free(tab);
    if (!s->inplace) free(out);
}

/* ---- relu^2 (templates/relu2.cu) ---- */

/* Buffers: 0 pre, 1 act unless in place. pre holds a few NaNs: the
 * contract maps them to 0, as the ref code does. */
static void relu2_fwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t n = (size_t)s->rows * k->row_elems;
    fill(add_buf(c, "pre", BF16, n, s->inplace), r, -8, 3, false, 1.0 / 128);
    if (!s->inplace) fill(add_buf(c, "act", BF16, n, true), r, -8, 3, false, 0);
    c->ints[1] = s->rows;
    c->args[0] = &c->ptr[s->inplace ? 0 : 1], c->args[1] = &c->ptr[0], c->args[2] = &c->ints[1];
}

static void relu2_fwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)k;
    float *pre = buf_floats(&c->b[0]), *act = s->inplace ? pre : buf_floats(&c->b[1]);
    relu2_fwd(act, pre, c->b[0].n);
    buf_store(&c->b[s->inplace ? 0 : 1], act);
    free(pre);
    if (!s->inplace) free(act);
}

/* Buffers: 0 dact, 1 pre, 2 dpre unless in place. */
static void relu2_bwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t n = (size_t)s->rows * k->row_elems;
    fill(add_buf(c, "dact", BF16, n, s->inplace), r, -8, 3, false, 0);
    fill(add_buf(c, "pre", BF16, n, false), r, -8, 3, false, 1.0 / 128);
    if (!s->inplace) fill(add_buf(c, "dpre", BF16, n, true), r, -8, 3, false, 0);
    c->ints[1] = s->rows;
    c->args[0] = &c->ptr[s->inplace ? 0 : 2], c->args[1] = &c->ptr[0], c->args[2] = &c->ptr[1];
    c->args[3] = &c->ints[1];
}

static void relu2_bwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
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
static void adam_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
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

static void adam_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)k;
    adam_apply(c->b[0].p, c->b[1].p, c->b[2].p, c->b[3].p, (size_t)s->n, &c->coefs);
}

/* ---- RMS norm (templates/rmsnorm.cu) ---- */

/* The kernel's fp32 sums: each thread adds CHUNKS * VEC terms in order,
 * then a tree of depth log2(TPR) joins the threads of a row, so a sum of n
 * terms of one sign is off by at most (CHUNKS * VEC + log2 TPR) u of it
 * (u = 2^-24; the products of two bf16 values are exact in fp32). The ref
 * code sums in double. */
static int rms_depth(const GptcKernel *k) {
    long long nvec = k->row_elems / k->elems_per_thread, tpr = kconst(k, "TPR");
    return (int)((nvec + tpr - 1) / tpr * k->elems_per_thread) + log2_ceil(tpr);
}

/* A view of rows [from, to) of a [rows, width] buffer, for fill(). */
static Buf rows_of(const Buf *b, size_t width, size_t from, size_t to) {
    Buf v = *b;
    v.p = (unsigned char *)b->p + from * width * dtype_size(b->dtype);
    v.n = (to - from) * width;
    return v;
}

/* Edge rows, when there are at least 4: all zeros (rstd = eps^-1/2), large
 * values (2^12 .. 2^20), values so small that eps dominates, and one value
 * repeated. */
static void rms_edge_rows(Buf *x, size_t width, Rng *r) {
    Buf v = rows_of(x, width, 0, 1);
    for (size_t i = 0; i < v.n; i++) buf_set(&v, i, 0.0f);
    v = rows_of(x, width, 1, 2);
    fill(&v, r, 12, 20, false, 0);
    v = rows_of(x, width, 2, 3);
    fill(&v, r, -70, -60, false, 0);
    v = rows_of(x, width, 3, 4);
    float same = buf_get(&v, 0);
    for (size_t i = 0; i < v.n; i++) buf_set(&v, i, same);
}

/* Buffers: 0 x, 1 rstd, 2 y unless in place. */
static void rms_fwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t w = (size_t)k->row_elems, n = (size_t)s->rows * w;
    Buf *x = add_buf(c, s->inplace ? "y" : "x", BF16, n, s->inplace);
    fill(x, r, -8, 3, false, 0);
    if (s->special && s->rows >= 4) rms_edge_rows(x, w, r);
    fill(add_buf(c, "rstd", F32, (size_t)s->rows, true), r, -8, 3, false, 0);
    if (!s->inplace) fill(add_buf(c, "y", BF16, n, true), r, -8, 3, false, 0);
    c->ints[1] = s->rows;
    c->args[0] = &c->ptr[s->inplace ? 0 : 2], c->args[1] = &c->ptr[1], c->args[2] = &c->ptr[0];
    c->args[3] = &c->ints[1];
}

/* y: one bf16 ulp, as rstd's few ulps can move x * rstd across a rounding
 * boundary. rstd = (ss / n + eps)^-1/2: its relative error is half that of
 * ss, (depth / 2) u, plus one rounding in each of /n, +eps, sqrt and 1/x on
 * the kernel's side (the ref code's own, in double, is below u). */
static void rms_fwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    int w = k->row_elems;
    float *x = buf_floats(&c->b[0]), *rstd = buf_floats(&c->b[1]);
    float *y = s->inplace ? x : buf_floats(&c->b[2]);
    rmsnorm_fwd(y, rstd, x, s->rows, w);
    buf_store(&c->b[s->inplace ? 0 : 2], y);
    buf_store(&c->b[1], rstd);
    double *bound = new_bound(c, 1), rel = (rms_depth(k) / 2.0 + 4) * U32;
    for (int t = 0; t < s->rows; t++) bound[t] = rel * rstd[t];
    free(x);
    free(rstd);
    if (!s->inplace) free(y);
}

/* Buffers: 0 dy, 1 y, 2 rstd, 3 dx unless in place (dx = dy). */
static void rms_bwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t w = (size_t)k->row_elems, n = (size_t)s->rows * w;
    Buf *dy = add_buf(c, s->inplace ? "dx" : "dy", BF16, n, s->inplace);
    fill(dy, r, -12, 0, false, 0);
    Buf *y = add_buf(c, "y", BF16, n, false);
    fill(y, r, -4, 2, false, 0);
    if (s->special && s->rows >= 4) {
        rms_edge_rows(dy, w, r);
        Buf v = rows_of(y, w, 3, 4); /* y = dy: m carries the whole row */
        for (size_t i = 0; i < v.n; i++) buf_set(&v, i, buf_get(dy, 3 * w + i));
    }
    fill(add_buf(c, "rstd", F32, (size_t)s->rows, false), r, -3, 6, true, 0);
    if (!s->inplace) fill(add_buf(c, "dx", BF16, n, true), r, -12, 0, false, 0);
    c->ints[1] = s->rows;
    c->ints[2] = s->accumulate;
    c->args[0] = &c->ptr[s->inplace ? 0 : 3], c->args[1] = &c->ptr[0], c->args[2] = &c->ptr[1];
    c->args[3] = &c->ptr[2], c->args[4] = &c->ints[2], c->args[5] = &c->ints[1];
}

/* dx = r (dy - y m), m = sum(dy y) / n. The kernel's m is off from the ref
 * code's by at most depth u S / n + 2 u |m| (S = sum |dy y|), which moves
 * g by r |y| times that; each side's three roundings (y m, the
 * difference, r times it) add up to 3 u r (|dy| + |y m|), and with
 * accumulate one more of u (|dx| + |g|). Cancellation in dy - y m makes
 * this absolute, not relative to dx. */
static void rms_bwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    int w = k->row_elems, depth = rms_depth(k);
    float *dy = buf_floats(&c->b[0]), *y = buf_floats(&c->b[1]), *rstd = buf_floats(&c->b[2]);
    float *dx = s->inplace ? dy : buf_floats(&c->b[3]);
    double *bound = new_bound(c, s->inplace ? 0 : 3);
    for (int t = 0; t < s->rows; t++) {
        const float *dyr = dy + (size_t)t * w, *yr = y + (size_t)t * w;
        double S = 0, dot = 0;
        for (int i = 0; i < w; i++) S += fabs((double)dyr[i] * yr[i]), dot += (double)dyr[i] * yr[i];
        double m = dot / w, dm = depth * U32 * S / w + 2 * U32 * fabs(m), r = rstd[t];
        for (int i = 0; i < w; i++) {
            double g = r * (dyr[i] - yr[i] * m), old = s->accumulate ? dx[(size_t)t * w + i] : 0;
            bound[(size_t)t * w + i] = r * fabs(yr[i]) * dm + 6 * U32 * r * (fabs(dyr[i]) + fabs(yr[i] * m)) +
                                       (s->accumulate ? 2 * U32 * (fabs(old) + fabs(g)) : 0);
        }
    }
    rmsnorm_bwd(dx, s->accumulate, dy, y, rstd, s->rows, w);
    buf_store(&c->b[s->inplace ? 0 : 3], dx);
    free(dy);
    free(y);
    free(rstd);
    if (!s->inplace) free(dx);
}

/* ---- the x0-mix lambdas' gradients (templates/x0_lambda_grad.cu, then
 * templates/colsum.cu) ---- */

static int launch_args(const GptcKernel *k, void **args, int rows, long long n,
                       const GptcSimOptions *opt);

/* The plan's kernel of a family, or NULL. */
static const GptcKernel *plan_family(const char *family) {
    for (int i = 0; i < GPTC_KERNELS_KERNEL_COUNT; i++)
        if (!strcmp(gptc_kernels[i].family, family)) return &gptc_kernels[i];
    return NULL;
}

/* The depth of colsum's sum of n values: each thread adds VEC values per
 * step for ceil(n / (THREADS * VEC)) steps, then a tree over THREADS. */
static int colsum_depth(long long n) {
    const GptcKernel *k = plan_family("colsum");
    long long per_step = (long long)k->threads * k->elems_per_thread;
    return (int)((n + per_step - 1) / per_step * k->elems_per_thread) + log2_ceil(k->threads);
}

/* colsum(out, out_off, in, n, cols, scale, accumulate), in the second
 * stage's own launch. */
static int launch_colsum(float **out, int *out_off, float **in, int *n, int *cols, float *scale,
                         int *accumulate, const GptcSimOptions *opt) {
    void *args[] = {out, out_off, in, n, cols, scale, accumulate};
    return launch_args(plan_family("colsum"), args, 0, 0, opt);
}

/* Buffers: 0 dxm, 1 xs, 2 the tables, 3 the partial sums (scratch), 4 the
 * scalar gradients, into which the second stage adds at lambda_off, 5 the
 * scalars, 6 dx0 (accumulated into), 7 dxs unless in place (then over
 * dxm). */
static void lambda_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    int tables = (int)kconst(k, "TABLES"), parts = (int)kconst(k, "PARTS");
    size_t n = (size_t)s->rows * k->row_elems;
    c->ll = (long long)n + (long long)s->pad_vecs * k->elems_per_thread;
    fill(add_buf(c, "dxm", BF16, n, s->inplace), r, -12, 0, false, 0);
    fill(add_buf(c, "xs", BF16, n, false), r, -8, 3, false, 0);
    fill(add_buf(c, "x0", BF16, (size_t)tables * c->ll, false), r, -8, 3, false, 0);
    Buf *partial = add_buf(c, "partial", F32, (size_t)parts * (1 + tables), true);
    partial->scratch = true;
    fill(partial, r, -8, 3, false, 0);
    fill(add_buf(c, "dscalars", F32, NSCALARS, true), r, -6, 0, false, 0);
    fill(add_buf(c, "scalars", F32, NSCALARS, false), r, -3, 1, false, 0);
    fill(add_buf(c, "dx0", BF16, (size_t)tables * c->ll, true), r, -12, 0, false, 0);
    int dxs = 0;
    if (!s->inplace) {
        fill(add_buf(c, "dxs", BF16, n, true), r, -8, 3, false, 0);
        dxs = 7;
    }
    c->ints[0] = 1 + s->rows % 7; /* lambda_off */
    c->ints[1] = s->rows;
    c->ints[2] = parts, c->ints[3] = 1 + tables;
    c->scale = 1.0f;
    void **a = c->args;
    a[0] = &c->ptr[3], a[1] = &c->ptr[dxs], a[2] = &c->ptr[6], a[3] = &c->ptr[0], a[4] = &c->ptr[1];
    a[5] = &c->ptr[2], a[6] = &c->ptr[5], a[7] = &c->ll, a[8] = &c->ints[0], a[9] = &c->ints[1];
}

static int lambda_then(Case *c, const GptcKernel *k, const Shape *s, const GptcSimOptions *opt) {
    (void)k, (void)s;
    static int one = 1;
    return launch_colsum((float **)&c->ptr[4], &c->ints[0], (float **)&c->ptr[3], &c->ints[2], &c->ints[3],
                         &c->scale, &one, opt);
}

/* dxs and dx0 as the ref code's x0_mix_bwd (the same fp32 operations and
 * one rounding each, so within 0 ulp), and dscalars[lambda_off + j] +=
 * dot(dxm, xs or x0_(j-1)), the ref code's dot in float. The kernels' sum of the n exact products has depth D =
 * VEC + ceil(n / (VEC * PARTS * THREADS)) (a thread's vectors) + log2
 * THREADS (the block) + colsum's depth over PARTS, so it is off from the
 * exact sum by at most D u S, S = sum |dxm x|; the ref code's double sum
 * rounds once to float (u |dot|), and both sides add it to dscalars with
 * one more rounding each. */
static void lambda_reference(Case *c, const GptcKernel *k, const Shape *s) {
    int tables = (int)kconst(k, "TABLES"), parts = (int)kconst(k, "PARTS");
    size_t n = c->b[0].n;
    long long nvec = (long long)n / k->elems_per_thread, per_pass = (long long)parts * k->threads;
    int depth = k->elems_per_thread + (int)((nvec + per_pass - 1) / per_pass) + log2_ceil(k->threads) +
                colsum_depth(parts);
    float *dxm = buf_floats(&c->b[0]), *dsc = c->b[4].p;
    double *bound = new_bound(c, 4);
    float *d0 = buf_floats(&c->b[6]), *dxs = xmalloc(sizeof(float) * n), *t[MAX_TABLES];
    for (int i = 0; i < tables; i++) t[i] = d0 + (size_t)i * c->ll;
    x0_mix_bwd(dxs, t, dxm, (const float *)c->b[5].p + c->ints[0], tables, n);
    buf_store(&c->b[s->inplace ? 0 : 7], dxs);
    buf_store(&c->b[6], d0);
    free(d0), free(dxs);
    for (int j = 0; j <= tables; j++) {
        float *x = buf_floats(j == 0 ? &c->b[1] : &c->b[2]);
        const float *src = j == 0 ? x : x + (size_t)(j - 1) * c->ll;
        double S = 0;
        for (size_t i = 0; i < n; i++) S += fabs((double)dxm[i] * src[i]);
        float old = dsc[c->ints[0] + j], d = dot(dxm, src, n);
        dsc[c->ints[0] + j] += d;
        bound[c->ints[0] + j] = depth * U32 * S + U32 * fabs(d) + 2 * U32 * (fabs(old) + fabs(d));
        free(x);
    }
    free(dxm);
}

/* ---- column sums (templates/colsum.cu) on their own ---- */

/* Buffers: 0 out, 1 in [n, cols]. */
static void colsum_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    (void)k;
    fill(add_buf(c, "out", F32, NSCALARS, true), r, -6, 4, false, 0);
    fill(add_buf(c, "in", F32, (size_t)s->n * s->cols, false), r, -20, 4, false, 0);
    c->ints[0] = 1 + (int)(s->n % 7), c->ints[1] = (int)s->n, c->ints[2] = s->cols;
    c->ints[3] = s->accumulate;
    c->scale = s->hyper ? (float)(1.0 / (double)s->n) : 1.0f;
    void **a = c->args;
    a[0] = &c->ptr[0], a[1] = &c->ints[0], a[2] = &c->ptr[1], a[3] = &c->ints[1], a[4] = &c->ints[2];
    a[5] = &c->scale, a[6] = &c->ints[3];
}

/* No ref code sums partials on their own (its dot() and mean loss do it
 * inside), so the expectation is the exact sum (double), scaled and
 * rounded once: colsum's sum is off by at most depth u sum |in|, then one
 * rounding for the scale and one for the accumulation. */
static void colsum_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)k;
    const float *in = c->b[1].p;
    float *out = c->b[0].p;
    double *bound = new_bound(c, 0);
    int off = c->ints[0], depth = colsum_depth(s->n);
    for (int j = 0; j < s->cols; j++) {
        double sum = 0, S = 0;
        for (long long i = 0; i < s->n; i++) sum += in[i * s->cols + j], S += fabs(in[i * s->cols + j]);
        float v = (float)(sum * c->scale), old = out[off + j];
        out[off + j] = s->accumulate ? old + v : v;
        bound[off + j] = (depth * U32 * S + U32 * fabs(sum)) * c->scale + 2 * U32 * (fabs(old) + fabs(v));
    }
}

/* ---- softcap + cross-entropy (templates/softcap_ce.cu, then colsum.cu
 * for the mean) ---- */

/* A float constant of the plan (its IEEE-754 bits). */
static float kconst_float(const GptcKernel *k, const char *name) {
    uint32_t u = (uint32_t)kconst(k, name);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Buffers: 0 logits, 1 targets, 2 row_loss, 3 loss (the mean, at index
 * 0), 4 dlogits unless in place or loss only (hyper 1: dlogits NULL). Edge
 * rows (at least 5 rows): all logits equal; huge logits (2^10 .. 2^30 of
 * either sign: the softcap saturates); the target on the last padded
 * class; the target on class 0 with the row's largest logit; one logit
 * far above the rest. Targets otherwise anywhere in the padded row. */
static void ce_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t v = (size_t)k->row_elems, n = (size_t)s->rows * v;
    bool grad = s->hyper == 0;
    Buf *logits = add_buf(c, s->inplace ? "dlogits" : "logits", BF16, n, s->inplace);
    fill(logits, r, -4, 3, false, 0);
    Buf *targets = add_buf(c, "targets", I32, (size_t)s->rows, false);
    int *tg = targets->p;
    for (int t = 0; t < s->rows; t++) tg[t] = (int)(rng_next(r) % v);
    if (s->special && s->rows >= 5) {
        for (size_t i = 0; i < v; i++) buf_set(logits, i, 1.5f);
        Buf row = rows_of(logits, v, 1, 2);
        fill(&row, r, 10, 30, false, 0);
        tg[2] = (int)v - 1;
        tg[3] = 0;
        buf_set(logits, 3 * v, 9.0f);
        buf_set(logits, 4 * v + v / 2, 40.0f);
    }
    fill(add_buf(c, "row_loss", F32, (size_t)s->rows, true), r, -4, 3, false, 0);
    fill(add_buf(c, "loss", F32, 4, true), r, -4, 3, false, 0);
    if (grad && !s->inplace) fill(add_buf(c, "dlogits", BF16, n, true), r, -4, 3, false, 0);
    c->ints[0] = 0, c->ints[1] = s->rows, c->ints[2] = 1, c->ints[3] = s->rows; /* count = rows */
    c->scale = (float)(1.0 / s->rows);
    c->ptr[MAX_BUFS] = grad ? c->ptr[s->inplace ? 0 : 4] : NULL;
    void **a = c->args;
    a[0] = &c->ptr[2], a[1] = &c->ptr[MAX_BUFS], a[2] = &c->ptr[0], a[3] = &c->ptr[1], a[4] = &c->ints[3];
    a[5] = &c->ints[1];
}

static int ce_then(Case *c, const GptcKernel *k, const Shape *s, const GptcSimOptions *opt) {
    (void)k, (void)s;
    static int off = 0, cols = 1, no = 0;
    return launch_colsum((float **)&c->ptr[3], &off, (float **)&c->ptr[2], &c->ints[1], &cols, &c->scale, &no,
                         opt);
}

/* The softcap as the bounds below need it: the plan's constants and SS,
 * the slope's constant factor the kernel applies once per block (its
 * SLOPE_SCALE: isru CAP^3, sigmoid CAP / DIV, none 1). */
typedef struct {
    SoftcapKind kind;
    double cap, div, off, ss;
} CeCap;

/* A bound on |z' - z| at raw logit l: z the ref code's softcap, z' = c ZS
 * log(2) the one the kernel's exponents use (templates/softcap_ce.cu),
 * each side's error from the exact softcap added (see ce_reference). */
static double ce_dz(const CeCap *k, double l, double z) {
    if (k->kind == SOFTCAP_NONE) return U32 * fabs(l);
    if (k->kind == SOFTCAP_ISRU) return 12 * U32 * fabs(z);
    double t = (l + k->off) / k->div, w = 1 / (1 + exp(t)); /* w = e / (1 + e), e = exp(-t) */
    double e_kernel = U32 * ((2 * fabs(l) + 3 * fabs(k->off)) / k->div + fabs(t) + 4);
    double kernel = w * e_kernel + 7 * U32, ref = w * 2 * U32 * (fabs(t) + 1) + 2 * U32;
    return fabs(z) * (kernel + ref) + k->cap * 0x1p-126;
}

/* The exact slope d softcap / d l at raw logit l in *slope, and a bound on
 * |SS s' - s_ref|, s' the kernel's slope over SS and s_ref the ref code's
 * (see ce_reference). */
static double ce_dslope(const CeCap *k, double l, double *slope) {
    if (k->kind == SOFTCAP_NONE) return *slope = 1, 0;
    if (k->kind == SOFTCAP_ISRU) {
        double U = k->cap * k->cap / (l * l + k->cap * k->cap);
        *slope = U * sqrt(U);
        return 17 * U32 * *slope + 16.5 * U32 * sqrt(U + 11 * U32);
    }
    double t = (l + k->off) / k->div, c = 1 / (1 + exp(-t)), w = 1 / (1 + exp(t)); /* w = 1 - c */
    *slope = k->ss * c * w;
    double e_kernel = U32 * ((2 * fabs(l) + 3 * fabs(k->off)) / k->div + fabs(t) + 4);
    double kernel = w * e_kernel + 5 * U32, ref = w * 2 * U32 * (fabs(t) + 1) + 2 * U32;
    return *slope * (kernel + ref + 4 * U32) + k->ss * c * c * (kernel + ref + U32);
}

/* The ref code: softcap_fwd, cross_entropy_fwd (row losses and their
 * mean), cross_entropy_bwd, against the kernel's fast arithmetic: exp2,
 * rsqrt and reciprocal within 2 ulp each (a relative 4u, u = 2^-24, on
 * the GPU by CUDA's programming guide; sim computes them to within an
 * ulp), log2f within 1 ulp, and every other operation one rounding. Each
 * bound is first order in u: where its relative terms add up to under
 * 2^-14, the products of two or more of them are below 2^-28 of the value.
 *
 * The softcap. The kernel's exponents use z' = c ZS log(2), c = l r
 * (isru) or 1 / (1 + e) (sigmoid), with no rounding of the product (an
 * fma); ZS = CAP log2(e) rounded twice, 2u. The ref code's z is off the
 * exact softcap by (relative) isru 4u (x * x, cap * cap, their sum, sqrt
 * and its rounding, cap * x, the division); sigmoid w (2u |t| + 2u) + 2u,
 * t = (l + OFFSET) / DIV, w = e / (1 + e) with e = exp(-t) the share of e's
 * error that reaches 1 + e (the rounded exponent, expf's ulp, 1 + e, the
 * division). The kernel's: isru 8u (l^2 + CAP^2 off by 2u makes r off by
 * u, rsqrt 4u, l r, ZS); sigmoid w (u (2 |l| + 3 |OFFSET|) / DIV + u |t| +
 * 4u) + 7u (the exponent l NEG_K + NEG_OFF_K from constants off by 2u and
 * 3u, its rounding, exp2, 1 + e, the reciprocal, ZS); none u |l| (log2(e)
 * rounded). So |z' - z| <= dz: 12u |z|, |z| times the two sigmoid terms,
 * plus CAP 2^-126 for a c below 2^-126 that the GPU flushes to 0.
 *
 * The sum. Both sides take S = sum exp(z - M) from the row's own z, M its
 * max. With p = exp(z - M) / S (exact, from the ref code's z), moving every
 * z by at most dz moves log S + M by at most sum p dz exp(2 max dz) (the
 * mean value theorem; a p moves by at most exp(2 max dz)), and by at most
 * max dz, and a log p by that plus its own dz. Each side rounds each
 * exponent, the kernel through a chain (c ZS - m, then m - m' at each
 * rescaling, m' - M) whose parts share a sign: u (M - z) in all, u PA per
 * side over the row with PA = sum p (M - z). The kernel's S is further
 * off by u (D + 5 (R + 1) + 4): D = VEC R + log2 THREADS, the depth of its
 * sum (R vectors per thread); R + 1 rescalings, each an exp2 (4u) and a
 * product; the term's exp2 (4u). The ref code sums in double (below u),
 * and the terms below 2^-126 that the GPU flushes add up to under 2^-100
 * of S (at least 1). So E = u (D + 5 (R + 1) + 4 + 2 PA).
 *
 * Row loss. log2f adds 2u log S; the kernel's roundings of z[y] ZS, M -
 * z[y], the sum and the product by log(2): u (M - z[y] + |z[y]| + 2 loss).
 * In all: sum p dz exp(2 max dz) + dz[y] + E + 2u log S + those. The
 * final roundings of both sides are the ulp compare() adds.
 *
 * dlogits. The kernel computes 2^(c ZS - L') (p times sc = SS / count: the
 * per-block factor folded into the exponent, L' = M + log2 S - log2 sc in
 * base 2), then multiplies by its slope (over SS) and stores (p - 1) sc
 * times that at the target. p there is off by (relative) its S (E less
 * the ref code's u PA), log2f (2u log S), the roundings of M + log S (u
 * |L|, L = M + log S), of sc (u per rounding: isru 3, sigmoid 2, none 1),
 * log2f(sc) (2u |log sc|), L' (u |L - log sc|), the exponent (u |log(p
 * sc)|) and exp2 (4u), and the moved z (dz + sum p dz exp(2 max dz)); the
 * ref code's p by u (M - z) + u PA + u (its exponent, S and p's rounding).
 * The slopes differ by ce_dslope's bound: isru 17u s (r^3, 15u; the ref
 * code's sqrt and product) + 1.5 sqrt(U + 11u) 11u, U = CAP^2 / (l^2 +
 * CAP^2) and 11u the ref code's error in U = 1 - (z / CAP)^2, which
 * cancels as z nears CAP; sigmoid c (1 - c) off by e_c (1 + 1 / e) + u on
 * the kernel's side (e_c = c's error, 1 - c cancelling as c nears 1) and
 * e_z + (e_z + u) / e + 3u on the ref code's. Then the kernel's products
 * (isru 3, sigmoid 2) and the ref code's division by count and product
 * round once each, the target's p - 1 once per side: (products + 2) u |p
 * - onehot| s / count, 2u more at the target. Last, a product p sc below
 * 2^-126 (or a sigmoid c) that the GPU flushes to 0: 2^-126 (s / SS + sc).
 *
 * Mean: the row losses' bounds over count, colsum's depth u sum |row
 * loss| / count, and the scale and the ref code's double rounded to
 * float: 2u |mean|. */
static void ce_reference(Case *c, const GptcKernel *k, const Shape *s) {
    int v = k->row_elems, T = s->rows;
    CeCap cc = {(SoftcapKind)kconst(k, "SOFTCAP"), kconst_float(k, "CAP"), kconst_float(k, "DIV"),
                kconst_float(k, "OFFSET"), 1};
    cc.ss = cc.kind == SOFTCAP_ISRU ? cc.cap * cc.cap * cc.cap : cc.kind == SOFTCAP_SIGMOID ? cc.cap / cc.div : 1;
    bool grad = s->hyper == 0;
    size_t n = (size_t)T * v;
    float *l = buf_floats(&c->b[0]), *z = buf_floats(&c->b[0]), *row_loss = c->b[2].p, *loss = c->b[3].p;
    const int *tg = c->b[1].p;
    softcap_fwd(z, n, cc.kind, (float)cc.cap, (float)cc.div, (float)cc.off);
    loss[0] = (float)cross_entropy_fwd(row_loss, z, tg, T, v);
    int nvec = v / k->elems_per_thread, R = (nvec + k->threads - 1) / k->threads;
    int depth = k->elems_per_thread * R + log2_ceil(k->threads);
    int products = cc.kind == SOFTCAP_ISRU ? 3 : cc.kind == SOFTCAP_SIGMOID ? 2 : 0;
    int sc_roundings = cc.kind == SOFTCAP_ISRU ? 3 : cc.kind == SOFTCAP_SIGMOID ? 2 : 1;
    double sc = cc.ss / T;
    double *bl = new_bound(c, 2), *bd = grad ? new_bound(c, s->inplace ? 0 : 4) : NULL;
    double *dz = xmalloc(sizeof(double) * v);
    double sum_bounds = 0, sum_abs = 0;
    float *dl = grad ? xmalloc(sizeof(float) * n) : NULL;
    if (grad) cross_entropy_bwd(dl, z, tg, T, v, cc.kind, (float)cc.cap, (float)cc.div);
    for (int t = 0; t < T; t++) {
        const float *zt = z + (size_t)t * v, *lt = l + (size_t)t * v;
        int y = tg[t];
        double M = zt[0], S = 0, PA = 0, Pdz = 0, dz_max = 0;
        for (int i = 1; i < v; i++) M = fmax(M, zt[i]);
        for (int i = 0; i < v; i++) {
            double e = exp(zt[i] - M);
            dz[i] = ce_dz(&cc, lt[i], zt[i]);
            S += e, PA += e * (M - zt[i]), Pdz += e * dz[i], dz_max = fmax(dz_max, dz[i]);
        }
        PA /= S;
        double moved = fmin(Pdz / S * exp(2 * dz_max), dz_max), logS = log(S), L = M + logS;
        double E_kernel = U32 * (depth + 5 * (R + 1) + 4 + PA), E_ref = U32 * PA;
        double lossv = L - zt[y];
        bl[t] = moved + dz[y] + E_kernel + E_ref + 2 * U32 * logS +
                U32 * (M - zt[y] + fabs(zt[y]) + 2 * fabs(lossv));
        sum_bounds += bl[t], sum_abs += fabs(row_loss[t]);
        /* p's relative errors common to the row: the kernel's S, log2f, M + log S, sc, log2f(sc) and L'. */
        double row_kernel = E_kernel + 2 * U32 * logS + U32 * fabs(L) + sc_roundings * U32 +
                            2 * U32 * fabs(log(sc)) + U32 * fabs(L - log(sc)) + 4 * U32;
        for (int i = 0; grad && i < v; i++) {
            double p = exp(zt[i] - M) / S, slope, dslope = ce_dslope(&cc, lt[i], &slope);
            double g = fabs(p - (i == y));
            /* p's relative error r as p (e^r - 1); p |log(p sc)| -> 0 as p -> 0. */
            double dp = p * expm1(row_kernel + (p > 0 ? U32 * fabs(log(p * sc)) : 0) + U32 * (M - zt[i]) + E_ref +
                                  U32 + dz[i] + moved);
            bd[(size_t)t * v + i] = (dp * slope + g * dslope + (products + 2 + 2 * (i == y)) * U32 * g * slope) / T +
                                    0x1p-126 * (slope / cc.ss + sc);
        }
    }
    double *bm = new_bound(c, 3);
    bm[0] = (sum_bounds + colsum_depth(T) * U32 * sum_abs) / T + 2 * U32 * fabs(loss[0]);
    if (grad) buf_store(&c->b[s->inplace ? 0 : 4], dl);
    free(l);
    free(z);
    free(dz);
    free(dl);
}

/* ---- the embedding tables (templates/embed.cu) ---- */

/* A buffer of ints, for ids and segments. */
static int *add_ints(Case *c, const char *name, size_t n) {
    return add_buf(c, name, I32, n, false)->p;
}

#define EMBED_VOCAB 50 /* table rows in the forward cases: every row used many times */

/* The forward pass's buffers: 0 table [EMBED_VOCAB, WIDTH] fp32, 1 ids, 2
 * rstd (an output with the norm only: without it the kernel must leave it
 * alone), 3 y. hyper 0: norm; 1: no norm; 2: no norm and rstd NULL. Edge
 * rows (special): tokens 0 .. 3 are table rows of zeros, large values,
 * values so small that eps dominates, one value repeated. */
static void embed_fwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t w = (size_t)k->row_elems;
    Buf *table = add_buf(c, "table", F32, EMBED_VOCAB * w, false);
    fill(table, r, -8, 3, false, 0);
    if (s->special) rms_edge_rows(table, w, r);
    int *ids = add_ints(c, "ids", (size_t)s->rows);
    for (int t = 0; t < s->rows; t++) ids[t] = s->special && t < 4 ? t : (int)(rng_next(r) % EMBED_VOCAB);
    fill(add_buf(c, "rstd", F32, (size_t)s->rows, s->hyper == 0), r, -8, 3, false, 0);
    fill(add_buf(c, "y", BF16, (size_t)s->rows * w, true), r, -8, 3, false, 0);
    c->ints[1] = s->rows, c->ints[2] = s->hyper == 0;
    c->maybe[0] = s->hyper == 2 ? NULL : c->ptr[2];
    void **a = c->args;
    a[0] = &c->ptr[3], a[1] = &c->maybe[0], a[2] = &c->ptr[0], a[3] = &c->ptr[1], a[4] = &c->ints[2];
    a[5] = &c->ints[1];
}

/* The ref code: embed_gather, then rmsnorm_fwd. Without the norm y is the
 * row rounded to bf16: exact (no bound). With it, rstd as the RMS norm
 * kind's, one more u of depth for the squares of fp32 values (they round,
 * where bf16 squares are exact); y = x rstd moves by |x| times rstd's
 * bound, plus each side's fp32 rounding of the product. */
static void embed_fwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    int w = k->row_elems;
    bool norm = c->ints[2];
    float *table = buf_floats(&c->b[0]), *x = xmalloc(sizeof(float) * (size_t)s->rows * w);
    float *y = xmalloc(sizeof(float) * (size_t)s->rows * w), *rstd = c->b[2].p;
    embed_gather(x, table, c->b[1].p, s->rows, w);
    if (norm) {
        rmsnorm_fwd(y, rstd, x, s->rows, w);
        double *br = new_bound(c, 2), *by = new_bound(c, 3), rel = ((rms_depth(k) + 1) / 2.0 + 4) * U32;
        for (int t = 0; t < s->rows; t++) {
            br[t] = rel * rstd[t];
            for (int i = 0; i < w; i++) {
                double xi = fabs((double)x[(size_t)t * w + i]);
                by[(size_t)t * w + i] = xi * br[t] + 2 * U32 * xi * rstd[t];
            }
        }
    } else {
        memcpy(y, x, sizeof(float) * (size_t)s->rows * w);
    }
    buf_store(&c->b[3], y);
    free(table);
    free(x);
    free(y);
}

/* The backward pass's case: `rows` segments (distinct tokens, drawn from
 * rows + 7 table rows, so some rows get nothing and must stay as they
 * are) over T = rows + rows / 2 + 3 positions in random order, every token
 * at least once and some many times; the segments from the runtime's own
 * token_segments. Buffers: 0 dtable, 1 drows, 2 order, 3 seg_start, 4
 * seg_token, 5 ids (for the reference only). */
static void embed_bwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t w = (size_t)k->row_elems;
    int V = s->rows + 7, T = s->rows + s->rows / 2 + 3;
    int *perm = xmalloc(sizeof(int) * (size_t)V), *ids = xmalloc(sizeof(int) * (size_t)T);
    for (int v = 0; v < V; v++) perm[v] = v;
    for (int v = V - 1; v > 0; v--) {
        int j = (int)(rng_next(r) % (uint64_t)(v + 1)), tmp = perm[v];
        perm[v] = perm[j], perm[j] = tmp;
    }
    for (int t = 0; t < T; t++) ids[t] = perm[t < s->rows ? t : (int)(rng_next(r) % (uint64_t)s->rows)];
    for (int t = T - 1; t > 0; t--) {
        int j = (int)(rng_next(r) % (uint64_t)(t + 1)), tmp = ids[t];
        ids[t] = ids[j], ids[j] = tmp;
    }
    fill(add_buf(c, "dtable", F32, (size_t)V * w, true), r, -8, 3, false, 0);
    fill(add_buf(c, "drows", BF16, (size_t)T * w, false), r, -8, 3, false, 0);
    int *order = add_ints(c, "order", (size_t)T), *start = add_ints(c, "seg_start", (size_t)s->rows + 1);
    int *tok = add_ints(c, "seg_token", (size_t)s->rows);
    memcpy(add_ints(c, "ids", (size_t)T), ids, sizeof(int) * (size_t)T);
    if (token_segments(ids, T, V, order, start, tok) != s->rows) {
        fprintf(stderr, "test_kernels: token_segments did not give %d segments\n", s->rows);
        exit(2);
    }
    c->ints[1] = s->rows, c->ints[2] = T;
    void **a = c->args;
    for (int i = 0; i < 5; i++) a[i] = &c->ptr[i];
    a[5] = &c->ints[1];
    free(perm);
    free(ids);
}

/* The ref code's embed_scatter_add over the positions in order: the
 * kernel adds each segment's rows in that order, so exact. */
static void embed_bwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)s;
    float *drows = buf_floats(&c->b[1]);
    embed_scatter_add(c->b[0].p, drows, c->b[5].p, c->ints[2], k->row_elems);
    free(drows);
}

/* ---- q, k, v around the attention (templates/qkv.cu) ---- */

/* The template's placement of threads (its comment), from kernels.h. */
typedef struct {
    int W, HD, H, half, pairs, vec, tph, ch, rpb, hloop, parts;
    bool inter, vnorm;
} QkvGeom;

static QkvGeom qkv_geom(const GptcKernel *k) {
    QkvGeom g;
    g.W = (int)kconst(k, "WIDTH"), g.HD = (int)kconst(k, "HEAD_DIM"), g.H = g.W / g.HD, g.half = g.HD / 2;
    g.pairs = (int)kconst(k, "PAIRS"), g.vec = k->elems_per_thread, g.parts = (int)kconst(k, "PARTS");
    g.inter = kconst(k, "INTERLEAVED") == 1, g.vnorm = kconst(k, "VNORM") == 1;
    int nv = g.half / g.vec, hg = 1;
    g.tph = 1;
    while (g.tph < nv && g.tph < 32) g.tph *= 2;
    g.ch = (nv + g.tph - 1) / g.tph;
    while (g.H % (2 * hg) == 0 && 2 * hg * g.tph <= k->threads) hg *= 2;
    g.rpb = k->threads / (hg * g.tph), g.hloop = g.H / hg;
    return g;
}

/* The depth of one head's fp32 sum: a thread's CH vectors of 2 VEC terms,
 * then group_sum's butterfly over TPH. */
static int qkv_depth(const QkvGeom *g) { return g->ch * 2 * g->vec + log2_ceil(g->tph); }

/* Part p (0 q, 1 k, 2 v) of the [T, 3W] rows, as [T, W] floats. */
static float *qkv_part(const Buf *qkv, int T, int W, int p) {
    float *out = xmalloc(sizeof(float) * (size_t)T * W);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < W; i++) out[(size_t)t * W + i] = buf_get(qkv, (size_t)t * 3 * W + (size_t)p * W + i);
    return out;
}

/* The ref code's cos/sin tables (base 1024; the kernel only reads them). */
static void qkv_tables(Case *c, const QkvGeom *g, int T) {
    Buf *cb = add_buf(c, "cos", F32, (size_t)T * g->half, false), *sb = add_buf(c, "sin", F32, (size_t)T * g->half, false);
    rotary_tables(cb->p, sb->p, T, g->half, g->pairs, 1024.0);
}

/* Forward buffers: 0 qkv, 1 ve (passed as NULL with hyper 1), 2 cos, 3
 * sin, 4 scalars, 5 q, 6 k, 7 v, 8 rstd. Edge rows (special): the first
 * four heads of token 0 (q, and k for 2 heads) as the RMS norm's edge rows. */
static void qkv_fwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    QkvGeom g = qkv_geom(k);
    size_t T = (size_t)s->rows, W = (size_t)g.W;
    Buf *qkv = add_buf(c, "qkv", BF16, T * 3 * W, false);
    fill(qkv, r, -8, 3, false, 0);
    if (s->special) rms_edge_rows(qkv, (size_t)g.HD, r);
    fill(add_buf(c, "ve", BF16, T * W, false), r, -8, 3, false, 0);
    qkv_tables(c, &g, s->rows);
    fill(add_buf(c, "scalars", F32, NSCALARS, false), r, -3, 1, false, 0);
    fill(add_buf(c, "q", BF16, T * W, true), r, -8, 3, false, 0);
    fill(add_buf(c, "k", BF16, T * W, true), r, -8, 3, false, 0);
    fill(add_buf(c, "v", BF16, T * W, true), r, -8, 3, false, 0);
    fill(add_buf(c, "rstd", F32, T * 3 * g.H, true), r, -8, 3, false, 0);
    c->ints[0] = 1 + s->rows % 7, c->ints[1] = s->rows; /* sa_off, rows */
    c->maybe[0] = s->hyper ? NULL : c->ptr[1];
    void **a = c->args;
    a[0] = &c->ptr[5], a[1] = &c->ptr[6], a[2] = &c->ptr[7], a[3] = &c->ptr[8], a[4] = &c->ptr[0];
    a[5] = &c->maybe[0], a[6] = &c->ptr[2], a[7] = &c->ptr[3], a[8] = &c->ptr[4], a[9] = &c->ints[0];
    a[10] = &c->ints[1];
}

/* The ref code's steps: rmsnorm_fwd per head, rotary_apply on q and k,
 * scale and axpy for v. rstd: the RMS norm kind's bound. q, k: the kernel's
 * r is off by rel r (rel: that bound plus rstd's own rounding), which moves
 * an output by rel r (|x1 c| + |x2 s|); each side rounds x r, the two
 * products and their sum (3 u of the same on each side). v with VNORM:
 * rel |sa0 x r| from r, and 3 u (|sa0 vn| + |sa1 ve|) of roundings per
 * side; without VNORM the ref code's order exactly (no bound). */
static void qkv_fwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    QkvGeom g = qkv_geom(k);
    int T = s->rows, W = g.W, H = g.H, HD = g.HD, rows = T * H;
    size_t TW = (size_t)T * W;
    const float *cosb = c->b[2].p, *sinb = c->b[3].p, *sc = (const float *)c->b[4].p + c->ints[0];
    float *x[3], *y[3], *rs[3], *rstd = c->b[8].p;
    double rel = (qkv_depth(&g) / 2.0 + 5) * U32;
    for (int p = 0; p < 3; p++) {
        x[p] = qkv_part(&c->b[0], T, W, p);
        y[p] = xmalloc(sizeof(float) * TW);
        rs[p] = xmalloc(sizeof(float) * (size_t)rows);
        if (p < 2 || g.vnorm) rmsnorm_fwd(y[p], rs[p], x[p], rows, HD);
        else memcpy(y[p], x[p], sizeof(float) * TW);
    }
    double *bound[3] = {new_bound(c, 5), new_bound(c, 6), g.vnorm ? new_bound(c, 7) : NULL};
    double *brs = new_bound(c, 8);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int p = 0; p < 3; p++) {
                if (p == 2 && !g.vnorm) continue;
                float rv = rs[p][(size_t)t * H + h];
                rstd[((size_t)t * 3 + p) * H + h] = rv;
                brs[((size_t)t * 3 + p) * H + h] = (rel - U32) * rv;
            }
    float *ve = c->maybe[0] ? buf_floats(&c->b[1]) : NULL;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int j = 0; j < g.half; j++) {
                size_t at = (size_t)t * W + (size_t)h * HD;
                size_t i1 = at + (g.inter ? 2 * j : j), i2 = at + (g.inter ? 2 * j + 1 : j + g.half);
                double cs = fabs(cosb[(size_t)t * g.half + j]), sn = fabs(sinb[(size_t)t * g.half + j]);
                for (int p = 0; p < 2; p++) {
                    double r = rs[p][(size_t)t * H + h], x1 = fabs(x[p][i1]), x2 = fabs(x[p][i2]);
                    bound[p][i1] = (rel + 6 * U32) * r * (x1 * cs + x2 * sn);
                    bound[p][i2] = (rel + 6 * U32) * r * (x1 * sn + x2 * cs);
                }
                if (!g.vnorm) continue;
                for (int m = 0; m < 2; m++) {
                    size_t i = m ? i2 : i1;
                    double vn = fabs((double)sc[0] * y[2][i]), e = ve ? fabs((double)sc[1] * ve[i]) : 0;
                    bound[2][i] = rel * vn + 6 * U32 * (vn + e);
                }
            }
    rotary_apply(y[0], cosb, sinb, T, H, HD, g.inter, false);
    rotary_apply(y[1], cosb, sinb, T, H, HD, g.inter, false);
    scale(y[2], sc[0], y[2], TW);
    if (ve) axpy(y[2], sc[1], ve, TW);
    for (int p = 0; p < 3; p++) {
        buf_store(&c->b[5 + p], y[p]);
        free(x[p]), free(y[p]), free(rs[p]);
    }
    free(ve);
}

/* Backward buffers: 0 dq, 1 dk, 2 dv, 3 qkv, 4 rstd, 5 ve (NULL with hyper
 * 1), 6 cos, 7 sin, 8 scalars, 9 dqkv, 10 partial (scratch), 11 dve (NULL
 * with hyper 1, then an input that must stay as it is), 12 dscalars (the
 * second stage adds at sa_off). */
static void qkv_bwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    QkvGeom g = qkv_geom(k);
    size_t T = (size_t)s->rows, W = (size_t)g.W;
    bool ve = s->hyper == 0;
    fill(add_buf(c, "dq", BF16, T * W, false), r, -12, 0, false, 0);
    fill(add_buf(c, "dk", BF16, T * W, false), r, -12, 0, false, 0);
    fill(add_buf(c, "dv", BF16, T * W, false), r, -12, 0, false, 0);
    fill(add_buf(c, "qkv", BF16, T * 3 * W, false), r, -8, 3, false, 0);
    fill(add_buf(c, "rstd", F32, T * 3 * g.H, false), r, -3, 6, true, 0);
    fill(add_buf(c, "ve", BF16, T * W, false), r, -8, 3, false, 0);
    qkv_tables(c, &g, s->rows);
    fill(add_buf(c, "scalars", F32, NSCALARS, false), r, -3, 1, false, 0);
    fill(add_buf(c, "dqkv", BF16, T * 3 * W, true), r, -8, 3, false, 0);
    Buf *partial = add_buf(c, "partial", F32, (size_t)g.parts * 2, true);
    partial->scratch = true;
    fill(partial, r, -8, 3, false, 0);
    fill(add_buf(c, "dve", F32, T * W, ve), r, -12, 0, false, 0);
    fill(add_buf(c, "dscalars", F32, NSCALARS, true), r, -6, 0, false, 0);
    c->ints[0] = 1 + s->rows % 7, c->ints[1] = s->rows, c->ints[2] = g.parts, c->ints[3] = ve ? 2 : 1;
    c->scale = 1.0f;
    c->maybe[0] = ve ? c->ptr[5] : NULL, c->maybe[1] = ve ? c->ptr[11] : NULL;
    void **a = c->args;
    a[0] = &c->ptr[9], a[1] = &c->ptr[10], a[2] = &c->maybe[1], a[3] = &c->ptr[0], a[4] = &c->ptr[1];
    a[5] = &c->ptr[2], a[6] = &c->ptr[3], a[7] = &c->ptr[4], a[8] = &c->maybe[0], a[9] = &c->ptr[6];
    a[10] = &c->ptr[7], a[11] = &c->ptr[8], a[12] = &c->ints[0], a[13] = &c->ints[1];
}

static int qkv_bwd_then(Case *c, const GptcKernel *k, const Shape *s, const GptcSimOptions *opt) {
    (void)k, (void)s;
    static int one = 1;
    return launch_colsum((float **)&c->ptr[12], &c->ints[0], (float **)&c->ptr[10], &c->ints[2], &c->ints[3],
                         &c->scale, &one, opt);
}

/* The RMS norm backward's bound per element (as rms_bwd_reference's), for
 * rows of n with fp32 y (its products round: one more u of depth). */
static void rms_bwd_bound(double *bound, const float *dy, const float *y, const float *rstd, int rows, int n,
                          int depth) {
    for (int t = 0; t < rows; t++) {
        const float *dyr = dy + (size_t)t * n, *yr = y + (size_t)t * n;
        double S = 0, dot = 0;
        for (int i = 0; i < n; i++) S += fabs((double)dyr[i] * yr[i]), dot += (double)dyr[i] * yr[i];
        double m = dot / n, dm = (depth + 1) * U32 * S / n + 2 * U32 * fabs(m), r = rstd[t];
        for (int i = 0; i < n; i++)
            bound[(size_t)t * n + i] = r * fabs(yr[i]) * dm + 6 * U32 * r * (fabs(dyr[i]) + fabs(yr[i] * m));
    }
}

/* The ref code's attention_block_bwd steps from dq, dk, dv to the GEMM's
 * input gradient: y = x r recomputed as rmsnorm_fwd forms it; rotary_apply
 * (transposed), rmsnorm_bwd for q and k; dot, axpy, scale and (VNORM)
 * rmsnorm_bwd for v. The rotation and the scalings are the same fp32
 * operations on both sides; the norms' sums differ (rms_bwd_bound). The
 * lambdas' gradients as the x0-lambda kind's, over the kernel's depth: a
 * thread's terms (2 VEC per vector, CH vectors, HLOOP heads, one step per
 * PARTS groups of RPB tokens), block_sum's tree and colsum's; one more
 * rounding per product where vn is fp32 (VNORM). dve: axpy exactly. */
static void qkv_bwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    QkvGeom g = qkv_geom(k);
    int T = s->rows, W = g.W, H = g.H, HD = g.HD, rows = T * H;
    size_t TW = (size_t)T * W;
    const float *cosb = c->b[6].p, *sinb = c->b[7].p, *rstd = c->b[4].p;
    const float *sc = (const float *)c->b[8].p + c->ints[0];
    float *dsc = (float *)c->b[12].p + c->ints[0];
    float *out = buf_floats(&c->b[9]), *ve = c->maybe[0] ? buf_floats(&c->b[5]) : NULL;
    double *bout = new_bound(c, 9);
    int depth = qkv_depth(&g);
    for (int p = 0; p < 3; p++) {
        bool norm = p < 2 || g.vnorm;
        float *x = qkv_part(&c->b[3], T, W, p), *dy = buf_floats(&c->b[p]);
        float *rs = xmalloc(sizeof(float) * (size_t)rows), *dx = xmalloc(sizeof(float) * TW);
        double *bd = xmalloc(sizeof(double) * TW);
        for (int t = 0; t < rows; t++) rs[t] = rstd[((size_t)(t / H) * 3 + p) * H + t % H];
        if (norm)
            for (size_t i = 0; i < TW; i++) x[i] = x[i] * rs[i / HD];
        if (p < 2) {
            rotary_apply(dy, cosb, sinb, T, H, HD, g.inter, true);
        } else {
            long long steps = ((T + g.rpb - 1) / g.rpb + g.parts - 1) / g.parts;
            int dd = (int)(steps * g.hloop * g.ch * 2 * g.vec) + log2_ceil(k->threads) + colsum_depth(g.parts);
            double *bsc = new_bound(c, 12);
            for (int j = 0; j < (ve ? 2 : 1); j++) {
                const float *other = j ? ve : x;
                double S = 0;
                for (size_t i = 0; i < TW; i++) S += fabs((double)dy[i] * other[i]);
                float old = dsc[j], d = dot(dy, other, TW);
                dsc[j] += d;
                bsc[c->ints[0] + j] =
                    (dd + (g.vnorm && !j)) * U32 * S + U32 * fabs(d) + 2 * U32 * (fabs(old) + fabs(d));
            }
            if (ve) axpy(c->b[11].p, sc[1], dy, TW);
            scale(dy, sc[0], dy, TW);
        }
        if (norm) {
            rms_bwd_bound(bd, dy, x, rs, rows, HD, depth);
            rmsnorm_bwd(dx, false, dy, x, rs, rows, HD);
        } else {
            memcpy(dx, dy, sizeof(float) * TW);
        }
        for (int t = 0; t < T; t++)
            for (int i = 0; i < W; i++) {
                size_t at = (size_t)t * 3 * W + (size_t)p * W + i;
                out[at] = dx[(size_t)t * W + i];
                bout[at] = norm ? bd[(size_t)t * W + i] : 0;
            }
        free(x), free(dy), free(rs), free(dx), free(bd);
    }
    buf_store(&c->b[9], out);
    free(out);
    free(ve);
}

/* ---- skips (templates/x0_skip.cu, templates/skip.cu) ---- */

/* Buffers: 0 x (xs over it when in place), 1 src, 2 the x0 tables, 3
 * scalars, 4 xm, 5 xs unless in place. */
static void x0_skip_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    int tables = (int)kconst(k, "TABLES");
    size_t n = (size_t)s->rows * k->row_elems;
    c->ll = (long long)n + (long long)s->pad_vecs * k->elems_per_thread;
    fill(add_buf(c, s->inplace ? "xs" : "x", BF16, n, s->inplace), r, -8, 3, false, 0);
    fill(add_buf(c, "src", BF16, n, false), r, -8, 3, false, 0);
    fill(add_buf(c, "x0", BF16, (size_t)tables * c->ll, false), r, -8, 3, false, 0);
    fill(add_buf(c, "scalars", F32, NSCALARS, false), r, -3, 1, false, 0);
    fill(add_buf(c, "xm", BF16, n, true), r, -8, 3, false, 0);
    if (!s->inplace) fill(add_buf(c, "xs", BF16, n, true), r, -8, 3, false, 0);
    c->ints[0] = 1 + s->rows % 5, c->ints[1] = 9 + s->rows % 7, c->ints[2] = s->rows; /* skip_off, lambda_off */
    void **a = c->args;
    a[0] = &c->ptr[s->inplace ? 0 : 5], a[1] = &c->ptr[4], a[2] = &c->ptr[0], a[3] = &c->ptr[1];
    a[4] = &c->ptr[2], a[5] = &c->ll, a[6] = &c->ptr[3], a[7] = &c->ints[0], a[8] = &c->ints[1];
    a[9] = &c->ints[2];
}

/* The ref code's layer_fwd steps: xs = x, axpy(xs, w, src), x0_mix_fwd
 * from that fp32 xs; the kernel's order exactly. */
static void x0_skip_reference(Case *c, const GptcKernel *k, const Shape *s) {
    int tables = (int)kconst(k, "TABLES");
    size_t n = c->b[0].n;
    float *xs = buf_floats(&c->b[0]), *src = buf_floats(&c->b[1]), *tab = buf_floats(&c->b[2]);
    float *xm = xmalloc(sizeof(float) * n);
    const float *sc = c->b[3].p, *ct[MAX_TABLES];
    for (int i = 0; i < tables; i++) ct[i] = tab + (size_t)i * c->ll;
    axpy(xs, sc[c->ints[0]], src, n);
    x0_mix_fwd(xm, xs, ct, sc + c->ints[1], tables, n);
    buf_store(&c->b[4], xm);
    buf_store(&c->b[s->inplace ? 0 : 5], xs);
    free(xs), free(src), free(tab), free(xm);
}

/* Buffers: 0 dxs, 1 src, 2 scalars, 3 partial (scratch), 4 dsrc, 5 the
 * scalar gradients (the second stage adds at skip_off). */
static void skip_bwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    int parts = (int)kconst(k, "PARTS");
    size_t n = (size_t)s->rows * k->row_elems;
    fill(add_buf(c, "dxs", BF16, n, false), r, -12, 0, false, 0);
    fill(add_buf(c, "src", BF16, n, false), r, -8, 3, false, 0);
    fill(add_buf(c, "scalars", F32, NSCALARS, false), r, -3, 1, false, 0);
    Buf *partial = add_buf(c, "partial", F32, (size_t)parts, true);
    partial->scratch = true;
    fill(partial, r, -8, 3, false, 0);
    fill(add_buf(c, "dsrc", BF16, n, true), r, -12, 0, false, 0);
    fill(add_buf(c, "dscalars", F32, NSCALARS, true), r, -6, 0, false, 0);
    c->ints[0] = 1 + s->rows % 5, c->ints[1] = s->rows, c->ints[2] = parts, c->ints[3] = 1;
    c->scale = 1.0f;
    void **a = c->args;
    a[0] = &c->ptr[4], a[1] = &c->ptr[3], a[2] = &c->ptr[0], a[3] = &c->ptr[1], a[4] = &c->ptr[2];
    a[5] = &c->ints[0], a[6] = &c->ints[1];
}

static int skip_bwd_then(Case *c, const GptcKernel *k, const Shape *s, const GptcSimOptions *opt) {
    (void)k, (void)s;
    static int one = 1;
    return launch_colsum((float **)&c->ptr[5], &c->ints[0], (float **)&c->ptr[3], &c->ints[2], &c->ints[3],
                         &c->scale, &one, opt);
}

/* The ref code's layer_bwd steps: dsc[skip] += dot(dxs, src), then
 * axpy(dsrc, w, dxs) (exact: the same fp32 operation, one rounding). The
 * dot's bound as the x0-lambda kind's: depth VEC + a thread's vectors +
 * log2 THREADS + colsum's over PARTS. */
static void skip_bwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)s;
    int parts = (int)kconst(k, "PARTS");
    size_t n = c->b[0].n;
    long long nvec = (long long)n / k->elems_per_thread, per_pass = (long long)parts * k->threads;
    int depth = k->elems_per_thread + (int)((nvec + per_pass - 1) / per_pass) + log2_ceil(k->threads) +
                colsum_depth(parts);
    float *dxs = buf_floats(&c->b[0]), *src = buf_floats(&c->b[1]), *dsrc = buf_floats(&c->b[4]);
    float *dsc = c->b[5].p, w = ((const float *)c->b[2].p)[c->ints[0]];
    double S = 0;
    for (size_t i = 0; i < n; i++) S += fabs((double)dxs[i] * src[i]);
    float old = dsc[c->ints[0]], d = dot(dxs, src, n);
    dsc[c->ints[0]] += d;
    new_bound(c, 5)[c->ints[0]] = depth * U32 * S + U32 * fabs(d) + 2 * U32 * (fabs(old) + fabs(d));
    axpy(dsrc, w, dxs, n);
    buf_store(&c->b[4], dsrc);
    free(dxs), free(src), free(dsrc);
}

/* ---- attention (templates/attention.cu) ---- */

/* The instance's shape, from kernels.h's constants. */
typedef struct {
    int T, H, hd, W, bs;
    float scale;
} AttnDims;

static AttnDims attn_dims(const GptcKernel *k, const Case *c) {
    return (AttnDims){c->ints[1], (int)kconst(k, "HEADS"), (int)kconst(k, "HEAD_DIM"), c->ints[0],
                      (int)kconst(k, "BLOCK_SIZE"), kconst_float(k, "SCALE")};
}

/* Documents: one, or (special) several, starting at 37 (inside a 64-row
 * tile and a 32-token block), 64 (on a tile boundary), 101, 200, 333 and
 * 450 where T reaches. */
static void attn_docs(Buf *b, const Shape *s) {
    static const int starts[] = {37, 64, 101, 200, 333, 450};
    int *d = b->p, start = 0;
    for (int t = 0; t < s->rows; t++) {
        for (size_t i = 0; s->special && i < sizeof starts / sizeof starts[0]; i++)
            if (starts[i] == t) start = t;
        d[t] = start;
    }
}

/* The backward's inputs as the model makes them: y and lse from ref's
 * attention_fwd on the case's q, k, v (y rounded to bf16, as stored), dy
 * random, delta = dy . y per row in float, in ref's attention_bwd order
 * (so that both sides start from the same delta). */
static void attn_fwd_values(Buf *y, Buf *lse, Buf *delta, const Buf *dy, const Buf *q, const Buf *k, const Buf *v,
                            const Buf *doc, const AttnDims *d) {
    float *fq = buf_floats(q), *fk = buf_floats(k), *fv = buf_floats(v), *fy = xmalloc(sizeof(float) * q->n);
    float *scratch = xmalloc(sizeof(float) * attention_scratch(d->T) * omp_get_max_threads());
    attention_fwd(fy, lse->p, fq, fk, fv, doc->p, d->T, d->H, d->hd, d->W, d->bs, d->scale, scratch);
    buf_store(y, fy);
    if (delta) {
        float *fdy = buf_floats(dy), *fy16 = buf_floats(y);
        for (int h = 0; h < d->H; h++)
            for (int t = 0; t < d->T; t++) {
                size_t at = (size_t)t * d->H * d->hd + (size_t)h * d->hd;
                float dyy = 0;
                for (int i = 0; i < d->hd; i++) dyy += fdy[at + i] * fy16[at + i];
                ((float *)delta->p)[(size_t)h * d->T + t] = dyy;
            }
        free(fdy);
        free(fy16);
    }
    free(fq), free(fk), free(fv), free(fy), free(scratch);
}

/* Buffers: 0 y, 1 lse, 2 q, 3 k, 4 v, 5 doc_start. Magnitudes up to 2:
 * scores SCALE q . k reach about +-15 at head_dim 32, so the softmax has
 * sharp rows as well as flat ones. */
static void attn_fwd_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t n = (size_t)s->rows * k->row_elems, nh = (size_t)s->rows * kconst(k, "HEADS");
    fill(add_buf(c, "y", BF16, n, true), r, -4, 1, false, 0);
    fill(add_buf(c, "lse", F32, nh, true), r, -4, 1, false, 0);
    for (int i = 0; i < 3; i++) fill(add_buf(c, i == 0 ? "q" : i == 1 ? "k" : "v", BF16, n, false), r, -6, 1, false, 0);
    attn_docs(add_buf(c, "doc_start", I32, (size_t)s->rows, false), s);
    c->ints[0] = s->window, c->ints[1] = s->rows;
    for (int i = 0; i < 6; i++) c->args[i] = &c->ptr[i];
    c->args[6] = &c->ints[0], c->args[7] = &c->ints[1];
}

/* Buffers: 0 delta, 1 dy, 2 y. */
static void attn_pre_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t n = (size_t)s->rows * k->row_elems, nh = (size_t)s->rows * kconst(k, "HEADS");
    fill(add_buf(c, "delta", F32, nh, true), r, -4, 1, false, 0);
    fill(add_buf(c, "dy", BF16, n, false), r, -12, 0, false, 0);
    fill(add_buf(c, "y", BF16, n, false), r, -6, 1, false, 0);
    c->ints[1] = s->rows;
    c->args[0] = &c->ptr[0], c->args[1] = &c->ptr[1], c->args[2] = &c->ptr[2], c->args[3] = &c->ints[1];
}

/* The stored dS's slots per 16 queries at the case's window and rows, and
 * its elements (templates/attention.cu, dQ's two sources); none where the
 * window block is not whole 16-key granules. */
static int attn_ds_slots(const GptcKernel *k, const Shape *s) {
    long long bs = kconst(k, "BLOCK_SIZE"), slots = s->window * bs / 16, most = (s->rows + 15) / 16;
    return bs % 16 ? 0 : (int)(slots < most ? slots : most);
}

/* The stored dS buffer, filled with garbage that no read may see. */
static void attn_ds_buf(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t n = (size_t)kconst(k, "HEADS") * (size_t)((s->rows + 15) / 16) * (size_t)attn_ds_slots(k, s) * 256;
    Buf *ds = add_buf(c, "ds", BF16, n ? n : 1, true);
    ds->scratch = true;
    fill(ds, r, -4, 1, false, 0);
}

/* The backward kernels' inputs: dy, lse, delta, q, k, v, doc_start, at
 * buffers `at` onwards (after the outputs and the stored dS), lse and
 * delta made by attn_fwd_values; the arguments after them window_blocks,
 * ds_slots and rows. */
static void attn_bwd_inputs(Case *c, const GptcKernel *k, const Shape *s, Rng *r, int at) {
    size_t n = (size_t)s->rows * k->row_elems, nh = (size_t)s->rows * kconst(k, "HEADS");
    fill(add_buf(c, "dy", BF16, n, false), r, -12, 0, false, 0);
    Buf *lse = add_buf(c, "lse", F32, nh, false), *delta = add_buf(c, "delta", F32, nh, false);
    for (int i = 0; i < 3; i++) fill(add_buf(c, i == 0 ? "q" : i == 1 ? "k" : "v", BF16, n, false), r, -6, 1, false, 0);
    attn_docs(add_buf(c, "doc_start", I32, (size_t)s->rows, false), s);
    c->ints[0] = s->window, c->ints[1] = s->rows;
    Buf y;
    buf_alloc(&y, "y", BF16, n, false);
    AttnDims d = attn_dims(k, c);
    attn_fwd_values(&y, lse, delta, &c->b[at], &c->b[at + 3], &c->b[at + 4], &c->b[at + 5], &c->b[at + 6], &d);
    buf_free(&y);
    c->ints[2] = attn_ds_slots(k, s);
    for (int i = 0; i < at + 7; i++) c->args[i] = &c->ptr[i];
    c->args[at + 7] = &c->ints[0], c->args[at + 8] = &c->ints[2], c->args[at + 9] = &c->ints[1];
}

/* Buffers: 0 dk, 1 dv, 2 the stored dS (scratch: attn_bwd_dq's test reads
 * it), then attn_bwd_inputs. */
static void attn_dkdv_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t n = (size_t)s->rows * k->row_elems;
    fill(add_buf(c, "dk", BF16, n, true), r, -4, 1, false, 0);
    fill(add_buf(c, "dv", BF16, n, true), r, -4, 1, false, 0);
    attn_ds_buf(c, k, s, r);
    attn_bwd_inputs(c, k, s, r, 3);
}

/* Buffers: 0 dq, 1 the stored dS, then attn_bwd_inputs, then dk and dv for
 * attn_bwd_dkdv, which attn_dq_first launches to store dS (scratch: its
 * own test checks them). */
static void attn_dq_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    size_t n = (size_t)s->rows * k->row_elems;
    fill(add_buf(c, "dq", BF16, n, true), r, -4, 1, false, 0);
    attn_ds_buf(c, k, s, r);
    attn_bwd_inputs(c, k, s, r, 2);
    for (int i = 0; i < 2; i++) {
        Buf *b = add_buf(c, i ? "dv" : "dk", BF16, n, true);
        b->scratch = true;
        fill(b, r, -4, 1, false, 0);
    }
}

/* Whether kernels a and b were generated with the same constants (the
 * same instance of their template). */
static bool same_consts(const GptcKernel *a, const GptcKernel *b) {
    if (a->nconsts != b->nconsts) return false;
    for (int i = 0; i < a->nconsts; i++)
        if (strcmp(a->consts[i].name, b->consts[i].name) || a->consts[i].value != b->consts[i].value) return false;
    return true;
}

/* attn_bwd_dkdv of the same instance, as the plan runs it before
 * attn_bwd_dq: with DQ_SRC 2 it stores the dS that attn_bwd_dq reads. */
static int attn_dq_first(Case *c, const GptcKernel *k, const Shape *s, const GptcSimOptions *opt) {
    const GptcKernel *dkdv = NULL;
    for (int i = 0; i < GPTC_KERNELS_KERNEL_COUNT; i++)
        if (!strncmp(gptc_kernels[i].name, "attn_bwd_dkdv_", 14) && same_consts(&gptc_kernels[i], k))
            dkdv = &gptc_kernels[i];
    if (!dkdv) return GPTC_SIM_ERR_CONFIG;
    void *args[] = {&c->ptr[9], &c->ptr[10], &c->ptr[1], &c->ptr[2], &c->ptr[3], &c->ptr[4], &c->ptr[5],
                    &c->ptr[6], &c->ptr[7], &c->ptr[8], &c->ints[0], &c->ints[2], &c->ints[1]};
    return launch_args(dkdv, args, s->rows, 0, opt);
}

/* Per-element bounds of the kernels' attention against ref's, from the
 * exact (double) values. Both sides compute z = q . k in fp32 (the kernel
 * on tensor cores, in its own order; the hardware may round its sums
 * less carefully still), so each score SCALE z is off by at most 2 (hd +
 * 4) u SCALE sum |q k| per side; the kernel also rounds SCALE log2(e), the
 * exponent and lse times log2(e), and exp2f is off by 2 ulp: every p of row
 * t is off relatively by at most E_t = 2 max_s (2 (hd + 4) u SCALE sum
 * |q k|) + 8 u (max |score| + |lse|) + 8 u. Then, with n_t the row's
 * visible keys, u16 = 2^-8 the rounding of P or dS to bf16 for their
 * second product, and both sides' fp32 sums of n_t terms (2 (n_t + hd +
 * 8) u of the sum of magnitudes):
 *   y[t]:    sum_s w |v_s| (u16 + 2 E_t + 4 (n_t + hd + 8) u), w = p / l;
 *   lse[t]:  E_t + 2 (n_t + 4) u + 4 u |lse|;
 *   dv[s]:   sum_t p |dy_t| (u16 + E_t + 2 (n + hd + 8) u);
 *   dk[s], dq[t]: sum of |ds| (u16 + 2 (n + hd + 8) u) + e_ds times |q_t|
 *            (|k_s|), where ds = p (dp - delta) SCALE is off by e_ds =
 *            SCALE (p 2 (hd + 4) u sum |dy v| + (E_t + 3 u) |p (dp -
 *            delta)|): dp = dy . v in fp32 on both sides, delta and lse the
 *            same inputs to both. Cancellation in dp - delta makes these
 *            absolute. */
typedef struct {
    double *y, *lse, *dq, *dk, *dv; /* the bounds to fill, each may be NULL */
} AttnBounds;

static void attn_bounds(const AttnDims *d, const float *q, const float *k, const float *v,
                        const float *dy, const float *lse_in, const float *delta, const int *doc,
                        const AttnBounds *out) {
    int T = d->T, hd = d->hd, row = d->H * hd;
    double *z = xmalloc(sizeof(double) * T), *p = xmalloc(sizeof(double) * T);
    const double u = U32, u16 = 0x1p-8, sc = d->scale;
    for (int h = 0; h < d->H; h++)
        for (int t = 0; t < T; t++) {
            const float *qt = q + (size_t)t * row + h * hd;
            int lo = first_key(doc, t, d->W, d->bs), nt = t - lo + 1;
            double mx = -INFINITY, emax = 0, sum = 0;
            for (int s = lo; s <= t; s++) {
                const float *ks = k + (size_t)s * row + h * hd;
                double dot = 0, mag = 0;
                for (int i = 0; i < hd; i++) dot += (double)qt[i] * ks[i], mag += fabs((double)qt[i] * ks[i]);
                z[s - lo] = sc * dot;
                mx = fmax(mx, z[s - lo]);
                emax = fmax(emax, 2 * (hd + 4) * u * sc * mag);
            }
            for (int s = lo; s <= t; s++) sum += exp(z[s - lo] - mx);
            double lse = lse_in ? lse_in[(size_t)h * T + t] : mx + log(sum);
            double E = 2 * emax + 8 * u * (fabs(mx) + fabs(lse)) + 8 * u, fsum = 2 * (nt + hd + 8) * u;
            for (int s = lo; s <= t; s++) p[s - lo] = exp(z[s - lo] - lse);
            if (out->lse) out->lse[(size_t)h * T + t] = E + 2 * (nt + 4) * u + 4 * u * fabs(lse);
            const float *dyt = dy ? dy + (size_t)t * row + h * hd : NULL;
            for (int s = lo; s <= t; s++) {
                const float *ks = k + (size_t)s * row + h * hd, *vs = v + (size_t)s * row + h * hd;
                size_t ot = (size_t)t * row + h * hd, os = (size_t)s * row + h * hd;
                double ps = p[s - lo];
                for (int i = 0; out->y && i < hd; i++)
                    out->y[ot + i] += ps * fabs(vs[i]) * (u16 + 2 * E + 2 * fsum);
                if (!dyt) continue;
                double dp = 0, B = 0;
                for (int i = 0; i < hd; i++) dp += (double)dyt[i] * vs[i], B += fabs((double)dyt[i] * vs[i]);
                double ds = ps * (dp - delta[(size_t)h * T + t]) * sc;
                double eds = sc * ps * 2 * (hd + 4) * u * B + (E + 3 * u) * fabs(ds);
                for (int i = 0; i < hd; i++) {
                    if (out->dv) out->dv[os + i] += ps * fabs(dyt[i]) * (u16 + E + fsum);
                    if (out->dk) out->dk[os + i] += (fabs(ds) * (u16 + fsum) + eds) * fabs(qt[i]);
                    if (out->dq) out->dq[ot + i] += (fabs(ds) * (u16 + fsum) + eds) * fabs(ks[i]);
                }
            }
        }
    free(z), free(p);
}

/* y through ref's attention_fwd, rounded to bf16; lse in fp32. */
static void attn_fwd_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)s;
    AttnDims d = attn_dims(k, c);
    float *q = buf_floats(&c->b[2]), *kk = buf_floats(&c->b[3]), *v = buf_floats(&c->b[4]);
    attn_fwd_values(&c->b[0], &c->b[1], NULL, NULL, &c->b[2], &c->b[3], &c->b[4], &c->b[5], &d);
    AttnBounds b = {.y = new_bound(c, 0), .lse = new_bound(c, 1)};
    attn_bounds(&d, q, kk, v, NULL, NULL, NULL, c->b[5].p, &b);
    free(q), free(kk), free(v);
}

/* No ref function computes delta on its own (attention_bwd does it
 * inline, in float): the expectation is the exact sum (double) rounded
 * once, within the kernel's depth, CH / PRE_TPR chunks of 8 then a
 * butterfly over PRE_TPR threads: depth u sum |dy y|. */
static void attn_pre_reference(Case *c, const GptcKernel *k, const Shape *s) {
    int H = (int)kconst(k, "HEADS"), hd = (int)kconst(k, "HEAD_DIM"), tpr = (int)kconst(k, "PRE_TPR");
    int depth = (hd / 8 + tpr - 1) / tpr * 8 + log2_ceil(tpr);
    float *dy = buf_floats(&c->b[1]), *y = buf_floats(&c->b[2]), *delta = c->b[0].p;
    double *bound = new_bound(c, 0);
    for (int h = 0; h < H; h++)
        for (int t = 0; t < s->rows; t++) {
            size_t at = (size_t)t * H * hd + (size_t)h * hd;
            double sum = 0, S = 0;
            for (int i = 0; i < hd; i++) sum += (double)dy[at + i] * y[at + i], S += fabs((double)dy[at + i] * y[at + i]);
            delta[(size_t)h * s->rows + t] = (float)sum;
            bound[(size_t)h * s->rows + t] = depth * U32 * S + U32 * fabs(sum);
        }
    free(dy), free(y);
}

/* dq, dk, dv through ref's attention_bwd (which recomputes delta from y:
 * the y of attn_fwd_values, the same delta), rounded to bf16. */
static void attn_bwd_reference(Case *c, const GptcKernel *k, bool dkdv) {
    AttnDims d = attn_dims(k, c);
    int at = dkdv ? 3 : 2;
    size_t n = c->b[0].n;
    float *dy = buf_floats(&c->b[at]), *lse = c->b[at + 1].p, *delta = c->b[at + 2].p;
    float *q = buf_floats(&c->b[at + 3]), *kk = buf_floats(&c->b[at + 4]), *v = buf_floats(&c->b[at + 5]);
    const int *doc = c->b[at + 6].p;
    Buf yb;
    buf_alloc(&yb, "y", BF16, n, false);
    float *flse = xmalloc(sizeof(float) * c->b[at + 1].n);
    AttnDims dd = d;
    Buf lb = c->b[at + 1];
    lb.p = flse;
    attn_fwd_values(&yb, &lb, NULL, NULL, &c->b[at + 3], &c->b[at + 4], &c->b[at + 5], &c->b[at + 6], &dd);
    float *y = buf_floats(&yb), *dq = xmalloc(sizeof(float) * n), *dk = xmalloc(sizeof(float) * n);
    float *dv = xmalloc(sizeof(float) * n);
    float *scratch = xmalloc(sizeof(float) * attention_scratch(d.T) * omp_get_max_threads());
    attention_bwd(dq, dk, dv, dy, y, lse, q, kk, v, doc, d.T, d.H, d.hd, d.W, d.bs, d.scale, scratch);
    AttnBounds b = {0};
    if (dkdv) {
        buf_store(&c->b[0], dk), buf_store(&c->b[1], dv);
        b.dk = new_bound(c, 0), b.dv = new_bound(c, 1);
    } else {
        buf_store(&c->b[0], dq);
        b.dq = new_bound(c, 0);
    }
    attn_bounds(&d, q, kk, v, dy, lse, delta, doc, &b);
    buf_free(&yb);
    free(dy), free(q), free(kk), free(v), free(y), free(dq), free(dk), free(dv), free(scratch), free(flse);
}

static void attn_dkdv_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)s;
    attn_bwd_reference(c, k, true);
}

static void attn_dq_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)s;
    attn_bwd_reference(c, k, false);
}

/* ---- the kinds ---- */

/* Row counts: 1 (one partial block), 37 (several blocks, the last partly
 * empty, for every width here), 64 (whole blocks for widths of 128 and
 * 512), 515 and 2051 (many blocks, for the random block order, and enough
 * values that a different fp32 rounding somewhere shows in the bf16
 * results); some with gaps between the tables and some in place. */
/* ---- Muon (templates/muon_momentum.cu, then colsum.cu; templates/muon.cu) ---- */

/* The recipe's momentum at the start, mid-warm-up and after it. */
static const float muon_momenta[] = {0.85f, 0.9f, 0.95f};

/* Buffers: 0 buf, 1 x, 2 the partial sums (scratch), 3 g, 4 the sums of
 * squares (colsum's output, 4 slots, count of them written). Shape: n =
 * per_matrix, cols = count, step picks the momentum. */
static void momentum_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    int parts = (int)kconst(k, "PARTS");
    size_t n = (size_t)s->n * (size_t)s->cols;
    fill(add_buf(c, "buf", F32, n, true), r, -20, 0, false, 0);
    fill(add_buf(c, "x", BF16, n, true), r, -8, 3, false, 0);
    Buf *partial = add_buf(c, "partial", F32, (size_t)parts * s->cols, true);
    partial->scratch = true;
    fill(partial, r, -8, 3, false, 0);
    fill(add_buf(c, "g", F32, n, false), r, -20, 0, false, 0);
    fill(add_buf(c, "sumsq", F32, 4, true), r, -8, 3, false, 0);
    c->f[0] = muon_momenta[s->step % 3], c->f[1] = 1.0f;
    c->ll = s->n;
    c->ints[0] = s->cols, c->ints[1] = 0, c->ints[2] = parts, c->ints[3] = 0;
    void **a = c->args;
    for (int i = 0; i < 4; i++) a[i] = &c->ptr[i];
    a[4] = &c->f[0], a[5] = &c->ll, a[6] = &c->ints[0];
}

static int momentum_then(Case *c, const GptcKernel *k, const Shape *s, const GptcSimOptions *opt) {
    (void)k, (void)s;
    return launch_colsum((float **)&c->ptr[4], &c->ints[1], (float **)&c->ptr[2], &c->ints[2], &c->ints[0],
                         &c->f[1], &c->ints[3], opt);
}

/* buf and x: muon.h's code, 0 ulp (x is u rounded to bf16). The sums of
 * squares: the products of two bf16 values are exact in fp32; the
 * kernels' sum has depth D = VEC + ceil(per_matrix / (VEC PARTS THREADS))
 * + log2 THREADS + colsum's depth over PARTS, so it is off from the exact
 * (double) sum S by at most D u S, and the expectation S rounded to float
 * by u S more. */
static void momentum_reference(Case *c, const GptcKernel *k, const Shape *s) {
    int parts = (int)kconst(k, "PARTS");
    size_t per = (size_t)s->n, n = per * (size_t)s->cols;
    long long nvec = s->n / k->elems_per_thread, per_pass = (long long)parts * k->threads;
    int depth = k->elems_per_thread + (int)((nvec + per_pass - 1) / per_pass) + log2_ceil(k->threads) +
                colsum_depth(parts);
    float *u = xmalloc(sizeof(float) * n), *sumsq = c->b[4].p;
    muon_momentum_apply(c->b[0].p, u, c->b[3].p, n, c->f[0], kconst(k, "NESTEROV") != 0);
    buf_store(&c->b[1], u);
    double *bound = new_bound(c, 4);
    for (int m = 0; m < s->cols; m++) {
        double S = 0;
        for (size_t j = 0; j < per; j++) {
            double x = buf_get(&c->b[1], m * per + j);
            S += x * x;
        }
        sumsq[m] = (float)S;
        bound[m] = (depth + 1) * U32 * S;
    }
    free(u);
}

/* Buffers: 0 x, 1 the sums of squares (4). Shape: n = all elements, cols =
 * count (per_matrix = n / count). */
static void normalize_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    (void)k;
    fill(add_buf(c, "x", BF16, (size_t)s->n, true), r, -12, 3, false, 0);
    fill(add_buf(c, "sumsq", F32, 4, false), r, -4, 12, true, 0);
    c->f[0] = (float)MUON_NS_EPS;
    c->ll = s->n / s->cols, c->n2 = s->n;
    void **a = c->args;
    a[0] = &c->ptr[0], a[1] = &c->ptr[1], a[2] = &c->f[0], a[3] = &c->ll, a[4] = &c->n2;
}

/* The contract's x / (sqrt(sumsq) + eps) in fp32, rounded once: 0 ulp. */
static void normalize_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)k;
    const float *ss = c->b[1].p;
    for (long long i = 0; i < s->n; i++) {
        float d = sqrtf(ss[i / c->ll]) + c->f[0];
        buf_set(&c->b[0], (size_t)i, buf_get(&c->b[0], (size_t)i) / d);
    }
}

/* Newton-Schulz's (a, b) pairs: B = b A + c (A A) and X = a X + 1 (B X). */
static const float combine_coefs[][2] = {{-6.8946f, 2.9270f}, {4.0848f, 1.0f}, {2.8366f, 1.0f}};

/* Buffers: 0 x, 1 t (fp32), 2 out unless in place; hyper picks (a, b). */
static void combine_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    (void)k;
    size_t n = (size_t)s->n;
    fill(add_buf(c, s->inplace ? "out" : "x", BF16, n, s->inplace), r, -8, 1, false, 0);
    fill(add_buf(c, "t", F32, n, false), r, -12, 2, false, 0);
    if (!s->inplace) fill(add_buf(c, "out", BF16, n, true), r, -8, 1, false, 0);
    c->f[0] = combine_coefs[s->hyper][0], c->f[1] = combine_coefs[s->hyper][1];
    c->ll = s->n;
    void **a = c->args;
    a[0] = &c->ptr[s->inplace ? 0 : 2], a[1] = &c->ptr[0], a[2] = &c->ptr[1];
    a[3] = &c->f[0], a[4] = &c->f[1], a[5] = &c->ll;
}

/* a x + b t in fp32 (two products, one sum), rounded once: 0 ulp. */
static void combine_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)k;
    const float *t = c->b[1].p;
    Buf *out = &c->b[s->inplace ? 0 : 2];
    for (size_t i = 0; i < (size_t)s->n; i++)
        buf_set(out, i, c->f[0] * buf_get(&c->b[0], i) + c->f[1] * t[i]);
}

/* The recipe's (decay, lr_eff) pairs, as optim_muon_coefs rounds them: the
 * MLP (wd_mul 2, a tall fc_w), attention in the cooldown, and a step of 0. */
static const double update_coefs[][2] = {
    {1 - 0.025 * 0.01 * 2, 0.025 * 2}, {1 - 0.025 * 0.37 * 0.01, 0.025 * 0.37}, {1, 0}};

/* Buffers: 0 hi, 1 lo (the master's planes: random fp32 masters), 2 o. */
static void update_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    (void)k;
    size_t n = (size_t)s->n;
    fill(add_buf(c, "hi", BF16, n, true), r, -10, 1, false, 0);
    Buf *lo = add_buf(c, "lo", U16, n, true);
    for (size_t i = 0; i < n; i++) ((uint16_t *)lo->p)[i] = (uint16_t)rng_next(r);
    fill(add_buf(c, "o", BF16, n, false), r, -6, 1, false, 0);
    c->f[0] = (float)update_coefs[s->hyper][0], c->f[1] = (float)update_coefs[s->hyper][1];
    c->ll = s->n;
    void **a = c->args;
    a[0] = &c->ptr[0], a[1] = &c->ptr[1], a[2] = &c->ptr[2], a[3] = &c->f[0], a[4] = &c->f[1], a[5] = &c->ll;
}

/* muon.h's update on the rebuilt fp32 master, split again: 0 ulp in both
 * planes (the master bit for bit). */
static void update_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)k;
    size_t n = (size_t)s->n;
    uint16_t *hi = c->b[0].p, *lo = c->b[1].p;
    float *w = xmalloc(sizeof(float) * n), *o = buf_floats(&c->b[2]);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)hi[i] << 16 | lo[i];
        memcpy(&w[i], &u, sizeof u);
    }
    muon_update_apply(w, o, n, c->f[0], c->f[1]);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &w[i], sizeof u);
        hi[i] = (uint16_t)(u >> 16), lo[i] = (uint16_t)(u & 0xffffu);
    }
    free(w);
    free(o);
}

/* Buffers: 0 in (fp32, a few NaNs), 1 out. */
static void cast_setup(Case *c, const GptcKernel *k, const Shape *s, Rng *r) {
    (void)k;
    fill(add_buf(c, "in", F32, (size_t)s->n, false), r, -30, 20, false, 1.0 / 128);
    fill(add_buf(c, "out", BF16, (size_t)s->n, true), r, -8, 1, false, 0);
    c->ll = s->n;
    c->args[0] = &c->ptr[1], c->args[1] = &c->ptr[0], c->args[2] = &c->ll;
}

/* Round to nearest even, NaN to NaN: 0 ulp. */
static void cast_reference(Case *c, const GptcKernel *k, const Shape *s) {
    (void)k, (void)s;
    const float *in = c->b[0].p;
    for (size_t i = 0; i < c->b[1].n; i++) buf_set(&c->b[1], i, in[i]);
}

static const Shape row_shapes[] = {
    {.rows = 1, .pad_vecs = 1},  {.rows = 37, .pad_vecs = 3},
    {.rows = 37, .pad_vecs = 3, .inplace = true}, {.rows = 64},
    {.rows = 515, .inplace = true}, {.rows = 2051, .pad_vecs = 2},
};

/* Sizes that end inside a vector (1, 3, 30, 1027, 32899), below one
 * vector (1, 3), exactly one block of 256 x 4 (1024); 30 is tiny.yaml's
 * scalars, 32899 about its input table (32896) with a tail. */
/* Rows for the RMS norm: fewer than a block (1), a block's tail (37 with
 * 8 rows per block at TPR 32, 16 at TPR 16, 64 at TPR 4, ...), whole
 * blocks (64), many blocks with edge rows (515, 2051), in place and not,
 * accumulating and not (backward). */
static const Shape rms_shapes[] = {
    {.rows = 1},
    {.rows = 37, .special = true},
    {.rows = 37, .inplace = true, .accumulate = true},
    {.rows = 64, .accumulate = true},
    {.rows = 515, .inplace = true, .special = true},
    {.rows = 2051, .accumulate = true, .special = true},
};

/* The x0 mix's backward and its lambdas' gradients: as the x0 mix's rows
 * (a gap between tables in some), with enough rows that each thread of the
 * PARTS blocks takes several vectors (2051), fewer rows than one pass of
 * the grid (1, 37), where some blocks add nothing, and dxs over dxm. */
static const Shape lambda_shapes[] = {
    {.rows = 1, .pad_vecs = 1}, {.rows = 37, .pad_vecs = 3}, {.rows = 64},
    {.rows = 515}, {.rows = 2051, .pad_vecs = 2}, {.rows = 37, .inplace = true},
};

/* Column sums: fewer values than threads (1, 37), one step of the block
 * (1024), several steps with a tail (4099, 10007), one column (the mean
 * loss) and several (the lambdas: up to 17), scaled by 1/n (hyper 1) and
 * not, accumulating and not. */
static const Shape colsum_shapes[] = {
    {.n = 1, .cols = 1},
    {.n = 37, .cols = 3, .accumulate = true},
    {.n = 256, .cols = 17, .accumulate = true},
    {.n = 1024, .cols = 1, .hyper = 1},
    {.n = 4099, .cols = 6, .accumulate = true},
    {.n = 10007, .cols = 1, .hyper = 1},
};

/* Cross-entropy rows: one, a few, edge rows (see ce_setup) in place and
 * not, the loss alone (hyper 1, validation: dlogits NULL), and enough rows
 * for the random block order. */
static const Shape ce_shapes[] = {
    {.rows = 1},
    {.rows = 5, .special = true},
    {.rows = 37, .inplace = true, .special = true},
    {.rows = 37, .hyper = 1, .special = true},
    {.rows = 130},
    {.rows = 515, .inplace = true, .special = true},
};

/* Attention: T a multiple of the tiny models' block size, 32 (the model's
 * rule; the kernels mask any tail): one block, under a 64-row tile (32);
 * tiles and a half (96, 224); windows of 1 block (a query sees its own
 * block only: skipping a key tile that holds a visible key changes the
 * result), 2 and 64 (all of T); one document or several (one starting
 * inside a tile, one on a tile boundary). Few and small: the emulated
 * tensor cores cost about 16 shuffles per mma, and ASan multiplies that. */
static const Shape attn_shapes[] = {
    {.rows = 32, .window = 1},
    {.rows = 96, .window = 2, .special = true},
    {.rows = 160, .window = 1, .special = true},
    {.rows = 224, .window = 64, .special = true},
};
/* Under ASan all but the last: the tails and the window are all there, at
 * under half the cost (ASan's build runs for memory errors, and the -O2
 * build runs every shape). */
#define ATTN_SHAPES(a) a, (int)(sizeof a / sizeof a[0]) - UNDER_ASAN

static const Shape adam_shapes[] = {
    {.n = 1, .hyper = 0, .step = 0},      {.n = 3, .hyper = 1, .step = 1},
    {.n = 4, .hyper = 2, .step = 7},      {.n = 30, .hyper = 2, .step = 0},
    {.n = 1024, .hyper = 3, .step = 0},   {.n = 1027, .hyper = 0, .step = 99},
    {.n = 32899, .hyper = 3, .step = 2999},
};

/* Muon's momentum: per_matrix (n) x count (cols), every size a multiple
 * of 4 (any VEC): one vector, fewer vectors than one pass, tiny.yaml's
 * attention (4 x 128 x 128) and MLP (128 x 512) matrices, and a size that
 * leaves most threads of the last pass idle; step picks the momentum. */
static const Shape momentum_shapes[] = {
    {.n = 4, .cols = 1, .step = 0},     {.n = 1028, .cols = 2, .step = 1},
    {.n = 16384, .cols = 4, .step = 2}, {.n = 65536, .cols = 1, .step = 2},
    {.n = 70004, .cols = 3, .step = 1},
};

/* Normalisation: n = all elements, cols = matrices (n / cols a multiple of
 * 4); tails after the last full vector come from per_matrix % (THREADS
 * VEC). */
static const Shape normalize_shapes[] = {
    {.n = 4, .cols = 1}, {.n = 3084, .cols = 3}, {.n = 65536, .cols = 4}, {.n = 65536, .cols = 1},
};

/* Flat Muon kernels: below one vector, a tail, one block, the tiny MLP
 * matrix with a tail; in place and not; hyper picks the coefficients. */
static const Shape muon_flat_shapes[] = {
    {.n = 1, .hyper = 0},     {.n = 3, .hyper = 1, .inplace = true},
    {.n = 1024, .hyper = 2},  {.n = 1027, .hyper = 1, .inplace = true},
    {.n = 65539, .hyper = 0}, {.n = 65536, .hyper = 2, .inplace = true},
};

/* The embedding forward: norm (hyper 0) with edge rows, without (1), and
 * without with rstd NULL (2); a block's tail and many blocks. */
static const Shape embed_fwd_shapes[] = {
    {.rows = 1},           {.rows = 37, .special = true}, {.rows = 37, .hyper = 1},
    {.rows = 64, .hyper = 2}, {.rows = 515, .special = true}, {.rows = 2051, .hyper = 1},
};

/* The embedding backward: rows = segments (distinct tokens). */
static const Shape embed_bwd_shapes[] = {{.rows = 1}, {.rows = 37}, {.rows = 64}, {.rows = 515}, {.rows = 2051}};

/* q, k, v: tokens of less than one block's RPB, a tail, whole blocks,
 * and more groups than PARTS (so blocks loop: PARTS x RPB is 128 tokens
 * for tiny.yaml); ve there (hyper 0) and NULL (hyper 1); edge heads
 * (special). At most 515 tokens: the kernels do 3 heads' work per thread
 * and are the slowest here on the emulator. */
static const Shape qkv_shapes[] = {
    {.rows = 1},           {.rows = 37, .special = true}, {.rows = 37, .hyper = 1},
    {.rows = 64, .hyper = 1}, {.rows = 261}, {.rows = 515, .special = true},
};

typedef enum { ELEMENTWISE, ROWS, GRID } LaunchRule;

typedef struct Kind Kind;
struct Kind {
    const char *prefix; /* the kernel's name before its suffix */
    const char *args;   /* the parameters this file passes; kernels.h must agree */
    LaunchRule rule;    /* the launch rule kernels.h must give it */
    int tol_ulps;       /* in each output's dtype */
    const Shape *shapes;
    int nshapes;
    void (*setup)(Case *, const GptcKernel *, const Shape *, Rng *);
    void (*reference)(Case *, const GptcKernel *, const Shape *);
    /* The second stage of a two-stage reduction, launched after the kernel
     * (NULL for one stage): the outputs compared are the pipeline's. */
    int (*then)(Case *, const GptcKernel *, const Shape *, const GptcSimOptions *);
    /* A kernel whose input another kernel makes, launched before it with
     * the same options (NULL for none): attn_bwd_dq's stored dS. */
    int (*first)(Case *, const GptcKernel *, const Shape *, const GptcSimOptions *);
};

#define SHAPES(a) a, (int)(sizeof a / sizeof a[0])

static const Kind kinds[] = {
    {"x0_mix_fwd_",
     "__nv_bfloat16 *xm, const __nv_bfloat16 *xs, const __nv_bfloat16 *x0, long long table_stride, "
     "const float *scalars, int lambda_off, int rows",
     ELEMENTWISE, 0, SHAPES(row_shapes), x0_fwd_setup, x0_fwd_reference, NULL, NULL},
    {"relu2_fwd_", "__nv_bfloat16 *act, const __nv_bfloat16 *pre, int rows", ELEMENTWISE, 0, SHAPES(row_shapes),
     relu2_fwd_setup, relu2_fwd_reference, NULL, NULL},
    {"relu2_bwd_", "__nv_bfloat16 *dpre, const __nv_bfloat16 *dact, const __nv_bfloat16 *pre, int rows",
     ELEMENTWISE, 0, SHAPES(row_shapes), relu2_bwd_setup, relu2_bwd_reference, NULL, NULL},
    {"adam_",
     "float *p, float *m, float *v, const float *g, long long n, float beta1, float beta2, float eps, "
     "float decay, float step_size, float rbc2",
     ELEMENTWISE, 0, SHAPES(adam_shapes), adam_setup, adam_reference, NULL, NULL},
    {"rmsnorm_fwd_", "__nv_bfloat16 *y, float *rstd, const __nv_bfloat16 *x, int rows", ROWS, 1,
     SHAPES(rms_shapes), rms_fwd_setup, rms_fwd_reference, NULL, NULL},
    {"rmsnorm_bwd_",
     "__nv_bfloat16 *dx, const __nv_bfloat16 *dy, const __nv_bfloat16 *y, const float *rstd, "
     "int accumulate, int rows",
     ROWS, 1, SHAPES(rms_shapes), rms_bwd_setup, rms_bwd_reference, NULL, NULL},
    {"x0_lambda_grad_",
     "float *partial, __nv_bfloat16 *dxs, __nv_bfloat16 *dx0, const __nv_bfloat16 *dxm, const __nv_bfloat16 *xs, "
     "const __nv_bfloat16 *x0, const float *scalars, long long table_stride, int lambda_off, int rows",
     GRID, 0, SHAPES(lambda_shapes), lambda_setup, lambda_reference, lambda_then, NULL},
    {"colsum_", "float *out, int out_off, const float *in, int n, int cols, float scale, int accumulate", GRID,
     0, SHAPES(colsum_shapes), colsum_setup, colsum_reference, NULL, NULL},
    {"softcap_ce_",
     "float *row_loss, __nv_bfloat16 *dlogits, const __nv_bfloat16 *logits, const int *targets, int count, "
     "int rows",
     ROWS, 0,
     SHAPES(ce_shapes), ce_setup, ce_reference, ce_then, NULL},
    {"muon_momentum_",
     "float *buf, __nv_bfloat16 *x, float *partial, const float *g, float momentum, long long per_matrix, "
     "int count",
     GRID, 0, SHAPES(momentum_shapes), momentum_setup, momentum_reference, momentum_then, NULL},
    {"muon_normalize_", "__nv_bfloat16 *x, const float *sumsq, float eps, long long per_matrix, long long n",
     ELEMENTWISE, 0, SHAPES(normalize_shapes), normalize_setup, normalize_reference, NULL, NULL},
    {"muon_combine_", "__nv_bfloat16 *out, const __nv_bfloat16 *x, const float *t, float a, float b, long long n",
     ELEMENTWISE, 0, SHAPES(muon_flat_shapes), combine_setup, combine_reference, NULL, NULL},
    {"muon_update_",
     "__nv_bfloat16 *hi, unsigned short *lo, const __nv_bfloat16 *o, float decay, float lr_eff, long long n",
     ELEMENTWISE, 0, SHAPES(muon_flat_shapes), update_setup, update_reference, NULL, NULL},
    {"cast_bf16_", "__nv_bfloat16 *out, const float *in, long long n", ELEMENTWISE, 0, SHAPES(muon_flat_shapes),
     cast_setup, cast_reference, NULL, NULL},
    {"embed_fwd_", "__nv_bfloat16 *y, float *rstd, const float *table, const int *ids, int norm, int rows", ROWS,
     0, SHAPES(embed_fwd_shapes), embed_fwd_setup, embed_fwd_reference, NULL, NULL},
    {"embed_bwd_",
     "float *dtable, const __nv_bfloat16 *drows, const int *order, const int *seg_start, const int *seg_token, "
     "int rows",
     ROWS, 0, SHAPES(embed_bwd_shapes), embed_bwd_setup, embed_bwd_reference, NULL, NULL},
    {"qkv_fwd_",
     "__nv_bfloat16 *q, __nv_bfloat16 *k, __nv_bfloat16 *v, float *rstd, const __nv_bfloat16 *qkv, "
     "const __nv_bfloat16 *ve, const float *cos, const float *sin, const float *scalars, int sa_off, int rows",
     GRID, 0, SHAPES(qkv_shapes), qkv_fwd_setup, qkv_fwd_reference, NULL, NULL},
    {"qkv_bwd_",
     "__nv_bfloat16 *dqkv, float *partial, float *dve, const __nv_bfloat16 *dq, const __nv_bfloat16 *dk, "
     "const __nv_bfloat16 *dv, const __nv_bfloat16 *qkv, const float *rstd, const __nv_bfloat16 *ve, "
     "const float *cos, const float *sin, const float *scalars, int sa_off, int rows",
     GRID, 0, SHAPES(qkv_shapes), qkv_bwd_setup, qkv_bwd_reference, qkv_bwd_then, NULL},
    {"x0_skip_fwd_",
     "__nv_bfloat16 *xs, __nv_bfloat16 *xm, const __nv_bfloat16 *x, const __nv_bfloat16 *src, "
     "const __nv_bfloat16 *x0, long long table_stride, const float *scalars, int skip_off, int lambda_off, "
     "int rows",
     ELEMENTWISE, 0, SHAPES(row_shapes), x0_skip_setup, x0_skip_reference, NULL, NULL},
    {"skip_bwd_",
     "__nv_bfloat16 *dsrc, float *partial, const __nv_bfloat16 *dxs, const __nv_bfloat16 *src, "
     "const float *scalars, int skip_off, int rows",
     GRID, 0, SHAPES(lambda_shapes), skip_bwd_setup, skip_bwd_reference, skip_bwd_then, NULL},
    /* Attention: within 1 ulp or the bounds of attn_bounds (bf16 outputs:
     * the bf16 rounding of P and dS dominates, about 2^-8 of the sum of
     * magnitudes; lse fp32: the scores' fp32 error) and attn_pre_reference
     * (delta: its fp32 summation depth). */
    {"attn_fwd_",
     "__nv_bfloat16 *y, float *lse, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, "
     "const int *doc_start, int window_blocks, int rows",
     ROWS, 1, ATTN_SHAPES(attn_shapes), attn_fwd_setup, attn_fwd_reference, NULL, NULL},
    {"attn_bwd_pre_", "float *delta, const __nv_bfloat16 *dy, const __nv_bfloat16 *y, int rows", ROWS, 1,
     ATTN_SHAPES(attn_shapes), attn_pre_setup, attn_pre_reference, NULL, NULL},
    {"attn_bwd_dkdv_",
     "__nv_bfloat16 *dk, __nv_bfloat16 *dv, __nv_bfloat16 *ds, const __nv_bfloat16 *dy, const float *lse, "
     "const float *delta, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, "
     "const int *doc_start, int window_blocks, int ds_slots, int rows",
     ROWS, 1, ATTN_SHAPES(attn_shapes), attn_dkdv_setup, attn_dkdv_reference, NULL, NULL},
    {"attn_bwd_dq_",
     "__nv_bfloat16 *dq, const __nv_bfloat16 *ds, const __nv_bfloat16 *dy, const float *lse, "
     "const float *delta, const __nv_bfloat16 *q, const __nv_bfloat16 *k, const __nv_bfloat16 *v, "
     "const int *doc_start, int window_blocks, int ds_slots, int rows",
     ROWS, 1, ATTN_SHAPES(attn_shapes), attn_dq_setup, attn_dq_reference, NULL, attn_dq_first},
};

static const Kind *find_kind(const GptcKernel *k) {
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
    if (b->dtype == BF16 || b->dtype == U16) return ((const uint16_t *)b->p)[i];
    uint32_t u;
    memcpy(&u, (const float *)b->p + i, sizeof u);
    return u;
}

/* The worst differences of one output (by name: in place, the input's
 * buffer is the output). */
typedef struct {
    const char *name;
    BufType dtype;
    long long ulps;     /* in the output's dtype */
    double abs;         /* |got - want| */
    double frac;        /* the largest |got - want| / allowed, where a bound applies */
    bool bounded;
} Worst;

typedef struct {
    int nworst;
    Worst worst[MAX_BUFS];
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

static Worst *worst_of(Stats *st, const Buf *b) {
    for (int i = 0; i < st->nworst; i++)
        if (!strcmp(st->worst[i].name, b->name)) return &st->worst[i];
    st->worst[st->nworst] = (Worst){b->name, b->dtype, 0, 0, 0, false};
    return &st->worst[st->nworst++];
}

static void describe(char *out, size_t len, const Shape *s, bool flat) {
    if (s->window)
        snprintf(out, len, "T=%d window_blocks=%d%s", s->rows, s->window, s->special ? " documents" : "");
    else if (s->cols)
        snprintf(out, len, "n=%lld cols=%d%s%s", s->n, s->cols, s->hyper ? " scale 1/n" : "",
                 s->accumulate ? " accumulate" : "");
    else if (flat) snprintf(out, len, "n=%lld step=%d", s->n, s->step);
    else
        snprintf(out, len, "rows=%d pad=%d%s%s%s", s->rows, s->pad_vecs, s->inplace ? " in place" : "",
                 s->accumulate ? " accumulate" : "", s->special ? " edge rows" : "");
}

/* An output element passes when it is within the kind's tolerance in ulps
 * or, where the reference set a bound, when both sides are finite and
 * |got - want| <= bound plus one unit in the last place of the output's
 * dtype (its final rounding). */
/* Extra ulps allowed where the GPU's exp and log (within 2 ulp of the
 * correctly rounded result, CUDA's programming guide) stand in for glibc's,
 * which the ref code and the emulator share: set by the GPU mode for the
 * attention kinds (gpu_mode.h). 128 was sized on an H200 for the
 * cross-entropy (33 fp32 ulp measured), which needs none since its bounds
 * carry the GPU's documented errors themselves (ce_reference). */
static int transcendental_slack;

static void compare(const Case *got, const Case *want, const Kind *kind, const char *shape, Stats *st) {
    for (int bi = 0; bi < got->nbufs; bi++) {
        const Buf *g = &got->b[bi], *w = &want->b[bi];
        int width = g->dtype == BF16 || g->dtype == U16 ? 16 : 32;
        if (!guards_intact(g)) note_failure(st, "%s: write outside buffer %s", shape, g->name);
        if (g->scratch) continue;
        Worst *wo = g->output ? worst_of(st, g) : NULL;
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
            double e = isfinite(a) && isfinite(b) ? fabs((double)a - b) : (d ? INFINITY : 0);
            if (d > wo->ulps) wo->ulps = d;
            if (e > wo->abs) wo->abs = e;
            bool ok = d <= kind->tol_ulps + transcendental_slack;
            if (want->bound[bi]) {
                double m = fmax(fabs((double)a), fabs((double)b));
                double allowed = want->bound[bi][i] + (g->dtype == BF16 ? bf16_ulp(m) : f32_ulp(m));
                /* e is infinite where one side is inf or NaN and the other is not: never within a bound. */
                ok = ok || (isfinite(e) && e <= allowed);
                wo->bounded = true;
                /* How much of the derived bound the error uses beyond the final rounding. */
                double beyond = e - (allowed - want->bound[bi][i]);
                if (beyond > 0 && beyond / want->bound[bi][i] > wo->frac) wo->frac = beyond / want->bound[bi][i];
            }
            if (!ok)
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

/* kernels.h's launch rule: a fixed grid; or ceil(rows / rows_per_block)
 * blocks; or N / (threads * elems_per_thread) blocks, N = rows * row_elems
 * for a row kernel, else n; and grid_y blocks along y. */
static int launch_args(const GptcKernel *k, void **args, int rows, long long n,
                       const GptcSimOptions *opt) {
    char sym[128];
    snprintf(sym, sizeof sym, "gptc_sim_%s", k->name);
    void *addr = dlsym(self, sym);
    if (!addr) return GPTC_SIM_ERR_CONFIG;
    GptcSimKernelFn fn;
    memcpy(&fn, &addr, sizeof fn);
    long long blocks;
    if (k->grid_blocks > 0) blocks = k->grid_blocks;
    else if (k->rows_per_block > 0) blocks = (rows + k->rows_per_block - 1) / k->rows_per_block;
    else {
        long long total = k->row_elems > 0 ? (long long)rows * k->row_elems : n;
        long long per_block = (long long)k->threads * k->elems_per_thread;
        blocks = (total + per_block - 1) / per_block;
    }
    GptcSimLaunch l = {{(unsigned)blocks, (unsigned)k->grid_y, 1}, {(unsigned)k->threads, 1, 1},
                       (size_t)k->dyn_smem_bytes, *opt};
#ifdef GPTC_KERNELS_GPU
    if (opt == &on_gpu) return gpu_launch(k, &l, args);
#endif
    return fn(&l, args);
}

static int launch(const GptcKernel *k, Case *c, const Shape *s, const GptcSimOptions *opt) {
    return launch_args(k, c->args, s->rows, s->n, opt);
}

static int passed, failed;

static void result(bool ok, const char *model, const char *kernel, const char *what) {
    printf("%s %s: %s %s\n", ok ? "ok" : "FAIL", model, kernel, what);
    if (ok) passed++;
    else failed++;
}

/* Whatever in kernels.h this file does not expect; empty if nothing. */
static void check_plan(const GptcKernel *k, const Kind *kind, char *why, size_t len) {
    why[0] = '\0';
    long long width = kconst(k, "WIDTH") >= 0 ? kconst(k, "WIDTH") : kconst(k, "VPAD");
    long long tables = kconst(k, "TABLES");
    if (strcmp(k->args, kind->args))
        snprintf(why, len, "has parameters (%s), this test passes (%s)", k->args, kind->args);
    else if (kconst(k, "VEC") != k->elems_per_thread || kconst(k, "THREADS") != k->threads)
        snprintf(why, len, "VEC and THREADS differ from the launch shape");
    else if (k->row_elems > 0 && (width != k->row_elems || k->row_elems % k->elems_per_thread))
        snprintf(why, len, "WIDTH %lld, row_elems %d, VEC %d do not fit", width, k->row_elems,
                 k->elems_per_thread);
    else if (!strncmp(kind->prefix, "x0_", 3) && (tables < 1 || tables > MAX_TABLES))
        snprintf(why, len, "TABLES %lld out of 1..%d", tables, MAX_TABLES);
    else if ((kind->shapes[0].rows > 0) != (k->row_elems > 0))
        snprintf(why, len, "row_elems %d: not the launch rule this kind expects", k->row_elems);
    else if ((k->grid_blocks > 0 ? GRID : k->rows_per_block > 0 ? ROWS : ELEMENTWISE) != kind->rule ||
             (k->grid_blocks > 0 && k->rows_per_block > 0))
        snprintf(why, len, "grid_blocks %d, rows_per_block %d: not the launch rule this kind expects",
                 k->grid_blocks, k->rows_per_block);
    else if (k->grid_y != (kconst(k, "HEADS") > 0 ? kconst(k, "HEADS") : 1))
        snprintf(why, len, "grid_y %d: not 1, nor the attention's heads", k->grid_y);
    else if (kconst(k, "TPR") > 0 && k->rows_per_block * kconst(k, "TPR") != k->threads)
        snprintf(why, len, "rows_per_block %d is not THREADS %d / TPR %lld", k->rows_per_block, k->threads,
                 kconst(k, "TPR"));
}

#ifdef GPTC_KERNELS_GPU
#include "tests/kernels/gpu_mode.h"
#endif

static void test_kernel(const char *model, const GptcKernel *k, uint64_t seed) {
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
    /* Nonzero order_seed: random thread order at every scheduling point and
     * random block order; poisoned smem: what nobody wrote reads as NaN;
     * late async work: a cp.async copy lands, and a warpgroup product runs,
     * only at the wait that covers it (the plain run does both at once: both
     * ends of what a GPU may do). */
    GptcSimOptions plain = {0}, shuffled = {.order_seed = seed | 1, .poison_smem = 1, .late_async = 1};
    Stats st = {0};
    bool same = true;
#ifdef GPTC_KERNELS_GPU
    GpuStats gst = {0};
#endif
    for (int si = 0; si < kind->nshapes; si++) {
        /* Wide rows (the variant builds of run-kernels.sh) get fewer of
         * them: at most 2^23 elements per buffer, a few seconds under ASan. */
        Shape clamped = kind->shapes[si];
        if (k->row_elems > 0 && (long long)clamped.rows * k->row_elems > (1 << 23))
            clamped.rows = (1 << 23) / k->row_elems;
        const Shape *s = &clamped;
        char shape[96];
        describe(shape, sizeof shape, s, k->row_elems == 0);
        uint64_t case_seed = seed ^ (0x100000001B3ull * (uint64_t)(si + 1));
        for (const char *c = k->name; *c; c++) case_seed = (case_seed ^ (uint8_t)*c) * 0x100000001B3ull;
        Case got = {0}, want = {0}, again = {0};
        Rng r1 = {case_seed}, r2 = {case_seed}, r3 = {case_seed};
        kind->setup(&got, k, s, &r1);
        kind->setup(&want, k, s, &r2);
        kind->setup(&again, k, s, &r3);
        if ((kind->first && (kind->first(&got, k, s, &plain) != GPTC_SIM_OK ||
                             kind->first(&again, k, s, &shuffled) != GPTC_SIM_OK)) ||
            launch(k, &got, s, &plain) != GPTC_SIM_OK || launch(k, &again, s, &shuffled) != GPTC_SIM_OK ||
            (kind->then && (kind->then(&got, k, s, &plain) != GPTC_SIM_OK ||
                            kind->then(&again, k, s, &shuffled) != GPTC_SIM_OK))) {
            note_failure(&st, "%s: %s", shape, gptc_sim_last_error());
        } else {
            kind->reference(&want, k, s);
            compare(&got, &want, kind, shape, &st);
            if (!same_bytes(&got, &again)) {
                if (same) snprintf(why, sizeof why, "differs at %s", shape);
                same = false;
            }
            st.cases++;
#ifdef GPTC_KERNELS_GPU
            gpu_case(k, kind, s, shape, case_seed, &got, &want, &gst);
#endif
        }
        case_free(&got);
        case_free(&want);
        case_free(&again);
    }
    if (st.failed) snprintf(line, sizeof line, "vs ref: %s", st.first);
    else {
        int at = snprintf(line, sizeof line, "vs ref: %d cases, worst", st.cases);
        for (int i = 0; i < st.nworst && at < (int)sizeof line; i++) {
            const Worst *w = &st.worst[i];
            at += snprintf(line + at, sizeof line - (size_t)at, "%s %s %lld %s ulp (|err| %.3g%s", i ? ";" : "",
                           w->name, w->ulps, dtype_name(w->dtype), w->abs, w->bounded ? ", " : ")");
            if (w->bounded && at < (int)sizeof line)
                at += snprintf(line + at, sizeof line - (size_t)at, "%.2f of its bound)", w->frac);
        }
        bool bounded = false;
        for (int i = 0; i < st.nworst; i++) bounded = bounded || st.worst[i].bounded;
        if (at < (int)sizeof line)
            snprintf(line + at, sizeof line - (size_t)at, "; tolerance %d ulp%s", kind->tol_ulps,
                     bounded ? " or the bound" : "");
    }
    result(!st.failed, model, k->name, line);
    snprintf(line, sizeof line, "random thread/block order + poisoned smem: %s (%d cases)",
             same ? "bit-identical" : why, st.cases);
    result(same, model, k->name, line);
#ifdef GPTC_KERNELS_GPU
    gpu_report(model, k, kind, &gst);
#endif
}


int main(int argc, char **argv) {
#ifdef GPTC_KERNELS_GPU
    int gpu_status = gpu_mode_start(argc, argv);
    if (gpu_status >= 0) return gpu_status;
#endif
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s MODEL_NAME [SEED [FAMILY,...]]\n", argv[0]);
        return 2;
    }
    uint64_t seed = argc >= 3 ? strtoull(argv[2], NULL, 10) : 20240520;
    const char *only = argc == 4 ? argv[3] : NULL;
    self = dlopen(NULL, RTLD_NOW);
    if (!self) {
        fprintf(stderr, "test_kernels: %s\n", dlerror());
        return 2;
    }
    int tested = 0;
    for (int i = 0; i < GPTC_KERNELS_KERNEL_COUNT; i++) {
        if (only && !str_listed(only, gptc_kernels[i].family)) continue;
        test_kernel(argv[1], &gptc_kernels[i], seed);
        tested++;
    }
#ifdef GPTC_KERNELS_GPU
    gpu.close(&gpu);
#endif
    printf("%s: %d of %d kernels, seed %llu: %d checks passed, %d failed\n", argv[1], tested,
           GPTC_KERNELS_KERNEL_COUNT, (unsigned long long)seed, passed, failed);
    return failed || !tested ? 1 : 0;
}
