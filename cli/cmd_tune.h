#ifndef GPTC_CMD_TUNE_H
#define GPTC_CMD_TUNE_H

/* `gptc tune`; argv holds the arguments after "tune". Returns the exit
 * status. */
int cmd_tune(int argc, char **argv);

#endif
