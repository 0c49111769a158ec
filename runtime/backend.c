/*
 * backend.c: the executors the trainer can use. Each is a table of
 * functions over its own model object; adding one means adding a table.
 */
#include "backend.h"

#include <stdio.h>
#include <string.h>

#include "backend_dev.h"
#include "cuda/gpu_cuda.h"
#include "ref.h"

static float *ref_params_fn(void *m) { return ref_params(m); }
static float *ref_grads_fn(void *m) { return ref_grads(m); }
static size_t ref_num_params_fn(const void *m) { return ref_num_params(m); }
static int ref_tensors_fn(const void *m, const ParamTensor **meta, const size_t **off) {
    return ref_tensors(m, meta, off);
}
static void ref_init_fn(void *m, uint64_t seed) { ref_init(m, seed); }
static double ref_forward_fn(void *m, const int *in, const int *tgt, int T, int step, bool val) {
    return ref_forward(m, in, tgt, T, step, val);
}
static void ref_backward_fn(void *m) { ref_backward(m); }
static void ref_close_fn(void *m) { ref_model_free(m); }

static bool ref_open(Backend *b, const ModelBuild *mb, int max_T, char *err, size_t errcap) {
    (void)err, (void)errcap;
    *b = (Backend){.name = "ref",
                   .impl = ref_model_new(&mb->spec, max_T),
                   .params = ref_params_fn,
                   .grads = ref_grads_fn,
                   .num_params = ref_num_params_fn,
                   .tensors = ref_tensors_fn,
                   .init = ref_init_fn,
                   .forward = ref_forward_fn,
                   .backward = ref_backward_fn,
                   .close = ref_close_fn};
    return true;
}

/* The executors of this build, by name. */
typedef struct {
    const char *name;
    bool (*open)(Backend *b, const ModelBuild *mb, int max_T, char *err, size_t errcap);
} Registered;

static const Registered registry[] = {
    {"ref", ref_open},
    {"sim", backend_sim_open},
    {"cuda", backend_cuda_open},
};
#define NREGISTRY (sizeof registry / sizeof registry[0])

/* The registry's entry for name; NULL with the names there are in err. */
static const Registered *find(const char *name, char *err, size_t errcap) {
    for (size_t i = 0; i < NREGISTRY; i++)
        if (!strcmp(registry[i].name, name)) return &registry[i];
    int at = snprintf(err, errcap, "unknown backend '%s'; this build has: auto", name);
    for (size_t i = 0; i < NREGISTRY && at >= 0 && (size_t)at < errcap; i++)
        at += snprintf(err + at, errcap - (size_t)at, ", %s", registry[i].name);
    return NULL;
}

bool backend_open(Backend *b, const char *name, const ModelBuild *mb, int max_T, char *err, size_t errcap) {
    memset(b, 0, sizeof *b);
    const Registered *r = find(name, err, errcap);
    return r && r->open(b, mb, max_T, err, errcap);
}

const char *backend_resolve(const char *requested, char *note, size_t notecap, char *err, size_t errcap) {
    char why[800];
    if (!strcmp(requested, "auto")) {
        int n = cuda_device_count(why, sizeof why);
        if (n > 0) {
            snprintf(note, notecap, "backend: cuda (auto: %d GPU%s found)", n, n == 1 ? "" : "s");
            return "cuda";
        }
        snprintf(note, notecap, "backend: ref (%s)", why);
        return "ref";
    }
    if (!find(requested, err, errcap)) return NULL;
    if (!strcmp(requested, "cuda") && cuda_device_count(why, sizeof why) == 0) {
        snprintf(err, errcap, "--backend cuda: %s", why);
        return NULL;
    }
    snprintf(note, notecap, "backend: %s (--backend %s)", requested, requested);
    return requested;
}

void backend_close(Backend *b) {
    if (b->impl) b->close(b->impl);
    b->impl = NULL;
}
