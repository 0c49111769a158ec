/*
 * prune.h: static pruning, on any machine. Every variant but the rule is
 * compiled by NVRTC (through its cache and thread pool, many variants to a
 * program) and dropped, before anything runs, if ptxas reports that one of
 * its kernels spills, uses local memory, needs more shared memory than a
 * block may have, or needs more registers for its threads than an SM has;
 * or, asking for several blocks per SM (attention's minb), more shared
 * memory or registers than that many blocks can have.
 */
#ifndef GPTC_TUNE_PRUNE_H
#define GPTC_TUNE_PRUNE_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/codegen/nvrtc.h"
#include "compiler/tune/search.h"

#define PRUNE_SMEM_MAX (227 * 1024) /* shared memory per block on sm_90, opted in */
#define PRUNE_SMEM_SM (228 * 1024)  /* per SM, of which 1 KiB per block is the system's */
#define TUNE_MAX_PROGRAMS 64
#define TUNE_NO_COMPILE "does not compile" /* a pruned variant's why, when NVRTC failed */

/* The variants of ins[0..n) (instances of `rules`, tune_apply'd; all but
 * each rule, or with ok_only those still TUNE_OK) grouped into kernel sets,
 * one program each, every kernel rendered once: a variant's kernel that
 * the rules or an earlier variant name already is off (EmitKernel.off),
 * and a variant with all its kernels off is in no set. As many sets as
 * NVRTC workers here (more where a set would hold more than
 * EMIT_MAX_INSTANCES), each variant in the one that renders fewest
 * kernels so far; the same variants group alike on a machine, so its
 * compile cache answers. Returns how many sets, or -1 with err (more than
 * max would be needed, or no memory). */
int tune_variant_sets(const KernelSet *rules, const TuneInstance *ins, int n, bool ok_only, KernelSet *sets, int max,
                      char *err, size_t errlen);

/* Why ptxas's report `r` rules out kernel k at `threads` threads per block
 * with `min_blocks` of them asked for per SM (written into buf), or NULL
 * when it does not. */
const char *tune_prune_why(const KernelRes *r, const EmitKernel *k, int threads, int min_blocks, char *buf, size_t cap);

/* Compiles the variants of ins[0..n) (instances of `rules`) for `arch`
 * and marks those ruled out TUNE_PRUNED, with why. False, with err, when
 * NVRTC is missing or a variant does not render. */
bool tune_prune(const KernelSet *rules, TuneInstance *ins, int n, const char *arch, char *err, size_t errlen);

#endif
