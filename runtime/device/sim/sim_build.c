/*
 * sim_build.c: builds a model's sim kernels at run time (see sim_build.h).
 */
#include "runtime/device/sim/sim_build.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compiler/util/fsutil.h"
#include "compiler/codegen/nvrtc.h"
#include "compiler/util/sha256.h"
#include "compiler/util/strbuf.h"
#include "compiler/codegen/template.h"

#define MAX_FILES 32

typedef struct {
    const char *name;
    const char *text;
} SrcFile;

/* kernels.cu: the build's, then its extra programs. */
static char *kernels_cu(const ModelBuild *b) {
    StrBuf sb = {0};
    sb_puts(&sb, b->kernels_cu);
    for (int i = 0; i < b->nextra_cu; i++) sb_puts(&sb, b->extra_cu[i]);
    return sb.data ? sb.data : strdup("");
}

/* The kernel sources, then every embedded header and the emulator. */
static int sources(const ModelBuild *b, const char *cu, SrcFile *f) {
    int n = 0;
    f[n++] = (SrcFile){"kernels.cu", cu};
    f[n++] = (SrcFile){"kernels_sim.cc", b->kernels_sim_cc};
    for (int i = 0; i < tpl_file_count && n < MAX_FILES; i++) {
        const char *name = tpl_files[i].name;
        size_t len = strlen(name);
        bool header = (len > 4 && !strcmp(name + len - 4, ".cuh")) || (len > 2 && !strcmp(name + len - 2, ".h"));
        if (header || !strcmp(name, "cuda_emu.cc")) f[n++] = (SrcFile){name, tpl_files[i].text};
    }
    return n;
}

const char *sim_build_compiler(void) {
    const char *v = getenv("CXX");
    return v && *v ? v : "c++";
}

/* Runs the compiler with its output in dir/build.log; false with the log's
 * tail in err. */
static bool compile(const char *dir, const char *out, char *err, size_t errlen) {
    char log[4300];
    snprintf(log, sizeof log, "%s/build.log", dir);
    pid_t pid = fork();
    if (pid < 0) return snprintf(err, errlen, "sim: cannot fork the C++ compiler: %s", strerror(errno)), false;
    if (pid == 0) {
        if (!freopen(log, "w", stdout) || dup2(fileno(stdout), 2) < 0) _exit(127);
        if (chdir(dir) != 0) _exit(127);
        char flags[] = SIM_BUILD_FLAGS;
        char *argv[24];
        int n = 0;
        argv[n++] = (char *)sim_build_compiler();
        for (char *t = strtok(flags, " "); t && n < 16; t = strtok(NULL, " ")) argv[n++] = t;
        argv[n++] = "-I.";
        argv[n++] = "-o";
        argv[n++] = (char *)out;
        argv[n++] = "kernels_sim.cc";
        argv[n++] = "cuda_emu.cc";
        argv[n] = NULL;
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return true;
    char tail[1024] = "";
    FILE *f = fopen(log, "r");
    if (f) {
        fseek(f, 0, SEEK_END);
        long size = ftell(f);
        fseek(f, size > 1000 ? size - 1000 : 0, SEEK_SET);
        size_t got = fread(tail, 1, sizeof tail - 1, f);
        tail[got] = '\0';
        fclose(f);
    }
    snprintf(err, errlen, "sim: %s failed to build the kernels in %s (exit %d):\n%s", sim_build_compiler(), dir,
             WIFEXITED(status) ? WEXITSTATUS(status) : -1, tail);
    return false;
}

static bool write_sources(const char *dir, const SrcFile *f, int n, char *err, size_t errlen) {
    for (int i = 0; i < n; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", dir, f[i].name);
        const void *pieces[] = {f[i].text};
        size_t lens[] = {strlen(f[i].text)};
        if (!fs_write_atomic(path, pieces, lens, 1, err, errlen)) return false;
    }
    return true;
}

bool sim_build_kernels(const ModelBuild *b, char *so_path, size_t cap, char *err, size_t errlen) {
    char *cu = kernels_cu(b);
    if (!cu) return snprintf(err, errlen, "sim: out of memory"), false;
    bool ok = true;
    SrcFile files[MAX_FILES];
    int n = sources(b, cu, files);
    char base[4096] = "", dir[4200];
    if (ok && !nvrtc_default_cache_dir(base, sizeof base)) snprintf(base, sizeof base, "build/cache");
    if (ok) {
        Sha256 h;
        char hex[65];
        sha256_init(&h);
        sha256_update(&h, sim_build_compiler(), strlen(sim_build_compiler()) + 1);
        sha256_update(&h, SIM_BUILD_FLAGS, sizeof SIM_BUILD_FLAGS);
        for (int i = 0; i < n; i++) {
            sha256_update(&h, files[i].name, strlen(files[i].name) + 1);
            sha256_update(&h, files[i].text, strlen(files[i].text) + 1);
        }
        sha256_hex(&h, hex);
        snprintf(dir, sizeof dir, "%s/sim-%.24s", base, hex);
        snprintf(so_path, cap, "%s/kernels_sim.so", dir);
    }
    struct stat st;
    if (ok && stat(so_path, &st) != 0) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "kernels_sim.so.%ld.tmp", (long)getpid());
        ok = fs_mkdir_p(dir, err, errlen) && write_sources(dir, files, n, err, errlen) &&
             compile(dir, tmp, err, errlen);
        char tmp_path[4300];
        snprintf(tmp_path, sizeof tmp_path, "%s/%s", dir, tmp);
        if (ok && rename(tmp_path, so_path) != 0) {
            snprintf(err, errlen, "sim: cannot rename %s: %s", tmp_path, strerror(errno));
            ok = false;
        }
        if (!ok) remove(tmp_path);
    }
    free(cu);
    return ok;
}
