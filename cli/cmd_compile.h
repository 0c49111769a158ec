/*
 * cmd_compile.h: `gptc compile`, which generates a model's kernels
 * (kernels.cu, kernels.h) and compiles them with NVRTC for each architecture.
 */
#ifndef GPTC_CMD_COMPILE_H
#define GPTC_CMD_COMPILE_H

/* argv holds the arguments after "compile"; `version` is gptc's, for the
 * generated files' headers. Returns the exit status. */
int cmd_compile(int argc, char **argv, const char *version);

#endif
