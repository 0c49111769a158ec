/*
 * test_simstep.c: whole training steps of the tiny models on the sim
 * executor (the generated kernels and schedule, compiled for this CPU)
 * against the ref executor, through the same Backend interface the trainer
 * uses: the same initial weights, the same tokens, then the loss, every
 * gradient and every parameter after the optimizer's update; a 20-step
 * loss curve; and each executor's optimizer state moved into the other.
 *
 * The two are not meant to agree bit for bit: sim runs the recipe's
 * numerics (bf16 activations, weights and Newton-Schulz; fp32 reductions,
 * norms, logits and optimizer state) where ref runs everything in fp32.
 * The tolerances below are relative L2 errors over a whole tensor; each is
 * several times what bf16's 2^-9 relative rounding, compounded through the
 * layers, gave when measured (printed with every run), and each is far
 * below what a wrong kernel gives (a dropped term, a wrong sign or a
 * missed rescale moves a tensor by tens of percent).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "compiler/lang/diag.h"
#include "runtime/util/rng.h"
#include "compiler/lang/spec.h"
#include "compiler/lang/validate.h"
#include "tests/unit/test.h"

/* Loss: relative. Gradients: relative L2 per tensor, over tensors whose
 * gradient is not ~0. Updates: relative L2 of (new - old) per tensor, from
 * the same gradients (Newton-Schulz in bf16 moves Muon's by ~1e-2). */
#define TOL_LOSS 5e-3
#define TOL_GRAD 6e-2
#define TOL_UPDATE 5e-2
#define TOL_CURVE 5e-3

static double rel_l2(const float *got, const float *want, size_t n, double *norm) {
    double d = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)got[i] - want[i];
        d += e * e;
        w += (double)want[i] * want[i];
    }
    *norm = sqrt(w);
    return w > 0 ? sqrt(d / w) : sqrt(d);
}

/* The executor checked against ref: sim, or GPTC_TEST_DEVICE (the GPU
 * check runs these tests with cuda: the same contract, the same bounds). */
static const char *device(void) {
    const char *d = getenv("GPTC_TEST_DEVICE");
    return d && *d ? d : "sim";
}

/* Tokens of a few documents: random ids, an EOT at fixed places. */
static void make_tokens(const ModelSpec *s, int T, uint64_t seed, int *ids, int *tgt) {
    Rng r;
    rng_seed(&r, seed);
    int prev = s->vocab.eot;
    for (int t = 0; t <= T; t++) {
        int v = t % 97 == 0 ? s->vocab.eot : (int)(rng_uniform(&r) * (s->vocab.size - 1));
        if (t > 0) ids[t - 1] = prev, tgt[t - 1] = v;
        prev = v;
    }
}

typedef struct {
    ModelSpec s;
    ModelBuild *mb;
    Backend ref, sim;
    int T;
    int *ids, *tgt;
} Pair;

/* The recipe starts the head and the output projections at zero, so that
 * the first step's gradient reaches the head alone: the single steps start
 * from random weights everywhere instead, so that every gradient and
 * update is exercised. */
static const char *const all_random[] = {"head.init=normal", "head.init_std=0.05", "init.zero_out_proj=false",
                                         "head.tied=true", "vocab.pad_embeddings=true"};

/* random_init: the sets above; tied: the last one too (a head tied to x00's
 * table, whose bf16 copy the device must refresh after every update). */
static bool pair_open_tied(Pair *p, const char *model, int T, bool random_init, bool tied) {
    memset(p, 0, sizeof *p);
    char err[4096];
    if (!spec_load(model, random_init ? all_random : NULL, random_init ? 3 + 2 * tied : 0, &p->s)) {
        diag_reset();
        return false;
    }
    p->T = T;
    p->mb = model_build(&p->s, err, sizeof err);
    bool ok = p->mb && backend_open(&p->ref, "ref", p->mb, T, err, sizeof err);
    if (ok && !backend_open(&p->sim, device(), p->mb, T, err, sizeof err)) {
        fprintf(stderr, "  %s\n", err);
        ok = false;
    }
    if (!ok) return false;
    p->ids = malloc(sizeof(int) * (size_t)T);
    p->tgt = malloc(sizeof(int) * (size_t)T);
    p->ref.init(p->ref.impl, 1234);
    p->sim.init(p->sim.impl, 1234);
    return p->ids && p->tgt;
}

