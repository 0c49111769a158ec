/*
 * manifest.h: how a run was made, as one JSON object: the gptc release and
 * commit, the command line, the executor with its threads and ranks, the
 * host, its CPU and the BLAS kernel that OpenBLAS picked for it (ref's bits
 * depend on it), the device the executor describes (the GPU, its driver,
 * NVRTC and cuBLASLt for cuda), and the UTC start time. Every run record in
 * metrics.jsonl and in the checkpoint's history carries one (runlog.h).
 */
#ifndef GPTC_MANIFEST_H
#define GPTC_MANIFEST_H

#include <stdio.h>

struct Backend;

/* The environment variable through which `gptc train --ranks N` hands the
 * command line the user typed to the ranks it starts (they run with
 * arguments of their own). */
#define MANIFEST_COMMAND_ENV "GPTC_COMMAND_LINE"

/* Remembers the command line (main calls it once), shell-quoted; a rank
 * takes MANIFEST_COMMAND_ENV instead when it is set. */
void manifest_set_command(int argc, char **argv);

/* The command line as the user typed it; "" before manifest_set_command. */
const char *manifest_command(void);

typedef struct {
    const char *executor;    /* "ref", "sim" or "cuda" */
    int threads;             /* CPU threads of each rank */
    int nranks;              /* processes */
    int slices;              /* slices of the global batch per process */
    const struct Backend *be; /* describes its device, where it has one */
} ManifestRun;

/* Writes the manifest of a run starting now, as one line of JSON. */
void manifest_json(FILE *f, const ManifestRun *r);

#endif
