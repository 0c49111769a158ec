/*
 * test_report.c: the schedules of spec.c, the parameter list of params.c and
 * the report of report.c, checked against the numbers of the reference
 * recipe (docs/recipe.md, whose sections are named here): parameter totals
 * of records 8, 9 and 10 ('Dimensions and parameter counts'), state_dict
 * names and order ('Parameter names and order'), the window transition
 * table ('Window schedule'), the learning-rate and momentum schedules
 * ('Schedules'), and the report's text and JSON. The specs are built by
 * hand, so these tests need no YAML.
 */
#include <stdlib.h>

#include "compiler/plan/params.h"
#include "compiler/report/report.h"
#include "compiler/lang/spec.h"
#include "tests/unit/test.h"

/* Record 8 ('Dimensions and parameter counts'): 16 layers of 1024, layer 7
 * without attention, 3 value tables shared 012...012, U-net skips 6->9,
 * 4->10, 2->11. */
static void r8(ModelSpec *s) {
    memset(s, 0, sizeof *s);
    snprintf(s->source, sizeof s->source, "models/r8.yaml");
    snprintf(s->description, sizeof s->description, "record 8");
    s->vocab = (SpecVocab){.size = 50257, .eot = 50256, .pad_multiple = 128,
                           .pad_embeddings = false, .padded = 50304};
    SpecModel *m = &s->model;
    *m = (SpecModel){.layers = 16, .dim = 1024, .heads = 8, .head_dim = 128,
                     .mlp_hidden = 4096, .activation = ACT_RELU2};
    for (int i = 0; i < 16; i++) m->attention[i] = i != 7;
    SpecWindow *w = &s->attn.window;
    w->block_size = 128;
    w->schedule = WINDOW_CUBIC;
    w->max_tokens = 3456;
    w->long_layer[0] = w->long_layer[4] = w->long_layer[11] = w->long_layer[15] = true;
    s->attn.norm = ATTN_NORM_QKV;
    s->attn.scale = 0.12;
    s->ve.tables = 3;
    for (int i = 0; i < 16; i++) s->ve.layer_table[i] = -1;
    for (int k = 0; k < 3; k++) s->ve.layer_table[k] = s->ve.layer_table[13 + k] = k;
    s->x0.tables = 1;
    s->skips.count = 3;
    int from[3] = {6, 4, 2}, to[3] = {9, 10, 11};
    for (int k = 0; k < 3; k++) {
        s->skips.from[k] = from[k];
        s->skips.to[k] = to[k];
    }
    s->head.softcap = SOFTCAP_ISRU;
    s->dtypes = (SpecDtypes){.matrices = DTYPE_BF16, .embeddings = DTYPE_BF16,
                             .head = DTYPE_FP32, .scalars = DTYPE_FP32,
                             .muon_master = MASTER_SPLIT16};
    SpecTrain *t = &s->train;
    t->ranks = 8;
    t->tokens_per_rank = 65536;
    t->steps = 5960;
    t->cooldown_frac = 0.7;
    t->muon.momentum_start = 0.85;
    t->muon.momentum_end = 0.95;
    t->muon.momentum_warmup_steps = 300;
}

/* Record 9 ('Records 9 and 10'): five value tables on layers 0-4 and 11-15. */
static void r9(ModelSpec *s) {
    r8(s);
    s->ve.tables = 5;
    for (int i = 0; i < 16; i++) s->ve.layer_table[i] = -1;
    for (int k = 0; k < 5; k++) s->ve.layer_table[k] = s->ve.layer_table[11 + k] = k;
    s->train.steps = 5820;
}

/* Record 10: record 9 plus a second input table (x01). */
static void r10(ModelSpec *s) {
    r9(s);
    s->x0.tables = 2;
    s->train.steps = 5690;
}

static int64_t total_params(const ModelSpec *s) {
    ParamTensor p[PARAMS_MAX];
    int n = params_list(s, p);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += p[i].numel;
    return total;
}

/* Runs report_text or report_json into a string the caller frees. */
static char *capture(void (*report)(FILE *, const ModelSpec *), const ModelSpec *s) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report(f, s);
    fclose(f);
    return buf;
}

