/*
 * space.c: the variant spaces and their application (space.h).
 */
#include "compiler/tune/space.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/codegen/template.h"
#include "compiler/util/sha256.h"

typedef enum { SPACE_NONE, SPACE_ELEMENTWISE, SPACE_ROWS, SPACE_ROW_BLOCK, SPACE_ATTENTION } SpaceKind;

static SpaceKind kind_of(const EmitInstance *in) {
    static const char *const elementwise[] = {"x0_mix", "relu2", "x0_skip", "adam", "muon"};
    for (size_t i = 0; i < sizeof elementwise / sizeof *elementwise; i++)
        if (!strcmp(in->family, elementwise[i])) return SPACE_ELEMENTWISE;
    if (!strcmp(in->family, "rmsnorm") || !strcmp(in->family, "embed")) return SPACE_ROWS;
    if (!strcmp(in->family, "softcap_ce")) return SPACE_ROW_BLOCK;
    if (!strcmp(in->family, "attention")) return SPACE_ATTENTION;
    return SPACE_NONE;
}

/* ---- knobs ---- */

static const struct {
    const char *name;
    size_t off;
} knob_fields[] = {
    {"threads", offsetof(TuneKnobs, threads)}, {"vec", offsetof(TuneKnobs, vec)},
    {"tile", offsetof(TuneKnobs, tile)},       {"fwd_kn", offsetof(TuneKnobs, fwd_kn)},
    {"dq_kn", offsetof(TuneKnobs, dq_kn)},     {"dkdv_qn", offsetof(TuneKnobs, dkdv_qn)},
    {"minb", offsetof(TuneKnobs, minb)},       {"dq_src", offsetof(TuneKnobs, dq_src)},
    {"stages", offsetof(TuneKnobs, stages)},   {"fwd_mma", offsetof(TuneKnobs, fwd_mma)},
    {"dkdv_mma", offsetof(TuneKnobs, dkdv_mma)}, {"dq_mma", offsetof(TuneKnobs, dq_mma)},
};
enum { NKNOBS = sizeof knob_fields / sizeof *knob_fields };

static int *field(TuneKnobs *k, int i) { return (int *)((char *)k + knob_fields[i].off); }

bool tune_knobs_equal(TuneKnobs a, TuneKnobs b) {
    for (int i = 0; i < NKNOBS; i++)
        if (*field(&a, i) != *field(&b, i)) return false;
    return !memcmp(&a.algo, &b.algo, sizeof a.algo);
}

/* TuneAlgo's fields after `set`, in the order its text gives them. */
static int *algo_field(TuneAlgo *a, int i) {
    int *f[] = {&a->id, &a->tile, &a->stages, &a->splitk, &a->reduction, &a->swizzle, &a->custom, &a->inner, &a->cluster};
    return f[i];
}
enum { NALGO = 9 };

static bool algo_parse(const char *text, TuneAlgo *a) {
    memset(a, 0, sizeof *a);
    if (!strcmp(text, "default")) return a->set = 1, true;
    const char *p = text;
    for (int i = 0; i < NALGO; i++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || v < 0 || v > 0x7fffffff || *end != (i + 1 < NALGO ? '.' : '\0')) return false;
        *algo_field(a, i) = (int)v;
        p = end + 1;
    }
    return a->set = 2, true;
}

void tune_knobs_format(TuneKnobs k, char *out, size_t cap) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < NKNOBS && len < cap; i++)
        if (*field(&k, i))
            len += (size_t)snprintf(out + len, cap - len, "%s%s=%d", len ? " " : "", knob_fields[i].name, *field(&k, i));
    if (k.algo.set && len < cap) len += (size_t)snprintf(out + len, cap - len, "%salgo=", len ? " " : "");
    if (k.algo.set == 1 && len < cap) snprintf(out + len, cap - len, "default");
    for (int i = 0; k.algo.set == 2 && i < NALGO && len < cap; i++)
        len += (size_t)snprintf(out + len, cap - len, "%s%d", i ? "." : "", *algo_field(&k.algo, i));
}

