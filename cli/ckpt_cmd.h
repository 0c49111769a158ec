/*
 * ckpt_cmd.h: what the commands that read a checkpoint's model share
 * (gptc eval, sample, lens): the model comes from the checkpoint itself,
 * with no model file.
 */
#ifndef GPTC_CKPT_CMD_H
#define GPTC_CKPT_CMD_H

#include "compiler/lang/spec.h"
#include "runtime/ref/ref.h"
#include "runtime/train/ckpt.h"

typedef int (*CkptCmdFn)(const void *args, const ModelSpec *s, const CkptMeta *meta);

/* Reads checkpoint `ckpt`'s model and meta and runs fn on them; its exit
 * status, or 2 (said, as PROG: why) for a checkpoint that cannot be read. */
int ckpt_cmd_run(const char *prog, const char *ckpt, CkptCmdFn fn, const void *args);

/* The ref executor's model of spec s for up to max_T tokens, holding the
 * checkpoint's parameters; NULL with why (a missing or misfit array). */
ref_Model *ckpt_cmd_ref_model(const char *ckpt, const ModelSpec *s, int max_T, char *err, size_t errlen);

#endif
