/*
 * coll.c: the collectives (coll.h): a single rank; the hub's (coll_hub.c)
 * for a rank that `gptc train --ranks N` started; or the MPI plugin, loaded
 * with dlopen from beside the gptc binary.
 */
#include "runtime/dist/coll.h"
#include "compiler/util/fsutil.h"

#include <dlfcn.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PLUGIN_NAME "libgptc_mpi.so"

struct Coll {
    const CollPlugin *impl; /* NULL: a single rank */
    void *lib;
    int rank, size;
};

/* The first of the three variables set to a positive number, else 0. */
static int first_positive(const char *const vars[3]) {
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 0;
}

/* SLURM_STEP_NUM_TASKS rather than SLURM_NTASKS: sbatch sets the latter
 * for the batch script itself, which is not a rank. */
int coll_launcher_size(void) {
    static const char *const vars[3] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"};
    return first_positive(vars);
}

int coll_local_rank(void) {
    static const char *const vars[3] = {"GPTC_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"};
    return first_positive(vars);
}

/* The plugin sits beside the binary (build/, or a generated trainer's
 * folder, where make links it), or one folder up for the sanitizer build
 * (build/asan/gptc); GPTC_MPI_PLUGIN overrides both. */
static void *load_plugin(char *err, size_t errcap) {
    const char *env = getenv("GPTC_MPI_PLUGIN");
    char exe[PATH_MAX], tried[2][PATH_MAX + 32];
    int ntried = 0;
    if (env) snprintf(tried[ntried++], sizeof tried[0], "%s", env);
    else {
        if (!fs_self_exe(exe, sizeof exe)) {
            snprintf(err, errcap, "cannot find the gptc binary's folder to load %s", PLUGIN_NAME);
            return NULL;
        }
        char *slash = strrchr(exe, '/');
        *slash = '\0';
        snprintf(tried[ntried++], sizeof tried[0], "%s/%s", exe, PLUGIN_NAME);
        snprintf(tried[ntried++], sizeof tried[0], "%s/../%s", exe, PLUGIN_NAME);
    }
    const char *why = "";
    for (int i = 0; i < ntried; i++) {
        /* GLOBAL: Open MPI's own components, loaded later, need libmpi's symbols. */
        void *lib = dlopen(tried[i], RTLD_NOW | RTLD_GLOBAL);
        if (lib) return lib;
        why = dlerror();
    }
    snprintf(err, errcap, "a multi-rank run needs the MPI plugin %s, which did not load (%s); "
                          "build it with 'make build/%s' (needs Open MPI: scripts/setup.sh)",
             tried[0], why, PLUGIN_NAME);
    return NULL;
}

Coll *coll_open(double timeout_s, char *err, size_t errcap) {
    Coll *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    c->size = 1;
    if (coll_hub_started()) {
        c->impl = coll_hub();
        if (c->impl->init(timeout_s, &c->rank, &c->size, err, errcap)) return c;
        return free(c), NULL;
    }
    if (coll_launcher_size() == 0) return c;
    if (!(c->lib = load_plugin(err, errcap))) return free(c), NULL;
    CollPluginEntry entry = (CollPluginEntry)(uintptr_t)dlsym(c->lib, GPTC_COLL_SYMBOL);
    c->impl = entry ? entry() : NULL;
    if (!c->impl || c->impl->abi != GPTC_COLL_ABI) {
        snprintf(err, errcap, "%s is not this gptc's MPI plugin (rebuild it: make build/%s)",
                 PLUGIN_NAME, PLUGIN_NAME);
        dlclose(c->lib);
        return free(c), NULL;
    }
    if (!c->impl->init(timeout_s, &c->rank, &c->size, err, errcap)) {
        dlclose(c->lib);
        return free(c), NULL;
    }
    return c;
}

void coll_close(Coll *c) {
    if (!c) return;
    if (c->impl) c->impl->finalize();
    /* The MPI library stays loaded: Open MPI leaves handlers and threads behind
     * that may still run after MPI_Finalize. */
    free(c);
}

int coll_rank(const Coll *c) { return c->rank; }
int coll_size(const Coll *c) { return c->size; }

void coll_sum_f32(Coll *c, float *buf, size_t n, const char *what) {
    if (c->impl && c->size > 1) c->impl->sum(buf, n, COLL_F32, what);
}

void coll_sum_f64(Coll *c, double *buf, size_t n, const char *what) {
    if (c->impl && c->size > 1) c->impl->sum(buf, n, COLL_F64, what);
}

void coll_bcast(Coll *c, void *buf, size_t bytes, int root, const char *what) {
    if (c->impl && c->size > 1) c->impl->bcast(buf, bytes, root, what);
}

void coll_barrier(Coll *c, const char *what) {
    if (c->impl && c->size > 1) c->impl->barrier(what);
}

_Noreturn void coll_abort(Coll *c, int status, const char *msg) {
    fprintf(stderr, "gptc train: rank %d: %s\n", c->rank, msg);
    if (c->impl) c->impl->abort_job(status);
    exit(status);
}
