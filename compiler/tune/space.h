/*
 * space.h: the variant spaces of the template families, and the choices
 * that select one variant per kernel instance.
 *
 * A variant is a setting of an instance's knobs. emit.c's rule gives each
 * instance its knobs; tune_candidates lists the others its template
 * supports at that shape, with the rule's setting always candidate 0 (and
 * the fallback). The spaces, per family:
 *
 *   x0_mix, relu2, x0_skip, adam, muon   threads per block (64..1024) and
 *       the vector width (the rule's, or half of it): elementwise, each
 *       element computed alone, so no knob changes the order of a sum.
 *   rmsnorm, embed                       threads per block (64..1024) while
 *       a row takes at most a warp: the rows per block change, never the
 *       TPR threads that sum one row. A wider row is a block already.
 *   softcap_ce                           threads per block (128..1024):
 *       each thread's share of a row, and so the order of the row's max
 *       and sum, changes with it (reorders).
 *   attention                            the query tile per block (64 or
 *       128 rows: 4 or 8 warps) and each kernel's streamed tile (attn_fwd's
 *       keys 32, 64 or 128; attn_bwd_dq's keys 32 or 64; attn_bwd_dkdv's
 *       queries 16, 32 or 64): the online softmax rescales and the
 *       gradients accumulate tile by tile, so every one reorders. Shared
 *       memory is recomputed for each (emit_attention_smem); what does not
 *       fit, or spills, pruning drops. And the blocks per SM that
 *       __launch_bounds__ asks registers for (1 or 2): the register budget
 *       changes, never the arithmetic, so with the rule's tiles it keeps
 *       every sum's order. And, at the rule's tiles (2 or 3 stages),
 *       dQ's other source (DQ_SRC: recomputed by attn_bwd_dq, or the dS
 *       attn_bwd_dkdv stored): the same sums term for term, but the GPU's
 *       tensor cores do not promise the same bits for a product and its
 *       transpose, so it counts as reordering. And the stages the streamed tiles go
 *       through (2 or 3, with every tile choice at the rule's blocks per
 *       SM): the copies are scheduled earlier, never the arithmetic, so
 *       with the rule's tiles it keeps every sum's order. And, at head_dim
 *       64 or 128, attn_fwd on warpgroups (FWD_MMA 2: sm_90a's wgmma, the
 *       portable twin elsewhere) with key tiles of 64 or 128 and every tile
 *       choice of the other kernels at the rule's blocks per SM and stages,
 *       and with attn_bwd_dkdv on warpgroups too (DKDV_MMA 2, query tiles of
 *       32 or 64), then with attn_bwd_dq on warpgroups as well (DQ_MMA 2,
 *       where dQ reads the stored dS): other products, so they reorder.
 *       And attn_fwd on warpgroups with the next key tile's scores and
 *       softmax overlapping this tile's P V (FWD_MMA 3, 3 stages; key tiles
 *       of 64 or 128), alone and with the other two on warpgroups.
 *
 * Fixed, never tuned: the fixed grids of the two-stage reductions
 * (x0_lambda_grad, skip, muon_momentum, qkv, colsum), which make a run's
 * bits independent of the GPU.
 *
 * A choice names its instance by family and shape (the rule's kernel-name
 * suffix, which holds every constant of the instance), so that a tuning
 * database outlives a rebuild; tune_apply renames the instance's kernels
 * for the variant, so two variants share a symbol only where it is the
 * same kernel (attention's, whose kernels each read some of the knobs).
 */
#ifndef GPTC_TUNE_SPACE_H
#define GPTC_TUNE_SPACE_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/codegen/emit.h"

#define TUNE_MAX_CANDIDATES 192

/* An instance's knobs. threads and vec are every family's; the rest are
 * attention's (0 elsewhere): the query tile per block (TILE, 16 rows a
 * warp, so threads = 2 x tile), the key or query tile each of its kernels
 * streams (attn_fwd's FWD_KN, attn_bwd_dq's DQ_KN, attn_bwd_dkdv's
 * DKDV_QN), the blocks per SM its __launch_bounds__ asks for
 * (MIN_BLOCKS), dQ's source (DQ_SRC: 1 recomputed, 2 stored dS), the
 * stages its streamed tiles go through (STAGES: 2 or 3) and the products
 * of attn_fwd, attn_bwd_dkdv and attn_bwd_dq (FWD_MMA, DKDV_MMA, DQ_MMA: 1
 * mma.sync per warp, 2 wgmma per warpgroup, 3 attn_fwd's wgmma overlapped
 * with its softmax). */
