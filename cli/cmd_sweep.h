#ifndef GPTC_CMD_SWEEP_H
#define GPTC_CMD_SWEEP_H

/* `gptc sweep`; argv holds the arguments after "sweep". Returns the exit
 * status. */
int cmd_sweep(int argc, char **argv);

#endif
