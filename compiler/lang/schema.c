/*
 * schema.c: the key table, and the lookups and docs built from it.
 *
 * Defaults are the recipe's (GPT-2 Medium record 8, docs/recipe.md)
 * wherever one value makes sense for every model. Defaults that depend on
 * other keys (head_dim = dim / heads, ...) are derived in validate.c and
 * described here for the docs. Ranges are wide enough for any real model and
 * narrow enough that every size computed from them fits in 64 bits.
 */
#include "compiler/lang/schema.h"

#include <stdlib.h>
#include <string.h>

#include "compiler/lang/spec.h"
#include "compiler/lang/suggest.h"

#define OFF(f) offsetof(ModelSpec, f)
#define INT(p, f, l, h, d, doc) {p, KEY_INT, OFF(f), 0, l, h, false, false, NULL, d, NULL, doc}
#define INT_DERIVED(p, f, l, h, how, doc) {p, KEY_INT, OFF(f), 0, l, h, false, false, NULL, NULL, how, doc}
#define INT64(p, f, l, h, d, doc) {p, KEY_INT64, OFF(f), 0, l, h, false, false, NULL, d, NULL, doc}
#define NUM(p, f, l, h, d, doc) {p, KEY_FLOAT, OFF(f), 0, l, h, false, false, NULL, d, NULL, doc}
#define NUM_ABOVE(p, f, l, h, d, doc) {p, KEY_FLOAT, OFF(f), 0, l, h, true, false, NULL, d, NULL, doc}
#define NUM_POS(p, f, h, d, doc) NUM_ABOVE(p, f, 0, h, d, doc)
#define NUM_UNIT(p, f, d, doc) {p, KEY_FLOAT, OFF(f), 0, 0, 1, false, true, NULL, d, NULL, doc}
#define BOOL(p, f, d, doc) {p, KEY_BOOL, OFF(f), 0, 0, 0, false, false, NULL, d, NULL, doc}
#define ENUM(p, f, c, d, doc) {p, KEY_ENUM, OFF(f), 0, 0, 0, false, false, c, d, NULL, doc}
#define STR(p, f, d, doc) {p, KEY_STRING, OFF(f), sizeof(((ModelSpec *)0)->f), 0, 0, false, false, NULL, d, NULL, doc}
#define LIST(p, t, d, how, doc) {p, t, 0, 0, 0, 0, false, false, NULL, d, how, doc}

