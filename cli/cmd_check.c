/*
 * cmd_check.c: `gptc check MODEL.yaml`, a model validated and summed up
 * (report.h), or the model that a `gptc export` file carries.
 */
#include "cli/cmd_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "compiler/lang/diag.h"
#include "compiler/report/report.h"
#include "runtime/train/safetensors.h"
#include "compiler/lang/validate.h"

static const char help[] =
    "Usage: gptc check MODEL.yaml [--set KEY=VALUE]... [--json]\n"
    "       gptc check FILE.safetensors [--set KEY=VALUE]... [--json]\n"
    "\n"
    "Validates MODEL.yaml (with its `extends` chain and the --set overrides), or\n"
    "the model a `gptc export` file carries in its metadata, and prints a\n"
    "summary:\n"
    "  - one row per layer: attention or not, long or short window, the value-\n"
    "    embedding table, skips in and out, the x0 tables mixed in;\n"
    "  - parameters per group and in total;\n"
    "  - forward+backward FLOPs per token (attention at the final window);\n"
    "  - memory per GPU for parameters, gradients, optimizer state and\n"
    "    activations at train.tokens_per_rank tokens.\n"
    "\n"
    "Errors name the file, line and column and the key, e.g.\n"
    "  models/x.yaml:4:8: error: model.dim: expected an integer from 8 to 65536, found 'abc'\n"
    "and exit with status 2.\n"
    "\n"
    "Options:\n"
    "  --set KEY=VALUE   override a key after `extends` (repeatable)\n"
    "  --json            print the summary as one JSON object\n"
    "  --quiet           print no summary (errors still go to stderr)\n"
    "\n"
    "Examples:\n"
    "  gptc check models/r8-medium.yaml\n"
    "  gptc check models/tiny.yaml --set input_embeddings.tables=3\n"
    "  gptc check models/r10-medium-x01.yaml --json | python3 -m json.tool\n";

/* A model file, or the model a safetensors export carries in its metadata
 * (safetensors.h), so that the file alone rebuilds its model. */
static bool load_model(const char *path, const char *const *sets, int nsets, ModelSpec *spec) {
    size_t len = strlen(path);
    if (len < 12 || strcmp(path + len - 12, ".safetensors")) return spec_load(path, sets, nsets, spec);
    char err[1024];
    char *text = safetensors_metadata(path, SAFETENSORS_SPEC_KEY, err, sizeof err);
    if (!text) {
        diag_error((SrcLoc){path, 0, 0}, "%s", err + strlen(path) + 2);
        return false;
    }
    bool ok = spec_load_flat(path, text, strlen(text), sets, nsets, spec);
    free(text);
    return ok;
}

static int check(const char *model, const CliArgs *a, bool json, bool quiet) {
    ModelSpec *spec = malloc(sizeof *spec);
    if (!spec) return fputs("gptc: out of memory\n", stderr), 1;
    int rc = 0;
    if (!load_model(model, a->sets, a->nsets, spec)) {
        fprintf(stderr, "gptc check: %s is not a valid model (%d error%s)\n", model, diag_error_count(),
                diag_error_count() == 1 ? "" : "s");
        rc = 2;
    } else if (!quiet) {
        if (json) report_json(stdout, spec);
        else report_text(stdout, spec);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fputs("gptc: cannot write the output\n", stderr);
            rc = 1;
        }
    }
    free(spec);
    diag_reset();
    return rc;
}

int cmd_check(int argc, char **argv) {
    bool json = false, quiet = false;
    const CliOpt opts[] = {
        {"--set", .kind = CLI_SET},
        {"--json", NULL, CLI_FLAG, .to.flag = &json},
        {"--quiet", NULL, CLI_FLAG, .to.flag = &quiet},
        {0},
    };
    const CliCommand cmd = {"gptc check", "model file", .opts = opts, .help = help};
    CliArgs a;
    int rc = cli_parse(&cmd, argc, argv, &a);
    if (rc == CLI_GO) rc = check(a.args[0], &a, json, quiet);
    cli_free(&a);
    return rc;
}
