/*
 * report.h: what `gptc check` prints about a validated model: the per-layer
 * table, parameter counts per group and in total, training FLOPs per token,
 * and memory per GPU, as text or as JSON.
 */
#ifndef GPTC_REPORT_H
#define GPTC_REPORT_H

#include <stdio.h>

#include "compiler/report/stats.h"

void report_text(FILE *f, const ModelSpec *s);
void report_json(FILE *f, const ModelSpec *s);

#endif
