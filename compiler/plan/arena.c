/*
 * arena.c: liveness and greedy packing of the arena (see arena.h).
 */
#include "compiler/plan/arena.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t gcd(int64_t a, int64_t b) {
    while (b) {
        int64_t t = a % b;
        a = b, b = t;
    }
    return a;
}

static int64_t round_up(int64_t v, int64_t q) { return (v + q - 1) / q * q; }

static int64_t token_quantum(const Plan *p) { return 256 / gcd(256, p->block_size); }

void arena_buf_size(const Plan *p, const PlanBuf *b, int64_t *per_token, int64_t *fixed) {
    int es = plan_dtype_bytes(b->dtype);
    *per_token = round_up(b->per_token * es, token_quantum(p));
    *fixed = round_up(b->fixed * es, 256);
}

static void touch(Plan *p, int buf, int step) {
    PlanBuf *b = &p->bufs[buf];
    if (b->first < 0 || step < b->first) b->first = step;
    if (step > b->last) b->last = step;
}

static void liveness(Plan *p) {
    for (int i = 0; i < p->nbufs; i++) p->bufs[i].first = p->bufs[i].last = -1;
    for (int s = 0; s < p->nsteps; s++) {
        const PlanStep *st = &p->steps[s];
        for (int a = 0; a < st->nargs; a++)
            if (st->args[a].kind == ARG_BUF) touch(p, st->args[a].id, s);
        for (int j = 0; j < st->nops; j++) {
            const PlanOp *o = &p->ops[st->first_op + j];
            for (int r = 0; r < o->nin; r++) touch(p, o->in[r].buf, s);
            for (int r = 0; r < o->nout; r++) touch(p, o->out[r].buf, s);
        }
    }
    for (int i = 0; i < p->nbufs; i++)
        if (p->bufs[i].output && p->bufs[i].first >= 0) p->bufs[i].last = p->nsteps;
}

static bool overlap_life(const PlanBuf *a, const PlanBuf *b) { return a->first <= b->last && b->first <= a->last; }

typedef struct {
    int id;
    int64_t pt, fx, at_ref;
} Item;

static int by_size(const void *x, const void *y) {
    const Item *a = x, *b = y;
    if (a->at_ref != b->at_ref) return a->at_ref > b->at_ref ? -1 : 1;
    return a->id - b->id;
}

/* [o, o + s) ends at or below [o2, o2 + s2)'s start in both components. */
static bool below(int64_t opt, int64_t ofx, int64_t spt, int64_t sfx, int64_t o2pt, int64_t o2fx) {
    return opt + spt <= o2pt && ofx + sfx <= o2fx;
}

static bool fits(const Plan *p, const Item *items, int placed, const Item *it, int64_t cpt, int64_t cfx) {
    const PlanBuf *b = &p->bufs[it->id];
    for (int j = 0; j < placed; j++) {
        const PlanBuf *o = &p->bufs[items[j].id];
        if (!overlap_life(b, o)) continue;
        if (!below(cpt, cfx, it->pt, it->fx, o->off_per_token, o->off_fixed) &&
            !below(o->off_per_token, o->off_fixed, items[j].pt, items[j].fx, cpt, cfx))
            return false;
    }
    return true;
}

void arena_pack(Plan *p, int64_t ref_T, ArenaLayout *out) {
    liveness(p);
    memset(out, 0, sizeof *out);
    Item *items = calloc((size_t)p->nbufs, sizeof *items);
    int n = 0;
    for (int i = 0; i < p->nbufs; i++) {
        PlanBuf *b = &p->bufs[i];
        if (b->cls != BUF_ARENA || b->first < 0) continue;
        Item *it = &items[n++];
        it->id = i;
        arena_buf_size(p, b, &it->pt, &it->fx);
        it->at_ref = it->pt * ref_T + it->fx;
        out->total_per_token += it->pt, out->total_fixed += it->fx;
    }
    out->narena = n;
    qsort(items, (size_t)n, sizeof *items, by_size);
    for (int i = 0; i < n; i++) {
        Item *it = &items[i];
        PlanBuf *b = &p->bufs[it->id];
        /* Candidates: 0, each overlapping buffer's end, and the
         * componentwise maximum of those ends (always free). */
        int64_t best_pt = 0, best_fx = 0, max_pt = 0, max_fx = 0;
        bool have = fits(p, items, i, it, 0, 0);
        for (int j = 0; j < i; j++) {
            const PlanBuf *o = &p->bufs[items[j].id];
            if (!overlap_life(b, o)) continue;
            int64_t ept = o->off_per_token + items[j].pt, efx = o->off_fixed + items[j].fx;
            if (ept > max_pt) max_pt = ept;
            if (efx > max_fx) max_fx = efx;
            if ((!have || ept * ref_T + efx < best_pt * ref_T + best_fx) && fits(p, items, i, it, ept, efx))
                best_pt = ept, best_fx = efx, have = true;
        }
        if (!have) best_pt = max_pt, best_fx = max_fx;
        b->off_per_token = best_pt, b->off_fixed = best_fx;
        if (best_pt + it->pt > out->arena_per_token) out->arena_per_token = best_pt + it->pt;
        if (best_fx + it->fx > out->arena_fixed) out->arena_fixed = best_fx + it->fx;
    }
    free(items);
}

static bool verify_reads(const Plan *p, char *err, size_t errlen) {
    int *written = calloc((size_t)p->nbufs, sizeof *written);
    bool ok = true;
    for (int s = 0; s < p->nsteps && ok; s++) {
        const PlanStep *st = &p->steps[s];
        for (int j = 0; j < st->nops && ok; j++) {
            const PlanOp *o = &p->ops[st->first_op + j];
            for (int r = 0; r < o->nin && ok; r++) {
                const PlanBuf *b = &p->bufs[o->in[r].buf];
                if (b->cls == BUF_ARENA && !written[o->in[r].buf]) {
                    snprintf(err, errlen, "step %d (%s) reads %s before any step writes it", s, st->what, b->name);
                    ok = false;
                }
            }
            for (int r = 0; r < o->nout; r++) written[o->out[r].buf] = 1;
        }
    }
    free(written);
    return ok;
}

bool arena_verify(const Plan *p, int64_t T, char *err, size_t errlen) {
    for (int i = 0; i < p->nbufs; i++) {
        const PlanBuf *a = &p->bufs[i];
        if (a->cls != BUF_ARENA || a->first < 0) continue;
        int64_t apt, afx;
        arena_buf_size(p, a, &apt, &afx);
        int64_t ao = a->off_per_token * T + a->off_fixed, as = apt * T + afx;
        if (ao % 256) {
            snprintf(err, errlen, "%s: offset %lld at T=%lld is not 256-aligned", a->name, (long long)ao, (long long)T);
            return false;
        }
        for (int j = i + 1; j < p->nbufs; j++) {
            const PlanBuf *b = &p->bufs[j];
            if (b->cls != BUF_ARENA || b->first < 0 || !overlap_life(a, b)) continue;
            int64_t bpt, bfx;
            arena_buf_size(p, b, &bpt, &bfx);
            int64_t bo = b->off_per_token * T + b->off_fixed, bs = bpt * T + bfx;
            if (as && bs && ao < bo + bs && bo < ao + as) {
                snprintf(err, errlen, "%s (steps %d..%d) and %s (steps %d..%d) share bytes at T=%lld", a->name,
                         a->first, a->last, b->name, b->first, b->last, (long long)T);
                return false;
            }
        }
    }
    return verify_reads(p, err, errlen);
}
