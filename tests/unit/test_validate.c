/*
 * test_validate.c: the validator (validate.c, rules.c) and the key table
 * (schema.c) on small YAML texts.
 *
 * Every reader (integers, numbers, bools, enums, strings, lists, the walk
 * over sections and unknown keys), every default and derived default, and
 * every rule between keys: each rule once failing (the message's position,
 * key path and wording) and once passing at its boundary. Then whole files:
 * a model equals the same model reached through `extends` or `--set`.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/lang/diag.h"
#include "compiler/report/stats.h"
#include "compiler/lang/schema.h"
#include "compiler/lang/spec.h"
#include "tests/unit/test.h"
#include "compiler/lang/validate.h"
#include "compiler/lang/ytree.h"

#define CHECK_LACKS(hay, needle) CHECK(!strstr((hay), (needle)))

static ModelSpec spec;     /* the result of the last validation */
static int nerr;           /* errors it reported */
static char msg[32768];    /* its messages, when captured */

/* Parses `text` as t.yaml and validates it, with messages silenced. */
static bool vt(const char *text) {
    diag_reset();
    diag_set_stream(NULL);
    YDoc d;
    bool ok = ytree_parse("t.yaml", text, strlen(text), &d) &&
              spec_validate(d.root, "t.yaml", &spec);
    ytree_free(&d);
    nerr = diag_error_count();
    diag_reset();
    return ok;
}

/* The same, with the messages captured into `msg`. */
static bool vm(const char *text) {
    diag_reset();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    diag_set_stream(f);
    YDoc d;
    bool ok = ytree_parse("t.yaml", text, strlen(text), &d) &&
              spec_validate(d.root, "t.yaml", &spec);
    ytree_free(&d);
    nerr = diag_error_count();
    diag_set_stream(NULL);
    fclose(f);
    snprintf(msg, sizeof msg, "%s", buf ? buf : "");
    free(buf);
    diag_reset();
    return ok;
}

/* Validation must fail with an error at t.yaml:LINE (line 0: no line, for
 * problems with defaulted keys) whose text holds every needle. */
static void expect_err(const char *file, int at, const char *text, int line,
                       const char *const *needles) {
    if (vm(text)) {
        test_fail(file, at, "validated, but should have failed");
        return;
    }
    char pos[64];
    if (line > 0) snprintf(pos, sizeof pos, "t.yaml:%d:", line);
    else snprintf(pos, sizeof pos, "t.yaml: error: ");
    test_check_has(file, at, msg, pos);
    for (int i = 0; needles[i]; i++) test_check_has(file, at, msg, needles[i]);
}
#define EXPECT_ERR(text, line, ...) \
    expect_err(__FILE__, __LINE__, (text), (line), (const char *const[]){__VA_ARGS__, NULL})

static void expect_ok(const char *file, int at, const char *text) {
    if (!vm(text)) {
        char m[1400];
        snprintf(m, sizeof m, "should validate, but: %.1200s", msg);
        test_fail(file, at, m);
    }
}
#define EXPECT_OK(text) expect_ok(__FILE__, __LINE__, (text))

/* "a.b.c" and "VALUE" -> "a:\n  b:\n    c: VALUE\n" */
static void nest(char *out, size_t cap, const char *path, const char *value) {
    size_t n = 0;
    int depth = 0;
    const char *seg = path;
    for (;;) {
        const char *dot = strchr(seg, '.');
        size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
        for (int i = 0; i < 2 * depth && n + 1 < cap; i++) out[n++] = ' ';
        n += (size_t)snprintf(out + n, cap - n, "%.*s:%s", (int)len, seg, dot ? "\n" : " ");
        if (!dot) break;
        seg = dot + 1;
        depth++;
    }
    snprintf(out + n, cap - n, "%s\n", value);
}

static bool validate_key(const char *path, const char *value) {
    char text[2048];
    nest(text, sizeof text, path, value);
    return vm(text);
}

static ModelSpec defaults; /* the spec of `{}` */

static void load_defaults(void) {
    if (!vt("{}")) test_fail(__FILE__, __LINE__, "{} does not validate");
    defaults = spec;
}

static int int_at(const ModelSpec *s, const KeyDef *k) {
    return *(const int *)((const char *)s + k->offset);
}

/* ---- the empty document: every default ---- */

TEST(validate_defaults_of_empty_document) {
    CHECK(vt("{}"));
    CHECK_EQ_INT(nerr, 0);
    const ModelSpec *s = &spec;
    CHECK(!strcmp(s->source, "t.yaml"));
    CHECK(!strcmp(s->description, ""));
    CHECK_EQ_INT(s->vocab.size, 50257);
    CHECK_EQ_INT(s->vocab.eot, 50256);
    CHECK_EQ_INT(s->vocab.pad_multiple, 128);
    CHECK_EQ_INT(s->vocab.padded, 50304);
    CHECK(!s->vocab.pad_embeddings);
    CHECK_EQ_INT(s->model.layers, 16);
    CHECK_EQ_INT(s->model.dim, 1024);
    CHECK_EQ_INT(s->model.heads, 8);
    CHECK_EQ_INT(s->model.head_dim, 128);
    CHECK_EQ_INT(s->model.mlp_hidden, 4096);
    CHECK_EQ_INT(s->model.activation, ACT_RELU2);
    for (int i = 0; i < 16; i++) CHECK(s->model.attention[i]);
    CHECK(!s->model.attention[16]);
    CHECK_EQ_INT(s->attn.norm, ATTN_NORM_QKV);
    CHECK_NEAR(s->attn.scale, 0.12, 0);
    CHECK_NEAR(s->attn.rotary_base, 1024, 0);
    CHECK_EQ_INT(s->attn.rotary_pairs, 32);
    CHECK_EQ_INT(s->attn.rotary_convention, ROTARY_HALF);
    CHECK_EQ_INT(s->attn.window.block_size, 128);
    CHECK_EQ_INT(s->attn.window.schedule, WINDOW_CUBIC);
    CHECK_EQ_INT(s->attn.window.max_tokens, 3456);
    CHECK_EQ_INT(s->attn.window.short_max_blocks, 0);
    CHECK_EQ_INT(s->attn.window.val_blocks, 0);
    for (int i = 0; i < 16; i++) CHECK(s->attn.window.long_layer[i]);
    CHECK_EQ_INT(s->ve.tables, 3);
    static const int table[16] = {0, 1, 2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 2};
    for (int i = 0; i < 16; i++) CHECK_EQ_INT(s->ve.layer_table[i], table[i]);
    CHECK_EQ_INT(s->ve.init, INIT_NORMAL);
    CHECK_NEAR(s->ve.init_std, 1.0, 0);
    CHECK_NEAR(s->ve.lambda_v, 0.5, 0);
    CHECK_NEAR(s->ve.lambda_ve, 0.5, 0);
    CHECK_EQ_INT(s->x0.tables, 1);
    CHECK_NEAR(s->x0.init_std, 1.0, 0);
    CHECK_NEAR(s->x0.lambda_x, 1.0, 0);
    CHECK_NEAR(s->x0.lambda_x0, 0.0, 0);
    CHECK_NEAR(s->x0.lambda_x0_extra, 0.0, 0);
    CHECK_EQ_INT(s->skips.count, 0);
    CHECK_NEAR(s->skips.init, 1.0, 0);
    CHECK(!s->head.tied);
    CHECK_EQ_INT(s->head.softcap, SOFTCAP_ISRU);
    CHECK_NEAR(s->head.cap, 15, 0);
    CHECK_NEAR(s->head.divisor, 7.5, 0);
    CHECK_NEAR(s->head.offset, 0, 0);
    CHECK_EQ_INT(s->head.init, INIT_ZEROS);
    CHECK_NEAR(s->head.init_std, 0.005, 0);
    CHECK_NEAR(s->init.linear_std_scale, 0.5, 0);
    CHECK(s->init.zero_out_proj);
    CHECK_EQ_INT(s->dtypes.matrices, DTYPE_BF16);
    CHECK_EQ_INT(s->dtypes.embeddings, DTYPE_BF16);
    CHECK_EQ_INT(s->dtypes.head, DTYPE_FP32);
    CHECK_EQ_INT(s->dtypes.scalars, DTYPE_FP32);
    CHECK_EQ_INT(s->dtypes.muon_master, MASTER_SPLIT16);
    const SpecTrain *t = &s->train;
    CHECK_EQ_INT(t->ranks, 8);
    CHECK_EQ_INT(t->tokens_per_rank, 65536);
    CHECK_EQ_INT(t->steps, 5960);
    CHECK_EQ_INT(t->seed, 0);
    CHECK_NEAR(t->cooldown_frac, 0.7, 0);
    CHECK_NEAR(t->lr_floor, 0.0, 0);
    CHECK_NEAR(t->muon.lr, 0.025, 0);
    CHECK_NEAR(t->muon.weight_decay, 0.01, 0);
    CHECK_NEAR(t->muon.attn_wd_mul, 1.0, 0);
    CHECK_NEAR(t->muon.mlp_wd_mul, 2.0, 0);
    CHECK_NEAR(t->muon.momentum_start, 0.85, 0);
    CHECK_NEAR(t->muon.momentum_end, 0.95, 0);
    CHECK_EQ_INT(t->muon.momentum_warmup_steps, 300);
    CHECK(t->muon.nesterov);
    CHECK_EQ_INT(t->muon.ns_steps, 5);
    CHECK_NEAR(t->muon.ns_coef[0][0], 4.0848, 0);
    CHECK_NEAR(t->muon.ns_coef[0][1], -6.8946, 0);
    CHECK_NEAR(t->muon.ns_coef[0][2], 2.9270, 0);
    CHECK_NEAR(t->muon.ns_coef[2][1], -5.5913, 0);
    CHECK_NEAR(t->muon.ns_coef[4][0], 2.8366, 0);
    CHECK_NEAR(t->muon.ns_coef[4][1], -3.0525, 0);
    CHECK_NEAR(t->muon.ns_coef[4][2], 1.2012, 0);
    CHECK_NEAR(t->muon.ns_coef[5][0], 0, 0);
    CHECK_NEAR(t->adam.beta1, 0.8, 0);
    CHECK_NEAR(t->adam.beta2, 0.95, 0);
    CHECK_NEAR(t->adam.eps, 1e-10, 0);
    CHECK_NEAR(t->adam.weight_decay, 0, 0);
    CHECK_NEAR(t->adam.lr_head, 0.003125, 0);
    CHECK_NEAR(t->adam.lr_embed, 0.3, 0);
    CHECK_NEAR(t->adam.lr_scalars, 0.015, 0);
    CHECK_EQ_INT(t->val_interval, 125);
    CHECK_EQ_INT(t->val_tokens, 10485760);
    CHECK_EQ_INT(t->val_tokens_per_rank, 262144);
    CHECK(!strcmp(t->train_glob, "data/fineweb10B/fineweb_train_*.bin"));
    CHECK(!strcmp(t->val_glob, "data/fineweb10B/fineweb_val_*.bin"));
}

