/*
 * cmd_lens.c: `gptc lens CKPT --text TEXT`: a logit lens. The text runs
 * forward once on the ref executor; then each view of it, decoded as the
 * model decodes its last layer (the final norm, the head, the softcap:
 * ref_decode), gives every position's most likely next tokens:
 *   x at the input of each layer, and the last layer's output (what the
 *   model predicts from); each input table x0k after its norm; each value
 *   embedding table's rows.
 * Probabilities are the softmax of those logits over the true vocabulary.
 */
#include "cli/cmd_lens.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ckpt_cmd.h"
#include "cli/cli.h"
#include "compiler/util/json.h"
#include "runtime/data/codec.h"
#include "runtime/ref/ref.h"
#include "runtime/train/ckpt.h"

#define LENS_MAX_TOP 50

static const char lens_help[] =
    "Usage: gptc lens CKPT --text TEXT [--top K] [--json FILE] [--vocab PATH]\n"
    "\n"
    "A logit lens on the checkpoint's model: TEXT runs forward once (the ref\n"
    "executor), then each view of it goes through the final norm, the head and\n"
    "the softcap, as the last layer's output does, and every position shows\n"
    "its K most likely next tokens with their probabilities. The views: x at\n"
    "the input of each layer and the last layer's output, each input table\n"
    "x0k (after its norm) and each value-embedding table. Tokens are decoded\n"
    "with the run's tokenizer (bytes, or GPT-2's BPE from --vocab).\n"
    "\n"
    "Options:\n"
    "  --text TEXT     the text to look through (required)\n"
    "  --top K         tokens per position (default 5, at most 50)\n"
    "  --json FILE     also write every view as JSON\n"
    "  --vocab PATH    GPT-2's ranks file, for a 50257-token model (default\n"
    "                  data/gpt2/gpt2.tiktoken)\n"
    "\n"
    "Exit status: 0 on success; 2 for bad usage, a bad checkpoint or a text\n"
    "longer than the model's sequence; 1 if FILE cannot be written.\n";

typedef struct {
    const char *ckpt, *text, *json, *vocab;
    int top;
    CliArgs cli;
} LensArgs;

static int parse_args(int argc, char **argv, LensArgs *a) {
    memset(a, 0, sizeof *a);
    a->top = 5;
    a->vocab = "data/gpt2/gpt2.tiktoken";
    const CliOpt opts[] = {
        {"--text", NULL, CLI_STRING, .to.str = &a->text, .what = "text"},
        {"--top", NULL, CLI_COUNT, .to.count = &a->top, .lo = 1, .hi = LENS_MAX_TOP},
        {"--json", NULL, CLI_STRING, .to.str = &a->json, .what = "a file name"},
        {"--vocab", NULL, CLI_STRING, .to.str = &a->vocab, .what = "a file"},
        {0},
    };
    const CliCommand cmd = {"gptc lens", "checkpoint", .opts = opts, .help = lens_help};
    int rc = cli_parse(&cmd, argc, argv, &a->cli);
    if (rc != CLI_GO) return rc;
    a->ckpt = a->cli.args[0];
    return a->text ? CLI_GO : cli_usage(&cmd, "--text is required");
}

typedef struct {
    const ModelSpec *s;
    const LensArgs *a;
    Codec codec;
    ref_Model *m;
    int n;      /* tokens of the text, EOT first */
    int *ids;
    FILE *json; /* or NULL */
} Lens;

/* A token as text: its bytes, with the unprintable ones escaped (and, for
 * the byte tokenizer, those above 127: a lone byte of a UTF-8 sequence). */
static void token_text(const Lens *l, int id, char *out, size_t cap) {
    size_t len, o = 0;
    const unsigned char *p = codec_piece(&l->codec, id, &len);
    if (!p) {
        snprintf(out, cap, id == l->codec.eot ? "<eot>" : "<%d>", id);
        return;
    }
    for (size_t i = 0; i < len && o + 5 < cap; i++)
        o += (size_t)(p[i] == '\n' ? snprintf(out + o, cap - o, "\\n")
                      : p[i] < 32 || p[i] == 127 || (!l->codec.bpe && p[i] >= 128)
                          ? snprintf(out + o, cap - o, "\\x%02x", p[i])
                                                 : snprintf(out + o, cap - o, "%c", p[i]));
    out[o] = 0;
}

/* The top K of one row of logits, as probabilities over the true vocabulary. */
static int top_k(const float *z, int vocab, int k, int *id, double *p) {
    double max = -INFINITY, sum = 0;
    for (int v = 0; v < vocab; v++) max = z[v] > max ? z[v] : max;
    for (int v = 0; v < vocab; v++) sum += exp(z[v] - max);
    int n = 0;
    for (int v = 0; v < vocab; v++) {
        if (n == k && z[v] <= z[id[k - 1]]) continue; /* no better than the last kept */
        int j = n < k ? n++ : k - 1;                   /* full: the last one goes */
        while (j > 0 && z[id[j - 1]] < z[v]) id[j] = id[j - 1], j--;
        id[j] = v;
    }
    for (int j = 0; j < n; j++) p[j] = exp(z[id[j]] - max) / sum;
    return n;
}

