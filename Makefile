# gptc: build everything into build/.
#   make          build the gptc binary (build/gptc)
#   make demo     the main job (see README.md)
#   make test     everything CI runs: unit, bad-input and model tests, also under ASan+UBSan
#   make test-long  the slow checks: the loader fuzzer for a bounded time
#   make bench    benchmarks (none yet for the checker)

CC      ?= gcc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -D_DEFAULT_SOURCE
LDLIBS   = -lyaml -lm
SAN      = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

COMPILER_SRC := $(filter-out compiler/main.c,$(wildcard compiler/*.c))
UNIT_SRC     := $(wildcard tests/unit/*.c)
HEADERS      := $(wildcard compiler/*.h tests/unit/*.h)
FUZZ_SECONDS ?= 120

.PHONY: all deps demo test test-unit test-bad test-models test-docs test-long bench clean
all: build/gptc

deps:
	@scripts/setup.sh

build/gptc: compiler/main.c $(COMPILER_SRC) $(HEADERS) | build/.deps
	$(CC) $(WARN) $(CFLAGS) -o $@ compiler/main.c $(COMPILER_SRC) $(LDLIBS)

build/asan/gptc: compiler/main.c $(COMPILER_SRC) $(HEADERS) | build/.deps
	@mkdir -p build/asan
	$(CC) $(WARN) -O1 -g $(SAN) -o $@ compiler/main.c $(COMPILER_SRC) $(LDLIBS)

build/test_unit: $(UNIT_SRC) $(COMPILER_SRC) $(HEADERS) | build/.deps
	$(CC) $(WARN) $(CFLAGS) -Icompiler -o $@ $(UNIT_SRC) $(COMPILER_SRC) $(LDLIBS)

build/asan/test_unit: $(UNIT_SRC) $(COMPILER_SRC) $(HEADERS) | build/.deps
	@mkdir -p build/asan
	$(CC) $(WARN) -O1 -g $(SAN) -Icompiler -o $@ $(UNIT_SRC) $(COMPILER_SRC) $(LDLIBS)

build/fuzz_load: tests/fuzz/fuzz_load.c $(COMPILER_SRC) $(HEADERS) | build/.deps
	clang $(WARN) -O1 -g -fsanitize=fuzzer,address,undefined -Icompiler -o $@ tests/fuzz/fuzz_load.c $(COMPILER_SRC) $(LDLIBS)

# Installs missing system packages once per machine (a stamp, not a real file).
build/.deps: scripts/setup.sh
	@scripts/setup.sh
	@mkdir -p build && touch $@

demo: build/gptc
	@for m in models/*.yaml; do build/gptc check $$m || exit 1; done

test: test-unit test-bad test-models test-docs
	@echo "make test: all passed"

test-unit: build/test_unit build/asan/test_unit
	build/test_unit
	build/asan/test_unit

test-bad: build/gptc build/asan/gptc
	tests/run-bad.sh build/gptc
	tests/run-bad.sh build/asan/gptc

test-models: build/gptc build/asan/gptc
	tests/run-models.sh build/gptc
	tests/run-models.sh build/asan/gptc

test-docs: build/gptc
	tests/run-docs.sh build/gptc

test-long: build/fuzz_load
	@mkdir -p build/fuzz-corpus
	cp -n models/*.yaml tests/bad/*.yaml build/fuzz-corpus/ 2>/dev/null || true
	build/fuzz_load -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
	    -dict=tests/fuzz/yaml.dict build/fuzz-corpus

bench:
	@echo "make bench: no benchmarks yet; the checker has nothing to time"

clean:
	rm -rf build
