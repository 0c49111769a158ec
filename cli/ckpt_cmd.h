/*
 * ckpt_cmd.h: what the commands that read a checkpoint's model share
 * (gptc eval, sample, lens): the model comes from the checkpoint itself,
 * with no model file.
 */
#ifndef GPTC_CKPT_CMD_H
#define GPTC_CKPT_CMD_H

#include "compiler/lang/spec.h"
#include "runtime/train/ckpt.h"

typedef int (*CkptCmdFn)(const void *args, const ModelSpec *s, const CkptMeta *meta);

/* Reads checkpoint `ckpt`'s model and meta and runs fn on them; its exit
 * status, or 2 (said, as PROG: why) for a checkpoint that cannot be read. */
int ckpt_cmd_run(const char *prog, const char *ckpt, CkptCmdFn fn, const void *args);

#endif
