/*
 * trainer_main.c: main() of a generated trainer, `make train-NAME`
 * (the Makefile says how it is linked): the model build that gptc compile
 * wrote as C data (build.c), its kernels compiled ahead of time for the
 * GPUs (cubins.c) and for this CPU (kernels_sim.cc, linked in), and the
 * runtime library. It trains that one model with gptc train's options and
 * needs no model file, no NVRTC and no C++ compiler when it runs.
 */
#include "compiler/build.h"     /* ModelBuild, BuildCubin */
#include "cli/cmd_train.h" /* cmd_train_generated: gptc train's command line */
#include "runtime/train/manifest.h"  /* the command line for the run records */

/* build.c and cubins.c. */
extern ModelBuild gptc_build;
extern const char gptc_build_spec[];
extern const int gptc_build_ncubins;
extern const BuildCubin gptc_build_cubins[];

int main(int argc, char **argv) {
    manifest_set_command(argc, argv);
    ModelBuild *b = &gptc_build;
    b->ncubins = gptc_build_ncubins < BUILD_MAX_CUBINS ? gptc_build_ncubins : BUILD_MAX_CUBINS;
    for (int i = 0; i < b->ncubins; i++) b->cubins[i] = gptc_build_cubins[i];
    b->sim_linked = true;
    return cmd_train_generated(argc - 1, argv + 1, argv[0], b, gptc_build_spec);
}
