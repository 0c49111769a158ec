/*
 * cli.h: the one option parser of every gptc command (and of a generated
 * trainer). A command describes its options as a table: each option's
 * name, the kind of value it takes and where the value goes; cli_parse
 * walks argv with it, so that every command takes `--opt V` and
 * `--opt=V` alike (and `-xV` for a one-letter option), collects every
 * --set into one bounded array, and words its refusals the same way:
 *
 *   gptc train: --steps expects a whole number from 1 to 2147483647, found 'x'
 *   Try 'gptc train --help'.
 *
 * "--" ends the options: every argument after it is positional.
 */
#ifndef GPTC_CLI_H
#define GPTC_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* The most --set options one command line may hold. */
#define CLI_MAX_SETS 256

typedef enum {
    CLI_FLAG,     /* no value: *to.flag = true */
    CLI_STRING,   /* any text, "" included: *to.str */
    CLI_COUNT,    /* a whole number from lo to hi, an int: *to.count */
    CLI_COUNT64,  /* the same, an int64_t: *to.count64 */
    CLI_SECONDS,  /* seconds, 0 < S <= 86400: *to.real */
    CLI_POSITIVE, /* a finite number above 0: *to.real */
    CLI_FRACTION, /* a number from 0 up to (not including) 1: *to.real */
    CLI_SET,      /* KEY=VALUE, repeatable: CliArgs.sets, in order */
} CliKind;

typedef struct {
    const char *name;  /* "--steps", or one letter: "-o" */
    const char *alias; /* another name for it ("--output"), or NULL */
    CliKind kind;
    union {
        bool *flag;
        const char **str;
        int *count;
        int64_t *count64;
        double *real;
    } to;
    int64_t lo, hi;   /* CLI_COUNT, CLI_COUNT64: the range, both included */
    const char *what; /* the value in messages ("a file name"); NULL: the kind's words */
    bool optional;    /* the value comes only as NAME=V; NAME alone just counts as seen */
    bool *seen;       /* set when the option is given, or NULL */
} CliOpt;

typedef struct {
    const char *prog;   /* "gptc train", or a generated trainer's name: opens every message */
    const char *noun;   /* the positional argument ("model file"); NULL: the command takes none */
    bool many;          /* any number of them, at least one (else exactly one) */
    const char *stray;  /* noun NULL: the refusal of an argument, '%s' the argument; NULL: a plain one */
    const CliOpt *opts; /* the options, ending with one whose name is NULL */
    const char *help;   /* what --help and -h print */
} CliCommand;

/* What cli_parse found beside the options it stored. */
typedef struct {
    const char *sets[CLI_MAX_SETS];
    int nsets;
    char **args; /* the positional arguments in order (allocated: cli_free) */
    int nargs;
} CliArgs;

/* cli_parse's answer when the command is to go on. */
#define CLI_GO (-1)

/* Parses argv (the arguments after the command's name) into the table's
 * destinations and *out; options may come anywhere among the positional
 * arguments. CLI_GO, or the exit status the command ends with: 0 after
 * printing the help (--help, -h), 2 after a refusal, 1 when out of memory
 * or stdout cannot be written. *out needs cli_free either way. */
int cli_parse(const CliCommand *c, int argc, char **argv, CliArgs *out);

void cli_free(CliArgs *a);

/* "PROG: MESSAGE" and "Try 'PROG --help'." on stderr; returns 2, the exit
 * status of bad usage. For a command's own checks after cli_parse. */
int cli_usage(const CliCommand *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A value the parser took but the command refuses, in the parser's words:
 * "OPTION expects WHAT, found 'VALUE'". Returns 2. */
int cli_bad_value(const CliCommand *c, const char *option, const char *what, const char *value);

/* argv less the options named in `drop` (NULL-terminated) and their
 * values, however each was written: for the command line of a process
 * that takes the rest. Returns how many arguments went to out (argc at
 * most). argv must be one that cli_parse accepted. */
int cli_without(const CliCommand *c, int argc, char **argv, const char *const *drop, char **out);

#endif
