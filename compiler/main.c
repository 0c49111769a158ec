/*
 * main.c: the gptc command line.
 *
 * Each command is a function that takes its own argv. Exit status: 0 when
 * the command did what was asked, 2 for a bad model file or bad usage (the
 * message says which), 1 for anything else (I/O errors on output).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_bench.h"
#include "cmd_compile.h"
#include "cmd_data.h"
#include "cmd_export.h"
#include "cmd_train.h"
#include "manifest.h"
#include "report.h"
#include "safetensors.h"
#include "schema.h"
#include "suggest.h"
#include "validate.h"
#include "version.h"

#define MAX_SETS 256

static const char main_help[] =
    "gptc " GPTC_VERSION ": a compiler for modded-nanogpt-style GPT models.\n"
    "\n"
    "A model and its training run are one YAML file (see models/README.md).\n"
    "\n"
    "Usage: gptc COMMAND [ARGS]\n"
    "\n"
    "Commands:\n"
    "  check MODEL.yaml   validate a model and print its layers, parameter\n"
    "                     counts, FLOPs per token and memory per GPU\n"
    "  keys               list every key a model file may hold\n"
    "  data TEXT... -o DIR  turn text files into token shards\n"
    "  compile MODEL.yaml generate the model's CUDA kernels (kernels.cu, plan.h,\n"
    "                     kernels_sim.cc) and compile them with NVRTC\n"
    "  train MODEL.yaml   train the model (on the CPU with --backend ref)\n"
    "  export CKPT -o F   write a checkpoint's weights as safetensors\n"
    "  bench MODEL        time whole training steps on one executor\n"
    "\n"
    "Options for every command that reads a model:\n"
    "  --set KEY=VALUE    override one key, e.g. --set model.layers=12\n"
    "                     (repeatable; VALUE is YAML: --set skips.pairs=[[1,3]])\n"
    "\n"
    "  gptc COMMAND --help   help for one command\n"
    "  gptc --version        print the version\n"
    "\n"
    "Exit status: 0 on success, 2 for an invalid model or bad usage.\n";

static const char check_help[] =
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

static const char keys_help[] =
    "Usage: gptc keys [--markdown]\n"
    "\n"
    "Lists every key a model file may hold, one per line with its type and\n"
    "default. --markdown prints the full reference (type, default, range and\n"
    "meaning) as the tables that models/README.md carries.\n";

static const char *const check_options[] = {"--set", "--json", "--quiet", "--help", NULL};
static const char *const keys_options[] = {"--markdown", "--help", NULL};

static int usage_error(const char *cmd, const char *fmt, const char *arg) {
    fprintf(stderr, "gptc %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nTry 'gptc %s --help'.\n", cmd);
    return 2;
}

static bool is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

static int finish_output(void) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("gptc: cannot write the output\n", stderr);
        return 1;
    }
    return 0;
}

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

static int cmd_check(int argc, char **argv) {
    const char *model = NULL, *sets[MAX_SETS];
    int nsets = 0;
    bool json = false, quiet = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) return fputs(check_help, stdout), finish_output();
        if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--quiet")) quiet = true;
        else if (!strcmp(a, "--set") || !strncmp(a, "--set=", 6)) {
            const char *v = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) return usage_error("check", "%s needs KEY=VALUE", a);
            if (nsets == MAX_SETS) return usage_error("check", "more than %s --set options", "256");
            sets[nsets++] = v;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("check", "%s", suggest_unknown("option", a, check_options));
        } else if (model) {
            return usage_error("check", "one model at a time; '%s' is a second", a);
        } else {
            model = a;
        }
    }
    if (!model) return usage_error("check", "%s", "no model file given");
    ModelSpec *spec = malloc(sizeof *spec);
    if (!spec) return fputs("gptc: out of memory\n", stderr), 1;
    int rc = 0;
    if (!load_model(model, sets, nsets, spec)) {
        fprintf(stderr, "gptc check: %s is not a valid model (%d error%s)\n", model,
                diag_error_count(), diag_error_count() == 1 ? "" : "s");
        rc = 2;
    } else if (!quiet) {
        if (json) report_json(stdout, spec);
        else report_text(stdout, spec);
        rc = finish_output();
    }
    free(spec);
    diag_reset();
    return rc;
}

static int cmd_keys(int argc, char **argv) {
    bool markdown = false;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) return fputs(keys_help, stdout), finish_output();
        if (strcmp(argv[i], "--markdown"))
            return usage_error("keys", "%s", suggest_unknown("option", argv[i], keys_options));
        markdown = true;
    }
    if (markdown) schema_print_markdown(stdout);
    else schema_print_text(stdout);
    return finish_output();
}

/* For "did you mean": every word main() takes as a command. */
static const char *const commands[] = {"check", "keys", "data", "compile", "train", "export",
                                       "bench", "help", "--help", "--version", NULL};

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(main_help, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (is_help(cmd) || !strcmp(cmd, "help")) return fputs(main_help, stdout), finish_output();
    if (!strcmp(cmd, "--version"))
        return printf("gptc %s (commit %s)\n", GPTC_VERSION, gptc_commit), finish_output();
    manifest_set_command(argc, argv);
    if (!strcmp(cmd, "check")) return cmd_check(argc - 2, argv + 2);
    if (!strcmp(cmd, "keys")) return cmd_keys(argc - 2, argv + 2);
    if (!strcmp(cmd, "data")) return cmd_data(argc - 2, argv + 2);
    if (!strcmp(cmd, "compile")) return cmd_compile(argc - 2, argv + 2, GPTC_VERSION);
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "export")) return cmd_export(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    fprintf(stderr, "gptc: %s\nTry 'gptc --help'.\n", suggest_unknown("command", cmd, commands));
    return 2;
}
