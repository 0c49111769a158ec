/*
 * test_cli.c: the option parser every command uses (cli/cli.c), on a table
 * with one option of each kind: both ways of giving a value, the one-letter
 * form, repeated --set up to its bound, positional arguments and "--",
 * unknown and misspelt options, missing and bad values, --help, and
 * cli_without (what gptc train hands its ranks).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tests/unit/test.h"

/* What the test command's options hold after a parse. */
static struct {
    bool flag, seen_opt;
    const char *str;
    int count;
    int64_t count64, opt;
    double secs, pos, frac;
    CliArgs args;
    int rc;
} got;

static const CliOpt opts[] = {
    {"--flag", NULL, CLI_FLAG, .to.flag = &got.flag},
    {"-o", "--output", CLI_STRING, .to.str = &got.str, .what = "a file name"},
    {"--count", NULL, CLI_COUNT, .to.count = &got.count, .lo = 1, .hi = 64},
    {"--big", NULL, CLI_COUNT64, .to.count64 = &got.count64, .lo = 0, .hi = INT64_MAX},
    {"--timeout", NULL, CLI_SECONDS, .to.real = &got.secs},
    {"--peak", NULL, CLI_POSITIVE, .to.real = &got.pos},
    {"--frac", NULL, CLI_FRACTION, .to.real = &got.frac},
    {"--stats", NULL, CLI_COUNT64, .to.count64 = &got.opt, .lo = 1, .hi = 100, .optional = true,
     .seen = &got.seen_opt},
    {"--set", .kind = CLI_SET},
    {0},
};

static const CliCommand one = {"gptc test", "model file", .opts = opts, .help = "Usage: gptc test MODEL\n"};
static const CliCommand many = {"gptc test", "input files", .many = true, .opts = opts, .help = "help\n"};
static const CliCommand none = {"gptc test", .opts = opts, .help = "help\n"};
static const CliCommand *cmd = &one;

static int parse(int argc, char **argv) {
    cli_free(&got.args);
    memset(&got, 0, sizeof got);
    got.rc = cli_parse(cmd, argc, argv, &got.args);
    return got.rc;
}

static char out[4096], err[4096];
#define RUN(...) test_run(parse, out, sizeof out, err, sizeof err, __VA_ARGS__, NULL)

TEST(cli_every_kind_both_ways) {
    cmd = &one;
    CHECK_EQ_INT(RUN("m.yaml", "--flag", "-o", "a", "--count", "7", "--big", "5000000000", "--timeout", "2.5",
                     "--peak", "989", "--frac", "0.25", "--stats"),
                 CLI_GO);
    CHECK(got.flag && !strcmp(got.str, "a") && got.count == 7 && got.count64 == 5000000000LL);
    CHECK(got.secs == 2.5 && got.pos == 989 && got.frac == 0.25);
    CHECK(got.seen_opt && got.opt == 0); /* --stats alone: seen, no value */
    CHECK_EQ_INT(got.args.nargs, 1);
    CHECK(!strcmp(got.args.args[0], "m.yaml"));
    CHECK_EQ_INT(RUN("--output=b", "--count=8", "--big=0", "--timeout=86400", "--peak=1e-3", "--frac=0", "--stats=42",
                     "m.yaml"),
                 CLI_GO);
    CHECK(!strcmp(got.str, "b") && got.count == 8 && got.count64 == 0 && got.secs == 86400);
    CHECK(got.pos == 1e-3 && got.frac == 0 && got.seen_opt && got.opt == 42);
    /* A one-letter option takes its value attached too, and "" is a value. */
    CHECK_EQ_INT(RUN("-oc", "m.yaml"), CLI_GO);
    CHECK(!strcmp(got.str, "c"));
    CHECK_EQ_INT(RUN("-o=d", "m.yaml"), CLI_GO);
    CHECK(!strcmp(got.str, "d"));
    CHECK_EQ_INT(RUN("-o", "", "m.yaml"), CLI_GO);
    CHECK(got.str && !*got.str);
    /* A value may start with a dash: it is the value, not an option. */
    CHECK_EQ_INT(RUN("m.yaml", "-o", "--flag"), CLI_GO);
    CHECK(!strcmp(got.str, "--flag") && !got.flag);
    CHECK_EQ_INT(strlen(err), 0);
}

