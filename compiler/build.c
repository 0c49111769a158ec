/*
 * build.c: model_build, the one entry point into the compiler for
 * everything that runs a model (see build.h).
 *
 * The stages run once each, in pipeline order: the parameter list with its
 * roles (params.c), the kernel set and its source (emit.c), the step's plan
 * with its arguments bound (lower.c, bind.c), the arena (arena.c), and
 * the optimizer's launches over the same kernel set (here). Nothing later
 * looks a kernel up again: the plan and the optimizer hold references into
 * the kernel set.
 */
#include "compiler/build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan/bind.h"
#include "compiler/util/sha256.h"
#include "compiler/tune/space.h"

/* Every device array of the optimizer starts on this boundary, in floats:
 * the kernels' 16-byte promise (emit.h). */
#define ALIGN_FLOATS (EMIT_ALIGN_BYTES / 4)

static int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

long long build_blocks(const EmitInstance *in, long long rows, long long n) {
    long long blocks;
    if (in->grid_blocks > 0) blocks = in->grid_blocks;
    else if (in->rows_per_block > 0) blocks = (rows + in->rows_per_block - 1) / in->rows_per_block;
    else {
        long long total = in->width > 0 ? rows * in->width : n, per = (long long)in->threads * in->vec;
        blocks = (total + per - 1) / per;
    }
    return blocks < 1 ? 1 : blocks;
}

KernelRef build_optim_kernel(const ModelBuild *b, OptimOp op) {
    const OptimPlan *o = &b->optim;
    switch (op) {
    case OL_ADAM: return o->adam;
    case OL_CAST: return o->cast;
    case OL_MOMENTUM: return o->momentum;
    case OL_NORM: return o->normalize;
    case OL_NEWTON_SCHULZ: return o->combine;
    case OL_UPDATE: return o->update;
    case OL_SHARE: break;
    }
    return (KernelRef){-1, 0};
}

int build_launches(const ModelBuild *b, int inst) {
    int n = 0;
    for (int s = 0; s < b->plan.nsteps; s++) n += b->plan.steps[s].kind == STEP_KERNEL && b->plan.steps[s].kinst == inst;
    for (int i = 0; i < b->optim.nlaunches; i++) n += build_optim_kernel(b, b->optim.launches[i].op).inst == inst;
    return n;
}

const EmitKernel *build_kernel(const ModelBuild *b, KernelRef r) { return &b->kernels.inst[r.inst].kernels[r.k]; }

/* ---- the optimizer ---- */

static bool optim_kernel(const ModelBuild *b, const char *stem, KernelRef *r, char *err, size_t errlen) {
    PlanStep probe;
    if (!bind_kernel(&b->kernels, stem, 0, &probe))
        return snprintf(err, errlen, "the kernel set has no %s kernel", stem), false;
    *r = (KernelRef){probe.kinst, probe.kidx};
    return true;
}

static bool optim_kernels(ModelBuild *b, char *err, size_t errlen) {
    OptimPlan *o = &b->optim;
    return optim_kernel(b, "adam", &o->adam, err, errlen) && optim_kernel(b, "cast_bf16", &o->cast, err, errlen) &&
           optim_kernel(b, "muon_momentum", &o->momentum, err, errlen) &&
           optim_kernel(b, "colsum", &o->colsum, err, errlen) &&
           optim_kernel(b, "muon_normalize", &o->normalize, err, errlen) &&
           optim_kernel(b, "muon_combine", &o->combine, err, errlen) &&
           optim_kernel(b, "muon_update", &o->update, err, errlen);
}

static void launch(OptimPlan *o, OptimOp op, int tensor, long long n) {
    o->launches[o->nlaunches++] = (OptimLaunch){op, tensor, n};
}

/* The state and scratch each tensor needs, and what the kernels assume of
 * it: a momentum kernel reads whole vectors of `vec` elements. */
