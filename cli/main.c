/*
 * main.c: the gptc command line: the table of commands, `gptc --help`,
 * `gptc --version` and "did you mean" for a misspelt command.
 *
 * Each command is a function that takes its own argv and parses it with
 * cli.h. Exit status: 0 when the command did what was asked, 2 for a bad
 * model file or bad usage (the message says which), 1 for anything else
 * (I/O errors on output).
 */
#include <stdio.h>
#include <string.h>

#include "cli/cmd_analyze.h"
#include "cli/cmd_bench.h"
#include "cli/cmd_check.h"
#include "cli/cmd_compile.h"
#include "cli/cmd_data.h"
#include "cli/cmd_eval.h"
#include "cli/cmd_export.h"
#include "cli/cmd_keys.h"
#include "cli/cmd_lens.h"
#include "cli/cmd_sample.h"
#include "cli/cmd_sweep.h"
#include "cli/cmd_train.h"
#include "cli/cmd_tune.h"
#include "runtime/train/manifest.h"
#include "compiler/lang/suggest.h"
#include "compiler/version.h"

static int compile(int argc, char **argv) { return cmd_compile(argc, argv, GPTC_VERSION); }

static const struct {
    const char *name, *usage, *summary; /* the summary's lines, for gptc --help */
    int (*run)(int argc, char **argv);
} commands[] = {
    {"check", "check MODEL.yaml",
     "validate a model and print its layers, parameter\ncounts, FLOPs per token and memory per GPU", cmd_check},
    {"keys", "keys", "list every key a model file may hold", cmd_keys},
    {"data", "data TEXT... -o DIR", "turn text files into token shards", cmd_data},
    {"compile", "compile MODEL.yaml",
     "generate the model's CUDA kernels (kernels.cu, kernels.h,\nkernels_sim.cc) and compile them with NVRTC", compile},
    {"tune", "tune MODEL.yaml", "choose each kernel's fastest correct variant, into a\ntuning database", cmd_tune},
    {"train", "train MODEL.yaml", "train the model (on the CPU with --backend ref)", cmd_train},
    {"sweep", "sweep SWEEP.yaml", "train configurations times seeds, resuming what stopped", cmd_sweep},
    {"analyze", "analyze DIR... -o R", "a report of runs and sweeps: curves, lambdas, norms,\nstatistics over seeds, paired differences", cmd_analyze},
    {"eval", "eval CKPT", "the validation loss of a checkpoint on any shards", cmd_eval},
    {"sample", "sample CKPT", "continue a prompt with a checkpoint's model", cmd_sample},
    {"lens", "lens CKPT", "a logit lens: the next tokens each layer's x, each\ninput table and each value table predict", cmd_lens},
    {"export", "export CKPT -o F", "write a checkpoint's weights as safetensors", cmd_export},
    {"bench", "bench MODEL", "time whole training steps on one executor", cmd_bench},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static void print_help(FILE *f) {
    fputs("gptc " GPTC_VERSION ": a compiler for modded-nanogpt-style GPT models.\n"
          "\n"
          "A model and its training run are one YAML file (see models/README.md).\n"
          "\n"
          "Usage: gptc COMMAND [ARGS]\n"
          "\n"
          "Commands:\n",
          f);
    for (int i = 0; i < NCOMMANDS; i++) {
        const char *line = commands[i].summary;
        fprintf(f, "  %-18s %.*s\n", commands[i].usage, (int)strcspn(line, "\n"), line);
        while ((line = strchr(line, '\n')) && *++line) fprintf(f, "  %-18s %.*s\n", "", (int)strcspn(line, "\n"), line);
    }
    fputs("\n"
          "Options for every command that reads a model:\n"
          "  --set KEY=VALUE    override one key, e.g. --set model.layers=12\n"
          "                     (repeatable; VALUE is YAML: --set skips.pairs=[[1,3]])\n"
          "\n"
          "  gptc COMMAND --help   help for one command\n"
          "  gptc --version        print the version\n"
          "\n"
          "Exit status: 0 on success, 2 for an invalid model or bad usage.\n",
          f);
}

static int finish_output(void) {
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fputs("gptc: cannot write the output\n", stderr);
        return 1;
    }
    return 0;
}

/* "unknown command", with the nearest word main() takes. */
static int unknown(const char *cmd) {
    const char *names[NCOMMANDS + 4];
    for (int i = 0; i < NCOMMANDS; i++) names[i] = commands[i].name;
    names[NCOMMANDS] = "help";
    names[NCOMMANDS + 1] = "--help";
    names[NCOMMANDS + 2] = "--version";
    names[NCOMMANDS + 3] = NULL;
    fprintf(stderr, "gptc: %s\nTry 'gptc --help'.\n", suggest_unknown("command", cmd, names));
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help"))
        return print_help(stdout), finish_output();
    if (!strcmp(cmd, "--version"))
        return printf("gptc %s (commit %s)\n", GPTC_VERSION, gptc_commit), finish_output();
    manifest_set_command(argc, argv);
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(cmd, commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    return unknown(cmd);
}
