/*
 * cublaslt.h: Gpu.gemm on the GPU through cuBLASLt, loaded with dlopen.
 *
 * The library: $GPTC_CUBLASLT_LIB when set (only that); else
 * libcublasLt.so.13 on the loader's path, in $CUDA_HOME/lib64 and
 * /usr/local/cuda/lib64, then in the CUDA wheels of Python installs
 * (site-packages or dist-packages nvidia/cublas/lib and nvidia/cu13/lib,
 * system-wide, in $VIRTUAL_ENV and in ~/.local). It needs no other CUDA
 * library, and loads on a machine without a GPU.
 *
 * GpuGemm is row-major; cuBLASLt is column-major. A row-major [r, c]
 * matrix is the column-major [c, r] one with the same leading dimension,
 * so C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T:
 * cuBLASLt's first operand is B, its second is A, and the transposes keep
 * their meaning per operand. Compute type fp32 (CUBLAS_COMPUTE_32F: no
 * TF32 for fp32 inputs), scale type fp32; D is C (in place, beta 0 or 1).
 * Supported: bf16 x bf16 -> bf16 or fp32, and fp32 x fp32 -> fp32.
 * Each distinct shape (sizes, strides, types, transposes, pointer
 * alignments, beta == 0) keeps its descriptors and the heuristic's first
 * algorithm for a 32 MiB workspace, so a training step asks the heuristic
 * once per GEMM shape; gptc tune may set another of the heuristic's
 * algorithms for a shape (cublaslt_algos, cublaslt_use), by its
 * configuration fields.
 */
#ifndef GPTC_CUBLASLT_H
#define GPTC_CUBLASLT_H

#include <cuda.h>
#include <stdbool.h>
#include <stddef.h>

#include "runtime/device/gpu.h"

#define CUBLASLT_WORKSPACE_BYTES ((size_t)32 << 20)
#define CUBLASLT_MAX_ALGOS 16 /* the heuristic's algorithms gptc tune tries, after the first */

typedef struct CublasLt CublasLt;

/* Loads the library once (thread-safe); false with the places tried. */
bool cublaslt_load(char *why, size_t cap);

/* cublasLtGetVersion(), e.g. 130100; 0 when not loaded. */
size_t cublaslt_version(void);

/* A handle for the current context, running on `stream` with `workspace`
 * (CUBLASLT_WORKSPACE_BYTES of device memory, owned by the caller). */
CublasLt *cublaslt_open(CUstream stream, CUdeviceptr workspace, char *why, size_t cap);

/* Checks mm and runs it; 0, or -1 with the call and the cuBLAS status name
 * in err. */
int cublaslt_gemm(CublasLt *lt, const GpuGemm *mm, char *err, size_t cap);

/* The heuristic's algorithms for mm's shape after its first (the default),
 * at most max, by their configuration fields; how many, or -1 with err. */
int cublaslt_algos(CublasLt *lt, const GpuGemm *mm, GpuGemmAlgo *out, int max, char *err, size_t cap);

/* GEMMs whose gpu_gemm_key is `key` run algorithm a from now on (rebuilt
 * from its fields and checked with cublasLtMatmulAlgoCheck when a GEMM of
 * that shape first runs), or the heuristic's first again (a NULL; a NULL
 * key: every shape); 0, or -1 with err (the algorithm does not fit a shape
 * already planned). */
int cublaslt_use(CublasLt *lt, const char *key, const GpuGemmAlgo *a, char *err, size_t cap);

void cublaslt_close(CublasLt *lt);

#endif