const KeyDef schema_keys[] = {
    STR("description", description, "\"\"",
        "Free text shown by `gptc check`. Never reaches generated code."),

    INT("vocab.size", vocab.size, 2, 65536, "50257",
        "Tokens in the vocabulary. At most 65536: shards store tokens as uint16."),
    INT("vocab.eot", vocab.eot, 0, 65535, "50256",
        "End-of-text id. It opens every document; the attention mask never crosses it."),
    INT("vocab.pad_multiple", vocab.pad_multiple, 1, 4096, "128",
        "The head's rows are padded up to a multiple of this (50257 -> 50304)."),
    BOOL("vocab.pad_embeddings", vocab.pad_embeddings, "false",
         "Pad the embedding tables too (the recipe pads only the head)."),

    INT("model.layers", model.layers, 1, SPEC_MAX_LAYERS, "16", "Transformer blocks."),
    INT("model.dim", model.dim, 8, 65536, "1024", "Width of the residual stream."),
    INT("model.heads", model.heads, 1, 1024, "8", "Attention heads."),
    INT_DERIVED("model.head_dim", model.head_dim, 2, 1024, "dim / heads",
                "Width of one head; even (rotary pairs dims). heads x head_dim must equal dim."),
    INT_DERIVED("model.mlp_hidden", model.mlp_hidden, 1, 262144, "4 x dim",
                "Hidden width of the MLP."),
    ENUM("model.activation", model.activation, "relu2", "relu2",
         "MLP activation: relu2 is relu(x)^2, the recipe's."),

    LIST("attention.off_layers", KEY_LAYERS, "[]", NULL,
         "Layers with no attention, only the MLP (the recipe: [7])."),
    ENUM("attention.norm", attn.norm, "qkv|pre", "qkv",
         "qkv: RMS-norm q, k and v per head, no norm on the block input (records 6-17). "
         "pre: RMS-norm the block input, then q and k."),
    NUM_POS("attention.scale", attn.scale, 100, "0.12",
            "Fixed softmax scale (the recipe's 0.12, not 1/sqrt(head_dim))."),
    NUM_ABOVE("attention.rotary.base", attn.rotary_base, 1, 1e9, "1024",
              "Frequencies run geometrically from 1 down to 1/base over the rotating pairs."),
    INT_DERIVED("attention.rotary.pairs", attn.rotary_pairs, 0, 512, "head_dim / 4",
                "Frequency pairs that rotate; the other head_dim/2 - pairs stay still."),
    ENUM("attention.rotary.convention", attn.rotary_convention, "half|interleaved", "half",
         "half: dims (j, j + head_dim/2) rotate together; interleaved: (2j, 2j+1)."),
    INT("attention.window.block_size", attn.window.block_size, 1, 65536, "128",
        "Tokens per mask block; windows are whole blocks."),
    ENUM("attention.window.schedule", attn.window.schedule, "cubic|linear|constant", "cubic",
         "cubic: long = max_tokens f(x) with f(x) = 4x^3 - 6x^2 + 3x and x = step/steps (record 8); "
         "linear: max_tokens x (record 7); constant: max_tokens. Each rounds up to whole blocks, "
         "at least 1."),
    INT("attention.window.max_tokens", attn.window.max_tokens, 1, 16777216, "3456",
        "The long window at the end of the schedule, in tokens; windows round up to whole "
        "blocks (record 7's linear 1728 ends at 14 blocks of 128)."),
    LIST("attention.window.long_layers", KEY_LAYERS, NULL, "every attention layer",
         "Layers with the long window; the other attention layers use the short one "
         "(the recipe: [0, 4, 11, 15])."),
    INT("attention.window.short_max_blocks", attn.window.short_max_blocks, 0, 65536, "0",
        "short = long / 2 blocks (at least 1), capped at this when it is not 0."),
    INT("attention.window.val_blocks", attn.window.val_blocks, 0, 65536, "0",
        "Long window in blocks for validation; 0 uses the training step's window."),

    INT("value_embeddings.tables", ve.tables, 0, SPEC_MAX_TABLES, "3",
        "Value-embedding tables (record 8: 3, record 9: 5)."),
    LIST("value_embeddings.layers", KEY_LAYER_MAP, NULL,
         "tables 0..n-1 on the first n layers, and again on the last n",
         "Per layer, the table mixed into v, or null. Every table must be used; "
         "only attention layers may take one."),
    ENUM("value_embeddings.init", ve.init, "normal|zeros", "normal",
         "Initial values: normal(0, init_std) or zeros."),
    NUM("value_embeddings.init_std", ve.init_std, 0, 100, "1.0", "Std of a normal init."),
    NUM("value_embeddings.lambda_v", ve.lambda_v, -100, 100, "0.5",
        "Initial weight of v in v = l_v v + l_ve ve (sa lambdas)."),
    NUM("value_embeddings.lambda_ve", ve.lambda_ve, -100, 100, "0.5",
        "Initial weight of the value embedding."),

    INT("input_embeddings.tables", x0.tables, 1, SPEC_MAX_TABLES, "1",
        "Input tables: x00 plus the extra x01..x0K (record 10: 2; the ablation: 2 to 5)."),
    ENUM("input_embeddings.naming", x0.naming, "record|ablation", "record",
         "Export names of the tables: record uses embed (1 table) and embed1, embed2 (record 10); "
         "ablation uses embed0, embed1, ... (snimu's x0 runs). 3 or more tables are always "
         "embed0...."),
    NUM("input_embeddings.init_std", x0.init_std, 0, 100, "1.0",
        "Std of the normal init of every input table."),
    NUM("input_embeddings.lambda_x", x0.lambda_x, -100, 100, "1.0",
        "Initial weight of x in each layer's mix x = l_x x + sum_k l_k x0k."),
    NUM("input_embeddings.lambda_x00", x0.lambda_x0, -100, 100, "0.0",
        "Initial weight of x00."),
    NUM("input_embeddings.lambda_extra", x0.lambda_x0_extra, -100, 100, "0.0",
        "Initial weight of each extra table x01..x0K."),

    LIST("skips.pairs", KEY_PAIRS, "[]", NULL,
         "U-net skips [from, to]: the output of block `from` is added, weighted, before "
         "block `to` (the recipe: [[6, 9], [4, 10], [2, 11]]). from < to; one skip per source."),
    NUM("skips.init", skips.init, -100, 100, "1.0", "Initial skip weight."),

    BOOL("head.tied", head.tied, "false",
         "Use input table x00 as the head; needs vocab.pad_embeddings."),
    ENUM("head.softcap", head.softcap, "isru|sigmoid|none", "isru",
         "isru: cap z / sqrt(z^2 + cap^2) (records 7+). sigmoid: cap sigmoid((z + offset) / "
         "divisor). none."),
    NUM_POS("head.cap", head.cap, 10000, "15", "Softcap bound."),
    NUM_POS("head.divisor", head.divisor, 10000, "7.5", "Sigmoid softcap divisor."),
    NUM("head.offset", head.offset, -10000, 10000, "0", "Sigmoid softcap offset."),
    ENUM("head.init", head.init, "normal|zeros", "zeros", "Initial head weights."),
    NUM("head.init_std", head.init_std, 0, 100, "0.005", "Std of a normal head init."),

    NUM_POS("init.linear_std_scale", init.linear_std_scale, 100, "0.5",
            "Q, K, V and fc start uniform with std = scale / sqrt(fan_in)."),
    BOOL("init.zero_out_proj", init.zero_out_proj, "true",
         "Wo and the MLP projection start at zero."),

    ENUM("dtypes.matrices", dtypes.matrices, "bf16|fp32", "bf16", "Block matrices (qkvo, fc, proj)."),
    ENUM("dtypes.embeddings", dtypes.embeddings, "bf16|fp32", "bf16", "Input and value tables."),
    ENUM("dtypes.head", dtypes.head, "bf16|fp32", "fp32", "Head master weights (bf16 matmul)."),
    ENUM("dtypes.muon_master", dtypes.muon_master, "split16|fp32", "split16",
         "Muon master weights: split16 keeps the bf16 weight as the high half of an fp32 "
         "master plus a 16-bit low half (the recipe); fp32 keeps a full copy."),

    INT("train.ranks", train.ranks, 1, 4096, "8", "Data-parallel ranks (GPUs)."),
    INT64("train.tokens_per_rank", train.tokens_per_rank, 1, 16777216, "65536",
          "Tokens per rank per step: one packed sequence; a multiple of block_size."),
    INT("train.steps", train.steps, 1, 100000000, "5960", "Optimizer steps."),
    INT64("train.seed", train.seed, 0, 9007199254740991.0, "0", "Seed of the initialisation RNG."),
    NUM("train.cooldown_frac", train.cooldown_frac, 0, 1, "0.7",
        "The LR is flat, then falls linearly over this last fraction of the steps."),
    NUM("train.lr_floor", train.lr_floor, 0, 1, "0.0", "LR multiplier at the end of the cooldown."),
    NUM("train.muon.lr", train.muon.lr, 0, 10, "0.025", "Muon learning rate."),
    NUM("train.muon.weight_decay", train.muon.weight_decay, 0, 1, "0.01",
        "Decoupled weight decay, scaled by the LR schedule and the multipliers."),
    NUM("train.muon.attn_wd_mul", train.muon.attn_wd_mul, 0, 100, "1.0", "Decay multiplier on qkvo."),
    NUM("train.muon.mlp_wd_mul", train.muon.mlp_wd_mul, 0, 100, "2.0", "Decay multiplier on fc and proj."),
    NUM_UNIT("train.muon.momentum_start", train.muon.momentum_start, "0.85", "Momentum at step 0."),
    NUM_UNIT("train.muon.momentum_end", train.muon.momentum_end, "0.95", "Momentum after the warm-up."),
    INT("train.muon.momentum_warmup_steps", train.muon.momentum_warmup_steps, 0, 100000000, "300",
        "Steps of the linear momentum warm-up."),
    BOOL("train.muon.nesterov", train.muon.nesterov, "true", "Nesterov form of the momentum."),
    LIST("train.muon.ns_coefficients", KEY_TRIPLES,
         "[[4.0848, -6.8946, 2.9270], [3.9505, -6.3029, 2.6377], [3.7418, -5.5913, 2.3037], "
         "[2.8769, -3.1427, 1.2046], [2.8366, -3.0525, 1.2012]]",
         NULL, "Newton-Schulz (a, b, c) per iteration; one triple per iteration, 1 to 16."),
    NUM_UNIT("train.adam.beta1", train.adam.beta1, "0.8", "Adam beta1."),
    NUM_UNIT("train.adam.beta2", train.adam.beta2, "0.95", "Adam beta2."),
    NUM_POS("train.adam.eps", train.adam.eps, 1, "1e-10", "Adam epsilon."),
    NUM("train.adam.weight_decay", train.adam.weight_decay, 0, 1, "0.0", "Adam weight decay."),
    NUM("train.adam.lr_head", train.adam.lr_head, 0, 10, "0.003125", "Adam LR of the head (1/320)."),
    NUM("train.adam.lr_embed", train.adam.lr_embed, 0, 10, "0.3",
        "Adam LR of the input and value tables."),
    NUM("train.adam.lr_scalars", train.adam.lr_scalars, 0, 10, "0.015",
        "Adam LR of the scalars (lambdas and skip weights)."),
    INT("train.val.interval", train.val_interval, 0, 100000000, "125",
        "Validate every this many steps (and at the first and last); 0: only at the end."),
    INT64("train.val.tokens", train.val_tokens, 1, 1e12, "10485760",
          "Validation tokens: a multiple of ranks x val.tokens_per_rank."),
    INT64("train.val.tokens_per_rank", train.val_tokens_per_rank, 1, 16777216, "262144",
          "Tokens per rank per validation step; a multiple of block_size."),
    STR("train.data.train", train.train_glob, "data/fineweb10B/fineweb_train_*.bin",
        "Glob of training shards, taken in sorted order."),
    STR("train.data.val", train.val_glob, "data/fineweb10B/fineweb_val_*.bin",
        "Glob of validation shards."),
    INT64("train.data.seed", train.data_seed, 0, 9007199254740991.0, "0",
          "Seed of the training batches' order: 0 keeps the recipe's fixed order; any other value "
          "reads the batches of each shard in an order shuffled by it (anew each pass over the "
          "data), so that runs can differ in their data as well as their initialisation."),
    BOOL("train.data.repeat", train.data_repeat, "false",
         "At the end of the training data, start it again from the first shard (each pass is "
         "logged in metrics.jsonl). Off: a run whose data holds fewer steps than it needs is "
         "refused before it starts."),
};

