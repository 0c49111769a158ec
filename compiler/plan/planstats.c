/*
 * planstats.c: a plan's launches and traffic, fused and unfused (see
 * planstats.h).
 */
#include "compiler/plan/planstats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int64_t ref_bytes(const Plan *p, OpRef r, int64_t T) {
    return (r.per_token * T + r.fixed) * plan_dtype_bytes(p->bufs[r.buf].dtype);
}

/* Adds r to a set of (buffer, bytes) keeping the largest part per buffer. */
static void note(int *bufs, int64_t *bytes, int *n, int buf, int64_t b) {
    for (int i = 0; i < *n; i++)
        if (bufs[i] == buf) {
            if (b > bytes[i]) bytes[i] = b;
            return;
        }
    bufs[*n] = buf, bytes[*n] = b, ++*n;
}

/* A fused step reads what its ops take from outside it and writes what it
 * stores: intermediates between its ops never reach memory. */
int64_t plan_step_bytes(const Plan *p, const PlanStep *st, int64_t T) {
    int rb[PLAN_MAX_OPS * PLAN_MAX_REFS], wb[PLAN_MAX_OPS * PLAN_MAX_REFS], nr = 0, nw = 0;
    int64_t rbytes[PLAN_MAX_OPS * PLAN_MAX_REFS], wbytes[PLAN_MAX_OPS * PLAN_MAX_REFS];
    const PlanOp *ops = p->ops + st->first_op;
    for (int j = 0; j < st->nops; j++) {
        const PlanOp *o = &ops[j];
        for (int r = 0; r < o->nin; r++) {
            bool inside = false;
            for (int j2 = 0; j2 < j && !inside; j2++)
                for (int w = 0; w < ops[j2].nout; w++) inside |= ops[j2].out[w].buf == o->in[r].buf;
            if (!inside && p->bufs[o->in[r].buf].cls != BUF_INTERNAL)
                note(rb, rbytes, &nr, o->in[r].buf, ref_bytes(p, o->in[r], T));
        }
        for (int w = 0; w < o->nout; w++)
            if (p->bufs[o->out[w].buf].cls != BUF_INTERNAL)
                note(wb, wbytes, &nw, o->out[w].buf, ref_bytes(p, o->out[w], T));
    }
    int64_t sum = 0;
    for (int i = 0; i < nr; i++) sum += rbytes[i];
    for (int i = 0; i < nw; i++) sum += wbytes[i];
    return sum;
}

static int by_bytes_desc(const void *a, const void *b) {
    int64_t x = ((const PlanKernelBytes *)a)->bytes, y = ((const PlanKernelBytes *)b)->bytes;
    return (x < y) - (x > y);
}

int plan_bytes_by_kernel(const Plan *p, int64_t T, PlanKernelBytes *out, int max) {
    PlanKernelBytes *all = calloc((size_t)p->nsteps + 1, sizeof *all);
    if (!all) return 0;
    int n = 0;
    for (int i = 0; i < p->nsteps; i++) {
        const PlanStep *st = &p->steps[i];
        static const char *const kinds[] = {"", "GEMMs", "copies", "zeroings"};
        char name[72];
        if (st->kind == STEP_KERNEL) snprintf(name, sizeof name, "%s", st->kernel);
        else snprintf(name, sizeof name, "%s (%s)", kinds[st->kind], st->backward ? "backward" : "forward");
        int j = 0;
        while (j < n && strcmp(all[j].name, name)) j++;
        if (j == n) snprintf(all[n++].name, sizeof all->name, "%s", name);
        all[j].launches++;
        all[j].bytes += plan_step_bytes(p, st, T);
    }
    qsort(all, (size_t)n, sizeof *all, by_bytes_desc);
    memcpy(out, all, sizeof *all * (size_t)(n < max ? n : max));
    free(all);
    return n;
}

void plan_stats(const Plan *p, int64_t T, PlanStats *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < p->nsteps; i++) {
        const PlanStep *st = &p->steps[i];
        out->launches++;
        out->bytes += plan_step_bytes(p, st, T);
        for (int j = 0; j < st->nops; j++) {
            const PlanOp *o = &p->ops[st->first_op + j];
            out->unfused_launches++;
            for (int r = 0; r < o->nin; r++) out->unfused_bytes += ref_bytes(p, o->in[r], T);
            for (int r = 0; r < o->nout; r++) out->unfused_bytes += ref_bytes(p, o->out[r], T);
        }
    }
}
