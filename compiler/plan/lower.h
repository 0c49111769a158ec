/*
 * lower.h: one training step of a ModelSpec as a plan the executors run:
 * the buffers (activations, token arrays, views of the parameters), and the
 * steps in launch order (fused kernel launches, GEMMs, copies, zero fills),
 * each kernel argument bound BY PARAMETER NAME to a buffer, a scalar or a
 * runtime value. Every step also lists the elementary ops it computes (the
 * op graph of model.c, one op per line of the ref code), so the same plan
 * gives the unfused view: one launch per op, every intermediate stored.
 *
 * Forward and backward mirror runtime/ref/model.c op by op (lower.c says
 * where the fused order differs, and why that is the same math).
 *
 * Sizes are `per_token * T + fixed` elements, so one plan holds for every
 * T; arena.c places the arena buffers, exec.c runs the steps.
 */
#ifndef GPTC_LOWER_H
#define GPTC_LOWER_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler/plan/params.h"
#include "compiler/lang/spec.h"
#include "compiler/util/strbuf.h"

#define PLAN_MAX_BUFS 4096
#define PLAN_MAX_STEPS 4096
#define PLAN_MAX_ARGS 16
#define PLAN_MAX_OPS 6
#define PLAN_MAX_REFS 8

typedef enum { PD_BF16, PD_F32, PD_I32, PD_U16 } PlanDtype;

typedef enum {
    BUF_ARENA,    /* an activation in the one arena (arena.c places it) */
    BUF_INPUT,    /* uploaded by the executor before each step (ids, tables) */
    BUF_PARAM,    /* a view of a parameter tensor (plane below) */
    BUF_INTERNAL  /* an intermediate a fused kernel never stores */
} BufClass;

typedef enum { PLANE_MASTER, PLANE_HI, PLANE_BF16COPY, PLANE_GRAD } ParamPlane;

/* Uploaded inputs, in the order of the executor's upload. */
typedef enum {
    IN_IDS, IN_TARGETS, IN_DOC_START, IN_COS, IN_SIN,
    IN_SEG_ORDER, IN_SEG_START, IN_SEG_TOKEN, IN_COUNT
} PlanInput;

typedef struct {
    char name[40];
    BufClass cls;
    PlanDtype dtype;
    int64_t per_token, fixed; /* elements: per_token * T + fixed */
    int tensor;               /* BUF_PARAM: index in params_list */
    ParamPlane plane;
    int64_t tensor_off;       /* BUF_PARAM: first element of the view */
    PlanInput input;          /* BUF_INPUT */
    bool output;              /* read by the executor after the step (the loss) */
    /* arena.c: arena offset in bytes = off_per_token * T + off_fixed */
    int64_t off_per_token, off_fixed;
    int first, last;          /* steps of the first write and last access */
} PlanBuf;

typedef enum {
    ARG_BUF,     /* buffer `id`, `off_pt` * T + `off` elements in */
    ARG_NULL,    /* a NULL pointer (an absent optional tensor) */
    ARG_INT,     /* the constant ival */
    ARG_FLOAT,   /* the constant fval */
    ARG_ROWS,    /* T * ival (rows, table strides, counts) */
    ARG_INV_ROWS,/* 1 / T, as a float (the mean loss) */
    ARG_WINDOW,  /* window blocks of layer ival at this step (spec_window_blocks) */
    ARG_NSEG,    /* embedding segments of this step's ids (token_segments) */
    ARG_DS_SLOTS /* the constant ival: the stored-dS slots per 16 queries that
                  * layer id's buffer has (templates/attention.cu); the
                  * executor refuses a step whose window needs more */
} ArgKind;

/* The C type of a kernel parameter: how an argument is passed. */
typedef enum { PT_PTR, PT_INT, PT_LL, PT_FLOAT } ParamType;

typedef struct {
    const char *name; /* the kernel parameter it binds */
    ArgKind kind;
    ParamType type;   /* KERNEL: the parameter's C type (bind.c sets it) */
    int id;
    int64_t off_pt, off;
    long long ival;
    double fval;
} PlanArg;

