/*
 * bind.h: a plan's kernel steps bound to the kernels of the build's kernel
 * set (emit.h), and their arguments resolved once, before anything runs.
 *
 * The lowering binds each argument by the kernel parameter's name; the
 * kernel set says each parameter's name and C type. bind_plan checks every
 * kernel step against its kernel (each parameter bound exactly once, to a
 * value of its kind, a pointer to a buffer of its element type) and then
 * puts the arguments in the kernel's parameter order with their types, and
 * notes which arguments size the grid, so that an executor launches by
 * walking the arguments in order: no name is looked up and no parameter
 * list is parsed at launch.
 */
#ifndef GPTC_BIND_H
#define GPTC_BIND_H

#include <stdbool.h>
#include <stddef.h>

#include "compiler/codegen/emit.h"
#include "compiler/plan/lower.h"

/* The kernel of family `stem` in kernel set ks (width: the row width that
 * selects among instances; 0 for any): fills the step's kernel name and its
 * place in ks. False when the set has no such kernel. */
bool bind_kernel(const KernelSet *ks, const char *stem, int width, PlanStep *st);

/* Parameter i of a parameter list: its name and C type. Returns the count
 * of parameters (at most max). */
int bind_params(const char *list, char names[][32], ParamType *types, int max);

/* Checks and places every kernel step's arguments (see above); false with
 * the first problem in err (a gptc bug: the lowering and a template
 * disagree). */
bool bind_plan(Plan *p, const KernelSet *ks, char *err, size_t errlen);

#endif
