/*
 * buildc.h: a model build written out as C data (generated/NAME/build.c),
 * the form the generated trainer links and a reviewer reads.
 *
 * The file defines `ModelBuild gptc_build` (build.h) with everything
 * model_build made, but for two things it carries in other forms: the
 * ModelSpec, as the one-line JSON of `gptc check --json` (gptc_build_spec:
 * the generated trainer reads it back with spec_load_flat and puts it in
 * gptc_build.spec before anything runs), and the kernels' source, which
 * is kernels.cu beside it (the trainer runs the kernels compiled ahead of
 * time, so kernels_cu is NULL). The plan's op graph, which only the
 * reports read, is left out. Everything else is the build itself: the
 * tensors and their roles, the kernel set, every step with its arguments
 * in kernel parameter order, the arena and the optimizer's launches.
 */
#ifndef GPTC_BUILDC_H
#define GPTC_BUILDC_H

#include "compiler/build.h"
#include "compiler/util/strbuf.h"

void buildc_emit(const ModelBuild *b, const char *header, StrBuf *out);

/* The names buildc_emit writes for enum values (also for printing). */
const char *buildc_arg_kind(ArgKind k);
const char *buildc_step_kind(StepKind k);

#endif