typedef enum { STEP_KERNEL, STEP_GEMM, STEP_COPY, STEP_ZERO } StepKind;

/* A size rule: per_token * T + fixed. */
typedef struct {
    int64_t per_token, fixed;
} PlanDim;

typedef struct {
    PlanDim m, n, k;
    int trans_a, trans_b;
    long long lda, ldb, ldc;
    float alpha, beta;
} PlanGemm;

/* One operand of an elementary op: a buffer, or part of one. */
typedef struct {
    int buf;
    int64_t per_token, fixed; /* elements touched */
} OpRef;

typedef struct {
    const char *kind; /* e.g. "gather", "rmsnorm", "matmul" */
    int nin, nout;
    OpRef in[PLAN_MAX_REFS], out[PLAN_MAX_REFS];
} PlanOp;

typedef struct {
    StepKind kind;
    char kernel[64];   /* STEP_KERNEL: the symbol in kernels.cu */
    int kinst, kidx;   /* KERNEL: the instance (its launch rule: emit.h) and
                        * its kernel in the build's kernel set */
    int rows_arg, n_arg; /* KERNEL: the arguments `rows` and `n` that size
                          * the grid (emit.h's launch rule); -1: none */
    char what[48];     /* e.g. "L3 mlp norm" */
    int layer;         /* -1 outside the blocks */
    bool backward;
    int nargs;
    /* KERNEL: one per parameter, in the kernel's parameter order with
     * their C types (bound by name while lowering, placed by bind.c);
     * GEMM: a, b, c, c_in (ARG_NULL: C is c); COPY: dst, src; ZERO: dst */
    PlanArg args[PLAN_MAX_ARGS];
    PlanGemm gemm;
    PlanDim bytes;     /* COPY, ZERO: bytes */
    int first_op, nops; /* its elementary ops: the plan's ops[first_op ..] */
} PlanStep;

/* One training step. The arrays are the plan's own (plan_free); a build
 * that gptc compile wrote out as C data (build.h) points at static ones,
 * and has no op graph (ops NULL): the executors never read it. */
typedef struct {
    int block_size;                    /* T is a multiple of it (the window block) */
    int nbufs, nsteps, nforward, nops; /* steps [0, nforward) are the forward pass */
    PlanBuf *bufs;
    PlanStep *steps;
    PlanOp *ops;
    int loss_buf;
    /* What the metrics' norms read after a forward pass (bf16, live until
     * the backward pass): x where it enters each layer's mix [T, dim], and
     * the input tables after their norm [tables, T, dim]. */
    int xs_buf[SPEC_MAX_LAYERS], x0_buf;
} Plan;

/* Whether the GPU executors' plan covers this model; false with the reason
 * (a limit of the fused kernels, not a bad model: ref runs it). */
bool lower_supported(const ModelSpec *s, char *err, size_t errlen);

/* The plan of one training step of build b (its spec, tensors and kernel
 * set: build.h), into b->plan, with the device gradient layout (b->grad_off,
 * b->grad_total). False with a message for a model the lowering does not
 * handle, or a binding that does not match a kernel's parameters (a gptc
 * bug). */
struct ModelBuild;
bool lower_plan(struct ModelBuild *b, char *err, size_t errlen);
void plan_free(Plan *p);

/* The op graph, one elementary op per line, with each step's fused kernel. */
void lower_print_graph(const Plan *p, StrBuf *out);

/* The stored-dS slots per 16 queries (templates/attention.cu) that a
 * window of window_blocks blocks of block_size tokens needs at T tokens:
 * its 16-key granules, at most the tokens'. */
long long plan_ds_slots(int block_size, long long window_blocks, long long T);

/* Elements of a size rule at T tokens, and bytes of one element. */
int64_t plan_dim(PlanDim d, int64_t T);
int64_t plan_elems(const PlanBuf *b, int64_t T);
int plan_dtype_bytes(PlanDtype d);
const char *plan_dtype_name(PlanDtype d);

#endif
