/*
 * stats.h: what a validated model costs: parameters per group and in total,
 * training FLOPs per token, and memory per GPU (parameters, gradients,
 * optimizer state, activations). Used by `gptc check` and by the validator's
 * memory limit.
 */
#ifndef GPTC_STATS_H
#define GPTC_STATS_H

#include <stdint.h>

#include "compiler/plan/params.h"
#include "compiler/lang/spec.h"

typedef struct {
    int64_t params_total;
    int64_t params_group[GROUP_COUNT];
    double flops_matmul;    /* per token, forward + backward, GEMMs incl. head */
    double flops_attention; /* per token, forward + backward, at the final window */
    double flops_total;
    int64_t bytes_params, bytes_grads, bytes_optim, bytes_activations;
    int64_t bytes_total;    /* per GPU */
    int muon_matrices;      /* Muon matrices in the model */
    int muon_owned;         /* of those, how many rank 0 orthogonalises */
    /* Per step with train.ranks ranks (none with one): the gradients
     * averaged over the ranks (fp32, all of them) and what a ring all-reduce
     * sends from each rank, 2 (N - 1) / N of it; the Muon weights the owners
     * broadcast (both 16-bit halves) and what rank 0 receives of them. */
    int64_t comm_allreduce, comm_allreduce_sent, comm_bcast, comm_bcast_received;
} ModelStats;

void stats_compute(const ModelSpec *s, ModelStats *out);

#endif