bool tune_knobs_parse(const char *word, TuneKnobs *k) {
    const char *eq = strchr(word, '=');
    if (!eq) return false;
    if (eq - word == 4 && !strncmp(word, "algo", 4)) return algo_parse(eq + 1, &k->algo);
    for (int i = 0; i < NKNOBS; i++) {
        if (strlen(knob_fields[i].name) != (size_t)(eq - word) || strncmp(word, knob_fields[i].name, (size_t)(eq - word)))
            continue;
        char *end;
        errno = 0;
        long v = strtol(eq + 1, &end, 10);
        if (errno || *end || end == eq + 1 || v < 1 || v > 65536) return false;
        *field(k, i) = (int)v;
        return true;
    }
    return false;
}

TuneKnobs tune_knobs(const EmitInstance *in) {
    TuneKnobs k = {.threads = in->threads, .vec = in->vec};
    if (kind_of(in) == SPACE_ATTENTION)
        k.tile = (int)emit_const(in, "TILE"), k.fwd_kn = (int)emit_const(in, "FWD_KN"),
        k.dq_kn = (int)emit_const(in, "DQ_KN"), k.dkdv_qn = (int)emit_const(in, "DKDV_QN"),
        k.minb = (int)emit_const(in, "MIN_BLOCKS"), k.dq_src = (int)emit_const(in, "DQ_SRC"),
        k.stages = (int)emit_const(in, "STAGES"), k.fwd_mma = (int)emit_const(in, "FWD_MMA"),
        k.dkdv_mma = (int)emit_const(in, "DKDV_MMA"), k.dq_mma = (int)emit_const(in, "DQ_MMA");
    return k;
}

/* ---- spaces ---- */

static void add(TuneCandidate *out, int *n, int max, TuneKnobs k, bool reorders) {
    if (*n < max) out[(*n)++] = (TuneCandidate){k, reorders};
}

static void attention_space(const EmitInstance *in, TuneKnobs rule, TuneCandidate *out, int *n, int max) {
    static const int tiles[] = {64, 128}, fwd[] = {32, 64, 128}, dq[] = {32, 64}, dkdv[] = {16, 32, 64};
    long long hd = emit_const(in, "HEAD_DIM");
    /* Blocks per SM 1 and 2 with the rule's stages, then 3 stages at the
     * rule's blocks per SM. */
    for (int v = 0; v < 3; v++)
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 3; b++)
                for (int c = 0; c < 2; c++)
                    for (int d = 0; d < 3; d++) {
                        TuneKnobs k = {.threads = 2 * tiles[a], .vec = rule.vec, .tile = tiles[a], .fwd_kn = fwd[b],
                                       .dq_kn = dq[c], .dkdv_qn = dkdv[d], .minb = v < 2 ? v + 1 : rule.minb,
                                       .dq_src = rule.dq_src, .stages = v < 2 ? rule.stages : 3,
                                       .fwd_mma = rule.fwd_mma, .dkdv_mma = rule.dkdv_mma,
                                       .dq_mma = rule.dq_mma};
                        TuneKnobs tiles_only = k;
                        tiles_only.minb = rule.minb, tiles_only.stages = rule.stages;
                        if (!tune_knobs_equal(k, rule)) add(out, n, max, k, !tune_knobs_equal(tiles_only, rule));
                    }
    /* Recomputing dQ at the rule's tiles, with 2 and 3 stages, where the
     * rule reads the stored dS (never the other way: a rule of 1 means the
     * window blocks are not whole granules). */
    for (int st = 2; st <= 3 && rule.dq_src == 2; st++) {
        TuneKnobs k = rule;
        k.dq_src = 1, k.stages = st;
        add(out, n, max, k, true);
    }
    /* attn_fwd on warpgroups, key tiles of 64 or 128: with every tile of
     * the other kernels, then in 3 stages at the rule's. */
    for (int a = 0; a < 2 && (hd == 64 || hd == 128); a++)
        for (int b = 1; b < 3; b++)
            for (int cd = 0; cd < 7; cd++) {
                TuneKnobs k = rule;
                k.threads = 2 * tiles[a], k.tile = tiles[a], k.fwd_kn = fwd[b], k.fwd_mma = 2;
                if (cd < 6) k.dq_kn = dq[cd / 3], k.dkdv_qn = dkdv[cd % 3];
                else k.stages = 3;
                add(out, n, max, k, true);
            }
    /* ... and with attn_bwd_dkdv on warpgroups, query tiles of 32 or 64;
     * then attn_bwd_dq as well, where it reads the stored dS. */
    for (int dq_mma = 1; dq_mma <= (rule.dq_src == 2 ? 2 : 1); dq_mma++)
        for (int a = 0; a < 2 && (hd == 64 || hd == 128); a++)
            for (int b = 1; b < 3; b++)
                for (int d = 1; d < 3; d++) {
                    TuneKnobs k = rule;
                    k.threads = 2 * tiles[a], k.tile = tiles[a], k.fwd_kn = fwd[b], k.dkdv_qn = dkdv[d];
                    k.fwd_mma = 2, k.dkdv_mma = 2, k.dq_mma = dq_mma;
                    add(out, n, max, k, true);
                }
    /* attn_fwd on warpgroups with its products overlapping the softmax (3
     * stages), at key tiles of 64 or 128: alone, and with attn_bwd_dkdv
     * (32-query tiles) and attn_bwd_dq on warpgroups. */
    for (int all = 0; all < 2; all++)
        for (int a = 0; a < 2 && (hd == 64 || hd == 128); a++)
            for (int b = 1; b < 3; b++) {
                TuneKnobs k = rule;
                k.threads = 2 * tiles[a], k.tile = tiles[a], k.fwd_kn = fwd[b], k.fwd_mma = 3, k.stages = 3;
                if (all) k.dkdv_qn = 32, k.dkdv_mma = 2, k.dq_mma = rule.dq_src == 2 ? 2 : 1;
                add(out, n, max, k, true);
            }
}

