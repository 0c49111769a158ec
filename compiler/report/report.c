/*
 * report.c: what `gptc check` tells a researcher about a validated model
 * before any GPU time is spent: the per-layer layout (attention, window,
 * value embedding, U-net skips, x0 tables), parameter counts per group,
 * training FLOPs per token, and an estimate of memory per GPU, as aligned
 * text or as one JSON object. The numbers come from stats.c.
 */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "compiler/util/json.h"
#include "compiler/report/report.h"
#include "compiler/lang/spec_json.h"

/* ---- per-layer cells, shared by text and JSON ---- */

static int layer_window(const ModelSpec *s, int i, bool *is_long) {
    int lw, sw;
    spec_window_blocks(s, s->train.steps, false, &lw, &sw);
    *is_long = s->attn.window.long_layer[i];
    return *is_long ? lw : sw;
}

/* Appends to a fixed cell, keeping room to end it with "..." instead of
 * overflowing; pieces hold no '.', so a trailing one marks a full cell. */
static void cell_add(char *cell, size_t size, const char *piece) {
    size_t len = strlen(cell);
    if (len > 0 && cell[len - 1] == '.') return;
    if (len + strlen(piece) + 3 < size)
        strcat(cell, piece);
    else
        strcat(cell, "...");
}

/* "<6,4": the layers whose outputs this layer receives (from = true), or
 * ">9": the layers its output feeds. "-" when there are none. */
static void skip_cell(char *cell, size_t size, const ModelSpec *s, int layer,
                      bool from) {
    cell[0] = '\0';
    for (int k = 0; k < s->skips.count; k++) {
        int here = from ? s->skips.to[k] : s->skips.from[k];
        int there = from ? s->skips.from[k] : s->skips.to[k];
        if (here != layer) continue;
        char piece[16];
        snprintf(piece, sizeof piece, "%s%d", cell[0] ? "," : from ? "<" : ">",
                 there);
        cell_add(cell, size, piece);
    }
    if (!cell[0]) snprintf(cell, size, "-");
}

/* "x00+x01" for up to four tables, "x00..x07" beyond, to keep rows short. */
static void x0_cell(char *cell, size_t size, int tables) {
    cell[0] = '\0';
    if (tables > 4) {
        snprintf(cell, size, "x00..x0%d", tables - 1);
        return;
    }
    for (int k = 0; k < tables; k++) {
        char piece[16];
        snprintf(piece, sizeof piece, "%sx0%d", k ? "+" : "", k);
        cell_add(cell, size, piece);
    }
    if (!cell[0]) snprintf(cell, size, "-");
}

/* ---- text ---- */