/* Enough of a JSON check for these tests: brackets balance and nest outside
 * strings, and strings hold no raw control characters and end. */
static bool json_balanced(const char *j) {
    char stack[64];
    int depth = 0;
    bool in_str = false;
    for (const char *c = j; *c; c++) {
        if (in_str) {
            if ((unsigned char)*c < 0x20) return false;
            if (*c == '\\') {
                if (!c[1]) return false;
                c++;
            } else if (*c == '"') {
                in_str = false;
            }
        } else if (*c == '"') {
            in_str = true;
        } else if (*c == '{' || *c == '[') {
            if (depth == (int)sizeof stack) return false;
            stack[depth++] = *c == '{' ? '}' : ']';
        } else if (*c == '}' || *c == ']') {
            if (depth == 0 || stack[--depth] != *c) return false;
        }
    }
    return !in_str && depth == 0;
}

static int widest_line(const char *t) {
    int width = 0, widest = 0;
    for (const char *c = t; *c; c++) {
        width = *c == '\n' ? 0 : width + 1;
        if (width > widest) widest = width;
    }
    return widest;
}

TEST(params_record_totals) {
    ModelSpec s;
    r8(&s);
    CHECK_EQ_INT(total_params(&s), 454496336);
    r9(&s);
    CHECK_EQ_INT(total_params(&s), 557422672);
    r10(&s);
    CHECK_EQ_INT(total_params(&s), 608885856);
}

TEST(params_r8_groups) {
    ModelSpec s;
    ModelStats st;
    r8(&s);
    stats_compute(&s, &st);
    CHECK_EQ_INT(st.params_total, 454496336);
    CHECK_EQ_INT(st.params_group[GROUP_HEAD], 50304 * 1024);
    CHECK_EQ_INT(st.params_group[GROUP_SCALARS], 80);
    CHECK_EQ_INT(st.params_group[GROUP_INPUT_EMBED], 50257 * 1024);
    CHECK_EQ_INT(st.params_group[GROUP_VALUE_EMBED], 3 * 50257 * 1024);
    CHECK_EQ_INT(st.params_group[GROUP_ATTN] + st.params_group[GROUP_MLP], 197132288);
    CHECK(strcmp(params_group_name(GROUP_VALUE_EMBED), "value_embed") == 0);
}

TEST(scalars_length) {
    ModelSpec s;
    r8(&s);
    CHECK_EQ_INT(spec_scalars_len(&s), 80);
    s.x0.tables = 2;
    CHECK_EQ_INT(spec_scalars_len(&s), 96);
    s.x0.tables = 5;
    CHECK_EQ_INT(spec_scalars_len(&s), 144);
}

TEST(params_r10_names_and_order) {
    ModelSpec s;
    ParamTensor p[PARAMS_MAX];
    r10(&s);
    int n = params_list(&s, p);
    CHECK_EQ_INT(n, 2 + 2 + 5 + 15 + 2 * 16);
    const char *head[] = {"lm_head_w", "scalars", "embed1.weight", "embed2.weight",
                          "value_embeds.0.weight", "value_embeds.1.weight",
                          "value_embeds.2.weight", "value_embeds.3.weight",
                          "value_embeds.4.weight"};
    for (int i = 0; i < 9 && i < n; i++) CHECK(strcmp(p[i].name, head[i]) == 0);
    int k = 9;
    for (int layer = 0; layer < 16 && k < n; layer++) {
        char want[64];
        if (layer != 7) {
            snprintf(want, sizeof want, "blocks.%d.attn.qkvo_w", layer);
            CHECK(strcmp(p[k].name, want) == 0);
            CHECK(p[k].ndim == 3 && p[k].shape[0] == 4 && p[k].shape[1] == 1024);
            k++;
        }
        snprintf(want, sizeof want, "blocks.%d.mlp.fc_w", layer);
        CHECK(strcmp(p[k].name, want) == 0);
        CHECK(p[k].shape[0] == 4096 && p[k].shape[1] == 1024 && p[k].layer == layer);
        k++;
        snprintf(want, sizeof want, "blocks.%d.mlp.proj_w", layer);
        CHECK(strcmp(p[k].name, want) == 0);
        CHECK(p[k].shape[0] == 1024 && p[k].shape[1] == 4096);
        k++;
    }
    CHECK_EQ_INT(k, n);
    CHECK(p[0].shape[0] == 50304 && p[0].dtype == DTYPE_FP32 && p[0].opt == OPT_ADAM);
    CHECK(p[1].shape[0] == 96 && p[1].dtype == DTYPE_FP32 && p[1].layer == -1);
    CHECK(p[2].shape[0] == 50257 && p[2].dtype == DTYPE_BF16);
    CHECK(p[9].opt == OPT_MUON && p[9].group == GROUP_ATTN && p[10].group == GROUP_MLP);
}

