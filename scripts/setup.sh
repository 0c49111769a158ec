#!/usr/bin/env bash
# setup.sh [--test]: installs the system packages gptc needs, once per machine.
# Called by make (through a stamp file). Debian only; elsewhere it names what
# is missing and stops.
#
# --test (make test-deps, which .ci/run calls): also what only the tests
# need, so that `make demo` does not pay for it: Debian's PyTorch for the
# comparisons with the PyTorch reference (tests/run-torchref.sh, the unit
# test ckpt_safetensors_torch; numpy comes with it, and
# tests/reference/gptc_ref.py uses it too), and pip, with which
# scripts/get-gpt2-vocab.sh fetches GPT-2's vocabulary.
set -euo pipefail

test_deps=0
case $# in
    0) ;;
    1) [ "$1" = --test ] && test_deps=1 ;;
esac
if [ $# -gt 1 ] || { [ $# -eq 1 ] && [ $test_deps -eq 0 ]; }; then
    echo "usage: $0 [--test]" >&2
    exit 2
fi

# header or command -> Debian package
need=()
# have_header HEADER [DEFINE]: DEFINE is "NAME VALUE", #defined before the
# #include, for headers that refuse to be included without it.
have_header() {
    { [ -z "${2:-}" ] || echo "#define $2"; echo "#include <$1>"; } |
        ${CC:-gcc} -E -x c - >/dev/null 2>&1
}
have_header yaml.h || need+=(libyaml-dev)
have_header cblas.h || need+=(libopenblas-dev)
# PCRE2 for GPT-2's pre-tokenizer (runtime/data/bpe.c, linked with -lpcre2-8)
have_header pcre2.h "PCRE2_CODE_UNIT_WIDTH 8" || need+=(libpcre2-dev)
# the OpenMP build of OpenBLAS (see the Makefile's BLAS_DIR)
[ -e "/usr/lib/$(${CC:-gcc} -print-multiarch)/openblas-openmp/libopenblas.so" ] \
    || need+=(libopenblas-openmp-dev)
# OpenMPI for multi-rank training on CPU executors: only the plugin
# build/libgptc_mpi.so links it (gptc itself dlopens it), and mpirun starts
# the ranks of `gptc train --ranks N`.
command -v mpicc >/dev/null || need+=(libopenmpi-dev)
command -v mpirun >/dev/null || need+=(openmpi-bin)
command -v gcc >/dev/null || need+=(gcc)
command -v make >/dev/null || need+=(make)
command -v python3 >/dev/null || need+=(python3)
# clang with libFuzzer and its sanitizer runtimes, for `make test-long`
command -v clang >/dev/null || need+=(clang)
[ -n "$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ] \
    || need+=(libclang-rt-dev)

if [ $test_deps -eq 1 ]; then
    # The tests run Debian's /usr/bin/python3, not whichever python3 comes
    # first on PATH, so that is the one that must import these.
    py_has() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $1" >/dev/null 2>&1; }
    py_has torch || need+=(python3-torch)
    py_has numpy || need+=(python3-numpy)
    # gptc analyze's figures (and its tests)
    py_has matplotlib || need+=(python3-matplotlib)
    # get-gpt2-vocab.sh runs `python3 -m pip` from PATH.
    python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
fi

[ ${#need[@]} -eq 0 ] && exit 0

echo "gptc setup: installing ${need[*]}"
if [ ! -f /etc/debian_version ]; then
    echo "gptc setup: this is not Debian; install the equivalents of: ${need[*]}" >&2
    exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "gptc setup: not root and no sudo; run as root: apt-get install ${need[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${need[@]}"
