/*
 * cmd_sample.c: `gptc sample CKPT --prompt TEXT`: text from a checkpoint,
 * token by token on the ref executor (runtime/ref/ref.h), decoded with the
 * run's tokenizer: the byte-level one for a 257-token vocabulary, GPT-2's
 * BPE for 50257 (its ranks file, as gptc data reads it).
 *
 * Each token runs the whole context forward (the ref executor keeps no
 * cache): the context is padded with end-of-text tokens up to a multiple
 * of the attention block, which causal attention never lets the real
 * positions see, and the last real position's logits (after the softcap,
 * over the true vocabulary, padding excluded) are divided by the
 * temperature, cut to the top k, and sampled with the seed's RNG. The
 * attention windows are the checkpoint step's validation windows. A
 * document ends at its end-of-text token, or after --tokens tokens.
 */
#include "cli/cmd_sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/ckpt_cmd.h"
#include "cli/cli.h"
#include "runtime/data/codec.h"
#include "runtime/ref/ref.h"
#include "runtime/train/ckpt.h"
#include "runtime/util/rng.h"

static const char sample_help[] =
    "Usage: gptc sample CKPT --prompt TEXT [--tokens N] [--temperature T]\n"
    "                   [--top-k K] [--seed S] [--vocab PATH]\n"
    "\n"
    "Continues TEXT with the checkpoint's model on the CPU (the ref executor)\n"
    "and prints the prompt and its continuation, decoded with the run's\n"
    "tokenizer: bytes for a 257-token vocabulary, GPT-2's BPE for 50257 (its\n"
    "ranks file, data/gpt2/gpt2.tiktoken unless --vocab says otherwise). The\n"
    "same checkpoint, prompt and options always give the same text.\n"
    "\n"
    "Options:\n"
    "  --prompt TEXT      the text to continue (required)\n"
    "  --tokens N         at most N new tokens (default 200); an end-of-text\n"
    "                     token ends the text sooner\n"
    "  --temperature T    divides the logits (default 1); 0 takes the most\n"
    "                     likely token every time\n"
    "  --top-k K          sample among the K most likely tokens only (default:\n"
    "                     all)\n"
    "  --seed S           the sampling seed (default 0)\n"
    "  --vocab PATH       GPT-2's ranks file, for a 50257-token model\n"
    "\n"
    "Exit status: 0 on success; 2 for bad usage, a bad checkpoint or a\n"
    "vocabulary gptc has no tokenizer for.\n";

typedef struct {
    const char *ckpt, *prompt, *vocab, *temperature_text;
    int tokens, top_k;
    double temperature;
    int64_t seed;
    CliArgs cli;
} SampleArgs;

static int parse_args(int argc, char **argv, SampleArgs *a) {
    memset(a, 0, sizeof *a);
    a->tokens = 200;
    a->temperature = 1;
    a->vocab = "data/gpt2/gpt2.tiktoken";
    const CliOpt opts[] = {
        {"--prompt", NULL, CLI_STRING, .to.str = &a->prompt, .what = "text"},
        {"--tokens", NULL, CLI_COUNT, .to.count = &a->tokens, .lo = 1, .hi = 1 << 20},
        {"--temperature", NULL, CLI_STRING, .to.str = &a->temperature_text, .what = "a number"},
        {"--top-k", NULL, CLI_COUNT, .to.count = &a->top_k, .lo = 1, .hi = 1 << 20},
        {"--seed", NULL, CLI_COUNT64, .to.count64 = &a->seed, .lo = 0, .hi = INT64_C(9007199254740991)},
        {"--vocab", NULL, CLI_STRING, .to.str = &a->vocab, .what = "a file"},
        {0},
    };
    const CliCommand cmd = {"gptc sample", "checkpoint", .opts = opts, .help = sample_help};
    int rc = cli_parse(&cmd, argc, argv, &a->cli);
    if (rc != CLI_GO) return rc;
    a->ckpt = a->cli.args[0];
    if (!a->prompt) return cli_usage(&cmd, "--prompt is required");
    if (a->temperature_text) {
        char *end;
        a->temperature = strtod(a->temperature_text, &end);
        if (*end || end == a->temperature_text || !(a->temperature >= 0 && a->temperature <= 100))
            return cli_bad_value(&cmd, "--temperature", "a number from 0 to 100", a->temperature_text);
    }
    return CLI_GO;
}

