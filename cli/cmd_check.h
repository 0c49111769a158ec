/*
 * cmd_check.h: `gptc check MODEL.yaml`, a model validated and its layers,
 * parameters, FLOPs and memory printed (cmd_check.c).
 */
#ifndef GPTC_CMD_CHECK_H
#define GPTC_CMD_CHECK_H

/* argv holds the arguments after "check"; returns the exit status. */
int cmd_check(int argc, char **argv);

#endif
