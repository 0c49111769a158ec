/*
 * cmd_analyze.c: `gptc analyze DIR... -o REPORT`: runs scripts/analyze.py
 * (found beside the gptc binary: build/gptc or build/asan/gptc in a clone),
 * which reads the runs' metrics.jsonl, computes the statistics, writes the
 * CSV files, draws the figures with matplotlib and writes report.md. The
 * script's docstring says what each number is.
 */
#include "cli/cmd_analyze.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/util/fsutil.h"

static const char analyze_help[] =
    "Usage: gptc analyze DIR... -o REPORT [--baseline NAME] [--target LOSS]\n"
    "                    [--steps A:B] [--time A:B] [--no-plots]\n"
    "\n"
    "A report on run directories and sweep directories (gptc sweep's):\n"
    "REPORT/report.md with its figures (PNG) and every plotted series as CSV:\n"
    "the validation loss against step and against training time for every\n"
    "configuration (the mean over seeds with a min-max band), the lambdas per\n"
    "layer at the end of training and over training, the norm-corrected\n"
    "lambdas and the norms per layer, each as the mean over seeds.\n"
    "Statistics per configuration: the mean, standard deviation and range over\n"
    "seeds of the final validation loss, of the mean train loss over the run,\n"
    "and of the steps and time to --target; paired (same seed) differences\n"
    "against the baseline, of the final loss and of the whole curve, with a\n"
    "95% confidence interval and the p-value of a paired t test.\n"
    "\n"
    "Options:\n"
    "  -o REPORT        the report's folder (required)\n"
    "  --baseline NAME  the configuration the others are compared with\n"
    "                   (default the first)\n"
    "  --target LOSS    the validation loss whose first reaching is timed\n"
    "  --steps A:B      also a figure of the steps A to B\n"
    "  --time A:B       also a figure of the training seconds A to B\n"
    "  --no-plots       statistics and CSV files only\n"
    "\n"
    "Needs python3 (Debian's /usr/bin/python3 first), and for the figures\n"
    "matplotlib (Debian's python3-matplotlib; scripts/setup.sh --test installs it).\n";

/* scripts/analyze.py of the clone this gptc was built in. */
static bool find_script(char *out, size_t cap) {
    char exe[4096];
    if (!fs_self_exe(exe, sizeof exe)) return false;
    static const char *const up[] = {"/../scripts/analyze.py", "/../../scripts/analyze.py"};
    char *slash = strrchr(exe, '/');
    if (!slash) return false;
    *slash = 0;
    struct stat st;
    for (size_t i = 0; i < sizeof up / sizeof *up; i++)
        if (snprintf(out, cap, "%s%s", exe, up[i]) < (int)cap && stat(out, &st) == 0) return true;
    return false;
}

int cmd_analyze(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return fputs(analyze_help, stdout), 0;
    char script[4200];
    if (!find_script(script, sizeof script)) {
        fputs("gptc analyze: cannot find scripts/analyze.py beside the gptc binary (run the gptc of a clone)\n", stderr);
        return 1;
    }
    char *args[256];
    int n = 0;
    args[n++] = "python3", args[n++] = script;
    for (int i = 0; i < argc && n < 255; i++) args[n++] = argv[i];
    args[n] = NULL;
    fflush(stdout), fflush(stderr);
    /* Debian's python3, where Debian's python3-matplotlib goes, before any
     * other on PATH. */
    if (access("/usr/bin/python3", X_OK) == 0) execv("/usr/bin/python3", args);
    execvp("python3", args);
    perror("gptc analyze: cannot run python3");
    return 1;
}
