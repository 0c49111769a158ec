/*
 * cmd_keys.h: `gptc keys`, every key a model file may hold (cmd_keys.c).
 */
#ifndef GPTC_CMD_KEYS_H
#define GPTC_CMD_KEYS_H

/* argv holds the arguments after "keys"; returns the exit status. */
int cmd_keys(int argc, char **argv);

#endif
