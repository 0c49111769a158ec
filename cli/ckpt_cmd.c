/*
 * ckpt_cmd.c: running a command on a checkpoint's model (ckpt_cmd.h).
 */
#include "cli/ckpt_cmd.h"

#include <stdio.h>
#include <stdlib.h>

#include "compiler/lang/diag.h"

int ckpt_cmd_run(const char *prog, const char *ckpt, CkptCmdFn fn, const void *args) {
    ModelSpec *s = malloc(sizeof *s);
    CkptMeta meta;
    char err[1024];
    int rc;
    if (!s) rc = 1, fputs("gptc: out of memory\n", stderr);
    else if (!ckpt_read_head(ckpt, s, &meta, err, sizeof err)) rc = 2, fprintf(stderr, "%s: %s\n", prog, err);
    else rc = fn(args, s, &meta);
    free(s);
    diag_reset();
    return rc;
}