static bool optim_layout(ModelBuild *b, char *err, size_t errlen) {
    OptimPlan *o = &b->optim;
    const EmitInstance *mom = &b->kernels.inst[o->momentum.inst];
    int max_count = 1;
    o->x = o->square = 1;
    for (int i = 0; i < b->ntensors; i++) {
        const ParamTensor *t = &b->tensors[i];
        bool muon = t->opt == OPT_MUON;
        int64_t *state = muon ? &o->muon_state : &o->adam_state;
        o->state_off[i] = *state;
        *state = round_up(*state + t->numel, ALIGN_FLOATS);
        if (!muon) continue;
        int r, c, k;
        params_matrix_shape(t, &r, &c, &k);
        if (((int64_t)r * c) % mom->vec)
            return snprintf(err, errlen, "%s: %d x %d matrices do not split into vectors of %d", t->name, r, c,
                            mom->vec),
                   false;
        int small = r < c ? r : c;
        if (t->numel > o->x) o->x = t->numel;
        if ((int64_t)k * small * small > o->square) o->square = (int64_t)k * small * small;
        if (k > max_count) max_count = k;
    }
    o->count = max_count;
    o->partials = (int64_t)mom->grid_blocks * max_count;
    return true;
}

static void optim_launches(ModelBuild *b) {
    OptimPlan *o = &b->optim;
    for (int i = 0; i < b->ntensors; i++) {
        const ParamTensor *t = &b->tensors[i];
        if (t->opt == OPT_ADAM) {
            launch(o, OL_ADAM, i, t->numel);
            if (t->bf16_copy) launch(o, OL_CAST, i, t->numel);
            continue;
        }
        int r, c, k;
        params_matrix_shape(t, &r, &c, &k);
        launch(o, OL_MOMENTUM, i, t->numel);
        launch(o, OL_NORM, i, k);
        launch(o, OL_NEWTON_SCHULZ, i, t->numel);
        launch(o, OL_UPDATE, i, t->numel);
    }
    for (int i = 0; i < b->ntensors; i++)
        if (b->tensors[i].opt == OPT_MUON) launch(o, OL_SHARE, i, b->tensors[i].numel);
}

/* ---- the build ---- */

/* Why the device executors cannot run this model ("" when they can). */
static void device_limits(const ModelSpec *s, char *why, size_t cap) {
    why[0] = '\0';
    if (!lower_supported(s, why, cap)) return;
    if (s->dtypes.muon_master != MASTER_SPLIT16)
        snprintf(why, cap, "dtypes.muon_master fp32 is not supported on the device (it keeps split16 planes)");
}

static bool kernel_source(ModelBuild *b, char *err, size_t errlen) {
    StrBuf cu = {0};
    if (!emit_kernels(&b->kernels, &cu, err, errlen)) {
        sb_free(&cu);
        return false;
    }
    Sha256 h;
    sha256_init(&h);
    sha256_update(&h, sb_str(&cu), cu.len);
    sha256_hex(&h, b->kernels_sha256);
    b->kernels_cu = cu.data ? cu.data : strdup("");
    StrBuf cc = {0};
    emit_sim_cc(&b->kernels, "", &cc);
    b->kernels_sim_cc = cc.data ? cc.data : strdup("");
    return b->kernels_cu && b->kernels_sim_cc;
}

/* The hash of the choices in effect: every instance whose knobs are not
 * its rule's, by family, shape and knobs, in the kernel set's order; then
 * every GEMM algorithm that is not the device's default, in b's order. */
static void tuning_hash(const KernelSet *rules, const KernelSet *tuned, const ModelBuild *b, char out[17]) {
    Sha256 h;
    char line[256], hex[65];
    bool any = false;
    sha256_init(&h);
    for (int i = 0; i < b->ngemm; i++) {
        if (b->gemm[i].knobs.algo.set != 2) continue;
        any = true;
        char knobs[TUNE_KNOBS_TEXT];
        tune_knobs_format(b->gemm[i].knobs, knobs, sizeof knobs);
        int n = snprintf(line, sizeof line, "%s %s %s\n", TUNE_GEMM, b->gemm[i].shape, knobs);
        sha256_update(&h, line, (size_t)n);
    }
    for (int i = 0; i < tuned->n; i++) {
        TuneKnobs r = tune_knobs(&rules->inst[i]), t = tune_knobs(&tuned->inst[i]);
        if (tune_knobs_equal(r, t)) continue;
        any = true;
        char knobs[TUNE_KNOBS_TEXT];
        tune_knobs_format(t, knobs, sizeof knobs);
        int n = snprintf(line, sizeof line, "%s %s %s\n", rules->inst[i].family, rules->inst[i].suffix, knobs);
        sha256_update(&h, line, (size_t)n);
    }
    sha256_hex(&h, hex);
    snprintf(out, 17, "%.16s", any ? hex : "");
}

