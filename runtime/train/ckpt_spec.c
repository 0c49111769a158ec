/*
 * ckpt_spec.c: the ModelSpec's layout fingerprint, the checks on stored
 * ModelSpec bytes, and the parameter-layout comparison (see ckpt_spec.h).
 *
 * One table lists every field of ModelSpec with its kind. The fingerprint
 * hashes it; the byte checks walk it. A field added to spec.h must be added
 * here too: if it is forgotten, sizeof(ModelSpec) usually changes (which
 * checkpoints also record), and at worst the fingerprint misses a change
 * made inside padding.
 */
#include "runtime/train/ckpt_spec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan/params.h"

/* The byte checks read bools one byte at a time and enums as ints. */
_Static_assert(sizeof(bool) == 1, "bool must be one byte");
_Static_assert(sizeof(DType) == sizeof(int), "enums must be int-sized");

typedef enum { F_PLAIN, F_BOOL, F_ENUM, F_TEXT } FieldKind;

typedef struct {
    const char *name;
    size_t offset, size;
    FieldKind kind;
    int max; /* largest valid value of an enum */
} SpecField;

#define FIELD(f, kind, max) {#f, offsetof(ModelSpec, f), sizeof(((ModelSpec *)0)->f), kind, max}
#define PLAIN(f) FIELD(f, F_PLAIN, 0)
#define BOOL(f) FIELD(f, F_BOOL, 1)
#define ENUM(f, max) FIELD(f, F_ENUM, max)
#define TEXT(f) FIELD(f, F_TEXT, 0)

