// nvrtc_check.cc: compiles kernel sources with NVRTC for sm_90a, the
// compiler the `cuda` executor uses, to prove that the sources the sim
// executor runs are valid CUDA; no GPU is needed. For each kernel it prints
// the registers, stack frame, spills and shared memory from ptxas's report
// (--ptxas-options=-v).
//
//   nvrtc_check [-DNAME[=VALUE]]... FILE.cu...
//
// Options passed to NVRTC: --gpu-architecture=sm_90a --std=c++17
// -I$CUDA_HOME/include (default /usr/local/cuda) -Itemplates, the -D options
// given, and --ptxas-options=-v; run from the repository root. Prints
// "ok nvrtc FILE" or "FAIL nvrtc FILE" with NVRTC's log, per file; exits 1
// when any failed.
#include <nvrtc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

// Condenses ptxas's report to one line per kernel:
//   ptxas info    : Compiling entry function 'row_sum' for 'sm_90a'
//   ptxas info    : Function properties for row_sum
//       0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
//   ptxas info    : Used 18 registers, used 1 barriers, 128 bytes smem, ...
void print_resources(const std::string &log) {
    std::istringstream in(log);
    std::string line, kernel, frame;
    while (std::getline(in, line)) {
        size_t p;
        if ((p = line.find("Compiling entry function '")) != std::string::npos) {
            kernel = line.substr(p + 26, line.find('\'', p + 26) - (p + 26));
            frame.clear();
        } else if ((p = line.find(" bytes stack frame")) != std::string::npos) {
            while (p > 0 && line[p - 1] >= '0' && line[p - 1] <= '9') p--;
            frame = line.substr(p);
        } else if ((p = line.find("Used ")) != std::string::npos && !kernel.empty()) {
            printf("    %s: %s; %s\n", kernel.c_str(), line.substr(p + 5).c_str(), frame.c_str());
            kernel.clear();
        }
    }
}

bool compile(const char *path, const std::vector<std::string> &defines, const std::string &cuda_include) {
    std::ifstream f(path);
    if (!f) {
        printf("FAIL nvrtc %s: cannot read it\n", path);
        return false;
    }
    std::stringstream src;
    src << f.rdbuf();
    std::vector<std::string> opts = {"--gpu-architecture=sm_90a", "--std=c++17", "-I" + cuda_include, "-Itemplates",
                                     "--ptxas-options=-v"};
    opts.insert(opts.end(), defines.begin(), defines.end());
    std::vector<const char *> argv;
    for (const std::string &o : opts) argv.push_back(o.c_str());

    nvrtcProgram prog;
    nvrtcResult rc = nvrtcCreateProgram(&prog, src.str().c_str(), path, 0, nullptr, nullptr);
    if (rc != NVRTC_SUCCESS) {
        printf("FAIL nvrtc %s: %s\n", path, nvrtcGetErrorString(rc));
        return false;
    }
    rc = nvrtcCompileProgram(prog, (int)argv.size(), argv.data());
    size_t size = 0;
    nvrtcGetProgramLogSize(prog, &size);
    std::string log(size, '\0');
    nvrtcGetProgramLog(prog, &log[0]);
    nvrtcDestroyProgram(&prog);
    std::string label = path;
    for (const std::string &d : defines) label += " " + d;
    if (rc != NVRTC_SUCCESS) {
        printf("FAIL nvrtc %s: %s\n%s\n", label.c_str(), nvrtcGetErrorString(rc), log.c_str());
        return false;
    }
    printf("ok nvrtc %s\n", label.c_str());
    print_resources(log);
    return true;
}

}  // namespace

int main(int argc, char **argv) {
    const char *home = getenv("CUDA_HOME");
    const std::string cuda_include = std::string(home && *home ? home : "/usr/local/cuda") + "/include";
    std::vector<std::string> defines;
    int failed = 0, files = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-D", 2) == 0) {
            defines.push_back(argv[i]);
            continue;
        }
        files++;
        failed += !compile(argv[i], defines, cuda_include);
    }
    if (files == 0) {
        fprintf(stderr, "usage: %s [-DNAME[=VALUE]]... FILE.cu...\n", argv[0]);
        return 2;
    }
    return failed ? 1 : 0;
}
