/*
 * tune_bench.c: the gate's steps and the timing on one executor (see
 * tune_bench.h).
 */
#include "runtime/device/tune_bench.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "compiler/tune/prune.h"
#include "compiler/version.h"
#include "runtime/backend.h"
#include "runtime/device/cuda/gpu_cuda.h"
#include "runtime/device/gpu.h"
#include "runtime/util/bf16.h"

struct TuneBench {
    const ModelBuild *rules;
    const TuneInstance *ins;
    int n;
    ModelBuild *all; /* the rules' build carrying every variant's kernels */
    char *extra[TUNE_MAX_PROGRAMS];
    int nextra;
    char *sim_cc;
    Backend be;
    bool open;
    int max_T;
    int *ids, *tgt;
    size_t wipe_bytes;
    float *start; /* the gate's weights, once made (a model's init is slow) */
    bool at_start; /* the executor holds them and a zero optimizer state */
    int *gemm_owner; /* per plan step: the GEMM instance that runs it, or -1 */
    bool in_ns[TUNE_MAX_INSTANCES]; /* a GEMM shape that Newton-Schulz runs */
};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- validators ------------------------------------------------------------ */

/* The host processor's model name, from /proc/cpuinfo. */
static void cpu_model(char *out, size_t cap) {
    snprintf(out, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = 0;
        snprintf(out, cap, "%s", colon);
        break;
    }
    if (f) fclose(f);
}

