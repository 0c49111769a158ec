/*
 * cmd_export.h: `gptc export CKPT -o FILE.safetensors [--fp32]`, a
 * checkpoint's parameters as a safetensors file with modded-nanogpt's
 * names, for PyTorch. `gptc export --help` has the details.
 */
#ifndef GPTC_CMD_EXPORT_H
#define GPTC_CMD_EXPORT_H

/* argv holds the arguments after "export". Returns the exit status: 0 done,
 * 2 bad usage or a bad checkpoint, 1 the output could not be written. */
int cmd_export(int argc, char **argv);

#endif
