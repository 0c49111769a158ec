/*
 * costmodel.h: sim's stand-in for a GPU clock when tuning, so that the
 * whole tuning path (spaces, pruning, the gate, the search, the database)
 * runs and is tested on a machine without a GPU.
 *
 * It is a model, not a measurement, and says so wherever it is used (the
 * database's device validator is "sim cost model"). A launch costs a fixed
 * overhead, plus the larger of its bytes over an H100-like bandwidth and
 * its waves of blocks (132 SMs, 2048 threads and 32 blocks each) times a
 * per-wave latency, stretched for vectors narrower than 16 bytes. It is
 * deterministic, so a search on it always picks the same winners, and it
 * prefers what a GPU tends to prefer (full waves, wide vectors), which is
 * all it is for: the choices it makes are no claim about speed.
 */
#ifndef GPTC_TUNE_COSTMODEL_H
#define GPTC_TUNE_COSTMODEL_H

#include "compiler/build.h"

/* The modelled microseconds of one training step's launches of instance
 * `inst` of b's kernel set (its plan's kernel steps at T tokens, and the
 * optimizer's launches that run it first), at knobs k. */
double tune_cost_us(const ModelBuild *b, int inst, TuneKnobs k, long long T);

#endif