static void put(TuneValidator *out, int *n, int max, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void put(TuneValidator *out, int *n, int max, const char *name, const char *fmt, ...) {
    if (*n >= max) return;
    snprintf(out[*n].name, sizeof out[*n].name, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out[*n].value, sizeof out[*n].value, fmt, ap);
    va_end(ap);
    ++*n;
}

int tune_validators(const char *backend, bool cost_model, TuneValidator *out, int max, char *err, size_t errlen) {
    int n = 0;
    put(out, &n, max, "gptc", "%s", GPTC_VERSION);
    if (!strcmp(backend, "sim")) {
        if (cost_model) {
            put(out, &n, max, "device", "sim cost model");
            return n;
        }
        char cpu[128];
        cpu_model(cpu, sizeof cpu);
        put(out, &n, max, "device", "sim (host clock)");
        put(out, &n, max, "cpu", "%s", cpu);
        return n;
    }
    GpuCudaInfo in;
    if (gpu_cuda_describe(0, &in, err, errlen)) return -1;
    put(out, &n, max, "device", "%s", in.name);
    put(out, &n, max, "cc", "%d.%d", in.cc_major, in.cc_minor);
    put(out, &n, max, "sms", "%d", in.sms);
    put(out, &n, max, "l2", "%d", in.l2_bytes);
    put(out, &n, max, "clocks", "sm %d kHz, memory %d kHz", in.sm_khz, in.mem_khz);
    put(out, &n, max, "driver", "%d", in.driver_version);
    put(out, &n, max, "nvrtc", "%d.%d", in.nvrtc_major, in.nvrtc_minor);
    put(out, &n, max, "cublaslt", "%zu", in.cublaslt_version);
    return n;
}

GpuGemmAlgo tune_gpu_algo(const TuneAlgo *t) {
    return (GpuGemmAlgo){t->id, t->tile, t->stages, t->splitk, t->reduction, t->swizzle, t->custom, t->inner, t->cluster};
}

TuneAlgo tune_algo_of(const GpuGemmAlgo *a) {
    return (TuneAlgo){2, a->id, a->tile, a->stages, a->splitk, a->reduction, a->swizzle, a->custom, a->inner, a->cluster};
}

/* ---- the build with every variant ---------------------------------------- */

/* Renders the variants into programs of their own, and the sim listing of
 * the rules' kernels and theirs. They are grouped as pruning grouped them,
 * pruned ones included, so that NVRTC's cache answers for them; unless one
 * did not compile at all, when only those still in the running go. */
static bool render_variants(TuneBench *tb, char *err, size_t errlen) {
    static KernelSet sets[TUNE_MAX_PROGRAMS];
    bool ok_only = false;
    for (int i = 0; i < tb->n; i++)
        for (int j = 1; j < tb->ins[i].n; j++)
            ok_only = ok_only || (tb->ins[i].v[j].status == TUNE_PRUNED && !strcmp(tb->ins[i].v[j].why, TUNE_NO_COMPILE));
    int nsets = tune_variant_sets(&tb->rules->kernels, tb->ins, tb->n, ok_only, sets, TUNE_MAX_PROGRAMS, err, errlen);
    if (nsets < 0) return false;
    StrBuf cc = {0};
    sb_puts(&cc, tb->rules->kernels_sim_cc);
    for (int s = 0; s < nsets; s++) {
        StrBuf src = {0};
        if (!emit_kernels(&sets[s], &src, err, errlen)) return sb_free(&src), sb_free(&cc), false;
        tb->extra[tb->nextra++] = src.data ? src.data : strdup("");
        emit_sim_exports(&sets[s], &cc);
    }
    tb->sim_cc = cc.data;
    return tb->sim_cc != NULL || (snprintf(err, errlen, "out of memory"), false);
}

/* The build under pick (pick[i]: ins[i]'s variant; NULL: the rules), with
 * the gate's start. */
static ModelBuild *build_for(const TuneBench *tb, const int *pick, char *err, size_t errlen) {
    TuneChoices *c = calloc(1, sizeof *c);
    if (!c) return snprintf(err, errlen, "out of memory"), NULL;
    for (int i = 0; pick && i < tb->n; i++) {
        if (!pick[i]) continue;
        TuneChoice *ch = &c->c[c->n++];
        snprintf(ch->family, sizeof ch->family, "%s", tb->ins[i].family);
        snprintf(ch->shape, sizeof ch->shape, "%s", tb->ins[i].shape);
        ch->knobs = tb->ins[i].v[pick[i]].knobs;
    }
    ModelBuild *b = model_build_tuned(&tb->rules->spec, c, err, errlen);
    free(c);
    if (b) gate_start_spec(&b->spec);
    return b;
}

TuneBench *tune_bench_open(const ModelBuild *rules, const TuneInstance *ins, int n, const char *backend, int max_T,
                           char *err, size_t errlen) {
    TuneBench *tb = calloc(1, sizeof *tb);
    if (!tb) return snprintf(err, errlen, "out of memory"), NULL;
    tb->rules = rules, tb->ins = ins, tb->n = n, tb->max_T = max_T;
    tb->ids = malloc(sizeof(int) * (size_t)max_T), tb->tgt = malloc(sizeof(int) * (size_t)max_T);
    tb->all = malloc(sizeof *tb->all);
    bool ok = tb->ids && tb->tgt && tb->all;
    if (!ok) snprintf(err, errlen, "out of memory");
    ok = ok && render_variants(tb, err, errlen);
    if (ok) {
        *tb->all = *rules;
        tb->all->owned = false;
        gate_start_spec(&tb->all->spec);
        tb->all->extra_cu = (const char *const *)tb->extra;
        tb->all->nextra_cu = tb->nextra;
        tb->all->kernels_sim_cc = tb->sim_cc;
        gate_tokens(&rules->spec, max_T, tb->ids, tb->tgt);
        ok = tb->open = backend_open(&tb->be, backend, tb->all, max_T, err, errlen);
    }
    if (ok && (!tb->be.use_build || !tb->be.gpu)) ok = false, snprintf(err, errlen, "%s runs no generated kernels", backend);
    GpuCudaInfo info;
    if (ok && gpu_cuda_info(tb->be.gpu(tb->be.impl), &info) == 0) tb->wipe_bytes = 2 * info.l2_bytes;
    if (!ok) tune_bench_close(tb), tb = NULL;
    return tb;
}

void tune_bench_close(TuneBench *tb) {
    if (!tb) return;
    if (tb->open) backend_close(&tb->be);
    for (int i = 0; i < tb->nextra; i++) free(tb->extra[i]);
    free(tb->sim_cc);
    free(tb->all);
    free(tb->ids);
    free(tb->tgt);
    free(tb->start);
    free(tb->gemm_owner);
    free(tb);
}

const char *tune_bench_backend(const TuneBench *tb) { return tb->be.name; }

Gpu *tune_bench_gpu(TuneBench *tb) { return tb->be.gpu(tb->be.impl); }

/* ---- steps ----------------------------------------------------------------- */

static bool failed(TuneBench *tb, const char *what, char *err, size_t errlen) {
    const char *why = tb->be.error ? tb->be.error(tb->be.impl) : "";
    snprintf(err, errlen, "%s: %s", what, why[0] ? why : "failed");
    return false;
}

/* Whether the executor has failed (a launch, a copy), as against a step
 * that ran and gave a non-finite loss, which in a gate step is the
 * variant's result (gate_compare fails it) and no reason to stop tuning. */
static bool executor_failed(const TuneBench *tb) {
    const char *why = tb->be.error ? tb->be.error(tb->be.impl) : "";
    return why && why[0];
}

/* One training step (forward, backward, optimizer) of T tokens at schedule
 * step `step` under build b. */
static bool train_step(TuneBench *tb, const ModelBuild *b, int T, int step, double *loss, GateStep *gate, char *err,
                       size_t errlen) {
    Backend *be = &tb->be;
    if (be->use_build(be->impl, b)) return failed(tb, "switching to a variant", err, errlen);
    double l = be->forward(be->impl, tb->ids, tb->tgt, T, step, false);
    if (!isfinite(l) && (!gate || executor_failed(tb))) return failed(tb, "a forward pass", err, errlen);
    be->backward(be->impl);
    if (gate && !(gate->grads = gate_copy(be->grads(be->impl), be->num_params(be->impl))))
        return failed(tb, "reading the gradients", err, errlen);
    tb->at_start = false;
    if (be->step(be->impl, step)) return failed(tb, "an optimizer step", err, errlen);
    if (loss) *loss = l;
    return true;
}

/* A gate round's forward and backward passes under build b from the
 * gate's start, without a step: the loss and the executor's own host copy
 * of the gradients. Neither the weights nor the optimizer state move, so
 * the next such round needs no fresh start. */
static bool gate_grads(TuneBench *tb, const ModelBuild *b, int T, GateStep *out, char *err, size_t errlen) {
    Backend *be = &tb->be;
    if (be->use_build(be->impl, b)) return failed(tb, "switching to a variant", err, errlen);
    out->loss = be->forward(be->impl, tb->ids, tb->tgt, T, 0, false);
    if (!isfinite(out->loss) && executor_failed(tb)) return failed(tb, "a forward pass", err, errlen);
    be->backward(be->impl);
    out->n = be->num_params(be->impl);
    out->grads = be->grads(be->impl);
    out->borrowed = true;
    return out->grads || failed(tb, "reading the gradients", err, errlen);
}

/* Frees a build the executor may be running, which goes back to the
 * rules' build first. */
static void release(TuneBench *tb, ModelBuild *b) {
    if (b && tb->be.use_build(tb->be.impl, tb->all) == 0) model_build_free(b);
}

/* The gate's start: its weights and a zero optimizer state. */
static bool gate_start(TuneBench *tb, const ModelBuild *b, char *err, size_t errlen) {
    Backend *be = &tb->be;
    if (be->use_build(be->impl, b)) return failed(tb, "switching to a variant", err, errlen);
    size_t n = be->num_params(be->impl);
    float *p = be->params(be->impl);
    if (!p) return failed(tb, "reading the parameters", err, errlen);
    if (tb->start) {
        memcpy(p, tb->start, n * sizeof(float));
        be->params_changed(be->impl);
    } else {
        be->init(be->impl, 1234);
        if ((tb->start = malloc(n * sizeof(float))) && (p = be->params(be->impl))) memcpy(tb->start, p, n * sizeof(float));
    }
    CkptArray st[3];
    int ns = be->state(be->impl, st, 3);
    for (int j = 0; j < ns; j++) memset(st[j].data, 0, sizeof(float) * st[j].count);
    if (ns < 0 || be->set_state(be->impl, st, ns)) return failed(tb, "zeroing the optimizer state", err, errlen);
    tb->at_start = true;
    return true;
}

/* ---- timing ---------------------------------------------------------------- */

/* The windows to time at: step 0's and the last step's, with the share of
 * the schedule's steps at the last one's (weight[1]); one when they agree. */
static int windows(const ModelSpec *s, int step[2], double weight[2]) {
    int steps = s->train.steps > 0 ? s->train.steps : 1, lw0, sw0, lwf, swf, at_final = 0;
    step[0] = 0, step[1] = steps - 1;
    spec_window_blocks(s, step[0], false, &lw0, &sw0);
    spec_window_blocks(s, step[1], false, &lwf, &swf);
    if (lw0 == lwf && sw0 == swf) return weight[0] = 1, 1;
    for (int k = 0; k < steps; k++) {
        int lw, sw;
        spec_window_blocks(s, k, false, &lw, &sw);
        at_final += lw == lwf && sw == swf;
    }
    weight[1] = (double)at_final / steps, weight[0] = 1 - weight[1];
    return 2;
}

/* The instance of tb whose kernel in build b is called `name`, or for a
 * GEMM's name (gpu_gemm_timed_name: "gemm KEY") the instance of its
 * shape; -1 none. */
static int owner(const TuneBench *tb, const ModelBuild *b, const char *name) {
    bool gemm = !strncmp(name, TUNE_GEMM " ", sizeof TUNE_GEMM);
    for (int i = 0; gemm && i < tb->n; i++)
        if (tb->ins[i].inst < 0 && !strcmp(tb->ins[i].shape, name + sizeof TUNE_GEMM)) return i;
    for (int i = 0; !gemm && i < tb->n; i++) {
        if (tb->ins[i].inst < 0) continue;
        const EmitInstance *in = &b->kernels.inst[tb->ins[i].inst];
        for (int k = 0; k < in->nkernels; k++)
            if (!strcmp(in->kernels[k].name, name)) return i;
    }
    return -1;
}

/* Whether the optimizer's step runs tuned instance i: a kernel of it, or
 * a Newton-Schulz product's GEMM shape. */
static bool in_optimizer(const TuneBench *tb, int i) {
    const ModelBuild *b = tb->rules;
    for (int l = 0; tb->ins[i].inst >= 0 && l < b->optim.nlaunches; l++)
        if (build_optim_kernel(b, b->optim.launches[l].op).inst == tb->ins[i].inst) return true;
    return tb->in_ns[i];
}

/* Whether pick (NULL: the rules) runs a variant of an instance the
 * optimizer's step runs. */
static bool picks_optimizer(const TuneBench *tb, const int *pick) {
    for (int i = 0; pick && i < tb->n; i++)
        if (pick[i] && in_optimizer(tb, i)) return true;
    return false;
}

bool tune_bench_gate_step(TuneBench *tb, const int *pick, int T, GateStep *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    ModelBuild *b = build_for(tb, pick, err, errlen);
    /* The rules' step, and a round with an optimizer variant, go through
     * the optimizer's step to compare the parameters after it; any other
     * round stops after the backward pass (tune_gate.h). */
    bool step = !pick || picks_optimizer(tb, pick);
    bool ok = b && ((!step && tb->at_start) || gate_start(tb, b, err, errlen));
    if (ok && !step) ok = gate_grads(tb, b, T, out, err, errlen);
    else if (ok) ok = train_step(tb, b, T, 0, &out->loss, out, err, errlen);
    if (ok && step) {
        out->n = tb->be.num_params(tb->be.impl);
        out->params = gate_copy(tb->be.params(tb->be.impl), out->n);
        if (!out->params) ok = failed(tb, "reading the parameters", err, errlen);
    }
    release(tb, b);
    return ok;
}

typedef struct {
    int K;                       /* candidate indices */
    ModelBuild *b[TUNE_MAX_CANDIDATES];
    int pick[TUNE_MAX_CANDIDATES][TUNE_MAX_INSTANCES];
    bool optim[TUNE_MAX_CANDIDATES]; /* build k times an instance the optimizer launches */
    double *us;                  /* [i][k][w][round] */
    int nw, step[2];
    double weight[2];
    /* Per plan step, at build k and window w: how many steps of its class
     * (exec_step_class) it is timed for; 0 for the rest of its class. */
    int *times[TUNE_MAX_CANDIDATES][2];
    /* Per plan step, at build k and window w: the class of a kernel step
     * it times, NULL for the rest. A kernel of one name is the same code
     * in every build (attention's variants share the kernels whose knobs
     * they keep), so within a pass each class is launched once, by the
     * first build that times it, and the others take its time: the memo. */
    char **cls[TUNE_MAX_CANDIDATES][2];
    int b_steps[TUNE_MAX_CANDIDATES]; /* build k's plan steps: cls's length */
    struct {
        const char *cls;
        double ms;
    } *memo;
    int nmemo, memo_cap;
} Timing;

/* The time of one launch of class `cls` in this pass, or NULL. */
static const double *memo_find(const Timing *t, const char *cls) {
    for (int m = 0; cls && m < t->nmemo; m++)
        if (!strcmp(t->memo[m].cls, cls)) return &t->memo[m].ms;
    return NULL;
}

static bool memo_add(Timing *t, const char *cls, double ms) {
    if (t->nmemo == t->memo_cap) {
        int cap = t->memo_cap ? 2 * t->memo_cap : 64;
        void *grown = realloc(t->memo, sizeof *t->memo * (size_t)cap);
        if (!grown) return false;
        t->memo = grown, t->memo_cap = cap;
    }
    t->memo[t->nmemo].cls = cls, t->memo[t->nmemo++].ms = ms;
    return true;
}

/* Whether candidate index k times an instance that the optimizer's step
 * runs. */
static bool times_optimizer(const TuneBench *tb, const Timing *t, int k) {
    for (int i = 0; i < tb->n; i++)
        if (t->pick[k][i] == k && in_optimizer(tb, i)) return true;
    return false;
}

static double *sample(Timing *t, int i, int k, int w, int r) {
    return &t->us[(((size_t)i * TUNE_MAX_CANDIDATES + (size_t)k) * 2 + (size_t)w) * TUNE_MAX_ROUNDS + (size_t)r];
}

/* The instance plan step s of build b belongs to, or -1. */
static int step_owner(const TuneBench *tb, const ModelBuild *b, int s) {
    const PlanStep *st = &b->plan.steps[s];
    if (st->kind == STEP_KERNEL) return owner(tb, b, st->kernel);
    return st->kind == STEP_GEMM && tb->gemm_owner ? tb->gemm_owner[s] : -1;
}

/* t->times[k][w], made the first time build k runs at window w: the first
 * step of each class among those timed, counted for all of them. Which
 * layer of a class runs does not change its time (the L2 is wiped before
 * each launch), so a class's launch is timed once: attention's fifteen
 * layers on r10 are two classes, long and short windows. */
static bool step_times(TuneBench *tb, Timing *t, int k, int w, char *err, size_t errlen) {
    const ModelBuild *b = t->b[k];
    int n = b->plan.nsteps, *times = calloc((size_t)n, sizeof *times);
    char(*cls)[512] = malloc((size_t)n * sizeof *cls);
    bool ok = times && cls;
    if (!ok) snprintf(err, errlen, "out of memory");
    for (int s = 0; ok && s < n; s++) {
        int i = step_owner(tb, b, s), first = s;
        if (i < 0 || t->pick[k][i] != k) continue;
        if (tb->be.step_class(tb->be.impl, s, cls[s], sizeof cls[s])) ok = failed(tb, "a plan step's class", err, errlen);
        for (int r = 0; ok && r < s && first == s; r++)
            if (times[r] && step_owner(tb, b, r) == i && !strcmp(cls[r], cls[s])) first = r;
        if (ok) times[first]++;
    }
    char **keep = ok ? calloc((size_t)n, sizeof *keep) : NULL;
    if (ok && !keep) ok = false, snprintf(err, errlen, "out of memory");
    for (int s = 0; ok && s < n; s++)
        if (times[s] && b->plan.steps[s].kind == STEP_KERNEL && !(keep[s] = strdup(cls[s])))
            ok = false, snprintf(err, errlen, "out of memory");
    free(cls);
    t->times[k][w] = times, t->cls[k][w] = keep, t->b_steps[k] = n;
    return ok;
}

/* Candidate index k's launches and GEMMs, each timed alone (round r < 0: a
 * warm-up, untimed), their times added to their samples: with `optim`,
 * the optimizer's step; else every plan step of the instances at their
 * k-th variant, over the activations of the step before. */
static bool time_index(TuneBench *tb, Timing *t, int k, int w, int r, bool optim, char *err, size_t errlen) {
    Gpu *g = tb->be.gpu(tb->be.impl);
    const ModelBuild *b = t->b[k];
    if (tb->be.use_build(tb->be.impl, b)) return failed(tb, "switching to a variant", err, errlen);
    if (r >= 0 && g->set_timing(g, true, tb->wipe_bytes)) return snprintf(err, errlen, "timing: %s", g->err), false;
    if (!optim && !t->times[k][w] && !step_times(tb, t, k, w, err, errlen)) return false;
    int *who = malloc(sizeof(int) * 2 * (size_t)b->plan.nsteps), *count = who + b->plan.nsteps, nwho = 0;
    const char **cls = malloc(sizeof *cls * (size_t)b->plan.nsteps);
    if (!who || !cls) return free(who), free(cls), snprintf(err, errlen, "out of memory"), false;
    bool ok = true;
    double ms[TUNE_MAX_INSTANCES] = {0};
    for (int s = 0; ok && !optim && s < b->plan.nsteps; s++) {
        int i = step_owner(tb, b, s);
        if (i < 0 || t->pick[k][i] != k || !t->times[k][w][s]) continue;
        const double *seen = r >= 0 ? memo_find(t, t->cls[k][w][s]) : NULL;
        if (seen) {
            ms[i] += *seen * t->times[k][w][s];
            continue;
        }
        count[nwho] = t->times[k][w][s];
        cls[nwho] = t->cls[k][w][s];
        who[nwho++] = i;
        ok = tb->be.replay(tb->be.impl, s, s + 1) == 0 || failed(tb, "replaying a launch", err, errlen);
    }
    if (ok && optim && tb->be.step(tb->be.impl, t->step[w])) ok = failed(tb, "an optimizer step", err, errlen);
    const GpuTimed *log;
    int nlog;
    if (ok && r >= 0 && (g->timed(g, &log, &nlog) || g->set_timing(g, false, 0)))
        ok = (snprintf(err, errlen, "timing: %s", g->err), false);
    if (ok && r >= 0) {
        /* One entry per replayed step, in order; or the optimizer's, by name. */
        for (int e = 0; ok && e < nlog; e++) {
            int i = e < nwho ? who[e] : owner(tb, b, log[e].name);
            if (i >= 0) ms[i] += log[e].ms * (e < nwho ? count[e] : 1);
            if (e < nwho && cls[e] && !memo_add(t, cls[e], log[e].ms)) ok = false, snprintf(err, errlen, "out of memory");
        }
        for (int i = 0; i < tb->n; i++)
            if (t->pick[k][i] == k) *sample(t, i, k, w, r) += 1e3 * ms[i];
    }
    free(who);
    free(cls);
    return ok;
}

/* Every candidate index once at window w, after a whole step of the rules
 * there: its activations and gradients are what the launches run on. The
 * optimizer's steps go first, while the gradients are the step's: a
 * replayed gradient GEMM can read a buffer that a later tensor of the
 * step has taken over, and leave a gradient that is not one (an optimizer
 * step on it would put NaNs in the weights). The extra optimizer steps
 * move the weights as much as training steps would; the next pass's whole
 * step recomputes everything else. */
static bool pass(TuneBench *tb, Timing *t, int w, int r, int T, char *err, size_t errlen) {
    if (!train_step(tb, t->b[0], T, t->step[w], NULL, NULL, err, errlen)) return false;
    t->nmemo = 0;
    for (int i = 0; r >= 0 && i < tb->n; i++)
        for (int k = 0; k < t->K; k++) *sample(t, i, k, w, r) = 0;
    for (int k = 0; k < t->K; k++)
        if (t->b[k] && t->optim[k] && !time_index(tb, t, k, w, r, true, err, errlen)) return false;
    for (int k = 0; k < t->K; k++)
        if (t->b[k] && !time_index(tb, t, k, w, r, false, err, errlen)) return false;
    return true;
}

static bool round_all(TuneBench *tb, Timing *t, int r, int T, char *err, size_t errlen) {
    for (int w = 0; w < t->nw; w++)
        if (!pass(tb, t, w, r, T, err, errlen)) return false;
    return true;
}

static void medians(const TuneBench *tb, Timing *t, TuneInstance *ins, int rounds) {
    double v[TUNE_MAX_ROUNDS];
    for (int i = 0; i < tb->n; i++)
        for (int j = 0; j < ins[i].n; j++) {
            if (ins[i].v[j].status != TUNE_OK) continue;
            double us = 0;
            for (int w = 0; w < t->nw; w++) {
                for (int r = 0; r < rounds; r++) v[r] = *sample(t, i, j, w, r);
                us += t->weight[w] * tune_median(v, rounds);
            }
            ins[i].v[j].median_us = us;
        }
}

/* After `rounds` rounds, the clear losers (tune_cut_slow) are timed no
 * more: their instances stay at the rule in their candidate index's build,
 * and a build with nothing left to time is dropped. */
static void cut_slow(TuneBench *tb, Timing *t, TuneInstance *ins, int rounds) {
    medians(tb, t, ins, rounds);
    for (int i = 0; i < tb->n; i++) tune_cut_slow(&ins[i]);
    for (int k = 1; k < t->K; k++) {
        bool any = false;
        for (int i = 0; i < tb->n; i++) {
            if (t->pick[k][i] == k && ins[i].v[k].status != TUNE_OK) t->pick[k][i] = 0;
            any = any || t->pick[k][i] == k;
        }
        t->optim[k] = times_optimizer(tb, t, k);
        if (!any && t->b[k]) release(tb, t->b[k]), t->b[k] = NULL;
    }
}

int tune_bench_time(TuneBench *tb, TuneInstance *ins, const TuneBenchTiming *cfg, char *err, size_t errlen) {
    Timing *t = calloc(1, sizeof *t);
    if (t) t->us = malloc(sizeof(double) * (size_t)tb->n * TUNE_MAX_CANDIDATES * 2 * TUNE_MAX_ROUNDS);
    if (!t || !t->us) return free(t), snprintf(err, errlen, "out of memory"), -1;
    t->nw = windows(&tb->rules->spec, t->step, t->weight);
    for (int i = 0; i < tb->n; i++) t->K = ins[i].n > t->K ? ins[i].n : t->K;
    bool ok = true;
    for (int k = 0; ok && k < t->K; k++) {
        bool any = k == 0;
        for (int i = 0; i < tb->n; i++) {
            t->pick[k][i] = k < ins[i].n && ins[i].v[k].status == TUNE_OK ? k : 0;
            any = any || t->pick[k][i];
        }
        t->optim[k] = times_optimizer(tb, t, k);
        if (any) ok = (t->b[k] = build_for(tb, t->pick[k], err, errlen)) != NULL;
    }
    double start = now_s();
    int rounds = cfg->rounds < 1 ? 1 : cfg->rounds > TUNE_MAX_ROUNDS ? TUNE_MAX_ROUNDS : cfg->rounds, done = 0;
    ok = ok && gate_start(tb, t->b[0], err, errlen) && round_all(tb, t, -1, cfg->T, err, errlen);
    while (ok && now_s() - start < cfg->warmup_s) ok = round_all(tb, t, -1, cfg->T, err, errlen);
    for (; ok && done < rounds; done++) {
        if (cfg->budget_s > 0 && now_s() - start >= cfg->budget_s) break;
        ok = round_all(tb, t, done, cfg->T, err, errlen);
        if (ok && done + 1 == TUNE_CUT_ROUNDS && rounds > TUNE_CUT_ROUNDS) cut_slow(tb, t, ins, done + 1);
    }
    if (ok && done > 0) medians(tb, t, ins, done);
    for (int i = 0; ok && i < tb->n; i++) {
        for (int j = 0; !done && j < ins[i].n; j++)
            if (ins[i].v[j].status == TUNE_OK) ins[i].v[j].status = TUNE_UNTIMED;
        ins[i].chosen = done ? tune_choose(&ins[i], cfg->margin) : 0;
    }
    for (int k = 0; k < t->K; k++) {
        release(tb, t->b[k]);
        for (int w = 0; w < 2; w++) {
            for (int s = 0; t->cls[k][w] && s < t->b_steps[k]; s++) free(t->cls[k][w][s]);
            free(t->times[k][w]), free(t->cls[k][w]);
        }
    }
    free(t->memo);
    free(t->us);
    free(t);
    return ok ? done : -1;
}

static bool synced(TuneBench *tb, char *err, size_t errlen) {
    return tb->be.sync(tb->be.impl) == 0 || failed(tb, "waiting for the device", err, errlen);
}

bool tune_bench_ab(TuneBench *tb, const TuneInstance *ins, int rounds, int T, double *rules_ms, double *tuned_ms,
                   char *err, size_t errlen) {
    int pick[TUNE_MAX_INSTANCES], step[2], nw;
    double weight[2], ms[2][2][TUNE_MAX_ROUNDS];
    for (int i = 0; i < tb->n; i++) pick[i] = ins[i].chosen;
    nw = windows(&tb->rules->spec, step, weight);
    rounds = rounds < 1 ? 1 : rounds > TUNE_MAX_ROUNDS ? TUNE_MAX_ROUNDS : rounds;
    ModelBuild *b[2] = {build_for(tb, NULL, err, errlen), build_for(tb, pick, err, errlen)};
    bool ok = b[0] && b[1] && gate_start(tb, b[0], err, errlen);
    for (int s = 0; ok && s < 2; s++) ok = train_step(tb, b[s], T, step[nw - 1], NULL, NULL, err, errlen);
    for (int r = 0; ok && r < rounds; r++)
        for (int w = 0; ok && w < nw; w++)
            for (int o = 0; ok && o < 2; o++) {
                int s = (r + o) % 2; /* each side first in every other round */
                double t0 = 0;
                ok = synced(tb, err, errlen) && (t0 = now_s(), train_step(tb, b[s], T, step[w], NULL, NULL, err, errlen)) &&
                     synced(tb, err, errlen);
                ms[s][w][r] = 1e3 * (now_s() - t0);
            }
    for (int s = 0; ok && s < 2; s++) {
        double total = 0;
        for (int w = 0; w < nw; w++) total += weight[w] * tune_median(ms[s][w], rounds);
        *(s ? tuned_ms : rules_ms) = total;
    }
    release(tb, b[0]);
    release(tb, b[1]);
    return ok;
}

/* The GEMM instance of ins[first, *n) for shape key, added (rule first,
 * then the device's other algorithms) when there is none: its index; -2
 * when the device has one algorithm only (nothing to choose); -1 on
 * failure. */
static int gemm_instance(TuneBench *tb, TuneInstance *ins, int *n, int cap, int first, const GpuGemm *mm,
                         const char *key, char *err, size_t errlen) {
    Gpu *g = tb->be.gpu(tb->be.impl);
    int i = first;
    while (i < *n && strcmp(ins[i].shape, key)) i++;
    if (i < *n) return i;
    GpuGemmAlgo algos[TUNE_MAX_CANDIDATES];
    int na = g->gemm_algos(g, mm, algos, TUNE_MAX_CANDIDATES - 1);
    if (na < 0) return snprintf(err, errlen, "GEMM %s: %s", key, g->err), -1;
    if (!na) return -2;
    if (*n == cap) return snprintf(err, errlen, "more than %d kernels and GEMM shapes to tune", cap), -1;
    TuneInstance *ti = &ins[(*n)++];
    memset(ti, 0, sizeof *ti);
    ti->inst = -1;
    tb->in_ns[i] = false;
    snprintf(ti->family, sizeof ti->family, "%s", TUNE_GEMM);
    snprintf(ti->shape, sizeof ti->shape, "%s", key);
    ti->v[ti->n++] = (TuneVariant){.knobs = {.algo = {.set = 1}}, .status = TUNE_OK, .median_us = -1};
    for (int j = 0; j < na; j++)
        ti->v[ti->n++] = (TuneVariant){.knobs = {.algo = tune_algo_of(&algos[j])}, .reorders = true,
                                       .status = TUNE_OK, .median_us = -1};
    return i;
}

/* Product j of Muon tensor t's Newton-Schulz iteration (Backend.ns_gemm,
 * its operands made when `ready`) and its shape's key: 0, 1 when there is
 * no such product, -1 with err. */
static int ns_product(TuneBench *tb, int t, int j, bool ready, GpuGemm *mm, char key[48], char *err, size_t errlen) {
    int rc = tb->be.ns_gemm(tb->be.impl, t, j, ready, 0, mm);
    if (rc < 0) return failed(tb, "a Newton-Schulz product", err, errlen), -1;
    if (!rc) gpu_gemm_key(mm, key, 48);
    return rc;
}

int tune_bench_gemms(TuneBench *tb, TuneInstance *ins, int *n, int cap, int T, char *err, size_t errlen) {
    const ModelBuild *b = tb->rules;
    Backend *be = &tb->be;
    int first = *n;
    free(tb->gemm_owner);
    tb->gemm_owner = malloc(sizeof(int) * (size_t)b->plan.nsteps);
    if (!tb->gemm_owner) return snprintf(err, errlen, "out of memory"), -1;
    if (!gate_start(tb, tb->all, err, errlen) || !train_step(tb, tb->all, T, 0, NULL, NULL, err, errlen)) return -1;
    GpuGemm mm;
    char key[48];
    for (int s = 0; s < b->plan.nsteps; s++) {
        tb->gemm_owner[s] = -1;
        if (b->plan.steps[s].kind != STEP_GEMM) continue;
        if (be->gemm_of(be->impl, s, &mm)) return failed(tb, "a GEMM step", err, errlen), -1;
        gpu_gemm_key(&mm, key, sizeof key);
        int i = gemm_instance(tb, ins, n, cap, first, &mm, key, err, errlen);
        if (i == -1) return -1;
        tb->gemm_owner[s] = i;
    }
    /* The optimizer's Newton-Schulz products: shapes of their own (batched,
     * square), or the step's where they coincide. */
    for (int t = 0; t < b->ntensors; t++)
        for (int j = 0; j < 3; j++) {
            int rc = ns_product(tb, t, j, false, &mm, key, err, errlen);
            if (rc < 0) return -1;
            if (rc) continue;
            int i = gemm_instance(tb, ins, n, cap, first, &mm, key, err, errlen);
            if (i == -1) return -1;
            if (i >= 0) tb->in_ns[i] = true;
        }
    tb->n = *n;
    return *n - first;
}

/* ---- the GEMMs' gate ---------------------------------------------------------- */

/* Runs GEMM mm, plan step s (a Newton-Schulz product when s < 0), under
 * algorithm a (NULL: the default) from C as saved in `keep`, and reads its
 * output into out. */
static bool gemm_run(TuneBench *tb, int s, const GpuGemm *mm, const char *key, const GpuGemmAlgo *a, const void *keep,
                     size_t bytes, void *out, char *err, size_t errlen) {
    Gpu *g = tb->be.gpu(tb->be.impl);
    if (g->gemm_use(g, key, a) || (keep && g->copy_device(g, mm->c, keep, bytes)))
        return snprintf(err, errlen, "GEMM %s: %s", key, g->err), false;
    if (s >= 0 && tb->be.replay(tb->be.impl, s, s + 1)) return failed(tb, "replaying a GEMM", err, errlen);
    if (s < 0 && g->gemm(g, mm)) return snprintf(err, errlen, "GEMM %s: %s", key, g->err), false;
    if (g->copy_to_host(g, out, mm->c, bytes)) return snprintf(err, errlen, "GEMM %s: %s", key, g->err), false;
    return true;
}

/* The relative L2 distance of got from want, n values of dtype t (the
 * absolute one when want is all zeros). */
static double rel_l2(const void *want, const void *got, size_t n, GpuDtype t) {
    double d = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        float x = t == GPU_F32 ? ((const float *)want)[i] : bf16_to_f32(((const uint16_t *)want)[i]);
        float y = t == GPU_F32 ? ((const float *)got)[i] : bf16_to_f32(((const uint16_t *)got)[i]);
        d += ((double)y - x) * ((double)y - x), w += (double)x * x;
    }
    return isfinite(d) ? (w > 0 ? sqrt(d / w) : sqrt(d)) : INFINITY;
}

