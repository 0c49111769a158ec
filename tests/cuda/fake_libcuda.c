/*
 * fake_libcuda.c: a stand-in for libcuda.so.1, so that the driver loader
 * (runtime/device/cuda/cuda_drv.c) and gpu_cuda_open's error paths are tested on
 * machines without a GPU (tests/run-cuda.sh loads it with GPTC_CUDA_LIB).
 * It exports only cuDriverGetVersion and cuGetProcAddress_v2, as a real
 * driver's loader would use them, and behaves as the environment says:
 *   FAKE_CUDA_MISSING=NAME   cuGetProcAddress does not know NAME
 *   FAKE_CUDA_INIT=FAIL      cuInit answers CUDA_ERROR_NO_DEVICE
 *   FAKE_CUDA_DEVICES=N      cuDeviceGetCount answers N (default 0)
 *   FAKE_CUDA_EVENT=NOT_READY cuEventQuery never sees an event complete
 * A device, when there is one, is described (an sm_90 with 132 SMs) but
 * has no memory: cuDevicePrimaryCtxRetain answers CUDA_ERROR_OUT_OF_MEMORY.
 * Streams and events (for the NCCL DevComm's test, tests/cuda/fake_libnccl.c)
 * are accepted and do nothing.
 */
#include <cuda.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static CUresult ok(void) { return CUDA_SUCCESS; }
static CUresult unsupported(void) { return CUDA_ERROR_NOT_SUPPORTED; }

static CUresult fake_init(unsigned int flags) {
    (void)flags;
    const char *e = getenv("FAKE_CUDA_INIT");
    return e && !strcmp(e, "FAIL") ? CUDA_ERROR_NO_DEVICE : CUDA_SUCCESS;
}

static CUresult fake_error_name(CUresult r, const char **s) {
    switch (r) {
    case CUDA_ERROR_NO_DEVICE: *s = "CUDA_ERROR_NO_DEVICE"; return CUDA_SUCCESS;
    case CUDA_ERROR_OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; return CUDA_SUCCESS;
    case CUDA_ERROR_NOT_SUPPORTED: *s = "CUDA_ERROR_NOT_SUPPORTED"; return CUDA_SUCCESS;
    default: return CUDA_ERROR_INVALID_VALUE;
    }
}

static CUresult fake_count(int *n) {
    const char *e = getenv("FAKE_CUDA_DEVICES");
    *n = e ? atoi(e) : 0;
    return CUDA_SUCCESS;
}

static CUresult fake_get(CUdevice *d, int ordinal) {
    *d = ordinal;
    return CUDA_SUCCESS;
}

static CUresult fake_name(char *name, int len, CUdevice d) {
    (void)d;
    strncpy(name, "Fake GPU", (size_t)len);
    name[len - 1] = '\0';
    return CUDA_SUCCESS;
}

static CUresult fake_attribute(int *v, CUdevice_attribute a, CUdevice d) {
    (void)d;
    *v = a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR ? 9
         : a == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT   ? 132
                                                           : 0;
    return CUDA_SUCCESS;
}

static CUresult fake_total(size_t *bytes, CUdevice d) {
    (void)d;
    *bytes = (size_t)80 << 30;
    return CUDA_SUCCESS;
}

static CUresult fake_retain(CUcontext *c, CUdevice d) {
    (void)c, (void)d;
    return CUDA_ERROR_OUT_OF_MEMORY;
}

static CUresult fake_event_query(CUevent e) {
    (void)e;
    const char *q = getenv("FAKE_CUDA_EVENT");
    return q && !strcmp(q, "NOT_READY") ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;
}

static const struct {
    const char *name;
    void (*fn)(void);
} table[] = {
    {"cuInit", (void (*)(void))fake_init},
    {"cuGetErrorName", (void (*)(void))fake_error_name},
    {"cuDeviceGetCount", (void (*)(void))fake_count},
    {"cuDeviceGet", (void (*)(void))fake_get},
    {"cuDeviceGetName", (void (*)(void))fake_name},
    {"cuDeviceGetAttribute", (void (*)(void))fake_attribute},
    {"cuDeviceTotalMem", (void (*)(void))fake_total},
    {"cuDevicePrimaryCtxRetain", (void (*)(void))fake_retain},
    {"cuDevicePrimaryCtxRelease", (void (*)(void))ok},
    {"cuCtxSetCurrent", (void (*)(void))ok},
    {"cuStreamCreate", (void (*)(void))ok},
    {"cuStreamDestroy", (void (*)(void))ok},
    {"cuStreamWaitEvent", (void (*)(void))ok},
    {"cuEventCreate", (void (*)(void))ok},
    {"cuEventDestroy", (void (*)(void))ok},
    {"cuEventRecord", (void (*)(void))ok},
    {"cuEventQuery", (void (*)(void))fake_event_query},
};

EXPORT CUresult cuDriverGetVersion(int *v) {
    *v = 13000;
    return CUDA_SUCCESS;
}

/* Every other name the loader asks for answers CUDA_ERROR_NOT_SUPPORTED. */
EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
                                    CUdriverProcAddressQueryResult *status) {
    (void)version, (void)flags;
    const char *missing = getenv("FAKE_CUDA_MISSING");
    if (missing && !strcmp(missing, symbol)) {
        *pfn = NULL;
        if (status) *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
        return CUDA_ERROR_NOT_FOUND;
    }
    void (*fn)(void) = (void (*)(void))unsupported;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].name, symbol)) fn = table[i].fn;
    memcpy(pfn, &fn, sizeof fn);
    if (status) *status = CU_GET_PROC_ADDRESS_SUCCESS;
    return CUDA_SUCCESS;
}
