/*
 * emit.h: from a validated ModelSpec to the generated sources: which kernel
 * instances the model needs, kernels.cu (their CUDA source, rendered from
 * templates/), kernels.h (what the runtime must know to launch them) and
 * kernels_sim.cc (kernels.cu for the sim executor: the same source, built by
 * the host C++ compiler with runtime/device/sim/cuda_emu.h).
 *
 * The kernels, in this order: the x0 mix (forward, and backward for the
 * activations) for the model's table count and width; the relu^2
 * activation for its MLP width; the fp32 Adam step; the weightless RMS norm
 * (forward and backward) at width dim and, when it differs, head_dim; the
 * x0-mix lambdas' gradients (per-block partial sums); the column sums that
 * finish every two-stage reduction; and the softcapped cross-entropy over
 * the padded vocabulary; Muon's momentum with the first stage of its norms,
 * and its elementwise steps (normalise, the Newton-Schulz combinations, the
 * split-master update) with the head's bf16 cast; the bf16-to-fp32 cast of
 * the final norm's output; the embedding tables' gather (with the RMS norm)
 * and their gradients' segment sums; the per-head q/k/v norms, rotary and
 * value mix with their backward (models with attention); the skip add
 * fused into the x0 mix and the skip's backward (models with skips);
 * attention forward and backward (models with an attention layer and
 * head_dim a multiple of 16, up to 256). Every constant is a number taken from the
 * ModelSpec, so the same model always gives the same bytes.
 *
 * Launch rule, for every kernel: `threads` threads per block, and
 *   grid_blocks > 0:     exactly grid_blocks blocks (a fixed grid: the
 *                        kernel loops over its data, so that its reduction
 *                        order does not depend on the size);
 *   rows_per_block > 0:  blocks = ceil(rows / rows_per_block), `rows` its
 *                        last argument (the row reductions);
 *   otherwise:           `vec` elements per thread, blocks = ceil(N /
 *                        (threads * vec)), where N = rows * width for a row
 *                        kernel (width > 0; `rows` is its last argument) and
 *                        N = n for a flat kernel (width == 0; `n` is its size
 *                        argument);
 *   and grid_y blocks along y (1 for every family but attention, whose
 *   grid is (ceil(rows / rows_per_block), heads)). A kernel with
 *   dyn_smem_bytes > 48 KiB needs the driver's opt-in
 *   (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) before its launch.
 * Every pointer argument must be EMIT_ALIGN_BYTES-aligned.
 */
#ifndef GPTC_EMIT_H
#define GPTC_EMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/lang/spec.h"
#include "compiler/util/strbuf.h"

#define EMIT_ALIGN_BYTES 16
#define EMIT_THREADS 256 /* threads per block of the elementwise kernels */
#define EMIT_MAX_CONSTS 20
#define EMIT_MAX_KERNELS 4
#define EMIT_MAX_INSTANCES 16

/* A kernel of an instance. Most templates name their kernels STEM_{{SUFFIX}}:
 * every kernel reads every constant. A template whose kernels each read
 * only some of them (attention: a tuning variant may change one kernel
 * and leave the others as they were) names kernel `key` STEM_{{KEY_TAG}}
 * and wraps it in #if {{KEY_ON}}, so that a variant's kernel that is the
 * same code as another's keeps that one's name and is rendered once. */
typedef struct {
    char name[64];    /* the extern "C" symbol, e.g. "x0_mix_fwd_t2_d128" */
    const char *stem; /* the name before its suffix, e.g. "x0_mix_fwd" */
    const char *key;  /* the template's placeholder prefix for this kernel
                         (name and switch), e.g. "FWD"; NULL: by SUFFIX */
    bool off;         /* rendered out (#if 0): compiled in another program */
    const char *args; /* its parameters in order, for kernels.h */
    int smem_bytes;   /* dynamic shared memory per block */
} EmitKernel;

typedef struct {
    const char *name; /* the template placeholder, e.g. "TABLES" */
    long long value;  /* an integer constant */
    bool is_float;    /* a float constant instead: fvalue, rounded to float */
    double fvalue;
} EmitConst;

/* One rendering of one template: its constants and the kernels it holds. */
typedef struct {
    const char *family;   /* e.g. "x0_mix" */
    const char *tpl;      /* template file, e.g. "x0_mix.cu" */
    char suffix[48];      /* kernel-name suffix, built from the constants */
    int threads, vec, width;
    int rows_per_block;   /* > 0: one block per rows_per_block rows */
    int grid_blocks;      /* > 0: a fixed grid of this many blocks */
    int grid_y;           /* blocks along y (1 but for attention: heads) */
    int nconsts;
    EmitConst consts[EMIT_MAX_CONSTS];
    int nkernels;
    EmitKernel kernels[EMIT_MAX_KERNELS];
} EmitInstance;

typedef struct {
    int n;
    EmitInstance inst[EMIT_MAX_INSTANCES];
} KernelSet;

/* The value of the instance's integer constant `name` (0 when it has none). */
long long emit_const(const EmitInstance *in, const char *name);

/* An attention instance's dynamic shared memory per kernel, from its
 * HEAD_DIM, TILE, FWD_KN, DQ_KN, DKDV_QN, DQ_SRC and STAGES constants (for a tuned
 * variant, after they change). */
void emit_attention_smem(EmitInstance *in);

/* The instances a model needs, in a fixed order. */
void emit_kernel_set(const ModelSpec *s, KernelSet *p);

/* The generated file's first comment block, naming gptc's version and the
 * model file (its base name only, with characters outside [A-Za-z0-9._-]
 * replaced by '_', so that a path can neither vary the bytes nor end the
 * comment). */
void emit_header(const char *version, const char *model_path, const char *what, StrBuf *out);

/* kernels.cu's code: every instance rendered from its template. False with
 * a message when a template does not match its instance (a gptc bug). */
bool emit_kernels(const KernelSet *p, StrBuf *out, char *err, size_t errlen);

/* kernels.h: the kernels as plain C data; source_sha256 is the hash of the
 * kernels.cu it describes. */
void emit_kernels_h(const KernelSet *p, const char *header, const char *source_sha256, StrBuf *out);

/* kernels_sim.cc: includes the kernels.cu beside it and exports each kernel
 * NAME to C as gptc_sim_NAME (runtime/device/sim/sim.h), in kernels.h's order. */
void emit_sim_cc(const KernelSet *p, const char *header, StrBuf *out);

/* kernels_sim.cc's exports alone: a GPTC_SIM_KERNEL line for each kernel
 * of p that is rendered (not off). */
void emit_sim_exports(const KernelSet *p, StrBuf *out);

#endif