TEST(validate_empty_sections_are_defaults) {
    load_defaults();
    CHECK(vt("model:\nattention:\n  window:\ntrain: ~\nvocab: {}\n"));
    CHECK(!memcmp(&spec, &defaults, sizeof spec));
}

/* Each default, written out in the file, gives the same spec as `{}`. */
TEST(validate_every_default_written_out) {
    load_defaults();
    int with_default = 0;
    for (int i = 0; i < schema_nkeys; i++) {
        const KeyDef *k = &schema_keys[i];
        if (!k->def) {
            CHECK(k->derived != NULL);
            continue;
        }
        with_default++;
        bool ok = validate_key(k->path, k->def);
        if (!ok || memcmp(&spec, &defaults, sizeof spec)) {
            char m[1024];
            int n = snprintf(m, sizeof m, "default of %s (%s) %s: %.300s", k->path, k->def,
                             ok ? "changes the spec" : "does not validate", msg);
            (void)n;
            test_fail(__FILE__, __LINE__, m);
        }
    }
    CHECK(with_default > 60);
}

TEST(validate_top_level_not_a_mapping) {
    EXPECT_ERR("", 1, "error: the top level must be a mapping of keys");
    EXPECT_ERR("# comment only\n", 1, "the top level must be a mapping");
    EXPECT_ERR("- a\n- b\n", 1, "the top level must be a mapping");
    EXPECT_ERR("just words\n", 1, "the top level must be a mapping");
}

/* ---- enums ---- */

TEST(validate_every_enum_choice) {
    int keys = 0;
    for (int i = 0; i < schema_nkeys; i++) {
        const KeyDef *k = &schema_keys[i];
        if (k->type != KEY_ENUM) continue;
        keys++;
        int idx = 0;
        for (const char *c = k->choices; *c; idx++) {
            size_t len = strcspn(c, "|");
            char choice[32];
            snprintf(choice, sizeof choice, "%.*s", (int)len, c);
            bool ok = validate_key(k->path, choice);
            if (!ok || int_at(&spec, k) != idx) {
                char m[512];
                int n = snprintf(m, sizeof m, "%s: %s gives %d, want %d (%.300s)", k->path, choice,
                                 ok ? int_at(&spec, k) : -1, idx, msg);
                (void)n;
                test_fail(__FILE__, __LINE__, m);
            }
            c += len + (c[len] == '|');
        }
        /* A value outside the choices lists them all. */
        CHECK(!validate_key(k->path, "bogus"));
        char want[256];
        snprintf(want, sizeof want, "%s: expected one of ", k->path);
        CHECK_HAS(msg, want);
        CHECK_HAS(msg, ", found 'bogus'");
    }
    CHECK_EQ_INT(keys, 12);
}

TEST(validate_enum_c_values) {
    CHECK(vt("model: {activation: relu2}"));
    CHECK_EQ_INT(spec.model.activation, ACT_RELU2);
    CHECK(vt("attention: {norm: pre}"));
    CHECK_EQ_INT(spec.attn.norm, ATTN_NORM_PRE);
    CHECK(vt("attention: {norm: qkv}"));
    CHECK_EQ_INT(spec.attn.norm, ATTN_NORM_QKV);
    CHECK(vt("attention: {rotary: {convention: interleaved}}"));
    CHECK_EQ_INT(spec.attn.rotary_convention, ROTARY_INTERLEAVED);
    CHECK(vt("attention: {rotary: {convention: half}}"));
    CHECK_EQ_INT(spec.attn.rotary_convention, ROTARY_HALF);
    CHECK(vt("attention: {window: {schedule: linear}}"));
    CHECK_EQ_INT(spec.attn.window.schedule, WINDOW_LINEAR);
    CHECK(vt("attention: {window: {schedule: constant}}"));
    CHECK_EQ_INT(spec.attn.window.schedule, WINDOW_CONSTANT);
    CHECK(vt("attention: {window: {schedule: cubic}}"));
    CHECK_EQ_INT(spec.attn.window.schedule, WINDOW_CUBIC);
    CHECK(vt("value_embeddings: {init: zeros}"));
    CHECK_EQ_INT(spec.ve.init, INIT_ZEROS);
    CHECK(vt("value_embeddings: {init: normal}"));
    CHECK_EQ_INT(spec.ve.init, INIT_NORMAL);
    CHECK(vt("head: {softcap: sigmoid}"));
    CHECK_EQ_INT(spec.head.softcap, SOFTCAP_SIGMOID);
    CHECK(vt("head: {softcap: none}"));
    CHECK_EQ_INT(spec.head.softcap, SOFTCAP_NONE);
    CHECK(vt("head: {softcap: isru}"));
    CHECK_EQ_INT(spec.head.softcap, SOFTCAP_ISRU);
    CHECK(vt("head: {init: zeros}"));
    CHECK_EQ_INT(spec.head.init, INIT_ZEROS);
    CHECK(vt("head: {init: normal}"));
    CHECK_EQ_INT(spec.head.init, INIT_NORMAL);
    CHECK(vt("dtypes: {matrices: fp32, embeddings: fp32, head: bf16, muon_master: fp32}"));
    CHECK_EQ_INT(spec.dtypes.matrices, DTYPE_FP32);
    CHECK_EQ_INT(spec.dtypes.embeddings, DTYPE_FP32);
    CHECK_EQ_INT(spec.dtypes.head, DTYPE_BF16);
    CHECK_EQ_INT(spec.dtypes.muon_master, MASTER_FP32);
    CHECK_EQ_INT(spec.dtypes.scalars, DTYPE_FP32);
    CHECK(vt("dtypes: {matrices: bf16, embeddings: bf16, head: fp32, muon_master: split16}"));
    CHECK_EQ_INT(spec.dtypes.matrices, DTYPE_BF16);
    CHECK_EQ_INT(spec.dtypes.muon_master, MASTER_SPLIT16);
}

TEST(validate_enum_errors) {
    EXPECT_ERR("# x\nattention:\n  norm: post\n", 3,
               "t.yaml:3:9: error: attention.norm: expected one of qkv/pre, found 'post'");
    EXPECT_ERR("attention: {norm: QKV}\n", 1, "attention.norm: expected one of qkv/pre, found 'QKV'");
    EXPECT_ERR("attention: {norm: qk}\n", 1, "found 'qk'");
    EXPECT_ERR("attention: {norm: qkvx}\n", 1, "found 'qkvx'");
    EXPECT_ERR("attention: {norm: }\n", 1, "attention.norm: expected one of qkv/pre, found null");
    EXPECT_ERR("head: {softcap: [isru]}\n", 1,
               "head.softcap: expected one of isru/sigmoid/none, found a sequence");
    EXPECT_ERR("dtypes: {head: fp16}\n", 1, "dtypes.head: expected one of bf16/fp32, found 'fp16'");
}

/* ---- integers ---- */

TEST(validate_integer_syntax) {
    CHECK(vt("train: {steps: 1_000}"));
    CHECK_EQ_INT(spec.train.steps, 1000);
    CHECK(vt("vocab: {size: 65_536}"));
    CHECK_EQ_INT(spec.vocab.size, 65536);
    CHECK(vt("train: {steps: +5}"));
    CHECK_EQ_INT(spec.train.steps, 5);
    CHECK(vt("train: {seed: -0}"));
    CHECK_EQ_INT(spec.train.seed, 0);
    CHECK(vt("train: {steps: 0012}"));
    CHECK_EQ_INT(spec.train.steps, 12);
    CHECK(vt("train: {seed: 9007199254740991}"));
    CHECK(spec.train.seed == 9007199254740991ULL);
    CHECK(vt("train: {val: {tokens: 1_000_000_000_000, tokens_per_rank: 128}, ranks: 1}"));
    CHECK_EQ_INT(spec.train.val_tokens, 1000000000000LL);

    const char *bad[] = {"0x10", "1e3", "1.0", "1_", "_1", "1__0", "--1", "+", "1 000",
                         "12abc", "0o17", "'5'", "\"5\"", "true", "~", "[5]", "{a: 5}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[128];
        snprintf(text, sizeof text, "train:\n  steps: %s\n", bad[i]);
        if (vm(text)) {
            test_fail(__FILE__, __LINE__, text);
            continue;
        }
        CHECK_HAS(msg, "t.yaml:2:10: error: train.steps: expected an integer from 1 to 100000000, "
                       "found ");
        CHECK_EQ_INT(nerr, 1);
    }
    vm("train: {steps: 1e3}");
    CHECK_HAS(msg, "found '1e3'");
    vm("train: {steps: '5'}");
    CHECK_HAS(msg, "found \"5\"");
    vm("train: {steps: ~}");
    CHECK_HAS(msg, "found null");
    vm("train: {steps: [5]}");
    CHECK_HAS(msg, "found a sequence");
    vm("train: {steps: {a: 5}}");
    CHECK_HAS(msg, "found a mapping");
}

