/*
 * test_suggest.c: "did you mean" (compiler/lang/suggest.c): the edit distance,
 * when a name is close enough to offer, how options are compared (dashes and
 * "=VALUE" aside), and the message. The option lists are the shapes the
 * commands use; `gptc train --jsn` must stay quiet, since no train option is
 * near it.
 */
#include <string.h>

#include "compiler/lang/suggest.h"
#include "tests/unit/test.h"

static const char *const train_like[] = {"--run-dir", "--steps", "--resume", "--backend",
                                         "--threads", "--ranks", "--gpus", "--rank-timeout",
                                         "--set", "--no-progress", "--help", NULL};
static const char *const bench_like[] = {"--backend", "--tokens", "--steps", "--json", "--set",
                                         NULL};
static const char *const commands[] = {"check", "keys", "data", "compile", "train", "export",
                                       "bench", "--version", NULL};

static void check_name(int line, const char *word, const char *const *names, const char *want) {
    const char *got = suggest_name(word, names);
    if (want ? got && !strcmp(got, want) : !got) return;
    char m[256];
    snprintf(m, sizeof m, "suggest_name(%s) = %s, want %s", word, got ? got : "NULL",
             want ? want : "NULL");
    test_fail(__FILE__, line, m);
}
#define NAME(word, names, want) check_name(__LINE__, word, names, want)

TEST(suggest_distance_counts_edits) {
    CHECK_EQ_INT(suggest_distance("train", "train"), 0);
    CHECK_EQ_INT(suggest_distance("trian", "train"), 2); /* a swap is two edits */
    CHECK_EQ_INT(suggest_distance("chek", "check"), 1);
    CHECK_EQ_INT(suggest_distance("jsn", "set"), 3);
    CHECK_EQ_INT(suggest_distance("", "abc"), 3);
    CHECK_EQ_INT(suggest_distance("kitten", "sitting"), 3);
    char longword[100];
    memset(longword, 'a', 99);
    longword[99] = '\0';
    CHECK_EQ_INT(suggest_distance(longword, "a"), 99);
}

TEST(suggest_close_scales_with_the_word) {
    CHECK(suggest_close(1, 3));
    CHECK(!suggest_close(2, 3));
    CHECK(suggest_close(2, 7));
    CHECK(!suggest_close(3, 7));
    CHECK(suggest_close(3, 8));
    CHECK(!suggest_close(4, 20));
    /* Replacing a whole word is no suggestion. */
    CHECK(!suggest_close(1, 1));
    CHECK(!suggest_close(0, 0));
}

TEST(suggest_commands_and_options) {
    NAME("trian", commands, "train");
    NAME("chek", commands, "check");
    NAME("bench", commands, "bench");
    NAME("--verison", commands, "--version");
    NAME("bogus", commands, NULL);
    NAME("x", commands, NULL);
    /* Options: the dashes and the value are not part of the name. */
    NAME("--jsn", bench_like, "--json");
    NAME("-json", bench_like, "--json");
    NAME("--tokns=64", bench_like, "--tokens");
    NAME("--threds", train_like, "--threads");
    NAME("--no-progres", train_like, "--no-progress");
    NAME("--ranktimeout", train_like, "--rank-timeout");
    /* Nothing in train's list is near --jsn: no suggestion, not a wild one. */
    NAME("--jsn", train_like, NULL);
    NAME("--", train_like, NULL);
    NAME("-x", train_like, NULL);
    NAME("--completely-unrelated", train_like, NULL);
}

TEST(suggest_unknown_message) {
    CHECK(!strcmp(suggest_unknown("command", "trian", commands),
                  "unknown command 'trian'; did you mean 'train'?"));
    CHECK(!strcmp(suggest_unknown("option", "--jsn", train_like), "unknown option '--jsn'"));
    CHECK(!strcmp(suggest_unknown("option", "--jsn", bench_like),
                  "unknown option '--jsn'; did you mean '--json'?"));
}