TEST(params_snimu_names) {
    ModelSpec s;
    ParamTensor p[PARAMS_MAX];
    r8(&s);
    s.x0.tables = 3;
    params_list(&s, p);
    CHECK(strcmp(p[2].name, "embed0.weight") == 0);
    CHECK(strcmp(p[3].name, "embed1.weight") == 0);
    CHECK(strcmp(p[4].name, "embed2.weight") == 0);
    CHECK(strcmp(p[5].name, "value_embeds.0.weight") == 0);
    s.x0.tables = 1;
    params_list(&s, p);
    CHECK(strcmp(p[2].name, "embed.weight") == 0);
}

TEST(params_tied_and_padded) {
    ModelSpec s;
    ParamTensor p[PARAMS_MAX];
    r8(&s);
    s.head.tied = true;
    s.vocab.pad_embeddings = true;
    int n = params_list(&s, p);
    CHECK_EQ_INT(n, 1 + 1 + 3 + 15 + 32);
    CHECK(strcmp(p[0].name, "scalars") == 0);
    CHECK_EQ_INT(p[1].shape[0], 50304);
    CHECK_EQ_INT(p[2].shape[0], 50304);
}

TEST(window_cubic_transition_table) {
    static const int table[][2] = {
        {0, 1},     {76, 2},    {156, 3},   {240, 4},   {330, 5},   {426, 6},   {531, 7},
        {645, 8},   {771, 9},   {914, 10},  {1080, 11}, {1282, 12}, {1548, 13}, {1987, 14},
        {3974, 15}, {4413, 16}, {4679, 17}, {4881, 18}, {5047, 19}, {5190, 20}, {5316, 21},
        {5430, 22}, {5535, 23}, {5631, 24}, {5721, 25}, {5805, 26}, {5885, 27}};
    ModelSpec s;
    r8(&s);
    int next = 0, rows = (int)(sizeof table / sizeof table[0]), mismatches = 0;
    for (int step = 0; step <= s.train.steps; step++) {
        if (next + 1 < rows && step == table[next + 1][0]) next++;
        int lw, sw;
        spec_window_blocks(&s, step, false, &lw, &sw);
        if (lw != table[next][1] || sw != (lw / 2 < 1 ? 1 : lw / 2)) {
            if (mismatches++ < 5) CHECK_EQ_INT(step * 1000 + lw, step * 1000 + table[next][1]);
        }
    }
    CHECK_EQ_INT(mismatches, 0);
    int lw, sw;
    spec_window_blocks(&s, 5960, false, &lw, &sw);
    CHECK(lw == 27 && sw == 13);
    spec_window_blocks(&s, 0, false, &lw, &sw);
    CHECK(lw == 1 && sw == 1);
}

TEST(window_validation_cap_and_other_schedules) {
    ModelSpec s;
    int lw, sw;
    r8(&s);
    s.attn.window.val_blocks = 20;
    spec_window_blocks(&s, 0, true, &lw, &sw);
    CHECK(lw == 20 && sw == 10);
    spec_window_blocks(&s, 0, false, &lw, &sw);
    CHECK(lw == 1);
    s.attn.window.short_max_blocks = 4;
    spec_window_blocks(&s, 5960, false, &lw, &sw);
    CHECK(lw == 27 && sw == 4);
    /* Record 7's linear schedule: next_multiple_of_128(1728 * x). */
    r8(&s);
    s.attn.window.schedule = WINDOW_LINEAR;
    s.attn.window.max_tokens = 1728;
    spec_window_blocks(&s, 0, false, &lw, &sw);
    CHECK(lw == 1 && sw == 1);
    spec_window_blocks(&s, 5960, false, &lw, &sw);
    CHECK(lw == 14 && sw == 7);
    spec_window_blocks(&s, 2980, false, &lw, &sw); /* 864 tokens -> 7 blocks */
    CHECK_EQ_INT(lw, 7);
    s.attn.window.schedule = WINDOW_CONSTANT;
    spec_window_blocks(&s, 0, false, &lw, &sw);
    CHECK(lw == 14 && sw == 7);
}