static const SpecField fields[] = {
    TEXT(source), TEXT(description),
    PLAIN(vocab.size), PLAIN(vocab.eot), PLAIN(vocab.pad_multiple),
    BOOL(vocab.pad_embeddings), PLAIN(vocab.padded),
    PLAIN(model.layers), PLAIN(model.dim), PLAIN(model.heads), PLAIN(model.head_dim),
    PLAIN(model.mlp_hidden), ENUM(model.activation, ACT_RELU2), BOOL(model.attention),
    ENUM(attn.norm, ATTN_NORM_PRE), PLAIN(attn.scale), PLAIN(attn.rotary_base),
    PLAIN(attn.rotary_pairs), ENUM(attn.rotary_convention, ROTARY_INTERLEAVED),
    PLAIN(attn.window.block_size), ENUM(attn.window.schedule, WINDOW_CONSTANT),
    PLAIN(attn.window.max_tokens), PLAIN(attn.window.short_max_blocks),
    PLAIN(attn.window.val_blocks), BOOL(attn.window.long_layer),
    PLAIN(ve.tables), PLAIN(ve.layer_table), ENUM(ve.init, INIT_ZEROS), PLAIN(ve.init_std),
    PLAIN(ve.lambda_v), PLAIN(ve.lambda_ve),
    PLAIN(x0.tables), ENUM(x0.naming, NAMING_ABLATION), PLAIN(x0.init_std), PLAIN(x0.lambda_x), PLAIN(x0.lambda_x0),
    PLAIN(x0.lambda_x0_extra),
    PLAIN(skips.count), PLAIN(skips.from), PLAIN(skips.to), PLAIN(skips.init),
    BOOL(head.tied), ENUM(head.softcap, SOFTCAP_NONE), PLAIN(head.cap), PLAIN(head.divisor),
    PLAIN(head.offset), ENUM(head.init, INIT_ZEROS), PLAIN(head.init_std),
    PLAIN(init.linear_std_scale), BOOL(init.zero_out_proj),
    ENUM(dtypes.matrices, DTYPE_FP32), ENUM(dtypes.embeddings, DTYPE_FP32),
    ENUM(dtypes.head, DTYPE_FP32), ENUM(dtypes.scalars, DTYPE_FP32),
    ENUM(dtypes.muon_master, MASTER_FP32),
    PLAIN(train.ranks), PLAIN(train.tokens_per_rank), PLAIN(train.steps), PLAIN(train.seed),
    PLAIN(train.cooldown_frac), PLAIN(train.lr_floor),
    PLAIN(train.muon.lr), PLAIN(train.muon.weight_decay), PLAIN(train.muon.attn_wd_mul),
    PLAIN(train.muon.mlp_wd_mul), PLAIN(train.muon.momentum_start),
    PLAIN(train.muon.momentum_end), PLAIN(train.muon.momentum_warmup_steps),
    BOOL(train.muon.nesterov), PLAIN(train.muon.ns_steps), PLAIN(train.muon.ns_coef),
    PLAIN(train.adam.beta1), PLAIN(train.adam.beta2), PLAIN(train.adam.eps),
    PLAIN(train.adam.weight_decay), PLAIN(train.adam.lr_head), PLAIN(train.adam.lr_embed),
    PLAIN(train.adam.lr_scalars),
    PLAIN(train.val_interval), PLAIN(train.val_tokens), PLAIN(train.val_tokens_per_rank),
    TEXT(train.train_glob), TEXT(train.val_glob), PLAIN(train.data_seed),
    BOOL(train.data_repeat),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static uint64_t fnv1a_word(uint64_t h, uint64_t v) {
    for (int i = 0; i < 8; i++, v >>= 8) {
        h ^= v & 0xff;
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t ckpt_spec_layout_hash(void) {
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv1a_word(h, sizeof(ModelSpec));
    h = fnv1a_word(h, NFIELDS);
    for (size_t i = 0; i < NFIELDS; i++) {
        h = fnv1a_word(h, fields[i].offset);
        h = fnv1a_word(h, fields[i].size);
        h = fnv1a_word(h, (uint64_t)fields[i].kind);
        h = fnv1a_word(h, (uint64_t)fields[i].max);
    }
    return h;
}

static bool field_ok(const SpecField *f, const unsigned char *p) {
    switch (f->kind) {
    case F_BOOL:
        for (size_t i = 0; i < f->size; i++)
            if (p[i] > 1) return false;
        return true;
    case F_ENUM: {
        int v;
        memcpy(&v, p, sizeof v);
        return v >= 0 && v <= f->max;
    }
    case F_TEXT: return memchr(p, 0, f->size) != NULL;
    case F_PLAIN: return true;
    }
    return false;
}

static int get_int(const unsigned char *bytes, size_t offset) {
    int v;
    memcpy(&v, bytes + offset, sizeof v);
    return v;
}

#define INT_AT(bytes, f) get_int(bytes, offsetof(ModelSpec, f))

/* The sizes params_list multiplies and the counts it loops over, bounded
 * as the validator bounds them (schema.c) or looser, so that no product
 * overflows and no per-layer array is indexed past its end. */
static const struct {
    const char *name;
    size_t offset;
    int lo, hi;
} bounds[] = {
    {"vocab.size", offsetof(ModelSpec, vocab.size), 1, 1 << 20},
    {"vocab.padded", offsetof(ModelSpec, vocab.padded), 1, 1 << 20},
    {"model.layers", offsetof(ModelSpec, model.layers), 1, SPEC_MAX_LAYERS},
    {"model.dim", offsetof(ModelSpec, model.dim), 1, 1 << 20},
    {"model.heads", offsetof(ModelSpec, model.heads), 1, 1 << 20},
    {"model.head_dim", offsetof(ModelSpec, model.head_dim), 1, 1 << 20},
    {"model.mlp_hidden", offsetof(ModelSpec, model.mlp_hidden), 1, 1 << 20},
    {"input_embeddings.tables", offsetof(ModelSpec, x0.tables), 0, SPEC_MAX_TABLES},
    {"value_embeddings.tables", offsetof(ModelSpec, ve.tables), 0, SPEC_MAX_TABLES},
    {"skips count", offsetof(ModelSpec, skips.count), 0, SPEC_MAX_LAYERS},
    {"train.muon.ns_steps", offsetof(ModelSpec, train.muon.ns_steps), 0, SPEC_MAX_NS_STEPS},
};

/* Per-layer indices: value table per layer and skip endpoints. */
static bool indices_ok(const unsigned char *bytes, char *why, size_t cap) {
    int layers = INT_AT(bytes, model.layers), tables = INT_AT(bytes, ve.tables);
    for (int i = 0; i < layers; i++) {
        int t = get_int(bytes, offsetof(ModelSpec, ve.layer_table) + (size_t)i * sizeof(int));
        if (t < -1 || t >= tables)
            return snprintf(why, cap, "value table %d of layer %d out of range", t, i), false;
    }
    int skips = INT_AT(bytes, skips.count);
    for (int k = 0; k < skips; k++) {
        int from = get_int(bytes, offsetof(ModelSpec, skips.from) + (size_t)k * sizeof(int));
        int to = get_int(bytes, offsetof(ModelSpec, skips.to) + (size_t)k * sizeof(int));
        if (from < 0 || from >= layers || to < 0 || to >= layers)
            return snprintf(why, cap, "skip %d (%d -> %d) out of range", k, from, to), false;
    }
    return true;
}

bool ckpt_spec_bytes_ok(const unsigned char *bytes, char *why, size_t cap) {
    for (size_t i = 0; i < NFIELDS; i++)
        if (!field_ok(&fields[i], bytes + fields[i].offset))
            return snprintf(why, cap, "invalid value in field %s", fields[i].name), false;
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        int v = get_int(bytes, bounds[i].offset);
        if (v < bounds[i].lo || v > bounds[i].hi)
            return snprintf(why, cap, "%s = %d is out of range", bounds[i].name, v), false;
    }
    return indices_ok(bytes, why, cap);
}

static void shape_text(const ParamTensor *t, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

static bool same_tensor(const ParamTensor *a, const ParamTensor *b) {
    if (strcmp(a->name, b->name) || a->ndim != b->ndim) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return true;
}

static void describe(const ParamTensor *t, char *buf, size_t cap) {
    char shape[96];
    shape_text(t, shape, sizeof shape);
    snprintf(buf, cap, "%s %s", t->name, shape);
}

/* Names the first tensor at which the lists part. */
static void first_difference(const ParamTensor *c, int nc, const ParamTensor *m, int nm,
                             char *why, size_t cap) {
    const char *tail = "this checkpoint is of another model";
    char a[160], b[160];
    int i = 0;
    while (i < nc && i < nm && same_tensor(&c[i], &m[i])) i++;
    if (i < nc && i < nm && !strcmp(c[i].name, m[i].name)) {
        describe(&c[i], a, sizeof a);
        shape_text(&m[i], b, sizeof b);
        snprintf(why, cap, "checkpoint holds %s, the model has %s: %s", a, b, tail);
    } else if (i < nc && i < nm) {
        describe(&c[i], a, sizeof a);
        describe(&m[i], b, sizeof b);
        snprintf(why, cap, "checkpoint holds %s where the model has %s (tensor %d): %s", a, b,
                 i, tail);
    } else if (i < nc) {
        describe(&c[i], a, sizeof a);
        snprintf(why, cap, "checkpoint holds %d tensors, the model %d; the first extra is %s: %s",
                 nc, nm, a, tail);
    } else {
        describe(&m[i], b, sizeof b);
        snprintf(why, cap, "checkpoint holds %d tensors, the model %d; the first missing is %s: %s",
                 nc, nm, b, tail);
    }
}

/* The lists are ~100 KB each, too much for a stack and wasteful as
 * thread-local storage, so they live on the heap for the call. */
bool ckpt_same_layout(const ModelSpec *stored, const ModelSpec *model, char *why, size_t cap) {
    ParamTensor *c = malloc(2 * PARAMS_MAX * sizeof *c), *m = c + PARAMS_MAX;
    if (!c) return snprintf(why, cap, "out of memory"), false;
    int nc = params_list(stored, c), nm = params_list(model, m);
    bool same = nc == nm;
    for (int i = 0; same && i < nc; i++) same = same_tensor(&c[i], &m[i]);
    if (!same) first_difference(c, nc, m, nm, why, cap);
    free(c);
    return same;
}

int64_t ckpt_param_count(const ModelSpec *s) {
    ParamTensor *p = malloc(PARAMS_MAX * sizeof *p);
    if (!p) return -1;
    int n = params_list(s, p);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += p[i].numel;
    free(p);
    return total;
}
