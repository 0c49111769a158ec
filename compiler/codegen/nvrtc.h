/*
 * nvrtc.h: compiling CUDA source to CUBIN (and PTX on request) with NVRTC,
 * and the per-kernel resources that ptxas reports.
 *
 * NVRTC is loaded with dlopen on first use, never linked, so gptc starts and
 * does everything but compile on a machine without the CUDA toolkit; the
 * failure message says what was looked for. Searched, in order: the file
 * named by $GPTC_NVRTC_LIB (only that, when set: tests use it to hide
 * NVRTC); libnvrtc.so.13 and libnvrtc.so on the loader's default path; the
 * same two in $CUDA_HOME/lib64 and /usr/local/cuda/lib64. No GPU and no
 * driver are needed: NVRTC compiles for any architecture on any machine.
 *
 * Every compile uses these options (the one list, in nvrtc.c):
 *   --gpu-architecture=ARCH     a real architecture (sm_90a, sm_80): CUBIN
 *   -I<toolkit>/include         NVRTC has no include path of its own, and
 *                               the templates need cuda_bf16.h
 *   --std=c++17 -default-device
 *   --ptxas-options=-v          the per-kernel resource report, parsed here
 *   --fmad=false                no contraction of a * b + c into an FMA
 * and deliberately not --use_fast_math, which would make division, sqrtf
 * and expf approximate and flush denormals to zero. The sim executor runs
 * the same kernels compiled by g++, with IEEE float operations and no FMA
 * contraction (x86-64's baseline has no FMA), and the ref executor is plain
 * C: with these options the three agree bit for bit on elementwise code
 * (e.g. the Adam step of runtime/ref/optim.c), so any difference a test sees is
 * a real bug, not rounding. The memory-bound kernels lose nothing by it;
 * softcap_ce.cu, bound by its transcendentals, asks for approximations
 * where it wants them (prims.cuh's gptc_ex2, gptc_rsqrt, gptc_rcp) and
 * its tests bound the difference.
 *
 * Compiles run in a pool of threads (one NVRTC program each; NVRTC is
 * thread-safe across programs) and are cached: the key is the SHA-256 of
 * the NVRTC version and library, the options, the source and every header,
 * the entry is DIR/<key>.nvrtc holding the log, the CUBIN and the PTX,
 * written atomically (temporary file + rename), and an entry that does not
 * read back exactly (truncated, another key) is a miss, not an error. DIR
 * is $GPTC_CACHE_DIR, else $XDG_CACHE_HOME/gptc, else ~/.cache/gptc. Only
 * successful compiles are cached. NVRTC's output is deterministic (same
 * input, same bytes), which is what makes such a cache valid.
 */
#ifndef GPTC_NVRTC_H
#define GPTC_NVRTC_H

#include <stdbool.h>
#include <stddef.h>

#define NVRTC_DEFAULT_WORKERS 2
#define NVRTC_MAX_WORKERS 64
#define NVRTC_MAX_HEADERS 64

/* What ptxas says about one function: a kernel, or a device function that
 * was not inlined (then only the frame and spill numbers are known). */
typedef struct {
    char name[128];
    bool entry;
    int registers, barriers;
    int stack_bytes;       /* stack frame: local memory per thread */
    int spill_store_bytes, spill_load_bytes;
    int smem_bytes;        /* static shared memory */
} KernelRes;

typedef struct {
    const char *name; /* as written in #include "name" */
    const char *text;
} NvrtcHeader;

/* Every .cuh embedded in gptc with the templates (prims.cuh, vec.cuh), as
 * NVRTC include files; returns how many (at most max). */
int nvrtc_template_headers(NvrtcHeader *h, int max);

typedef struct {
    const char *name;   /* the program's name in NVRTC's messages */
    const char *source;
    const NvrtcHeader *headers;
    int nheaders;       /* at most NVRTC_MAX_HEADERS */
    const char *arch;   /* e.g. "sm_90a" */
    bool want_ptx;
} NvrtcJob;

typedef struct {
    bool ok;             /* NVRTC succeeded; the log may still warn */
    bool cached;         /* read back from the cache */
    double seconds;      /* wall time of this job */
    int warnings;        /* warning lines in the log */
    char *log;           /* NVRTC's program log, "" when empty */
    unsigned char *cubin;
    size_t cubin_size;
    char *ptx;           /* with want_ptx only */
    size_t ptx_size;
    KernelRes *kernels;  /* parsed from the log, in its order */
    int nkernels;
    char error[512];     /* why !ok, beyond the log; "" when ok */
    char cache_note[512];/* a cache failure that did not stop the job */
} NvrtcOutput;

typedef struct {
    int workers;           /* < 1: NVRTC_DEFAULT_WORKERS; at most NVRTC_MAX_WORKERS */
    const char *cache_dir; /* NULL: the default above; "": no cache */
} NvrtcConfig;

/* One worker per online processor, at most NVRTC_MAX_WORKERS: for the
 * jobs that compile many programs at once (gptc tune's variants). */
int nvrtc_workers_here(void);

/* Loads NVRTC once (thread-safe). False, with the places searched in why,
 * when it cannot be found or lacks an entry point gptc needs. */
bool nvrtc_load(char *why, size_t whylen);

/* NVRTC's version; false when it is not loaded. */
bool nvrtc_version(int *major, int *minor);

/* Runs every job, cfg->workers at a time; out[i] is job i's result. Free
 * each with nvrtc_output_free. */
void nvrtc_compile_all(const NvrtcJob *jobs, int n, const NvrtcConfig *cfg, NvrtcOutput *out);

void nvrtc_output_free(NvrtcOutput *o);

/* Parses a ptxas -v report into *out (malloc'ed; free it) and counts its
 * warning lines; returns the number of functions. */
int nvrtc_parse_log(const char *log, KernelRes **out, int *warnings);

/* Process-wide counts since start: jobs answered from the cache, and jobs
 * compiled by NVRTC. */
long nvrtc_cache_hits(void);
long nvrtc_compiles(void);

/* The compile cache's folder: $GPTC_CACHE_DIR, else $XDG_CACHE_HOME/gptc (an
 * absolute one), else ~/.cache/gptc; false when none is set. The sim
 * executor's kernel builds share it. */
bool nvrtc_default_cache_dir(char *buf, size_t len);

#endif
