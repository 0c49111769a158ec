/*
 * bench_profile.c: see bench_profile.h.
 */
#include "runtime/train/bench_profile.h"

#include <stdlib.h>
#include <string.h>

#include "compiler/plan/planstats.h"

const char *const profile_class_names[NCLASSES] = {
    "GEMMs", "attention forward", "attention backward", "softcap + cross-entropy", "elementwise", "copies",
};

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

static ProfileClass class_of(const PlanStep *st) {
    if (st->kind == STEP_GEMM) return CLASS_GEMM;
    if (st->kind != STEP_KERNEL) return CLASS_COPIES;
    if (!strncmp(st->kernel, "attn_fwd", 8)) return CLASS_ATTN_FWD;
    if (!strncmp(st->kernel, "attn_bwd", 8)) return CLASS_ATTN_BWD;
    if (!strncmp(st->kernel, "softcap_ce", 10)) return CLASS_CE;
    return CLASS_ELEMENTWISE;
}

double bench_attention_pairs(const ModelSpec *s, const int *ids, int T, int step) {
    int lw, sw, bs = s->attn.window.block_size;
    spec_window_blocks(s, step, false, &lw, &sw);
    double pairs = 0;
    for (int i = 0; i < s->model.layers; i++) {
        if (!s->model.attention[i]) continue;
        int W = s->attn.window.long_layer[i] ? lw : sw, doc = 0;
        if (W < 1) W = 1; /* a window of 0 blocks behaves as 1 (docs/recipe.md) */
        for (int t = 0; t < T; t++) {
            if (ids[t] == s->vocab.eot) doc = t;
            int lo = (t / bs - W + 1) * bs;
            lo = lo < doc ? doc : lo < 0 ? 0 : lo;
            pairs += t - lo + 1;
        }
    }
    return pairs * s->model.heads * s->model.head_dim;
}

void bench_profile_classes(const ModelBuild *b, const double *ms, int runs, int T, double attn_pairs,
                           ProfileClasses *out) {
    const Plan *p = &b->plan;
    memset(out, 0, sizeof *out);
    for (int i = 0; i < p->nsteps; i++) {
        const PlanStep *st = &p->steps[i];
        ProfileClass c = class_of(st);
        out->ms[c] += ms[i] / runs;
        out->bytes[c] += (double)plan_step_bytes(p, st, T);
        if (st->kind == STEP_GEMM) out->flops[c] += gemm_flops(st, T);
    }
    out->flops[CLASS_ATTN_FWD] = 4 * attn_pairs;
    out->flops[CLASS_ATTN_BWD] = 8 * attn_pairs;
}

static void print_classes(FILE *out, const ModelBuild *b, const double *ms, int runs, int T, double attn_pairs,
                          double total) {
    ProfileClasses pc;
    bench_profile_classes(b, ms, runs, T, attn_pairs, &pc);
    fprintf(out, "  %-28s %9s %7s %12s\n", "class", "ms/step", "share", "rate");
    for (int c = 0; c < NCLASSES; c++) {
        if (pc.ms[c] <= 0) continue;
        fprintf(out, "  %-28s %9.3f %6.1f%%", profile_class_names[c], pc.ms[c], 100 * pc.ms[c] / total);
        if (pc.flops[c] > 0) fprintf(out, "   %.3g TFLOP/s", pc.flops[c] / (pc.ms[c] * 1e9));
        else fprintf(out, "   %.3g GB/s", pc.bytes[c] / (pc.ms[c] * 1e6));
        fputc('\n', out);
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

void bench_profile_print(FILE *out, const ModelBuild *b, const double *ms, int runs, int T, double attn_pairs,
                         int top) {
    const Plan *p = &b->plan;
    double total = 0;
    for (int i = 0; i < p->nsteps; i++) total += ms[i] / runs;
    if (runs < 1 || total <= 0) return;
    fprintf(out, "profile: %d step%s of %d tokens, each plan step waited for on its own: %.2f ms/step in "
                 "%d launches (the optimizer not included)\n",
            runs, runs > 1 ? "s" : "", T, total, p->nsteps);
    print_classes(out, b, ms, runs, T, attn_pairs, total);
    print_families(out, b, ms, runs, T, total);
    print_top(out, p, ms, runs, T, total, top);
}
