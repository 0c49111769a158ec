/* suggest.c: see suggest.h. */
#include "compiler/lang/suggest.h"

#include <stdio.h>
#include <string.h>

int suggest_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

bool suggest_close(int d, size_t len) {
    int limit = len < 4 ? 1 : len < 8 ? 2 : 3;
    return d <= limit && (size_t)d < len;
}

/* The part of an option that names it: no leading dashes, no "=VALUE". */
static void bare(const char *word, char *out, size_t cap) {
    while (*word == '-') word++;
    snprintf(out, cap, "%.*s", (int)strcspn(word, "="), word);
}

const char *suggest_name(const char *word, const char *const *names) {
    char w[128], n[128];
    bare(word, w, sizeof w);
    const char *best = NULL;
    int best_d = 99;
    for (int i = 0; names[i]; i++) {
        bare(names[i], n, sizeof n);
        int d = suggest_distance(w, n);
        if (d < best_d) best_d = d, best = names[i];
    }
    return best && suggest_close(best_d, strlen(w)) ? best : NULL;
}

const char *suggest_unknown(const char *what, const char *word, const char *const *names) {
    static char buf[256];
    const char *near = suggest_name(word, names);
    if (near) snprintf(buf, sizeof buf, "unknown %s '%s'; did you mean '%s'?", what, word, near);
    else snprintf(buf, sizeof buf, "unknown %s '%s'", what, word);
    return buf;
}
