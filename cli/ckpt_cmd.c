/*
 * ckpt_cmd.c: running a command on a checkpoint's model (ckpt_cmd.h).
 */
#include "cli/ckpt_cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

ref_Model *ckpt_cmd_ref_model(const char *ckpt, const ModelSpec *s, int max_T, char *err, size_t errlen) {
    ref_Model *m = ref_model_new(s, max_T);
    size_t count = 0;
    float *params = ckpt_read_array(ckpt, "params", &count, err, errlen);
    bool fit = params && count == ref_num_params(m);
    if (fit) memcpy(ref_params(m), params, count * sizeof(float));
    else if (params) snprintf(err, errlen, "%s: the parameters do not fit its model", ckpt);
    free(params);
    if (!fit) ref_model_free(m);
    return fit ? m : NULL;
}
