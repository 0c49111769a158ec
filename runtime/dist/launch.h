/*
 * launch.h: `gptc train --ranks N` (and --gpus N) on one machine: starts N
 * ranks, each a `gptc train` with the same arguments, without MPI. This
 * process does not train: it is the ranks' hub (it computes their
 * collectives, coll_hub.c is the ranks' side) and their supervisor (one
 * rank that fails, hangs or dies stops them all, within a bound).
 */
#ifndef GPTC_LAUNCH_H
#define GPTC_LAUNCH_H

/* Starts N copies of this binary, each given `command` (gptc's "train";
 * NULL for a generated trainer), `args` (the arguments after it, without
 * --ranks and --threads) and then `--ranks N --threads K`, where K splits `threads` (0: every core) among the ranks; rank r has
 * GPTC_HUB_FD, GPTC_HUB_RANK=r, GPTC_HUB_SIZE=N and GPTC_LOCAL_RANK=r (the
 * GPU it uses) in its environment. `timeout_s` bounds how long the hub
 * waits for a late rank. Serves the ranks until they have all ended and
 * returns gptc train's exit status: theirs when they ended together (0, 1,
 * 2 or 130), else 1, or 2 or 130 when the rank that stopped the run ended
 * with that. */
int launch_ranks(int nranks, int threads, const char *command, int argc, char **args, double timeout_s);

#endif
