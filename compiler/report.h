/*
 * report.h: what `gptc check` prints about a validated model: the per-layer
 * table, parameter counts per group and in total, training FLOPs per token,
 * and memory per GPU (parameters, gradients, optimizer state, activations),
 * as text or as JSON.
 */
#ifndef GPTC_REPORT_H
#define GPTC_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "params.h"
#include "spec.h"

typedef struct {
    int64_t params_total;
    int64_t params_group[GROUP_COUNT];
    double flops_matmul;    /* per token, forward + backward, GEMMs incl. head */
    double flops_attention; /* per token, forward + backward, at the final window */
    double flops_total;
    int64_t bytes_params, bytes_grads, bytes_optim, bytes_activations;
    int64_t bytes_total;    /* per GPU */
} ModelStats;

void report_stats(const ModelSpec *s, ModelStats *out);
void report_text(FILE *f, const ModelSpec *s);
void report_json(FILE *f, const ModelSpec *s);

#endif