TEST(validate_integer_range_and_overflow) {
    EXPECT_ERR("train: {steps: 0}", 1, "train.steps: expected an integer from 1 to 100000000, found '0'");
    EXPECT_OK("train: {steps: 1}");
    EXPECT_OK("train: {steps: 100000000}");
    EXPECT_ERR("train: {steps: 100000001}", 1, "train.steps: expected an integer from 1");
    EXPECT_ERR("train: {steps: -5}", 1, "found '-5'");
    /* Far too large: saturates and is out of range, never wraps. */
    EXPECT_ERR("train: {steps: 99999999999999999999999999}", 1,
               "train.steps: expected an integer from 1 to 100000000");
    EXPECT_ERR("train: {steps: 18446744073709551617}", 1, "train.steps: expected an integer");
    EXPECT_ERR("train: {steps: 4294967297}", 1, "train.steps: expected an integer"); /* 2^32+1 */
    EXPECT_ERR("train: {seed: -99999999999999999999999}", 1, "train.seed: expected an integer from 0");
    EXPECT_ERR("train: {seed: 9007199254740992}", 1,
               "train.seed: expected an integer from 0 to 9007199254740991");
    EXPECT_ERR("train: {seed: 18446744073709551615}", 1, "train.seed: expected an integer");
    EXPECT_ERR("model: {layers: 257}", 1, "model.layers: expected an integer from 1 to 256");
}

/* Every numeric key: its bounds pass the reader, one step beyond fails. */
TEST(validate_every_numeric_range) {
    for (int i = 0; i < schema_nkeys; i++) {
        const KeyDef *k = &schema_keys[i];
        if (k->type != KEY_INT && k->type != KEY_INT64 && k->type != KEY_FLOAT) continue;
        bool is_int = k->type != KEY_FLOAT;
        char want[160], value[64];
        if (is_int)
            snprintf(want, sizeof want, "%s: expected an integer from %.0f to %.0f", k->path, k->lo,
                     k->hi);
        else
            snprintf(want, sizeof want, "%s: expected a number in %s%g, %g%s", k->path,
                     k->lo_open ? "(" : "[", k->lo, k->hi, k->hi_open ? ")" : "]");
        char reader[160];
        snprintf(reader, sizeof reader, "%s: expected", k->path);
        double inside[2] = {k->lo, k->hi};
        bool closed[2] = {!k->lo_open, !k->hi_open};
        double outside[2] = {k->lo_open ? k->lo : k->lo - 1, k->hi_open ? k->hi : k->hi + 1};
        for (int e = 0; e < 2; e++) {
            if (closed[e]) {
                snprintf(value, sizeof value, is_int ? "%.0f" : "%.17g", inside[e]);
                validate_key(k->path, value);
                if (strstr(msg, reader)) {
                    char m[600];
                    snprintf(m, sizeof m, "%s = %s is in range but: %.400s", k->path, value, msg);
                    test_fail(__FILE__, __LINE__, m);
                }
            }
            snprintf(value, sizeof value, is_int ? "%.0f" : "%.17g", outside[e]);
            if (validate_key(k->path, value) || !strstr(msg, want)) {
                char m[600];
                snprintf(m, sizeof m, "%s = %s is out of range, want \"%s\": %.300s", k->path,
                         value, want, msg);
                test_fail(__FILE__, __LINE__, m);
            }
        }
    }
}

/* ---- numbers ---- */

TEST(validate_float_syntax) {
    CHECK(vt("train: {adam: {eps: 1e-10}}"));
    CHECK(spec.train.adam.eps == 1e-10);
    CHECK(vt("train: {adam: {eps: 1.5E-8}}"));
    CHECK(spec.train.adam.eps == 1.5e-8);
    CHECK(vt("attention: {scale: 0.5}"));
    CHECK(spec.attn.scale == 0.5);
    CHECK(vt("attention: {scale: .5}"));
    CHECK(spec.attn.scale == 0.5);
    CHECK(vt("attention: {scale: 5.}"));
    CHECK(spec.attn.scale == 5.0);
    CHECK(vt("attention: {scale: +2}"));
    CHECK(spec.attn.scale == 2.0);
    CHECK(vt("attention: {scale: 1_0.25}"));
    CHECK(spec.attn.scale == 10.25);
    CHECK(vt("head: {offset: -3.5}"));
    CHECK(spec.head.offset == -3.5);
    CHECK(vt("head: {offset: -0.0}"));
    CHECK(spec.head.offset == 0.0);

    const char *bad[] = {"inf", ".inf", "-.inf", "+.inf", ".Inf", "infinity", "nan", ".nan", "NaN",
                         "0x1p3", "0x10", "'1.0'", "\"1.0\"", "1e400", "-1e400", "1e", "e5",
                         "1.0.0", "--1", "1,5", "one", "~", "[1.0]", "true", "_"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[128];
        snprintf(text, sizeof text, "head:\n  offset: %s\n", bad[i]);
        if (vm(text)) {
            test_fail(__FILE__, __LINE__, text);
            continue;
        }
        CHECK_HAS(msg, "t.yaml:2:11: error: head.offset: expected a number in [-10000, 10000], "
                       "found ");
    }
    vm("head: {offset: .inf}");
    CHECK_HAS(msg, "found '.inf'");
    vm("head: {offset: '1.0'}");
    CHECK_HAS(msg, "found \"1.0\"");
    /* Integer keys do not take numbers with a point. */
    EXPECT_ERR("model: {dim: 512.0}", 1, "model.dim: expected an integer from 8 to 65536, found '512.0'");
}

TEST(validate_float_ranges) {
    EXPECT_ERR("attention: {scale: 0}", 1, "attention.scale: expected a number in (0, 100], found '0'");
    EXPECT_OK("attention: {scale: 100}");
    EXPECT_ERR("attention: {scale: 100.000001}", 1, "attention.scale: expected a number in (0, 100]");
    EXPECT_OK("attention: {scale: 1e-300}");
    EXPECT_ERR("train: {muon: {momentum_start: 1}}", 1,
               "train.muon.momentum_start: expected a number in [0, 1), found '1'");
    EXPECT_OK("train: {muon: {momentum_start: 0.999999}}");
    EXPECT_OK("train: {muon: {momentum_start: 0}}");
    EXPECT_ERR("train: {adam: {eps: 0}}", 1, "train.adam.eps: expected a number in (0, 1]");
    EXPECT_ERR("train: {cooldown_frac: 1.5}", 1, "train.cooldown_frac: expected a number in [0, 1]");
    EXPECT_OK("train: {cooldown_frac: 1}");
    EXPECT_ERR("attention: {rotary: {base: 1}}", 1, "attention.rotary.base: expected a number in (1");
}

/* ---- bools ---- */

TEST(validate_bools) {
    const char *yes[] = {"true", "True", "TRUE"}, *no[] = {"false", "False", "FALSE"};
    for (int i = 0; i < 3; i++) {
        char text[64];
        snprintf(text, sizeof text, "train: {muon: {nesterov: %s}}", no[i]);
        CHECK(vt(text) && !spec.train.muon.nesterov);
        snprintf(text, sizeof text, "vocab: {pad_embeddings: %s}", yes[i]);
        CHECK(vt(text) && spec.vocab.pad_embeddings);
    }
    const char *bad[] = {"yes", "no", "on", "off", "y", "n", "1", "0", "tRUE", "'true'", "\"false\"",
                         "~", "[true]"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[64];
        snprintf(text, sizeof text, "init:\n  zero_out_proj: %s\n", bad[i]);
        if (vm(text)) {
            test_fail(__FILE__, __LINE__, text);
            continue;
        }
        CHECK_HAS(msg, "t.yaml:2:18: error: init.zero_out_proj: expected true or false, found ");
    }
    vm("init: {zero_out_proj: yes}");
    CHECK_HAS(msg, "found 'yes'");
    vm("init: {zero_out_proj: 'true'}");
    CHECK_HAS(msg, "found \"true\"");
}

/* ---- strings ---- */

