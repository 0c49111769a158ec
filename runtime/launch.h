/*
 * launch.h: `gptc train --ranks N` on one machine: starts N ranks with Open
 * MPI's mpirun, each a `gptc train` with the same arguments.
 */
#ifndef GPTC_LAUNCH_H
#define GPTC_LAUNCH_H

/* Runs mpirun with N copies of this binary, each given `args` (the
 * arguments after "train", without --ranks and --threads) and then
 * `--ranks N --threads K`, where K splits `threads` (0: every core) among
 * the ranks. Waits for them and returns gptc train's exit status: theirs,
 * or 1 when a rank was killed. */
int launch_ranks(int nranks, int threads, int argc, char **args);

#endif