/* Whether any of n values of dtype t (fp32 or bf16) is not zero. */
static bool any_nonzero(const void *v, size_t n, GpuDtype t) {
    for (size_t i = 0; i < n; i++)
        if (t == GPU_F32 ? ((const float *)v)[i] != 0 : (((const uint16_t *)v)[i] & 0x7fff) != 0) return true;
    return false;
}

/* GEMM instance ti's gate over the operands that plan step s finds now,
 * or (s < 0) over those step 0 gives Newton-Schulz product j of Muon tensor
 * t: 1 judged, 0 not (a product whose output is all zeros: the recipe's
 * zero projections leave some gradients zero at first), -1 failed. */
static int gemm_gate_at(TuneBench *tb, TuneInstance *ti, int s, int t, int j, int T, char *err, size_t errlen) {
    Gpu *g = tb->be.gpu(tb->be.impl);
    GpuGemm mm;
    char key[48];
    if (s >= 0 && tb->be.gemm_of(tb->be.impl, s, &mm)) return failed(tb, "a GEMM step", err, errlen), -1;
    if (s >= 0) gpu_gemm_key(&mm, key, sizeof key);
    else if (ns_product(tb, t, j, true, &mm, key, err, errlen)) return -1;
    if (strcmp(key, ti->shape)) return snprintf(err, errlen, "GEMM %s: the step runs %s at %d tokens", ti->shape, key, T), -1;
    size_t n = gpu_gemm_c_count(&mm);
    size_t bytes = n * (mm.c_type == GPU_F32 ? 4 : 2);
    void *keep = mm.beta != 0 ? g->alloc(g, bytes) : NULL, *want = malloc(bytes), *got = malloc(bytes);
    bool ok = want && got && (mm.beta == 0 || keep);
    if (!ok) snprintf(err, errlen, "out of memory");
    if (ok && keep && g->copy_device(g, keep, mm.c, bytes)) ok = (snprintf(err, errlen, "%s", g->err), false);
    ok = ok && gemm_run(tb, s, &mm, ti->shape, NULL, keep, bytes, want, err, errlen);
    bool judged = ok && (s >= 0 || any_nonzero(want, n, mm.c_type));
    double tol = mm.c_type == GPU_F32 ? GATE_GEMM_F32_REL : GATE_GEMM_BF16_REL;
    for (int v = 1; judged && ok && v < ti->n; v++) {
        TuneVariant *var = &ti->v[v];
        if (var->status != TUNE_OK) continue;
        GpuGemmAlgo a = tune_gpu_algo(&var->knobs.algo);
        ok = gemm_run(tb, s, &mm, ti->shape, &a, keep, bytes, got, err, errlen);
        double r = ok ? rel_l2(want, got, n, mm.c_type) : 0;
        if (ok && !(r <= tol)) {
            var->status = TUNE_WRONG;
            snprintf(var->why, sizeof var->why, "output rel L2 %.2e from the default algorithm's (tol %.0e)", r, tol);
        }
    }
    /* The shape back to its default, and its output the default's, as
     * the steps after it expect. */
    ok = ok && gemm_run(tb, s, &mm, ti->shape, NULL, keep, bytes, got, err, errlen);
    if (keep) g->free(g, keep);
    free(want);
    free(got);
    return ok ? judged : -1;
}