TEST(validate_strings) {
    CHECK(vt("description: \"a model\"\n"));
    CHECK(!strcmp(spec.description, "a model"));
    CHECK(vt("description: plain words here\n"));
    CHECK(!strcmp(spec.description, "plain words here"));
    CHECK(vt("description: 5\n")); /* any scalar is text */
    CHECK(!strcmp(spec.description, "5"));
    CHECK(vt("description: ''\n"));
    CHECK(!strcmp(spec.description, ""));
    CHECK(vt("description: \"tab\\there\"\n"));
    CHECK(!strcmp(spec.description, "tab\there"));
    CHECK(vt("description: \"caf\xc3\xa9\"\n"));
    CHECK(!strcmp(spec.description, "caf\xc3\xa9"));
    CHECK(vt("train: {data: {train: \"a/b_*.bin\", val: 'c/d_*.bin'}}\n"));
    CHECK(!strcmp(spec.train.train_glob, "a/b_*.bin"));
    CHECK(!strcmp(spec.train.val_glob, "c/d_*.bin"));

    EXPECT_ERR("description: \"bell\\a\"\n", 1,
               "t.yaml:1:14: error: description: control characters are not allowed");
    EXPECT_ERR("description: \"two\\nlines\"\n", 1, "control characters");
    EXPECT_ERR("description: |\n  block\n", 1, "description: control characters");
    EXPECT_ERR("description:\n", 1, "description: expected a string, found null");
    EXPECT_ERR("description: [a]\n", 1, "description: expected a string, found a sequence");
    EXPECT_ERR("train: {data: {train: {a: 1}}}\n", 1, "train.data.train: expected a string, found a mapping");
}

TEST(validate_string_length_limit) {
    char text[4096];
    /* description holds SPEC_TEXT_MAX - 1 bytes. */
    int n = snprintf(text, sizeof text, "description: \"");
    for (int i = 0; i < SPEC_TEXT_MAX - 1; i++) text[n++] = 'x';
    snprintf(text + n, sizeof text - (size_t)n, "\"\n");
    CHECK(vt(text));
    CHECK_EQ_INT(strlen(spec.description), SPEC_TEXT_MAX - 1);
    snprintf(text + n, sizeof text - (size_t)n, "y\"\n");
    EXPECT_ERR(text, 1, "t.yaml:1:14: error: description: the text is 256 bytes long; at most 255 are "
                        "allowed");
    /* train.data.train holds SPEC_PATH_MAX - 1. */
    n = snprintf(text, sizeof text, "train:\n  data:\n    train: ");
    for (int i = 0; i < SPEC_PATH_MAX - 1; i++) text[n++] = 'p';
    snprintf(text + n, sizeof text - (size_t)n, "\n");
    CHECK(vt(text));
    CHECK_EQ_INT(strlen(spec.train.train_glob), SPEC_PATH_MAX - 1);
    snprintf(text + n, sizeof text - (size_t)n, "q\n");
    EXPECT_ERR(text, 3, "train.data.train: the text is 1024 bytes long; at most 1023 are allowed");
}

/* ---- lists ---- */

TEST(validate_list_readers) {
    EXPECT_ERR("attention:\n  off_layers: 7\n", 2,
               "t.yaml:2:15: error: attention.off_layers: expected a list of layer indices like "
               "[0, 4], found '7'");
    EXPECT_ERR("attention: {off_layers: {a: 1}}\n", 1, "found a mapping");
    EXPECT_ERR("attention: {off_layers: ~}\n", 1, "attention.off_layers: expected a list");
    EXPECT_ERR("attention:\n  off_layers:\n    - 1\n    - x\n", 4,
               "t.yaml:4:7: error: attention.off_layers: expected a layer or table index, found 'x'");
    EXPECT_ERR("attention: {off_layers: [null]}\n", 1, "expected a layer or table index, found null");
    EXPECT_ERR("attention: {off_layers: [1.5]}\n", 1, "found '1.5'");
    EXPECT_ERR("attention: {off_layers: [1000001]}\n", 1, "expected a layer or table index");
    EXPECT_ERR("attention: {off_layers: [[1]]}\n", 1, "found a sequence");
    EXPECT_ERR("value_embeddings: {layers: 0}\n", 1,
               "value_embeddings.layers: expected a list with one table index or null per layer");
    EXPECT_ERR("value_embeddings: {layers: [x]}\n", 1,
               "t.yaml:1:29: error: value_embeddings.layers: expected a table index (0 or more) or null, "
               "found 'x'");
    EXPECT_ERR("skips: {pairs: [6, 9]}\n", 1,
               "t.yaml:1:17: error: skips.pairs: expected a pair [from, to], found '6'");
    EXPECT_ERR("skips: {pairs: 5}\n", 1, "skips.pairs: expected a list of [from, to] pairs like [[6, 9]]");
    EXPECT_ERR("skips: {pairs: [[6, 9, 10]]}\n", 1, "expected a pair [from, to], found a sequence");
    EXPECT_ERR("skips: {pairs: [[6]]}\n", 1, "expected a pair [from, to]");
    EXPECT_ERR("skips: {pairs: [[6, a]]}\n", 1, "t.yaml:1:21: error: skips.pairs: expected a layer or table index");
    EXPECT_ERR("train: {muon: {ns_coefficients: 5}}\n", 1,
               "train.muon.ns_coefficients: expected a list of [a, b, c] triples");
    EXPECT_ERR("train: {muon: {ns_coefficients: [[1, 2]]}}\n", 1,
               "train.muon.ns_coefficients: expected a triple [a, b, c], found a sequence");
    EXPECT_ERR("train: {muon: {ns_coefficients: [[1, 2, x]]}}\n", 1,
               "t.yaml:1:41: error: train.muon.ns_coefficients: expected a number between -1e6 and 1e6, "
               "found 'x'");
    EXPECT_ERR("train: {muon: {ns_coefficients: [[1, 2, 2e6]]}}\n", 1, "expected a number between -1e6");
    EXPECT_ERR("train: {muon: {ns_coefficients: [[1, 2, .nan]]}}\n", 1, "expected a number between");
    EXPECT_OK("train: {muon: {ns_coefficients: [[1e6, -1e6, 0]]}}\n");
    /* Several bad items: each reported. */
    CHECK(!vt("skips: {pairs: [[a, 1], [2, b], 3]}\n"));
    CHECK_EQ_INT(nerr, 3);
}

TEST(validate_list_length_limit) {
    char text[4096];
    int n = snprintf(text, sizeof text, "attention:\n  off_layers: [");
    for (int i = 0; i < 257; i++) n += snprintf(text + n, sizeof text - (size_t)n, "%s0", i ? "," : "");
    snprintf(text + n, sizeof text - (size_t)n, "]\n");
    EXPECT_ERR(text, 2, "attention.off_layers: the list has 257 items; at most 256 are allowed");
    /* 256 items pass the reader (the rules then see duplicates). */
    n = snprintf(text, sizeof text, "attention:\n  off_layers: [");
    for (int i = 0; i < 256; i++) n += snprintf(text + n, sizeof text - (size_t)n, "%s0", i ? "," : "");
    snprintf(text + n, sizeof text - (size_t)n, "]\n");
    vm(text);
    CHECK_LACKS(msg, "the list has");
    CHECK_HAS(msg, "layer 0 is listed twice");
}

/* ---- the walk: sections, unknown keys ---- */

TEST(validate_unknown_keys) {
    EXPECT_ERR("model:\n  dims: 5\n", 2,
               "t.yaml:2:3: error: unknown key 'model.dims'; did you mean 'model.dim'?");
    EXPECT_ERR("dim: 5\n", 1, "t.yaml:1:1: error: unknown key 'dim'; did you mean 'model.dim'?");
    EXPECT_ERR("atention:\n  scale: 1\n", 1, "unknown key 'atention'; did you mean 'attention'?");
    EXPECT_ERR("train:\n  muon:\n    lrr: 1\n", 3,
               "t.yaml:3:5: error: unknown key 'train.muon.lrr'; did you mean 'train.muon.lr'?");
    EXPECT_ERR("attention: {window: {blocksize: 64}}\n", 1,
               "unknown key 'attention.window.blocksize'; did you mean 'attention.window.block_size'?");
    EXPECT_ERR("vocab: {szie: 5}\n", 1, "did you mean 'vocab.size'?");
    EXPECT_ERR("zzzzzzzzzz: 1\n", 1,
               "unknown key 'zzzzzzzzzz' (every key is listed in models/README.md)");
    EXPECT_ERR("model: {colour_scheme: red}\n", 1, "unknown key 'model.colour_scheme' (every key");
    CHECK_LACKS(msg, "did you mean");
    EXPECT_ERR("Model: {dim: 5}\n", 1, "unknown key 'Model'; did you mean 'model'?");
    EXPECT_ERR("extend: base.yaml\n", 1, "unknown key 'extend'; did you mean 'extends'?");
    /* Each unknown key is one error; known keys next to them still read. */
    CHECK(!vt("a1: 1\nmodel: {dim: 256, b2: 2}\nc3: 3\n"));
    CHECK_EQ_INT(nerr, 3);
    /* A key far longer than any path. */
    char text[600];
    memset(text, 'k', 400);
    snprintf(text + 400, sizeof text - 400, ": 1\n");
    EXPECT_ERR(text, 1, "unknown key 'kkkk");
}

TEST(validate_sections_null_and_scalar) {
    EXPECT_OK("model:\nvocab: ~\ntrain: null\nhead: {}\n");
    EXPECT_ERR("model: 5\n", 1, "t.yaml:1:8: error: model: expected a mapping of keys, found '5'");
    EXPECT_ERR("train:\n  muon: [1]\n", 2, "t.yaml:2:9: error: train.muon: expected a mapping of keys, found a sequence");
    EXPECT_ERR("attention: {rotary: fast}\n", 1, "attention.rotary: expected a mapping of keys, found 'fast'");
    EXPECT_ERR("train: \"x\"\n", 1, "train: expected a mapping of keys, found \"x\"");
    /* A key where a section is expected, and a section where a key is. */
    EXPECT_ERR("model: {dim: {a: 1}}\n", 1, "model.dim: expected an integer from 8 to 65536, found a mapping");
}