static bool pair_open(Pair *p, const char *model, int T, bool random_init) {
    return pair_open_tied(p, model, T, random_init, false);
}

static void pair_close(Pair *p) {
    backend_close(&p->ref);
    backend_close(&p->sim);
    model_build_free(p->mb);
    free(p->ids);
    free(p->tgt);
}

/* The worst relative L2 error over the tensors of got vs want, and its
 * tensor's name; tensors whose reference is all zero are skipped (a zero
 * reference has no scale to be relative to; both sides must then be zero
 * up to bf16 noise, checked by the absolute floor). */
static double worst_tensor(const Pair *p, const float *got, const float *want, const char **name) {
    const ParamTensor *meta;
    const size_t *off;
    int n = p->ref.tensors(p->ref.impl, &meta, &off);
    double worst = 0;
    *name = "-";
    for (int i = 0; i < n; i++) {
        double norm, e = rel_l2(got + off[i], want + off[i], (size_t)meta[i].numel, &norm);
        if (norm < 1e-12) continue;
        if (e > worst) worst = e, *name = meta[i].name;
    }
    return worst;
}

static void whole_step_of(const char *model, bool tied) {
    Pair p;
    if (!pair_open_tied(&p, model, 256, true, tied)) {
        CHECK(!"both executors open");
        pair_close(&p);
        return;
    }
    size_t n = p.ref.num_params(p.ref.impl);
    CHECK(!memcmp(p.ref.params(p.ref.impl), p.sim.params(p.sim.impl), n * sizeof(float)));
    make_tokens(&p.s, p.T, 99, p.ids, p.tgt);
    double lr = p.ref.forward(p.ref.impl, p.ids, p.tgt, p.T, 0, false);
    double ls = p.sim.forward(p.sim.impl, p.ids, p.tgt, p.T, 0, false);
    double el = fabs(ls - lr) / fabs(lr);
    printf("  %s step %-22s loss      ref %.6f sim %.6f (rel %.2e, tol %.0e)\n", device(), model, lr, ls, el, TOL_LOSS);
    CHECK(el <= TOL_LOSS);
    p.ref.backward(p.ref.impl);
    p.sim.backward(p.sim.impl);
    const char *name;
    double eg = worst_tensor(&p, p.sim.grads(p.sim.impl), p.ref.grads(p.ref.impl), &name);
    printf("  %s step %-22s gradients worst rel L2 %.2e (%s, tol %.0e)\n", device(), model, eg, name, TOL_GRAD);
    CHECK(eg <= TOL_GRAD);
    /* The update from the same gradients (ref's, handed to the device):
     * Adam's first step is lr * sign(g) wherever |g| >> eps, so a gradient
     * that is ~0 and differs in sign by noise would flip its update; with
     * the same gradients the update checks the device optimizer as wired
     * into the executor, and the loss after it checks the whole step. */
    float *before = malloc(n * sizeof(float)), *ref_upd = malloc(n * sizeof(float)),
          *sim_upd = malloc(n * sizeof(float));
    memcpy(before, p.ref.params(p.ref.impl), n * sizeof(float));
    memcpy(p.sim.grads(p.sim.impl), p.ref.grads(p.ref.impl), n * sizeof(float));
    p.sim.grads_changed(p.sim.impl);
    CHECK(p.ref.step(p.ref.impl, 0) == 0);
    CHECK(p.sim.step(p.sim.impl, 0) == 0);
    const float *pr = p.ref.params(p.ref.impl), *ps = p.sim.params(p.sim.impl);
    for (size_t i = 0; i < n; i++) ref_upd[i] = pr[i] - before[i], sim_upd[i] = ps[i] - before[i];
    double eu = worst_tensor(&p, sim_upd, ref_upd, &name);
    printf("  %s step %-22s updates   worst rel L2 %.2e (%s, tol %.0e)\n", device(), model, eu, name, TOL_UPDATE);
    CHECK(eu <= TOL_UPDATE);
    lr = p.ref.forward(p.ref.impl, p.ids, p.tgt, p.T, 1, false);
    ls = p.sim.forward(p.sim.impl, p.ids, p.tgt, p.T, 1, false);
    el = fabs(ls - lr) / fabs(lr);
    printf("  %s step %-22s loss after the update: ref %.6f sim %.6f (rel %.2e, tol %.0e)\n", device(), model, lr, ls, el,
           TOL_LOSS);
    CHECK(el <= TOL_LOSS);
    free(before);
    free(ref_upd);
    free(sim_upd);
    pair_close(&p);
}

