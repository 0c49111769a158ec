/*
 * build.h: the model build: everything a model needs to train, made once
 * from its ModelSpec by model_build, the one entry point from the runtime
 * into the compiler.
 *
 *   spec       the resolved model and run
 *   tensors    its parameters in state_dict order, each with its role
 *              (params.h), and their gradients' device layout
 *   kernels    the kernel set (emit.h: the instances of the templates the
 *              model needs) and their source, kernels.cu, with its hash
 *   plan       one training step (lower.h): buffers and launches, every
 *              kernel argument resolved to a typed slot (bind.h)
 *   arena      where the plan's activations live (arena.h)
 *   optim      the optimizer step as launches over the same kernel set
 *
 * `gptc compile` writes a build out as C data (generated/NAME/build.c,
 * written by buildc.h), which the generated trainer links; `gptc train`,
 * `gptc bench`, the executors and the tests take the build model_build
 * makes in memory. Either way the runtime reads the same structure and
 * never calls the compiler's stages itself.
 *
 * A model the GPU lowering does not cover (lower_supported) still builds,
 * for the ref executor, which needs only the spec and the tensors: such a
 * build has no plan, and plan_why says why.
 */
#ifndef GPTC_BUILD_H
#define GPTC_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler/plan/arena.h"
#include "compiler/codegen/emit.h"
#include "compiler/plan/lower.h"
#include "compiler/plan/params.h"
#include "compiler/lang/spec.h"
#include "compiler/tune/space.h"

/* A kernel of the build's kernel set: instance `inst`, its kernel `k`. */
typedef struct {
    int inst, k;
} KernelRef;

/* One launch of the optimizer step, in order. Adam: its update, then the
 * bf16 copy's refresh where the tensor has one (cast). Muon: the momentum
 * (every rank, every tensor: the state stays whole on each), then, on the
 * rank that owns the tensor (muon_owner), the norm's sums and the
 * normalisation, ns_steps Newton-Schulz iterations (GEMMs and combines:
 * optim_gpu.h) and the update; with several ranks the owner's new weights
 * then go to every rank (share). `n` is the elements the launch covers. */
typedef enum {
    OL_ADAM, OL_CAST, OL_MOMENTUM, OL_NORM, OL_NEWTON_SCHULZ, OL_UPDATE, OL_SHARE
} OptimOp;

typedef struct {
    OptimOp op;
    int tensor;
    long long n;
} OptimLaunch;

#define OPTIM_MAX_LAUNCHES (6 * PARAMS_MAX)

typedef struct {
    KernelRef adam, cast, momentum, colsum, normalize, combine, update;
    int nlaunches;
    OptimLaunch launches[OPTIM_MAX_LAUNCHES];
    /* The optimizer's device state and scratch, in elements: Adam's
     * moments and Muon's momentum (each tensor at state_off, 4-float
     * aligned), Newton-Schulz's X (x) and A, B (square), the norms'
     * partial sums (partials) and sums (count). */
    int64_t state_off[PARAMS_MAX];
    int64_t adam_state, muon_state;
    int64_t x, square, partials, count;
} OptimPlan;

/* The kernels compiled ahead of time for one architecture ("sm_90a"). */
typedef struct {
    char arch[16];
    const unsigned char *data;
    size_t size;
} BuildCubin;

#define BUILD_MAX_CUBINS 4
#define BUILD_MAX_GEMMS 64

typedef struct ModelBuild {
    ModelSpec spec;
    char model_name[128];         /* the model file's base name, for messages */
    int ntensors;
    ParamTensor tensors[PARAMS_MAX];
    int64_t grad_off[PARAMS_MAX]; /* each tensor's gradient in the device's buffer, in floats */
    int64_t grad_total;
    KernelSet kernels;
    const char *kernels_cu;       /* the kernel set's CUDA source */
    const char *kernels_sim_cc;   /* the same for the sim executor (emit_sim_cc) */
    /* More kernels, each program its own source: the variants that gptc
     * tune's timing build adds beside the rules' (cli/cmd_tune.c). cuda
     * loads each as a module of its own, compiled in parallel; sim compiles
     * them as part of kernels.cu, so kernels_sim_cc must list them. */
    const char *const *extra_cu;
    int nextra_cu;
    char kernels_sha256[65];
    /* The tuning choices applied to the kernel set (tune/space.h): the
     * first 16 hex digits of the SHA-256 of those that differ from the
     * rules, "" when none does. A checkpoint keeps it, and --resume
     * compares it like any other setting. */
    char tuning[17];
    /* The GEMM algorithms chosen by shape (family TUNE_GEMM, the shape
     * gpu_gemm_key's text): the executor has its device run them
     * (Gpu.gemm_use); a shape without one runs the device's default. */
    int ngemm;
    TuneChoice gemm[BUILD_MAX_GEMMS];
    bool has_plan;                /* false: ref only (plan_why) */
    char plan_why[256];
    Plan plan;
    ArenaLayout arena;
    OptimPlan optim;
    /* A generated trainer's (cubins.c and its link): its kernels compiled
     * ahead of time for the GPUs (the cuda executor loads the one for its
     * GPU instead of running NVRTC), and sim's linked into the program
     * (instead of built with the C++ compiler at run time). */
    int ncubins;
    BuildCubin cubins[BUILD_MAX_CUBINS];
    bool sim_linked;
    bool owned;                   /* made by model_build (model_build_free frees it) */
} ModelBuild;

/* The build of spec s; NULL with a message only for a gptc bug (a template
 * and its instance disagree) or out of memory. */
ModelBuild *model_build(const ModelSpec *s, char *err, size_t errlen);

/* The same with tuning choices (NULL: the rules); NULL with a message also
 * when a choice for one of the model's instances is not among its
 * candidates. */
ModelBuild *model_build_tuned(const ModelSpec *s, const TuneChoices *t, char *err, size_t errlen);
void model_build_free(ModelBuild *b);

/* Whether spec s needs the kernels build b holds (same instances, shapes
 * and grids): a run setting such as train.tokens_per_rank sizes the fixed
 * grids of the two-stage reductions, so it changes the order of their sums.
 * If not, `which` names the first that differs, "old -> new". */
bool build_kernels_fit(const ModelBuild *b, const ModelSpec *s, char *which, size_t cap);

/* The kernel an optimizer launch runs first (Newton-Schulz: its
 * combination; a share: none, inst -1). */
KernelRef build_optim_kernel(const ModelBuild *b, OptimOp op);

/* How many launches of instance `inst` one training step makes: its
 * plan's kernel steps and the optimizer's launches (by their first
 * kernel). */
int build_launches(const ModelBuild *b, int inst);

/* Blocks along x of a launch under emit.h's launch rule, from the
 * instance's shape and its `rows` and `n` arguments (0 where it has none). */
long long build_blocks(const EmitInstance *in, long long rows, long long n);

/* The instance and kernel a reference names. */
const EmitKernel *build_kernel(const ModelBuild *b, KernelRef r);

#endif