TEST(cli_set_repeats_in_order) {
    cmd = &one;
    CHECK_EQ_INT(RUN("m.yaml", "--set", "a=1", "--set=b=2", "--set", "a=3", "--set=c"), CLI_GO);
    CHECK_EQ_INT(got.args.nsets, 4);
    if (got.args.nsets == 4) {
        CHECK(!strcmp(got.args.sets[0], "a=1") && !strcmp(got.args.sets[1], "b=2"));
        /* KEY=VALUE is the model loader's to check: it says where a bad one is. */
        CHECK(!strcmp(got.args.sets[2], "a=3") && !strcmp(got.args.sets[3], "c"));
    }
}

/* CLI_MAX_SETS --set options pass, one more is refused. */
TEST(cli_set_bound) {
    cmd = &one;
    enum { N = 2 * CLI_MAX_SETS + 3 };
    char *argv[N];
    argv[0] = "m.yaml";
    for (int i = 0; i < CLI_MAX_SETS + 1; i++) argv[1 + 2 * i] = "--set", argv[2 + 2 * i] = "k=v";
    CHECK_EQ_INT(test_capture(parse, N - 2, argv, out, sizeof out, err, sizeof err), CLI_GO);
    CHECK_EQ_INT(got.args.nsets, CLI_MAX_SETS);
    CHECK_EQ_INT(test_capture(parse, N, argv, out, sizeof out, err, sizeof err), 2);
    char want[64];
    snprintf(want, sizeof want, "gptc test: more than %d --set options\n", CLI_MAX_SETS);
    CHECK_HAS(err, want);
}

TEST(cli_unknown_and_misspelt_options) {
    cmd = &one;
    CHECK_EQ_INT(RUN("m.yaml", "--cuont", "3"), 2);
    CHECK_HAS(err, "gptc test: unknown option '--cuont'; did you mean '--count'?\nTry 'gptc test --help'.\n");
    CHECK_EQ_INT(RUN("m.yaml", "--outptu=x"), 2);
    CHECK_HAS(err, "unknown option '--outptu=x'; did you mean '--output'?");
    CHECK_EQ_INT(RUN("m.yaml", "--colour"), 2);
    CHECK_HAS(err, "gptc test: unknown option '--colour'\n");
    /* A known name with more letters is another option. */
    CHECK_EQ_INT(RUN("m.yaml", "--flags"), 2);
    CHECK_HAS(err, "unknown option '--flags'; did you mean '--flag'?");
    CHECK_EQ_INT(RUN("m.yaml", "--flag=yes"), 2);
    CHECK_HAS(err, "gptc test: --flag takes no value, found 'yes'");
}

TEST(cli_missing_and_bad_values) {
    cmd = &one;
    CHECK_EQ_INT(RUN("m.yaml", "-o"), 2);
    CHECK_HAS(err, "gptc test: -o needs a file name\nTry 'gptc test --help'.\n");
    CHECK_EQ_INT(RUN("m.yaml", "--output"), 2);
    CHECK_HAS(err, "gptc test: --output needs a file name\n");
    CHECK_EQ_INT(RUN("m.yaml", "--set"), 2);
    CHECK_HAS(err, "--set needs KEY=VALUE");
    CHECK_EQ_INT(RUN("m.yaml", "--count"), 2);
    CHECK_HAS(err, "--count needs a whole number from 1 to 64\n");
    static const char *const bad_counts[] = {"0", "65", "x", "", "3x", "1.5", "-1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_counts / sizeof *bad_counts; i++) {
        char want[128];
        snprintf(want, sizeof want, "--count expects a whole number from 1 to 64, found '%s'\n", bad_counts[i]);
        CHECK_EQ_INT(RUN("m.yaml", "--count", bad_counts[i]), 2);
        CHECK_HAS(err, want);
    }
    CHECK_EQ_INT(RUN("m.yaml", "--big=-1"), 2);
    CHECK_HAS(err, "--big expects a whole number from 0 up, found '-1'");
    CHECK_EQ_INT(RUN("m.yaml", "--big", "9223372036854775808"), 2);
    CHECK_HAS(err, "found '9223372036854775808'");
    CHECK_EQ_INT(RUN("m.yaml", "--stats=0"), 2);
    CHECK_HAS(err, "--stats expects a whole number from 1 to 100, found '0'");
    CHECK_EQ_INT(RUN("m.yaml", "--timeout", "0"), 2);
    CHECK_HAS(err, "--timeout expects seconds (0 < S <= 86400), found '0'");
    CHECK_EQ_INT(RUN("m.yaml", "--timeout", "86401"), 2);
    CHECK_EQ_INT(RUN("m.yaml", "--peak=0"), 2);
    CHECK_HAS(err, "--peak expects a number above 0, found '0'");
    CHECK_EQ_INT(RUN("m.yaml", "--peak", "inf"), 2);
    CHECK_EQ_INT(RUN("m.yaml", "--peak", "nan"), 2);
    CHECK_EQ_INT(RUN("m.yaml", "--frac", "1"), 2);
    CHECK_HAS(err, "--frac expects a number from 0 up to (not including) 1, found '1'");
    CHECK_EQ_INT(RUN("m.yaml", "--frac", "-0.1"), 2);
    CHECK_EQ_INT(strlen(out), 0);
}

