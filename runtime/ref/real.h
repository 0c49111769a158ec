/*
 * real.h: the precision of one build of the ref executor.
 *
 * model.c is compiled twice: as float (ref_*, the trainer's oracle, fast)
 * and with REF_DOUBLE as double (ref64_*, for the gradient check against
 * central differences, where float's rounding would swamp the comparison).
 * Everything precision-specific goes through these few names.
 */
#ifndef GPTC_REF_REAL_H
#define GPTC_REF_REAL_H

#include <cblas.h>

#ifdef REF_DOUBLE
typedef double real;
#define RNAME(x) ref64_##x
#define cblas_gemm cblas_dgemm
#define rsqrt_r(x) (1.0 / sqrt(x))
#define exp_r exp
#define log_r log
#define sqrt_r sqrt
#else
typedef float real;
#define RNAME(x) ref_##x
#define cblas_gemm cblas_sgemm
#define rsqrt_r(x) (1.0f / sqrtf(x))
#define exp_r expf
#define log_r logf
#define sqrt_r sqrtf
#endif

#endif