static void print_token(const Codec *c, int id) {
    size_t len;
    const unsigned char *piece = codec_piece(c, id, &len);
    if (piece) fwrite(piece, 1, len, stdout);
}

/* ---- sampling ---- */

typedef struct {
    float logit;
    int id;
} Cand;

static int by_logit(const void *a, const void *b) {
    const Cand *x = a, *y = b;
    return x->logit < y->logit ? 1 : x->logit > y->logit ? -1 : x->id - y->id;
}

/* The next token from one row of logits over the true vocabulary. */
static int pick(const float *logits, int vocab, const SampleArgs *a, Rng *r, Cand *c) {
    for (int i = 0; i < vocab; i++) c[i] = (Cand){logits[i], i};
    qsort(c, (size_t)vocab, sizeof *c, by_logit);
    if (a->temperature == 0) return c[0].id;
    int k = a->top_k && a->top_k < vocab ? a->top_k : vocab;
    double sum = 0;
    for (int i = 0; i < k; i++) sum += exp((c[i].logit - c[0].logit) / a->temperature);
    double u = rng_uniform(r) * sum, acc = 0;
    for (int i = 0; i < k; i++) {
        acc += exp((c[i].logit - c[0].logit) / a->temperature);
        if (u < acc) return c[i].id;
    }
    return c[k - 1].id;
}

static int sample(const SampleArgs *a, const ModelSpec *s, const CkptMeta *meta) {
    char err[1024];
    Codec tok;
    if (!codec_open(&tok, s, a->vocab, err, sizeof err)) return fprintf(stderr, "gptc sample: %s\n", err), 2;
    int bs = s->attn.window.block_size, max_T = (int)s->train.val_tokens_per_rank, V = s->vocab.padded;
    int *ids = malloc(sizeof(int) * (size_t)max_T), *tgt = calloc((size_t)max_T, sizeof(int));
    Cand *cand = malloc(sizeof(Cand) * (size_t)s->vocab.size);
    ref_Model *m = ckpt_cmd_ref_model(a->ckpt, s, max_T, err, sizeof err);
    int n = m && ids && tgt && cand ? codec_encode(&tok, a->prompt, ids, max_T - 1, err, sizeof err) : -1;
    int rc = n < 0 ? 2 : 0;
    if (rc) fprintf(stderr, "gptc sample: %s\n", !m || (ids && tgt && cand) ? err : "out of memory");
    Rng r;
    rng_seed(&r, (uint64_t)a->seed);
    for (int i = 1; !rc && i < n; i++) print_token(&tok, ids[i]);
    for (int made = 0; !rc && made < a->tokens; made++) {
        if (n == max_T) { /* keep the latest tokens, the window the model was trained on */
            memmove(ids, ids + max_T / 2, sizeof(int) * (size_t)(max_T - max_T / 2));
            n = max_T - max_T / 2;
        }
        int T = (n + bs - 1) / bs * bs;
        for (int i = n; i < T; i++) ids[i] = tok.eot;
        ref_forward(m, ids, tgt, T, (int)meta->step, true);
        int next = pick(ref_logits(m) + (size_t)(n - 1) * (size_t)V, s->vocab.size, a, &r, cand);
        if (next == tok.eot) break;
        ids[n++] = next;
        print_token(&tok, next);
    }
    if (!rc) putchar('\n');
    free(ids), free(tgt), free(cand);
    if (m) ref_model_free(m);
    codec_close(&tok);
    return rc;
}

static int run(const void *args, const ModelSpec *s, const CkptMeta *meta) { return sample(args, s, meta); }

int cmd_sample(int argc, char **argv) {
    SampleArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc == CLI_GO) rc = ckpt_cmd_run("gptc sample", a.ckpt, run, &a);
    cli_free(&a.cli);
    return rc;
}