TEST(validate_extends_in_memory) {
    EXPECT_ERR("extends: other.yaml\n", 1,
               "t.yaml:1:1: error: extends: only a model file read from disk may extend another");
    EXPECT_ERR("model: {extends: x}\n", 1, "unknown key 'model.extends'");
}

/* Reader errors stop the rules: one mistake, one message. */
TEST(validate_reader_errors_skip_rules) {
    CHECK(!vm("model: {dim: abc}\nvocab: {eot: 60000}\n"));
    CHECK_EQ_INT(nerr, 1);
    CHECK_LACKS(msg, "EOT");
    CHECK(!vm("model: {dim: x, heads: y}\nfoo: 1\n"));
    CHECK_EQ_INT(nerr, 3);
}

/* ---- rules: sizes ---- */

TEST(rule_vocab_eot) {
    EXPECT_ERR("vocab:\n  size: 100\n  eot: 100\n", 3,
               "t.yaml:3:8: error: vocab.eot: the EOT id 100 is not below vocab.size 100");
    EXPECT_OK("vocab:\n  size: 100\n  eot: 99\n");
    CHECK_EQ_INT(spec.vocab.eot, 99);
    /* Only the size given: the size is to blame, at its line. */
    EXPECT_ERR("vocab:\n  size: 1000\n", 2, "vocab.size: the EOT id 50256 is not below vocab.size 1000");
    /* Only the eot given. */
    EXPECT_ERR("vocab: {eot: 60000}\n", 1, "vocab.eot: the EOT id 60000 is not below vocab.size 50257");
    EXPECT_OK("vocab: {eot: 0}\n");
}

TEST(rule_vocab_padded) {
    CHECK(vt("vocab: {size: 257, eot: 256, pad_multiple: 64}"));
    CHECK_EQ_INT(spec.vocab.padded, 320);
    CHECK(vt("vocab: {size: 256, eot: 0, pad_multiple: 64}"));
    CHECK_EQ_INT(spec.vocab.padded, 256);
    CHECK(vt("vocab: {size: 257, eot: 0, pad_multiple: 1}"));
    CHECK_EQ_INT(spec.vocab.padded, 257);
    CHECK(vt("vocab: {size: 65536, eot: 0, pad_multiple: 4096}"));
    CHECK_EQ_INT(spec.vocab.padded, 65536);
    CHECK(vt("vocab: {size: 2, eot: 1, pad_multiple: 4096}"));
    CHECK_EQ_INT(spec.vocab.padded, 4096);
}

TEST(rule_dims_divisible) {
    EXPECT_ERR("model:\n  dim: 1000\n  heads: 3\n", 2,
               "t.yaml:2:8: error: model.dim: model.dim 1000 is not divisible by model.heads 3; "
               "change one, or give model.head_dim");
    /* Only heads given: heads to blame. */
    EXPECT_ERR("model:\n  heads: 7\n", 2, "model.heads: model.dim 1024 is not divisible by model.heads 7");
    EXPECT_OK("model:\n  dim: 1024\n  heads: 16\n");
    CHECK_EQ_INT(spec.model.head_dim, 64);
}

TEST(rule_dims_heads_times_head_dim) {
    EXPECT_ERR("model:\n  dim: 1024\n  heads: 8\n  head_dim: 64\n", 4,
               "t.yaml:4:13: error: model.head_dim: model.heads x model.head_dim = 8 x 64 = 512, but "
               "model.dim is 1024; the attention width must equal dim");
    EXPECT_OK("model:\n  dim: 1024\n  heads: 16\n  head_dim: 64\n");
    CHECK_EQ_INT(spec.model.head_dim, 64);
    /* head_dim given rescues a dim that heads does not divide. */
    EXPECT_ERR("model: {dim: 1000, heads: 3, head_dim: 334}\n", 1, "3 x 334 = 1002, but model.dim is 1000");
}

TEST(rule_dims_head_dim_even) {
    EXPECT_ERR("model:\n  dim: 24\n  heads: 8\n", 2,
               "t.yaml:2:8: error: model.dim: head_dim 3 is odd; rotary needs pairs of dimensions");
    EXPECT_ERR("model: {dim: 24, heads: 8, head_dim: 3}\n", 1, "model.head_dim: head_dim 3 is odd");
    EXPECT_OK("model: {dim: 16, heads: 8}\nvalue_embeddings: {tables: 0}\n");
    CHECK_EQ_INT(spec.model.head_dim, 2);
}

/* The derived head_dim (dim / heads) must obey the range the key has when
 * written: 2 to 1024. */
TEST(rule_derived_head_dim_in_range) {
    EXPECT_OK("model: {layers: 1, dim: 4096, heads: 4}\nvalue_embeddings: {tables: 0}\n");
    EXPECT_ERR("model: {layers: 1, dim: 4096, heads: 2, head_dim: 2048}\nvalue_embeddings: {tables: 0}\n", 1,
               "model.head_dim: expected an integer from 2 to 1024");
    CHECK(!vm("model: {layers: 1, dim: 4096, heads: 2}\nvalue_embeddings: {tables: 0}\n"));
    CHECK_HAS(msg, "t.yaml:1:");
    CHECK_HAS(msg, "head_dim 2048");
    CHECK_HAS(msg, "model.head_dim");
    CHECK(!vm("model: {layers: 1, dim: 8192, heads: 1}\nvalue_embeddings: {tables: 0}\n"));
    CHECK_HAS(msg, "head_dim");
}

TEST(rule_dims_derived) {
    CHECK(vt("model: {dim: 512, heads: 4}"));
    CHECK_EQ_INT(spec.model.head_dim, 128);
    CHECK_EQ_INT(spec.model.mlp_hidden, 2048);
    CHECK_EQ_INT(spec.attn.rotary_pairs, 32);
    CHECK(vt("model: {dim: 512, heads: 8}"));
    CHECK_EQ_INT(spec.model.head_dim, 64);
    CHECK_EQ_INT(spec.attn.rotary_pairs, 16);
    CHECK(vt("model: {dim: 256, heads: 4, mlp_hidden: 100}"));
    CHECK_EQ_INT(spec.model.mlp_hidden, 100);
    CHECK(vt("model: {dim: 1024, heads: 16, head_dim: 64}\nattention: {rotary: {pairs: 0}}"));
    CHECK_EQ_INT(spec.attn.rotary_pairs, 0);
    /* head_dim 6: pairs = 6 / 4 = 1. */
    CHECK(vt("model: {dim: 48, heads: 8}\nvalue_embeddings: {tables: 0}"));
    CHECK_EQ_INT(spec.attn.rotary_pairs, 1);
}

/* ---- rules: layers ---- */

TEST(rule_off_layers) {
    EXPECT_ERR("attention:\n  off_layers:\n    - 3\n    - 16\n", 4,
               "t.yaml:4:7: error: attention.off_layers[1]: layer 16 is out of range; model.layers is "
               "16, so layers run from 0 to 15");
    EXPECT_ERR("attention: {off_layers: [-1]}\n", 1, "attention.off_layers[0]: layer -1 is out of range");
    EXPECT_ERR("attention:\n  off_layers: [3, 5, 3]\n", 2,
               "t.yaml:2:22: error: attention.off_layers[2]: layer 3 is listed twice");
    EXPECT_OK("attention: {off_layers: [5, 12]}\n");
    for (int i = 0; i < 16; i++) CHECK(spec.model.attention[i] == (i != 5 && i != 12));
    /* Both bad items are reported. */
    CHECK(!vt("attention: {off_layers: [16, 17]}\n"));
    CHECK_EQ_INT(nerr, 2);
}

TEST(rule_rotary_pairs) {
    EXPECT_ERR("attention:\n  rotary:\n    pairs: 65\n", 3,
               "t.yaml:3:12: error: attention.rotary.pairs: 65 pairs do not fit in head_dim 128 (at "
               "most 64)");
    EXPECT_OK("attention: {rotary: {pairs: 64}}\n");
    CHECK_EQ_INT(spec.attn.rotary_pairs, 64);
    EXPECT_ERR("model: {dim: 512, heads: 8}\nattention: {rotary: {pairs: 33}}\n", 2,
               "33 pairs do not fit in head_dim 64 (at most 32)");
}

TEST(rule_window_multiples) {
    /* max_tokens need not be whole blocks: record 7's linear 1728 is 13.5. */
    EXPECT_OK("attention:\n  window:\n    max_tokens: 1728\n    schedule: linear\n");
    EXPECT_OK("attention: {window: {max_tokens: 128}}\n");
    /* block_size alone: it is to blame for both sequence lengths. */
    CHECK(!vm("attention:\n  window:\n    block_size: 100\n"));
    CHECK_HAS(msg, "attention.window.block_size: tokens_per_rank 65536 is not a multiple of the "
                   "attention block size 100");
    CHECK_HAS(msg, "attention.window.block_size: val tokens_per_rank 262144 is not a multiple");
    CHECK_EQ_INT(nerr, 2);
    EXPECT_ERR("train:\n  tokens_per_rank: 65600\n", 2,
               "t.yaml:2:20: error: train.tokens_per_rank: tokens_per_rank 65600 is not a multiple of "
               "the attention block size 128");
    EXPECT_OK("attention: {window: {max_tokens: 128}}\ntrain: {tokens_per_rank: 128}\n");
    EXPECT_ERR("train:\n  val:\n    tokens_per_rank: 262208\n", 3,
               "train.val.tokens_per_rank: val tokens_per_rank 262208 is not a multiple of the "
               "attention block size 128");
    EXPECT_OK("train: {ranks: 1, val: {tokens_per_rank: 128, tokens: 128}}\n");
    EXPECT_OK("attention: {window: {block_size: 1, max_tokens: 1}}\ntrain: {tokens_per_rank: 1}\n");
}

