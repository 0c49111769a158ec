/*
 * backend_dev.h: the device executors as Backends (backend_dev.c): `sim`
 * (the generated kernels compiled for this CPU) and `cuda` (the same
 * kernels on a GPU). False with the reason in err.
 */
#ifndef GPTC_BACKEND_DEV_H
#define GPTC_BACKEND_DEV_H

#include "runtime/backend.h"

bool backend_sim_open(Backend *b, const ModelBuild *mb, int max_T, char *err, size_t errcap);
bool backend_cuda_open(Backend *b, const ModelBuild *mb, int max_T, char *err, size_t errcap);

#endif