/* 454496336 -> "454,496,336". */
static void fmt_count(char *buf, size_t size, int64_t v) {
    char digits[32];
    snprintf(digits, sizeof digits, "%" PRId64, v < 0 ? -v : v);
    size_t nd = strlen(digits), o = 0;
    if (v < 0 && o + 1 < size) buf[o++] = '-';
    for (size_t i = 0; i < nd && o + 1 < size; i++) {
        if (i > 0 && (nd - i) % 3 == 0 && o + 2 < size) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

static void fmt_bytes(char *buf, size_t size, int64_t b) {
    double gib = (double)b / (1024.0 * 1024.0 * 1024.0);
    if (gib >= 1.0)
        snprintf(buf, size, "%.2f GiB", gib);
    else
        snprintf(buf, size, "%.1f MiB", (double)b / (1024.0 * 1024.0));
}

/* Four significant digits with a decimal SI prefix: "1.875 GFLOP". */
static void fmt_flop(char *buf, size_t size, double v) {
    static const char *const prefix[] = {"", "k", "M", "G", "T", "P", "E", "Z", "Y"};
    int k = 0;
    while (fabs(v) >= 1000.0 && k < 8) {
        v /= 1000.0;
        k++;
    }
    snprintf(buf, size, "%.4g %sFLOP", v, prefix[k]);
}

/* Strings from the spec are display text, but a path may hold anything;
 * control characters are shown as '?' so they cannot drive the terminal. */
static void put_clean(FILE *f, const char *str, size_t max) {
    for (size_t i = 0; i < max && str[i]; i++) {
        unsigned char c = (unsigned char)str[i];
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
}

static const char *schedule_name(WindowSchedule w) {
    switch (w) {
    case WINDOW_CUBIC: return "cubic";
    case WINDOW_LINEAR: return "linear";
    case WINDOW_CONSTANT: break;
    }
    return "constant";
}

static void text_header(FILE *f, const ModelSpec *s) {
    const SpecModel *m = &s->model;
    char a[32], b[32], c[32], d[32];
    if (s->description[0]) {
        put_clean(f, s->description, sizeof s->description);
        fputc('\n', f);
    }
    fprintf(f, "  source     ");
    put_clean(f, s->source, sizeof s->source);
    fprintf(f, "\n  model      %d layers, dim %d, %d heads x %d, MLP %d\n",
            m->layers, m->dim, m->heads, m->head_dim, m->mlp_hidden);
    fmt_count(a, sizeof a, s->vocab.size);
    fmt_count(b, sizeof b, s->vocab.padded);
    fprintf(f, "  vocab      %s (padded to %s for the head%s)\n", a, b,
            s->vocab.pad_embeddings ? " and the tables" : "");
    fmt_count(a, sizeof a, s->train.tokens_per_rank);
    fmt_count(b, sizeof b, s->train.tokens_per_rank * s->train.ranks);
    fmt_count(c, sizeof c, s->train.steps);
    fprintf(f, "  training   %d rank%s x %s tokens = %s tokens/step, %s steps\n",
            s->train.ranks, s->train.ranks == 1 ? "" : "s", a, b, c);
    int lw, sw;
    spec_window_blocks(s, s->train.steps, false, &lw, &sw);
    fmt_count(d, sizeof d, s->attn.window.max_tokens);
    fprintf(f, "  windows    %s to %s tokens, blocks of %d; final long %d, short %d blocks\n",
            schedule_name(s->attn.window.schedule), d, s->attn.window.block_size,
            lw, sw);
}

static void text_layers(FILE *f, const ModelSpec *s) {
    char x0[40];
    bool unused_ve = false;
    x0_cell(x0, sizeof x0, s->x0.tables);
    fprintf(f, "\n  layer  attn  window    ve      skip in   skip out  x0 mix\n");
    for (int i = 0; i < s->model.layers; i++) {
        char win[24] = "-", ve[16] = "-", in[40], out[40];
        bool attn = s->model.attention[i], is_long;
        if (attn) {
            int w = layer_window(s, i, &is_long);
            snprintf(win, sizeof win, "%s %d", is_long ? "long" : "short", w);
        }
        int t = s->ve.layer_table[i];
        if (t >= 0) {
            /* A table on a layer without attention is never read
             * (docs/recipe.md, 'Attention'). */
            snprintf(ve, sizeof ve, attn ? "ve%d" : "(ve%d)", t);
            unused_ve |= !attn;
        }
        skip_cell(in, sizeof in, s, i, true);
        skip_cell(out, sizeof out, s, i, false);
        fprintf(f, "  %5d  %-4s  %-8s  %-6s  %-8s  %-8s  %s\n", i,
                attn ? "yes" : "no", win, ve, in, out, x0);
    }
    if (unused_ve)
        fprintf(f, "  (veK): mapped to a layer without attention, so unused\n");
}

static void text_params(FILE *f, const ModelSpec *s, const ModelStats *st) {
    ParamTensor p[PARAMS_MAX];
    int n = params_list(s, p);
    char num[32];
    fprintf(f, "\n  parameters             count  dtype  optimizer\n");
    for (int g = 0; g < GROUP_COUNT; g++) {
        const char *dt = "-", *opt = "-";
        for (int i = 0; i < n; i++) {
            if ((int)p[i].group != g) continue;
            dt = spec_dtype_name(p[i].dtype);
            opt = p[i].opt == OPT_MUON ? "muon" : "adam";
            break;
        }
        fmt_count(num, sizeof num, st->params_group[g]);
        fprintf(f, "    %-12s %13s  %-5s  %s\n", params_group_name(g), num, dt, opt);
    }
    fmt_count(num, sizeof num, st->params_total);
    fprintf(f, "    %-12s %13s\n", "total", num);
}

static void text_flops(FILE *f, const ModelSpec *s, const ModelStats *st) {
    char a[32], b[32];
    int64_t tokens = s->train.tokens_per_rank * s->train.ranks;
    fprintf(f, "\n  FLOPs per token, forward + backward\n");
    fmt_flop(a, sizeof a, st->flops_matmul);
    fmt_count(b, sizeof b, (int64_t)llround(st->flops_matmul / 6.0));
    fprintf(f, "    %-12s %13s  6 x %s weights applied per token\n", "matmul", a, b);
    fmt_flop(a, sizeof a, st->flops_attention);
    fprintf(f, "    %-12s %13s  at the final windows, no document boundaries (upper bound)\n",
            "attention", a);
    fmt_flop(a, sizeof a, st->flops_total);
    fprintf(f, "    %-12s %13s\n", "total", a);
    fmt_flop(a, sizeof a, st->flops_total * (double)tokens);
    fmt_count(b, sizeof b, tokens);
    fprintf(f, "    %-12s %13s  x %s tokens\n", "per step", a, b);
}

static void text_memory(FILE *f, const ModelSpec *s, const ModelStats *st) {
    char a[32], t[32];
    fmt_count(t, sizeof t, s->train.tokens_per_rank);
    fprintf(f, "\n  memory per GPU (rank 0, estimate)\n");
    fmt_bytes(a, sizeof a, st->bytes_params);
    fprintf(f, "    %-12s %13s\n", "params", a);
    fmt_bytes(a, sizeof a, st->bytes_grads);
    fprintf(f, "    %-12s %13s\n", "grads", a);
    fmt_bytes(a, sizeof a, st->bytes_optim);
    fprintf(f, "    %-12s %13s  Adam m, v; Muon's for all %d matrices (rank 0 orthogonalises %d)\n",
            "optimizer", a, st->muon_matrices, st->muon_owned);
    fmt_bytes(a, sizeof a, st->bytes_activations);
    fprintf(f, "    %-12s %13s  saved for backward at %s tokens, logits in fp32\n",
            "activations", a, t);
    fmt_bytes(a, sizeof a, st->bytes_total);
    fprintf(f, "    %-12s %13s\n", "total", a);
}

static void text_comm(FILE *f, const ModelSpec *s, const ModelStats *st) {
    char a[32], b[32];
    if (s->train.ranks < 2) return;
    fprintf(f, "\n  communication per step at %d ranks (NCCL on cuda)\n", s->train.ranks);
    fmt_bytes(a, sizeof a, st->comm_allreduce);
    fmt_bytes(b, sizeof b, st->comm_allreduce_sent);
    fprintf(f, "    %-12s %13s  fp32, all-reduced during backward: %s sent per rank\n", "gradients", a, b);
    fmt_bytes(a, sizeof a, st->comm_bcast);
    fmt_bytes(b, sizeof b, st->comm_bcast_received);
    fprintf(f, "    %-12s %13s  broadcast by their owners: %s received by rank 0\n", "Muon weights", a, b);
}

void report_text(FILE *f, const ModelSpec *s) {
    ModelStats st;
    stats_compute(s, &st);
    text_header(f, s);
    text_layers(f, s);
    text_params(f, s, &st);
    text_flops(f, s, &st);
    text_memory(f, s, &st);
    text_comm(f, s, &st);
}

/* ---- JSON ---- */

static void json_model(FILE *f, const ModelSpec *s) {
    const SpecModel *m = &s->model;
    fprintf(f, "  \"model\": {\"source\": ");
    json_str(f, s->source, sizeof s->source);
    fprintf(f, ", \"description\": ");
    json_str(f, s->description, sizeof s->description);
    fprintf(f, ", \"layers\": %d, \"dim\": %d, \"heads\": %d, \"head_dim\": %d, "
               "\"mlp_hidden\": %d, \"vocab\": %d, \"vocab_padded\": %d, "
               "\"ranks\": %d, \"tokens_per_rank\": %" PRId64 ", \"steps\": %d},\n",
            m->layers, m->dim, m->heads, m->head_dim, m->mlp_hidden, s->vocab.size,
            s->vocab.padded, s->train.ranks, s->train.tokens_per_rank, s->train.steps);
}

static void json_skips(FILE *f, const ModelSpec *s, int layer, bool from) {
    fputc('[', f);
    int written = 0;
    for (int k = 0; k < s->skips.count; k++) {
        int here = from ? s->skips.to[k] : s->skips.from[k];
        if (here != layer) continue;
        fprintf(f, "%s%d", written++ ? ", " : "", from ? s->skips.from[k] : s->skips.to[k]);
    }
    fputc(']', f);
}

/* "window" is "long", "short", or null without attention; "window_blocks"
 * is its size in blocks at the final step. */
static void json_layer(FILE *f, const ModelSpec *s, int i) {
    bool attn = s->model.attention[i], is_long;
    fprintf(f, "    {\"index\": %d, \"attention\": %s, ", i, attn ? "true" : "false");
    if (attn) {
        int w = layer_window(s, i, &is_long);
        fprintf(f, "\"window\": \"%s\", \"window_blocks\": %d, ",
                is_long ? "long" : "short", w);
    } else {
        fprintf(f, "\"window\": null, \"window_blocks\": null, ");
    }
    if (s->ve.layer_table[i] >= 0)
        fprintf(f, "\"value_embedding\": %d, ", s->ve.layer_table[i]);
    else
        fprintf(f, "\"value_embedding\": null, ");
    fprintf(f, "\"skip_from\": ");
    json_skips(f, s, i, true);
    fprintf(f, ", \"skip_to\": ");
    json_skips(f, s, i, false);
    fprintf(f, ", \"x0_tables\": %d}", s->x0.tables);
}

void report_json(FILE *f, const ModelSpec *s) {
    ModelStats st;
    stats_compute(s, &st);
    fprintf(f, "{\n");
    json_model(f, s);
    fprintf(f, "  \"layers\": [\n");
    for (int i = 0; i < s->model.layers; i++) {
        json_layer(f, s, i);
        fprintf(f, "%s\n", i + 1 < s->model.layers ? "," : "");
    }
    fprintf(f, "  ],\n  \"params\": {");
    for (int g = 0; g < GROUP_COUNT; g++)
        fprintf(f, "\"%s\": %" PRId64 ", ", params_group_name(g), st.params_group[g]);
    fprintf(f, "\"total\": %" PRId64 "},\n", st.params_total);
    fprintf(f, "  \"flops_per_token\": {\"matmul\": ");
    json_num(f, st.flops_matmul);
    fprintf(f, ", \"attention\": ");
    json_num(f, st.flops_attention);
    fprintf(f, ", \"total\": ");
    json_num(f, st.flops_total);
    fprintf(f, "},\n  \"memory_bytes\": {\"params\": %" PRId64 ", \"grads\": %" PRId64
               ", \"optimizer\": %" PRId64 ", \"activations\": %" PRId64
               ", \"total\": %" PRId64 "},\n",
            st.bytes_params, st.bytes_grads, st.bytes_optim, st.bytes_activations,
            st.bytes_total);
    fprintf(f, "  \"comm_bytes_per_step\": {\"ranks\": %d, \"allreduce\": %" PRId64 ", \"allreduce_sent_per_rank\": %" PRId64
               ", \"broadcast\": %" PRId64 ", \"broadcast_received_rank0\": %" PRId64 "},\n  \"spec\": ",
            s->train.ranks, st.comm_allreduce, st.comm_allreduce_sent, st.comm_bcast, st.comm_bcast_received);
    spec_json(f, s, true);
    fputs("\n}\n", f);
}
