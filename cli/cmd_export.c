/*
 * cmd_export.c: `gptc export CKPT -o FILE.safetensors [--fp32]`.
 *
 * Needs no YAML: the checkpoint carries the ModelSpec it was trained with,
 * and that spec alone decides the tensors' names, shapes and dtypes
 * (params_list). Only the "params" array is read; optimizer state stays in
 * the checkpoint.
 */
#include "cli/cmd_export.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/train/ckpt.h"
#include "runtime/train/ckpt_spec.h"
#include "cli/cli.h"
#include "compiler/plan/params.h"
#include "runtime/train/safetensors.h"

static const char export_help[] =
    "Usage: gptc export CHECKPOINT -o FILE.safetensors [--fp32] [--quiet]\n"
    "\n"
    "Writes the model parameters held in a gptc checkpoint as a safetensors\n"
    "file that PyTorch loads directly. Tensor names, order and shapes are\n"
    "modded-nanogpt's state_dict (lm_head_w, scalars, embed.weight,\n"
    "value_embeds.K.weight, blocks.I.attn.qkvo_w, blocks.I.mlp.fc_w,\n"
    "blocks.I.mlp.proj_w), so the file loads into the recipe's GPT with\n"
    "  from safetensors.torch import load_file\n"
    "  model.load_state_dict(load_file(\"FILE.safetensors\"), strict=True)\n"
    "\n"
    "Each tensor keeps the dtype the model file gives it (dtypes.matrices,\n"
    "dtypes.embeddings: bf16 by default; head and scalars: fp32), rounded to\n"
    "nearest-even from the fp32 values training keeps. No model file is\n"
    "needed: the checkpoint holds the model description it was trained with,\n"
    "and the file carries it on in its metadata (gptc.spec, with gptc.step and\n"
    "the gptc version and commit), so `gptc check FILE.safetensors` rebuilds\n"
    "the model from the file alone.\n"
    "The output is written to FILE.safetensors.tmp and renamed, so an\n"
    "interrupted export never leaves a partial file.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   the safetensors file to write (required)\n"
    "  --fp32              store every tensor as fp32 (exact training values)\n"
    "  --quiet             print nothing but errors\n"
    "\n"
    "Exit status: 0 on success, 2 for bad usage or a bad checkpoint (corrupt,\n"
    "truncated, from another build), 1 if the output cannot be written.\n"
    "\n"
    "Example:\n"
    "  gptc export run/ckpt.bin -o run/model.safetensors\n";

typedef struct {
    const char *ckpt, *out;
    bool fp32, quiet;
} ExportArgs;

/* The params array must hold exactly the tensors the stored spec implies. */
static bool params_fit(const ExportArgs *a, const ModelSpec *s, size_t count) {
    int64_t need = ckpt_param_count(s);
    if (need >= 0 && (uint64_t)need == count) return true;
    fprintf(stderr, "gptc export: %s: the params array holds %zu floats, its model needs %" PRId64
            " (damaged checkpoint)\n", a->ckpt, count, need);
    return false;
}

static void summary(const ExportArgs *a, const ModelSpec *s, size_t count, uint64_t bytes) {
    ParamTensor *t = malloc(PARAMS_MAX * sizeof *t);
    int n = t ? params_list(s, t) : 0;
    uint64_t bf16 = 0;
    for (int i = 0; i < n && !a->fp32; i++)
        if (t[i].dtype == DTYPE_BF16) bf16 += (uint64_t)t[i].numel;
    printf("wrote %s: %d tensors, %zu parameters (%" PRIu64 " bf16, %" PRIu64
           " fp32), %" PRIu64 " bytes, from %s\n", a->out, n, count, bf16,
           (uint64_t)count - bf16, bytes, a->ckpt);
    free(t);
}

static int export(const ExportArgs *a) {
    char err[1024];
    ModelSpec *s = malloc(sizeof *s);
    if (!s) return fputs("gptc export: out of memory\n", stderr), 1;
    size_t count = 0;
    float *params = NULL;
    int rc = 2;
    CkptMeta meta;
    if (!ckpt_read_head(a->ckpt, s, &meta, err, sizeof err) ||
        !(params = ckpt_read_array(a->ckpt, "params", &count, err, sizeof err)))
        fprintf(stderr, "gptc export: %s\n", err);
    else if (params_fit(a, s, count)) {
        uint64_t bytes = 0;
        rc = 1;
        if (!safetensors_write(a->out, s, meta.step, params, count, a->fp32, &bytes, err, sizeof err))
            fprintf(stderr, "gptc export: %s\n", err);
        else if (a->quiet) rc = 0;
        else {
            summary(a, s, count, bytes);
            rc = fflush(stdout) == 0 ? 0 : 1;
        }
    }
    free(params);
    free(s);
    return rc;
}

int cmd_export(int argc, char **argv) {
    ExportArgs a = {0};
    const CliOpt opts[] = {
        {"-o", "--output", CLI_STRING, .to.str = &a.out, .what = "a file name"},
        {"--fp32", NULL, CLI_FLAG, .to.flag = &a.fp32},
        {"--quiet", NULL, CLI_FLAG, .to.flag = &a.quiet},
        {0},
    };
    const CliCommand cmd = {"gptc export", "checkpoint", .opts = opts, .help = export_help};
    CliArgs args;
    int rc = cli_parse(&cmd, argc, argv, &args);
    if (rc == CLI_GO) {
        a.ckpt = args.args[0];
        if (!a.out || !a.out[0]) rc = cli_usage(&cmd, "no output given (-o FILE.safetensors)");
        else if (!strcmp(a.ckpt, a.out)) rc = cli_usage(&cmd, "the output '%s' is the checkpoint itself", a.out);
        else rc = export(&a);
    }
    cli_free(&args);
    return rc;
}
