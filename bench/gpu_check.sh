#!/usr/bin/env bash
# bash bench/gpu_check.sh            (a machine with an NVIDIA GPU; not run in CI; ~15 min, ~10 GB download)
#
# The serving path end to end on a GPU, with the real 4.0-1B shape and random weights (no hub download):
#   1. builds the real-shape model (bench/real_shape.py: random bf16 weights, the tiny model's tokenizer);
#   2. fine-tunes a LoRA adapter on it for 30 steps (finetune/, LM only) and exports it for vLLM
#      (`export --to vllm`: keys renamed to vLLM's GraniteSpeech layout);
#   3. installs vLLM in its own virtual environment and serves the model (VLLM_ALLOW_RUNTIME_LORA_UPDATING);
#      LOAD_FORMAT=dummy serves the config with vLLM's own random weights instead of the saved ones;
#   4. loads two adapters at runtime through /v1/load_lora_adapter: the export ("renamed") and the adapter folder
#      as peft saved it ("as-saved"), transcribes the same clips with the base and both through this project's
#      remote backend, and checks: renamed != base (the adapter is applied), as-saved == base (vLLM loads the
#      un-renamed keys without error and never applies them — the trap the export exists for);
#   5. measures RTFx (seconds of audio per second) of the local transformers path vs vLLM on the same clips.
# Step 0 runs the CPU serving check's CHECK lines (bench/vllm_cpu_check.sh, VLLM_INSTALL=gpu) on the GPU build
# first, so a GPU day only adds the GPU numbers.
# Prints one CHECK line per claim and exits 1 when one fails. Expected output: BENCHMARKS.md, "GPU check".
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/tmp/gpu_check}
PORT=${PORT:-8011}
VLLM_VERSION=${VLLM_VERSION:-}          # empty: the newest
LOAD_FORMAT=${LOAD_FORMAT:-auto}        # auto: the saved random weights (same as the local path); dummy: vLLM's
PY=${PY:-python3}
mkdir -p "$WORK"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader

echo "== 0. the serving checks CI runs on the CPU, here on the GPU build of vLLM (tiny model, exact text)"
VLLM_INSTALL=gpu VLLM_CPU_VENV="$WORK/vllm-env" WORK="$WORK/checks" PORT=$((PORT + 10)) bash bench/vllm_cpu_check.sh

echo "== 1. real-shape model"
MODEL=$($PY -c "import sys; sys.path.insert(0, 'bench'); from real_shape import ensure_real_shape; print(ensure_real_shape()[0])")
echo "model folder: $MODEL"

echo "== 2. adapter: 30 steps of LoRA on the language model, exported for vLLM"
if [ ! -d "$WORK/run/step-000030" ]; then
  $PY -m finetune.train --config finetune/configs/lora_1gpu.yaml --model "$MODEL" \
    --train_manifest data/phrases/train.jsonl --eval_manifest data/phrases/train.jsonl \
    --train_projector false --max_steps 30 --warmup_steps 0 --lr 2e-3 --batch_size 8 --grad_accum 1 \
    --eval_steps 30 --save_steps 30 --output_dir "$WORK/run"
fi
ADAPTER="$WORK/run/step-000030"
rm -rf "$WORK/renamed"
$PY -m granite_workbench export "$ADAPTER" --to vllm --out "$WORK/renamed" --name renamed

echo "== 3. vLLM"
if [ ! -x "$WORK/vllm-env/bin/vllm" ]; then
  $PY -m venv "$WORK/vllm-env"
  "$WORK/vllm-env/bin/pip" install -q "vllm${VLLM_VERSION:+==$VLLM_VERSION}"
fi
"$WORK/vllm-env/bin/python" -c "import vllm; print('vllm', vllm.__version__)"
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True "$WORK/vllm-env/bin/vllm" serve "$MODEL" --served-model-name base \
  --load-format "$LOAD_FORMAT" --enable-lora --max-lora-rank 16 --max-loras 2 --max-model-len 2048 \
  --port "$PORT" > "$WORK/vllm.log" 2>&1 &
VLLM_PID=$!
trap 'kill $VLLM_PID 2>/dev/null || true' EXIT
for _ in $(seq 600); do
  curl -sf "localhost:$PORT/v1/models" > /dev/null && break
  kill -0 $VLLM_PID 2>/dev/null || { tail -40 "$WORK/vllm.log"; exit 1; }
  sleep 1
done
for pair in "renamed=$WORK/renamed" "as-saved=$ADAPTER"; do
  curl -sf "localhost:$PORT/v1/load_lora_adapter" -H 'Content-Type: application/json' \
    -d "{\"lora_name\": \"${pair%%=*}\", \"lora_path\": \"${pair#*=}\"}"; echo
done
curl -s "localhost:$PORT/v1/models" | $PY -c "import json,sys; print('served:', [m['id'] for m in json.load(sys.stdin)['data']])"

echo "== 4. does the adapter change the output?"
CLIPS=(data/phrases/phrase0*.flac)
for m in base renamed as-saved; do
  rm -rf "$WORK/out-$m"
  adapter=(); [ "$m" = base ] || adapter=(--adapter "$m")
  $PY -m granite_workbench transcribe "${CLIPS[@]}" --backend openai --server "http://localhost:$PORT" \
    --model base "${adapter[@]}" --max-new-tokens 48 --out-dir "$WORK/out-$m" --quiet
done
$PY - "$WORK" <<'EOF'
import sys
from pathlib import Path
work = Path(sys.argv[1])
texts = {m: [p.read_text() for p in sorted((work / f"out-{m}").glob("*.txt"))] for m in ("base", "renamed", "as-saved")}
changed = sum(a != b for a, b in zip(texts["base"], texts["renamed"]))
same = sum(a == b for a, b in zip(texts["base"], texts["as-saved"]))
n = len(texts["base"])
print(f"CHECK renamed adapter changes the output: {changed}/{n} clips differ from base  "
      + ("PASS" if changed else "FAIL"))
print(f"CHECK as-saved (un-renamed) adapter is silently not applied: {same}/{n} clips equal base  "
      + ("PASS" if same == n else "FAIL (vLLM applied it: the rename may no longer be needed)"))
sys.exit(0 if changed and same == n else 1)
EOF

echo "== 5. throughput on 64 clips (warm): local transformers (bf16, batch 16) vs vLLM (16 requests in flight)"
$PY - "$MODEL" "http://localhost:$PORT" <<'EOF'
import glob, sys, time
from granite_workbench import Transcriber, load_model
from granite_workbench.prompts import TaskSpec
from granite_workbench.remote import OpenAIEngine
clips = sorted(glob.glob("data/phrases/*.flac")) * 4
spec = TaskSpec("asr", language="en")
for name, tr in (("local", lambda: Transcriber(load_model(sys.argv[1], dtype="bfloat16"), batch_size=16,
                                               max_new_tokens=48)),
                 ("vllm", lambda: Transcriber(engine=OpenAIEngine(sys.argv[2], None, model="base", concurrency=16),
                                              batch_size=16, max_new_tokens=48))):
    tr = tr()
    tr.run(clips[:4], spec)  # warm-up
    t = time.perf_counter()
    results = tr.run(clips, spec)
    dt = time.perf_counter() - t
    audio = sum(r.duration for r in results if r.ok)
    print(f"RTFx {name}: {audio / dt:.1f} ({audio:.0f} s of audio in {dt:.2f} s, {sum(r.ok for r in results)}/{len(clips)} ok)")
EOF
echo "done: all checks passed"