static void show_view(Lens *l, const char *name, const float *x, bool first) {
    const float *z = ref_decode(l->m, x);
    int V = l->s->vocab.padded, k = l->a->top, id[LENS_MAX_TOP];
    double p[LENS_MAX_TOP];
    char tok[64];
    printf("\n%s\n", name);
    if (l->json) {
        fprintf(l->json, "%s{\"view\": ", first ? "" : ", ");
        json_str(l->json, name, strlen(name));
        fputs(", \"positions\": [", l->json);
    }
    for (int t = 0; t < l->n; t++) {
        int n = top_k(z + (size_t)t * V, l->s->vocab.size, k, id, p);
        token_text(l, l->ids[t], tok, sizeof tok);
        printf("  %3d %-8s ->", t, tok);
        if (l->json) fprintf(l->json, "%s[", t ? ", " : "");
        for (int j = 0; j < n; j++) {
            token_text(l, id[j], tok, sizeof tok);
            printf(" %s (%.3f)", tok, p[j]);
            if (l->json) {
                fprintf(l->json, "%s{\"token\": %d, \"text\": ", j ? ", " : "", id[j]);
                json_str(l->json, tok, strlen(tok));
                fprintf(l->json, ", \"p\": %.6g}", p[j]);
            }
        }
        putchar('\n');
        if (l->json) fputc(']', l->json);
    }
    if (l->json) fputs("]}", l->json);
}

static void show_all(Lens *l) {
    const ModelSpec *s = l->s;
    char name[96];
    bool first = true;
    for (int i = 0; i <= s->model.layers; i++, first = false) {
        if (i < s->model.layers) snprintf(name, sizeof name, "x at the input of layer %d", i);
        else snprintf(name, sizeof name, "x at the output of layer %d (the model's prediction)", i - 1);
        show_view(l, name, ref_stream(l->m, i), first);
    }
    for (int k = 0; k < s->x0.tables; k++) {
        snprintf(name, sizeof name, "input table x0%d (after its norm)", k);
        show_view(l, name, ref_input_table(l->m, k), false);
    }
    for (int k = 0; k < s->ve.tables; k++) {
        snprintf(name, sizeof name, "value-embedding table %d", k);
        show_view(l, name, ref_value_table(l->m, k), false);
    }
}

static int lens(const LensArgs *a, const ModelSpec *s, const CkptMeta *meta) {
    char err[1024];
    Lens l = {.s = s, .a = a};
    if (!codec_open(&l.codec, s, a->vocab, err, sizeof err)) return fprintf(stderr, "gptc lens: %s\n", err), 2;
    int bs = s->attn.window.block_size, max_T = (int)s->train.val_tokens_per_rank;
    l.ids = malloc(sizeof(int) * (size_t)max_T);
    int *tgt = calloc((size_t)max_T, sizeof(int));
    l.m = ckpt_cmd_ref_model(a->ckpt, s, max_T, err, sizeof err);
    int rc = 0;
    if (!l.m) rc = 2;
    else if (!l.ids || !tgt) rc = 1, snprintf(err, sizeof err, "out of memory");
    else if ((l.n = codec_encode(&l.codec, a->text, l.ids, max_T, err, sizeof err)) < 0) rc = 2;
    if (!rc && a->json && !(l.json = fopen(a->json, "w"))) rc = 1, snprintf(err, sizeof err, "cannot write %s", a->json);
    if (rc) {
        fprintf(stderr, "gptc lens: %s\n", err);
    } else {
        int T = (l.n + bs - 1) / bs * bs;
        for (int t = l.n; t < T; t++) l.ids[t] = l.codec.eot;
        ref_forward(l.m, l.ids, tgt, T, (int)meta->step, true);
        printf("gptc lens: %s at step %d, %d tokens (the first is the end-of-text token that opens a document)\n",
               a->ckpt, (int)meta->step, l.n);
        if (l.json) fputs("{\"views\": [", l.json);
        show_all(&l);
        if (l.json && (fputs("]}\n", l.json), fclose(l.json) != 0)) rc = 1, fprintf(stderr, "gptc lens: cannot write %s\n", a->json);
    }
    free(l.ids), free(tgt);
    if (l.m) ref_model_free(l.m);
    codec_close(&l.codec);
    return rc;
}

static int run(const void *args, const ModelSpec *s, const CkptMeta *meta) { return lens(args, s, meta); }

int cmd_lens(int argc, char **argv) {
    LensArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc == CLI_GO) rc = ckpt_cmd_run("gptc lens", a.ckpt, run, &a);
    cli_free(&a.cli);
    return rc;
}
