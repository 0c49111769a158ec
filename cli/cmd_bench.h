/*
 * cmd_bench.h: `gptc bench MODEL.yaml`, whole training steps timed on one
 * executor (cmd_bench.c).
 */
#ifndef GPTC_CMD_BENCH_H
#define GPTC_CMD_BENCH_H

int cmd_bench(int argc, char **argv);

#endif