/* A window longer than its sequence would make the schedule do nothing:
 * refused at the window, or at the sequence when only it was written. */
TEST(rule_window_fits_the_sequence) {
    EXPECT_OK("attention: {window: {max_tokens: 65536}}\n");
    EXPECT_ERR("attention:\n  window:\n    max_tokens: 65664\n", 3,
               "t.yaml:3:17: error: attention.window.max_tokens: a long window of 65664 tokens is longer "
               "than a training sequence (train.tokens_per_rank = 65536)");
    EXPECT_ERR("train:\n  tokens_per_rank: 2048\n", 2,
               "t.yaml:2:20: error: train.tokens_per_rank: a long window of 3456 tokens is longer than a "
               "training sequence (train.tokens_per_rank = 2048), so the window schedule would do "
               "nothing; use at most 2048");
    EXPECT_OK("attention: {window: {val_blocks: 2048}}\n");
    EXPECT_ERR("attention: {window: {val_blocks: 2049}}\n", 1,
               "attention.window.val_blocks: 2049 blocks of 128 tokens are longer than a validation "
               "sequence (train.val.tokens_per_rank = 262144); use at most 2048 blocks");
}

TEST(rule_long_layers) {
    EXPECT_ERR("attention:\n  window:\n    long_layers: [0, 16]\n", 3,
               "t.yaml:3:22: error: attention.window.long_layers[1]: layer 16 is out of range");
    EXPECT_ERR("attention: {window: {long_layers: [4, 4]}}\n", 1,
               "attention.window.long_layers[1]: layer 4 is listed twice");
    EXPECT_ERR("attention:\n  off_layers: [7]\n  window: {long_layers: [0, 7]}\n", 3,
               "t.yaml:3:29: error: attention.window.long_layers[1]: layer 7 has no attention "
               "(attention.off_layers), so it has no window");
    EXPECT_OK("attention: {window: {long_layers: [0, 15]}}\n");
    for (int i = 0; i < 16; i++) CHECK(spec.attn.window.long_layer[i] == (i == 0 || i == 15));
    EXPECT_OK("attention: {window: {long_layers: []}}\n");
    for (int i = 0; i < 16; i++) CHECK(!spec.attn.window.long_layer[i]);
    /* The default: every attention layer. */
    EXPECT_OK("attention: {off_layers: [3, 9]}\nvalue_embeddings: {tables: 2}\n");
    for (int i = 0; i < 16; i++) CHECK(spec.attn.window.long_layer[i] == (i != 3 && i != 9));
    CHECK(!spec.attn.window.long_layer[16]);
}

/* ---- rules: value embeddings ---- */

TEST(rule_value_embeddings_default_placement) {
    CHECK(vt("model: {layers: 6}\nvalue_embeddings: {tables: 2}\n"));
    static const int six[6] = {0, 1, -1, -1, 0, 1};
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(spec.ve.layer_table[i], six[i]);
    CHECK(vt("model: {layers: 6}\n")); /* 3 tables fill all 6 layers */
    static const int full[6] = {0, 1, 2, 0, 1, 2};
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(spec.ve.layer_table[i], full[i]);
    CHECK(vt("value_embeddings: {tables: 0}\n"));
    for (int i = 0; i < 16; i++) CHECK_EQ_INT(spec.ve.layer_table[i], -1);
    CHECK(vt("value_embeddings: {tables: 5}\n"));
    static const int five[16] = {0, 1, 2, 3, 4, -1, -1, -1, -1, -1, -1, 0, 1, 2, 3, 4};
    for (int i = 0; i < 16; i++) CHECK_EQ_INT(spec.ve.layer_table[i], five[i]);
    /* Too few layers for the default: blame the tables, at their line. */
    EXPECT_ERR("model: {layers: 6}\nvalue_embeddings:\n  tables: 4\n", 3,
               "t.yaml:3:11: error: value_embeddings.tables: the default placement of 4 tables needs 8 "
               "layers (first 4 and last 4), but model.layers is 6; give value_embeddings.layers");
    /* ... and when the table count is the default, the file is named. */
    EXPECT_ERR("model: {layers: 5}\n", 0,
               "value_embeddings.tables (default): the default placement of 3 tables needs 6 layers");
    /* A layer without attention cannot take the default table. */
    EXPECT_ERR("attention: {off_layers: [14]}\nvalue_embeddings: {tables: 3}\n", 2,
               "value_embeddings.tables: the default placement puts table 1 on layer 14, which has no "
               "attention; give value_embeddings.layers");
    EXPECT_OK("attention: {off_layers: [3]}\n");
}

TEST(rule_value_embeddings_given) {
    EXPECT_ERR("model: {layers: 4}\nvalue_embeddings:\n  tables: 1\n  layers: [0, null, null]\n", 4,
               "t.yaml:4:11: error: value_embeddings.layers: the list has 3 entries; it needs one per "
               "layer (model.layers is 4)");
    EXPECT_ERR("model: {layers: 4}\nvalue_embeddings:\n  tables: 2\n  layers: [0, 1, 2, null]\n", 4,
               "t.yaml:4:18: error: value_embeddings.layers[2]: table 2 does not exist: "
               "value_embeddings.tables is 2, so tables run from 0 to 1 (or null for none)");
    EXPECT_ERR("model: {layers: 4}\nvalue_embeddings: {tables: 2, layers: [0, 1, -2, null]}\n", 2,
               "t.yaml:2:46: error: value_embeddings.layers: expected a table index (0 or more) or "
               "null, found '-2'");
    EXPECT_ERR("model: {layers: 4}\nattention: {off_layers: [1]}\n"
               "value_embeddings: {tables: 2, layers: [0, 1, 1, null]}\n", 3,
               "value_embeddings.layers[1]: layer 1 has no attention, so it cannot take a value "
               "embedding; use null");
    EXPECT_ERR("model: {layers: 4}\nvalue_embeddings:\n  tables: 3\n  layers: [0, 2, 0, 2]\n", 4,
               "t.yaml:4:11: error: value_embeddings.layers: table 1 is used by no layer; lower "
               "value_embeddings.tables or use it");
    EXPECT_OK("model: {layers: 4}\nvalue_embeddings: {tables: 2, layers: [1, null, 0, 1]}\n");
    static const int want[4] = {1, -1, 0, 1};
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(spec.ve.layer_table[i], want[i]);
    EXPECT_OK("model: {layers: 4}\nvalue_embeddings: {tables: 0, layers: [null, null, ~, null]}\n");
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(spec.ve.layer_table[i], -1);
    EXPECT_ERR("model: {layers: 2}\nvalue_embeddings: {tables: 0, layers: [0, null]}\n", 2,
               "table 0 does not exist: value_embeddings.tables is 0");
    /* Off layers with null are fine; the tables on attention layers. */
    EXPECT_OK("model: {layers: 4}\nattention: {off_layers: [1]}\n"
              "value_embeddings: {tables: 2, layers: [0, null, 1, 0]}\n");
}

/* "No table" is written null; -1 is not a table index. */
TEST(rule_value_embeddings_minus_one) {
    EXPECT_ERR("model: {layers: 4}\nvalue_embeddings: {tables: 2, layers: [0, 1, -1, null]}\n", 2,
               "t.yaml:2:46: error: value_embeddings.layers: expected a table index (0 or more) or "
               "null, found '-1'");
}

/* ---- rules: skips ---- */

TEST(rule_skips) {
    EXPECT_ERR("skips:\n  pairs: [[6, 9], [4, 16]]\n", 2,
               "t.yaml:2:19: error: skips.pairs[1]: [4, 16] names a layer outside 0..15");
    EXPECT_ERR("skips: {pairs: [[-1, 3]]}\n", 1, "skips.pairs[0]: [-1, 3] names a layer outside 0..15");
    EXPECT_ERR("skips: {pairs: [[9, 6]]}\n", 1,
               "skips.pairs[0]: [9, 6] goes to an earlier or the same layer; a skip carries the output "
               "of block `from` forward to a later block");
    EXPECT_ERR("skips: {pairs: [[6, 6]]}\n", 1, "skips.pairs[0]: [6, 6] goes to an earlier or the same layer");
    EXPECT_ERR("skips:\n  pairs:\n    - [6, 9]\n    - [6, 10]\n", 4,
               "t.yaml:4:7: error: skips.pairs[1]: layer 6 is already the source of a skip; its one "
               "skip weight cannot serve two");
    EXPECT_OK("skips: {pairs: [[0, 15], [1, 15], [2, 3]]}\n");
    CHECK_EQ_INT(spec.skips.count, 3);
    CHECK_EQ_INT(spec.skips.from[0], 0);
    CHECK_EQ_INT(spec.skips.to[0], 15);
    CHECK_EQ_INT(spec.skips.from[2], 2);
    CHECK_EQ_INT(spec.skips.to[2], 3);
    EXPECT_OK("skips: {pairs: [], init: -2.5}\n");
    CHECK_EQ_INT(spec.skips.count, 0);
    CHECK_NEAR(spec.skips.init, -2.5, 0);
}

/* ---- rules: head and training ---- */

