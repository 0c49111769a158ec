/*
 * ref.h: the `ref` executor, a readable fp32 C implementation of the whole
 * model family that interprets the ModelSpec directly (docs/design.md,
 * 'Executors'). It is the oracle every generated kernel is tested against,
 * and the trainer's backend on a machine with no GPU.
 *
 * Two builds of one source: ref_* in float and ref64_* in double.
 */
#ifndef GPTC_REF_H
#define GPTC_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compiler/plan/params.h"
#include "compiler/lang/spec.h"

#define REF_API_NAME(x) ref_##x
#define REF_API_REAL float
#include "runtime/ref/ref_api.h"
#undef REF_API_NAME
#undef REF_API_REAL

#define REF_API_NAME(x) ref64_##x
#define REF_API_REAL double
#include "runtime/ref/ref_api.h"
#undef REF_API_NAME
#undef REF_API_REAL

#endif
