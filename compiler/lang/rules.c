/*
 * rules.c: derived defaults and the rules between keys.
 *
 * Every rule reports at the key the user most likely has to change: one
 * given with --set if the rule involves one (the user changed it last, and
 * an error at the file would blame a line they did not touch; a note then
 * shows the file's side), else the one written in the file if only one of
 * the keys involved was, the list item at fault for lists. A value that came
 * from a default says so, since the user cannot see it in the file.
 *
 * The rules run in dependency order (sizes, then layers, then windows and
 * tables, then training), and a group whose inputs are broken is skipped, so
 * each mistake is reported once.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan/params.h"
#include "compiler/report/stats.h"
#include "compiler/lang/rules.h"
#include "compiler/lang/validate.h"

static int key_id(const char *path) {
    const KeyDef *k = schema_find(path);
    if (!k) {
        fprintf(stderr, "gptc: internal error: rule names unknown key '%s'\n", path);
        abort();
    }
    return schema_index(k);
}

static const YNode *node(const Ctx *c, const char *path) { return c->node[key_id(path)]; }

static bool given(const Ctx *c, const char *path) { return node(c, path) != NULL; }

static bool from_set(const Ctx *c, const char *path) {
    return given(c, path) && ytree_from_set(node(c, path)->at);
}

static const ListValue *list(const Ctx *c, const char *path) { return c->list[key_id(path)]; }

/* A NULL-terminated list of keys, for the rules below. */
#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Reports `msg` about `what` (a key or a list item), written at `at` (in
 * the file or a --set), or NULL when it has its default. When one of the
 * keys `against` (the others the rule involves; NULL for none) came from
 * --set and `what` did not, the error goes to that --set, with a note where
 * `what` is. */
static void report(const Ctx *c, const char *what, const SrcLoc *at, const char *const *against,
                   const char *msg) {
    char label[160];
    snprintf(label, sizeof label, "%s%s", what, at ? "" : " (default)");
    const YNode *set = NULL;
    for (int i = 0; against && against[i] && !set; i++)
        if (from_set(c, against[i])) set = node(c, against[i]);
    if (set && !(at && ytree_from_set(*at))) {
        diag_error(set->at, "%s: %s", label, msg);
        if (at) diag_note(*at, "%s is set here", what);
    } else {
        diag_error(at ? *at : c->file, "%s: %s", label, msg);
    }
}

/* The problem is with key `path`, measured against the keys `against`. */
static void fail(const Ctx *c, const char *path, const char *const *against, const char *fmt,
                 ...) __attribute__((format(printf, 4, 5)));
static void fail(const Ctx *c, const char *path, const char *const *against, const char *fmt,
                 ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const YNode *n = node(c, path);
    report(c, path, n ? &n->at : NULL, against, msg);
}

/* Of several keys in one rule, the first the user wrote, else the first. */
static const char *first_given(const Ctx *c, const char *const *keys) {
    for (int i = 0; keys[i]; i++)
        if (given(c, keys[i])) return keys[i];
    return keys[0];
}

/* A rule between `keys` broke, none of them more at fault than another:
 * the error goes to the first of them given with --set, with a note at the
 * key it would blame without one; without a --set, to the first written in
 * the file, else to the first. */