/* GEMM instance i's gate at the first Newton-Schulz product of its shape
 * whose output is not all zeros. Its variants are dropped when there is
 * none: nothing could check them. */
static bool ns_gate(TuneBench *tb, TuneInstance *ti, int T, char *err, size_t errlen) {
    GpuGemm mm;
    char key[48];
    for (int t = 0; t < tb->rules->ntensors; t++)
        for (int j = 0; j < 3; j++) {
            int rc = ns_product(tb, t, j, false, &mm, key, err, errlen);
            if (rc < 0) return false;
            rc = (rc || strcmp(key, ti->shape)) ? 0 : gemm_gate_at(tb, ti, -1, t, j, T, err, errlen);
            if (rc) return rc > 0;
        }
    for (int v = 1; v < ti->n; v++)
        if (ti->v[v].status == TUNE_OK) {
            ti->v[v].status = TUNE_WRONG;
            snprintf(ti->v[v].why, sizeof ti->v[v].why, "no Newton-Schulz product of this shape had operands to check it on");
        }
    return true;
}

/* A step of the rules, then each GEMM instance gated at its first plan
 * step, in the step's order, over the operands the step gives it: the
 * steps before it are replayed first, because by the end of the step the
 * arena has given their buffers to later tensors. Then the shapes that
 * only Newton-Schulz runs, over its products' operands. */
