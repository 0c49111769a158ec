#ifndef GPTC_CMD_EVAL_H
#define GPTC_CMD_EVAL_H

/* `gptc eval`; argv holds the arguments after "eval". Returns the exit
 * status. */
int cmd_eval(int argc, char **argv);

#endif
