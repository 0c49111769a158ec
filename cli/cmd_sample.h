#ifndef GPTC_CMD_SAMPLE_H
#define GPTC_CMD_SAMPLE_H

/* `gptc sample`; argv holds the arguments after "sample". Returns the exit
 * status. */
int cmd_sample(int argc, char **argv);

#endif
