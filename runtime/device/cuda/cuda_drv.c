/*
 * cuda_drv.c: loading the driver API (see cuda_drv.h for what and why).
 */
#include "runtime/device/cuda/cuda_drv.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CudaDrv drv;
static bool drv_ok;
static char drv_why[768];
static pthread_once_t drv_once = PTHREAD_ONCE_INIT;

typedef CUresult (*GetProcFn)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);

static void *open_driver(void) {
    const char *only = getenv("GPTC_CUDA_LIB");
    const char *path = only && *only ? only : "libcuda.so.1";
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(drv_why, sizeof drv_why, "%s not found%s (%.400s)", path,
                 only && *only ? " (from GPTC_CUDA_LIB)" : "", e ? e : "dlopen failed");
    }
    return lib;
}

/* One entry point through cuGetProcAddress; false with its name in
 * drv_why when the driver does not have it. */
static bool resolve(GetProcFn get, int version, const char *name, void *slot) {
    void *fn = NULL;
    CUdriverProcAddressQueryResult found = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
    if (get(name, &fn, version, CU_GET_PROC_ADDRESS_DEFAULT, &found) != CUDA_SUCCESS || !fn ||
        found != CU_GET_PROC_ADDRESS_SUCCESS) {
        snprintf(drv_why, sizeof drv_why, "the NVIDIA driver (version %d.%d) has no %s", version / 1000,
                 version % 1000 / 10, name);
        return false;
    }
    memcpy(slot, &fn, sizeof fn); /* object pointer to function pointer, as POSIX allows */
    return true;
}

static bool resolve_all(GetProcFn get, int version) {
    static const char *names[] = {
        "cuInit",           "cuGetErrorName",         "cuDeviceGetCount",       "cuDeviceGet",
        "cuDeviceGetName",  "cuDeviceGetAttribute",   "cuDeviceTotalMem",       "cuDevicePrimaryCtxRetain",
        "cuDevicePrimaryCtxRelease", "cuCtxSetCurrent", "cuCtxSynchronize",     "cuMemGetInfo",
        "cuStreamCreate",   "cuStreamDestroy",        "cuStreamSynchronize",    "cuEventCreate",
        "cuEventDestroy",   "cuEventRecord",          "cuEventSynchronize",     "cuEventElapsedTime",
        "cuMemAlloc",       "cuMemFree",              "cuMemcpyHtoDAsync",      "cuMemcpyDtoHAsync",
        "cuMemcpyDtoDAsync", "cuMemsetD8Async",       "cuModuleLoadData",       "cuModuleUnload",
        "cuModuleGetFunction", "cuFuncSetAttribute",  "cuLaunchKernel",         "cuStreamWaitEvent",
        "cuEventQuery"};
    void *slots[] = {
        &drv.Init,          &drv.GetErrorName,        &drv.DeviceGetCount,      &drv.DeviceGet,
        &drv.DeviceGetName, &drv.DeviceGetAttribute,  &drv.DeviceTotalMem,      &drv.DevicePrimaryCtxRetain,
        &drv.DevicePrimaryCtxRelease, &drv.CtxSetCurrent, &drv.CtxSynchronize,  &drv.MemGetInfo,
        &drv.StreamCreate,  &drv.StreamDestroy,       &drv.StreamSynchronize,   &drv.EventCreate,
        &drv.EventDestroy,  &drv.EventRecord,         &drv.EventSynchronize,    &drv.EventElapsedTime,
        &drv.MemAlloc,      &drv.MemFree,             &drv.MemcpyHtoDAsync,     &drv.MemcpyDtoHAsync,
        &drv.MemcpyDtoDAsync, &drv.MemsetD8Async,     &drv.ModuleLoadData,      &drv.ModuleUnload,
        &drv.ModuleGetFunction, &drv.FuncSetAttribute, &drv.LaunchKernel,     &drv.StreamWaitEvent,
        &drv.EventQuery};
    _Static_assert(sizeof names / sizeof names[0] == sizeof slots / sizeof slots[0], "one slot per name");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!resolve(get, version, names[i], slots[i])) return false;
    return true;
}

static void load(void) {
    void *lib = open_driver();
    if (!lib) return;
    void *get_sym = dlsym(lib, "cuGetProcAddress_v2"), *ver_sym = dlsym(lib, "cuDriverGetVersion");
    if (!get_sym || !ver_sym) {
        snprintf(drv_why, sizeof drv_why, "the NVIDIA driver is too old: it has no %s (CUDA 12 or later needed)",
                 get_sym ? "cuDriverGetVersion" : "cuGetProcAddress_v2");
        return;
    }
    GetProcFn get;
    CUresult (*version_fn)(int *);
    memcpy(&get, &get_sym, sizeof get);
    memcpy(&version_fn, &ver_sym, sizeof version_fn);
    if (version_fn(&drv.driver_version) != CUDA_SUCCESS) {
        snprintf(drv_why, sizeof drv_why, "cuDriverGetVersion failed");
        return;
    }
    /* Every entry point used here has kept its ABI since CUDA 3.2, so the
     * older of the driver's version and cuda.h's gives the prototypes above. */
    int version = drv.driver_version < CUDA_VERSION ? drv.driver_version : CUDA_VERSION;
    if (!resolve_all(get, version)) return;
    CUresult r = drv.Init(0);
    if (r != CUDA_SUCCESS) {
        snprintf(drv_why, sizeof drv_why, "cuInit failed: %s", cuda_result_name(&drv, r));
        return;
    }
    drv_ok = true;
}

const CudaDrv *cuda_drv(char *why, size_t cap) {
    pthread_once(&drv_once, load);
    if (!drv_ok && why) snprintf(why, cap, "%s", drv_why);
    return drv_ok ? &drv : NULL;
}

const char *cuda_result_name(const CudaDrv *d, CUresult r) {
    static _Thread_local char unnamed[32];
    const char *s = NULL;
    if (d && d->GetErrorName && d->GetErrorName(r, &s) == CUDA_SUCCESS && s) return s;
    snprintf(unnamed, sizeof unnamed, "CUresult %d", (int)r);
    return unnamed;
}