const int schema_nkeys = (int)(sizeof schema_keys / sizeof *schema_keys);

const KeyDef *schema_find(const char *path) {
    for (int i = 0; i < schema_nkeys; i++)
        if (!strcmp(schema_keys[i].path, path)) return &schema_keys[i];
    return NULL;
}

int schema_index(const KeyDef *k) { return (int)(k - schema_keys); }

bool schema_is_section(const char *path) {
    size_t n = strlen(path);
    for (int i = 0; i < schema_nkeys; i++)
        if (!strncmp(schema_keys[i].path, path, n) && schema_keys[i].path[n] == '.')
            return true;
    return false;
}

static const char *last_segment(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

/* Candidate names: every key, and every section (a key's path cut at a dot). */
static void consider(const char *unknown, const char *cand, size_t cand_len,
                     int *best, const char **best_path, char *buf, size_t cap) {
    char tmp[128];
    if (cand_len >= sizeof tmp) return;
    memcpy(tmp, cand, cand_len);
    tmp[cand_len] = '\0';
    int d = suggest_distance(unknown, tmp);
    int d_last = suggest_distance(last_segment(unknown), last_segment(tmp));
    if (d_last < d) d = d_last + 1;
    if (d < *best) {
        *best = d;
        snprintf(buf, cap, "%s", tmp);
        *best_path = buf;
    }
}

const char *schema_suggest(const char *path) {
    static char buf[128];
    int best = 99;
    const char *best_path = NULL;
    for (int i = 0; i < schema_nkeys; i++) {
        const char *p = schema_keys[i].path;
        for (const char *dot = strchr(p, '.'); dot; dot = strchr(dot + 1, '.'))
            consider(path, p, (size_t)(dot - p), &best, &best_path, buf, sizeof buf);
        consider(path, p, strlen(p), &best, &best_path, buf, sizeof buf);
    }
    consider(path, "extends", 7, &best, &best_path, buf, sizeof buf);
    /* A path may hold a typo in its section as well as in its key: one
     * edit more than a single word may have. */
    return best_path && suggest_close(best - 1, strlen(last_segment(path))) ? best_path : NULL;
}

static const char *type_name(const KeyDef *k) {
    switch (k->type) {
    case KEY_INT:
    case KEY_INT64: return "integer";
    case KEY_FLOAT: return "number";
    case KEY_BOOL: return "bool";
    case KEY_ENUM: return "enum";
    case KEY_STRING: return "string";
    case KEY_LAYERS: return "layer list";
    case KEY_LAYER_MAP: return "per-layer list";
    case KEY_PAIRS: return "pair list";
    case KEY_TRIPLES: return "triple list";
    }
    return "?";
}

static void print_range(FILE *f, const KeyDef *k) {
    if (k->type == KEY_ENUM) {
        for (const char *c = k->choices; *c; c++) fputs(*c == '|' ? ", " : (char[]){*c, 0}, f);
    } else if (k->type == KEY_INT || k->type == KEY_INT64) {
        fprintf(f, "%.0f .. %.0f", k->lo, k->hi);
    } else if (k->type == KEY_FLOAT) {
        fprintf(f, "%s%g, %g%s", k->lo_open ? "(" : "[", k->lo, k->hi, k->hi_open ? ")" : "]");
    } else {
        fputs("-", f);
    }
}

void schema_print_markdown(FILE *f) {
    char section[64] = "";
    for (int i = 0; i < schema_nkeys; i++) {
        const KeyDef *k = &schema_keys[i];
        const char *dot = strchr(k->path, '.');
        char sec[64];
        snprintf(sec, sizeof sec, "%.*s", dot ? (int)(dot - k->path) : 0, k->path);
        if (i == 0 || strcmp(sec, section)) {
            snprintf(section, sizeof section, "%s", sec);
            fprintf(f, "%s### %s\n\n", i ? "\n" : "", *sec ? sec : "top level");
            fputs("| key | type | default | range | meaning |\n", f);
            fputs("| --- | --- | --- | --- | --- |\n", f);
        }
        fprintf(f, "| `%s` | %s | ", k->path, type_name(k));
        if (k->def) fprintf(f, "`%s`", k->def);
        else fprintf(f, "%s", k->derived);
        fputs(" | ", f);
        print_range(f, k);
        fprintf(f, " | %s |\n", k->doc);
    }
}

void schema_print_text(FILE *f) {
    for (int i = 0; i < schema_nkeys; i++) {
        const KeyDef *k = &schema_keys[i];
        fprintf(f, "%-36s %-14s %s\n", k->path, type_name(k), k->def ? k->def : k->derived);
    }
}