int tune_candidates(const EmitInstance *in, TuneCandidate *out, int max) {
    int n = 0;
    TuneKnobs rule = tune_knobs(in), k = rule;
    add(out, &n, max, rule, false);
    switch (kind_of(in)) {
    case SPACE_ELEMENTWISE:
        /* Half the vector keeps every alignment the rule's width promises. */
        for (k.vec = rule.vec; k.vec >= 1 && k.vec >= rule.vec / 2; k.vec /= 2)
            for (k.threads = 64; k.threads <= 1024; k.threads *= 2)
                if (!tune_knobs_equal(k, rule)) add(out, &n, max, k, false);
        break;
    case SPACE_ROWS: {
        long long tpr = emit_const(in, "TPR");
        if (tpr > 32 || tpr < 1) break; /* a row per block already */
        for (k.threads = 64; k.threads <= 1024; k.threads *= 2)
            if (k.threads != rule.threads) add(out, &n, max, k, false);
        break;
    }
    case SPACE_ROW_BLOCK:
        for (k.threads = 128; k.threads <= 1024; k.threads *= 2)
            if (k.threads != rule.threads) add(out, &n, max, k, true);
        break;
    case SPACE_ATTENTION: attention_space(in, rule, out, &n, max); break;
    case SPACE_NONE: break;
    }
    return n;
}

bool tune_is_candidate(const EmitInstance *in, TuneKnobs k) {
    TuneCandidate cand[TUNE_MAX_CANDIDATES];
    int n = tune_candidates(in, cand, TUNE_MAX_CANDIDATES);
    for (int j = 0; j < n; j++)
        if (tune_knobs_equal(cand[j].knobs, k)) return true;
    return false;
}

static void set_const(EmitInstance *in, const char *name, long long value) {
    for (int i = 0; i < in->nconsts; i++)
        if (!strcmp(in->consts[i].name, name)) in->consts[i].value = value;
}

/* The tag of the knobs attention's kernel `key` reads (templates/
 * attention.cu's Placeholders): s is dQ's source, p the stages, g the
 * products' form. */
