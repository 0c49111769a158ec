/*
 * bench_profile.c: see bench_profile.h.
 */
#include "runtime/train/bench_profile.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char name[64];
    double ms, flops;
    int launches;
} Family;

static double gemm_flops(const PlanStep *st, int T) {
    const PlanGemm *g = &st->gemm;
    return 2.0 * (double)plan_dim(g->m, T) * (double)plan_dim(g->n, T) * (double)plan_dim(g->k, T);
}

/* A kernel's family: its name without its instance's suffix
 * (rmsnorm_fwd_d128 -> rmsnorm_fwd). */
static void family_name(const ModelBuild *b, const PlanStep *st, char *out, size_t cap) {
    const char *pass = st->backward ? "backward" : "forward";
    size_t n = strlen(st->kernel), suffix = st->kind == STEP_KERNEL ? strlen(b->kernels.inst[st->kinst].suffix) : 0;
    switch (st->kind) {
    case STEP_KERNEL: snprintf(out, cap, "%.*s", (int)(n > suffix ? n - suffix - 1 : n), st->kernel); break;
    case STEP_GEMM: snprintf(out, cap, "GEMMs (%s)", pass); break;
    case STEP_COPY: snprintf(out, cap, "copies (%s)", pass); break;
    case STEP_ZERO: snprintf(out, cap, "zeroings (%s)", pass); break;
    }
}

static int by_ms_desc(const void *a, const void *b) {
    double x = ((const Family *)a)->ms, y = ((const Family *)b)->ms;
    return (x < y) - (x > y);
}

static void print_families(FILE *out, const ModelBuild *b, const double *ms, int runs, int T, double total) {
    const Plan *p = &b->plan;
    Family *f = calloc((size_t)p->nsteps, sizeof *f);
    if (!f) return;
    int n = 0;
    for (int i = 0; i < p->nsteps; i++) {
        char name[64];
        family_name(b, &p->steps[i], name, sizeof name);
        int j = 0;
        while (j < n && strcmp(f[j].name, name)) j++;
        if (j == n) snprintf(f[n++].name, sizeof f->name, "%s", name);
        f[j].ms += ms[i] / runs;
        f[j].launches++;
        if (p->steps[i].kind == STEP_GEMM) f[j].flops += gemm_flops(&p->steps[i], T);
    }
    qsort(f, (size_t)n, sizeof *f, by_ms_desc);
    fprintf(out, "  %-28s %9s %7s %9s\n", "family", "ms/step", "share", "launches");
    for (int j = 0; j < n; j++) {
        fprintf(out, "  %-28s %9.3f %6.1f%% %9d", f[j].name, f[j].ms, 100 * f[j].ms / total, f[j].launches);
        if (f[j].flops > 0 && f[j].ms > 0) fprintf(out, "   %.3g TFLOP/s", f[j].flops / (f[j].ms * 1e9));
        fputc('\n', out);
    }
    free(f);
}

/* The `top` slowest kept in order by insertion: a few dozen of a few
 * hundred steps. */
static void print_top(FILE *out, const Plan *p, const double *ms, int runs, int T, double total, int top) {
    int *idx = malloc(sizeof(int) * (size_t)(top + 1)), n = 0;
    if (!idx) return;
    for (int i = 0; i < p->nsteps; i++) {
        int k = n < top ? n++ : top;
        idx[k] = i;
        while (k > 0 && ms[idx[k]] > ms[idx[k - 1]]) {
            int t = idx[k];
            idx[k] = idx[k - 1], idx[k - 1] = t, k--;
        }
    }
    fprintf(out, "  the %d slowest steps:\n  %9s %7s  %-24s %s\n", n, "ms/step", "share", "step", "kernel");
    for (int k = 0; k < n; k++) {
        const PlanStep *st = &p->steps[idx[k]];
        double m = ms[idx[k]] / runs;
        fprintf(out, "  %9.3f %6.1f%%  %-24s %s", m, 100 * m / total, st->what,
                st->kind == STEP_KERNEL ? st->kernel : st->kind == STEP_GEMM ? "GEMM" : "copy/zero");
        if (st->kind == STEP_GEMM && m > 0)
            fprintf(out, " %lldx%lldx%lld, %.3g TFLOP/s", (long long)plan_dim(st->gemm.m, T),
                    (long long)plan_dim(st->gemm.n, T), (long long)plan_dim(st->gemm.k, T),
                    gemm_flops(st, T) / (m * 1e9));
        fputc('\n', out);
    }
    free(idx);
}

void bench_profile_print(FILE *out, const ModelBuild *b, const double *ms, int runs, int T, int top) {
    const Plan *p = &b->plan;
    double total = 0;
    for (int i = 0; i < p->nsteps; i++) total += ms[i] / runs;
    if (runs < 1 || total <= 0) return;
    fprintf(out, "profile: %d step%s of %d tokens, each plan step waited for on its own: %.2f ms/step in "
                 "%d launches (the optimizer not included)\n",
            runs, runs > 1 ? "s" : "", T, total, p->nsteps);
    print_families(out, b, ms, runs, T, total);
    print_top(out, p, ms, runs, T, total, top);
}
