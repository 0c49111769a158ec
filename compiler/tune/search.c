/*
 * search.c: the interleaved timing and the choice (search.h).
 */
#include "compiler/tune/search.h"

#include <stdio.h>
#include <stdlib.h>

void tune_instance_init(TuneInstance *ti, int inst, const EmitInstance *in) {
    TuneCandidate c[TUNE_MAX_CANDIDATES];
    ti->inst = inst;
    snprintf(ti->family, sizeof ti->family, "%s", in->family);
    snprintf(ti->shape, sizeof ti->shape, "%s", in->suffix);
    ti->n = tune_candidates(in, c, TUNE_MAX_CANDIDATES);
    ti->chosen = 0;
    for (int j = 0; j < ti->n; j++)
        ti->v[j] = (TuneVariant){.knobs = c[j].knobs, .reorders = c[j].reorders, .status = TUNE_OK, .median_us = -1};
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double tune_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, by_value);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Each OK variant's median over its first `rounds` samples. */
static void medians(TuneInstance *ti, double samples[][TUNE_MAX_ROUNDS], int rounds) {
    double v[TUNE_MAX_ROUNDS];
    for (int j = 0; j < ti->n; j++) {
        if (ti->v[j].status != TUNE_OK) continue;
        for (int r = 0; r < rounds; r++) v[r] = samples[j][r];
        ti->v[j].median_us = tune_median(v, rounds);
    }
}

/* Every OK candidate once per round, in order, the slow ones cut after
 * TUNE_CUT_ROUNDS; then each one's median. */
static void time_instance(TuneInstance *ti, const TuneTimer *t, int rounds) {
    static double samples[TUNE_MAX_CANDIDATES][TUNE_MAX_ROUNDS];
    for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < ti->n; j++)
            if (ti->v[j].status == TUNE_OK) samples[j][r] = t->time_us(t->ctx, ti->inst, ti->v[j].knobs);
        if (r + 1 == TUNE_CUT_ROUNDS && rounds > TUNE_CUT_ROUNDS) {
            medians(ti, samples, r + 1);
            tune_cut_slow(ti);
        }
    }
    medians(ti, samples, rounds);
}

int tune_cut_slow(TuneInstance *ti) {
    int best = -1, left = 0;
    for (int j = 0; j < ti->n; j++)
        if (ti->v[j].status == TUNE_OK && (best < 0 || ti->v[j].median_us < ti->v[best].median_us)) best = j;
    for (int j = 0; j < ti->n; j++) {
        if (ti->v[j].status != TUNE_OK) continue;
        if (j > 0 && ti->v[j].median_us > TUNE_CUT_SLOWER * ti->v[best].median_us) ti->v[j].status = TUNE_SLOW;
        else left++;
    }
    return left;
}

int tune_choose(const TuneInstance *ti, double margin) {
    int best = -1;
    for (int j = 0; j < ti->n; j++)
        if (ti->v[j].status == TUNE_OK && (best < 0 || ti->v[j].median_us < ti->v[best].median_us)) best = j;
    if (best <= 0 || ti->v[0].status != TUNE_OK) return 0;
    return ti->v[best].median_us < (1.0 - margin) * ti->v[0].median_us ? best : 0;
}

int tune_search(TuneInstance *ins, int n, const TuneTimer *t, const TuneSearch *cfg) {
    int rounds = cfg->rounds < 1 ? 1 : cfg->rounds > TUNE_MAX_ROUNDS ? TUNE_MAX_ROUNDS : cfg->rounds;
    int timed = 0;
    for (int i = 0; i < n; i++) {
        TuneInstance *ti = &ins[i];
        if (cfg->budget_s > 0 && t->elapsed_s(t->ctx) >= cfg->budget_s) {
            for (int j = 0; j < ti->n; j++)
                if (ti->v[j].status == TUNE_OK) ti->v[j].status = TUNE_UNTIMED;
            ti->chosen = 0;
            continue;
        }
        time_instance(ti, t, rounds);
        ti->chosen = tune_choose(ti, cfg->margin);
        timed++;
    }
    return timed;
}
