/*
 * tune_gate.c: a training step to compare variants by (tune_gate.h).
 */
#include "runtime/device/tune_gate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/backend.h"
#include "runtime/util/rng.h"

void gate_tokens(const ModelSpec *s, int T, int *ids, int *tgt) {
    Rng r;
    rng_seed(&r, 4321);
    int prev = s->vocab.eot;
    for (int t = 0; t <= T; t++) {
        int v = t % 97 == 0 ? s->vocab.eot : (int)(rng_uniform(&r) * (s->vocab.size - 1));
        if (t > 0) ids[t - 1] = prev, tgt[t - 1] = v;
        prev = v;
    }
}

void gate_start_spec(ModelSpec *s) {
    s->head.init = INIT_NORMAL;
    s->head.init_std = 0.05;
    s->init.zero_out_proj = false;
}

/* The same build with gate_start_spec's initialisation (not in the kernels). */
static ModelBuild *random_start(const ModelBuild *b) {
    ModelBuild *g = malloc(sizeof *g);
    if (!g) return NULL;
    *g = *b;
    g->owned = false;
    gate_start_spec(&g->spec);
    return g;
}

bool gate_step(const ModelBuild *b, const char *backend, int T, GateStep *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    Backend be;
    ModelBuild *g = random_start(b);
    int *ids = malloc(sizeof(int) * (size_t)T), *tgt = malloc(sizeof(int) * (size_t)T);
    if (!g || !ids || !tgt || !backend_open(&be, backend, g, T, err, errlen)) {
        if (!g || !ids || !tgt) snprintf(err, errlen, "out of memory");
        free(g), free(ids), free(tgt);
        return false;
    }
    gate_tokens(&b->spec, T, ids, tgt);
    be.init(be.impl, 1234);
    out->loss = be.forward(be.impl, ids, tgt, T, 0, false);
    be.backward(be.impl);
    out->n = be.num_params(be.impl);
    out->grads = gate_copy(be.grads(be.impl), out->n);
    bool ok = isfinite(out->loss) && out->grads && be.step(be.impl, 0) == 0;
    out->params = ok ? gate_copy(be.params(be.impl), out->n) : NULL;
    if (!out->params)
        snprintf(err, errlen, "%s: the step failed%s%s", backend, be.error ? ": " : "", be.error ? be.error(be.impl) : "");
    backend_close(&be);
    free(g), free(ids), free(tgt);
    return out->params != NULL;
}

float *gate_copy(const float *p, size_t n) {
    float *c = p ? malloc(n * sizeof(float)) : NULL;
    if (c) memcpy(c, p, n * sizeof(float));
    return c;
}

void gate_step_free(GateStep *s) {
    if (!s->borrowed) free(s->grads);
    free(s->params);
    memset(s, 0, sizeof *s);
}

/* |got - want| / |want| over n values (|got - want| where want is 0). A
 * model's gradients are hundreds of millions of values, compared at every
 * gate round: summed in GATE_PARTS fixed parts side by side, each in
 * order, then the parts in order, so that the result does not depend on
 * how many threads there are. */
#define GATE_PARTS 64
static double rel_l2(const float *want, const float *got, size_t n) {
    double d[GATE_PARTS], w[GATE_PARTS];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < GATE_PARTS; c++) {
        double dc = 0, wc = 0;
        for (size_t i = n * (size_t)c / GATE_PARTS; i < n * (size_t)(c + 1) / GATE_PARTS; i++) {
            double e = (double)got[i] - want[i];
            dc += e * e;
            wc += (double)want[i] * want[i];
        }
        d[c] = dc, w[c] = wc;
    }
    double ds = 0, ws = 0;
    for (int c = 0; c < GATE_PARTS; c++) ds += d[c], ws += w[c];
    return ws > 0 ? sqrt(ds / ws) : sqrt(ds);
}

bool gate_compare(const GateStep *want, const GateStep *got, bool reorders, char *why, size_t cap) {
    if (want->n != got->n) return snprintf(why, cap, "another parameter count"), false;
    size_t bytes = want->n * sizeof(float);
    bool params = want->params && got->params;
    bool bits = !memcmp(&want->loss, &got->loss, sizeof want->loss) && !memcmp(want->grads, got->grads, bytes) &&
                (!params || !memcmp(want->params, got->params, bytes));
    if (bits) return true;
    double loss_rel = fabs(got->loss - want->loss) / fabs(want->loss);
    double grads_rel = rel_l2(want->grads, got->grads, want->n);
    if (!reorders) {
        int len = snprintf(why, cap, "not bit-identical to the rule (loss rel %.2e, gradients rel L2 %.2e", loss_rel,
                           grads_rel);
        if (len < 0 || (size_t)len >= cap) return false;
        if (params) snprintf(why + len, cap - (size_t)len, ", parameters %.2e)", rel_l2(want->params, got->params, want->n));
        else snprintf(why + len, cap - (size_t)len, ")");
        return false;
    }
    if (!(loss_rel <= GATE_LOSS_REL && grads_rel <= GATE_GRADS_REL)) {
        snprintf(why, cap, "loss rel %.2e (tol %.0e), gradients rel L2 %.2e (tol %.0e) from the rule", loss_rel,
                 GATE_LOSS_REL, grads_rel, GATE_GRADS_REL);
        return false;
    }
    return true;
}