static void whole_step(const char *model) { whole_step_of(model, false); }

TEST(simstep_tiny_matches_ref) { whole_step("models/tiny.yaml"); }
TEST(simstep_tiny_tied_head_matches_ref) { whole_step_of("models/tiny.yaml", true); }
TEST(simstep_tiny_x02_matches_ref) { whole_step("models/tiny-x02.yaml"); }
TEST(simstep_tiny_x04_matches_ref) { whole_step("models/tiny-x04.yaml"); }

/* 20 steps of tiny.yaml from the recipe's initialisation, each on its own
 * tokens, both executors with their own optimizer: the curves must stay
 * together. Half a minute of emulated kernels: only the plain build has this
 * test (under AddressSanitizer the kernels are the same uninstrumented
 * shared object, and the single steps above cover the host code). */
#ifndef __SANITIZE_ADDRESS__
TEST(simstep_tiny_20_step_curve_matches_ref) {
    Pair p;
    if (!pair_open(&p, "models/tiny.yaml", 128, false)) {
        CHECK(!"both executors open");
        pair_close(&p);
        return;
    }
    double worst = 0, first = 0, last_r = 0, last_s = 0;
    int at = 0;
    for (int step = 0; step < 20; step++) {
        make_tokens(&p.s, p.T, 1000 + (uint64_t)step, p.ids, p.tgt);
        double lr = p.ref.forward(p.ref.impl, p.ids, p.tgt, p.T, step, false);
        double ls = p.sim.forward(p.sim.impl, p.ids, p.tgt, p.T, step, false);
        p.ref.backward(p.ref.impl);
        p.sim.backward(p.sim.impl);
        CHECK(p.ref.step(p.ref.impl, step) == 0);
        CHECK(p.sim.step(p.sim.impl, step) == 0);
        double e = fabs(ls - lr) / fabs(lr);
        if (!(e <= worst)) worst = isfinite(e) ? e : INFINITY, at = step;
        if (step == 0) first = lr;
        last_r = lr, last_s = ls;
    }
    printf("  %s tiny 20 steps: ref %.4f -> %.4f, sim -> %.4f; worst rel gap %.2e at step %d (tol %.0e)\n",
           device(), first, last_r, last_s, worst, at, TOL_CURVE);
    CHECK(worst <= TOL_CURVE);
    CHECK(last_r < first);
    pair_close(&p);
}
#endif

/* Every function the trainer calls unconditionally is there on both
 * executors (backend.h); only the ones backend.h lets be NULL are. */
static bool complete(const Backend *b) {
    return b->params && b->grads && b->num_params && b->tensors && b->init && b->forward && b->backward &&
           b->close && b->params_changed && b->grads_changed && b->step && b->state && b->set_state && b->error &&
           b->sync && b->memory;
}

/* The optimizer each executor owns gives and takes its state under the
 * same names and layout (what lets a checkpoint move between executors):
 * ref's state after a step, set into the device, comes back from it bit
 * for bit, and the device's after a step of its own into ref; ref refuses
 * an array of another name or size, saying which. */