/* A GEMM's algorithm by the device's configuration fields (runtime/device/
 * gpu.h's GpuGemmAlgo: id, tile, stages, split-K count, reduction scheme,
 * CTA swizzling, custom option, inner and cluster shapes), so that a choice
 * is rebuilt in another process. set: 0 for a kernel's knobs, 1 the
 * device's default (a GEMM's rule: cuBLASLt's heuristic's first), 2 these
 * fields. Written "algo=default" or "algo=ID.TILE.STAGES.SPLITK.REDUCTION.
 * SWIZZLE.CUSTOM.INNER.CLUSTER". */
typedef struct {
    int set, id, tile, stages, splitk, reduction, swizzle, custom, inner, cluster;
} TuneAlgo;

typedef struct {
    int threads; /* threads per block */
    int vec;     /* elements per vector */
    int tile, fwd_kn, dq_kn, dkdv_qn, minb, dq_src, stages, fwd_mma, dkdv_mma, dq_mma;
    TuneAlgo algo; /* GEMMs only */
} TuneKnobs;

#define TUNE_KNOBS_TEXT 128

/* The family of a GEMM's choice: its shape is gpu_gemm_key's text, its
 * knobs only an algorithm, and it names no template. */
#define TUNE_GEMM "gemm"

bool tune_knobs_equal(TuneKnobs a, TuneKnobs b);

/* "threads=N vec=N", then attention's "tile=N fwd_kn=N dq_kn=N dkdv_qn=N
 * minb=N" where set: how the database and the reports write them. */
void tune_knobs_format(TuneKnobs k, char *out, size_t cap);

/* One "name=N" word into k; false if the name is not a knob or N is not a
 * whole number from 1 to 65536 (or, for algo, not "default" or its nine
 * fields). */
bool tune_knobs_parse(const char *word, TuneKnobs *k);

typedef struct {
    TuneKnobs knobs;
    bool reorders; /* sums in another order than candidate 0: compared to it
                      within the kernel's tolerance, not bit for bit */
} TuneCandidate;

/* The instance's variants, candidate 0 its rule's; returns how many (at
 * most max; 1 when the family is not tuned). `in` must be as emit.c made
 * it, before any tune_apply. */
int tune_candidates(const EmitInstance *in, TuneCandidate *out, int max);

/* Whether k is one of the instance's candidates (`in` as emit.c made it). */
bool tune_is_candidate(const EmitInstance *in, TuneKnobs k);

/* The instance's knobs now. */
TuneKnobs tune_knobs(const EmitInstance *in);

/* Sets the instance's knobs to k (one of its candidates): threads, vector
 * width, rows per block, the THREADS and VEC constants, and the kernel
 * names (the rule's suffix plus "_n<threads>v<vec>" when k is not the
 * rule's; an attention kernel whose own knobs are the rule's keeps the
 * rule's name, the others add a tag of their own knobs, so that variants
 * name a kernel they share alike). The instance's suffix adds a tag of
 * every knob. */
void tune_apply(EmitInstance *in, TuneKnobs k);

typedef struct {
    char family[32];
    char shape[48]; /* the rule's suffix */
    char tpl[17];   /* tune_template_hash of its template; "" not checked */
    TuneKnobs knobs;
} TuneChoice;

/* The first 16 hex digits of the SHA-256 of the built-in template `name`
 * ("" when there is none): a choice made for another version of the
 * template is stale. */
void tune_template_hash(const char *name, char out[17]);

typedef struct {
    int n;
    TuneChoice c[EMIT_MAX_INSTANCES * 4];
} TuneChoices;

/* The choice for an instance (by its family and the rule's suffix); NULL
 * when none, which means the rule. */
const TuneChoice *tune_find(const TuneChoices *t, const char *family, const char *shape);

/* Applies every choice that names an instance of p. False, with the first
 * that is not one of its candidates or was made for another version of
 * its template, in err: such a choice (a hand-edited or stale database) is
 * an error, never ignored. */
bool tune_apply_all(KernelSet *p, const TuneChoices *t, char *err, size_t errlen);

#endif