static void attention_tag(const char *key, TuneKnobs k, char *out, size_t cap) {
    if (!strcmp(key, "FWD")) snprintf(out, cap, "_t%df%dm%dp%dg%d", k.tile, k.fwd_kn, k.minb, k.stages, k.fwd_mma);
    else if (!strcmp(key, "PRE")) snprintf(out, cap, "_t%dm%d", k.tile, k.minb);
    else if (!strcmp(key, "DKDV"))
        snprintf(out, cap, "_t%dk%dm%ds%dp%dg%d", k.tile, k.dkdv_qn, k.minb, k.dq_src, k.stages, k.dkdv_mma);
    else snprintf(out, cap, "_t%dq%dm%ds%dp%dg%d", k.tile, k.dq_kn, k.minb, k.dq_src, k.stages, k.dq_mma);
}

/* Attention's kernel names under k: a kernel whose knobs are the rule's
 * keeps the rule's name (it is the rule's kernel); the others take their
 * own knobs' tag, which variants that differ only in another kernel's
 * knobs share. */
static void attention_names(EmitInstance *in, TuneKnobs rule, TuneKnobs k) {
    for (int i = 0; i < in->nkernels; i++) {
        EmitKernel *kn = &in->kernels[i];
        char now[32], was[32];
        attention_tag(kn->key, k, now, sizeof now);
        attention_tag(kn->key, rule, was, sizeof was);
        size_t len = strlen(kn->name);
        if (strcmp(now, was)) snprintf(kn->name + len, sizeof kn->name - len, "%s", now);
    }
}

void tune_apply(EmitInstance *in, TuneKnobs k) {
    TuneKnobs rule = tune_knobs(in);
    if (tune_knobs_equal(k, rule)) return;
    char tag[32];
    if (kind_of(in) == SPACE_ATTENTION) {
        in->rows_per_block = k.tile;
        set_const(in, "TILE", k.tile);
        set_const(in, "FWD_KN", k.fwd_kn);
        set_const(in, "DQ_KN", k.dq_kn);
        set_const(in, "DKDV_QN", k.dkdv_qn);
        set_const(in, "MIN_BLOCKS", k.minb);
        set_const(in, "DQ_SRC", k.dq_src);
        set_const(in, "STAGES", k.stages);
        set_const(in, "FWD_MMA", k.fwd_mma);
        set_const(in, "DKDV_MMA", k.dkdv_mma);
        set_const(in, "DQ_MMA", k.dq_mma);
        emit_attention_smem(in);
        snprintf(tag, sizeof tag, "_t%df%dq%dk%dm%ds%dp%dg%d%d%d", k.tile, k.fwd_kn, k.dq_kn, k.dkdv_qn, k.minb,
                 k.dq_src, k.stages, k.fwd_mma, k.dkdv_mma, k.dq_mma);
    } else {
        if (in->rows_per_block > 0 && kind_of(in) == SPACE_ROWS) in->rows_per_block = k.threads / (int)emit_const(in, "TPR");
        snprintf(tag, sizeof tag, "_n%dv%d", k.threads, k.vec);
    }
    in->threads = k.threads;
    in->vec = k.vec;
    set_const(in, "THREADS", k.threads);
    set_const(in, "VEC", k.vec);
    size_t old = strlen(in->suffix);
    snprintf(in->suffix + old, sizeof in->suffix - old, "%s", tag);
    if (kind_of(in) == SPACE_ATTENTION) {
        attention_names(in, rule, k);
        return;
    }
    /* Each kernel's name is its stem, '_', the suffix: the stem stays. */
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
        char tpl[17], knobs[TUNE_KNOBS_TEXT];
        tune_template_hash(in->tpl, tpl);
        if (c->tpl[0] && strcmp(c->tpl, tpl)) {
            snprintf(err, errlen, "%s %s: chosen for another version of templates/%s (%s, now %s): tune again",
                     c->family, c->shape, in->tpl, c->tpl, tpl);
            return false;
        }
        if (!tune_is_candidate(in, c->knobs)) {
            TuneCandidate cand[TUNE_MAX_CANDIDATES];
            tune_knobs_format(c->knobs, knobs, sizeof knobs);
            snprintf(err, errlen, "%s %s: %s is not one of its %d variants", c->family, c->shape, knobs,
                     tune_candidates(in, cand, TUNE_MAX_CANDIDATES));
            return false;
        }
        tune_apply(in, c->knobs);
    }
    return true;
}
