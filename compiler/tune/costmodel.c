/*
 * costmodel.c: sim's modelled launch times (costmodel.h).
 */
#include "compiler/tune/costmodel.h"

#include <math.h>
#include <string.h>

#define SMS 132
#define THREADS_PER_SM 2048
#define BLOCKS_PER_SM 32
#define LAUNCH_US 2.0
#define WAVE_US 1.0
#define BYTES_PER_US 3.0e6 /* 3 TB/s */

/* One launch of `in` at knobs k over `elems` elements moved `streams`
 * times (its pointer arguments), with `blocks` blocks. */
static double launch_us(const EmitInstance *in, TuneKnobs k, double elems, int streams, long long blocks) {
    int resident = THREADS_PER_SM / k.threads;
    if (resident > BLOCKS_PER_SM) resident = BLOCKS_PER_SM;
    double waves = ceil((double)blocks / (SMS * resident));
    int elem_bytes = !strcmp(in->family, "adam") ? 4 : 2, vec_bytes = k.vec * elem_bytes;
    double narrow = vec_bytes < 16 ? 1.0 + 0.15 * log2(16.0 / vec_bytes) : 1.0;
    double bytes = elems * elem_bytes * streams;
    double body = bytes / BYTES_PER_US > waves * WAVE_US ? bytes / BYTES_PER_US : waves * WAVE_US;
    return LAUNCH_US + body * narrow;
}

static int pointer_args(const PlanStep *st) {
    int n = 0;
    for (int i = 0; i < st->nargs; i++) n += st->args[i].type == PT_PTR;
    return n;
}

static long long arg_value(const PlanStep *st, int i, long long T) {
    if (i < 0) return 0;
    const PlanArg *a = &st->args[i];
    /* ARG_NSEG (embedding segments) is at most the token count. */
    return a->kind == ARG_ROWS ? T * a->ival : a->kind == ARG_NSEG ? T : a->ival;
}

double tune_cost_us(const ModelBuild *b, int inst, TuneKnobs k, long long T) {
    EmitInstance in = b->kernels.inst[inst];
    tune_apply(&in, k);
    double us = 0;
    for (int s = 0; s < b->plan.nsteps; s++) {
        const PlanStep *st = &b->plan.steps[s];
        if (st->kind != STEP_KERNEL || st->kinst != inst) continue;
        long long rows = arg_value(st, st->rows_arg, T), n = arg_value(st, st->n_arg, T);
        double elems = in.width > 0 ? (double)rows * in.width : (double)n;
        us += launch_us(&in, k, elems, pointer_args(st), build_blocks(&in, rows, n) * (in.grid_y > 0 ? in.grid_y : 1));
    }
    const OptimPlan *o = &b->optim;
    for (int i = 0; i < o->nlaunches; i++) {
        const OptimLaunch *l = &o->launches[i];
        if (build_optim_kernel(b, l->op).inst != inst) continue;
        us += launch_us(&in, k, (double)l->n, 3, build_blocks(&in, 0, l->n));
    }
    return us;
}