TEST(cli_positional_arguments) {
    cmd = &one;
    CHECK_EQ_INT(RUN("--flag"), 2);
    CHECK_HAS(err, "gptc test: no model file given\n");
    CHECK_EQ_INT(RUN("a.yaml", "b.yaml"), 2);
    CHECK_HAS(err, "gptc test: one model file at a time; 'b.yaml' is a second\n");
    /* After "--" everything is an argument; "-" alone always is one. */
    CHECK_EQ_INT(RUN("--", "--flag"), CLI_GO);
    CHECK(!got.flag && got.args.nargs == 1 && !strcmp(got.args.args[0], "--flag"));
    CHECK_EQ_INT(RUN("-"), CLI_GO);
    CHECK(got.args.nargs == 1 && !strcmp(got.args.args[0], "-"));
    cmd = &many;
    CHECK_EQ_INT(RUN("a", "--flag", "b", "--", "-c", "--help"), CLI_GO);
    CHECK(got.flag && got.args.nargs == 4);
    if (got.args.nargs == 4) CHECK(!strcmp(got.args.args[1], "b") && !strcmp(got.args.args[3], "--help"));
    CHECK_EQ_INT(RUN("--flag"), 2);
    CHECK_HAS(err, "gptc test: no input files given\n");
    cmd = &none;
    CHECK_EQ_INT(RUN("--flag"), CLI_GO);
    CHECK_EQ_INT(RUN("x"), 2);
    CHECK_HAS(err, "gptc test: unexpected argument 'x'\n");
    CliCommand stray = none;
    stray.stray = "'%s': this one takes no file";
    cmd = &stray;
    CHECK_EQ_INT(RUN("x"), 2);
    CHECK_HAS(err, "gptc test: 'x': this one takes no file\n");
    cmd = &one;
}

TEST(cli_help) {
    cmd = &one;
    CHECK_EQ_INT(RUN("--help"), 0);
    CHECK_HAS(out, "Usage: gptc test MODEL\n");
    CHECK_EQ_INT(RUN("m.yaml", "-h", "--bogus"), 0); /* before the bad option: help */
    CHECK_HAS(out, "Usage: gptc test MODEL\n");
    CHECK_EQ_INT(RUN("--bogus", "--help"), 2); /* after it: the refusal */
    CHECK_EQ_INT(strlen(out), 0);
}

/* What gptc train hands its ranks: the named options gone, however given. */
TEST(cli_without_drops_options_and_their_values) {
    char *argv[] = {"m.yaml", "--count", "4", "--flag", "--count=5", "-ox", "--output", "y", "--set", "a=1",
                    "--stats", "--", "--count", "6"};
    int argc = (int)(sizeof argv / sizeof *argv);
    char *kept[sizeof argv / sizeof *argv];
    static const char *const drop[] = {"--count", "-o", NULL};
    int n = cli_without(&one, argc, argv, drop, kept);
    static const char *const want[] = {"m.yaml", "--flag", "--set", "a=1", "--stats", "--", "--count", "6"};
    CHECK_EQ_INT(n, (int)(sizeof want / sizeof *want));
    for (int i = 0; i < n && i < (int)(sizeof want / sizeof *want); i++) CHECK(!strcmp(kept[i], want[i]));
    static const char *const keep_all[] = {NULL};
    CHECK_EQ_INT(cli_without(&one, argc, argv, keep_all, kept), argc);
    cli_free(&got.args);
}
