#!/usr/bin/env bash
# setup.sh: installs the system packages gptc needs, once per machine.
# Called by make (through a stamp file). Debian only; elsewhere it names what
# is missing and stops.
set -euo pipefail

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
# PCRE2 for GPT-2's pre-tokenizer (runtime/bpe.c, linked with -lpcre2-8)
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