bool tune_bench_gemm_gate(TuneBench *tb, TuneInstance *ins, int n, int T, char *err, size_t errlen) {
    bool any = false, judged[TUNE_MAX_INSTANCES] = {0};
    for (int i = 0; i < n; i++) any = any || ins[i].inst < 0;
    if (!any) return true;
    if (!gate_start(tb, tb->all, err, errlen) || !train_step(tb, tb->all, T, 0, NULL, NULL, err, errlen)) return false;
    for (int s = 0, from = 0; tb->gemm_owner && s < tb->rules->plan.nsteps; s++) {
        int i = tb->gemm_owner[s];
        if (i < 0 || i >= n || judged[i]) continue;
        if (from < s && tb->be.replay(tb->be.impl, from, s)) return failed(tb, "replaying the step", err, errlen);
        if (gemm_gate_at(tb, &ins[i], s, -1, -1, T, err, errlen) < 0) return false;
        judged[i] = true, from = s + 1;
    }
    for (int i = 0; i < n; i++) {
        if (ins[i].inst >= 0 || judged[i]) continue;
        if (!tb->in_ns[i]) return snprintf(err, errlen, "GEMM %s: not in the plan", ins[i].shape), false;
        if (!ns_gate(tb, &ins[i], T, err, errlen)) return false;
    }
    return true;
}