TEST(rule_tied_head) {
    EXPECT_ERR("head:\n  tied: true\n", 2,
               "t.yaml:2:9: error: head.tied: a tied head shares x00, whose rows must be padded like "
               "the head's; set vocab.pad_embeddings: true");
    EXPECT_OK("head: {tied: true}\nvocab: {pad_embeddings: true}\n");
    CHECK(spec.head.tied && spec.vocab.pad_embeddings);
    EXPECT_OK("head: {tied: false}\n");
}

TEST(rule_ns_coefficients) {
    EXPECT_ERR("train:\n  muon:\n    ns_coefficients: []\n", 3,
               "t.yaml:3:22: error: train.muon.ns_coefficients: 0 triples given; Newton-Schulz needs 1 "
               "to 16");
    char text[2048];
    int n = snprintf(text, sizeof text, "train: {muon: {ns_coefficients: [");
    for (int i = 0; i < 17; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s[%d, -1.5, 0.25]", i ? ", " : "", i);
    snprintf(text + n, sizeof text - (size_t)n, "]}}\n");
    EXPECT_ERR(text, 1, "17 triples given; Newton-Schulz needs 1 to 16");
    n = snprintf(text, sizeof text, "train: {muon: {ns_coefficients: [");
    for (int i = 0; i < 16; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s[%d, -1.5, 0.25]", i ? ", " : "", i);
    snprintf(text + n, sizeof text - (size_t)n, "]}}\n");
    EXPECT_OK(text);
    CHECK_EQ_INT(spec.train.muon.ns_steps, 16);
    CHECK_NEAR(spec.train.muon.ns_coef[15][0], 15, 0);
    CHECK_NEAR(spec.train.muon.ns_coef[15][1], -1.5, 0);
    CHECK_NEAR(spec.train.muon.ns_coef[15][2], 0.25, 0);
    EXPECT_OK("train: {muon: {ns_coefficients: [[3, -3.2, 1.2]]}}\n");
    CHECK_EQ_INT(spec.train.muon.ns_steps, 1);
    CHECK_NEAR(spec.train.muon.ns_coef[0][1], -3.2, 0);
    CHECK_NEAR(spec.train.muon.ns_coef[1][0], 0, 0);
}

TEST(rule_val_tokens_multiple) {
    EXPECT_ERR("train:\n  val:\n    tokens: 10485761\n", 3,
               "t.yaml:3:13: error: train.val.tokens: val.tokens 10485761 is not a multiple of ranks x "
               "val.tokens_per_rank = 8 x 262144 = 2097152");
    EXPECT_OK("train: {val: {tokens: 2097152}}\n");
    EXPECT_OK("train: {ranks: 1, val: {tokens: 262144}}\n");
    EXPECT_ERR("train: {ranks: 2, val: {tokens: 8000, tokens_per_rank: 1024}}\n", 1,
               "train.val.tokens: val.tokens 8000 is not a multiple of ranks x val.tokens_per_rank = 2 x 1024 = 2048");
}

/* val.tokens is defaulted and ranks is written: the rule should point at
 * what the user wrote (rules.c: "the one written in the file if only one of
 * the keys involved was"). Open bug: check_validation always blames
 * train.val.tokens, here a default with no position. */
TEST(rule_val_tokens_blames_written_key) {
    EXPECT_ERR("# 3 ranks\ntrain:\n  ranks: 3\n", 3, "is not a multiple of ranks x val.tokens_per_rank");
}

/* ---- rules: memory ---- */

/* Wide layers on short sequences: the weights, not the activations, fill
 * the memory, so the rule blames model.dim (line 3). */
#define MEM_TEXT                                                                    \
    "model:\n  layers: %d\n  dim: 16384\n  heads: 16\n"                            \
    "train: {tokens_per_rank: 128, val: {tokens_per_rank: 128, tokens: 1024}}\n"            \
    "attention: {window: {max_tokens: 128}}\n"

TEST(rule_memory_limit) {
    /* Width 16384, growing depth: find the first depth over the limit. */
    char text[256];
    int lo = 6, hi = 256; /* lo passes, hi fails */
    snprintf(text, sizeof text, MEM_TEXT, lo);
    CHECK(vt(text));
    snprintf(text, sizeof text, MEM_TEXT, hi);
    CHECK(!vt(text));
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        snprintf(text, sizeof text, MEM_TEXT, mid);
        if (vt(text)) lo = mid;
        else hi = mid;
    }
    ModelStats st;
    snprintf(text, sizeof text, MEM_TEXT, lo);
    CHECK(vt(text));
    stats_compute(&spec, &st);
    CHECK(st.bytes_total <= SPEC_MAX_GPU_BYTES);
    CHECK(st.bytes_total > SPEC_MAX_GPU_BYTES * 9 / 10);
    snprintf(text, sizeof text, MEM_TEXT, hi);
    CHECK(!vm(text));
    CHECK_EQ_INT(nerr, 1);
    /* The rule runs last, on a complete spec: its numbers are the report's. */
    stats_compute(&spec, &st);
    CHECK(st.bytes_total > SPEC_MAX_GPU_BYTES);
    CHECK(st.bytes_params + st.bytes_grads + st.bytes_optim > st.bytes_activations);
    CHECK_HAS(msg, "t.yaml:3:8: error: model.dim: this model needs about ");
    CHECK_HAS(msg, "GiB per GPU (parameters ");
    CHECK_HAS(msg, "the limit is 1024 GiB");
    char gib[64];
    snprintf(gib, sizeof gib, "needs about %.0f GiB", st.bytes_total / 1073741824.0);
    CHECK_HAS(msg, gib);
    /* Activations to blame: the longest sequence on the default model. */
    CHECK(!vm("train:\n  tokens_per_rank: 16777216\n"));
    stats_compute(&spec, &st);
    CHECK(st.bytes_activations > st.bytes_params + st.bytes_grads + st.bytes_optim);
    CHECK_HAS(msg, "t.yaml:2:20: error: train.tokens_per_rank: this model needs about");
}

/* ---- findings: keys given twice, terminal control in messages ---- */

/* A key given twice, once nested and once as a dotted key, must not pass
 * with the last one silently winning (dotted keys are refused). */
TEST(validate_key_given_twice_dotted) {
    CHECK(!vm("attention:\n  rotary: {base: 5}\nattention.rotary.base: 7\n"));
    CHECK_HAS(msg, "t.yaml:3:1: error: 'attention.rotary.base': a key may not contain '.'");
    CHECK(!vm("model:\n  dim: 128\nmodel.dim: 256\n"));
    CHECK_HAS(msg, "t.yaml:3:1: error: 'model.dim': a key may not contain '.'");
    /* Alone, too, and nested; a list key given twice would leak its list. */
    CHECK(!vm("skips: {pairs: []}\n\"skips.pairs\": []\n"));
    CHECK(!vm("attention: {\"rotary.base\": 5}\n"));
    CHECK_HAS(msg, "t.yaml:1:13: error: 'rotary.base': a key may not contain '.'");
}

/* Messages quote what the file says; a key or value must not carry
 * terminal control bytes into them (diag.c sanitises the quoted line for
 * the same reason). Open bug: unknown_key prints the key as it is, and
 * found() in validate.c replaces bytes < 0x20 but not 0x7f. */
TEST(validate_messages_have_no_control_bytes) {
    const char *texts[] = {"\"a\\e[31mred\": 1\n", "model: {\"x\\e]0;title\\a\": 1}\n",
                           "attention: {norm: \"q\\x7fkv\"}\n"};
    for (int t = 0; t < 3; t++) {
        CHECK(!vm(texts[t]));
        for (const char *p = msg; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c < 0x20 && c != '\n') || c == 0x7f) {
                char m[128];
                snprintf(m, sizeof m, "byte 0x%02x in the message of case %d", c, t);
                test_fail(__FILE__, __LINE__, m);
                break;
            }
        }
    }
}

/* ---- schema lookups ---- */