TEST(lr_multiplier) {
    ModelSpec s;
    r8(&s);
    int n = s.train.steps;
    CHECK_NEAR(spec_lr_mult(&s, 0), 1.0, 0.0);
    CHECK_NEAR(spec_lr_mult(&s, (int)(0.3 * n) - 1), 1.0, 0.0);
    CHECK_NEAR(spec_lr_mult(&s, n - 1), 1.0 / (0.7 * n), 1e-15);
    CHECK_NEAR(spec_lr_mult(&s, n / 2), (1.0 - 0.5) / 0.7, 1e-12);
    s.train.lr_floor = 0.1;
    CHECK_NEAR(spec_lr_mult(&s, n), 0.1, 1e-15);
    s.train.cooldown_frac = 0.0;
    CHECK_NEAR(spec_lr_mult(&s, n - 1), 1.0, 0.0);
}

TEST(muon_momentum_warmup) {
    ModelSpec s;
    r8(&s);
    CHECK_NEAR(spec_muon_momentum(&s, 0), 0.85, 1e-15);
    CHECK_NEAR(spec_muon_momentum(&s, 150), 0.90, 1e-15);
    CHECK_NEAR(spec_muon_momentum(&s, 300), 0.95, 1e-15);
    CHECK_NEAR(spec_muon_momentum(&s, 1000), 0.95, 1e-15);
    s.train.muon.momentum_warmup_steps = 0;
    CHECK_NEAR(spec_muon_momentum(&s, 0), 0.95, 1e-15);
}

TEST(stats_flops_r8) {
    ModelSpec s;
    ModelStats st;
    r8(&s);
    stats_compute(&s, &st);
    CHECK_NEAR(st.flops_matmul, 6.0 * (197132288.0 + 50304.0 * 1024), 0.0);
    /* 4 long layers at 27 blocks, 11 short ones at 13 (layer 7 has none). */
    double keys = 4 * (26 * 128 + 64.5) + 11 * (12 * 128 + 64.5);
    CHECK_NEAR(st.flops_attention, 12.0 * 1024 * keys, 0.0);
    CHECK_NEAR(st.flops_total, st.flops_matmul + st.flops_attention, 0.0);
    /* A sequence shorter than the window caps it at the causal mean. */
    s.train.tokens_per_rank = 256;
    stats_compute(&s, &st);
    CHECK_NEAR(st.flops_attention, 12.0 * 1024 * 15 * 128.5, 0.0);
}

TEST(stats_memory_r8) {
    ModelSpec s;
    ModelStats st;
    r8(&s);
    stats_compute(&s, &st);
    int64_t mat = 197132288, emb = 4LL * 50257 * 1024, head = 50304LL * 1024;
    CHECK_EQ_INT(st.bytes_params, 2 * mat + 2 * emb + 4 * head + 4 * 80);
    CHECK_EQ_INT(st.bytes_grads, 4 * (mat + emb + head + 80));
    /* Adam's m and v in fp32; every Muon matrix's fp32 momentum and 16-bit
     * low half on every rank; rank 0 orthogonalises the Muon tensors 0, 8,
     * 16, ... of params_list: 6 of 47. */
    CHECK_EQ_INT(st.bytes_optim, 8 * (emb + head + 80) + mat * (4 + 2));
    CHECK_EQ_INT(st.muon_owned, 6);
    CHECK_EQ_INT(st.muon_matrices, 47);
    /* 8 ranks: every gradient in fp32, 7/4 of it sent per rank; rank 0
     * receives the 41 Muon tensors it does not own, both halves. */
    CHECK_EQ_INT(st.comm_allreduce, st.bytes_grads);
    CHECK_EQ_INT(st.comm_allreduce_sent, st.bytes_grads / 8 * 14);
    CHECK_EQ_INT(st.comm_bcast, 4 * mat);
    CHECK(st.comm_bcast_received < st.comm_bcast * 7 / 8 + 4 * 4194304 &&
          st.comm_bcast_received > st.comm_bcast * 7 / 8 - 4 * 4194304);
    int64_t logits = 65536LL * 50304 * 4;
    CHECK(st.bytes_activations > logits);
    CHECK(st.bytes_activations < logits + 40LL * 1024 * 1024 * 1024);
    CHECK_EQ_INT(st.bytes_total,
                 st.bytes_params + st.bytes_grads + st.bytes_optim + st.bytes_activations);
    s.dtypes.muon_master = MASTER_FP32;
    ModelStats fp32;
    stats_compute(&s, &fp32);
    CHECK_EQ_INT(fp32.bytes_optim - st.bytes_optim, mat * 2);
    s.train.ranks = 1;
    stats_compute(&s, &fp32);
    CHECK_EQ_INT(fp32.bytes_optim, 8 * (emb + head + 80) + mat * 8);
    CHECK_EQ_INT(fp32.muon_owned, 47);
}