static void fail_rule(const Ctx *c, const char *const *keys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_rule(const Ctx *c, const char *const *keys, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *in_file = first_given(c, keys), *path = in_file;
    for (int i = 0; keys[i]; i++) {
        if (!from_set(c, keys[i])) continue;
        path = keys[i];
        break;
    }
    const YNode *n = node(c, path);
    report(c, path, n ? &n->at : NULL, NULL, msg);
    if (path != in_file) diag_note(node(c, in_file)->at, "%s is set here", in_file);
}

/* The problem is with item `i` of list key `path`, measured against the
 * keys `against`. */
static void fail_item(const Ctx *c, const char *path, int i, const char *const *against,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void fail_item(const Ctx *c, const char *path, int i, const char *const *against,
                      const char *fmt, ...) {
    char msg[512], what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(what, sizeof what, "%s[%d]", path, i);
    report(c, what, &list(c, path)->at[i], against, msg);
}

/* ---- sizes ---- */

static bool check_vocab(Ctx *c) {
    SpecVocab *v = &c->spec->vocab;
    if (v->eot >= v->size) {
        fail_rule(c, KEYS("vocab.eot", "vocab.size"), "the EOT id %d is not below vocab.size %d",
                  v->eot, v->size);
        return false;
    }
    v->padded = (v->size + v->pad_multiple - 1) / v->pad_multiple * v->pad_multiple;
    return true;
}

static bool check_dims(Ctx *c) {
    SpecModel *m = &c->spec->model;
    if (!given(c, "model.head_dim")) {
        if (m->dim % m->heads) {
            fail_rule(c, KEYS("model.dim", "model.heads"),
                      "model.dim %d is not divisible by model.heads %d; change one, or give "
                      "model.head_dim", m->dim, m->heads);
            return false;
        }
        m->head_dim = m->dim / m->heads;
        if (m->head_dim < 2 || m->head_dim > 1024) {
            fail_rule(c, KEYS("model.dim", "model.heads"),
                      "dim / heads = %d / %d gives head_dim %d, outside 2..1024; change one, or "
                      "give model.head_dim", m->dim, m->heads, m->head_dim);
            return false;
        }
    }
    if (m->heads * m->head_dim != m->dim) {
        fail_rule(c, KEYS("model.head_dim", "model.heads", "model.dim"),
                  "model.heads x model.head_dim = %d x %d = %d, but model.dim is %d; the "
                  "attention width must equal dim", m->heads, m->head_dim,
                  m->heads * m->head_dim, m->dim);
        return false;
    }
    if (m->head_dim % 2) {
        fail_rule(c, KEYS("model.head_dim", "model.dim", "model.heads"),
                  "head_dim %d is odd; rotary needs pairs of dimensions", m->head_dim);
        return false;
    }
    /* dim <= 65536, so 4 x dim stays within mlp_hidden's range. */
    if (!given(c, "model.mlp_hidden")) m->mlp_hidden = 4 * m->dim;
    return true;
}

/* ---- per-layer lists ---- */

/* Reads a list of distinct layer indices into `mark`; false after an error. */
static bool layer_set(Ctx *c, const char *path, bool *mark) {
    const ListValue *l = list(c, path);
    int layers = c->spec->model.layers;
    bool ok = true;
    memset(mark, 0, sizeof(bool) * SPEC_MAX_LAYERS);
    for (int i = 0; l && i < l->n; i++) {
        int v = (int)l->v[i][0];
        if (v < 0 || v >= layers) {
            fail_item(c, path, i, KEYS("model.layers"),
                      "layer %d is out of range; model.layers is %d, so layers run from 0 to %d",
                      v, layers, layers - 1);
            ok = false;
        } else if (mark[v]) {
            fail_item(c, path, i, NULL, "layer %d is listed twice", v);
            ok = false;
        } else {
            mark[v] = true;
        }
    }
    return ok;
}

static bool check_attention_layers(Ctx *c) {
    bool off[SPEC_MAX_LAYERS];
    if (!layer_set(c, "attention.off_layers", off)) return false;
    for (int i = 0; i < c->spec->model.layers; i++) c->spec->model.attention[i] = !off[i];
    return true;
}

static bool check_rotary(Ctx *c) {
    SpecAttention *a = &c->spec->attn;
    int half = c->spec->model.head_dim / 2;
    if (!given(c, "attention.rotary.pairs")) a->rotary_pairs = c->spec->model.head_dim / 4;
    if (a->rotary_pairs > half) {
        fail(c, "attention.rotary.pairs", KEYS("model.head_dim", "model.dim", "model.heads"),
             "%d pairs do not fit in head_dim %d (at most %d)", a->rotary_pairs,
             c->spec->model.head_dim, half);
        return false;
    }
    return true;
}

static bool check_window(Ctx *c) {
    SpecWindow *w = &c->spec->attn.window;
    SpecTrain *t = &c->spec->train;
    const SpecModel *m = &c->spec->model;
    bool ok = true;
    if (t->tokens_per_rank % w->block_size) {
        fail_rule(c, KEYS("train.tokens_per_rank", "attention.window.block_size"),
                  "tokens_per_rank %lld is not a multiple of the attention block size %d",
                  (long long)t->tokens_per_rank, w->block_size);
        ok = false;
    }
    if (t->val_tokens_per_rank % w->block_size) {
        fail_rule(c, KEYS("train.val.tokens_per_rank", "attention.window.block_size"),
                  "val tokens_per_rank %lld is not a multiple of the attention block size %d",
                  (long long)t->val_tokens_per_rank, w->block_size);
        ok = false;
    }
    /* A window wider than the sequence masks nothing more than the causal
     * mask does, so the window schedule would silently do nothing. */
    if (w->max_tokens > t->tokens_per_rank) {
        fail_rule(c, KEYS("attention.window.max_tokens", "train.tokens_per_rank"),
             "a long window of %d tokens is longer than a training sequence (train.tokens_per_rank "
             "= %lld), so the window schedule would do nothing; use at most %lld",
             w->max_tokens, (long long)t->tokens_per_rank, (long long)t->tokens_per_rank);
        ok = false;
    }
    if ((int64_t)w->val_blocks * w->block_size > t->val_tokens_per_rank) {
        fail_rule(c, KEYS("attention.window.val_blocks", "train.val.tokens_per_rank"),
             "%d blocks of %d tokens are longer than a validation sequence (train.val."
             "tokens_per_rank = %lld); use at most %lld blocks", w->val_blocks, w->block_size,
             (long long)t->val_tokens_per_rank, (long long)(t->val_tokens_per_rank / w->block_size));
        ok = false;
    }
    if (!given(c, "attention.window.long_layers")) {
        for (int i = 0; i < m->layers; i++) w->long_layer[i] = m->attention[i];
        return ok;
    }
    if (!layer_set(c, "attention.window.long_layers", w->long_layer)) return false;
    const ListValue *l = list(c, "attention.window.long_layers");
    for (int i = 0; i < l->n; i++) {
        int v = (int)l->v[i][0];
        if (!m->attention[v]) {
            fail_item(c, "attention.window.long_layers", i, KEYS("attention.off_layers"),
                      "layer %d has no attention (attention.off_layers), so it has no window", v);
            ok = false;
        }
    }
    return ok;
}

/* The recipe's placement: tables 0..n-1 on the first n layers and the last n. */
static bool default_value_layers(Ctx *c) {
    SpecValueEmbeddings *ve = &c->spec->ve;
    const SpecModel *m = &c->spec->model;
    for (int i = 0; i < m->layers; i++) ve->layer_table[i] = -1;
    if (ve->tables == 0) return true;
    if (2 * ve->tables > m->layers) {
        fail(c, "value_embeddings.tables", KEYS("model.layers"),
             "the default placement of %d tables needs %d layers (first %d and last %d), but "
             "model.layers is %d; give value_embeddings.layers",
             ve->tables, 2 * ve->tables, ve->tables, ve->tables, m->layers);
        return false;
    }
    for (int t = 0; t < ve->tables; t++) {
        ve->layer_table[t] = t;
        ve->layer_table[m->layers - ve->tables + t] = t;
    }
    for (int i = 0; i < m->layers; i++) {
        if (ve->layer_table[i] >= 0 && !m->attention[i]) {
            fail(c, "value_embeddings.tables", KEYS("attention.off_layers", "model.layers"),
                 "the default placement puts table %d on layer %d, which has no attention; give "
                 "value_embeddings.layers", ve->layer_table[i], i);
            return false;
        }
    }
    return true;
}

static bool check_value_embeddings(Ctx *c) {
    const char *path = "value_embeddings.layers";
    SpecValueEmbeddings *ve = &c->spec->ve;
    const SpecModel *m = &c->spec->model;
    if (!given(c, path)) return default_value_layers(c);
    const ListValue *l = list(c, path);
    if (l->n != m->layers) {
        fail(c, path, KEYS("model.layers"),
             "the list has %d entries; it needs one per layer (model.layers is %d)", l->n,
             m->layers);
        return false;
    }
    bool ok = true, used[SPEC_MAX_TABLES] = {false};
    for (int i = 0; i < l->n; i++) {
        int t = (int)l->v[i][0];
        ve->layer_table[i] = t;
        if (t >= ve->tables && ve->tables == 0) {
            fail_item(c, path, i, KEYS("value_embeddings.tables"),
                      "table %d does not exist: value_embeddings.tables is 0, so every layer "
                      "must be null", t);
            ok = false;
        } else if (t >= ve->tables) {
            fail_item(c, path, i, KEYS("value_embeddings.tables"),
                      "table %d does not exist: value_embeddings.tables is %d, so tables run "
                      "from 0 to %d (or null for none)", t, ve->tables, ve->tables - 1);
            ok = false;
        } else if (t >= 0 && !m->attention[i]) {
            fail_item(c, path, i, KEYS("attention.off_layers"),
                      "layer %d has no attention, so it cannot take a value embedding; use "
                      "null", i);
            ok = false;
        } else if (t >= 0) {
            used[t] = true;
        }
    }
    for (int t = 0; ok && t < ve->tables; t++) {
        if (!used[t]) {
            fail(c, path, KEYS("value_embeddings.tables"),
                 "table %d is used by no layer; lower value_embeddings.tables or use it", t);
            ok = false;
        }
    }
    return ok;
}

static bool check_skips(Ctx *c) {
    const char *path = "skips.pairs";
    const ListValue *l = list(c, path);
    SpecSkips *s = &c->spec->skips;
    int layers = c->spec->model.layers;
    bool ok = true, source[SPEC_MAX_LAYERS] = {false};
    s->count = l ? l->n : 0;
    for (int i = 0; i < s->count; i++) {
        int from = (int)l->v[i][0], to = (int)l->v[i][1];
        s->from[i] = from;
        s->to[i] = to;
        if (from < 0 || from >= layers || to < 0 || to >= layers) {
            fail_item(c, path, i, KEYS("model.layers"), "[%d, %d] names a layer outside 0..%d",
                      from, to, layers - 1);
            ok = false;
        } else if (from >= to) {
            fail_item(c, path, i, NULL, "[%d, %d] goes to an earlier or the same layer; a skip "
                                        "carries the output of block `from` forward to a later "
                                        "block", from, to);
            ok = false;
        } else if (source[from]) {
            fail_item(c, path, i, NULL, "layer %d is already the source of a skip; its one skip "
                                        "weight cannot serve two", from);
            ok = false;
        } else {
            source[from] = true;
        }
    }
    return ok;
}

/* ---- head and training ---- */

static bool check_head(Ctx *c) {
    c->spec->dtypes.scalars = DTYPE_FP32; /* lambdas move by 1e-4 steps: bf16 would lose them */
    if (c->spec->head.tied && !c->spec->vocab.pad_embeddings) {
        fail(c, "head.tied", KEYS("vocab.pad_embeddings"),
             "a tied head shares x00, whose rows must be padded like the head's; set "
             "vocab.pad_embeddings: true");
        return false;
    }
    return true;
}

static bool check_muon(Ctx *c) {
    const ListValue *l = list(c, "train.muon.ns_coefficients");
    SpecMuon *mu = &c->spec->train.muon;
    if (l->n < 1 || l->n > SPEC_MAX_NS_STEPS) {
        fail(c, "train.muon.ns_coefficients", NULL,
             "%d triples given; Newton-Schulz needs 1 to %d", l->n, SPEC_MAX_NS_STEPS);
        return false;
    }
    mu->ns_steps = l->n;
    for (int i = 0; i < l->n; i++)
        for (int j = 0; j < 3; j++) mu->ns_coef[i][j] = l->v[i][j];
    return true;
}

static bool check_validation(Ctx *c) {
    const SpecTrain *t = &c->spec->train;
    long long per_step = (long long)t->ranks * t->val_tokens_per_rank;
    if (t->val_tokens % per_step) {
        fail_rule(c, KEYS("train.val.tokens", "train.ranks", "train.val.tokens_per_rank"),
                  "val.tokens %lld is not a multiple of ranks x val.tokens_per_rank = "
                  "%d x %lld = %lld", (long long)t->val_tokens, t->ranks,
                  (long long)t->val_tokens_per_rank, per_step);
        return false;
    }
    return true;
}

/* A model no accelerator could hold is a typo, not a plan. */
static bool check_memory(Ctx *c) {
    ModelStats st;
    stats_compute(c->spec, &st);
    if (st.bytes_total <= SPEC_MAX_GPU_BYTES) return true;
    int64_t weights = st.bytes_params + st.bytes_grads + st.bytes_optim;
    const char *const *culprits =
        st.bytes_activations > weights
            ? KEYS("train.tokens_per_rank", "model.dim", "model.layers", "model.mlp_hidden")
            : KEYS("model.dim", "model.layers", "model.mlp_hidden", "vocab.size",
                   "input_embeddings.tables");
    fail_rule(c, culprits, "this model needs about %.0f GiB per GPU (parameters %.1f, gradients "
                           "%.1f, optimizer %.1f, activations %.1f); the limit is %lld GiB",
              st.bytes_total / 1073741824.0, st.bytes_params / 1073741824.0,
              st.bytes_grads / 1073741824.0, st.bytes_optim / 1073741824.0,
              st.bytes_activations / 1073741824.0, SPEC_MAX_GPU_BYTES >> 30);
    return false;
}

bool rules_check(Ctx *c) {
    bool vocab_ok = check_vocab(c), dims_ok = check_dims(c);
    if (!vocab_ok || !dims_ok) return false;
    if (!check_attention_layers(c)) return false;
    bool ok = check_rotary(c);
    ok &= check_window(c);
    ok &= check_value_embeddings(c);
    ok &= check_skips(c);
    ok &= check_head(c);
    ok &= check_muon(c);
    ok &= check_validation(c);
    return ok && check_memory(c);
}