TEST(schema_suggest_and_sections) {
    CHECK(!strcmp(schema_suggest("model.dims") ? schema_suggest("model.dims") : "", "model.dim"));
    const struct { const char *in, *out; } cases[] = {
        {"model.dims", "model.dim"},
        {"dim", "model.dim"},
        {"atention", "attention"},
        {"train.muon.lrr", "train.muon.lr"},
        {"vocab.szie", "vocab.size"},
        {"attention.window.blocksize", "attention.window.block_size"},
        {"trian", "train"},
        {"model.layer", "model.layers"},
        {"head.softcapp", "head.softcap"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *got = schema_suggest(cases[i].in);
        if (!got || strcmp(got, cases[i].out)) {
            char m[256];
            snprintf(m, sizeof m, "schema_suggest(%s) = %s, want %s", cases[i].in, got ? got : "NULL",
                     cases[i].out);
            test_fail(__FILE__, __LINE__, m);
        }
    }
    CHECK(schema_suggest("zzzzzzzzzz") == NULL);
    CHECK(schema_suggest("model.colour_scheme") == NULL);
    char longname[200];
    memset(longname, 'a', 199);
    longname[199] = '\0';
    CHECK(schema_suggest(longname) == NULL);

    CHECK(schema_is_section("model"));
    CHECK(schema_is_section("attention"));
    CHECK(schema_is_section("attention.rotary"));
    CHECK(schema_is_section("attention.window"));
    CHECK(schema_is_section("train.muon"));
    CHECK(schema_is_section("train.data"));
    CHECK(schema_is_section("train.val"));
    CHECK(!schema_is_section("model.dim"));
    CHECK(!schema_is_section("description"));
    CHECK(!schema_is_section("mod"));
    CHECK(!schema_is_section("attention.rot"));
    CHECK(!schema_is_section(""));
    CHECK(!schema_is_section("model."));
    CHECK(!schema_is_section("zzz"));

    CHECK(schema_find("model.dim") && schema_find("model.dim")->type == KEY_INT);
    CHECK(schema_find("model") == NULL);
    CHECK_EQ_INT(schema_index(schema_find("description")), 0);
    /* Every path is unique, and every key's sections are sections. */
    for (int i = 0; i < schema_nkeys; i++) {
        CHECK(schema_find(schema_keys[i].path) == &schema_keys[i]);
        CHECK(!schema_is_section(schema_keys[i].path));
        char sec[128];
        const char *p = schema_keys[i].path;
        for (const char *dot = strchr(p, '.'); dot; dot = strchr(dot + 1, '.')) {
            snprintf(sec, sizeof sec, "%.*s", (int)(dot - p), p);
            if (!schema_is_section(sec)) test_fail(__FILE__, __LINE__, sec);
        }
    }
}

/* ---- rules broken by a --set ---- */

/* spec_load with the overrides, its messages captured into `msg`. */
static bool load_msgs(const char *path, const char *const *sets, int nsets) {
    static ModelSpec s;
    diag_reset();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    diag_set_stream(f);
    bool ok = spec_load(path, sets, nsets, &s);
    nerr = diag_error_count();
    diag_set_stream(NULL);
    fclose(f);
    snprintf(msg, sizeof msg, "%s", buf ? buf : "");
    free(buf);
    diag_reset();
    return ok;
}

/* A rule that a --set breaks is reported at the --set, the change the user
 * just made, with a note at the file's side of the rule; a value that
 * --set gave itself, or a default, keeps its own place or label. */
TEST(validate_rule_blames_the_set) {
    tmp_setup("rules");
    FILE *f = fopen(tmp_path("m.yaml"), "w");
    fputs("model: {layers: 6}\n"
          "attention:\n"
          "  window: {block_size: 32, max_tokens: 256}\n"
          "value_embeddings: {tables: 2}\n"
          "skips: {pairs: [[1, 4]]}\n"
          "train:\n"
          "  tokens_per_rank: 512\n"
          "  val: {tokens: 8192, tokens_per_rank: 1024}\n", f);
    fclose(f);
    char path[PATH_MAX], want[PATH_MAX + 128];
    snprintf(path, sizeof path, "%s", tmp_path("m.yaml"));
    CHECK(load_msgs(path, NULL, 0));

    const char *block[] = {"attention.window.block_size=1024"};
    CHECK(!load_msgs(path, block, 1));
    CHECK_EQ_INT(nerr, 1);
    CHECK_HAS(msg, "--set #1:1:29: error: attention.window.block_size: tokens_per_rank 512 is not "
                   "a multiple of the attention block size 1024\n"
                   "     1 | attention.window.block_size=1024\n");
    snprintf(want, sizeof want, "%s:7:20: note: train.tokens_per_rank is set here\n", path);
    CHECK_HAS(msg, want);

    /* Both keys from --set: the first of the rule's keys, no note. */
    const char *both[] = {"train.tokens_per_rank=500", "attention.window.block_size=64"};
    CHECK(!load_msgs(path, both, 2));
    CHECK_HAS(msg, "--set #1:1:23: error: train.tokens_per_rank: tokens_per_rank 500 is not a "
                   "multiple of the attention block size 64\n");
    CHECK_LACKS(msg, "note:");

    /* A list item measured against model.layers. */
    const char *layers[] = {"model.layers=4"};
    CHECK(!load_msgs(path, layers, 1));
    CHECK_EQ_INT(nerr, 1);
    CHECK_HAS(msg, "--set #1:1:14: error: skips.pairs[0]: [1, 4] names a layer outside 0..3\n");
    snprintf(want, sizeof want, "%s:5:17: note: skips.pairs[0] is set here\n", path);
    CHECK_HAS(msg, want);

    /* The item itself from --set: the error stays at it. */
    const char *item[] = {"model.layers=4", "skips.pairs=[[1, 5]]"};
    CHECK(!load_msgs(path, item, 2));
    CHECK_HAS(msg, "--set #2:1:14: error: skips.pairs[0]: [1, 5] names a layer outside 0..3\n");
    CHECK_LACKS(msg, "note:");

    /* A defaulted key keeps "(default)" and has no place to note. */
    f = fopen(tmp_path("d.yaml"), "w");
    fputs("model: {layers: 6}\n", f);
    fclose(f);
    CHECK(!load_msgs(tmp_path("d.yaml"), layers, 1));
    CHECK_HAS(msg, "--set #1:1:14: error: value_embeddings.tables (default): the default "
                   "placement of 3 tables needs 6 layers");
    CHECK_LACKS(msg, "note:");

    /* No --set: the blame is the file's, as before. */
    f = fopen(tmp_path("b.yaml"), "w");
    fputs("attention: {window: {block_size: 1024}}\ntrain: {tokens_per_rank: 512}\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s", tmp_path("b.yaml"));
    CHECK(!load_msgs(path, NULL, 0));
    snprintf(want, sizeof want, "%s:2:26: error: train.tokens_per_rank: tokens_per_rank 512", path);
    CHECK_HAS(msg, want);
    CHECK_LACKS(msg, "note:");
    tmp_cleanup();
}

/* ---- whole files: extends and --set give the same spec ---- */

static char vtmp[PATH_MAX];

static const char *vtmp_write(const char *name, const char *text) {
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", vtmp, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        test_fail(__FILE__, __LINE__, "cannot write a temporary file");
        return path;
    }
    fputs(text, f);
    fclose(f);
    return path;
}

static bool load_quiet(const char *path, const char *const *sets, int nsets, ModelSpec *out) {
    diag_reset();
    diag_set_stream(NULL);
    bool ok = spec_load(path, sets, nsets, out);
    diag_reset();
    return ok;
}

static void clear_text(ModelSpec *s) {
    memset(s->source, 0, sizeof s->source);
    memset(s->description, 0, sizeof s->description);
}

TEST(spec_load_extends_and_set_equal_the_file) {
    char r8[PATH_MAX];
    if (!realpath("models/r8-medium.yaml", r8)) {
        test_fail(__FILE__, __LINE__, "run the unit tests from the repository root");
        return;
    }
    snprintf(vtmp, sizeof vtmp, "/tmp/gptc-unit-XXXXXX");
    if (!mkdtemp(vtmp)) {
        test_fail(__FILE__, __LINE__, "mkdtemp failed");
        return;
    }
    static ModelSpec a, b, c;
    CHECK(load_quiet(r8, NULL, 0, &a));
    CHECK(!strcmp(a.description, "modded-nanogpt GPT-2 Medium record 8"));
    CHECK_EQ_INT(a.train.steps, 5960);
    char text[PATH_MAX + 256];
    snprintf(text, sizeof text, "extends: \"%s\"\n", r8);
    const char *child = vtmp_write("child.yaml", text);
    CHECK(load_quiet(child, NULL, 0, &b));
    CHECK(!strcmp(b.description, a.description));
    CHECK(strcmp(b.source, a.source));
    clear_text(&a);
    clear_text(&b);
    CHECK(!memcmp(&a, &b, sizeof a));

    /* --set of values equals writing them in a child file. */
    const char *sets[] = {"train.steps=1000", "attention.window.long_layers=[0, 15]",
                          "skips.pairs.0=[5, 12]", "head.softcap=sigmoid"};
    CHECK(load_quiet(r8, sets, 4, &b));
    CHECK_EQ_INT(b.train.steps, 1000);
    CHECK_EQ_INT(b.skips.from[0], 5);
    snprintf(text, sizeof text,
             "extends: \"%s\"\n"
             "train: {steps: 1000}\n"
             "attention: {window: {long_layers: [0, 15]}}\n"
             "skips: {pairs: [[5, 12], [4, 10], [2, 11]]}\n"
             "head: {softcap: sigmoid}\n",
             r8);
    child = vtmp_write("set.yaml", text);
    CHECK(load_quiet(child, NULL, 0, &c));
    clear_text(&b);
    clear_text(&c);
    CHECK(!memcmp(&b, &c, sizeof b));
    CHECK(memcmp(&a, &b, sizeof a)); /* and they differ from the recipe */

    /* Errors in a --set value point into the --set text. */
    const char *bad[] = {"train.steps=2", "model.dim=abc"};
    diag_reset();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    diag_set_stream(f);
    CHECK(!spec_load(r8, bad, 2, &b));
    diag_set_stream(NULL);
    fclose(f);
    CHECK_HAS(buf, "--set #2:1:11: error: model.dim: expected an integer from 8 to 65536, found 'abc'");
    CHECK_HAS(buf, "     1 | model.dim=abc\n       |           ^\n");
    free(buf);
    /* An unknown key made by --set is reported at the --set. */
    const char *typo[] = {"model.dimm=5"};
    f = open_memstream(&buf, &len);
    diag_set_stream(f);
    CHECK(!spec_load(r8, typo, 1, &b));
    diag_set_stream(NULL);
    fclose(f);
    CHECK_HAS(buf, "--set #1:1:1: error: unknown key 'model.dimm'; did you mean 'model.dim'?");
    free(buf);
    /* A missing file. */
    snprintf(text, sizeof text, "%s/none.yaml", vtmp);
    CHECK(!load_quiet(text, NULL, 0, &b));
    diag_reset();

    snprintf(text, sizeof text, "%s/child.yaml", vtmp);
    unlink(text);
    snprintf(text, sizeof text, "%s/set.yaml", vtmp);
    unlink(text);
    rmdir(vtmp);
}
