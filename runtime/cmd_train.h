/*
 * cmd_train.h: `gptc train`, the command line of the training loop.
 */
#ifndef GPTC_CMD_TRAIN_H
#define GPTC_CMD_TRAIN_H

/* argv holds the arguments after "train"; returns the exit status. */
int cmd_train(int argc, char **argv);

#endif
