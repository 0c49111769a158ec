# gptc: build everything into build/.
#   make            build the gptc binary (build/gptc)
#   make demo       the main job (see README.md)
#   make test       everything CI runs: unit, bad-input, model and docs tests,
#                   also under AddressSanitizer + UndefinedBehaviorSanitizer
#   make test-deps  install what only the tests need (PyTorch, pip); CI does
#   make test-long  the slow checks: every fuzz target for FUZZ_SECONDS each
#   make bench      benchmarks, reported as ratios measured side by side

CC      ?= gcc
CFLAGS  ?= -O2 -g
# Warnings are errors here and in CI; scripts/gpu-check.sh builds with
# WERROR= on a machine whose newer compiler may warn about new things.
WERROR  ?= -Werror
WARN     = -std=c11 -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes -D_DEFAULT_SOURCE
# Every include names its file from the repository root
# ("runtime/train/ckpt.h"), so that a reach across layers shows.
INC      = -I.
# OpenBLAS's OpenMP build: it shares our OpenMP thread pool. The pthread
# build brings a second pool, and the two spin against each other for the
# cores (5x slower measured on tiny.yaml).
BLAS_DIR = /usr/lib/$(shell $(CC) -print-multiarch)/openblas-openmp
# -ldl, -lpthread: NVRTC is dlopen'ed, and compiles run in a thread pool.
LDLIBS   = -lyaml -lpcre2-8 -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas -lm -ldl -lpthread
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SECONDS ?= 120
# Open MPI's compiler wrapper, for the multi-rank plugin (empty: no MPI here,
# and multi-rank runs are unavailable; scripts/setup.sh installs it).
MPICC   := $(shell command -v mpicc 2>/dev/null)
MPI_PLUGIN := $(if $(MPICC),build/libgptc_mpi.so)
DEMO_SHARDS  := data/demo/demo_train_000001.bin data/demo/demo_val_000000.bin

