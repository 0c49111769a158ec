/*
 * schedule.h: the plan (lower.h, placed by bufplan.h) as C data tables,
 * generated/NAME/schedule.c: the reviewable form of what the executor runs.
 * The executor plans from the ModelSpec in-process; tests/unit/test_lower.c
 * checks that generated/tiny/schedule.c holds the same plan.
 */
#ifndef GPTC_SCHEDULE_H
#define GPTC_SCHEDULE_H

#include "bufplan.h"
#include "strbuf.h"

void schedule_emit(const Plan *p, const BufPlanSize *size, const char *header, StrBuf *out);

const char *schedule_arg_kind(ArgKind k);
const char *schedule_step_kind(StepKind k);
const char *schedule_buf_class(BufClass c);
const char *schedule_plane(ParamPlane pl);

#endif
