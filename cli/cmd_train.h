/*
 * cmd_train.h: `gptc train`, the command line of the training loop.
 */
#ifndef GPTC_CMD_TRAIN_H
#define GPTC_CMD_TRAIN_H

#include "compiler/build.h"

/* argv holds the arguments after "train"; returns the exit status. */
int cmd_train(int argc, char **argv);

/* The same for a generated trainer called `name`, whose build b came
 * linked in (generated/NAME/build.c) with its spec as JSON: argv holds the
 * arguments after the program's name; --set may change train.* keys. */
int cmd_train_generated(int argc, char **argv, const char *name, ModelBuild *b, const char *spec_json);

#endif
