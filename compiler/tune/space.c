/*
 * space.c: the variant spaces and their application (space.h).
 */
#include "compiler/tune/space.h"

#include <stdio.h>
#include <string.h>

#include "compiler/codegen/template.h"
#include "compiler/util/sha256.h"

typedef enum { SPACE_NONE, SPACE_ELEMENTWISE, SPACE_ROWS, SPACE_ROW_BLOCK } SpaceKind;

static SpaceKind kind_of(const EmitInstance *in) {
    static const char *const elementwise[] = {"x0_mix", "relu2", "x0_skip", "adam", "muon"};
    for (size_t i = 0; i < sizeof elementwise / sizeof *elementwise; i++)
        if (!strcmp(in->family, elementwise[i])) return SPACE_ELEMENTWISE;
    if (!strcmp(in->family, "rmsnorm") || !strcmp(in->family, "embed")) return SPACE_ROWS;
    if (!strcmp(in->family, "softcap_ce")) return SPACE_ROW_BLOCK;
    return SPACE_NONE;
}

/* The TPR constant of a row family (threads per row). */
static int tpr_of(const EmitInstance *in) {
    for (int i = 0; i < in->nconsts; i++)
        if (!strcmp(in->consts[i].name, "TPR")) return (int)in->consts[i].value;
    return 0;
}

static void add(TuneCandidate *out, int *n, int max, int threads, int vec, bool reorders) {
    if (*n < max) out[(*n)++] = (TuneCandidate){{threads, vec}, reorders};
}

TuneKnobs tune_knobs(const EmitInstance *in) { return (TuneKnobs){in->threads, in->vec}; }

int tune_candidates(const EmitInstance *in, TuneCandidate *out, int max) {
    int n = 0;
    TuneKnobs rule = tune_knobs(in);
    add(out, &n, max, rule.threads, rule.vec, false);
    switch (kind_of(in)) {
    case SPACE_ELEMENTWISE:
        /* Half the vector keeps every alignment the rule's width promises. */
        for (int vec = rule.vec; vec >= 1 && vec >= rule.vec / 2; vec /= 2)
            for (int t = 64; t <= 1024; t *= 2)
                if (t != rule.threads || vec != rule.vec) add(out, &n, max, t, vec, false);
        break;
    case SPACE_ROWS: {
        int tpr = tpr_of(in);
        if (tpr > 32 || tpr < 1) break; /* a row per block already */
        for (int t = 64; t <= 1024; t *= 2)
            if (t != rule.threads) add(out, &n, max, t, rule.vec, false);
        break;
    }
    case SPACE_ROW_BLOCK:
        for (int t = 128; t <= 1024; t *= 2)
            if (t != rule.threads) add(out, &n, max, t, rule.vec, true);
        break;
    case SPACE_NONE: break;
    }
    return n;
}

static void set_const(EmitInstance *in, const char *name, long long value) {
    for (int i = 0; i < in->nconsts; i++)
        if (!strcmp(in->consts[i].name, name)) in->consts[i].value = value;
}

void tune_apply(EmitInstance *in, TuneKnobs k) {
    if (k.threads == in->threads && k.vec == in->vec) return;
    if (in->rows_per_block > 0 && kind_of(in) == SPACE_ROWS) in->rows_per_block = k.threads / tpr_of(in);
    in->threads = k.threads;
    in->vec = k.vec;
    set_const(in, "THREADS", k.threads);
    set_const(in, "VEC", k.vec);
    /* Each kernel's name is its stem, '_', the suffix: the stem stays. */
    size_t old = strlen(in->suffix);
    char tag[24];
    snprintf(tag, sizeof tag, "_n%dv%d", k.threads, k.vec);
    snprintf(in->suffix + old, sizeof in->suffix - old, "%s", tag);
    for (int i = 0; i < in->nkernels; i++) {
        size_t len = strlen(in->kernels[i].name);
        snprintf(in->kernels[i].name + len, sizeof in->kernels[i].name - len, "%s", tag);
    }
}

const TuneChoice *tune_find(const TuneChoices *t, const char *family, const char *shape) {
    for (int i = 0; t && i < t->n; i++)
        if (!strcmp(t->c[i].family, family) && !strcmp(t->c[i].shape, shape)) return &t->c[i];
    return NULL;
}

void tune_template_hash(const char *name, char out[17]) {
    const TplFile *f = tpl_find(name);
    char hex[65];
    Sha256 h;
    sha256_init(&h);
    if (f) sha256_update(&h, f->text, f->len);
    sha256_hex(&h, hex);
    snprintf(out, 17, "%.16s", f ? hex : "");
}

bool tune_apply_all(KernelSet *p, const TuneChoices *t, char *err, size_t errlen) {
    for (int i = 0; i < p->n; i++) {
        EmitInstance *in = &p->inst[i];
        const TuneChoice *c = tune_find(t, in->family, in->suffix);
        if (!c) continue;
        char tpl[17];
        tune_template_hash(in->tpl, tpl);
        if (c->tpl[0] && strcmp(c->tpl, tpl)) {
            snprintf(err, errlen, "%s %s: chosen for another version of templates/%s (%s, now %s): tune again",
                     c->family, c->shape, in->tpl, c->tpl, tpl);
            return false;
        }
        TuneCandidate cand[TUNE_MAX_CANDIDATES];
        int n = tune_candidates(in, cand, TUNE_MAX_CANDIDATES), j = 0;
        while (j < n && (cand[j].knobs.threads != c->knobs.threads || cand[j].knobs.vec != c->knobs.vec)) j++;
        if (j == n) {
            snprintf(err, errlen, "%s %s: threads=%d vec=%d is not one of its %d variants", c->family, c->shape,
                     c->knobs.threads, c->knobs.vec, n);
            return false;
        }
        tune_apply(in, c->knobs);
    }
    return true;
}
