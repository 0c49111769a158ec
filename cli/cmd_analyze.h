#ifndef GPTC_CMD_ANALYZE_H
#define GPTC_CMD_ANALYZE_H

/* `gptc analyze`; argv holds the arguments after "analyze". Returns the
 * exit status (on success it does not return: python3 takes the process). */
int cmd_analyze(int argc, char **argv);

#endif