TEST(simstep_optimizer_state_moves_between_executors) {
    Pair p;
    if (!pair_open(&p, "models/tiny.yaml", 256, true)) {
        CHECK(!"both executors open");
        pair_close(&p);
        return;
    }
    CHECK(complete(&p.ref) && complete(&p.sim));
    CHECK(!p.ref.join_ranks && !p.ref.set_profile && !p.ref.profile && !p.ref.describe);
    CHECK(p.sim.join_ranks && p.sim.set_profile && p.sim.profile && p.sim.describe);
    make_tokens(&p.s, p.T, 11, p.ids, p.tgt);
    Backend *from[2] = {&p.ref, &p.sim}, *to[2] = {&p.sim, &p.ref};
    for (int dir = 0; dir < 2; dir++) {
        from[dir]->forward(from[dir]->impl, p.ids, p.tgt, p.T, dir, false);
        from[dir]->backward(from[dir]->impl);
        CHECK(from[dir]->step(from[dir]->impl, dir) == 0);
        CkptArray a[3], b[3];
        CHECK_EQ_INT(from[dir]->state(from[dir]->impl, a, 3), 3);
        CHECK(to[dir]->set_state(to[dir]->impl, a, 3) == 0);
        CHECK_EQ_INT(to[dir]->state(to[dir]->impl, b, 3), 3);
        size_t nonzero = 0, differ = 0;
        for (int j = 0; j < 3; j++) {
            CHECK(!strcmp(a[j].name, b[j].name) && a[j].count == b[j].count);
            for (size_t i = 0; i < a[j].count && i < b[j].count; i++) {
                nonzero += a[j].data[i] != 0;
                differ += memcmp(&a[j].data[i], &b[j].data[i], sizeof(float)) != 0;
            }
        }
        printf("  %s -> %s: optimizer state, %zu of its values non-zero, %zu differ after the move\n",
               from[dir]->name, to[dir]->name, nonzero, differ);
        CHECK(nonzero > 0);
        CHECK(differ == 0);
    }
    CkptArray a[3];
    CHECK_EQ_INT(p.ref.state(p.ref.impl, a, 3), 3);
    CkptArray other = {"adam_q", a[0].data, a[0].count}, shorter = {"adam_v", a[1].data, a[1].count - 1};
    CHECK(p.ref.set_state(p.ref.impl, &other, 1) == -1);
    CHECK_HAS(p.ref.error(p.ref.impl), "no optimizer state named 'adam_q'");
    CHECK(p.ref.set_state(p.ref.impl, &shorter, 1) == -1);
    CHECK_HAS(p.ref.error(p.ref.impl), "adam_v has");
    CHECK(!p.sim.error(p.sim.impl)[0]);
    pair_close(&p);
}

/* The gradients averaged over the ranks during the backward pass
 * (Backend.join_ranks: devcomm.h, exec_set_comm): with one rank the
 * average is the gradient itself, so a step after joining must give the
 * gradients of a step before, bit for bit. On cuda this runs NCCL (a
 * communicator of one) on its own stream beside the backward pass: a
 * missing wait between the two streams shows as different gradients. */