TEST(report_json_r8) {
    ModelSpec s;
    r8(&s);
    snprintf(s.description, sizeof s.description, "say \"hi\"\\\n\x01 caf\xc3\xa9 \xff");
    char *j = capture(report_json, &s);
    CHECK(json_balanced(j));
    CHECK(strstr(j, "\"total\": 454496336") != NULL);
    CHECK(strstr(j, "\"description\": \"say \\\"hi\\\"\\\\\\n\\u0001 caf\xc3\xa9 \\ufffd\"") != NULL);
    CHECK(strstr(j, "\"vocab_padded\": 50304") != NULL);
    CHECK(strstr(j, "{\"index\": 7, \"attention\": false, \"window\": null") != NULL);
    CHECK(strstr(j, "\"index\": 9, \"attention\": true, \"window\": \"short\", "
                    "\"window_blocks\": 13, \"value_embedding\": null, "
                    "\"skip_from\": [6], \"skip_to\": []") != NULL);
    CHECK(strstr(j, "\"index\": 15, \"attention\": true, \"window\": \"long\", "
                    "\"window_blocks\": 27, \"value_embedding\": 2") != NULL);
    CHECK(strstr(j, "\"matmul\": 1491861504,") != NULL);
    free(j);
}

TEST(report_text_r8) {
    ModelSpec s;
    r8(&s);
    char *t = capture(report_text, &s);
    CHECK(strstr(t, "454,496,336") != NULL);
    CHECK(strstr(t, "record 8\n") == t);
    CHECK(strstr(t, "16 layers, dim 1024, 8 heads x 128, MLP 4096") != NULL);
    CHECK(strstr(t, "     2  yes   short 13  ve2     -         >11       x00\n") != NULL);
    CHECK(strstr(t, "     6  yes   short 13  -       -         >9        x00\n") != NULL);
    CHECK(strstr(t, "     7  no    -         -       -         -         x00\n") != NULL);
    CHECK(strstr(t, "    11  yes   long 27   -       <2        -         x00\n") != NULL);
    CHECK(strstr(t, "    total          454,496,336\n") != NULL);
    CHECK(strstr(t, "1.875 GFLOP") != NULL);
    CHECK(widest_line(t) <= 100);
    free(t);
}

TEST(report_text_crowded_cells) {
    ModelSpec s;
    r8(&s);
    s.model.layers = 64;
    s.skips.count = 0;
    for (int k = 10; k < 41; k++) {
        s.skips.from[s.skips.count] = k;
        s.skips.to[s.skips.count++] = 63;
    }
    s.x0.tables = 16;
    for (int i = 16; i < 64; i++) s.ve.layer_table[i] = -1;
    char *t = capture(report_text, &s);
    CHECK(strstr(t, "  <10,11,12,13,14,15,16,17,18,19,20,21...  -  ") != NULL);
    CHECK(strstr(t, "x00..x015") != NULL);
    CHECK(widest_line(t) <= 100);
    char *j = capture(report_json, &s);
    CHECK(json_balanced(j));
    CHECK(strstr(j, "\"skip_from\": [10, 11, 12,") != NULL);
    free(j);
    free(t);
}
