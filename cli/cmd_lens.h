#ifndef GPTC_CMD_LENS_H
#define GPTC_CMD_LENS_H

/* `gptc lens`; argv holds the arguments after "lens". Returns the exit
 * status. */
int cmd_lens(int argc, char **argv);

#endif
