/* errmsg.c: see errmsg.h. */
#include "runtime/util/errmsg.h"

#include <stdarg.h>
#include <stdio.h>

bool path_error(char *err, size_t errcap, const char *path, const char *fmt, ...) {
    int k = snprintf(err, errcap, "%s: ", path);
    if (k >= 0 && (size_t)k < errcap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, errcap - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return false;
}
