/*
 * cmd_keys.c: `gptc keys [--markdown]`, the key table of model files
 * (schema.h) as text, or as the Markdown reference of models/README.md.
 */
#include "cli/cmd_keys.h"

#include <stdbool.h>
#include <stdio.h>

#include "cli/cli.h"
#include "compiler/lang/schema.h"

static const char help[] =
    "Usage: gptc keys [--markdown]\n"
    "\n"
    "Lists every key a model file may hold, one per line with its type and\n"
    "default. --markdown prints the full reference (type, default, range and\n"
    "meaning) as the tables that models/README.md carries.\n";

int cmd_keys(int argc, char **argv) {
    bool markdown = false;
    const CliOpt opts[] = {
        {"--markdown", NULL, CLI_FLAG, .to.flag = &markdown},
        {0},
    };
    const CliCommand cmd = {"gptc keys", .opts = opts, .help = help};
    CliArgs a;
    int rc = cli_parse(&cmd, argc, argv, &a);
    cli_free(&a);
    if (rc != CLI_GO) return rc;
    if (markdown) schema_print_markdown(stdout);
    else schema_print_text(stdout);
    if (fflush(stdout) == 0 && !ferror(stdout)) return 0;
    fputs("gptc: cannot write the output\n", stderr);
    return 1;
}