TEST(simstep_gradients_over_one_rank_unchanged) {
    Pair p;
    if (!pair_open(&p, "models/tiny.yaml", 256, true)) {
        CHECK(!"both executors open");
        pair_close(&p);
        return;
    }
    size_t n = p.sim.num_params(p.sim.impl);
    make_tokens(&p.s, p.T, 7, p.ids, p.tgt);
    double l0 = p.sim.forward(p.sim.impl, p.ids, p.tgt, p.T, 0, false);
    p.sim.backward(p.sim.impl);
    float *alone = malloc(n * sizeof(float));
    memcpy(alone, p.sim.grads(p.sim.impl), n * sizeof(float));
    char err[1024];
    Coll *coll = coll_open(30, err, sizeof err);
    CHECK(coll && coll_size(coll) == 1);
    CHECK(p.sim.join_ranks && p.sim.join_ranks(p.sim.impl, coll, 30) == 0);
    if (p.sim.error(p.sim.impl)[0]) printf("  %s\n", p.sim.error(p.sim.impl));
    double l1 = p.sim.forward(p.sim.impl, p.ids, p.tgt, p.T, 0, false);
    p.sim.backward(p.sim.impl);
    const float *joined = p.sim.grads(p.sim.impl);
    size_t differ = 0;
    for (size_t i = 0; i < n; i++) differ += memcmp(&alone[i], &joined[i], sizeof(float)) != 0;
    printf("  %s: gradients over one rank: %zu of %zu differ from the step alone\n", device(), differ, n);
    CHECK(l0 == l1);
    CHECK(differ == 0);
    CHECK(!p.sim.error(p.sim.impl)[0]);
    free(alone);
    pair_close(&p);
    coll_close(coll);
}

#ifndef __SANITIZE_ADDRESS__
#define DET_STEPS 2

/* DET_STEPS steps on a freshly opened device executor; false when it
 * fails. */
static bool some_steps(const ModelBuild *mb, int T, double loss[DET_STEPS], float **params, size_t *n) {
    const ModelSpec *s = &mb->spec;
    Backend b;
    char err[4096];
    if (!backend_open(&b, device(), mb, T, err, sizeof err)) {
        printf("  %s\n", err);
        return false;
    }
    int *ids = malloc(sizeof(int) * (size_t)T), *tgt = malloc(sizeof(int) * (size_t)T);
    bool ok = ids && tgt;
    b.init(b.impl, 1234);
    for (int k = 0; k < DET_STEPS && ok; k++) {
        make_tokens(s, T, 50 + (uint64_t)k, ids, tgt);
        loss[k] = b.forward(b.impl, ids, tgt, T, k, false);
        b.backward(b.impl);
        ok = b.step(b.impl, k) == 0;
    }
    *n = b.num_params(b.impl);
    *params = ok ? malloc(*n * sizeof(float)) : NULL;
    if (*params) memcpy(*params, b.params(b.impl), *n * sizeof(float));
    free(ids);
    free(tgt);
    backend_close(&b);
    return *params != NULL;
}

/* Deterministic: the same seed and tokens twice give the same losses and
 * parameters, bit for bit, after whole steps (forward, backward, the
 * device optimizer). Every reduction has a fixed order and no kernel uses
 * float atomics; on cuda this checks that cuBLASLt's choices and the
 * launches keep it so. Plain build only, as the curve above. */
TEST(simstep_device_steps_are_deterministic) {
    ModelSpec s;
    if (!spec_load("models/tiny.yaml", all_random, 3, &s)) {
        diag_reset();
        CHECK(!"tiny.yaml loads");
        return;
    }
    double loss[2][DET_STEPS];
    float *params[2] = {NULL, NULL};
    size_t n[2];
    char err[1024];
    ModelBuild *mb = model_build(&s, err, sizeof err);
    bool ok = mb && some_steps(mb, 128, loss[0], &params[0], &n[0]) && some_steps(mb, 128, loss[1], &params[1], &n[1]);
    model_build_free(mb);
    CHECK(ok);
    if (ok) {
        size_t differ = 0;
        for (size_t i = 0; i < n[0]; i++) differ += memcmp(&params[0][i], &params[1][i], sizeof(float)) != 0;
        printf("  %s: %d steps twice: losses %.9g %.9g / %.9g %.9g, %zu of %zu parameters differ\n", device(),
               DET_STEPS, loss[0][0], loss[0][1], loss[1][0], loss[1][1], differ, n[0]);
        CHECK(!memcmp(loss[0], loss[1], sizeof loss[0]));
        CHECK(differ == 0);
    }
    free(params[0]);
    free(params[1]);
}
#endif
