/*
 * cuda_drv.h: the CUDA driver API, loaded at run time with dlopen.
 *
 * gptc never links -lcuda, so every binary starts on a machine without the
 * NVIDIA driver; the toolkit's cuda.h supplies the types only. The library
 * is $GPTC_CUDA_LIB when set (only that: tests use it to hide the driver),
 * else libcuda.so.1 on the loader's path. Every entry point is resolved
 * through cuGetProcAddress (CUDA 12+) at the ABI of the CUDA version both
 * the driver and cuda.h know, and each is checked: a driver that lacks one
 * is an error naming it, never a crash at the first call.
 */
#ifndef GPTC_CUDA_DRV_H
#define GPTC_CUDA_DRV_H

#include <cuda.h>
#include <stdbool.h>
#include <stddef.h>

/* Field names are the API's without the "cu" prefix, so that cuda.h's
 * macros (cuMemAlloc -> cuMemAlloc_v2) do not rename them. */
typedef struct {
    int driver_version; /* cuDriverGetVersion: 13000 for 13.0 */
    CUresult (*Init)(unsigned int);
    CUresult (*GetErrorName)(CUresult, const char **);
    CUresult (*DeviceGetCount)(int *);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*DeviceGetName)(char *, int, CUdevice);
    CUresult (*DeviceGetAttribute)(int *, CUdevice_attribute, CUdevice);
    CUresult (*DeviceTotalMem)(size_t *, CUdevice);
    CUresult (*DevicePrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*DevicePrimaryCtxRelease)(CUdevice);
    CUresult (*CtxSetCurrent)(CUcontext);
    CUresult (*CtxSynchronize)(void);
    CUresult (*MemGetInfo)(size_t *, size_t *);
    CUresult (*StreamCreate)(CUstream *, unsigned int);
    CUresult (*StreamDestroy)(CUstream);
    CUresult (*StreamSynchronize)(CUstream);
    CUresult (*EventCreate)(CUevent *, unsigned int);
    CUresult (*EventDestroy)(CUevent);
    CUresult (*EventRecord)(CUevent, CUstream);
    CUresult (*EventSynchronize)(CUevent);
    CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
    CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
    CUresult (*MemcpyDtoDAsync)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
    CUresult (*MemsetD8Async)(CUdeviceptr, unsigned char, size_t, CUstream);
    CUresult (*ModuleLoadData)(CUmodule *, const void *);
    CUresult (*ModuleUnload)(CUmodule);
    CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*FuncSetAttribute)(CUfunction, CUfunction_attribute, int);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void **, void **);
    /* For the NCCL stream's ordering with the Gpu's (cuda/nccl_comm.c). */
    CUresult (*StreamWaitEvent)(CUstream, CUevent, unsigned int);
    CUresult (*EventQuery)(CUevent);
} CudaDrv;

/* The loaded driver with cuInit done, or NULL with the reason in why
 * ("libcuda.so.1 not found: ...", "cuInit failed: CUDA_ERROR_NO_DEVICE").
 * Loads once per process; thread-safe. */
const CudaDrv *cuda_drv(char *why, size_t cap);

/* "CUDA_ERROR_OUT_OF_MEMORY", or "CUresult N" for a code the driver does
 * not name. */
const char *cuda_result_name(const CudaDrv *d, CUresult r);

#endif
