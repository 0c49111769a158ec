#!/usr/bin/env bash
# fetch-gpu-deps.sh: downloads (here, where there is a network) the Debian
# packages gptc needs to build on the GPU machine, which has no network and
# may lack the -dev packages: libyaml, PCRE2, OpenBLAS's OpenMP build and
# the Fortran runtime OpenBLAS needs. Into .gpudeps/ (git-ignored); carried
# to the GPU machine with the working tree, where scripts/gpu-check.sh
# unpacks them with `dpkg -x` only if the system lacks what they provide.
# libgomp is left out on purpose: the system compiler's own must be used.
# make rides along in case the GPU machine's image has none.
set -eu
cd "$(dirname "$0")/.."
pkgs=(libyaml-0-2 libyaml-dev libpcre2-8-0 libpcre2-dev libopenblas0-openmp libopenblas-openmp-dev
      libgfortran5 libquadmath0 make)
mkdir -p .gpudeps
cd .gpudeps
rm -f ./*.deb
apt-get download "${pkgs[@]}"
ls -1 ./*.deb
echo "fetch-gpu-deps: ${#pkgs[@]} packages in .gpudeps/"