# cli/: main() (cli/main.c, gptc's alone) and the option parser and
# commands that a generated trainer links too.
CLI_SRC      := $(filter-out cli/main.c,$(wildcard cli/*.c))
COMPILER_SRC := $(wildcard compiler/*.c compiler/*/*.c)
# The runtime but for a generated trainer's main() and the MPI plugin,
# which are linked apart.
RUNTIME_SRC  := $(filter-out runtime/train/trainer_main.c runtime/dist/mpi/%,\
                  $(wildcard runtime/*.c runtime/*/*.c runtime/*/*/*.c))
UNIT_SRC     := $(wildcard tests/unit/*.c)
# The kernel templates, compiled into gptc as C strings by scripts/embed.c,
# so that `gptc compile` needs no files beside the binary. Sorted: the
# generated file is the same on every machine.
TEMPLATES    := $(sort $(wildcard templates/*.cu templates/*.cuh))
# The emulator's sources ride along, so that the sim executor can build a
# model's kernels for the CPU at run time (runtime/device/sim/sim_build.c).
SIM_EMBED    := runtime/device/sim/cuda_emu.cc runtime/device/sim/cuda_emu.h runtime/device/sim/sim.h
GEN_SRC      := build/gen/templates_data.c build/gen/buildinfo.c
LIB_SRC      := $(CLI_SRC) $(COMPILER_SRC) $(RUNTIME_SRC) $(GEN_SRC)

# runtime/ref/model.c is built twice: as float (model.o) and as double
# (model64.o, for the gradient check).
objs = $(patsubst %.c,$(1)/%.o,$(2)) $(1)/runtime/ref/model64.o

LIB_OBJ       := $(call objs,build/obj,$(LIB_SRC))
LIB_OBJ_ASAN  := $(call objs,build/asan/obj,$(LIB_SRC))

.PHONY: all deps test-deps demo test test-ranks test-unit test-bad test-cli test-models test-docs test-train test-trainer test-tune test-study test-analyze test-compile test-sim test-generated test-kernels test-torchref test-fuzz test-long fuzz fuzz-if-libfuzzer bench clean fixtures gpt2-vocab bpe-fixture test-optim-gpu
.PHONY: print-ldlibs test-kernels-gpu test-cuda FORCE
all: build/gptc $(MPI_PLUGIN)

deps:
	@scripts/setup.sh

# What only the tests need besides (PyTorch for the comparisons with the
# PyTorch reference, pip for `make gpt2-vocab`); .ci/run installs it, `make
# demo` does not.
test-deps:
	@scripts/setup.sh --test

# One set of rules per build flavour: $(1) object folder, $(2) flags.
define flavour
$(1)/%.o: %.c | build/.deps
	@mkdir -p $$(@D)
	$$(CC) $$(WARN) $(2) -fopenmp -MMD -MP $$(INC) -c -o $$@ $$<
$(1)/runtime/ref/model64.o: runtime/ref/model.c | build/.deps
	@mkdir -p $$(@D)
	$$(CC) $$(WARN) $(2) -fopenmp -MMD -MP $$(INC) -DREF_DOUBLE -c -o $$@ $$<
endef
$(eval $(call flavour,build/obj,$(CFLAGS)))
$(eval $(call flavour,build/asan/obj,-O1 -g $(SAN)))

# ---- a generated trainer: one model's build linked with the runtime ------
# `make train-NAME` (build/trainers/NAME/train) compiles models/NAME.yaml (gptc compile, with
# NVRTC for the GPUs' cubins where the toolkit is there) into
# build/trainers/NAME/, builds its sim kernels with the C++ compiler and
# the very flags sim uses at run time (runtime/device/sim/sim_build.h), and links
# them with runtime/train/trainer_main.c and build/libgptc.a. The result trains
# that model alone, with gptc train's options and no model file; the MPI
# plugin is linked beside it, where a run under mpirun or srun looks for it.
CXX      ?= c++
SIM_CXXFLAGS := $(filter-out -shared,$(shell sed -n 's/^\#define SIM_BUILD_FLAGS "\(.*\)"$$/\1/p' runtime/device/sim/sim_build.h))
TRAINER_CFLAGS = $(WARN) $(CFLAGS) -fopenmp $(INC) -Wno-missing-field-initializers

build/trainers/%/build.c: models/%.yaml build/gptc
	@mkdir -p $(@D)
	@if ! build/gptc compile $< -o $(@D) > $(@D)/compile.log 2>&1; then \
	    build/gptc compile $< -o $(@D) --no-compile > /dev/null && \
	    printf '#include "compiler/build.h"\nconst int gptc_build_ncubins = 0;\nconst BuildCubin gptc_build_cubins[1];\n' \
	        > $(@D)/cubins.c && \
	    echo "note: no cubins for $* (its trainer runs ref and sim; see $(@D)/compile.log)"; fi

build/trainers/%/trainer.o: runtime/train/trainer_main.c build/trainers/%/build.c
	$(CC) $(TRAINER_CFLAGS) -c -o $@ $<

.PRECIOUS: build/trainers/%/build.c build/trainers/%/trainer.o build/trainers/%/train

train-%: build/trainers/%/train
	@echo "the trainer of models/$*.yaml: $<"

build/trainers/%/train: build/trainers/%/build.c build/trainers/%/trainer.o build/libgptc.a $(MPI_PLUGIN)
	$(CC) $(TRAINER_CFLAGS) -c -o build/trainers/$*/build.o build/trainers/$*/build.c
	$(CC) $(TRAINER_CFLAGS) -c -o build/trainers/$*/cubins.o build/trainers/$*/cubins.c
	$(CXX) $(SIM_CXXFLAGS) -Iruntime/device/sim -Itemplates -c -o build/trainers/$*/kernels_sim.o \
	    build/trainers/$*/kernels_sim.cc
	$(CXX) $(SIM_CXXFLAGS) -Iruntime/device/sim -c -o build/trainers/$*/cuda_emu.o runtime/device/sim/cuda_emu.cc
	$(CC) $(CFLAGS) -fopenmp -rdynamic -o $@ build/trainers/$*/trainer.o build/trainers/$*/build.o \
	    build/trainers/$*/cubins.o build/trainers/$*/kernels_sim.o build/trainers/$*/cuda_emu.o build/libgptc.a \
	    $(LDLIBS) -lstdc++
	$(if $(MPI_PLUGIN),ln -sf ../../libgptc_mpi.so build/trainers/$*/libgptc_mpi.so)

# The MPI collectives as a plugin that gptc dlopens for multi-rank runs
# (runtime/dist/coll.h): gptc itself never links libmpi.
build/libgptc_mpi.so: runtime/dist/mpi/coll_mpi.c runtime/dist/coll.h | build/.deps
	@mkdir -p $(@D)
	$(MPICC) $(WARN) $(CFLAGS) -fPIC -shared -I. -o $@ $<

build/embed: scripts/embed.c | build/.deps
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 -o $@ $<

build/gen/templates_data.c: build/embed $(TEMPLATES) $(SIM_EMBED)
	@mkdir -p $(@D)
	build/embed $@ $(TEMPLATES) $(SIM_EMBED)

# The commit gptc is built from (compiler/version.h): checked at every make,
# rewritten only when it changes.
build/gen/buildinfo.c: FORCE
	@scripts/buildinfo.sh $@
FORCE:

# ---- the cuda executor (runtime/device/cuda/) -------------------------------
# The driver, cuBLASLt and NVRTC are loaded with dlopen (never -lcuda); the
# toolkit's cuda.h and cublasLt.h give the types only, for these files alone.
# EXTRA_INC / EXTRA_LIB: more -I / -L folders for the system libraries, for a
# machine without the -dev packages (scripts/gpu-check.sh unpacks them).
comma     := ,
CUDA_HOME ?= /usr/local/cuda
EXTRA_INC ?=
EXTRA_LIB ?=
INC    += $(addprefix -isystem ,$(EXTRA_INC))
LDLIBS := $(addprefix -L,$(EXTRA_LIB)) $(addprefix -Wl$(comma)-rpath$(comma),$(EXTRA_LIB)) $(LDLIBS)
build/obj/runtime/device/cuda/%.o build/asan/obj/runtime/device/cuda/%.o: INC += -isystem $(CUDA_HOME)/include

# Everything but main(), for test programs that link the runtime (the GPU
# mode of tests/kernels/test_kernels.c).
build/libgptc.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# The link flags, for scripts that link build/libgptc.a (tests/run-kernels.sh --gpu).
print-ldlibs:
	@echo $(LDLIBS)

# The GPU mode of tests/kernels for every tiny model and the GEMM check
# (scripts/gpu-check.sh); without a GPU each program says "skipped: no GPU".
test-kernels-gpu: build/gptc build/libgptc.a
	GPU_LDLIBS="$(LDLIBS)" GPU_INC="$(addprefix -isystem ,$(EXTRA_INC))" tests/run-kernels.sh --gpu build/gptc $(GPU_MODELS)

# Without a GPU: the cuda code's loaders and errors (a fake driver), gptc
# train's backend choice, and the GPU mode of tests/kernels building,
# linking without libcuda and saying "skipped: no GPU".
test-cuda: build/gptc build/libgptc.a
	GPU_LDLIBS="$(LDLIBS)" GPU_INC="$(addprefix -isystem ,$(EXTRA_INC))" tests/run-kernels.sh --gpu build/gptc tiny
	GPU_LDLIBS="$(LDLIBS)" tests/run-cuda.sh build/gptc

build/gptc: build/obj/cli/main.o $(LIB_OBJ)
	$(CC) $(CFLAGS) -fopenmp -o $@ $^ $(LDLIBS)

build/asan/gptc: build/asan/obj/cli/main.o $(LIB_OBJ_ASAN)
	$(CC) -O1 -g $(SAN) -fopenmp -o $@ $^ $(LDLIBS)

build/test_unit: $(patsubst %.c,build/obj/%.o,$(UNIT_SRC)) $(LIB_OBJ)
	$(CC) $(CFLAGS) -fopenmp -o $@ $^ $(LDLIBS)

build/asan/test_unit: $(patsubst %.c,build/asan/obj/%.o,$(UNIT_SRC)) $(LIB_OBJ_ASAN)
	$(CC) -O1 -g $(SAN) -fopenmp -o $@ $^ $(LDLIBS)

# ---- the libFuzzer targets (tests/fuzz/, run by tests/run-fuzz.sh) ----------
# clang with ASan and UBSan; every UBSan report aborts, so that libFuzzer
# records it as a crash instead of printing it and going on.
FUZZ_TARGETS := load ckpt shard vocab safetensors
FUZZ_BINS    := $(FUZZ_TARGETS:%=build/fuzz_%)
FUZZ_SAN     := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# The readers under test and what they need, as an archive so that each
# target links only what it calls.
FUZZ_LIB_SRC := tests/fuzz/fuzz.c $(COMPILER_SRC) $(GEN_SRC) \
    $(addprefix runtime/util/,atomic_file.c crc64.c errmsg.c rng.c) $(addprefix runtime/data/,bpe.c data.c) \
    $(addprefix runtime/train/,ckpt.c ckpt_spec.c safetensors.c)
# Whether clang finds libFuzzer (Debian: clang and libclang-rt-dev), tested
# when a recipe runs, after build/.deps has installed what it could. The
# same test as tests/run-fuzz.sh's, which says "skipped" without it.
HAVE_LIBFUZZER = [ -f "$$(clang -print-file-name=libclang_rt.fuzzer-$$(uname -m).a 2>/dev/null)" ]

build/fuzz/%.o: %.c | build/.deps
	@mkdir -p $(@D)
	clang $(WARN) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP $(INC) -Itests/fuzz -c -o $@ $<

build/fuzz/libfuzz.a: $(patsubst %.c,build/fuzz/%.o,$(FUZZ_LIB_SRC))
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BINS): build/fuzz_%: build/fuzz/tests/fuzz/fuzz_%.o build/fuzz/libfuzz.a
	clang $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ -lyaml -lpcre2-8 -lm -ldl -lpthread

fuzz: $(FUZZ_BINS)

# The fuzz targets for `make test`, where libFuzzer is installed.
fuzz-if-libfuzzer: | build/.deps
	@if $(HAVE_LIBFUZZER); then $(MAKE) --no-print-directory fuzz; fi

# Installs missing system packages once per machine (a stamp, not a real file).
build/.deps: scripts/setup.sh
	@scripts/setup.sh
	@mkdir -p build && touch $@

-include $(shell find build -name '*.d' 2>/dev/null)

# The main job: check every model, then train tiny.yaml on the demo corpus on
# the CPU (a few minutes), in a fresh run directory each time.
demo: build/gptc $(DEMO_SHARDS)
	@for m in models/*.yaml; do build/gptc check --quiet $$m || exit 1; done
	@echo "all $(words $(wildcard models/*.yaml)) models in models/ are valid"
	rm -rf runs/demo
	build/gptc train models/tiny.yaml --run-dir runs/demo

# Every suite, then one closing tally (tests/run-all.sh); the test-* targets
# below run one suite each.
test: build/gptc build/asan/gptc build/test_unit build/asan/test_unit build/libgptc.a $(MPI_PLUGIN) \
    fuzz-if-libfuzzer
	tests/run-all.sh

test-unit: build/test_unit build/asan/test_unit
	build/test_unit
	build/asan/test_unit

test-bad: build/gptc build/asan/gptc
	tests/run-bad.sh build/gptc
	tests/run-bad.sh build/asan/gptc
	tests/run-bad-files.sh build/gptc
	tests/run-bad-files.sh build/asan/gptc

# Misspelt commands and options: what each command suggests, or not.
test-cli: build/gptc build/asan/gptc
	tests/run-cli.sh build/gptc
	tests/run-cli.sh build/asan/gptc

test-models: build/gptc build/asan/gptc
	tests/run-models.sh build/gptc
	tests/run-models.sh build/asan/gptc

test-docs: build/gptc
	tests/run-docs.sh build/gptc

test-train: build/gptc build/asan/gptc data/demo/corpus.txt
	tests/run-train.sh build/gptc

# The generated trainer of tiny-x02 against gptc train, bit for bit.
test-trainer: build/gptc build/libgptc.a
	tests/run-trainer.sh build/gptc

test-tune: build/gptc data/demo/corpus.txt
	tests/run-tune.sh build/gptc

test-study: build/gptc data/demo/corpus.txt
	tests/run-study.sh build/gptc

test-analyze: build/gptc data/demo/corpus.txt
	tests/run-analyze.sh build/gptc

# Multi-rank training on the CPU through MPI (skipped without Open MPI).
test-ranks: build/gptc $(MPI_PLUGIN) data/demo/corpus.txt
	tests/run-ranks.sh build/gptc

# Every model through `gptc compile`: clean NVRTC builds, no spills,
# deterministic output, the compile cache (NVRTC checks skipped without it).
test-compile: build/gptc
	tests/run-compile.sh build/gptc

# The CUDA emulation layer of the sim executor: its test kernels on the CPU
# (three builds, ASan among them), planted bugs, and the same sources
# through NVRTC.
test-sim:
	tests/run-sim.sh

# generated/ is exactly what `gptc compile` writes for every model;
# scripts/regen-generated.sh refreshes it after a change to the emitter or
# the templates.
test-generated: build/gptc
	tests/run-generated.sh build/gptc

# Every generated kernel of the tiny models on the sim executor against the
# ref executor's own code (tests/kernels/), at -O2 and under ASan + UBSan.
test-kernels: build/gptc
	tests/run-kernels.sh build/gptc

# The PyTorch GPU benchmark (tests/reference/bench_gpu.py) on the CPU with
# Debian's torch: a short run and its check against gptc_ref.py.
test-torchref: build/gptc
	tests/run-torchref.sh build/gptc

# The GPU executors' optimizer step on the sim device against the ref
# optimizer, and sim's GEMM against double loops (tests/optim/).
test-optim-gpu: build/gptc
	tests/run-optim-gpu.sh build/gptc

# Every fuzz target for a few seconds (also in `make test`), or for
# FUZZ_SECONDS each with its corpus kept in build/fuzz-corpus/.
test-fuzz: $(FUZZ_BINS)
	tests/run-fuzz.sh

test-long: $(FUZZ_BINS)
	tests/run-fuzz.sh --long $(FUZZ_SECONDS)

# Ratios measured side by side in one run: ref against PyTorch on tiny.yaml
# at its early windows and at the widest throughout
# (same tokens, same threads), cold and warm compiles, the emulator's speed.
bench: build/gptc $(DEMO_SHARDS)
	scripts/bench-ref.sh
	BENCH_SET="attention.window.schedule=constant" BENCH_OUT=build/bench/ref-vs-torch-widest.txt scripts/bench-ref.sh
	tests/bench-compile.sh build/gptc
	tests/run-sim.sh --bench
	@mkdir -p build/bench-plan
	build/gptc compile models/tiny.yaml --no-compile -o build/bench-plan/tiny --plan-stats=65536
	build/gptc compile models/r10-medium-x01.yaml --no-compile -o build/bench-plan/r10-medium-x01 --plan-stats=65536

clean:
	rm -rf build

# The demo corpus's shards (data/demo/README.md): generated, not committed.
$(DEMO_SHARDS) &: data/demo/corpus.txt build/gptc
	build/gptc data data/demo/corpus.txt -o data/demo --name demo --paragraphs --val-fraction 0.1

# Regenerates tests/fixtures/ from the PyTorch reference (needs Debian's
# python3-torch; CI uses the committed fixtures).
fixtures: build/gptc
	/usr/bin/python3 tests/reference/make_fixtures.py --gptc build/gptc

# GPT-2's BPE vocabulary for `gptc data --tokenizer gpt2` (data/gpt2/, git-ignored):
# fetched once from PyPI's openai-whisper source archive, sha256-checked.
gpt2-vocab:
	scripts/get-gpt2-vocab.sh

# Regenerates tests/fixtures/bpe/ with tiktoken from PyPI, in a venv under build/
# (CI uses the committed fixtures).
bpe-fixture: gpt2-vocab
	python3 -m venv build/tiktoken-venv
	build/tiktoken-venv/bin/pip install --quiet tiktoken==0.14.0
	build/tiktoken-venv/bin/python tests/reference/make_bpe_fixture.py
