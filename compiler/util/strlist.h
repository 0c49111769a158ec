/*
 * strlist.h: whether a name is in a comma-separated list ("relu2,rmsnorm"),
 * for options that pick families by name. Inline, so that the standalone
 * kernel tests use it too.
 */
#ifndef GPTC_STRLIST_H
#define GPTC_STRLIST_H

#include <stdbool.h>
#include <string.h>

static inline bool str_listed(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && !strncmp(p, name, n)) return true;
        p += len + (end != NULL);
    }
    return false;
}

#endif