/* The kernel set of spec s under choices t (NULL: the rules), and t's
 * GEMM algorithms. */
static bool kernel_set(const ModelSpec *s, const TuneChoices *t, ModelBuild *b, char *err, size_t errlen) {
    KernelSet *out = &b->kernels;
    emit_kernel_set(s, out);
    for (int i = 0; t && i < t->n; i++) {
        if (strcmp(t->c[i].family, TUNE_GEMM)) continue;
        if (b->ngemm == BUILD_MAX_GEMMS) return snprintf(err, errlen, "more than %d GEMM choices", BUILD_MAX_GEMMS), false;
        b->gemm[b->ngemm++] = t->c[i];
    }
    KernelSet *rules = malloc(sizeof *rules);
    if (!rules) return snprintf(err, errlen, "out of memory"), false;
    *rules = *out;
    bool ok = tune_apply_all(out, t, err, errlen);
    if (ok) tuning_hash(rules, out, b, b->tuning);
    free(rules);
    return ok;
}

ModelBuild *model_build(const ModelSpec *s, char *err, size_t errlen) { return model_build_tuned(s, NULL, err, errlen); }

ModelBuild *model_build_tuned(const ModelSpec *s, const TuneChoices *t, char *err, size_t errlen) {
    ModelBuild *b = calloc(1, sizeof *b);
    if (!b) return snprintf(err, errlen, "out of memory"), NULL;
    b->owned = true;
    b->spec = *s;
    const char *base = strrchr(s->source, '/');
    snprintf(b->model_name, sizeof b->model_name, "%.127s", base ? base + 1 : s->source);
    b->ntensors = params_list(s, b->tensors);
    bool ok = kernel_set(s, t, b, err, errlen) && kernel_source(b, err, errlen);
    if (ok) device_limits(s, b->plan_why, sizeof b->plan_why);
    if (ok && !b->plan_why[0]) {
        int64_t T = s->train.tokens_per_rank > s->train.val_tokens_per_rank ? s->train.tokens_per_rank
                                                                           : s->train.val_tokens_per_rank;
        ok = lower_plan(b, err, errlen) && optim_kernels(b, err, errlen) && optim_layout(b, err, errlen);
        if (ok) {
            arena_pack(&b->plan, T, &b->arena);
            optim_launches(b);
            b->has_plan = true;
        }
    }
    if (ok) return b;
    model_build_free(b);
    return NULL;
}

static void instance_name(const EmitInstance *in, char *out, size_t cap) {
    snprintf(out, cap, "%s_%s (%d blocks of %d threads)", in->family, in->suffix, in->grid_blocks, in->threads);
}

bool build_kernels_fit(const ModelBuild *b, const ModelSpec *s, char *which, size_t cap) {
    KernelSet *now = malloc(sizeof *now);
    if (!now) return snprintf(which, cap, "out of memory"), false;
    emit_kernel_set(s, now);
    /* The build's knobs, on the instances that line up: where they do
     * not fit, the comparison below names the instance that differs. */
    for (int i = 0; i < now->n && i < b->kernels.n; i++)
        if (tune_is_candidate(&now->inst[i], tune_knobs(&b->kernels.inst[i])))
            tune_apply(&now->inst[i], tune_knobs(&b->kernels.inst[i]));
    const KernelSet *old = &b->kernels;
    char o[128], n[128];
    bool fit = true;
    for (int i = 0; fit && i < (old->n > now->n ? old->n : now->n); i++) {
        snprintf(o, sizeof o, "none");
        snprintf(n, sizeof n, "none");
        if (i < old->n) instance_name(&old->inst[i], o, sizeof o);
        if (i < now->n) instance_name(&now->inst[i], n, sizeof n);
        fit = !strcmp(o, n);
    }
    if (!fit) snprintf(which, cap, "%s -> %s", o, n);
    free(now);
    return fit;
}

void model_build_free(ModelBuild *b) {
    if (!b || !b->owned) return;
    plan_free(&b->plan);
    free((char *)b->kernels_cu);
    free((char *)b->kernels_sim_cc);
    free(b);
}
